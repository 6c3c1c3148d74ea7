"""One deterministic scenario per multi-call MUST requirement (the canonical sequences).

Every judgement is recorded in the test's evidence: `expect` records and goes on (a
broken answer does not hide the rules after it), `insist` records and stops where the
scenario cannot go on. A rule whose situation did not arise (an event that never showed
it settled, a purchase that earned nothing) is said to be unjudged, never passed.

These are also the scenarios `masivo-conformance record` writes to cassettes, so their
requests are reproducible: customer ids come from the run's seed and the test's name.
"""

from __future__ import annotations

import itertools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.checks.invariants import (
    NOTHING_AT_STAKE,
    WALLET_TOLERANCE,
    is_2xx,
    is_4xx,
    moved_by,
    same_transactions,
    same_wallet,
    status_in,
)
from masivo_conformance.checks.values import same_enum, timestamp
from masivo_conformance.suite.payloads import (
    REDEEM_LEVELS,
    preview_request,
    purchase,
    redeeming_purchase,
)
from masivo_conformance.suite.storefront import Settlement, Storefront

pytestmark = pytest.mark.writes

CONCURRENT_REVERSALS = 8
SAME_PURCHASES = (
    3  # EMIT-4: identical purchases, so one that settles shows what "settled" looks like
)
REDEEM_POINTS = 5

Wallet = dict[str, float]

_NOT_SETTLED = "the event never showed it settled as RESOLVED (no RESOLVED answer, no transaction)"
_NO_STANDBY = "the target did not keep a standby event standby (EMIT-1 and EMIT-4 judge that)"
_NO_EFFECT = "the event changed no wallet total and listed no transaction: nothing to undo"
_NOTHING_TO_REPEAT = (
    "the fulfilled event changed no wallet total and listed no transaction: a second "
    "fulfil has nothing to repeat"
)
_RESERVATION_FAILED = (
    f"the standby purchase redeeming {REDEEM_POINTS} points the customer holds FAILED at "
    "once: no standby event to go on with"
)


def _status_is(call: Call, wanted: str, requirement: str, what: str) -> Verdict:
    status = call.data.get("status") if isinstance(call.data, dict) else None
    return Verdict.of(
        requirement,
        same_enum(status, wanted),
        f"{what}: expected status {wanted!r}, got {status!r}",
        call.reproducer,
    )


def _fulfilled_event(sf: Storefront, value: float) -> tuple[str, str, Wallet, Wallet, Settlement]:
    """(customer, event id, wallet before, wallet after it settled, settlement)."""
    customer = sf.create_customer()
    before = sf.wallet(customer)
    emitted = sf.emit_purchase(customer, value=value)
    settled = sf.settle(emitted)
    after = sf.wallet_after(customer, before) if settled.transactions else sf.wallet(customer)
    return customer, sf.event_id(emitted), before, after, settled


def _had_effect(before: Wallet, after: Wallet, settled: Settlement) -> bool:
    changed = any(abs(after.get(r, 0.0) - before.get(r, 0.0)) > 1e-6 for r in {*before, *after})
    return changed or bool(settled.transactions)


# Standby events that reserve: a fresh customer first earns with one purchase (its points
# are what later purchases redeem), then buys TWIN_VALUE redeeming REDEEM_POINTS.
FIRST_PURCHASE = 40.0
TWIN_VALUE = 150.0


def _changed(before: Wallet, after: Wallet) -> bool:
    """Some wallet total differs (a reward a wallet does not list counts as 0)."""
    return any(
        abs(after.get(r, 0.0) - before.get(r, 0.0)) > WALLET_TOLERANCE for r in {*before, *after}
    )


def _final_status(call: Call) -> str:
    """RESOLVED or FAILED when an answer shows the event settled, else ""."""
    status = call.data.get("status") if isinstance(call.data, dict) else None
    return next((s for s in ("RESOLVED", "FAILED") if same_enum(status, s)), "")


def earned(sf: Storefront, customer: str) -> Wallet:
    """A fresh customer's first purchase, landed: the wallet once it differs from an
    empty one (or after the settle time, when the purchase gave nothing). An answer that
    does not show the event settled is waited on first, so its points are not mistaken
    for an effect of what follows."""
    emitted = sf.emit_purchase(customer, value=FIRST_PURCHASE)
    if not _final_status(emitted):
        sf.settle(emitted)
    return sf.wallet_after(customer, {})


def _redeeming(reward_id: str, wallet: Wallet) -> list[dict[str, Any]] | None:
    """The redeem of REDEEM_POINTS of `reward_id`, when the wallet holds that many."""
    if wallet.get(reward_id, 0.0) >= REDEEM_POINTS:
        return [{"id": reward_id, "amount": REDEEM_POINTS}]
    return None


