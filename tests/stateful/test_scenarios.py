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
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from masivo_conformance.checks._util import same_enum
from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.checks.invariants import (
    is_2xx,
    is_4xx,
    same_transactions,
    same_wallet,
    status_in,
)
from masivo_conformance.suite.payloads import preview_request
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
    empty = sf.wallet(customer)
    if sf.earn(customer).transactions:
        sf.wallet_after(customer, empty)  # the points may land a little after the listing
    before = sf.wallet(customer)
    rich = before.get(points_reward["id"], 0.0) >= REDEEM_POINTS
    redeem = [{"id": points_reward["id"], "amount": REDEEM_POINTS}] if rich else None
    standby = sf.standby(customer, value=30.0, redeem=redeem)
    if standby is None:
        ev.unjudged("REV-3", _NO_STANDBY)
        return
    judge_cancellation(sf, customer, before, standby, rich=rich)


def judge_cancellation(
    sf: Storefront, customer: str, before: Wallet, standby: Call, *, rich: bool
) -> tuple[Call, Wallet | None] | None:
    """REV-3 on a standby event: its reverse answers 2xx with status CANCELLED and, when
    it reserved points (`rich`), gives them back. (The cancel, the wallet after the
    release or None when nothing was reserved), or None when the cancel was refused."""
    ev = sf.evidence
    if rich:
        sf.wallet_after(customer, before)  # the reservation may land a little later
    cancelled = sf.reverse(sf.event_id(standby))  # cancelled_at: the single-call check
    if not ev.expect(is_2xx(cancelled, "REV-3", "reverse of a standby event")):
        return None
    ev.expect(_status_is(cancelled, "CANCELLED", "REV-3", "reverse of a standby event"))
    if not rich:
        ev.unjudged("REV-3", "the customer earned no points to reserve: no release to see")
        return cancelled, None
    released = sf.wallet_back_to(customer, before)
    ev.expect(
        same_wallet(
            before,
            released,
            "REV-3",
            "after cancelling a standby event with a reservation",
            cancelled.reproducer,
        )
    )
    return cancelled, released


def _undone_event(sf: Storefront, fulfilled: bool, rule: str) -> tuple[str, str] | None:
    """(customer, event id) of a PURCHASE reversed once (fulfilled) or cancelled (standby),
    its effects undone; None (and `rule` unjudged) when that could not be reached."""
    customer = sf.create_customer()
    before = sf.wallet(customer)
    emitted = (
        sf.emit_purchase(customer, value=60.0) if fulfilled else sf.standby(customer, value=60.0)
    )
    if emitted is None:
        sf.evidence.unjudged(rule, _NO_STANDBY)
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
def test_deferred_fulfilment_equals_immediate(storefront: Storefront) -> None:
    sf, ev = storefront, storefront.evidence
    immediate, deferred = sf.create_customer(), sf.create_customer()
    before_i, before_d = sf.wallet(immediate), sf.wallet(deferred)
    settled_i = sf.settle(sf.emit_purchase(immediate, value=150.0))
    standby = sf.standby(deferred, value=150.0)
    if standby is None:
        ev.unjudged("FUL-2", _NO_STANDBY)
        return
    fulfilled = sf.fulfil(sf.event_id(standby))
    ev.insist(status_in(fulfilled, 200, 200, "FUL-1", "fulfil of a standby event"))
    settled_d = sf.settle(fulfilled)
    if not (settled_i.known and settled_d.known):
        ev.unjudged("FUL-2", "one of the two events never showed it settled")
        return
    wallet_i = sf.wallet_after(immediate, before_i) if settled_i.transactions else before_i
    wallet_d = sf.wallet_after(deferred, before_d) if settled_d.transactions else before_d
    if not (
        _had_effect(before_i, wallet_i, settled_i) or _had_effect(before_d, wallet_d, settled_d)
    ):
        ev.unjudged("FUL-2", "neither path changed a wallet: the target gives nothing to compare")
        return
    ev.expect(
        same_wallet(
            wallet_i,
            wallet_d,
            "FUL-2",
            "emit-then-fulfil versus emit fulfilled (left: immediate, right: deferred)",
            fulfilled.reproducer,
        )
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
    storefront: Storefront, fulfilled: bool
) -> None:
    sf, ev = storefront, storefront.evidence
    undone = _undone_event(sf, fulfilled, "FUL-4")
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
def test_fulfilling_twice_changes_no_wallet(storefront: Storefront, path: str) -> None:
    sf, ev = storefront, storefront.evidence
    customer = sf.create_customer()
    empty = sf.wallet(customer)
    if path == "emitted-fulfilled":
        event = sf.emit_purchase(customer, value=80.0)
    else:
        standby = sf.standby(customer, value=80.0)
        if standby is None:
            ev.unjudged("FUL-5", _NO_STANDBY)
            return
        event = sf.fulfil(sf.event_id(standby))
        ev.insist(status_in(event, 200, 200, "FUL-1", "fulfil of a standby event"))
    settled = sf.settle(event)
    if not settled.known:
        ev.unjudged("FUL-5", _NOT_SETTLED)
        return
    before = sf.wallet_after(customer, empty) if settled.transactions else sf.wallet(customer)
    again = sf.fulfil(sf.event_id(event))
    ev.expect(
        Verdict.of(
            "FUL-5",
            again.status == 200 or 400 <= again.status < 500,
            f"a second fulfil answered {again.status}; expected 200 or 4xx",
            again.reproducer,
        )
    )
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
