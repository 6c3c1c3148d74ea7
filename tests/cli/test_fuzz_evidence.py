"""The fuzz test's verdicts reach the report. schemathesis's `from_fixture` tests ask for
their fixtures themselves, so the evidence never reached the item's arguments, where the
recorder looked: every verdict of the fuzz test was lost, and a break only fuzzing sees
was called CONFORMANT. The evidence now travels in the item's stash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from masivo_conformance.server.config import ServerConfig
from tests.cli.cli_runs import run_cli, target_args

FUZZ_TEST = "tests/contract/test_fuzz.py::test_generated_requests_keep_the_contract"


def test_the_fuzz_tests_findings_are_in_the_verdict(start_server: Any, tmp_path: Path) -> None:
    server = start_server(ServerConfig(faults=frozenset({"lowercase_status"})))
    run = run_cli(
        "run",
        *target_args(server),
        "--profile",
        "quick",
        "--seed",
        "1",
        "-n",
        "0",
        "--requirement",
        "GEN-4",
        report_dir=tmp_path,
    )
    assert run.exit_code == 1, run.tail()
    assert run.result is not None
    (gen4,) = [r for r in run.result["requirements"] if r["id"] == "GEN-4"]
    assert FUZZ_TEST in {finding["test"] for finding in gen4["findings"]}
