"""Mutation testing of the reference server: which broken servers does the suite call
CONFORMANT? (issue 18; docs/mutation.md has the method, the choices and the figures)

cosmic-ray makes one small change at a time ("a mutant") to the reference server's
business logic and runs our `test` command; the suite then judges the embedded server,
which is the mutated one. A mutant the suite calls CONFORMANT on both profiles has
survived: either the change cannot be seen from outside, or it breaks no rule of the
contract, or the suite has a blind spot there. People tell these apart by reading the
survivors (their verdicts live in mutation.toml, [survivors]).

Usage:
  .venv/bin/python scripts/mutants.py run [--workers N] [--resume]   # `make mutants`
  .venv/bin/python scripts/mutants.py report [--no-docs]             # figures again

`run` snapshots src/, tests/, schemas/ and the pytest config into .mutants/snapshot and
gives each worker a copy of it (.mutants/w0, w1): cosmic-ray mutates files in place, and
the checkout's own src/ is where everybody else works and runs tests. Before the first
mutant it proves that the copy is what the suite imports, and that the unmutated copy
is CONFORMANT (else every mutant would look killed).

`test` is the command cosmic-ray runs for each mutant, inside a work copy; it is not
meant to be run by hand. It runs the suite with the budget profile and, when that says
CONFORMANT, with the quick profile, and appends what it saw to .mutants/records/.
cosmic-ray tells it nothing about the job, so the record is keyed by a hash of the
mutated module's diff against the snapshot, which `report` recomputes from the diff
that cosmic-ray keeps in its session database.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "mutation.toml"
STATE = ROOT / ".mutants"
DOCS = ROOT / "docs" / "mutation.md"
# What the suite needs beside the package: its tests, the contract data and the pytest
# config, laid out as in a checkout (suite/runner.py and contract/schemas.py look for
# them next to src/).
SNAPSHOT_PARTS = ("src", "tests", "schemas", "pyproject.toml", "conftest.py")
SNAPSHOT_IGNORE = shutil.ignore_patterns(
    "__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", "*.pyc", "cassettes"
)
BEGIN = "<!-- mutants:figures:begin (scripts/mutants.py report writes this block) -->"
END = "<!-- mutants:figures:end -->"
VERDICTS = ("killed", "stopped", "survived", "timeout")
# "warned": a SHOULD broke and the run said so (a warning, exit 0 as documented): seen,
# so no blind spot, and in the contract, so not outside it.
CLASSES = ("not observable", "outside the contract", "blind spot", "warned")
# What the suite's exit codes mean (README, "exit"): 1 a MUST failed, 2 the run could
# not happen, 3 inconclusive. Anything else is a crash of the run itself.
_EXIT_MEANING = {0: "conformant", 1: "a MUST failed", 2: "could not run", 3: "inconclusive"}


class MutantsError(Exception):
    """A problem the user can fix; printed as one line, exit 2."""


# -- what one run of the suite said --------------------------------------------------------


@dataclass
class SuiteRun:
    profile: str
    exit: int | None  # None: killed at its timeout
    seconds: float
    failing: list[str] = field(default_factory=list)  # requirement ids with status "fail"
    failing_should: list[str] = field(default_factory=list)  # those of them that are SHOULD
    not_checked: list[str] = field(default_factory=list)
    errors: int = 0  # tests that ended on an error (charged to no requirement)
    said: str = ""  # the run's last line: its verdict, or why it stopped

    @property
    def timed_out(self) -> bool:
        return self.exit is None


def read_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a result.json that tell the verdict of a mutant apart."""
    requirements = result.get("requirements") or []
    failing = [r["id"] for r in requirements if r.get("status") == "fail"]
    return {
        "failing": failing,
        "failing_should": [
            r["id"] for r in requirements if r.get("status") == "fail" and r.get("level") != "MUST"
        ],
        "not_checked": [r["id"] for r in requirements if r.get("status") == "not checked"],
        "errors": len(result.get("errors") or []),
    }


def verdict(runs: Sequence[SuiteRun]) -> str:
    """Finer than cosmic-ray's killed/survived, which counts any non-zero exit as killed.

    killed: a MUST failed (exit 1) and result.json names the requirement(s); stopped:
    the run could not happen (2), was inconclusive (3), or crashed (any other code, or
    exit 1 with no requirement failing); timeout: a run outlived its limit; survived:
    CONFORMANT (exit 0) on every profile."""
    for run in runs:
        if run.timed_out:
            return "timeout"
        if run.exit == 0:
            continue
        return "killed" if run.exit == 1 and run.failing else "stopped"
    return "survived" if runs else "stopped"


# -- diffs: the key that ties a record to cosmic-ray's job ---------------------------------


