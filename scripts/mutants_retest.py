"""Re-run the survivors of the last `make mutants` campaign against the suite as it is now.

A full campaign takes about 30 minutes; after a change to the suite the question is which
survivors it now kills. For each survivor in .mutants/mutants.jsonl the current checkout
(src, schemas, tests) is copied once per lane, the mutated line is put back by its text
(the line nearest its old number that reads as the campaign saw it: lines move), the
budget profile runs against the mutated copy, and the line is restored. Writes
.mutants/retest.json: [id, exit code or "unapplied", where, failing requirements].

Usage, after `make mutants`:  .venv/bin/python scripts/mutants_retest.py [ID ...]
(ids as `report` prints them: only those survivors; all of them when none is given)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LANES = 2  # the machines here have two cores
RUN = ("run", "--profile", "budget", "--seed", "1", "--settle-time", "0.2")
RUN_TAIL = ("--settle-timeout", "2", "-q")


def _copy(work: Path) -> Path:
    for name in ("src", "schemas", "tests"):
        shutil.copytree(ROOT / name, work / name)
    for name in ("pyproject.toml", "conftest.py"):
        shutil.copy(ROOT / name, work / name)
    return work


def _failing(report: Path) -> list[str]:
    result = report / "result.json"
    if not result.exists():
        return []
    rows = json.loads(result.read_text())["requirements"]
    return [row["id"] for row in rows if row["status"] == "fail"]


def _judge(copy: Path, mutant: dict[str, Any]) -> list[Any]:
    module = copy / mutant["module"]
    original = module.read_text()
    lines = original.split("\n")
    was, now = mutant["minus"][0], mutant["plus"][0]
    hits = [n for n, line in enumerate(lines) if line == was]
    if not hits:
        return [mutant["id"], "unapplied", mutant["where"], []]
    lines[min(hits, key=lambda n: abs(n - (mutant["line"] - 1)))] = now
    module.write_text("\n".join(lines))
    try:
        report = copy / f"report-{mutant['id']}"
        done = subprocess.run(
            [sys.executable, "-m", "masivo_conformance", *RUN, *RUN_TAIL, "--report-dir", report],
            env={**os.environ, "PYTHONPATH": str(copy / "src")},
            cwd=copy,
            capture_output=True,
            timeout=240,
            check=False,
        )
        return [mutant["id"], done.returncode, mutant["where"], _failing(report)]
    finally:
        module.write_text(original)


def main() -> None:
    with (ROOT / ".mutants/mutants.jsonl").open() as rows:
        mutants = [json.loads(row) for row in rows]
    wanted = set(sys.argv[1:])
    survivors = [
        m for m in mutants if m["verdict"] == "survived" and (not wanted or m["id"] in wanted)
    ]
    work = Path(tempfile.mkdtemp(prefix="mutants-retest-"))
    copies = [_copy(work / f"lane{n}") for n in range(LANES)]

    def lane(n: int) -> list[list[Any]]:
        return [_judge(copies[n], m) for m in survivors[n::LANES]]

    with ThreadPoolExecutor(LANES) as pool:
        results = [row for part in pool.map(lane, range(LANES)) for row in part]
    (ROOT / ".mutants/retest.json").write_text(json.dumps(results, indent=1))
    shutil.rmtree(work)
    print(Counter(str(row[1]) for row in results))


if __name__ == "__main__":
    main()
