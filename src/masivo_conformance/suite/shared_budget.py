"""A request count shared by every process that talks to one target: the pytest-xdist
workers of one run (its --max-requests) and the runs on one machine (a team's CI jobs
against one DEV account: --daily-budget, per UTC day).

A small SQLite file in the state directory (MASIVO_STATE_DIR, else
`$XDG_STATE_HOME/masivo-conformance`, `~/.local/state/...`), one row per target and
scope: `run:<id>` for one run, `day:<YYYY-MM-DD>` for a UTC day. Each request takes one
from both in a write transaction that holds the database lock (`BEGIN IMMEDIATE`), so
two processes never both take the last one. pytest-xdist-rate-limit was judged and not
used: it shares a rate between one run's workers only, not a count between runs.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from masivo_conformance.suite.budget import BudgetSpent

__all__ = ["SharedCounter", "state_dir", "today"]

_BUSY_TIMEOUT_S = 30.0  # another process holds the lock for one statement at most


def state_dir() -> Path:
    explicit = os.environ.get("MASIVO_STATE_DIR")
    if explicit:
        return Path(explicit)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "masivo-conformance"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def _target_key(base_url: str) -> str:
    # The URL itself never goes to disk: a hash names it.
    return hashlib.sha256(base_url.encode()).hexdigest()[:16]


class SharedCounter:
    """Requests taken for one target, by run and by UTC day, across processes."""

    def __init__(self, base_url: str, run: str, *, folder: Path | None = None) -> None:
        folder = folder or state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "budget.sqlite3"
        self.target, self.run = _target_key(base_url), run
        self._lock = threading.Lock()  # one connection per process, shared by its threads
        self._db = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        # Write-ahead log, no sync per commit: a request costs a fraction of a
        # millisecond here, and a count that loses its last takes in a power cut is
        # still a count (the target's own rate limit is the hard one).
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spent ("
            "target TEXT NOT NULL, scope TEXT NOT NULL, count INTEGER NOT NULL, "
            "PRIMARY KEY (target, scope))"
        )

    def _count(self, scope: str) -> int:
        row = self._db.execute(
            "SELECT count FROM spent WHERE target = ? AND scope = ?", (self.target, scope)
        ).fetchone()
        return int(row[0]) if row else 0

    def _add(self, scope: str) -> None:
        self._db.execute(
            "INSERT INTO spent (target, scope, count) VALUES (?, ?, 1) "
            "ON CONFLICT (target, scope) DO UPDATE SET count = count + 1",
            (self.target, scope),
        )

    def take(self, *, run_limit: int | None, day_limit: int | None) -> None:
        """One request, or BudgetSpent naming the limit it would pass."""
        run_scope, day_scope = f"run:{self.run}", f"day:{today()}"
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if run_limit is not None and self._count(run_scope) >= run_limit:
                    raise BudgetSpent(
                        f"request budget of {run_limit} spent", "raise --max-requests"
                    )
                if day_limit is not None and self._count(day_scope) >= day_limit:
                    raise BudgetSpent(
                        f"daily budget of {day_limit} requests for this target spent "
                        f"(UTC day {today()})",
                        "run again tomorrow (UTC), or raise --daily-budget",
                    )
                self._add(run_scope)
                self._add(day_scope)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def spent_today(self) -> int:
        with self._lock:
            return self._count(f"day:{today()}")

    def close(self) -> None:
        with self._lock:
            self._db.close()