def diff_lines(module: str, original: str, mutated: str) -> list[str]:
    """The unified diff exactly as cosmic-ray's mutating._make_diff builds it (same
    splitting, names and context), so both sides hash the same text."""
    return list(
        difflib.unified_diff(
            original.split("\n"),
            mutated.split("\n"),
            fromfile="a/" + module,
            tofile="b/" + module,
            lineterm="",
        )
    )


def _hunks(lines: Iterable[str]) -> list[str]:
    """A diff without its file headers (cosmic-ray's starts with '--- mutation diff ---')."""
    return [line for line in lines if not line.startswith(("--- ", "+++ "))]


# Modules renamed since the campaign of 2026-12-04 (issue 19: names that collided), by
# their former names: a mutant's key keeps the name it was classified under, so the
# reviewers' verdicts in mutation.toml still find their mutants.
FORMER_NAMES = {"rules.py": "ledger.py", "preview_maths.py": "preview.py"}


def diff_key(module: str, lines: Iterable[str]) -> str:
    """Which mutant a diff is: its module's file name and its hunks, hashed."""
    name = Path(module).name
    text = FORMER_NAMES.get(name, name) + "\n" + "\n".join(_hunks(lines))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def changed(lines: Iterable[str]) -> tuple[list[str], list[str]]:
    """The removed and the added lines of a diff, without their -/+ marks."""
    hunks = _hunks(lines)
    minus = [line[1:] for line in hunks if line.startswith("-")]
    plus = [line[1:] for line in hunks if line.startswith("+")]
    return minus, plus


def first_changed_line(original: str, mutated: str) -> int:
    """1-based number of the first line that differs (cosmic-ray's mutations are on one
    line, or remove one: a decorator)."""
    for number, (a, b) in enumerate(zip(original.split("\n"), mutated.split("\n"), strict=False)):
        if a != b:
            return number + 1
    return min(original.count("\n"), mutated.count("\n")) + 1


def survivor_id(
    module: str, definition: str, operator: str, minus: list[str], plus: list[str]
) -> str:
    """A name for a mutant that outlives line moves and renames: where (file, under the
    name it was classified under, and function), which operator, and the text it
    changed. Reviewers' verdicts are keyed by it."""
    name = Path(module).name
    text = "\n".join(
        [
            FORMER_NAMES.get(name, name),
            definition,
            operator,
            *(s.strip() for s in minus),
            "=>",
            *(s.strip() for s in plus),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:8]


# -- the cosmic-ray session ----------------------------------------------------------------


@dataclass
class Job:
    job_id: str
    module: str  # relative to a work copy: src/masivo_conformance/server/...
    operator: str  # without cosmic-ray's "core/" prefix
    occurrence: int
    line: int
    column: int
    definition: str
    worker_outcome: str | None  # None while pending
    test_outcome: str | None
    output: str
    diff: list[str]


def read_session(path: Path) -> list[Job]:
    """Every job of a cosmic-ray session, read straight from its SQLite file (the schema
    of cosmic-ray 8.7: enum columns hold the member names, NORMAL, SKIPPED, KILLED...)."""
    if not path.is_file():
        raise MutantsError(f"no cosmic-ray session at {path}: run `make mutants` first")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT m.job_id, m.module_path, m.operator_name, m.occurrence, m.start_pos_row,"
            " m.start_pos_col, m.definition_name, r.worker_outcome, r.test_outcome, r.output,"
            " r.diff FROM mutation_specs m LEFT JOIN work_results r USING (job_id)"
            " ORDER BY m.module_path, m.start_pos_row, m.start_pos_col, m.operator_name"
        ).fetchall()
    finally:
        db.close()
    return [
        Job(
            job_id=row[0],
            module=row[1],
            operator=row[2].removeprefix("core/"),
            occurrence=row[3],
            line=row[4],
            column=row[5],
            definition=row[6] or "",
            worker_outcome=row[7].upper() if row[7] else None,
            test_outcome=row[8].upper() if row[8] else None,
            output=row[9] or "",
            diff=(row[10] or "").split("\n") if row[10] else [],
        )
        for row in rows
    ]


