"""A step every scenario needs, refused by the target, stops the run at once: one line
naming the step, the status and the target's own words, exit 2 (as a refused key does
at the preflight), instead of dozens of test errors and an inconclusive verdict."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.cli_runs import run_cli, target_args
from tests.hostile.tamperer import Tamperer, replace

REFUSAL = {"error": "Validation failed", "details": "customers need a loyalty card"}


def test_a_refused_create_customer_stops_the_run_with_one_line(
    hostile: Tamperer, tmp_path: Path
) -> None:
    hostile.rule(
        "create_customer",
        replace(status=422, body=json.dumps(REFUSAL), content_type="application/json"),
    )
    reports = tmp_path / "reports"
    run = run_cli("run", *target_args(hostile), "--profile", "budget", report_dir=reports)
    assert run.exit_code == 2, run.tail()
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert errors == [
        "masivo-conformance: error: create_customer answered 422 to a valid request: "
        "Validation failed: customers need a loyalty card: every scenario needs this step: "
        "check why the target refuses it (run with -v for the request as a curl line), "
        "then run again"
    ]
    assert "Traceback" not in run.stdout + run.stderr
    assert "CONFORMANT" not in run.stdout  # no verdict on a run that could not set up
    assert run.result is not None  # the reports are still written, with the reason
    assert any("create_customer answered 422" in note for note in run.result["notes"])
    creates = [hit for hit in hostile.hits if hit[2] == "create_customer"]
    assert 1 <= len(creates) <= 4  # stopped at once (a worker or two may be mid-test)
