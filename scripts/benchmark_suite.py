"""Benchmark of the conformance suite (numbers for docs/benchmarks.md; nothing asserted).

Measures, against reference servers started here on loopback:
* wall time and request count of `run` per profile against the clean embedded server;
* for every fault, whether the quick and ci profiles (whole suite, no --requirement)
  catch the requirement it breaks;
* side by side, plain schemathesis (`schemathesis run` on our OpenAPI document, all
  checks, a time budget like ci's) against the same faults: a fault counts as caught
  when it fails a (check, operation) pair that the clean server does not fail.

Usage: .venv/bin/python scripts/benchmark_suite.py [--faults a,b] [--skip-schemathesis]
Prints Markdown tables to stdout.
"""

from __future__ import annotations

import argparse
import json
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

ROOT = Path(__file__).resolve().parents[1]


def run_suite(server: EmbeddedServer, profile: str, seed: int = 1) -> tuple[dict[str, Any], float]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "masivo_conformance",
                "run",
                "--base-url",
                server.base_url,
                "--api-key",
                server.api_key,
                "--brand-id",
                server.brand_id,
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
        elapsed = time.monotonic() - started
        return json.loads((Path(tmp) / "result.json").read_text()), elapsed


def plain_schemathesis(server: EmbeddedServer, budget_s: int) -> set[tuple[str, str]]:
    """(testcase name, failure message head) pairs that plain schemathesis reports."""
    token = httpx.get(
        server.base_url + "/auth/authorize", headers={"x-api-key": server.api_key}
    ).json()["data"]
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        subprocess.run(
            [
                str(ROOT / ".venv/bin/schemathesis"),
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
        help="skip the profile table; give plain schemathesis this budget",
    )
    args = parser.parse_args()
    faults = args.faults.split(",") if args.faults else sorted(FAULTS)

    print("## Suite wall time per profile (clean embedded server)\n")
    print("| profile | wall s | requests | verdict |\n|---|---|---|---|")
    ci_time = args.skip_profiles or 60
    with EmbeddedServer() as server:
        for profile in () if args.skip_profiles else ("quick", "ci", "deep"):
            result, elapsed = run_suite(server, profile)
            failed = [r["id"] for r in result["requirements"] if r["status"] == "fail"]
            print(
                f"| {profile} | {elapsed:.1f} | {result['request_count']} | "
                f"{'conformant' if not failed else 'FAILED ' + ','.join(failed)} |"
            )
            if profile == "ci":
                ci_time = int(elapsed) + 1
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
                result, elapsed = run_suite(server, profile)
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