@pytest.mark.requirement("REV-1", "REV-2")
def test_reversing_a_fulfilled_purchase_restores_the_wallet(storefront: Storefront) -> None:
    sf, ev = storefront, storefront.evidence
    customer, event_id, before, after, settled = _fulfilled_event(sf, 120.0)
    if not settled.known or settled.status == "FAILED":
        ev.unjudged("REV-1", _NOT_SETTLED)
        ev.unjudged("REV-2", _NOT_SETTLED)
        return
    reversed_ = sf.reverse(event_id)  # reversed_at is judged by the single-call check
    ev.insist(is_2xx(reversed_, "REV-1", "reverse of a fulfilled, settled event"))
    ev.expect(_status_is(reversed_, "REVERSED", "REV-1", "reverse of a fulfilled, settled event"))
    if not _had_effect(before, after, settled):
        ev.unjudged("REV-2", _NO_EFFECT)
        return
    restored = sf.wallet_back_to(customer, before)
    ev.expect(same_wallet(before, restored, "REV-2", "after reversing", reversed_.reproducer))
    if settled.transactions and not any(t.get("type") for t in settled.transactions):
        ev.unjudged(
            "REV-2", "the event's transactions carry no type (GEN-4's): no REVERSAL to find"
        )
    elif settled.transactions:
        listed = sf.wait_transactions(event_id, "REVERSAL")
        ev.expect(
            Verdict.of(
                "REV-2",
                any(same_enum(t.get("type"), "REVERSAL") for t in listed),
                f"the event made {len(settled.transactions)} transactions but no REVERSAL "
                "is listed after its reversal",
                reversed_.reproducer,
            )
        )


