"""Scenarios that share no customer, run at the same time within `--concurrency`.

pytest runs one test at a time, so against a remote target a run's time is the sum of
every round trip and every settle wait. Each scenario has customers of its own (its
`IdFactory`), so nothing one does can change what another judges: they may overlap.

How, while pytest keeps its order, reports and recorder: the run's tests are cut into
*segments*, runs of consecutive tests that may overlap (`may_overlap`). When pytest sets
up the first test of a segment, the whole segment starts on a pool of threads, each test
with its own storefront and evidence, built as the `storefront` fixture builds them.
pytest then goes through the tests in order; each test's fixture hands over the
storefront its run uses, and its call (`SuiteSession.pytest_pyfunc_call`) waits for that
run and raises what it raised. A test that may not overlap runs alone, in pytest's own
thread, once the segment before it has ended. No test reads what other tests change:
a customer's transactions are found in the brand's listing, which the contract does not
page, so others' writes never move them out of it (docs/decisions.md).

Inside a scenario, requests that need nothing of each other's answers (a sweep of
refusals: `Storefront.calls_at_once`) are sent at the same time on a second pool, at
most `--concurrency` of them in flight in the whole run.

The limit is on scenarios, not requests: a scenario's own burst (REV-6's concurrent
reverses) is never queued behind the limit, or it would no longer race. It drops to one
at once when the target answers 429 or its X-RateLimit-Remaining runs low
(`RequestBudget.pressure`), for the rest of the run; scenarios already running finish.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.suite.connection import Connection
from masivo_conformance.suite.recorder import ends_the_run
from masivo_conformance.suite.storefront import (
    Answered,
    Attempt,
    IdFactory,
    Lanes,
    Storefront,
    one_by_one,
)

__all__ = [
    "ConcurrencyLimit",
    "ScenarioPool",
    "ScenarioRun",
    "Sweeper",
    "may_overlap",
]

# What a test that overlaps may ask for: its storefront, where it points, its parameters.
# These fixtures send no request and keep no state of the test's own.
_OVERLAPPING_ARGS = frozenset({"storefront", "masivo_target", "masivo_settings"})


def may_overlap(item: pytest.Item, *, writes_allowed: bool) -> bool:
    """Whether `item` may run at the same time as others: a plain test (no Hypothesis,
    which is not thread-safe), asking only for `_OVERLAPPING_ARGS` and its parameters,
    neither skipped nor a writing test where writes are refused."""
    if not isinstance(item, pytest.Function) or getattr(item.obj, "is_hypothesis_test", False):
        return False
    if any(item.get_closest_marker(name) for name in ("skip", "skipif", "xfail")):
        return False
    if item.get_closest_marker("writes") is not None and not writes_allowed:
        return False
    params = set(item.callspec.params) if hasattr(item, "callspec") else set()
    args = set(inspect.signature(item.obj).parameters)
    return "storefront" in args and args <= _OVERLAPPING_ARGS | params


@dataclass
class ConcurrencyLimit:
    """How many scenarios may run at once: `--concurrency`, lowered to one for the rest
    of the run the first time the target pushes back (thread-safe)."""

    asked: int
    current: int = 0
    lowered: str = ""  # why, once lowered
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _running: int = 0

    def __post_init__(self) -> None:
        self.current = self.current or self.asked

    def lower(self, why: str) -> None:
        with self._changed:
            if self.current > 1:
                self.current, self.lowered = 1, why

    def enter(self, stopped: Callable[[], bool]) -> bool:
        """Wait for a free place; False when the run stopped meanwhile."""
        with self._changed:
            while self._running >= self.current and not stopped():
                self._changed.wait(0.05)
            if stopped():
                return False
            self._running += 1
            return True

    def leave(self) -> None:
        with self._changed:
            self._running -= 1
            self._changed.notify_all()

    @property
    def note(self) -> str:
        if not self.lowered:
            return ""
        return f"concurrency: lowered from {self.asked} to 1 scenario at a time ({self.lowered})"


class Sweeper:
    """Sends a sweep's requests (`Storefront.calls_at_once`) at the same time, at most
    the limit of them in flight through this sweeper; one by one once the limit is one
    (the target pushed back)."""

    def __init__(self, limit: ConcurrencyLimit) -> None:
        self._limit = limit
        self._pool = (
            ThreadPoolExecutor(limit.asked, thread_name_prefix="masivo-sweep")
            if limit.asked > 1
            else None
        )

    def __call__(self, jobs: Sequence[Attempt], lanes: Lanes = ()) -> list[Answered | Exception]:
        """The outcomes of `jobs` in their order, up to the first a lane did not reach
        (after one of its requests failed, which comes before it)."""
        lanes = lanes or [[n] for n in range(len(jobs))]
        if self._pool is None or self._limit.current == 1 or len(lanes) < 2:
            return one_by_one(jobs)
        outcomes: list[Answered | Exception | None] = [None] * len(jobs)

        def send(lane: Sequence[int]) -> None:
            for n in lane:
                outcomes[n] = jobs[n]()
                if isinstance(outcomes[n], Exception):
                    return

        list(self._pool.map(send, lanes))
        reached = outcomes.index(None) if None in outcomes else len(outcomes)
        return [o for o in outcomes[:reached] if o is not None]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


@dataclass
class ScenarioRun:
    """One test run by the pool: the storefront it used and how it ended."""

    storefront: Storefront
    outcome: Future[None] = field(default_factory=Future)

    @property
    def requests(self) -> int:
        return self.storefront.sent


class ScenarioPool:
    """The run's overlapping tests (see the module's docstring); one per session."""

    def __init__(
        self,
        connection: Connection,
        salt: str,
        items: list[pytest.Item],
        limit: ConcurrencyLimit,
        *,
        stopped: Callable[[], bool],
    ) -> None:
        self._connection = connection
        self._salt = salt
        self._limit = limit
        self._stopped = stopped
        self._closed = False
        self._halted = False  # a test ended the run (recorder.ends_the_run)
        self._segment_of: dict[str, list[pytest.Item]] = {}
        self._runs: dict[str, ScenarioRun] = {}
        self._threads: list[threading.Thread] = []
        # A sweep's requests (`Storefront.calls_at_once`), from every scenario: at most
        # `asked` of them in flight in the whole run, beside the scenarios' own.
        self.sweep = Sweeper(limit)
        if limit.asked > 1:
            self._cut(items, connection.writes_allowed)

    def _cut(self, items: list[pytest.Item], writes_allowed: bool) -> None:
        segment: list[pytest.Item] = []
        for item in [*items, None]:
            if item is not None and may_overlap(item, writes_allowed=writes_allowed):
                segment.append(item)
                self._segment_of[item.nodeid] = segment
                continue
            if len(segment) == 1:  # nothing to overlap with: pytest runs it as usual
                del self._segment_of[segment[0].nodeid]
            segment = []

    def run_of(self, item: pytest.Item) -> ScenarioRun | None:
        """The pool's run of `item` (its segment started now if it was not yet), or None
        when pytest runs `item` itself."""
        segment = self._segment_of.get(item.nodeid)
        if segment is None or self._closed:
            return None
        if item.nodeid not in self._runs:
            self._start(segment)
        return self._runs.get(item.nodeid)

    def _start(self, segment: list[pytest.Item]) -> None:
        queue = [item for item in segment if item.nodeid not in self._runs]
        for item in queue:
            storefront = self._connection.storefront(
                IdFactory.for_test(self._salt, item.nodeid), evidence=Evidence()
            )
            storefront.sweep = self.sweep
            self._runs[item.nodeid] = ScenarioRun(storefront)
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    item = queue.pop(0)
                self._run(item, self._runs[item.nodeid])

        for _ in range(min(self._limit.asked, len(queue))):
            thread = threading.Thread(target=work, name="masivo-scenario", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, item: pytest.Item, run: ScenarioRun) -> None:
        if not self._limit.enter(lambda: self._closed or self._halted or self._stopped()):
            run.outcome.set_exception(_NotRun("the run stopped before this test started"))
            return
        try:
            assert isinstance(item, pytest.Function)
            run.outcome.set_result(item.obj(**self._arguments(item, run.storefront)))
        except BaseException as exc:  # skip, fail and exit too: raised again in its own call
            # What stops the run stops the pool at once: the others queued would meet the
            # same refusal, outage or empty budget before pytest reaches this test.
            self._halted = self._halted or ends_the_run(exc)
            run.outcome.set_exception(exc)
        finally:
            self._limit.leave()

    def _arguments(self, item: pytest.Function, storefront: Storefront) -> dict[str, object]:
        given: dict[str, object] = {
            "storefront": storefront,
            "masivo_target": self._connection.target,
            "masivo_settings": self._connection.settings,
        }
        params = item.callspec.params if hasattr(item, "callspec") else {}
        names = inspect.signature(item.obj).parameters
        return {name: params[name] if name in params else given[name] for name in names}

    def close(self) -> None:
        """No test starts any more; those running finish (each request is bounded by
        --timeout, each wait by --settle-timeout)."""
        self._closed = True
        for thread in self._threads:
            thread.join()
        self.sweep.close()


class _NotRun(Exception):
    """A test of a segment the run stopped before: pytest never reaches its call."""
