"""`run` options a CI user relies on: request budget, parallel workers, cleanup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli.cli_runs import run_cli, target_args


@pytest.mark.slow
@pytest.mark.parametrize("budget", [30, 150])
def test_a_spent_request_budget_stops_cleanly_and_is_never_conformant(
    start_server: Any, tmp_path: Path, budget: int
) -> None:
    server = start_server()
    run = run_cli(
        "run",
        *target_args(server),
        *("--profile", "quick", "--max-requests", str(budget), "-q"),
        report_dir=tmp_path,
    )
    # What the budget left unjudged is "not checked", never pass: inconclusive, exit 3.
    assert run.exit_code == 3, run.stdout[-3000:] + run.stderr[-2000:]
    assert "INCONCLUSIVE" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert run.result is not None
    assert run.result["request_count"] <= budget
    assert any(f"request budget of {budget} spent" in n for n in run.result["notes"])
    rows = run.result["requirements"]
    unchecked = [r for r in rows if r["status"] == "not checked"]
    assert unchecked
    assert all("budget" in r["reason"] for r in unchecked), unchecked
    assert any(r["status"] == "pass" for r in rows)
    assert all(r["status"] != "fail" for r in rows)


@pytest.mark.slow
def test_parallel_workers_keep_customers_apart(tmp_path: Path) -> None:
    run = run_cli("run", "--profile", "quick", "-n", "2", "-q", report_dir=tmp_path, timeout=400)
    assert run.exit_code == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.failing() == []
    assert run.status("REV-6") == "pass"
    assert run.result is not None
    assert run.result["request_count"] > 100  # both workers' requests are counted


@pytest.mark.slow
def test_events_left_live_on_a_real_target_are_reversed(start_server: Any, tmp_path: Path) -> None:
    server = start_server()  # a base URL: treated like a real target, unlike the embedded one
    run = run_cli(
        "run",
        *target_args(server),
        "--profile",
        "quick",
        "--requirement",
        "EMIT-1",
        "-q",
        report_dir=tmp_path,
    )
    assert run.exit_code == 0, run.stdout[-3000:]
    assert run.result is not None
    notes = " ".join(run.result["notes"])
    assert "cleanup: the run created" in notes
    assert "left behind: nothing" in notes
    assert "reversed the 0 " not in notes  # EMIT-1 leaves standby events live: they were undone


@pytest.mark.slow
def test_every_xdist_worker_reports_its_own_cleanup(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    run = run_cli(
        "run", *target_args(server), "--profile", "budget", "-n", "2", "-q", report_dir=tmp_path
    )
    assert run.exit_code == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.result is not None
    cleanups = [n for n in run.result["notes"] if n.startswith("cleanup: the run created")]
    assert sorted(n.rsplit("(worker ", 1)[-1] for n in cleanups) == ["gw0)", "gw1)"], cleanups


def test_max_time_stops_a_run_and_what_it_did_not_judge_is_not_checked(tmp_path: Path) -> None:
    run = run_cli("run", "--profile", "quick", "--max-time", "0.3", "-q", report_dir=tmp_path)
    assert run.exit_code == 3, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.result is not None
    statuses = {r["id"]: r["status"] for r in run.result["requirements"]}
    assert "fail" not in statuses.values()
    unchecked = [r for r in run.result["requirements"] if r["status"] == "not checked"]
    assert unchecked
    assert all("--max-time of 0.3 s reached" in r["reason"] for r in unchecked)
    assert any("--max-time of 0.3 s reached" in note for note in run.result["notes"])


def test_max_time_that_is_not_positive_is_one_line() -> None:
    run = run_cli("run", "--max-time", "-5")
    assert run.exit_code == 2
    assert run.stderr.strip().splitlines() == [
        "masivo-conformance: error: --max-time must be more than 0 seconds (got -5): "
        "give the seconds the run may take, e.g. --max-time 300"
    ]


def test_progress_reaches_100_percent_when_the_fuzz_test_runs_subtests() -> None:
    run = run_cli("run", "--profile", "quick", "--requirement", "GEN-3")
    assert run.exit_code == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "subtests passed" in run.stdout  # the fuzz test ran, one subtest per operation
    progress = [line for line in run.stdout.splitlines() if line.rstrip().endswith("%]")]
    assert progress
    assert progress[-1].rstrip().endswith("[100%]"), progress


@pytest.mark.slow
def test_report_dir_names_every_file_it_writes(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    run = run_cli("run", "--profile", "budget", "--settle-time", "0.2", report_dir=reports)
    assert run.exit_code == 0, run.tail()
    written = sorted(p.name for p in reports.iterdir() if p.is_file())
    assert written == ["junit.xml", "report.html", "result.json", "summary.md"]
    for name in written:
        assert f"wrote {reports / name}\n" in run.stdout, run.stdout[-1500:]
