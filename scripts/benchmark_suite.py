"""Benchmark of the conformance suite (numbers for docs/benchmarks.md; nothing asserted).

Measures, against reference servers started here on loopback:
* speed per profile: requests, wall time, the suite's own CPU time (the server runs in
  this process, so its CPU is not counted), CPU per request and requirements judged,
  each the median of --repeat runs against a fresh server; beside them plain
  `schemathesis run` on the same server with about the same number of requests;
* for every fault, whether the quick and ci profiles (whole suite, no --requirement)
  catch the requirement it breaks;
* side by side, plain schemathesis (`schemathesis run` on our OpenAPI document, all
  checks, a time budget like ci's) against the same faults: a fault counts as caught
  when it fails a (check, operation) pair that the clean server does not fail.

Usage: .venv/bin/python scripts/benchmark_suite.py [--faults a,b] [--skip-schemathesis]
       .venv/bin/python scripts/benchmark_suite.py --speed-only [--profiles quick] [--repeat 3]
       .venv/bin/python scripts/benchmark_suite.py --speed-only --embedded  # as users run it
Prints Markdown tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET  # our own schemathesis's report, not untrusted input
from pathlib import Path
from typing import Any

import httpx

from masivo_conformance.contract import openapi_path
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer
from masivo_conformance.server.faults import FAULTS
from masivo_conformance.suite import profiles

ROOT = Path(__file__).resolve().parents[1]
SCHEMATHESIS = ROOT / ".venv/bin/schemathesis"


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_suite(
    server: EmbeddedServer | None, profile: str, seed: int = 1
) -> tuple[dict[str, Any], float, float]:
    """One `run` against `server` (None: the run's own embedded server, with the workers
    it picks itself): its result.json, wall seconds and CPU seconds."""
    target: list[str] = []
    if server is not None:
        target = ["--base-url", server.base_url, "--api-key", server.api_key]
        target += ["--brand-id", server.brand_id]
    with tempfile.TemporaryDirectory() as tmp:
        cpu, started = _children_cpu(), time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "masivo_conformance",
                "run",
                *target,
                "--profile",
                profile,
                "--seed",
                str(seed),
                "-q",
                "--report-dir",
                tmp,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        elapsed, cpu = time.monotonic() - started, _children_cpu() - cpu
        if not (Path(tmp) / "result.json").exists():
            sys.exit(f"the {profile} run wrote no result: {done.stderr.strip()[-600:]}")
        return json.loads((Path(tmp) / "result.json").read_text()), elapsed, cpu


def _token(server: EmbeddedServer) -> str:
    answer = httpx.get(server.base_url + "/auth/authorize", headers={"x-api-key": server.api_key})
    return str(answer.json()["data"])


def schemathesis_requests(server: EmbeddedServer, max_examples: int) -> tuple[int, float, float]:
    """Plain `schemathesis run` (all checks, no coverage phase, whose thousands of
    requests no profile of ours sends but deep's): requests, wall and CPU seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        cassette = Path(tmp) / "vcr.yaml"
        cpu, started = _children_cpu(), time.monotonic()
        subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                str(openapi_path()),
                "--url",
                server.base_url,
                "-H",
                f"Authorization: Bearer {_token(server)}",
                "--checks",
                "all",
                "--phases",
                "examples,fuzzing,stateful",
                "--max-examples",
                str(max_examples),
                "--seed",
                "1",
                "--report",
                "vcr",
                "--report-vcr-path",
                str(cassette),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        elapsed, cpu = time.monotonic() - started, _children_cpu() - cpu
        text = cassette.read_text() if cassette.exists() else ""
        return text.count("\n- id:") + text.startswith("- id:"), elapsed, cpu


def speed(
    profile_names: list[str], repeat: int, compare: bool, embedded: bool = False
) -> dict[str, float]:
    """The speed table: medians of `repeat` runs per profile, each on a fresh server.
    Returns each profile's median wall time."""
    if embedded:
        print("## Suite speed per profile (`run --profile P`: the run's own embedded server)\n")
        where = "the run's processes, its server and any workers included"
    else:
        print("## Suite speed per profile (fresh reference server per run)\n")
        where = "the suite's process alone (the server runs in the benchmark's process)"
    print(
        f"Median of {repeat} runs; CPU is {where}. "
        f"Load average at start: {os.getloadavg()[0]:.1f}.\n"
    )
    print("| run | requests | wall s | CPU s | CPU ms/request | requirements judged | verdict |")
    print("|---|---|---|---|---|---|---|")
    walls: dict[str, float] = {}
    for profile in profile_names:
        rows = []
        for _ in range(repeat):
            if embedded:
                rows.append(run_suite(None, profile))
                continue
            with EmbeddedServer() as server:
                rows.append(run_suite(server, profile))
        result = sorted(rows, key=lambda row: row[1])[len(rows) // 2][0]  # the median run's
        requests = [row[0]["request_count"] for row in rows]
        statuses = [r["status"] for r in result["requirements"]]
        judged = sum(status in ("pass", "fail") for status in statuses)
        failed = [r["id"] for r in result["requirements"] if r["status"] == "fail"]
        cpu = statistics.median(row[2] for row in rows)
        walls[profile] = statistics.median(row[1] for row in rows)
        print(
            f"| {profile} | {min(requests)}-{max(requests)} | {walls[profile]:.1f} | {cpu:.1f} | "
            f"{1000 * cpu / statistics.median(requests):.1f} | {judged}/{len(statuses)} | "
            f"{'conformant' if not failed else 'FAILED ' + ','.join(failed)} |",
            flush=True,
        )
        if compare and SCHEMATHESIS.exists():
            # Requests do not grow in proportion to examples (small operations run out of
            # new inputs): a few runs home in on the profile's number of requests.
            examples, wanted = 5, statistics.median(requests)
            for _ in range(3):
                ran = examples
                with EmbeddedServer() as server:
                    sent, wall, cpu = schemathesis_requests(server, ran)
                if abs(sent - wanted) <= wanted / 10:
                    break
                examples = max(1, round(examples * wanted / max(sent, 1)))
            print(
                f"| plain schemathesis, --max-examples {ran} | {sent} | {wall:.1f} | "
                f"{cpu:.1f} | {1000 * cpu / max(sent, 1):.1f} | - | - |",
                flush=True,
            )
    print()
    return walls


def plain_schemathesis(server: EmbeddedServer, budget_s: int) -> set[tuple[str, str]]:
    """(testcase name, failure message head) pairs that plain schemathesis reports."""
    token = _token(server)
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                str(openapi_path()),
                "--url",
                server.base_url,
                "-H",
                f"Authorization: Bearer {token}",
                "--checks",
                "all",
                "--max-time",
                str(budget_s),
                "--seed",
                "1",
                "--report",
                "junit",
                "--report-junit-path",
                str(junit),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=budget_s + 120,
        )
        failures: set[tuple[str, str]] = set()
        if junit.exists():
            for case in ET.parse(junit).getroot().iter("testcase"):
                for failure in case.findall("failure"):
                    head = (failure.get("message") or failure.text or "").strip().splitlines()
                    failures.add((case.get("name", ""), head[0][:80] if head else ""))
        return failures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faults", help="comma-separated subset of faults")
    parser.add_argument("--skip-schemathesis", action="store_true")
    parser.add_argument(
        "--skip-profiles",
        type=int,
        metavar="CI_SECONDS",
        help="skip the speed table; give plain schemathesis this budget",
    )
    parser.add_argument(
        "--profiles",
        default=",".join(profiles.NAMES),
        help="comma-separated profiles of the speed table (default: all)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per profile (median)")
    parser.add_argument("--speed-only", action="store_true", help="only the speed table")
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="speed of `run --profile P` against its own embedded server (the default target)",
    )
    args = parser.parse_args()
    faults = args.faults.split(",") if args.faults else sorted(FAULTS)

    ci_time = args.skip_profiles or 60
    if not args.skip_profiles:
        compare = not args.skip_schemathesis
        walls = speed(args.profiles.split(","), args.repeat, compare, args.embedded)
        ci_time = int(walls.get("ci", ci_time - 1)) + 1
    if args.speed_only:
        return
    with EmbeddedServer() as server:
        baseline = set() if args.skip_schemathesis else plain_schemathesis(server, ci_time)
    print(
        f"\nplain schemathesis on the clean server: {len(baseline)} failing "
        "(testcase, message) pairs (false alarms)\n"
    )

    print("## Faults caught\n")
    print("| fault | requirement | quick | quick s | ci | ci s | plain schemathesis |")
    print("|---|---|---|---|---|---|---|")
    totals = {"quick": 0, "ci": 0, "st": 0}
    for fault in faults:
        requirement = FAULTS[fault].requirement
        row = [fault, requirement]
        with EmbeddedServer(ServerConfig(faults=frozenset({fault}))) as server:
            for profile in ("quick", "ci"):
                result, elapsed, _ = run_suite(server, profile)
                status = next(r["status"] for r in result["requirements"] if r["id"] == requirement)
                caught = status == "fail"
                totals[profile] += caught
                row += ["yes" if caught else "**no**", f"{elapsed:.1f}"]
            if args.skip_schemathesis:
                row.append("-")
            else:
                new = plain_schemathesis(server, ci_time) - baseline
                totals["st"] += bool(new)
                row.append(f"yes ({len(new)} new)" if new else "no")
        print("| " + " | ".join(row) + " |", flush=True)
    print(
        f"\ncaught: quick {totals['quick']}/{len(faults)}, ci {totals['ci']}/{len(faults)}, "
        f"plain schemathesis {totals['st']}/{len(faults)}"
    )


if __name__ == "__main__":
    main()
