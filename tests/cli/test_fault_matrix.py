"""The fault matrix: a whole run (profile MATRIX_PROFILE, no --requirement) against the
reference server with one fault on reports the fault's requirement as failing, and no
other MUST (but those the fault lists in `also`): faults prove attribution, not just
detection. Masking pairs prove that a response-shape fault hides no ledger rule.

Each run is a fresh `masivo-conformance` process against a fresh server of its own; the
processes are forked from one that imported everything once (`warm_cli`), which saves
the interpreter's seconds of start-up per run. The tests of a target dying mid-run and
of the fork server itself run the command in a new interpreter, as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.reporting.judging import NOT_JUDGED
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.faults import FAULTS
from tests.cli.cli_runs import CliRun, WarmCli, run_cli, target_args
from tests.cli.judge_traffic import judged_files

# The cheapest profile that still judges every requirement: it must catch every fault
# (the matrix below proves it does). docs/benchmarks.md has the figures.
MATRIX_PROFILE = "budget"
# The server settles synchronously: an effect is there when the answer is, so a fifth of
# a second to settle and two to list an event's transactions are generous (the defaults,
# 1 s and 10 s, are for real targets; only faults that never settle wait them out).
FAST = ("--seed", "1", "--settle-time", "0.2", "--settle-timeout", "2", "-q")
MATRIX_RUN = ("--profile", MATRIX_PROFILE, *FAST)
# A profile long enough to be stopped in the middle on any machine (deep takes minutes;
# quick, once used here, can end inside 4 s on a fast one).
LONG_RUN = ("--profile", "deep", *FAST)
SHAPE_FAULTS = ("lowercase_status", "epoch_timestamps", "emit_bare_event")
LEDGER_FAULTS = (
    "reverse_keeps_points",
    "deferred_fulfil_double_credit",
    "refulfil_credits_again",
    "preview_consumes_points",
    "double_reverse_accepted",
    "cancel_keeps_reservation",
)


def _run(cli: WarmCli, start_server: Any, tmp_path: Path, faults: set[str], *extra: str) -> CliRun:
    server = start_server(ServerConfig(faults=frozenset(faults)))
    return cli("run", *target_args(server), *MATRIX_RUN, *extra, report_dir=tmp_path)


def _failing_musts(run: CliRun) -> set[str]:
    musts = {r.id for r in catalogue() if r.is_must}
    return set(run.failing()) & musts


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_suite_charges_the_fault_to_its_requirement_alone(
    fault: str,
    warm_cli: WarmCli,
    start_server: Any,
    clean_server: Any,
    tmp_path: Path,
    matrix_row: Any,
) -> None:
    """And the reproducer of what the run found reproduces it, there only; and the run's
    own traffic, saved as HAR and as a cassette, is judged the same by `judge`."""
    broken = FAULTS[fault]
    requirement = catalogue()[broken.requirement]
    server = start_server(ServerConfig(faults=frozenset({fault})))
    saved = tmp_path / "traffic"
    run = warm_cli(
        "run", *target_args(server), *MATRIX_RUN, "--save-traffic", str(saved), report_dir=tmp_path
    )
    others = _failing_musts(run) - {requirement.id, *broken.also}
    caught = run.status(requirement.id) == "fail"
    matrix_row(
        f"{fault:<36} {requirement.id:<7} {requirement.level:<6} "
        f"{'caught' if caught else 'MISSED'} (exit {run.exit_code})"
        + (f" also charged: {sorted(others)}" if others else "")
    )
    assert caught, f"{fault} not caught: {run.tail()}"
    assert not others, f"{fault} was also charged to {sorted(others)}: {run.tail()}"
    assert run.exit_code == (1 if requirement.is_must else 0), run.tail()
    if fault not in NOT_REPLAYABLE:
        _reproduces(tmp_path, requirement.id, fault, run, server, clean_server)
    _judged_alike(fault, saved)


# Faults whose premise the run's saved traffic cannot show `judge`, and why: their
# requirement is "not checked" there (with every fault of a requirement in NOT_JUDGED).
TRAFFIC_CANNOT_SHOW = {
    "authorize_accepts_any_key": (
        "the wrong key the run sends is redacted when its traffic is saved, like the right one"
    ),
    "long_lived_token": "the run's tokens are redacted when saved: no exp or iat is left to read",
    "every_other_emit_never_settles": (
        "a recording ends: an event still PENDING at its end may settle after it"
    ),
    "reverse_unknown_event_ok": (
        "the run reverses a uuid no event has: a recording cannot tell it from an event made "
        "before the recording began"
    ),
    "preview_records_redemption": (
        "judge compares wallet totals around previews; the transactions a preview files are "
        "listed only brand-wide, paged, which it does not compare"
    ),
}
# What a cassette cannot show that a HAR can: it keeps no times.
CASSETTE_CANNOT_SHOW = {
    "reverse_not_atomic": "concurrent reverses look one after the other without times",
}


def _judged_alike(fault: str, saved: Path) -> None:
    """Issue 23: `judge` on the run's own traffic fails the fault's requirement wherever
    the recording shows its premise, and charges no other MUST but the fault's `also`."""
    broken = FAULTS[fault]
    musts = {r.id for r in catalogue() if r.is_must}
    files = judged_files(saved)
    assert sorted(files) == ["traffic-main.har", "traffic-main.yaml"], sorted(files)
    for name, statuses in files.items():
        status = statuses[broken.requirement]
        hidden = fault in TRAFFIC_CANNOT_SHOW or (
            name.endswith(".yaml") and fault in CASSETTE_CANNOT_SHOW
        )
        if broken.requirement in NOT_JUDGED:
            assert status == "not checked", f"{fault}: judge on {name} says {status}"
        elif hidden:  # caught after all: the exception above is stale
            assert status != "fail", f"{fault}: judge on {name} catches it now"
        else:
            assert status == "fail", f"{fault}: judge on {name} says {status}"
        failing = {i for i, status in statuses.items() if status == "fail"} & musts
        others = failing - {broken.requirement, *broken.also}
        assert not others, f"{fault}: judge on {name} also charged {sorted(others)}"


