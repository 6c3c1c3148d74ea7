"""Multi-call judgements (checks/invariants.py), and the one rule against vacuous
evidence: two equal wallets read before any amount moved on the target prove nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from masivo_conformance.checks.evidence import Evidence, Verdict
from masivo_conformance.checks.invariants import (
    NOTHING_AT_STAKE,
    Wallet,
    at_stake,
    moved_by,
    same_transactions,
    same_wallet,
)
from masivo_conformance.suite.storefront import EventLog, IdFactory, Storefront

POINTS = "701d6742-c510-430f-9494-c43068546752"
BASE_URL = "https://app.masivo.invalid/api/storefront/v1"
EVENT = "0b7c2f8e-8d7e-4a55-9a39-5a1f0c3b7e11"


def _recorded(verdict: Verdict, *, run_moved: bool = False) -> tuple[int, int, str]:
    """The verdict as a run's fold counts it, the run having seen an amount move or not."""
    evidence = Evidence()
    evidence.expect(verdict)
    tally = evidence.settled(run_moved).tallies[verdict.requirement]
    return tally.held, tally.violated, tally.unjudged


def test_equal_wallets_read_before_anything_moved_are_no_evidence() -> None:
    """Two empty wallets of a target that never earned: nothing could have shown a
    break, so the comparison is "not checked" with the reason, never a pass."""
    verdict = same_wallet(Wallet(moved=False), Wallet(moved=False), "FUL-4", "after a fulfil")
    assert verdict.held
    assert not verdict.judged
    assert verdict.staked
    assert _recorded(verdict) == (0, 0, NOTHING_AT_STAKE)


def test_equal_wallets_read_early_count_once_the_run_saw_an_amount_move() -> None:
    """Read before any amount moved, but the run saw one move later (another scenario,
    which may have run at the same time): evidence, whichever came first."""
    verdict = same_wallet(Wallet(moved=False), Wallet(moved=False), "FUL-4", "after a fulfil")
    assert _recorded(verdict, run_moved=True) == (1, 0, "")
    ledgers = same_transactions([], [], "PRV-2", "x", stake=False)
    assert _recorded(ledgers, run_moved=True) == (1, 0, "")
    # Across a process (xdist, a shard's result.json) the stake is carried, not decided.
    evidence = Evidence()
    evidence.expect(verdict)
    again = Evidence.from_dict(evidence.to_dict())
    assert again.tallies["FUL-4"].staked == 1
    assert Evidence.combined([again, again]).settled(True).tallies["FUL-4"].held == 2


def test_equal_zero_totals_read_before_anything_moved_are_no_evidence() -> None:
    before = Wallet({POINTS: 0.0}, moved=False)
    after = Wallet({POINTS: 1e-9}, moved=False)
    assert _recorded(same_wallet(before, after, "REV-4", "after a second reverse")) == (
        0,
        0,
        NOTHING_AT_STAKE,
    )


def test_an_expectation_says_nothing_of_what_moved_on_the_target() -> None:
    """A model's expected wallet (a plain mapping) against a wallet read before anything
    moved: the read decides, and nothing could have moved."""
    read = Wallet({POINTS: 0.0}, moved=False)
    assert not at_stake({POINTS: 0.0}, read)
    verdict = same_wallet({}, read, "REV-2", "after a reverse (its own effect undone)")
    assert _recorded(verdict) == (0, 0, NOTHING_AT_STAKE)


def test_equal_ledgers_with_nothing_at_stake_are_no_evidence() -> None:
    ledger = [{"id": "t1", "type": "ACCUMULATION", "amount": 5}]
    assert _recorded(same_transactions([], [], "PRV-2", "x", stake=False)) == (
        0,
        0,
        NOTHING_AT_STAKE,
    )
    assert _recorded(same_transactions(ledger, ledger, "PRV-2", "x")) == (1, 0, "")
    added = same_transactions([], ledger, "PRV-2", "after a preview", stake=False)
    assert _recorded(added)[:2] == (0, 1)


def test_a_change_is_a_violation_whatever_was_at_stake() -> None:
    """A change is the break itself: it counts even when nothing was seen to move."""
    verdict = same_wallet(
        Wallet(moved=False), Wallet({POINTS: 120.0}, moved=False), "EMIT-2", "refused emits"
    )
    assert verdict.judged
    assert not verdict.held
    assert _recorded(verdict)[:2] == (0, 1)
    assert f"{POINTS}: 0.0 -> 120.0" in str(verdict.violation)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (Wallet(moved=True), Wallet(moved=True)),  # both read once amounts had moved
        (Wallet(moved=False), Wallet(moved=True)),  # one of them is enough
        (Wallet({POINTS: 0.0}, moved=True), Wallet(moved=True)),  # undone to 0: it moved
        ({}, {}),  # made by hand: taken at its word
        (Wallet(moved=True), {POINTS: 0.0}),  # against an expectation
    ],
    ids=["both-moved", "one-moved", "undone-to-zero", "plain-dicts", "expected"],
)
def test_equal_wallets_are_evidence_once_an_amount_could_move(
    before: dict[str, float], after: dict[str, float]
) -> None:
    assert at_stake(before, after)
    assert _recorded(same_wallet(before, after, "REV-4", "after a second reverse")) == (1, 0, "")


