"""The run's limits on requests: how many (--max-requests), until when (--max-time), and
how long a 429's Retry-After may hold one up. Shared by the suite's client and by
schemathesis's requests (fuzzing.call), so that both stop the same way.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from masivo_conformance.errors import MasivoError

if TYPE_CHECKING:
    from masivo_conformance.suite.shared_budget import SharedCounter

__all__ = [
    "LOW_REMAINING",
    "MAX_429_RETRIES",
    "MAX_RETRY_AFTER_S",
    "BudgetSpent",
    "RateLimited",
    "RequestBudget",
    "retry_after",
]

# A 429 is retried this often, each after its Retry-After; a wait longer than the cap is
# not waited at all (see RequestBudget.wait_to_retry): a run must never take hours.
MAX_429_RETRIES = 3
MAX_RETRY_AFTER_S = 30.0
# X-RateLimit-Remaining below this is low: the run says so in its report, and scenarios
# stop overlapping (suite/concurrent_scenarios.py).
LOW_REMAINING = 100
DEFAULT_TIMEOUT_S = 10.0


class BudgetSpent(MasivoError):
    """The run's request budget (--max-requests or --max-time) is spent; the rest is not
    run, and what it would have judged is "not checked"."""


class RateLimited(BudgetSpent):
    """The target asks for a longer wait than the suite gives a 429: the run stops as if
    its budget were spent (inconclusive, with its reports), instead of waiting hours."""


@dataclass
class RequestBudget:
    """Counts requests of one process and refuses one past the limit (thread-safe)."""

    limit: int | None = None
    spent: int = 0
    lowest_remaining: int | None = None  # lowest X-RateLimit-Remaining seen
    # --max-time: no request starts after `deadline` (time.monotonic()), none reads past
    # it, and no 429 is waited out past it; a slow target ends the run with what was
    # judged by then instead of running on for hours.
    max_time: float | None = None
    deadline: float | None = None
    # --timeout: seconds one request may take, its whole answer included. The suite's
    # client is given the same value; schemathesis's requests (fuzzing.call) read it here.
    timeout: float = DEFAULT_TIMEOUT_S
    # On a terminal, a line now and then: a long fuzz test prints no dot for minutes.
    progress: Callable[[int], None] | None = field(default=None, repr=False)
    by_operation: Counter[str] = field(default_factory=Counter)  # for the report's chart
    # Shared with the other processes that talk to the target (suite/shared_budget.py):
    # the run's --max-requests across its xdist workers, and --daily-budget across runs.
    shared: SharedCounter | None = field(default=None, repr=False)
    shared_limit: int | None = None  # --max-requests of the whole run, counted there
    daily_limit: int | None = None
    # Told once why the target pushes back (a 429, or X-RateLimit-Remaining below
    # LOW_REMAINING): the run's concurrency drops (concurrent_scenarios.ConcurrencyLimit).
    pressure: Callable[[str], None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self, operation: str = "other") -> None:
        with self._lock:
            if self.limit is not None and self.spent >= self.limit:
                raise BudgetSpent(
                    f"request budget of {self.limit} spent", "raise --max-requests to run the rest"
                )
            if self.past_deadline():
                raise self.out_of_time()
            if self.shared is not None:
                self.shared.take(run_limit=self.shared_limit, day_limit=self.daily_limit)
            self.spent += 1
            self.by_operation[operation] += 1
            spent = self.spent
        if self.progress is not None:
            self.progress(spent)

    def room(self) -> int | None:
        """Requests this process may still send under --max-requests and --daily-budget
        (None: no count caps it)."""
        caps = []
        if self.limit is not None:
            caps.append(self.limit - self.spent)
        if self.shared is not None and self.daily_limit is not None:
            caps.append(self.daily_limit - self.shared.spent_today())
        if self.shared is not None and self.shared_limit is not None:
            caps.append(self.shared_limit - self.spent)  # a lower bound of the run's own
        return min(caps) if caps else None

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def out_of_time(self) -> BudgetSpent:
        return BudgetSpent(
            f"--max-time of {self.max_time or 0:g} s reached", "raise --max-time to run the rest"
        )

    def read_timeout(self, timeout: float) -> float:
        """The socket timeout of a request starting now: `timeout`, or less when the run's
        deadline comes sooner (a read then fails at the deadline, see `out_of_time`)."""
        if self.deadline is None:
            return timeout
        return max(min(timeout, self.deadline - time.monotonic()), 0.001)

    def observe_remaining(self, value: str | None) -> None:
        value = (value or "").strip()
        # ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
        if not (value.isascii() and value.isdigit()):
            return
        with self._lock:
            remaining = int(value)
            if self.lowest_remaining is None or remaining < self.lowest_remaining:
                self.lowest_remaining = remaining
        if remaining < LOW_REMAINING and self.pressure is not None:
            self.pressure(f"X-RateLimit-Remaining fell to {remaining}")

    def observe_throttled(self, where: str) -> None:
        """The target answered 429 to `where`."""
        if self.pressure is not None:
            self.pressure(f"{where} answered 429")

    def wait_to_retry(self, header: str | None, where: str) -> None:
        """Wait out a 429 as its Retry-After asks, or stop the run: a wait above
        MAX_RETRY_AFTER_S is `RateLimited`, one that would end past the deadline is the
        --max-time's end, now rather than after sleeping."""
        seconds = retry_after(header)
        if seconds > MAX_RETRY_AFTER_S:
            raise RateLimited(
                f"{where} was rate limited: the target asks to wait {seconds:.0f} s "
                f"(Retry-After), more than the {MAX_RETRY_AFTER_S:g} s the suite waits",
                "run again once the target's rate limit has reset",
            )
        if self.deadline is not None and time.monotonic() + seconds > self.deadline:
            raise self.out_of_time()
        time.sleep(seconds)


def retry_after(value: str | None) -> float:
    """Seconds a 429's Retry-After asks to wait: a number of seconds or an HTTP date.

    Anything else (nan, inf, a negative number, text) is read as 1 s, as is a missing
    header; a date in the past is 0. The result is finite and never negative.
    """
    text = (value or "").strip()
    try:
        seconds = float(text)
    except ValueError:
        return _until(text)
    return seconds if math.isfinite(seconds) and seconds >= 0 else 1.0


def _until(date: str) -> float:
    """Seconds until an HTTP date (RFC 9110 Retry-After), 1 s when it is none."""
    try:
        when = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return 1.0
    if when.tzinfo is None:  # "-0000": a time in UTC from a source that does not know
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