def session_progress(path: Path) -> tuple[int, int]:
    """(mutants run, mutants still to run) of a session that another process may be
    writing (jobs skipped, by the operator filter or for another share, are neither);
    zeros while it cannot be read."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            ran = db.execute(
                "SELECT count(*) FROM work_results WHERE worker_outcome != 'SKIPPED'"
            ).fetchone()[0]
            pending = db.execute(
                "SELECT count(*) FROM work_items WHERE job_id NOT IN"
                " (SELECT job_id FROM work_results)"
            ).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0, 0
    return int(ran), int(pending)


# -- joining jobs and records: one line per mutant -----------------------------------------


@dataclass
class Mutant:
    job_id: str
    module: str
    line: int
    operator: str
    definition: str
    verdict: str  # killed, stopped, survived, timeout; error: no record of the run
    minus: list[str]
    plus: list[str]
    runs: list[dict[str, Any]]
    id: str = ""

    @property
    def where(self) -> str:
        return f"{Path(self.module).name}:{self.line}"

    @property
    def failing(self) -> list[str]:
        return sorted({r for run in self.runs for r in run.get("failing", [])})


@dataclass
class Campaign:
    mutants: list[Mutant]
    excluded: int  # skipped by the operator filter
    pending: int  # not run yet (an interrupted campaign)
    no_test: int  # cosmic-ray found nothing to mutate at that occurrence


def read_records(folder: Path) -> dict[str, dict[str, Any]]:
    """The `test` records by key; a mutant run twice (a resumed campaign) keeps its last."""
    records: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
        for line in path.read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                records[record["key"]] = record
    return records


def join(jobs: Iterable[Job], records: Mapping[str, Mapping[str, Any]]) -> Campaign:
    mutants, excluded, pending, no_test = [], 0, 0, 0
    for job in jobs:
        if job.worker_outcome is None:
            pending += 1
        elif job.worker_outcome == "SKIPPED":
            excluded += 1
        elif job.worker_outcome == "NO_TEST":
            no_test += 1
        else:
            mutants.append(_mutant(job, records))
    return Campaign(mutants, excluded, pending, no_test)


def _mutant(job: Job, records: Mapping[str, Mapping[str, Any]]) -> Mutant:
    record = records.get(diff_key(job.module, job.diff)) if job.diff else None
    if record is not None:
        kind, runs = record["verdict"], list(record["runs"])
    elif job.output.strip() == "timeout":  # cosmic-ray's own limit killed our command
        kind, runs = "timeout", []
    else:  # the test command died before writing its record: see the job's output
        kind, runs = "error", [{"said": job.output.strip()[-300:]}]
    minus, plus = changed(job.diff)
    mutant = Mutant(
        job.job_id, job.module, job.line, job.operator, job.definition, kind, minus, plus, runs
    )
    mutant.id = survivor_id(job.module, job.definition, job.operator, minus, plus)
    return mutant


# -- figures -------------------------------------------------------------------------------


@dataclass
class Score:
    total: int
    counts: Counter[str]
    not_observable: int
    blind: int = 0  # survivors classified blind spot: a MUST broken, CONFORMANT said

    @property
    def killed(self) -> int:
        return self.counts["killed"]

    @property
    def detected(self) -> int:
        """Mutants the suite did not call CONFORMANT (what cosmic-ray calls killed)."""
        return self.total - self.counts["survived"]

    @property
    def observable(self) -> int:
        return self.total - self.not_observable


def score(mutants: Sequence[Mutant], classes: Mapping[str, Mapping[str, str]]) -> Score:
    counts = Counter(m.verdict for m in mutants)
    hidden = sum(
        1
        for m in mutants
        if m.verdict == "survived" and classes.get(m.id, {}).get("class") == "not observable"
    )
    blind = sum(
        1
        for m in mutants
        if m.verdict == "survived" and classes.get(m.id, {}).get("class") == "blind spot"
    )
    return Score(len(mutants), counts, hidden, blind)


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "n/a"


def score_lines(s: Score) -> list[str]:
    return [
        f"killed / total: {s.killed} / {s.total} = {percent(s.killed, s.total)}",
        f"killed / (total - not observable): {s.killed} / {s.observable} = "
        f"{percent(s.killed, s.observable)} ({s.not_observable} survivor(s) classified "
        "not observable)",
        f"not CONFORMANT (killed + stopped + timeout) / total: {s.detected} / {s.total} = "
        f"{percent(s.detected, s.total)}",
        # Issue 18's goal: of the mutants that break a rule the suite can judge (not a
        # set-up step: those stop the run, exit 2), the share failed with that rule.
        f"rule-breaking mutants killed: killed / (killed + blind spots) = {s.killed} / "
        f"{s.killed + s.blind} = {percent(s.killed, s.killed + s.blind)}",
    ]


def class_line(mutants: Sequence[Mutant], classes: Mapping[str, Mapping[str, str]]) -> str:
    """How the survivors were classified, e.g. 'blind spot 3, not observable 9, ...'."""
    counts = Counter(
        classes.get(m.id, {}).get("class") or "unclassified"
        for m in mutants
        if m.verdict == "survived"
    )
    return "survivors by class: " + (
        ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "none"
    )


def per_module(mutants: Sequence[Mutant]) -> list[tuple[str, Counter[str]]]:
    modules: dict[str, Counter[str]] = {}
    for mutant in mutants:
        modules.setdefault(Path(mutant.module).name, Counter())[mutant.verdict] += 1
    return sorted(modules.items())


def load_classes(config: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Reviewers' verdicts on survivors, by survivor id (mutation.toml, [survivors]). An
    entry may leave `class` out: a note on a survivor nobody has decided on yet."""
    classes: dict[str, dict[str, str]] = {}
    for key, entry in (config.get("survivors") or {}).items():
        kind = entry.get("class", "")
        if kind and kind not in CLASSES:
            raise MutantsError(
                f"mutation.toml [survivors] {key}: class must be one of {', '.join(CLASSES)}"
            )
        classes[key] = {"class": kind, "why": str(entry.get("why", ""))}
    return classes


