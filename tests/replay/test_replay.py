"""Replay of the committed cassettes, offline: the contract data still agrees with what
the recorded server answered (run on every `make test`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from masivo_conformance.suite.cassette_runs import NEEDS_LIVE_AUTHORIZE, check_cassettes
from tests.cli.cli_runs import run_cli

REPLAY_BUDGET_S = 10  # issue 5: replay of the committed cassettes within 10 s
COMMITTED = Path(__file__).resolve().parents[2] / "cassettes"
# Replay holds no API key: the rules that need one are shown as not checked, outside the
# exit code (docs/decisions.md, "What replay cannot judge").
NEEDS_A_KEY = set(NEEDS_LIVE_AUTHORIZE)


def test_committed_cassettes_all_load() -> None:
    assert check_cassettes(COMMITTED) >= 40


@pytest.mark.timeout(60)  # a hang guard; the speed itself is measured in docs/benchmarks.md
def test_replay_of_committed_cassettes_passes_offline(tmp_path: Path) -> None:
    started = time.monotonic()
    run = run_cli("replay", "-q", "--cassettes", str(COMMITTED), report_dir=tmp_path)
    elapsed = time.monotonic() - started
    assert run.exit_code == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.result is not None
    statuses = {r["id"]: r["status"] for r in run.result["requirements"]}
    assert len(statuses) == 32
    assert {i for i, s in statuses.items() if s != "pass"} == NEEDS_A_KEY, statuses
    reasons = {r["id"]: r["reason"] for r in run.result["requirements"]}
    assert all(reasons[i].startswith("not checked on replay: ") for i in NEEDS_A_KEY), reasons
    # True of replay: it was given no target and no token, it has no live authorize.
    assert all("no live authorize" in reasons[i] for i in NEEDS_A_KEY), reasons
    assert "token only" not in run.stdout
    print(f"replay took {elapsed:.1f} s (budget {REPLAY_BUDGET_S} s)")
