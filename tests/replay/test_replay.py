"""Replay of the committed cassettes, offline: the contract data still agrees with what
the recorded server answered (run on every `make test`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from masivo_conformance.suite.cassette_runs import DEFAULT_CASSETTES, check_cassettes
from tests.suite.cli_runs import run_cli

REPLAY_BUDGET_S = 10  # issue 5: replay of the committed cassettes within 10 s


def test_committed_cassettes_all_load() -> None:
    assert check_cassettes(DEFAULT_CASSETTES) >= 40


@pytest.mark.timeout(60)  # a hang guard; the speed itself is measured in docs/benchmarks.md
def test_replay_of_committed_cassettes_passes_offline(tmp_path: Path) -> None:
    started = time.monotonic()
    run = run_cli("replay", "-q", report_dir=tmp_path)
    elapsed = time.monotonic() - started
    assert run.exit_code == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.result is not None
    statuses = {r["id"]: r["status"] for r in run.result["requirements"]}
    assert statuses
    assert set(statuses.values()) == {"pass"}, statuses
    print(f"replay took {elapsed:.1f} s (budget {REPLAY_BUDGET_S} s)")
