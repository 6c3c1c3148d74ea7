"""The pieces of `run --concurrency` (suite/concurrent_scenarios.py): the limit that drops
to one when the target pushes back, sweeps that keep their order, and a sweep cut short
by the budget judging what was answered before the cut, as one request at a time would."""

from __future__ import annotations

import threading
import time
from functools import partial

import httpx
import pytest

from masivo_conformance.checks.calls import Call
from masivo_conformance.suite.budget import LOW_REMAINING, RequestBudget
from masivo_conformance.suite.client import ApiClient, BudgetSpent
from masivo_conformance.suite.concurrent_scenarios import ConcurrencyLimit, Sweeper
from masivo_conformance.suite.recent import RecentRequests
from masivo_conformance.suite.storefront import Answered, IdFactory, PlannedCall, Storefront

BASE = "http://127.0.0.1:9/api/storefront/v1"


def test_the_limit_drops_to_one_once_and_says_why() -> None:
    limit = ConcurrencyLimit(4)
    assert (limit.current, limit.note) == (4, "")
    limit.lower("POST /behavior/events answered 429")
    limit.lower("X-RateLimit-Remaining fell to 3")  # the first reason stays
    assert limit.current == 1
    assert limit.note == (
        "concurrency: lowered from 4 to 1 scenario at a time (POST /behavior/events answered 429)"
    )


def test_no_more_scenarios_run_than_the_limit() -> None:
    limit = ConcurrencyLimit(2)
    running, most = [0], [0]
    lock = threading.Lock()

    def scenario() -> None:
        assert limit.enter(lambda: False)
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        limit.leave()

    threads = [threading.Thread(target=scenario) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 2


def test_a_stopped_run_starts_no_scenario() -> None:
    limit = ConcurrencyLimit(1)
    assert limit.enter(lambda: False)
    assert not limit.enter(lambda: True)  # the place is taken and the run stopped


def test_the_budget_tells_the_limit_of_a_429_and_of_a_low_remaining() -> None:
    told: list[str] = []
    budget = RequestBudget(pressure=told.append)
    budget.observe_remaining(str(LOW_REMAINING))
    assert told == []
    budget.observe_remaining(str(LOW_REMAINING - 1))
    budget.observe_throttled("GET /rewards")
    assert told == [
        f"X-RateLimit-Remaining fell to {LOW_REMAINING - 1}",
        "GET /rewards answered 429",
    ]


def _call(n: int) -> Answered:
    request = httpx.Request("GET", f"{BASE}/rewards?n={n}")
    now = time.monotonic()
    return Call.from_httpx(httpx.Response(200, json={"data": []}, request=request)), now, now


def test_a_sweep_overlaps_and_keeps_its_order() -> None:
    sweeper = Sweeper(ConcurrencyLimit(4))
    in_flight, most = [0], [0]
    lock = threading.Lock()

    def job(n: int) -> Answered:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.03 if n % 2 else 0.0)  # the odd ones answer last
        with lock:
            in_flight[0] -= 1
        return _call(n)

    try:
        done = sweeper([partial(job, n) for n in range(8)])
    finally:
        sweeper.close()
    assert [c[0].url.rsplit("=", 1)[1] for c in done if isinstance(c, tuple)] == [
        str(n) for n in range(8)
    ]
    assert 1 < most[0] <= 4


def test_a_lane_goes_one_after_another_in_order_while_lanes_overlap() -> None:
    """The requests of one customer (`PlannedCall.lane`) never overlap and go in the
    order given; a lane stops at its first failure, the other lanes go on."""
    sweeper = Sweeper(ConcurrencyLimit(4))
    lock = threading.Lock()
    started: list[int] = []
    in_flight: set[int] = set()
    overlapped: list[tuple[int, int]] = []
    lane_of = {0: 0, 1: 1, 2: 0, 3: 1, 4: 0, 5: 2}

    def job(n: int) -> Answered | Exception:
        with lock:
            started.append(n)
            overlapped.extend((n, m) for m in in_flight)
            in_flight.add(n)
        time.sleep(0.02)
        with lock:
            in_flight.discard(n)
        return BudgetSpent("cut", "raise it") if n == 3 else _call(n)

    try:
        done = sweeper([partial(job, n) for n in range(6)], [[0, 2, 4], [1, 3], [5]])
    finally:
        sweeper.close()
    assert [n for n in started if lane_of[n] == 0] == [0, 2, 4]
    assert not [(a, b) for a, b in overlapped if lane_of[a] == lane_of[b]]
    assert [(a, b) for a, b in overlapped if lane_of[a] != lane_of[b]]  # lanes did overlap
    assert len(done) == 6
    assert isinstance(done[3], BudgetSpent)


def test_a_sweep_goes_one_by_one_once_lowered_and_stops_at_a_failure() -> None:
    limit = ConcurrencyLimit(4)
    limit.lower("a 429")
    sweeper = Sweeper(limit)
    started: list[int] = []

    def job(n: int) -> Answered | Exception:
        started.append(n)
        return BudgetSpent("request budget of 2 spent", "raise it") if n == 2 else _call(n)

    try:
        done = sweeper([partial(job, n) for n in range(5)])
    finally:
        sweeper.close()
    assert started == [0, 1, 2]
    assert isinstance(done[-1], BudgetSpent)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_sweep_cut_by_the_budget_judges_what_was_answered_first(concurrency: int) -> None:
    """One at a time: the three the budget allows are judged, in order, then the cut is
    raised. Overlapping, which three took the budget is the scheduler's: the answers
    before the first cut one are judged, in order, and the cut is raised all the same."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "bad", "details": "x"}, request=request)

    client = ApiClient(
        BASE, token="t", transport=httpx.MockTransport(answer), budget=RequestBudget(limit=3)
    )
    storefront = Storefront(
        client, brand_id="b", ids=IdFactory("unit"), writes_allowed=True, settle_time=0.0
    )
    sweeper = storefront.sweep = Sweeper(ConcurrencyLimit(concurrency))
    judged: list[int] = []

    def judge(n: int, call: Call) -> None:
        judged.append(n)

    planned = [PlannedCall("GET", f"/customers/mc-test-{n}") for n in range(6)]
    try:
        with pytest.raises(BudgetSpent):
            storefront.calls_at_once(planned, judge=judge)
    finally:
        sweeper.close()
    assert storefront.sent == 3
    assert judged == list(range(len(judged)))
    assert storefront.evidence.tallies["GEN-2"].held == len(judged)
    if concurrency == 1:
        assert judged == [0, 1, 2]


def test_the_suspects_of_an_outage_are_each_senders_last_before_it() -> None:
    """Scenarios overlap: the suspects are each sender's last requests up to the last one
    answered (the killer, answered, then the target died) and the first sent after it;
    what was sent later found the target gone, and a probe is no suspect at all."""
    recent = RecentRequests()

    def send(path: str, *, answered: bool) -> None:
        sent = recent.note("GET", path, lambda: path)
        if answered:
            recent.answered(sent)

    def other_sender(paths: list[tuple[str, bool]]) -> None:
        for path, answered in paths:
            send(path, answered=answered)

    for n in range(5):
        send(f"/a{n}", answered=True)
    thread = threading.Thread(target=other_sender, args=([("/b0", True), ("/b1", True)],))
    thread.start()
    thread.join()
    send("/killer", answered=True)
    send("/finder", answered=False)  # the target is gone
    late = threading.Thread(target=other_sender, args=([("/late", False)],))
    late.start()
    late.join()
    named = [s.url for s in recent.last()]
    assert named == ["/finder", "/killer", "/b1", "/b0", "/a4"]