def test_a_moot_verdict_does_not_hide_a_held_one() -> None:
    """The wallet half of a rule unjudged, its status half held: the rule passes on the
    status alone (one held), and the reason stays recorded."""
    evidence = Evidence()
    assert evidence.expect(Verdict("FUL-4"))
    assert evidence.expect(same_wallet(Wallet(moved=False), Wallet(moved=False), "FUL-4", "x"))
    tally = evidence.settled(False).tallies["FUL-4"]
    assert (tally.held, tally.violated, tally.unjudged) == (1, 0, NOTHING_AT_STAKE)


def test_a_wallet_is_its_totals() -> None:
    wallet = Wallet({POINTS: 5.0}, moved=False)
    assert wallet == {POINTS: 5.0}
    assert Wallet() == {}
    assert Wallet().moved


def test_moved_by_holds_on_exactly_the_delta() -> None:
    before = {POINTS: 100.0, "other": 3.0}
    after = {POINTS: 110.0, "other": 3.0}
    assert moved_by(before, after, {POINTS: 10.0}, "EMIT-5", "x").held
    assert moved_by({}, {POINTS: -15.0}, {POINTS: -15.0}, "EMIT-5", "x").held


@pytest.mark.parametrize(
    ("after", "delta", "shown"),
    [
        ({POINTS: 125.0}, {POINTS: 10.0}, "moved by +25 where +10 was due"),  # not debited
        ({POINTS: 95.0}, {POINTS: 10.0}, "moved by -5 where +10 was due"),  # debited twice
        ({POINTS: 110.0, "x": 1.0}, {POINTS: 10.0}, "x: 0 -> 1, moved by +1 where +0"),
    ],
    ids=["ignored", "twice", "another-reward"],
)
def test_moved_by_names_each_total_that_moved_otherwise(
    after: dict[str, float], delta: dict[str, float], shown: str
) -> None:
    verdict = moved_by({POINTS: 100.0}, after, delta, "EMIT-5", "redeeming 15", note=" (n)")
    assert not verdict.held
    message = str(verdict.violation)
    assert message.startswith("[EMIT-5] redeeming 15: ")
    assert shown in message
    assert message.endswith(" (n)")


class Target:
    """What a Storefront asks of its client, answered from a fixed wallet and ledger."""

    def __init__(self, total: float = 0.0, listed: int = 0) -> None:
        self.total = total
        self.listed = listed

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, **_: Any
    ) -> httpx.Response:
        body: Any
        if path.startswith("/customers/"):
            totals = [{"total": self.total, "reward_id": POINTS}]
            body = {"customer": {"id": path.rsplit("/", 1)[1]}, "wallet": {"totals": totals}}
        else:
            assert path == "/transactions"
            body = [
                {"id": str(n), "event_id": EVENT, "type": "ACCUMULATION"}
                for n in range(self.listed)
            ]
        request = httpx.Request(method, httpx.URL(BASE_URL + path, params=params))
        return httpx.Response(200, json={"data": body}, request=request)


def _storefront(target: Target, events: EventLog) -> Storefront:
    return Storefront(
        target,  # type: ignore[arg-type]
        brand_id="b",
        ids=IdFactory("unit"),
        writes_allowed=False,
        settle_time=0.0,
        events=events,
    )


def test_a_storefront_wallet_knows_whether_amounts_have_moved_in_the_run() -> None:
    """Wallets of a target that never moved an amount prove nothing when equal (a total
    above 0 from the start, a sign-up bonus, is no move); once a customer's wallet read
    differs from its read before, every wallet read after it does (the events log is
    the run's, shared by every test's storefront)."""
    run = EventLog()
    target = Target(total=50.0)
    first = _storefront(target, run)
    before, after = first.wallet("mc-test-1"), first.wallet("mc-test-1")
    assert not at_stake(before)
    assert not at_stake(after)
    assert not first.amounts_moved
    assert not same_wallet(before, after, "FUL-4", "x").judged
    assert not at_stake(first.wallet("mc-test-2"))  # another customer's first read
    target.total = 120.0
    assert at_stake(first.wallet("mc-test-2"))
    target.total = 0.0
    later = _storefront(target, run).wallet("mc-test-3")
    assert isinstance(later, Wallet)
    assert at_stake(later)
    assert same_wallet(later, later, "FUL-4", "x").judged


def test_listed_transactions_show_that_amounts_move() -> None:
    run = EventLog()
    sf = _storefront(Target(listed=0), run)
    assert sf.transactions(EVENT) == []
    assert not sf.amounts_moved
    sf = _storefront(Target(listed=2), run)
    assert len(sf.transactions(EVENT)) == 2
    assert sf.amounts_moved
    assert at_stake(sf.wallet("mc-test-1"))