@pytest.mark.requirement("REV-3")
def test_reversing_a_standby_event_cancels_it_and_releases_reservations(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    sf, ev = storefront, storefront.evidence
    customer = sf.create_customer()
    before = earned(sf, customer)
    redeem = _redeeming(points_reward["id"], before)
    standby = sf.standby(customer, value=30.0, redeem=redeem)
    if standby is None:
        ev.unjudged("REV-3", _NO_STANDBY)
        return
    judge_cancellation(sf, customer, before, standby, rich=redeem is not None)


def judge_cancellation(
    sf: Storefront, customer: str, before: Wallet, standby: Call, *, rich: bool
) -> tuple[Call, Wallet | None] | None:
    """REV-3 on a standby event: its reverse answers 2xx with status CANCELLED and, when
    it redeems points (`rich`), gives back what it reserved: the wallet is `before`
    (the wallet before its emit) again. A release is judged only where a reservation
    showed (the wallet below `before` while the event stood by): a target that reserves
    nothing has nothing to release, and an unchanged wallet proves nothing then. (The
    cancel, the wallet after the release or None when nothing was to be reserved), or
    None when the cancel was refused."""
    ev = sf.evidence
    # The reservation may land a little later; a target may also reserve nothing.
    standing = sf.wallet_after(customer, before) if rich else before
    cancelled = sf.reverse(sf.event_id(standby))  # cancelled_at: the single-call check
    if not ev.expect(is_2xx(cancelled, "REV-3", "reverse of a standby event")):
        return None
    ev.expect(_status_is(cancelled, "CANCELLED", "REV-3", "reverse of a standby event"))
    if not rich:
        ev.unjudged("REV-3", "the customer earned no points to reserve: no release to see")
        return cancelled, None
    released = sf.wallet_back_to(customer, before)
    verdict = same_wallet(
        before,
        released,
        "REV-3",
        "after cancelling a standby event with a reservation",
        cancelled.reproducer,
    )
    if verdict.held and not _changed(before, standing):
        ev.unjudged(
            "REV-3",
            f"the standby emit redeeming {REDEEM_POINTS} points left the wallet as it was "
            "(nothing reserved while it stood by): no release to see",
        )
    else:
        ev.expect(verdict)
    return cancelled, released


def _undone_event(
    sf: Storefront, fulfilled: bool, rule: str, reserving: str | None = None
) -> tuple[str, str] | None:
    """(customer, event id) of a PURCHASE reversed once (fulfilled) or cancelled (standby),
    its effects undone; None (and `rule` unjudged) when that could not be reached. With
    `reserving` (a POINTS reward), a standby purchase is made by a customer who first
    earned, and redeems REDEEM_POINTS of it when it can: its cancel released them."""
    customer = sf.create_customer()
    reserves = reserving is not None and not fulfilled
    before = earned(sf, customer) if reserves else sf.wallet(customer)
    redeem = _redeeming(reserving, before) if reserving is not None and reserves else None
    emitted = (
        sf.emit_purchase(customer, value=60.0)
        if fulfilled
        else sf.standby(customer, value=60.0, redeem=redeem)
    )
    if emitted is None:
        sf.evidence.unjudged(rule, _NO_STANDBY)
        return None
    if redeem and _final_status(emitted) == "FAILED":
        sf.evidence.unjudged(rule, _RESERVATION_FAILED)
        return None
    event_id = sf.event_id(emitted)
    if fulfilled and not sf.settle(emitted).known:
        sf.evidence.unjudged(rule, _NOT_SETTLED)
        return None
    first = sf.reverse(event_id)
    first_rule = "REV-1" if fulfilled else "REV-3"
    if not sf.evidence.expect(is_2xx(first, first_rule, "the first reverse")):
        sf.evidence.unjudged(rule, "the first reverse was refused")
        return None
    sf.wallet_back_to(customer, before)  # the first reverse's own effects land first
    return customer, event_id


@pytest.mark.requirement("REV-4")
@pytest.mark.parametrize("fulfilled", [True, False], ids=["reversed", "cancelled"])
def test_a_second_reverse_is_refused_and_changes_nothing(
    storefront: Storefront, fulfilled: bool
) -> None:
    sf, ev = storefront, storefront.evidence
    undone = _undone_event(sf, fulfilled, "REV-4")
    if undone is None:
        return
    customer, event_id = undone
    after_first = sf.wallet(customer)
    second = sf.reverse(event_id)
    ev.expect(is_4xx(second, "REV-4", "a second reverse of the same event"))
    ev.expect(
        same_wallet(
            after_first, sf.wallet(customer), "REV-4", "after a second reverse", second.reproducer
        )
    )


@pytest.mark.requirement("REV-6")
def test_concurrent_reversals_apply_once(storefront: Storefront) -> None:
    sf = storefront
    customer, event_id, before, after, settled = _fulfilled_event(sf, 90.0)
    if not settled.known:
        sf.evidence.unjudged("REV-6", _NOT_SETTLED)
        return
    judge_concurrent_reversals(sf, customer, event_id, (before, after), settled)


def judge_concurrent_reversals(
    sf: Storefront,
    customer: str,
    event_id: str,
    wallets: tuple[Wallet, Wallet],
    settled: Settlement,
) -> None:
    """REV-6 on a settled event: of concurrent reverses exactly one is accepted, and the
    wallet (before the emit, after it settled) ends undone once."""
    ev, (before, after) = sf.evidence, wallets
    with ThreadPoolExecutor(CONCURRENT_REVERSALS) as pool:
        calls = list(pool.map(lambda _: sf.reverse(event_id), range(CONCURRENT_REVERSALS)))
    accepted = [c for c in calls if 200 <= c.status < 300]
    if len(accepted) > 1 and 200 <= sf.reverse(event_id).status < 300:
        # Even a later, lone reverse is accepted: no race, REV-4's rule (judged there).
        ev.unjudged("REV-6", "the target accepts any repeated reverse (REV-4): no race to see")
        return
    ev.expect(
        Verdict.of(
            "REV-6",
            len(accepted) == 1,
            f"{len(accepted)} of {CONCURRENT_REVERSALS} concurrent reverse calls answered 2xx "
            f"(statuses {sorted(c.status for c in calls)}), expected exactly one",
            calls[0].reproducer,
        )
    )
    if accepted and _had_effect(before, after, settled):
        _judge_undone_once(sf, customer, before, after, calls[0])


def _judge_undone_once(
    sf: Storefront, customer: str, before: Wallet, after: Wallet, call: Call
) -> None:
    """After concurrent reversals the wallet is back to `before`: undone once (REV-6).
    Nothing undone at all is REV-2's (the reversal did not restore); anything else is
    the race's."""
    now = sf.wallet_back_to(customer, before)
    if same_wallet(after, now, "REV-2", "").held:
        sf.evidence.expect(same_wallet(before, now, "REV-2", "after reversing", call.reproducer))
        return
    sf.evidence.expect(
        same_wallet(
            before,
            now,
            "REV-6",
            "after concurrent reversals (the effect undone once)",
            call.reproducer,
        )
    )


@pytest.mark.requirement("FUL-2")
def test_deferred_fulfilment_equals_immediate(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    judge_deferred_equals_immediate(storefront, points_reward["id"])


@dataclass
class Twins:
    """FUL-2's two customers, and how far the deferred one's standby event got."""

    immediate: str
    wallet_i: Wallet  # once its purchase settled
    deferred: str
    wallet_d: Wallet  # what the rules after FUL-2 start from
    event_id: str = ""  # the deferred customer's standby event
    settled_d: Settlement | None = None  # how its fulfil settled (None: not fulfilled)
    effect: bool = False  # the deferred event moved an amount (wallet or ledger)
    stopped: str = ""  # why no standby event could be fulfilled: later rules unjudged


def judge_deferred_equals_immediate(sf: Storefront, reward_id: str) -> Twins:
    """FUL-2 on two fresh customers who first earn alike (`earned`): one buys at once,
    the other buys the same standby (EMIT-4: it stands by) and fulfils it (FUL-1); both
    redeem REDEEM_POINTS of `reward_id` when they hold that many, so the reservation of
    the standby one must end debited exactly once, like the other's redemption. Both
    wallets end equal. Where nothing could show a difference (no amount moved, customers
    not alike, the immediate twin's redemption refused or not applied), FUL-2, or its
    debit part, is not checked, and the reason says which."""
    ev = sf.evidence
    immediate, deferred = sf.create_customer(), sf.create_customer()
    start_i, start_d = earned(sf, immediate), earned(sf, deferred)
    alike = not _changed(start_i, start_d)
    held = min(start_i.get(reward_id, 0.0), start_d.get(reward_id, 0.0))  # by both twins
    emitted_i, settled_i, redeem = _immediate_twin(
        sf, immediate, _redeeming(reward_id, {reward_id: held})
    )
    wallet_i = (
        sf.wallet_after(immediate, start_i) if settled_i.transactions else sf.wallet(immediate)
    )
    twins = Twins(immediate, wallet_i, deferred, start_d)
    no_reference = _no_redemption_listed(sf, emitted_i, settled_i) if redeem else ""
    standby = sf.emit_purchase(deferred, value=TWIN_VALUE, fulfilled=False, redeem=redeem)
    if not stands_by(sf, standby):
        twins.stopped = _NO_STANDBY
    elif redeem and _final_status(standby) == "FAILED":
        twins.stopped = _RESERVATION_FAILED
    if twins.stopped:
        for rule in ("FUL-1", "FUL-2"):
            ev.unjudged(rule, twins.stopped)
        return twins
    twins.event_id = sf.event_id(standby)
    fulfilled = sf.fulfil(twins.event_id)  # same id, fulfilled: the single-call check
    if not ev.expect(status_in(fulfilled, 200, 200, "FUL-1", "fulfil of a standby event")):
        ev.unjudged("FUL-2", "the fulfil of a standby event was refused (FUL-1's)")
        twins.wallet_d = sf.wallet(deferred)
        return twins
    settled_d = twins.settled_d = sf.settle(fulfilled)
    if alike:  # the immediate twin's wallet is the one due
        twins.wallet_d = sf.wallet_back_to(deferred, wallet_i)
    elif settled_d.transactions:
        twins.wallet_d = sf.wallet_after(deferred, start_d)
    else:
        twins.wallet_d = sf.wallet(deferred)
    twins.effect = _had_effect(start_d, twins.wallet_d, settled_d)
    what = "emit-then-fulfil versus emit fulfilled" + (
        f", both redeeming {REDEEM_POINTS} points of reward {reward_id}" if redeem else ""
    )
    why_not = no_reference or _incomparable((start_i, start_d), settled_i, twins)
    if why_not:
        ev.unjudged("FUL-2", why_not)
    else:
        ev.expect(
            same_wallet(
                wallet_i,
                twins.wallet_d,
                "FUL-2",
                f"{what} (left: immediate, right: deferred)",
                fulfilled.reproducer,
            )
        )
    if not redeem:
        ev.unjudged(
            "FUL-2",
            f"the customers held fewer than {REDEEM_POINTS} points of reward {reward_id}, or "
            "the immediate twin's redemption did not go through: no reservation debited on "
            "fulfil to compare",
        )
    return twins


def _incomparable(starts: tuple[Wallet, Wallet], settled_i: Settlement, twins: Twins) -> str:
    """Why FUL-2's wallets prove nothing (customers not alike, an event not known to have
    settled, no amount moved on either path), or "" when they can be compared."""
    start_i, start_d = starts
    settled_d = twins.settled_d
    if _changed(start_i, start_d):
        return (
            "the same first purchase left the two customers different wallets "
            f"({dict(start_i)} and {dict(start_d)}): they are not identical"
        )
    if settled_d is None or not (settled_i.known and settled_d.known):
        return "one of the two events never showed it settled"
    if not (_had_effect(start_i, twins.wallet_i, settled_i) or twins.effect):
        return "neither path changed a wallet: the target gives nothing to compare"
    return ""


def _immediate_twin(
    sf: Storefront, customer: str, redeem: list[dict[str, Any]] | None
) -> tuple[Call, Settlement, list[dict[str, Any]] | None]:
    """FUL-2's immediate twin: a fulfilled purchase redeeming `redeem`, settled, and the
    redeem both twins make. A target may refuse a redeeming emit with 4xx (EMIT-5 allows
    it), or fail it (EMIT-5's to judge): then both twins buy without one (the wallet did
    not move, so the customers are still alike), and FUL-2 says so."""
    if redeem:
        call = sf.emit(purchase(customer, sf.brand_id, value=TWIN_VALUE, redeem=redeem))
        if 200 <= call.status < 300:
            settled = sf.settle(call)
            if settled.status != "FAILED":
                return call, settled, redeem
            why = f"settled FAILED though the customer held the {REDEEM_POINTS} points"
        else:
            why = f"was answered {call.status}"
        sf.evidence.unjudged(
            "FUL-2",
            f"a fulfilled purchase redeeming {REDEEM_POINTS} points {why} (EMIT-5 judges "
            "that): both twins buy without redeeming, so no reservation is debited on fulfil",
        )
    call = sf.emit_purchase(customer, value=TWIN_VALUE)
    return call, sf.settle(call), None


def _no_redemption_listed(sf: Storefront, emitted: Call, settled: Settlement) -> str:
    """Why the immediate twin is no reference for a debit: its typed transactions list no
    REDEMPTION (its redemption was not applied: EMIT-5's rule), or "" when it is one."""
    listed = settled.transactions
    if not any(t.get("type") for t in listed):
        return ""  # nothing listed, or untyped (GEN-4's): the wallets alone are compared
    if not any(same_enum(t.get("type"), "REDEMPTION") for t in listed):
        listed = sf.wait_transactions(sf.event_id(emitted), "REDEMPTION")
    if any(same_enum(t.get("type"), "REDEMPTION") for t in listed):
        return ""
    return (
        f"the immediate twin, redeeming {REDEEM_POINTS} points, listed no REDEMPTION "
        "(EMIT-5 judges its redemptions): it is no reference for the deferred debit"
    )


@pytest.mark.requirement("FUL-1")
def test_fulfilling_a_standby_event_answers_it_fulfilled(storefront: Storefront) -> None:
    sf = storefront
    customer = sf.create_customer()
    standby = sf.standby(customer, value=40.0)
    if standby is None:
        sf.evidence.unjudged("FUL-1", _NO_STANDBY)
        return
    fulfilled = sf.fulfil(sf.event_id(standby))  # same id, fulfilled: the single-call check
    sf.evidence.expect(status_in(fulfilled, 200, 200, "FUL-1", "fulfil of a standby event"))


@pytest.mark.requirement("FUL-4")
@pytest.mark.parametrize("fulfilled", [True, False], ids=["reversed", "cancelled"])
def test_fulfilling_a_reversed_or_cancelled_event_is_refused(
    storefront: Storefront, points_reward: dict[str, Any], fulfilled: bool
) -> None:
    """The cancelled event is a standby purchase that reserved points (its customer first
    earned): a fulfil must not take them again."""
    sf, ev = storefront, storefront.evidence
    undone = _undone_event(sf, fulfilled, "FUL-4", reserving=points_reward["id"])
    if undone is None:
        return
    customer, event_id = undone
    before = sf.wallet(customer)
    refused = sf.fulfil(event_id)
    ev.expect(is_4xx(refused, "FUL-4", "fulfil of a reversed or cancelled event"))
    ev.expect(
        same_wallet(before, sf.wallet(customer), "FUL-4", "after that fulfil", refused.reproducer)
    )


@pytest.mark.requirement("FUL-5")
@pytest.mark.parametrize("path", ["emitted-fulfilled", "fulfilled-later"])
def test_fulfilling_twice_changes_no_wallet(
    storefront: Storefront, points_reward: dict[str, Any], path: str
) -> None:
    """The event fulfilled later is a standby purchase that redeems points (its customer
    first earned): a second fulfil must not debit them again."""
    sf, ev = storefront, storefront.evidence
    customer = sf.create_customer()
    if path == "emitted-fulfilled":
        origin = start = sf.wallet(customer)
        event = sf.emit_purchase(customer, value=80.0)
    else:
        origin = start = earned(sf, customer)
        redeem = _redeeming(points_reward["id"], start)
        standby = sf.standby(customer, value=80.0, redeem=redeem)
        if standby is None or (redeem and _final_status(standby) == "FAILED"):
            ev.unjudged("FUL-5", _NO_STANDBY if standby is None else _RESERVATION_FAILED)
            return
        if redeem:
            start = sf.wallet_after(customer, start)  # the reservation, once it shows
        event = sf.fulfil(sf.event_id(standby))
        ev.insist(status_in(event, 200, 200, "FUL-1", "fulfil of a standby event"))
    settled = sf.settle(event)
    if not settled.known:
        ev.unjudged("FUL-5", _NOT_SETTLED)
        return
    before = sf.wallet_after(customer, start) if settled.transactions else sf.wallet(customer)
    again = sf.fulfil(sf.event_id(event))
    ev.expect(
        Verdict.of(
            "FUL-5",
            again.status == 200 or 400 <= again.status < 500,
            f"a second fulfil answered {again.status}; expected 200 or 4xx",
            again.reproducer,
        )
    )
    if not _had_effect(origin, before, settled):
        ev.unjudged("FUL-5", _NOTHING_TO_REPEAT)
        return
    ev.expect(
        same_wallet(
            before, sf.wallet(customer), "FUL-5", "after fulfilling again", again.reproducer
        )
    )


@pytest.mark.requirement("PRV-2")
def test_previews_change_nothing(storefront: Storefront, points_reward: dict[str, Any]) -> None:
    """Judged on the wallet and on the ledger (the earned event's transactions and every
    transaction naming the customer), compared as sets after the settle time."""
    sf, ev = storefront, storefront.evidence
    customer = sf.create_customer()
    empty = sf.wallet(customer)
    earned = sf.emit_purchase(customer, value=500.0)
    settled = sf.settle(earned)
    wallet = sf.wallet_after(customer, empty) if settled.transactions else sf.wallet(customer)
    event_id = sf.event_id(earned)
    ledger = sf.transactions(event_id) + sf.customer_transactions(customer)
    if not sf.amounts_moved:  # equal ledgers, like equal wallets, would prove nothing
        ev.unjudged("PRV-2", NOTHING_AT_STAKE)
        return
    if not any(wallet.values()) and not ledger:
        ev.unjudged("PRV-2", "the customer had nothing a preview could change (no points)")
        return
    redeem = [{"id": points_reward["id"], "amount": 20}]
    body = preview_request(customer, sf.brand_id, order_redeem=redeem, product_redeem=redeem)
    previews = [sf.preview(body | {"order": {**body["order"]}}) for _ in range(3)]
    for call in previews:
        ev.expect(status_in(call, 200, 200, "PRV-1", "a valid preview"))
    reproducer = previews[-1].reproducer
    ev.expect(
        same_wallet(
            wallet, sf.wallet_at_rest(customer), "PRV-2", "after three previews", reproducer
        )
    )
    after = sf.transactions(event_id) + sf.customer_transactions(customer)
    ev.expect(same_transactions(ledger, after, "PRV-2", "after three previews", reproducer))


@pytest.mark.requirement("EMIT-4")
def test_fulfilled_events_settle(storefront: Storefront) -> None:
    """Identical purchases on fresh customers: once one of them lists its transactions,
    each of the others must too within the settle timeout (an event that makes none is
    settled by the settle time alone, so only a twin that made some can tell)."""
    sf = storefront
    emitted = [sf.emit_purchase(sf.create_customer(), value=25.0) for _ in range(SAME_PURCHASES)]
    judge_identical_purchases(sf, emitted)


def judge_identical_purchases(
    sf: Storefront, emitted: list[Call]
) -> dict[str, list[dict[str, Any]]]:
    """EMIT-4 on identical purchases: each lists its transactions within the settle
    timeout once one of them has. Returns each event's listed transactions by id."""
    ev = sf.evidence
    ids = [sf.event_id(call) for call in emitted]
    found: dict[str, list[dict[str, Any]]] = {event_id: [] for event_id in ids}
    started = time.monotonic()
    for pause in itertools.chain((0.0, 0.05, 0.1, 0.2, 0.4), itertools.repeat(0.8)):
        time.sleep(pause)
        for event_id in ids:
            found[event_id] = found[event_id] or sf.transactions(event_id)
        limit = sf.settle_timeout if any(found.values()) else sf.settle_time
        if all(found.values()) or time.monotonic() - started >= limit:
            break
    for call, event_id in zip(emitted, ids, strict=True):
        status = str(call.data.get("status", ""))
        if same_enum(status, "RESOLVED") or same_enum(status, "FAILED") or found[event_id]:
            ev.held("EMIT-4")
        elif any(found.values()):
            ev.expect(
                Verdict.of(
                    "EMIT-4",
                    False,
                    f"event {event_id} answered {status!r} and listed no transaction within "
                    f"{sf.settle_timeout:g} s, while an identical purchase did: it never settled",
                    call.reproducer,
                )
            )
        else:
            ev.unjudged(
                "EMIT-4", "no purchase made a transaction: settled and unsettled look alike"
            )
    return found


@pytest.mark.requirement("EMIT-4")
def test_standby_events_stand_by(storefront: Storefront) -> None:
    sf = storefront
    stands_by(sf, sf.emit_purchase(sf.create_customer(), value=25.0, fulfilled=False))


def stands_by(sf: Storefront, emitted: Call) -> bool:
    """EMIT-4 on a standby emit's answer: still fulfilled false and not RESOLVED."""
    event = emitted.data
    return sf.evidence.expect(
        Verdict.of(
            "EMIT-4",
            event.get("fulfilled") is False and not same_enum(event.get("status"), "RESOLVED"),
            "a standby event must stay fulfilled false and not RESOLVED; got "
            f"{event.get('fulfilled')!r} / {event.get('status')!r}",
            emitted.reproducer,
        )
    )


@pytest.mark.requirement("EMIT-4")
def test_a_failing_emit_settles_with_resolved_at(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    sf = storefront
    customer = sf.create_customer()
    held = sf.wallet(customer).get(points_reward["id"], 0.0)
    judge_failing_emit(sf, customer, points_reward["id"], held)


FAILING_VALUE = 25.0


def judge_failing_emit(sf: Storefront, customer: str, reward_id: str, held: float) -> None:
    """EMIT-4 on an event made to fail: a fulfilled purchase that redeems more points of
    `reward_id` than the customer holds (`held`). The reference server settles it FAILED
    with resolved_at set (docs/decisions.md, "What makes a FAILED event"); a target may
    refuse it with 4xx or let it through, and then there is no FAILED event to judge.
    A final answer's resolved_at is judged by the single-call check (checks/events.py);
    an answer that is not final yet is looked at again after the settle time, through a
    second fulfil (FUL-5 allows a 200 with the event): no endpoint reads one event."""
    ev = sf.evidence
    amount = math.floor(held + WALLET_TOLERANCE) + REDEEM_POINTS
    what = (
        f"a fulfilled purchase redeeming {amount} points of reward {reward_id} from a "
        f"wallet holding {held:g}"
    )
    redeem = [{"id": reward_id, "amount": amount}]
    call = sf.emit(purchase(customer, sf.brand_id, value=FAILING_VALUE, redeem=redeem))
    if not 200 <= call.status < 300 or not isinstance(call.data, dict):
        ev.unjudged("EMIT-4", f"{what} was answered {call.status}: no FAILED event to judge")
        return
    shown, status = call, _final_status(call)
    if not status:
        time.sleep(sf.settle_time)
        shown = sf.fulfil(sf.event_id(call))
        status = _final_status(shown) if shown.status == 200 else ""
        if not status:
            ev.unjudged(
                "EMIT-4",
                f"{what} answered {call.data.get('status')!r}, and a fulfil of it "
                f"{sf.settle_time:g} s later answered {shown.status}: how it settled was not seen",
            )
            return
    if status == "RESOLVED":
        ev.unjudged("EMIT-4", f"{what} settled RESOLVED: no FAILED event to judge")
    if shown is call:
        return  # resolved_at of an emit's answer: the single-call check judged it
    resolved_at = shown.data.get("resolved_at")
    ev.expect(
        Verdict.of(
            "EMIT-4",
            timestamp(resolved_at) is not None,
            f"{what} settled {status} but resolved_at is {resolved_at!r}",
            shown.reproducer,
        )
    )


# EMIT-5: one amount per level, powers of two (a short debit of the emit that asks them
# all at once tells which levels it left out); asked one level at a time, then all at once.
REDEEM_AT = dict(zip(REDEEM_LEVELS, (1, 2, 4, 8), strict=True))
EVERY_LEVEL_ALONE_THEN_ALL = [*({level: n} for level, n in REDEEM_AT.items()), REDEEM_AT]
EARNING_VALUE = 500.0  # the first purchase: the points redeemed come from it
REDEEMING_VALUE = 25.0  # the purchase without redemption, and every redeeming one


@pytest.mark.requirement("EMIT-5")
def test_fulfilled_emits_redeem_at_every_level(storefront: Storefront) -> None:
    """A customer who has earned points emits a purchase without redemption (what such
    a purchase earns), then the same purchase redeeming a known amount at one level at a
    time, then at every level at once: each is refused with 4xx, or settles with the
    wallet lower by exactly what it asked, net of what the twin earned, and lists a
    REDEMPTION."""
    judge_redemptions_on_emit(storefront, EVERY_LEVEL_ALONE_THEN_ALL)


def judge_redemptions_on_emit(sf: Storefront, steps: list[dict[str, int]]) -> None:
    """EMIT-5 on a fresh customer, one fulfilled emit per step (amount asked by level).
    The rewards listing and a first purchase tell which POINTS reward a purchase earns
    here; where none does, EMIT-5 is not checked."""
    ev = sf.evidence
    points = [
        r["id"] for r in sf.rewards() if r.get("type") == "POINTS" and isinstance(r.get("id"), str)
    ]
    if not points:
        ev.unjudged("EMIT-5", "the brand lists no POINTS reward: nothing to redeem")
        return
    customer = sf.create_customer()
    empty = sf.wallet(customer)
    earned = sf.earn(customer, value=EARNING_VALUE)
    wallet = sf.wallet_after(customer, empty) if earned.transactions else sf.wallet(customer)
    reward_id = max(points, key=lambda r: wallet.get(r, 0.0) - empty.get(r, 0.0))
    gained = wallet.get(reward_id, 0.0) - empty.get(reward_id, 0.0)
    needed = sum(sum(asked.values()) for asked in steps)
    if gained <= WALLET_TOLERANCE:
        ev.unjudged("EMIT-5", NOTHING_AT_STAKE)
        return
    if wallet.get(reward_id, 0.0) < needed:
        ev.unjudged(
            "EMIT-5",
            f"a purchase of {EARNING_VALUE:g} earned {gained:g} points of reward {reward_id}, "
            f"fewer than the {needed} the redemptions ask",
        )
        return
    twin = sf.emit(redeeming_purchase(customer, sf.brand_id, value=REDEEMING_VALUE))
    if not ev.expect(is_2xx(twin, "EMIT-1", "a valid PURCHASE emit with a shipping")):
        ev.unjudged("EMIT-5", "the purchase without redemption was refused (EMIT-1's)")
        return
    settled = sf.settle(twin)
    if not settled.known:
        ev.unjudged("EMIT-5", "the purchase without redemption never showed it settled")
        return
    before: Wallet = (
        sf.wallet_after(customer, wallet) if settled.transactions else sf.wallet(customer)
    )
    earns = {r: before.get(r, 0.0) - wallet.get(r, 0.0) for r in {*before, *wallet}}
    twin_listed = bool(settled.transactions)
    for asked in steps:
        reached = _redeem_on_emit(sf, customer, reward_id, asked, (earns, twin_listed), before)
        if reached is None:
            return
        before = reached


def _redeem_on_emit(
    sf: Storefront,
    customer: str,
    reward_id: str,
    asked: dict[str, int],
    twin: tuple[dict[str, float], bool],
    before: Wallet,
) -> Wallet | None:
    """One fulfilled emit redeeming `asked` (amount by level): refused with 4xx, or the
    wallet moved by what the twin earned minus the sum asked, and a REDEMPTION listed.
    `twin`: what the purchase without redemption earned, and whether it listed any
    transaction. Returns the wallet the next emit starts from (None: the scenario
    cannot go on)."""
    ev = sf.evidence
    earns, twin_listed = twin
    where = " + ".join(f"{amount} at {level}" for level, amount in asked.items())
    what = (
        f"a fulfilled emit redeeming {where} of reward {reward_id} (the same purchase "
        f"without redemption earned {earns.get(reward_id, 0.0):+g})"
    )
    redeem = {level: [{"id": reward_id, "amount": amount}] for level, amount in asked.items()}
    call = sf.emit(redeeming_purchase(customer, sf.brand_id, value=REDEEMING_VALUE, redeem=redeem))
    if 400 <= call.status < 500:
        ev.expect(is_4xx(call, "EMIT-5", what))  # a refusal is one of the two outcomes
        return sf.wallet(customer)
    if not 200 <= call.status < 300:
        ev.unjudged("EMIT-5", f"{what}: answered {call.status}, neither 2xx nor 4xx")
        return None
    settled = sf.settle(call)
    if not settled.known:
        ev.unjudged("EMIT-5", _NOT_SETTLED)
        return sf.wallet_at_rest(customer)
    due = dict(earns)
    due[reward_id] = due.get(reward_id, 0.0) - sum(asked.values())
    expected = {r: before.get(r, 0.0) + due.get(r, 0.0) for r in {*before, *due}}
    now = sf.wallet_back_to(customer, expected)
    failed = "; the event settled FAILED" if settled.status == "FAILED" else ""
    short = now.get(reward_id, 0.0) - expected[reward_id]
    note = _left_out(asked, short)
    ev.expect(moved_by(before, now, due, "EMIT-5", what + failed, call.reproducer, note=note))
    _judge_redemption_listed(sf, sf.event_id(call), settled, (what, call), twin_listed)
    return now


def _left_out(asked: dict[str, int], short: float) -> str:
    """The levels whose amounts add up to what a debit fell short by (if some do)."""
    if len(asked) < 2 or short <= WALLET_TOLERANCE:
        return ""
    for n in range(1, len(asked) + 1):
        for levels in itertools.combinations(asked, n):
            if abs(sum(asked[level] for level in levels) - short) <= WALLET_TOLERANCE:
                return f" (short by {short:g}: what {' and '.join(levels)} asked)"
    return ""


def _judge_redemption_listed(
    sf: Storefront,
    event_id: str,
    settled: Settlement,
    emitted: tuple[str, Call],
    twin_listed: bool,
) -> None:
    """EMIT-5's ledger half: the redeeming event lists a REDEMPTION transaction, on a
    target that lists an event's transactions (the twin's, or this event's own)."""
    what, call = emitted
    listed = settled.transactions
    if not any(same_enum(t.get("type"), "REDEMPTION") for t in listed):
        listed = sf.wait_transactions(event_id, "REDEMPTION")
    if not (listed or twin_listed):
        sf.evidence.unjudged(
            "EMIT-5",
            "no transaction is listed for the purchase without redemption either "
            "(list_transactions?event_id=): no REDEMPTION to find",
        )
        return
    if listed and not any(t.get("type") for t in listed):
        sf.evidence.unjudged(
            "EMIT-5", "the event's transactions carry no type (GEN-4's): no REDEMPTION to find"
        )
        return
    sf.evidence.expect(
        Verdict.of(
            "EMIT-5",
            any(same_enum(t.get("type"), "REDEMPTION") for t in listed),
            f"{what}: no REDEMPTION transaction is listed for event {event_id} (listed: "
            f"{sorted(str(t.get('type')) for t in listed)})",
            call.reproducer,
        )
    )
