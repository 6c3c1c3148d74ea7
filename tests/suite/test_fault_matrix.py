"""The fault matrix: the whole quick profile against the reference server with one fault on
reports the fault's requirement as failing, and no other MUST (but those the fault lists
in `also`): faults prove attribution, not just detection. Masking pairs prove that a
response-shape fault hides no ledger rule.

The reference server settles synchronously, so these runs pass a short settle time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.faults import FAULTS
from tests.suite.cli_runs import CliRun, run_cli, target_args

QUICK = ("--profile", "quick", "--seed", "1", "--settle-time", "0.2", "-q")
SHAPE_FAULTS = ("lowercase_status", "epoch_timestamps", "emit_bare_event")
LEDGER_FAULTS = (
    "reverse_keeps_points",
    "deferred_fulfil_double_credit",
    "refulfil_credits_again",
    "preview_consumes_points",
    "double_reverse_accepted",
    "cancel_keeps_reservation",
)


def _run(start_server: Any, tmp_path: Path, faults: set[str], *extra: str) -> CliRun:
    server = start_server(ServerConfig(faults=frozenset(faults)))
    return run_cli("run", *target_args(server), *QUICK, *extra, report_dir=tmp_path)


def _failing_musts(run: CliRun) -> set[str]:
    musts = {r.id for r in catalogue() if r.is_must}
    return set(run.failing()) & musts


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_suite_charges_the_fault_to_its_requirement_alone(
    fault: str, start_server: Any, tmp_path: Path, matrix_row: Any
) -> None:
    broken = FAULTS[fault]
    requirement = catalogue()[broken.requirement]
    run = _run(start_server, tmp_path, {fault})
    others = _failing_musts(run) - {requirement.id, *broken.also}
    caught = run.status(requirement.id) == "fail"
    matrix_row(
        f"{fault:<36} {requirement.id:<7} {requirement.level:<6} "
        f"{'caught' if caught else 'MISSED'} (exit {run.exit_code})"
        + (f" also charged: {sorted(others)}" if others else "")
    )
    assert caught, f"{fault} not caught: {run.stdout[-3000:]}{run.stderr[-2000:]}"
    assert not others, f"{fault} was also charged to {sorted(others)}: {run.stdout[-3000:]}"
    assert run.exit_code == (1 if requirement.is_must else 0), run.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("ledger", LEDGER_FAULTS)
@pytest.mark.parametrize("shape", SHAPE_FAULTS)
def test_a_shape_fault_hides_no_ledger_rule(
    shape: str, ledger: str, start_server: Any, tmp_path: Path
) -> None:
    run = _run(start_server, tmp_path, {shape, ledger})
    wanted = {FAULTS[shape].requirement, FAULTS[ledger].requirement}
    assert wanted <= set(run.failing()), f"{shape} + {ledger}: {run.stdout[-3000:]}"
    assert run.exit_code == 1


@pytest.mark.slow
def test_a_selected_requirement_fails_under_a_masking_fault(
    start_server: Any, tmp_path: Path
) -> None:
    run = _run(
        start_server,
        tmp_path,
        {"lowercase_status", "reverse_keeps_points"},
        "--requirement",
        "REV-2",
    )
    assert run.status("REV-2") == "fail", run.stdout[-3000:]
    assert run.exit_code == 1


@pytest.mark.slow
def test_should_fault_fails_the_run_with_strict(start_server: Any, tmp_path: Path) -> None:
    run = _run(
        start_server,
        tmp_path,
        {"reverse_without_reason_accepted"},
        "--requirement",
        "REV-7",
        "--strict",
    )
    assert run.status("REV-7") == "fail"
    assert run.exit_code == 1


@pytest.mark.slow
def test_a_target_that_dies_mid_run_exits_2(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    import subprocess  # noqa: PLC0415 (only this test runs the CLI in the background)
    import sys  # noqa: PLC0415

    process = subprocess.Popen(
        [sys.executable, "-m", "masivo_conformance", "run", *target_args(server), *QUICK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while _customers(server) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)  # until the run is well under way
    server.stop()
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stdout[-3000:] + stderr[-2000:]
    assert "stopped answering" in stdout
    assert "Traceback" not in stdout + stderr


def _customers(server: Any) -> int:
    with server._store.transaction() as db:
        return int(db.execute("SELECT count(*) AS n FROM customers").fetchone()["n"])


def test_every_requirement_has_a_fault() -> None:
    broken = {fault.requirement for fault in FAULTS.values()}
    assert {r.id for r in catalogue()} <= broken, "a requirement no fault breaks"