# -- the report ----------------------------------------------------------------------------


def _change(mutant: Mutant) -> str:
    minus = " / ".join(s.strip() for s in mutant.minus)
    plus = " / ".join(s.strip() for s in mutant.plus) or "(line removed)"
    return f"{minus}  ->  {plus}"


def _should_note(mutant: Mutant) -> str:
    should = sorted({r for run in mutant.runs for r in run.get("failing_should", [])})
    return f" (SHOULD failing, a warning: {', '.join(should)})" if should else ""


def text_report(campaign: Campaign, classes: Mapping[str, Mapping[str, str]]) -> str:
    mutants = campaign.mutants
    out = [
        f"{len(mutants)} mutants run; "
        + ", ".join(f"{v} {campaign_count(mutants, v)}" for v in (*VERDICTS, "error"))
    ]
    out.append(
        f"(excluded by the operator filter: {campaign.excluded}; nothing to mutate: "
        f"{campaign.no_test}; not run yet: {campaign.pending})"
    )
    out += [*score_lines(score(mutants, classes)), class_line(mutants, classes), ""]
    out.append(f"{'module':<14} {'mutants':>7} " + " ".join(f"{v:>8}" for v in VERDICTS))
    for module, counts in per_module(mutants):
        out.append(
            f"{module:<14} {sum(counts.values()):>7} "
            + " ".join(f"{counts[v]:>8}" for v in VERDICTS)
        )
    for kind in ("survived", "stopped", "timeout", "error"):
        chosen = sorted((m for m in mutants if m.verdict == kind), key=_order)
        if not chosen:
            continue
        out += ["", f"{kind} ({len(chosen)}):"]
        for m in chosen:
            cls = (
                (classes.get(m.id, {}).get("class") or "unclassified") if kind == "survived" else ""
            )
            last = m.runs[-1] if m.runs else {}
            said = (
                "" if kind == "survived" else f"  exit {last.get('exit')}: {last.get('said', '')}"
            )
            out.append(f"  {m.where:<18} {m.operator:<36} [{m.id}] {cls}{said}{_should_note(m)}")
            out += [f"      - {s.strip()}" for s in m.minus] + [
                f"      + {s.strip()}" for s in m.plus
            ]
    return "\n".join(out)


def campaign_count(mutants: Sequence[Mutant], kind: str) -> int:
    return sum(1 for m in mutants if m.verdict == kind)


def _order(mutant: Mutant) -> tuple[str, int, str]:
    return (Path(mutant.module).name, mutant.line, mutant.operator)


def _cell(text: str) -> str:
    """Text for a Markdown table cell: pipes escaped, code in backticks."""
    return text.replace("|", "\\|")


