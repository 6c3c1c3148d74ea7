"""Each single-call check passes a good answer and fails a bad one with its own id."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from masivo_conformance import checks
from masivo_conformance.calls import Call, operation_for
from masivo_conformance.checks import ConformanceViolation
from masivo_conformance.requirements import catalogue

BASE = "http://127.0.0.1:1/api/storefront/v1"
EVENT_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def _event(**overrides: Any) -> dict[str, Any]:
    event = {
        "id": EVENT_ID,
        "customer_id": "c-1",
        "type": "PURCHASE",
        "fulfilled": True,
        "status": "RESOLVED",
        "issued_at": "2026-11-20T10:00:00Z",
        "resolved_at": "2026-11-20T10:00:01Z",
        "reversed_at": None,
        "cancelled_at": None,
    }
    event.update(overrides)
    return event


def _call(
    method: str,
    path: str,
    status: int,
    body: Any,
    request: Any = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Call:
    text = body if isinstance(body, str) else json.dumps(body)
    call = Call.build(
        method,
        BASE + path,
        json.dumps(request).encode() if request else None,
        status,
        {"content-type": content_type, **(headers or {})},
        text,
        "curl ...",
    )
    assert call is not None
    return call


def _fails(check: str, call: Call, requirement: str) -> None:
    with pytest.raises(ConformanceViolation) as caught:
        checks.CHECKS[check].func(call)
    assert caught.value.requirement == requirement
    assert str(caught.value).startswith(f"[{requirement}]")


EMIT = {"customer_id": "c-1", "brand_id": "b", "type": "PURCHASE"}


def test_every_check_is_tagged_with_catalogue_ids() -> None:
    for entry in checks.CHECKS.values():
        assert entry.requirements
        assert all(i in catalogue() for i in entry.requirements)


def test_operation_for_knows_every_operation() -> None:
    assert operation_for("PATCH", f"/x/behavior/events/{EVENT_ID}/fulfill") == (
        "fulfill_event",
        {"eventId": EVENT_ID},
    )
    assert operation_for("GET", "/api/storefront/v1/customers/abc") == (
        "get_customer",
        {"id": "abc"},
    )
    assert operation_for("DELETE", "/customers/abc") is None


def test_success_envelope() -> None:
    good = _call("POST", "/behavior/events", 201, {"data": _event()}, EMIT)
    checks.CHECKS["success_envelope"].func(good)
    _fails(
        "success_envelope", _call("POST", "/behavior/events", 201, _event(data={}), EMIT), "GEN-1"
    )
    _fails(
        "success_envelope",
        _call("GET", "/rewards", 200, {"data": []}, content_type="text/plain"),
        "GEN-1",
    )


def test_error_envelope() -> None:
    checks.CHECKS["error_envelope"].func(
        _call("GET", "/customers/x", 404, {"error": "Not found", "details": "no customer x"})
    )
    checks.CHECKS["error_envelope"].func(
        _call("GET", "/customers/x", 429, "slow down", content_type="text/plain")
    )
    _fails("error_envelope", _call("GET", "/customers/x", 404, {"message": "nope"}), "GEN-2")


def test_no_server_error() -> None:
    _fails(
        "no_server_error",
        _call("GET", "/rewards", 502, "bad gateway", content_type="text/html"),
        "GEN-3",
    )


def test_response_schema_names_the_failing_path() -> None:
    bad = _call("POST", "/behavior/events", 201, {"data": _event(status="resolved")}, EMIT)
    with pytest.raises(ConformanceViolation, match=r"\$\.data\.status"):
        checks.CHECKS["response_schema"].func(bad)


def test_rate_limit_headers() -> None:
    limits = {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "9", "x-ratelimit-reset": "5"}
    checks.CHECKS["rate_limit_headers"].func(
        _call("GET", "/rewards", 200, {"data": []}, headers=limits)
    )
    _fails("rate_limit_headers", _call("GET", "/rewards", 429, {}, headers=limits), "GEN-5")


def test_token_shape_and_lifetime() -> None:
    now = int(time.time())
    good = jwt.encode({"iat": now, "exp": now + 3600}, "k" * 32, algorithm="HS256")
    long = jwt.encode({"iat": now, "exp": now + 86400}, "k" * 32, algorithm="HS256")
    stale = jwt.encode({"iat": now - 7200, "exp": now - 3600}, "k" * 32, algorithm="HS256")
    checks.CHECKS["token_shape"].func(_call("GET", "/auth/authorize", 200, {"data": good}))
    _fails("token_shape", _call("GET", "/auth/authorize", 200, {"data": stale}), "AUTH-2")
    _fails("token_shape", _call("GET", "/auth/authorize", 200, {"data": "opaque"}), "AUTH-2")
    _fails("token_lifetime", _call("GET", "/auth/authorize", 200, {"data": long}), "AUTH-3")


def test_emit_echo_and_state() -> None:
    checks.CHECKS["emit_echo"].func(
        _call("POST", "/behavior/events", 201, {"data": _event()}, EMIT)
    )
    _fails(
        "emit_echo",
        _call(
            "POST",
            "/behavior/events",
            201,
            {"data": _event(fulfilled=True)},
            {**EMIT, "fulfilled": False},
        ),
        "EMIT-1",
    )
    _fails(
        "emit_state",
        _call("POST", "/behavior/events", 201, {"data": _event(resolved_at=None)}, EMIT),
        "EMIT-4",
    )
    _fails(
        "emit_state",
        _call(
            "POST",
            "/behavior/events",
            201,
            {"data": _event(fulfilled=False)},
            {**EMIT, "fulfilled": False},
        ),
        "EMIT-4",
    )


def test_fulfil_and_reverse_answers() -> None:
    fulfil = f"/behavior/events/{EVENT_ID}/fulfill"
    reverse = f"/behavior/events/{EVENT_ID}/reverse"
    checks.CHECKS["fulfil_answer"].func(_call("PATCH", fulfil, 200, {"data": _event()}))
    _fails("fulfil_answer", _call("PATCH", fulfil, 200, {"data": _event(fulfilled=False)}), "FUL-1")
    done = _event(status="REVERSED", reversed_at="2026-11-20T11:00:00Z")
    checks.CHECKS["reverse_answer"].func(_call("POST", reverse, 200, {"data": done}))
    _fails(
        "reverse_answer", _call("POST", reverse, 200, {"data": _event(status="REVERSED")}), "REV-1"
    )
    early = _event(status="REVERSED", reversed_at="2026-11-19T11:00:00Z")
    _fails("reverse_answer", _call("POST", reverse, 200, {"data": early}), "REV-1")
    cancelled = _event(status="CANCELLED", cancelled_at=None)
    _fails("reverse_answer", _call("POST", reverse, 200, {"data": cancelled}), "REV-3")


def _preview(
    order_result: dict[str, Any] | None,
    products: list[dict[str, Any]] | None = None,
    brand: str = "b",
) -> Call:
    request: dict[str, Any] = {
        "customer_id": "c-1",
        "brand_id": "b",
        "order": {
            "value": 100.0,
            "redeem": [{"id": EVENT_ID, "amount": 10}],
            "products": [{"sku": "A", "value": 40.0}, {"sku": "B", "value": 60.0}],
        },
    }
    order: dict[str, Any] = {"value": 100.0, "products": products or request["order"]["products"]}
    if order_result is not None:
        order["redemptions_result"] = order_result
    return _call(
        "PUT",
        "/events/redeem/preview",
        200,
        {"data": {"customer_id": "c-1", "brand_id": brand, "order": order}},
        request,
    )


GOOD_RESULT = {
    "redeemed": [{"id": EVENT_ID, "amount": 10}],
    "amount": 10,
    "discount_value": 1.0,
    "discount_percent": 0.01,
    "value": 99.0,
    "action": "UPDATE",
}


def test_preview_checks_pass_a_good_answer() -> None:
    call = _preview(GOOD_RESULT)
    for name in ("preview_echo", "preview_results", "preview_arithmetic", "preview_percent"):
        checks.CHECKS[name].func(call)


@pytest.mark.parametrize(
    ("check", "call", "requirement"),
    [
        ("preview_echo", _preview(GOOD_RESULT, brand=""), "PRV-1"),
        ("preview_results", _preview(None), "PRV-3"),
        ("preview_results", _preview({**GOOD_RESULT, "discount_percent": 1.5}), "PRV-3"),
        ("preview_results", _preview({**GOOD_RESULT, "action": "DELETE"}), "PRV-3"),
        ("preview_results", _preview({**GOOD_RESULT, "redeemed": []}), "PRV-3"),
        ("preview_arithmetic", _preview({**GOOD_RESULT, "value": 100.0}), "PRV-4"),
        (
            "preview_arithmetic",
            _preview(GOOD_RESULT, products=[{"sku": "B"}, {"sku": "A"}]),
            "PRV-4",
        ),
        ("preview_percent", _preview({**GOOD_RESULT, "discount_percent": 0.5}), "PRV-7"),
    ],
)
def test_preview_checks_fail_a_bad_answer(check: str, call: Call, requirement: str) -> None:
    _fails(check, call, requirement)


def test_run_checks_reports_every_violation_of_one_call() -> None:
    call = _call(
        "POST", "/behavior/events", 201, {"data": _event(status="resolved", fulfilled=False)}, EMIT
    )
    with pytest.raises(checks.ViolationGroup) as caught:
        checks.run_checks(call)
    text = str(caught.value)
    assert "[GEN-4]" in text
    assert "[EMIT-1]" in text
