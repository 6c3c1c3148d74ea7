"""Issue 20, item 2: one request count for every process that talks to a target: a run's
--max-requests across its xdist workers, and --daily-budget across runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from masivo_conformance.suite.budget import BudgetSpent, RequestBudget
from masivo_conformance.suite.shared_budget import SharedCounter

TARGET = "https://dev.example/api/storefront/v1"

# One process taking requests as fast as it can until the store says no: how many it got.
_TAKER = """
import sys, time
from pathlib import Path
from masivo_conformance.suite.budget import BudgetSpent
from masivo_conformance.suite.shared_budget import SharedCounter
counter = SharedCounter(sys.argv[1], sys.argv[2], folder=Path(sys.argv[3]))
while not (Path(sys.argv[3]) / "go").exists():  # all start at once
    time.sleep(0.01)
taken = 0
try:
    for _ in range(1000):
        counter.take(run_limit=int(sys.argv[4]), day_limit=None)
        taken += 1
except BudgetSpent:
    pass
print(taken)
"""


def _takers(folder: Path, run: str, limit: int, processes: int) -> list[int]:
    started = [
        subprocess.Popen(
            [sys.executable, "-c", _TAKER, TARGET, run, str(folder), str(limit)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    SharedCounter(TARGET, "set-up", folder=folder)  # the database exists before they race
    (folder / "go").touch()
    return [int(p.communicate(timeout=60)[0]) for p in started]


def test_processes_of_one_run_share_its_request_budget(tmp_path: Path) -> None:
    """Three workers of one run, each trying 1,000 requests, 2,000 in all: 2,000 are
    taken, never more (each take is one write transaction holding the database lock),
    and by more than one process (one can take 1,000 at most)."""
    taken = _takers(tmp_path, "run-1", 2000, 3)
    assert sum(taken) == 2000, taken


def test_a_daily_budget_holds_across_runs_of_one_target(tmp_path: Path) -> None:
    first = SharedCounter(TARGET, "run-1", folder=tmp_path)
    second = SharedCounter(TARGET, "run-2", folder=tmp_path)
    other = SharedCounter("https://other.example/api", "run-3", folder=tmp_path)
    for _ in range(3):
        first.take(run_limit=None, day_limit=5)
    for _ in range(2):
        second.take(run_limit=None, day_limit=5)
    with pytest.raises(BudgetSpent, match="daily budget of 5"):
        second.take(run_limit=None, day_limit=5)
    other.take(run_limit=None, day_limit=5)  # another target has its own day
    assert (first.spent_today(), other.spent_today()) == (5, 1)


def test_the_request_budget_stops_at_the_shared_count(tmp_path: Path) -> None:
    """A worker's own count is not the limit: the run's shared one is."""
    shared = SharedCounter(TARGET, "run-1", folder=tmp_path)
    budget = RequestBudget(shared=shared, shared_limit=2)
    SharedCounter(TARGET, "run-1", folder=tmp_path).take(run_limit=2, day_limit=None)
    budget.take()  # the run's second request
    with pytest.raises(BudgetSpent, match="request budget of 2 spent"):
        budget.take()
    assert budget.spent == 1
