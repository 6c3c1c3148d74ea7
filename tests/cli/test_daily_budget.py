"""Issue 20, item 2: --daily-budget spends at most N requests per target and UTC day,
across runs on one machine, and says up front what is left."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.cli.cli_runs import WarmCli, target_args

FAST = ("--profile", "budget", "--seed", "1", "--settle-time", "0.2")


def _left(stdout: str) -> tuple[int, int]:
    found = re.search(r"daily budget: (\d+) of (\d+) requests left", stdout)
    assert found, stdout[-2000:]
    return int(found[1]), int(found[2])


@pytest.mark.slow
def test_runs_share_a_targets_day_and_stop_when_it_is_spent(
    warm_cli: WarmCli, start_server: Any, tmp_path: Path
) -> None:
    server = start_server()
    state = {"MASIVO_STATE_DIR": str(tmp_path / "state")}
    first = warm_cli(
        "run",
        *target_args(server),
        *FAST,
        "--daily-budget",
        "300",
        report_dir=tmp_path / "a",
        env=state,
    )
    assert first.exit_code == 0, first.tail()
    assert _left(first.stdout) == (300, 300)
    assert first.result is not None
    spent = int(first.result["request_count"])
    assert spent > 100  # the plan's requests, counted against the day
    second = warm_cli(
        "run",
        *target_args(server),
        *FAST,
        "--daily-budget",
        "300",
        report_dir=tmp_path / "b",
        env=state,
    )
    assert _left(second.stdout) == (300 - spent, 300)
    # Not enough left for the whole plan: the run stops where the day ran out, and what
    # it had not judged by then is not checked (exit 3), never passed.
    assert second.exit_code == 3, second.tail()
    assert "daily budget of 300 requests for this target spent" in second.stdout
    assert second.result is not None
    assert int(second.result["request_count"]) <= 300 - spent + 1  # authorize, before any take


def test_a_daily_budget_below_one_is_one_line_and_exit_2(warm_cli: WarmCli) -> None:
    run = warm_cli("run", "--daily-budget", "0")
    assert run.exit_code == 2
    assert "--daily-budget must be at least 1" in run.stderr