# Faults a replay of one test's calls cannot meet again, and why.
NOT_REPLAYABLE = {
    # Every second purchase *of the whole server* stays PENDING: which of the replay's
    # purchases is hit depends on how many the server had seen before it.
    "every_other_emit_never_settles": "depends on the server's count of all purchases",
}


def _replay(script: Path, server: Any) -> subprocess.CompletedProcess[str]:
    """A sequence reproducer run as a user would: python3, MASIVO_* variables only."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "MASIVO_BASE_URL": server.base_url,
        "MASIVO_API_KEY": server.api_key,
    }
    return subprocess.run(
        [sys.executable, "-I", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _reproduces(
    report_dir: Path, requirement: str, fault: str, run: CliRun, faulty: Any, clean: Any
) -> None:
    """Issue 22: the sequence reproducer of the fault's first finding fails (exit 1) on the
    server with the fault (a fresh customer of its own), and passes (exit 0) on a
    correct one."""
    scripts = sorted((report_dir / "reproducers").glob(f"{requirement}-*.py"))
    assert scripts, f"{fault}: no sequence reproducer for {requirement}: {run.tail()}"
    failed = _replay(scripts[0], faulty)
    assert failed.returncode == 1, f"{fault} on its server: {failed.stdout[-3000:]}{failed.stderr}"
    passed = _replay(scripts[0], clean)
    assert passed.returncode == 0, f"{fault} on a clean server: {passed.stdout[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("ledger", LEDGER_FAULTS)
@pytest.mark.parametrize("shape", SHAPE_FAULTS)
def test_a_shape_fault_hides_no_ledger_rule(
    shape: str, ledger: str, warm_cli: WarmCli, start_server: Any, tmp_path: Path
) -> None:
    run = _run(warm_cli, start_server, tmp_path, {shape, ledger})
    wanted = {FAULTS[shape].requirement, FAULTS[ledger].requirement}
    assert wanted <= set(run.failing()), f"{shape} + {ledger}: {run.tail()}"
    assert run.exit_code == 1


@pytest.mark.slow
def test_a_selected_requirement_fails_under_a_masking_fault(
    warm_cli: WarmCli, start_server: Any, tmp_path: Path
) -> None:
    run = _run(
        warm_cli,
        start_server,
        tmp_path,
        {"lowercase_status", "reverse_keeps_points"},
        "--requirement",
        "REV-2",
    )
    assert run.status("REV-2") == "fail", run.tail()
    assert run.exit_code == 1


@pytest.mark.slow
def test_should_fault_fails_the_run_with_strict(
    warm_cli: WarmCli, start_server: Any, tmp_path: Path
) -> None:
    run = _run(
        warm_cli,
        start_server,
        tmp_path,
        {"reverse_without_reason_accepted"},
        "--requirement",
        "REV-7",
        "--strict",
    )
    assert run.status("REV-7") == "fail", run.tail()
    assert run.exit_code == 1


@pytest.mark.slow
def test_a_target_that_dies_mid_run_exits_2(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    process = subprocess.Popen(
        [sys.executable, "-m", "masivo_conformance", "run", *target_args(server), *LONG_RUN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while _customers(server) < 5 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # until the run is well under way
    server.stop()
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stdout[-3000:] + stderr[-2000:]
    assert "stopped answering" in stdout
    assert "Traceback" not in stdout + stderr


def test_a_warm_run_ends_as_a_new_interpreter_would(warm_cli: WarmCli) -> None:
    """The matrix's runs are forked (`warm_cli`): a usage error, which leaves through
    SystemExit, gives the same exit code and message as `python -m masivo_conformance`."""
    argv = ("run", "--profile", "no-such-profile")
    warm = warm_cli(*argv)
    cold = run_cli(*argv)
    assert (warm.exit_code, warm.stdout, warm.stderr) == (cold.exit_code, cold.stdout, cold.stderr)
    assert warm.exit_code == 2
    assert "invalid choice: 'no-such-profile'" in warm.stderr


@pytest.mark.slow
def test_a_warm_run_past_its_timeout_is_killed_and_the_next_one_runs(
    start_server: Any, tmp_path: Path
) -> None:
    """A run that hangs must not hang the matrix, nor go on writing to a server: it is
    killed with the fork server, and the next run starts a new one."""
    server = start_server()
    cli = WarmCli()
    try:
        assert cli("--version").exit_code == 0  # started: the timeout is the run's alone
        with pytest.raises(subprocess.TimeoutExpired):  # deep runs for minutes
            cli("run", *target_args(server), *LONG_RUN, report_dir=tmp_path, timeout=4)
        created = _customers(server)
        time.sleep(0.5)
        assert created > 0, "the run was killed before it started"
        assert _customers(server) == created, "the run goes on after its timeout"
        assert cli("--version").exit_code == 0
    finally:
        cli.close()


def _customers(server: Any) -> int:
    with server._store.transaction() as db:
        return int(db.execute("SELECT count(*) AS n FROM customers").fetchone()["n"])


def test_every_requirement_has_a_fault() -> None:
    broken = {fault.requirement for fault in FAULTS.values()}
    assert {r.id for r in catalogue()} <= broken, "a requirement no fault breaks"
