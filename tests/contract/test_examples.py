"""Deterministic example tests: one or a few calls show each single-call requirement.

Every call goes through the `storefront` fixture, which also runs every single-call
MUST check on each answer; the asserts here name the rule each test is about.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from masivo_conformance import checks
from masivo_conformance.calls import Call
from masivo_conformance.invariants import expect_2xx, expect_4xx, expect_status, expect_wallet
from masivo_conformance.payloads import preview_request, purchase
from masivo_conformance.storefront import Storefront

pytestmark = pytest.mark.writes


def _tour(sf: Storefront, reward_id: str) -> list[Call]:
    """One successful call of every operation but authorize."""
    customer = sf.create_customer()
    emitted = sf.emit_purchase(customer, value=80.0)
    sf.settle(emitted)
    standby = sf.emit_purchase(customer, value=10.0, fulfilled=False)
    return [
        sf.customer(customer),
        sf.call("GET", "/rewards", params={"from": 0, "to": 10, "brand_id": sf.brand_id}),
        sf.call("GET", "/transactions", params={"event_id": emitted.data["id"]}),
        emitted,
        sf.fulfil(standby.data["id"]),
        sf.reverse(emitted.data["id"]),
        sf.preview(
            preview_request(customer, sf.brand_id, order_redeem=[{"id": reward_id, "amount": 1}])
        ),
    ]


@pytest.mark.requirement("GEN-1", "GEN-4")
def test_success_answers_are_data_envelopes_that_match_the_schemas(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    calls = _tour(storefront, points_reward["id"])
    for call in calls:
        expect_2xx(call, "GEN-1", f"a valid {call.operation}")
        checks.CHECKS["success_envelope"].func(call)
        checks.CHECKS["response_schema"].func(call)
    assert {c.operation for c in calls} == {
        "get_customer",
        "list_rewards",
        "list_transactions",
        "emit_event",
        "fulfill_event",
        "reverse_event",
        "preview_order",
    }


@pytest.mark.requirement("GEN-5")
def test_answers_carry_rate_limit_headers(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    for call in _tour(storefront, points_reward["id"]):
        checks.CHECKS["rate_limit_headers"].func(call)


@pytest.mark.requirement("GEN-2")
def test_client_errors_have_error_and_details(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    unknown = storefront.ids.uuid()
    refused = [
        storefront.fulfil(unknown),
        storefront.reverse(unknown),
        storefront.emit({"customer_id": customer, "type": "PURCHASE"}),
        storefront.preview({"customer_id": customer, "brand_id": storefront.brand_id}),
        storefront.call(
            "GET",
            "/rewards",
            params={"from": 0, "to": 5},
            headers={"Authorization": "Bearer not-a-token"},
        ),
    ]
    judged = [c for c in refused if 400 <= c.status < 500 and c.status != 429]
    assert judged, "no request that the contract requires to fail answered 4xx"
    for call in judged:
        checks.CHECKS["error_envelope"].func(call)


_HUGE = "x" * 10_000
_ODD = "\u0000\ud7ff\ufffd'\"<>{}%00../\u202e" * 20


def _malformed_requests(customer: str, brand: str, unknown: str) -> list[tuple[str, str, Any]]:
    """(method, path, body) of requests no server may answer with a 5xx."""
    emit = purchase(customer, brand)
    return [
        ("POST", "/behavior/events", b"{not json"),
        ("POST", "/behavior/events", b"[]"),
        ("POST", "/behavior/events", {**emit, "customer_id": _HUGE}),
        ("POST", "/behavior/events", {**emit, "customer_id": _ODD}),
        ("POST", "/behavior/events", {**emit, "type": 42, "fulfilled": "yes"}),
        ("POST", "/behavior/events", {**emit, "order": {"value": "ten", "products": {}}}),
        ("POST", "/behavior/events", {**emit, "order": {"value": 1e308}, "reserve": -1}),
        ("POST", "/behavior/events", {**emit, "redeem": [{"id": "not-a-uuid", "amount": -5}]}),
        ("POST", "/behavior/events", {**emit, "issued_at": "yesterday"}),
        ("POST", "/behavior/events", {**emit, "metadata": {"a": [[[[[[[[[[1]]]]]]]]]]}}),
        ("PATCH", f"/behavior/events/{_HUGE[:2000]}/fulfill", None),
        ("PATCH", "/behavior/events/%00%FF/fulfill", None),
        ("POST", f"/behavior/events/{unknown}/reverse", b"{"),
        ("POST", f"/behavior/events/{unknown}/reverse", {"reason": _HUGE}),
        ("PUT", "/events/redeem/preview", b"null"),
        ("PUT", "/events/redeem/preview", {"customer_id": _ODD, "brand_id": 7, "order": []}),
        (
            "PUT",
            "/events/redeem/preview",
            {
                "customer_id": customer,
                "brand_id": brand,
                "order": {"value": -1, "products": [None, 3]},
            },
        ),
        ("POST", "/customers", {"id": _HUGE}),
        ("POST", "/customers", {"id": 12, "email": ["x"]}),
        ("GET", f"/customers/{quote(_ODD[:300], safe='')}", None),
        ("GET", "/rewards?from=-1&to=abc", None),
        ("GET", f"/transactions?event_id={_HUGE[:3000]}&type=NOPE", None),
    ]


@pytest.mark.requirement("GEN-3")
def test_malformed_requests_never_get_a_server_error(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    for method, path, body in _malformed_requests(
        customer, storefront.brand_id, storefront.ids.uuid()
    ):
        raw = body if isinstance(body, bytes) else None
        call = storefront.call(
            method,
            path,
            json_body=None if raw else body,
            content=raw,
            headers={"Content-Type": "application/json"} if raw else None,
        )
        expect_status(call, 100, 499, "GEN-3", f"malformed {method} {path[:60]}")


@pytest.mark.requirement("AUTH-2")
def test_authorize_exchanges_a_valid_key_for_a_jwt(
    storefront: Storefront, masivo_target: Any
) -> None:
    if not masivo_target.api_key:
        pytest.skip("needs an API key (MASIVO_API_KEY): the target was given a token only")
    granted = Call.from_httpx(storefront.client.authorize())
    expect_status(granted, 200, 200, "AUTH-2", "authorize with the valid API key")
    checks.CHECKS["token_shape"].func(granted)
    for key in (None, "", "wrong-" + masivo_target.api_key[::-1]):
        headers = {} if key is None else {"x-api-key": key}
        call = storefront.call("GET", "/auth/authorize", headers=headers, auth=False)
        expect_status(
            call, 401, 403, "AUTH-2", f"authorize with key {'missing' if key is None else 'wrong'}"
        )


@pytest.mark.requirement("AUTH-3")
def test_tokens_live_at_most_an_hour(storefront: Storefront, masivo_target: Any) -> None:
    if not masivo_target.api_key:
        pytest.skip("needs an API key (MASIVO_API_KEY): the target was given a token only")
    granted = Call.from_httpx(storefront.client.authorize())
    expect_status(granted, 200, 200, "AUTH-2", "authorize with the valid API key")
    checks.CHECKS["token_lifetime"].func(granted)


@pytest.mark.requirement("EMIT-1")
@pytest.mark.parametrize("fulfilled", [None, True, False], ids=["default", "true", "false"])
def test_emit_echoes_customer_type_and_fulfilled(
    storefront: Storefront, fulfilled: bool | None
) -> None:
    customer = storefront.create_customer()
    body = purchase(
        customer,
        storefront.brand_id,
        fulfilled=fulfilled,
        reserve=1,
        tags={"channel": "web"},
        metadata={"suite": "masivo-conformance"},
        platform="conformance",
    )
    call = storefront.emit(body)
    expect_2xx(call, "EMIT-1", "a valid emit with optional fields")
    checks.CHECKS["emit_echo"].func(call)
    assert call.data["fulfilled"] is (fulfilled is not False)


@pytest.mark.requirement("EMIT-2")
@pytest.mark.parametrize(
    "defect",
    [
        "no customer_id",
        "no brand_id",
        "no type",
        "fulfilled not boolean",
        "order value not number",
        "products not array",
    ],
)
def test_emit_without_required_or_with_wrong_types_is_refused(
    storefront: Storefront, defect: str
) -> None:
    customer = storefront.create_customer()
    before = storefront.wallet(customer)
    body = purchase(customer, storefront.brand_id, value=500.0)
    match defect:
        case "no customer_id" | "no brand_id" | "no type":
            del body[defect.removeprefix("no ")]
        case "fulfilled not boolean":
            body["fulfilled"] = "yes"
        case "order value not number":
            body["order"]["value"] = "500"
        case "products not array":
            body["order"]["products"] = {"sku": "SKU-1"}
    call = storefront.emit(body)
    expect_4xx(call, "EMIT-2", f"emit with {defect}")
    expect_wallet(
        before,
        storefront.wallet(customer),
        "EMIT-2",
        f"a refused emit ({defect}) must create nothing",
        call.reproducer,
    )


@pytest.mark.requirement("EMIT-3")
@pytest.mark.parametrize(
    "offset", [timedelta(hours=-73), timedelta(hours=1)], ids=["older-than-72h", "in-the-future"]
)
def test_emit_issued_at_outside_the_window_is_refused(
    storefront: Storefront, offset: timedelta
) -> None:
    customer = storefront.create_customer()
    issued_at = (datetime.now(UTC) + offset).isoformat().replace("+00:00", "Z")
    call = storefront.emit(purchase(customer, storefront.brand_id, issued_at=issued_at))
    expect_4xx(call, "EMIT-3", f"emit with issued_at {issued_at}")


@pytest.mark.requirement("FUL-3")
def test_fulfil_of_an_unknown_event_is_refused(storefront: Storefront) -> None:
    expect_4xx(storefront.fulfil(storefront.ids.uuid()), "FUL-3", "fulfil of an unknown event id")


@pytest.mark.requirement("REV-5")
def test_reverse_of_an_unknown_event_is_refused(storefront: Storefront) -> None:
    expect_4xx(storefront.reverse(storefront.ids.uuid()), "REV-5", "reverse of an unknown event id")


@pytest.mark.requirement("REV-7")
def test_reverse_without_a_reason_is_refused(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    event = storefront.earn(customer, value=50.0)
    call = storefront.reverse(event.data["id"], reason=None)
    expect_4xx(call, "REV-7", "reverse without a reason")


@pytest.mark.requirement("PRV-1")
def test_preview_echoes_customer_and_brand(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    call = storefront.preview(preview_request(customer, storefront.brand_id))
    expect_status(call, 200, 200, "PRV-1", "a valid preview")
    checks.CHECKS["preview_echo"].func(call)


def _preview_all_levels(sf: Storefront, reward_id: str) -> Call:
    customer = sf.create_customer()
    sf.earn(customer)
    redeem = [{"id": reward_id, "amount": 10}]
    return sf.preview(
        preview_request(
            customer,
            sf.brand_id,
            order_redeem=redeem,
            product_redeem=redeem,
            shipping_redeem=redeem,
        )
    )


@pytest.mark.requirement("PRV-3")
def test_preview_reports_a_result_at_every_redeeming_level(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    call = _preview_all_levels(storefront, points_reward["id"])
    expect_status(call, 200, 200, "PRV-3", "a preview redeeming at every level")
    checks.CHECKS["preview_results"].func(call)


@pytest.mark.requirement("PRV-4")
def test_preview_keeps_products_and_subtracts_discounts(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    call = _preview_all_levels(storefront, points_reward["id"])
    expect_status(call, 200, 200, "PRV-4", "a preview redeeming at every level")
    checks.CHECKS["preview_arithmetic"].func(call)


@pytest.mark.requirement("PRV-7")
def test_preview_percent_is_discount_over_value(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    call = _preview_all_levels(storefront, points_reward["id"])
    expect_status(call, 200, 200, "PRV-7", "a preview redeeming at every level")
    checks.CHECKS["preview_percent"].func(call)


@pytest.mark.requirement("PRV-5")
@pytest.mark.parametrize("case", ["unknown reward", "balance too low"])
def test_preview_reports_unredeemable_rewards_as_errors(
    storefront: Storefront, points_reward: dict[str, Any], case: str
) -> None:
    customer = storefront.create_customer()
    reward = storefront.ids.uuid() if case == "unknown reward" else points_reward["id"]
    call = storefront.preview(
        preview_request(
            customer, storefront.brand_id, order_redeem=[{"id": reward, "amount": 10**9}]
        )
    )
    expect_status(call, 200, 200, "PRV-5", f"a preview redeeming a reward it cannot ({case})")
    result = call.data["order"].get("redemptions_result") or {}
    entries = [e for e in result.get("redeemed") or [] if e.get("id") == reward]
    if not entries or not all(isinstance(e.get("error"), str) and e["error"] for e in entries):
        raise checks.ConformanceViolation(
            "PRV-5",
            f"{case}: expected a redeemed entry for {reward} with a non-empty error, got {entries}",
            call.reproducer,
        )


@pytest.mark.requirement("PRV-6")
@pytest.mark.parametrize("member", ["customer_id", "brand_id", "order"])
def test_preview_without_a_required_member_is_refused(storefront: Storefront, member: str) -> None:
    customer = storefront.create_customer()
    body = preview_request(customer, storefront.brand_id)
    del body[member]
    expect_4xx(storefront.preview(body), "PRV-6", f"preview without {member}")
