"""The fault matrix: for every fault of the reference server, the suite run against the
server with that fault on reports the broken requirement as failing (exit 1 for a MUST).

Each run selects the tests of the broken requirement (`--requirement ID`, quick profile)
so the matrix stays fast; `scripts/benchmark_suite.py` measures full-profile catching.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.requirements import catalogue
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.faults import FAULTS
from tests.suite.cli_runs import run_cli, target_args


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_suite_catches_fault(
    fault: str, start_server: Any, tmp_path: Path, matrix_row: Any
) -> None:
    requirement = catalogue()[FAULTS[fault].requirement]
    server = start_server(ServerConfig(faults=frozenset({fault})))
    run = run_cli(
        "run",
        *target_args(server),
        "--profile",
        "quick",
        "--seed",
        "1",
        "--requirement",
        requirement.id,
        "-q",
        report_dir=tmp_path,
    )
    caught = run.status(requirement.id) == "fail"
    matrix_row(
        f"{fault:<34} {requirement.id:<7} {requirement.level:<6} "
        f"{'caught' if caught else 'MISSED'} (exit {run.exit_code})"
    )
    assert caught, f"{fault} not caught: {run.stdout[-2000:]}{run.stderr[-2000:]}"
    assert run.exit_code == (1 if requirement.is_must else 0), run.stderr[-2000:]


@pytest.mark.slow
def test_should_fault_fails_the_run_with_strict(start_server: Any, tmp_path: Path) -> None:
    server = start_server(ServerConfig(faults=frozenset({"reverse_without_reason_accepted"})))
    run = run_cli(
        "run",
        *target_args(server),
        "--profile",
        "quick",
        "--requirement",
        "REV-7",
        "--strict",
        "-q",
        report_dir=tmp_path,
    )
    assert run.status("REV-7") == "fail"
    assert run.exit_code == 1


def test_every_must_requirement_has_a_fault() -> None:
    broken = {fault.requirement for fault in FAULTS.values()}
    musts = {r.id for r in catalogue() if r.is_must}
    assert musts <= broken, f"no fault breaks {sorted(musts - broken)}"