def markdown_figures(
    campaign: Campaign, classes: Mapping[str, Mapping[str, str]], meta: Mapping[str, Any]
) -> str:
    mutants = campaign.mutants
    s = score(mutants, classes)
    out = [
        f"Campaign of {meta.get('date', '?')}: {meta.get('describe', '')}",
        "",
        "| module | mutants | killed | stopped | survived | timeout | killed / mutants |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for module, counts in per_module(mutants):
        n = sum(counts.values())
        out.append(
            f"| {module} | {n} | "
            + " | ".join(str(counts[v]) for v in VERDICTS)
            + f" | {percent(counts['killed'], n)} |"
        )
    out.append(
        f"| **all** | **{s.total}** | "
        + " | ".join(f"**{s.counts[v]}**" for v in VERDICTS)
        + f" | **{percent(s.killed, s.total)}** |"
    )
    out += ["", *(f"* {line}" for line in [*score_lines(s), class_line(mutants, classes)])]
    out.append(
        f"* excluded by the operator filter: {campaign.excluded}; nothing to mutate: "
        f"{campaign.no_test}; not run: {campaign.pending}; no record (test command "
        f"failed): {s.counts['error']}"
    )
    out += ["", "#### Survivors (CONFORMANT on budget and quick)", ""]
    out += ["| id | where | operator | change | class | why |", "|---|---|---|---|---|---|"]
    for m in sorted((m for m in mutants if m.verdict == "survived"), key=_order):
        entry = classes.get(m.id, {})
        why = entry.get("why", "") + _should_note(m)
        out.append(
            f"| {m.id} | {m.where} | {m.operator} | `{_cell(_change(m))}` | "
            f"{entry.get('class', '')} | {_cell(why.strip())} |"
        )
    others = sorted(
        (m for m in mutants if m.verdict in {"stopped", "timeout", "error"}), key=_order
    )
    if others:
        out += ["", "#### Stopped, timed out (not CONFORMANT, charged to no requirement)", ""]
        out += [
            "| where | operator | change | verdict | what the run said |",
            "|---|---|---|---|---|",
        ]
        for m in others:
            last = m.runs[-1] if m.runs else {}
            said = f"{last.get('profile', '')} exit {last.get('exit')}: {last.get('said', '')}"
            out.append(
                f"| {m.where} | {m.operator} | `{_cell(_change(m))}` | {m.verdict} | "
                f"{_cell(said.strip())} |"
            )
    return "\n".join(out)


def replace_block(document: str, block: str) -> str:
    """The document with the text between the figures markers replaced by `block`."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise MutantsError(f"{DOCS.name} has no figures markers ({BEGIN} ... {END})")
    return document[: start + len(BEGIN)] + "\n" + block.strip() + "\n" + document[end:]


# -- mutation.toml and the cosmic-ray config -----------------------------------------------


def load_config(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MutantsError(f"cannot read {path}: {exc}") from exc


def toml_value(value: Any) -> str:
    """The few TOML values a cosmic-ray config holds (a JSON string is a TOML string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def toml_tables(table: Mapping[str, Any], name: str) -> list[str]:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    out = [f"[{name}]", *(f"{json.dumps(k)} = {toml_value(v)}" for k, v in scalars.items())]
    for key, sub in table.items():
        if isinstance(sub, Mapping):
            out += ["", *toml_tables(sub, f"{name}.{json.dumps(key)}")]
    return out


def cosmic_ray_config(config: Mapping[str, Any], test_command: str) -> str:
    """mutation.toml's [cosmic-ray] table, with the parts only a run knows filled in."""
    table = dict(config["cosmic-ray"])
    table["test-command"] = test_command
    table["distributor"] = {"name": "local"}
    return "\n".join(toml_tables(table, '"cosmic-ray"')) + "\n"


# -- the test command (one mutant, inside a work copy) -------------------------------------


@dataclass
class Settings:
    """What `run` fixes for the whole campaign (written to .mutants/settings.json)."""

    modules: list[str]
    snapshot: str
    state: str
    profiles: list[str]
    suite_args: list[str]
    timeouts: dict[str, float]

    @classmethod
    def read(cls, state: Path) -> Settings:
        return cls(**json.loads((state / "settings.json").read_text()))


def suite_env(copy: Path) -> dict[str, str]:
    """The copy's src/ first on the path (the editable install of the checkout comes
    after PYTHONPATH), and no MASIVO_* setting: a MASIVO_BASE_URL in the environment
    would point the run at another server than the mutant."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASIVO_")}
    env["PYTHONPATH"] = str(copy / "src")
    return env


def run_suite(copy: Path, profile: str, settings: Settings, report_dir: Path) -> SuiteRun:
    """One `masivo-conformance run` of the embedded server, from the copy."""
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "masivo_conformance", "run", "--profile", profile]
    command += [*settings.suite_args, "--report-dir", str(report_dir)]
    started = time.monotonic()
    # A session of its own, so a timeout can stop the run and its xdist workers at once.
    process = subprocess.Popen(
        command,
        cwd=copy,
        env=suite_env(copy),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=settings.timeouts.get(profile, 120.0))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        (report_dir / "output.txt").write_text(output)
        return SuiteRun(profile, None, round(time.monotonic() - started, 2), said="timeout")
    seconds = round(time.monotonic() - started, 2)
    (report_dir / "output.txt").write_text(output)
    lines = [line for line in output.splitlines() if line.strip()]
    run = SuiteRun(profile, process.returncode, seconds, said=(lines[-1] if lines else "")[:200])
    result = report_dir / "result.json"
    if result.is_file():
        for key, value in read_result(json.loads(result.read_text())).items():
            setattr(run, key, value)
    for bulky in ("report.html", "junit.xml", "summary.md", "reproducers"):  # result.json will do
        path = report_dir / bulky
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return run


def judge(copy: Path, settings: Settings, runs_dir: Path) -> list[SuiteRun]:
    """The budget profile, then (only if it said CONFORMANT) the quick one."""
    runs: list[SuiteRun] = []
    for profile in settings.profiles:
        run = run_suite(copy, profile, settings, runs_dir / profile)
        runs.append(run)
        if run.exit != 0:
            break
    return runs


def mutated_module(copy: Path, settings: Settings) -> tuple[str, str, str] | None:
    """(module, original, mutated) of the one module of the copy that differs from the
    snapshot, or None when none does."""
    snapshot = Path(settings.snapshot)
    for module in settings.modules:
        original, now = (snapshot / module).read_text(), (copy / module).read_text()
        if original != now:
            return module, original, now
    return None


def test_mutant(settings: Settings) -> int:
    copy = Path.cwd()
    found = mutated_module(copy, settings)
    state = Path(settings.state)
    if found is None:
        print(f"scripts/mutants.py test: nothing in {copy} differs from the snapshot")
        return 0
    module, original, mutated = found
    lines = diff_lines(module, original, mutated)
    key = diff_key(module, lines)
    runs = judge(copy, settings, state / "runs" / key)
    kind = verdict(runs)
    minus, plus = changed(lines)
    record = {
        "key": key,
        "module": module,
        "line": first_changed_line(original, mutated),
        "minus": minus,
        "plus": plus,
        "verdict": kind,
        "runs": [asdict(run) for run in runs],
        "worker": copy.name,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    records = state / "records"
    records.mkdir(exist_ok=True)
    with (records / f"{copy.name}.jsonl").open("a") as handle:  # one file per worker
        handle.write(json.dumps(record) + "\n")
    print(
        f"{module}:{record['line']} {kind}: "
        + "; ".join(f"{r.profile} exit {r.exit}" for r in runs)
    )
    return 0 if kind == "survived" else 1


# -- the campaign --------------------------------------------------------------------------


def _bin(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise MutantsError(f"{path} is missing: install the dev extra (make venv)")
    return str(path)


def snapshot(state: Path) -> Path:
    target = state / "snapshot"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for part in SNAPSHOT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=SNAPSHOT_IGNORE)
        else:
            shutil.copy2(source, target / part)
    # Byte code checked against the source's hash, not its mtime: the unmutated modules
    # load fast in every run, and a mutated one (whose hash differs) is always compiled
    # afresh, however quickly the mutations follow each other.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "--invalidation-mode",
            "checked-hash",
            str(target / "src"),
            str(target / "tests"),
        ],
        check=True,
    )
    return target


def work_copies(state: Path, snap: Path, workers: int) -> list[Path]:
    copies = []
    for n in range(workers):
        copy = state / f"w{n}"
        if copy.exists():
            shutil.rmtree(copy)
        shutil.copytree(snap, copy)
        copies.append(copy)
    return copies


def preflight(copy: Path, settings: Settings, state: Path) -> None:
    """The copy is what the suite imports, and the unmutated copy is CONFORMANT."""
    probe = subprocess.run(
        [sys.executable, "-c", "import masivo_conformance.server.service as m; print(m.__file__)"],
        cwd=copy,
        env=suite_env(copy),
        capture_output=True,
        text=True,
        check=False,
    )
    imported = Path(probe.stdout.strip() or ".").resolve()
    if not imported.is_relative_to(copy.resolve()):
        raise MutantsError(f"the suite would import {imported}, not the work copy {copy}")
    # A copy broken on purpose must stop the run: else the suite judges another server.
    module = copy / settings.modules[0]
    original = module.read_text()
    module.write_text(original + '\nraise RuntimeError("scripts/mutants.py: a broken copy")\n')
    try:
        broken = run_suite(copy, settings.profiles[0], settings, state / "preflight" / "broken")
    finally:
        module.write_text(original)
    if broken.exit == 0:
        raise MutantsError("a deliberately broken copy ran CONFORMANT: the copy is not imported")
    runs = judge(copy, settings, state / "preflight" / "unmutated")
    if verdict(runs) != "survived":
        last = runs[-1]
        raise MutantsError(
            f"the unmutated server is not CONFORMANT ({last.profile}: exit {last.exit}, "
            f"{last.said}): every mutant would count as killed; fix the suite or server first"
        )
    print(
        f"preflight: {imported.relative_to(copy.resolve())} is imported from the copy; a broken "
        f"copy exits {broken.exit}; the unmutated one is CONFORMANT ("
        + ", ".join(f"{r.profile} {r.seconds:.1f} s" for r in runs)
        + ")"
    )


# Parallel workers without cosmic-ray's http distributor: its worker listens on every
# interface and runs whatever test command a POST names. Instead the session is split
# into one share per work copy (each a copy of the session in which the other shares'
# jobs are marked skipped), and each share runs its own `cosmic-ray exec` with the local
# distributor, inside its own copy.
OTHER_SHARE = "scripts/mutants.py: another share's job"


def split_session(session: Path, shares: int) -> list[Path]:
    """Copies of `session`, the n-th keeping every shares-th pending job from n on (the
    jobs are ordered by module and line, so each share gets some of every module)."""
    paths = [session.with_name(f"share{n}.sqlite") for n in range(shares)]
    db = sqlite3.connect(session)
    try:
        pending = [
            row[0]
            for row in db.execute(
                "SELECT m.job_id FROM mutation_specs m LEFT JOIN work_results r USING (job_id)"
                " WHERE r.job_id IS NULL"
                " ORDER BY m.module_path, m.start_pos_row, m.start_pos_col, m.operator_name"
            )
        ]
    finally:
        db.close()
    for n, path in enumerate(paths):
        shutil.copyfile(session, path)
        others = [job for i, job in enumerate(pending) if i % shares != n]
        db = sqlite3.connect(path)
        try:
            db.executemany(
                "INSERT INTO work_results (worker_outcome, output, job_id)"
                " VALUES ('SKIPPED', ?, ?)",
                [(OTHER_SHARE, job) for job in others],
            )
            db.commit()
        finally:
            db.close()
    return paths


def share_paths(state: Path) -> list[Path]:
    return sorted(state.glob("share*.sqlite"))


def merge_shares(shares: Iterable[Iterable[Job]]) -> list[Job]:
    """One job per id: the share that ran it wins over those that skipped it for it."""
    jobs: dict[str, Job] = {}
    for share in shares:
        for job in share:
            seen = jobs.get(job.job_id)
            if seen is None or (_is_elsewhere(seen) and not _is_elsewhere(job)):
                jobs[job.job_id] = job
    return sorted(jobs.values(), key=lambda j: (j.module, j.line, j.column, j.operator))


def _is_elsewhere(job: Job) -> bool:
    return job.worker_outcome == "SKIPPED" and job.output == OTHER_SHARE


def progress(shares: Sequence[Path]) -> tuple[int, int]:
    """(mutants run, mutants) over the shares."""
    counts = [session_progress(path) for path in shares]
    ran = sum(c[0] for c in counts)
    return ran, ran + sum(c[1] for c in counts)


def execute(config_path: Path, shares: Sequence[Path], copies: Sequence[Path]) -> None:
    """`cosmic-ray exec` of each share in its copy, side by side; a progress line a minute."""
    processes = [
        subprocess.Popen([_bin("cosmic-ray"), "exec", str(config_path), str(share)], cwd=copy)
        for share, copy in zip(shares, copies, strict=True)
    ]
    started = last = time.monotonic()
    try:
        while any(p.poll() is None for p in processes):
            time.sleep(2)
            if time.monotonic() - last >= 60:
                last = time.monotonic()
                done, total = progress(shares)
                print(
                    f"  {done}/{total} mutants done after {(last - started) / 60:.0f} min",
                    flush=True,
                )
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait()
    failed = [p.returncode for p in processes if p.returncode != 0]
    if failed:
        raise MutantsError(f"cosmic-ray exec exited {failed}")


def run_campaign(args: argparse.Namespace) -> int:
    config_path, state = Path(args.config), Path(args.state)
    config = load_config(config_path)
    options = config.get("mutants", {})
    started = time.monotonic()
    state.mkdir(exist_ok=True)
    if args.resume:
        snap, shares = state / "snapshot", share_paths(state)
        if not shares or not snap.is_dir():
            raise MutantsError("nothing to resume: run without --resume")
    else:
        for old in ("records", "runs", "preflight"):
            shutil.rmtree(state / old, ignore_errors=True)
        for old_share in [*share_paths(state), state / "session.sqlite"]:
            old_share.unlink(missing_ok=True)
        snap, shares = snapshot(state), []
    source = snapshot_source(state, args.resume)  # now: the checkout may move meanwhile
    settings = Settings(
        modules=_module_paths(config),
        snapshot=str(snap),
        state=str(state),
        profiles=list(options.get("profiles", ["budget", "quick"])),
        suite_args=list(options.get("suite-args", [])),
        timeouts={k: float(v) for k, v in options.get("timeouts", {}).items()},
    )
    (state / "settings.json").write_text(json.dumps(asdict(settings), indent=1))
    workers = len(shares) or args.workers or int(options.get("workers", 1))
    copies = work_copies(state, snap, workers)  # afresh: an interrupted job leaves a mutant
    preflight(copies[0], settings, state)
    # cosmic-ray runs a copy of this script: an edit of it mid-campaign changes nothing.
    frozen = state / "mutants.py"
    shutil.copyfile(Path(__file__), frozen)
    test = shlex.join([sys.executable, str(frozen), "test", "--state", str(state)])
    cr_config = state / "cosmic-ray.toml"
    cr_config.write_text(cosmic_ray_config(config, test))
    if not shares:
        session = state / "session.sqlite"
        _call([_bin("cosmic-ray"), "init", str(cr_config), str(session)], cwd=copies[0])
        _call([_bin("cr-filter-operators"), str(session), str(cr_config)], cwd=copies[0])
        shares = split_session(session, workers)
    done, total = progress(shares)
    print(f"cosmic-ray: {total} mutants, {total - done} to run on {workers} worker(s)", flush=True)
    exec_started = time.monotonic()
    execute(cr_config, shares, copies)
    _write_campaign(
        state,
        source,
        workers,
        time.monotonic() - started,
        time.monotonic() - exec_started,
        args.resume,
    )
    return report(args)


def _call(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise MutantsError(f"{Path(argv[0]).name} exited {done.returncode}: {done.stderr[-500:]}")


def _module_paths(config: Mapping[str, Any]) -> list[str]:
    paths = config["cosmic-ray"]["module-path"]
    return [paths] if isinstance(paths, str) else list(paths)


def _git(*argv: str) -> str:
    done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def snapshot_source(state: Path, resumed: bool) -> str:
    """The commit the snapshot was taken from, read when it is taken (a commit made
    during the campaign is not what it mutated) and kept beside it for --resume."""
    path = state / "snapshot-source"
    if resumed and path.is_file():
        return path.read_text()
    dirty = bool(_git("status", "--porcelain", "--", *SNAPSHOT_PARTS))
    source = _git("rev-parse", "--short", "HEAD") + (" with uncommitted changes" if dirty else "")
    path.write_text(source)
    return source


def _write_campaign(
    state: Path, source: str, workers: int, seconds: float, exec_seconds: float, resumed: bool
) -> None:
    path = state / "campaign.json"
    previous = json.loads(path.read_text()) if resumed and path.is_file() else {}
    campaign = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "commit": source,
        "workers": workers,
        "cores": os.cpu_count(),
        "seconds": round(seconds + previous.get("seconds", 0)),
        "exec_seconds": round(exec_seconds + previous.get("exec_seconds", 0)),
        "resumed": resumed or previous.get("resumed", False),
    }
    path.write_text(json.dumps(campaign, indent=1))


def _describe(state: Path) -> dict[str, Any]:
    path = state / "campaign.json"
    if not path.is_file():
        return {"date": "?", "describe": "no campaign.json (an interrupted campaign?)"}
    c = json.loads(path.read_text())
    minutes = c["seconds"] / 60
    text = (
        f"snapshot of commit {c['commit']}, {c['workers']} worker(s) on {c['cores']} cores "
        f"under `nice -n 19`: {minutes:.0f} min in all (cosmic-ray exec "
        f"{c['exec_seconds'] / 60:.0f} min; the rest is the snapshot, the preflight runs "
        "and cosmic-ray init)"
        + (", over more than one sitting (--resume)" if c["resumed"] else "")
        + "."
    )
    return {"date": c["date"], "describe": text}


def report(args: argparse.Namespace) -> int:
    config_path, state = Path(args.config), Path(args.state)
    classes = load_classes(load_config(config_path))
    shares = share_paths(state)
    if not shares:
        raise MutantsError(f"no campaign in {state}: run `make mutants` first")
    jobs = merge_shares(read_session(path) for path in shares)
    campaign = join(jobs, read_records(state / "records"))
    with (state / "mutants.jsonl").open("w") as handle:
        for mutant in campaign.mutants:
            handle.write(json.dumps({**asdict(mutant), "where": mutant.where}) + "\n")
    print(text_report(campaign, classes))
    if not getattr(args, "no_docs", False):
        block = markdown_figures(campaign, classes, _describe(state))
        DOCS.write_text(replace_block(DOCS.read_text(), block))
        print(f"\nwrote the figures into {DOCS.relative_to(ROOT)}")
    stale = set(classes) - {m.id for m in campaign.mutants if m.verdict == "survived"}
    if stale:
        print(
            f"note: mutation.toml classifies survivors this campaign did not have: {sorted(stale)}"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(CONFIG), help="default: mutation.toml")
    parser.add_argument("--state", default=str(STATE), help="work folder; default: .mutants")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="the whole campaign, then the report")
    run.add_argument("--workers", type=int, help="parallel cosmic-ray workers (mutation.toml)")
    run.add_argument("--resume", action="store_true", help="run the jobs not run yet")
    run.add_argument("--no-docs", action="store_true", help="do not write docs/mutation.md")
    show = commands.add_parser("report", help="figures and survivors of the last campaign")
    show.add_argument("--no-docs", action="store_true", help="do not write docs/mutation.md")
    test = commands.add_parser("test", help="(cosmic-ray's test command) judge one mutant")
    test.add_argument("--state", dest="test_state", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "test":
            return test_mutant(Settings.read(Path(args.test_state)))
        if args.command == "run":
            return run_campaign(args)
        return report(args)
    except MutantsError as exc:
        print(f"scripts/mutants.py: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
