"""One deterministic scenario per multi-call MUST requirement (the canonical sequences).

These are also the scenarios `masivo-conformance record` writes to cassettes, so their
requests are reproducible: customer ids come from the run's seed and the test's name.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from masivo_conformance.checks import ConformanceViolation
from masivo_conformance.checks._util import timestamp
from masivo_conformance.invariants import expect_2xx, expect_4xx, expect_wallet
from masivo_conformance.payloads import preview_request
from masivo_conformance.storefront import Storefront

pytestmark = pytest.mark.writes

CONCURRENT_REVERSALS = 8


@pytest.mark.requirement("REV-1", "REV-2")
def test_reversing_a_fulfilled_purchase_restores_the_wallet(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    before = storefront.wallet(customer)
    emitted = storefront.emit_purchase(customer, value=120.0)
    made = storefront.settle(emitted)
    event_id = emitted.data["id"]

    reversed_ = storefront.reverse(event_id)
    expect_2xx(reversed_, "REV-1", "reverse of a fulfilled, settled event")
    event = reversed_.data
    if event.get("status") != "REVERSED" or timestamp(event.get("reversed_at")) is None:
        raise ConformanceViolation(
            "REV-1",
            f"expected status REVERSED with reversed_at set, got "
            f"{event.get('status')!r} / {event.get('reversed_at')!r}",
            reversed_.reproducer,
        )
    issued = timestamp(event.get("issued_at"))
    assert issued is None or timestamp(event["reversed_at"]) >= issued  # type: ignore[operator]

    listed = storefront.wait_transactions(event_id, "REVERSAL") if made else []
    expect_wallet(
        before,
        storefront.wallet(customer),
        "REV-2",
        "after reversing the event",
        reversed_.reproducer,
    )
    if made and not any(t.get("type") == "REVERSAL" for t in listed):
        raise ConformanceViolation(
            "REV-2",
            f"the event made {len(made)} transactions but no REVERSAL is listed after its reversal",
            reversed_.reproducer,
        )


@pytest.mark.requirement("REV-3")
def test_reversing_a_standby_event_cancels_it_and_releases_reservations(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    customer = storefront.create_customer()
    storefront.earn(customer)
    before = storefront.wallet(customer)
    standby = storefront.emit_purchase(
        customer, value=30.0, fulfilled=False, redeem=[{"id": points_reward["id"], "amount": 5}]
    )
    cancelled = storefront.reverse(standby.data["id"])
    expect_2xx(cancelled, "REV-3", "reverse of a standby event")
    event = cancelled.data
    if (
        event.get("status") != "CANCELLED"
        or not event.get("cancelled_at")
        or event.get("reversed_at") is not None
    ):
        raise ConformanceViolation(
            "REV-3",
            "expected CANCELLED with cancelled_at set and "
            f"reversed_at null, got {event.get('status')!r}, "
            f"{event.get('cancelled_at')!r}, {event.get('reversed_at')!r}",
            cancelled.reproducer,
        )
    expect_wallet(
        before,
        storefront.wallet(customer),
        "REV-3",
        "after cancelling a standby event with a reservation",
        cancelled.reproducer,
    )


def _undone_event(storefront: Storefront, fulfilled: bool) -> tuple[str, str]:
    """(customer, event id) of a PURCHASE reversed once (fulfilled) or cancelled (standby)."""
    customer = storefront.create_customer()
    emitted = storefront.emit_purchase(customer, value=60.0, fulfilled=fulfilled)
    if fulfilled:
        storefront.settle(emitted)
    event_id = emitted.data["id"]
    expect_2xx(storefront.reverse(event_id), "REV-1" if fulfilled else "REV-3", "first reverse")
    if fulfilled:
        storefront.wait_transactions(event_id, "REVERSAL")
    return customer, event_id


@pytest.mark.requirement("REV-4")
@pytest.mark.parametrize("fulfilled", [True, False], ids=["reversed", "cancelled"])
def test_a_second_reverse_is_refused_and_changes_nothing(
    storefront: Storefront, fulfilled: bool
) -> None:
    customer, event_id = _undone_event(storefront, fulfilled)
    after_first = storefront.wallet(customer)
    second = storefront.reverse(event_id)
    expect_4xx(second, "REV-4", "a second reverse of the same event")
    expect_wallet(
        after_first,
        storefront.wallet(customer),
        "REV-4",
        "after a refused reverse",
        second.reproducer,
    )


@pytest.mark.requirement("REV-6")
def test_concurrent_reversals_apply_once(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    before = storefront.wallet(customer)
    emitted = storefront.emit_purchase(customer, value=90.0)
    storefront.settle(emitted)
    event_id = emitted.data["id"]
    with ThreadPoolExecutor(CONCURRENT_REVERSALS) as pool:
        calls = list(pool.map(lambda _: storefront.reverse(event_id), range(CONCURRENT_REVERSALS)))
    accepted = [c for c in calls if 200 <= c.status < 300]
    if len(accepted) != 1:
        raise ConformanceViolation(
            "REV-6",
            f"{len(accepted)} of {CONCURRENT_REVERSALS} concurrent "
            f"reverse calls answered 2xx (statuses "
            f"{sorted(c.status for c in calls)}), expected exactly one",
            calls[0].reproducer,
        )
    storefront.wait_transactions(event_id, "REVERSAL")
    expect_wallet(
        before,
        storefront.wallet(customer),
        "REV-6",
        "after concurrent reversals",
        calls[0].reproducer,
    )


@pytest.mark.requirement("FUL-2")
def test_deferred_fulfilment_equals_immediate(storefront: Storefront) -> None:
    immediate, deferred = storefront.create_customer(), storefront.create_customer()
    storefront.earn(immediate, value=150.0)
    standby = storefront.emit_purchase(deferred, value=150.0, fulfilled=False)
    fulfilled = storefront.fulfil(standby.data["id"])
    expect_2xx(fulfilled, "FUL-1", "fulfil of a standby event")
    storefront.settle(fulfilled)
    expect_wallet(
        storefront.wallet(immediate),
        storefront.wallet(deferred),
        "FUL-2",
        "emit-then-fulfil versus emit fulfilled (left: immediate, right: deferred)",
        fulfilled.reproducer,
    )


@pytest.mark.requirement("FUL-1")
def test_fulfilling_a_standby_event_answers_it_fulfilled(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    standby = storefront.emit_purchase(customer, value=40.0, fulfilled=False)
    fulfilled = storefront.fulfil(standby.data["id"])
    if (
        fulfilled.status != 200
        or fulfilled.data.get("id") != standby.data["id"]
        or (fulfilled.data.get("fulfilled") is not True)
    ):
        raise ConformanceViolation(
            "FUL-1",
            f"expected 200 with event {standby.data['id']} "
            f"fulfilled; got {fulfilled.status}: {fulfilled.text[:200]}",
            fulfilled.reproducer,
        )


@pytest.mark.requirement("FUL-4")
@pytest.mark.parametrize("fulfilled", [True, False], ids=["reversed", "cancelled"])
def test_fulfilling_a_reversed_or_cancelled_event_is_refused(
    storefront: Storefront, fulfilled: bool
) -> None:
    customer, event_id = _undone_event(storefront, fulfilled)
    before = storefront.wallet(customer)
    refused = storefront.fulfil(event_id)
    expect_4xx(refused, "FUL-4", "fulfil of a reversed or cancelled event")
    expect_wallet(
        before, storefront.wallet(customer), "FUL-4", "after the refused fulfil", refused.reproducer
    )


@pytest.mark.requirement("FUL-5")
@pytest.mark.parametrize("path", ["emitted-fulfilled", "fulfilled-later"])
def test_fulfilling_twice_changes_no_wallet(storefront: Storefront, path: str) -> None:
    customer = storefront.create_customer()
    if path == "emitted-fulfilled":
        event = storefront.earn(customer, value=80.0)
    else:
        standby = storefront.emit_purchase(customer, value=80.0, fulfilled=False)
        event = storefront.fulfil(standby.data["id"])
        storefront.settle(event)
    before = storefront.wallet(customer)
    again = storefront.fulfil(event.data["id"])
    if not (again.status == 200 or 400 <= again.status < 500):
        raise ConformanceViolation(
            "FUL-5",
            f"a second fulfil answered {again.status}; expected 200 or 4xx",
            again.reproducer,
        )
    expect_wallet(
        before, storefront.wallet(customer), "FUL-5", "after fulfilling again", again.reproducer
    )


@pytest.mark.requirement("PRV-2")
def test_previews_change_nothing(storefront: Storefront, points_reward: dict[str, Any]) -> None:
    customer = storefront.create_customer()
    earned = storefront.earn(customer)
    wallet, listed = storefront.wallet(customer), storefront.transactions(earned.data["id"])
    redeem = [{"id": points_reward["id"], "amount": 20}]
    previews = [
        storefront.preview(
            preview_request(
                customer, storefront.brand_id, order_redeem=redeem, product_redeem=redeem
            )
        )
        for _ in range(3)
    ]
    for call in previews:
        expect_2xx(call, "PRV-1", "a valid preview")
    expect_wallet(
        wallet,
        storefront.wallet(customer),
        "PRV-2",
        "after three previews",
        previews[-1].reproducer,
    )
    if storefront.transactions(earned.data["id"]) != listed:
        raise ConformanceViolation(
            "PRV-2", "the customer's transactions changed after previews", previews[-1].reproducer
        )


@pytest.mark.requirement("EMIT-4")
@pytest.mark.parametrize("fulfilled", [True, False], ids=["fulfilled", "standby"])
def test_emitted_events_settle_or_stand_by(storefront: Storefront, fulfilled: bool) -> None:
    customer = storefront.create_customer()
    emitted = storefront.emit_purchase(customer, value=25.0, fulfilled=fulfilled)
    event = emitted.data
    if fulfilled:
        storefront.settle(emitted)
        if event.get("status") not in ("PENDING", "PROCESSING", "RESOLVED", "FAILED"):
            raise ConformanceViolation(
                "EMIT-4", f"a fulfilled event came back {event.get('status')!r}", emitted.reproducer
            )
        if event.get("status") in ("RESOLVED", "FAILED") and not event.get("resolved_at"):
            raise ConformanceViolation(
                "EMIT-4", f"{event['status']} without resolved_at", emitted.reproducer
            )
    elif event.get("fulfilled") is not False or event.get("status") == "RESOLVED":
        raise ConformanceViolation(
            "EMIT-4",
            "a standby event must stay fulfilled false and not "
            f"RESOLVED; got {event.get('fulfilled')!r} / "
            f"{event.get('status')!r}",
            emitted.reproducer,
        )
