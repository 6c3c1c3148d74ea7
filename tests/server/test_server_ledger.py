"""Domain rules of the reference server, without HTTP: statuses, timestamps, ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from masivo_conformance.server import ServerConfig, rules
from masivo_conformance.server.seed import VARIANT_SEED, load_seed
from masivo_conformance.server.service import Conflict, NotFound, Service
from masivo_conformance.server.store import Store

from .conftest import DISCOUNT, POINTS, SEED

T0 = datetime(2026, 3, 25, 10, 0, tzinfo=UTC)
TIMES = ("processing_at", "resolved_at", "cancelled_at", "expired_at", "reversed_at")


@pytest.fixture
def service() -> Any:
    store = Store()
    yield Service(store, SEED, ServerConfig())
    store.close()


def customer(service: Service, customer_id: str = "c1") -> str:
    service.create_customer({"id": customer_id}, T0)
    return customer_id


def emit(
    service: Service,
    value: float | None = None,
    *,
    at: datetime = T0,
    customer_id: str = "c1",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "brand_id": SEED.brand_id,
        "type": "PURCHASE",
        **extra,
    }
    if value is not None:
        body["order"] = {**body.get("order", {}), "value": value}
    return service.emit(body, at)


def total(service: Service, customer_id: str = "c1", reward_id: str = POINTS) -> float:
    return service.balances(customer_id, T0 + timedelta(seconds=1)).get(reward_id, 0.0)


def set_times(event: dict[str, Any]) -> set[str]:
    return {key for key in TIMES if event[key] is not None}


def kinds(service: Service, event_id: str) -> list[tuple[str, float]]:
    found = service.list_transactions({"event_id": event_id}, T0)
    return [(t["type"], t["amount"]) for t in found]


def test_emit_fulfilled_resolves_at_once_and_accumulates_floor_of_value(service):
    customer(service)
    event = emit(service, 42.99)
    assert (event["status"], event["fulfilled"]) == ("RESOLVED", True)
    assert set_times(event) == {"processing_at", "resolved_at"}
    assert event["issued_at"] == rules.iso(T0)
    assert kinds(service, event["id"]) == [("ACCUMULATION", 42.0)]
    assert total(service) == 42.0


def test_emit_worth_less_than_one_point_makes_no_transaction(service):
    customer(service)
    event = emit(service, 0.99)
    assert event["status"] == "RESOLVED"
    assert kinds(service, event["id"]) == []


def test_emit_redeem_on_every_level_is_one_redemption_before_accumulation(service):
    customer(service)
    emit(service, 100)
    order = {
        "redeem": [{"id": POINTS, "amount": 5}],
        "products": [{"sku": "a", "value": 10, "redeem": [{"id": POINTS, "amount": 3}]}],
        "shipping": {"value": 2, "redeem": [{"id": POINTS, "amount": 2}]},
    }
    event = emit(service, 20, order=order, redeem=[{"id": POINTS, "amount": 10}])
    assert kinds(service, event["id"]) == [("REDEMPTION", -20.0), ("ACCUMULATION", 20.0)]
    assert total(service) == 100.0


def test_emit_redeeming_more_than_the_balance_fails_without_transactions(service):
    customer(service)
    emit(service, 10)
    event = emit(service, 50, redeem=[{"id": POINTS, "amount": 11}])
    assert (event["status"], event["fulfilled"]) == ("FAILED", True)
    assert set_times(event) == {"processing_at", "resolved_at"}
    assert kinds(service, event["id"]) == []
    assert total(service) == 10.0


def test_emit_redeeming_an_unknown_reward_fails(service):
    customer(service)
    event = emit(service, 5, redeem=[{"id": "00000000-0000-4000-8000-000000000000", "amount": 1}])
    assert event["status"] == "FAILED"
    assert "does not exist" in event["result"]["error"]


def test_emit_redeeming_a_discount_moves_no_points(service):
    customer(service)
    event = emit(service, 30, redeem=[{"id": DISCOUNT, "amount": 1}])
    assert event["status"] == "RESOLVED"
    assert kinds(service, event["id"]) == [("ACCUMULATION", 30.0)]


def test_standby_emit_reserves_redeems_and_waits_for_accumulation(service):
    customer(service)
    emit(service, 50)
    event = emit(service, 20, fulfilled=False, redeem=[{"id": POINTS, "amount": 15}])
    assert (event["status"], event["fulfilled"]) == ("PENDING", False)
    assert set_times(event) == set()
    assert kinds(service, event["id"]) == []
    assert total(service) == 35.0
    line = event["result"]["redemptions"][0]
    assert line["reservation_expires_at"] == rules.iso(T0 + timedelta(days=1))


def test_fulfil_turns_reservations_into_redemptions_and_credits(service):
    customer(service)
    emit(service, 50)
    standby = emit(service, 20, fulfilled=False, redeem=[{"id": POINTS, "amount": 15}])
    later = T0 + timedelta(hours=1)
    event = service.fulfil(standby["id"], later)
    assert (event["id"], event["status"], event["fulfilled"]) == (standby["id"], "RESOLVED", True)
    assert event["resolved_at"] == rules.iso(later)
    assert kinds(service, event["id"]) == [("REDEMPTION", -15.0), ("ACCUMULATION", 20.0)]
    assert total(service) == 55.0


def test_deferred_fulfilment_leaves_the_same_totals_as_immediate(service):
    body: dict[str, Any] = {"order": {"value": 33.3, "redeem": [{"id": POINTS, "amount": 7}]}}
    for name in ("now", "later"):
        customer(service, name)
        emit(service, 20, customer_id=name)
    emit(service, customer_id="now", **body)
    standby = emit(service, customer_id="later", fulfilled=False, **body)
    service.fulfil(standby["id"], T0)
    assert total(service, "now") == total(service, "later") == 46.0


def test_reverse_writes_one_opposite_reversal_per_transaction_and_restores(service):
    customer(service)
    emit(service, 40)
    event = emit(service, 25, redeem=[{"id": POINTS, "amount": 10}])
    later = T0 + timedelta(minutes=5)
    reversed_ = service.reverse(event["id"], "returned", later)
    assert reversed_["status"] == "REVERSED"
    assert reversed_["reversed_at"] == rules.iso(later)
    assert kinds(service, event["id"]) == [
        ("REDEMPTION", -10.0),
        ("ACCUMULATION", 25.0),
        ("REVERSAL", 10.0),
        ("REVERSAL", -25.0),
    ]
    assert total(service) == 40.0


def test_reverse_of_a_standby_event_cancels_it_and_releases_reservations(service):
    customer(service)
    emit(service, 40)
    standby = emit(service, 10, fulfilled=False, redeem=[{"id": POINTS, "amount": 30}])
    assert total(service) == 10.0
    event = service.reverse(standby["id"], "cart abandoned", T0)
    assert event["status"] == "CANCELLED"
    assert set_times(event) == {"cancelled_at"}
    assert kinds(service, standby["id"]) == []
    assert total(service) == 40.0


@pytest.mark.parametrize("first", ["reverse", "cancel"])
def test_second_reverse_and_later_fulfil_conflict_without_changing_the_wallet(service, first):
    customer(service)
    event = emit(service, 12, fulfilled=first == "cancel")
    event = emit(service, 12, fulfilled=first != "cancel")
    service.reverse(event["id"], "x", T0)
    before = total(service)
    with pytest.raises(Conflict):
        service.reverse(event["id"], "x", T0)
    with pytest.raises(Conflict):
        service.fulfil(event["id"], T0)
    assert total(service) == before


def test_fulfilling_a_fulfilled_event_conflicts(service):
    customer(service)
    event = emit(service, 12)
    with pytest.raises(Conflict, match="already fulfilled"):
        service.fulfil(event["id"], T0)
    assert total(service) == 12.0


def test_a_failed_event_cannot_be_reversed(service):
    customer(service)
    event = emit(service, 1, redeem=[{"id": POINTS, "amount": 5}])
    with pytest.raises(Conflict):
        service.reverse(event["id"], "x", T0)


def test_unknown_or_malformed_event_ids_are_not_found(service):
    for ref in ("2c4d7b1e-0000-4000-8000-000000000000", "not-a-uuid", ""):
        with pytest.raises(NotFound):
            service.fulfil(ref, T0)
        with pytest.raises(NotFound):
            service.reverse(ref, "x", T0)


def test_standby_event_expires_after_reserve_days_and_releases(service):
    customer(service)
    emit(service, 30)
    standby = emit(service, 5, fulfilled=False, reserve=2, redeem=[{"id": POINTS, "amount": 20}])
    one_day = T0 + timedelta(days=1)
    assert service.balances("c1", one_day)[POINTS] == 10.0  # still reserved before expiry
    after = T0 + timedelta(days=2, seconds=1)
    with pytest.raises(Conflict, match="EXPIRED"):
        service.fulfil(standby["id"], after)
    assert service.list_transactions({"event_id": standby["id"]}, after) == []
    with service.store.transaction() as db:
        row = db.execute(
            "SELECT status, expired_at FROM events WHERE id = ?", (standby["id"],)
        ).fetchone()
    assert row == {"status": "EXPIRED", "expired_at": rules.iso(T0 + timedelta(days=2))}
    assert service.balances("c1", after)[POINTS] == 30.0
    with pytest.raises(Conflict, match="EXPIRED"):
        service.reverse(standby["id"], "x", after)


def test_processing_delay_answers_pending_and_settles_at_the_due_time():
    store = Store()
    service = Service(store, SEED, ServerConfig(processing_delay=0.5))
    customer(service)
    event = emit(service, 9)
    assert (event["status"], event["result"]) == ("PENDING", {})
    assert set_times(event) == set()
    with pytest.raises(Conflict, match="retry"):
        service.reverse(event["id"], "x", T0 + timedelta(seconds=0.2))
    assert service.list_transactions({"event_id": event["id"]}, T0 + timedelta(seconds=0.2)) == []
    found = service.list_transactions({"event_id": event["id"]}, T0 + timedelta(seconds=5))
    assert [(t["type"], t["amount"]) for t in found] == [("ACCUMULATION", 9.0)]
    settled = service.reverse(event["id"], "x", T0 + timedelta(seconds=6))
    assert settled["resolved_at"] == rules.iso(T0 + timedelta(seconds=0.5))
    store.close()


def test_variant_seed_gives_two_points_per_unit_rounded_down():
    variant = load_seed(VARIANT_SEED)
    earned = rules.accumulations(variant, "PURCHASE", {"value": 10.7})
    assert [points for _, points in earned] == [21.0]
    assert rules.accumulations(variant, "REGISTRATION", {"value": 10.7}) == []


def test_collect_redeems_adds_the_same_reward_over_levels():
    body = {
        "redeem": [{"id": "a", "amount": 1}],
        "order": {
            "redeem": [{"id": "a", "amount": 2}, {"id": "b", "amount": 1}],
            "products": [{"redeem": [{"id": "b", "amount": 4}]}],
            "shipping": {"redeem": [{"id": "a", "amount": 0.5}]},
        },
    }
    assert rules.collect_redeems(body) == {"a": 3.5, "b": 5.0}


@pytest.mark.parametrize(
    ("skip", "wanted"),
    [
        ({"top"}, {"a": 2.0, "b": 12.0}),
        ({"order"}, {"a": 1.0, "b": 12.0}),
        ({"products"}, {"a": 3.0, "b": 8.0}),
        ({"shipping"}, {"a": 3.0, "b": 4.0}),
        (set(rules.REDEEM_LEVELS), {}),
    ],
)
def test_collect_redeems_skips_the_levels_a_fault_ignores(skip, wanted):
    body = {
        "redeem": [{"id": "a", "amount": 1}],
        "order": {
            "redeem": [{"id": "a", "amount": 2}],
            "products": [{"redeem": [{"id": "b", "amount": 4}]}],
            "shipping": {"redeem": [{"id": "b", "amount": 8}]},
        },
    }
    assert rules.collect_redeems(body, skip=skip) == wanted


@pytest.mark.parametrize(
    ("offset", "refused"),
    [
        (timedelta(hours=-71), False),
        (timedelta(hours=-73), True),
        (timedelta(seconds=2), False),
        (timedelta(minutes=5), True),
    ],
)
def test_issued_at_window_is_72_hours_back_and_not_the_future(offset, refused):
    text = rules.iso(T0 + offset)
    assert (rules.issued_at_problem(text, T0) is not None) is refused


def test_issued_at_without_offset_is_refused():
    assert rules.issued_at_problem("2026-03-25T10:00:00", T0) is not None


def test_a_huge_reserve_expires_at_the_end_of_time_instead_of_crashing(service):
    customer(service)
    event = emit(service, 5, fulfilled=False, reserve=1e12)
    assert event["status"] == "PENDING"
    assert rules.expiry_time(T0, 1e12).year == 9999


def test_an_unreadable_issued_at_counts_as_now():
    assert rules.parse_issued_at("2026-12-31T23:59:60Z", T0) == T0
    assert rules.parse_issued_at("0001-01-01T00:00:00+01:00", T0) == T0
    assert rules.parse_issued_at(None, T0) == T0


def test_async_effects_write_the_state_at_once_and_the_ledger_when_due():
    store = Store()
    service = Service(store, SEED, ServerConfig(processing_delay=0.5, async_effects=True))
    customer(service)
    event = emit(service, 9)
    at, due = T0 + timedelta(seconds=1), T0 + timedelta(seconds=1.5)
    reversed_ = service.reverse(event["id"], "returned", at)
    assert (reversed_["status"], reversed_["reversed_at"]) == ("REVERSED", rules.iso(at))
    assert service.balances("c1", at) == {POINTS: 9.0}
    found = service.list_transactions({"event_id": event["id"]}, due)
    assert [(t["type"], t["amount"], t["created_at"]) for t in found] == [
        ("ACCUMULATION", 9.0, rules.iso(T0 + timedelta(seconds=0.5))),
        ("REVERSAL", -9.0, rules.iso(due)),
    ]
    assert "returned" in found[1]["details"]
    assert service.balances("c1", due) == {POINTS: 0.0}
    store.close()


def test_async_cancel_releases_the_reservation_when_due():
    store = Store()
    service = Service(store, SEED, ServerConfig(processing_delay=0.5, async_effects=True))
    customer(service)
    emit(service, 30)
    standby = emit(
        service,
        5,
        at=T0 + timedelta(seconds=1),
        fulfilled=False,
        redeem=[{"id": POINTS, "amount": 20}],
    )
    at = T0 + timedelta(seconds=2)
    assert service.reverse(standby["id"], "x", at)["status"] == "CANCELLED"
    assert service.balances("c1", at + timedelta(seconds=0.4)) == {POINTS: 10.0}
    assert service.balances("c1", at + timedelta(seconds=0.5)) == {POINTS: 30.0}
    with pytest.raises(Conflict, match="CANCELLED"):
        service.reverse(standby["id"], "x", at + timedelta(seconds=1))
    store.close()
