"""A static OpenAPI mock (one fixed, schema-valid answer per operation, whatever the
request) is the target that tempts a suite to say "pass" on rules it never saw hold: it
must be judged on what it did, and rules that need state must not pass on its answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli.cli_runs import WarmCli, target_args

# Nothing a static mock answers ever changes: waiting the default second for an effect to
# land (and ten for an event to settle) proves nothing more than a fifth of one, and
# halves the run.
NO_LONG_WAITS = ("--settle-time", "0.2", "--settle-timeout", "1", "-q")
# Rules a static mock breaks on every run: it accepts what must be refused.
BROKEN = ("AUTH-1", "AUTH-2", "EMIT-2", "EMIT-3", "FUL-3", "FUL-4", "REV-4", "REV-5", "PRV-6")
# Rules that need state the mock does not keep: they may fail or go unchecked, never pass.
NEVER_PASS = ("FUL-2", "REV-2", "REV-3", "REV-6", "PRV-4", "EMIT-5")


@pytest.mark.slow
def test_a_static_mock_is_judged_on_evidence(
    warm_cli: WarmCli, static_mock: Any, tmp_path: Path
) -> None:
    run = warm_cli(
        "run", *target_args(static_mock), "--profile", "quick", *NO_LONG_WAITS, report_dir=tmp_path
    )
    assert run.exit_code == 1, run.tail()
    assert run.result is not None
    rows = {r["id"]: r for r in run.result["requirements"]}
    for requirement in BROKEN:
        assert rows[requirement]["status"] == "fail", rows[requirement]
    for requirement in NEVER_PASS:
        assert rows[requirement]["status"] != "pass", rows[requirement]
    for row in rows.values():
        if row["status"] == "pass":  # a pass rests on observations that held, none violated
            assert row["held"] > 0, row
            assert row["violated"] == 0, row
            assert row["tests"] > 0, row
        if row["status"] == "not checked":
            assert row["reason"], row
