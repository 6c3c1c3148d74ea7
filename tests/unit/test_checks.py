"""Each single-call check holds on a good answer, fails a bad one with its own id, and
says when its requirement does not apply; `judge_call` records every verdict."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jwt
import pytest

from masivo_conformance import checks
from masivo_conformance.checks import ConformanceViolation
from masivo_conformance.checks.calls import NOT_JSON, Call
from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.checks.values import same_enum, timestamp
from masivo_conformance.contract.catalogue import catalogue

BASE = "http://127.0.0.1:1/api/storefront/v1"
EVENT_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
FULFIL = f"/behavior/events/{EVENT_ID}/fulfill"
REVERSE = f"/behavior/events/{EVENT_ID}/reverse"


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


def _holds(check: str, call: Call) -> None:
    """The check judged the answer and its requirement held."""
    assert checks.CHECKS[check].func(call) is True


def _not_applicable(check: str, call: Call) -> None:
    """The check's requirement does not speak of this answer: nothing judged."""
    assert checks.CHECKS[check].func(call) is False


def _fails(check: str, call: Call, requirement: str, match: str = "") -> None:
    with pytest.raises(ConformanceViolation) as caught:
        checks.CHECKS[check].func(call)
    assert caught.value.requirement == requirement
    assert checks.CHECKS[check].requirement == requirement
    assert str(caught.value).startswith(f"[{requirement}]")
    assert caught.value.reproducer == "curl ..."
    if match:
        assert match in caught.value.detail


EMIT = {"customer_id": "c-1", "brand_id": "b", "type": "PURCHASE"}


def test_every_check_judges_one_catalogue_id() -> None:
    requirements = catalogue()
    for name, entry in checks.CHECKS.items():
        assert entry.name == name
        assert entry.requirement in requirements
    judged = [entry.requirement for entry in checks.CHECKS.values()]
    assert len(judged) == len(set(judged)), "two checks judge the same requirement"


def test_must_checks_are_exactly_the_checks_of_must_requirements() -> None:
    requirements = catalogue()
    musts = checks.must_checks()
    assert set(musts) == {
        name for name, entry in checks.CHECKS.items() if requirements[entry.requirement].is_must
    }
    assert "rate_limit_headers" not in musts  # GEN-5 is a SHOULD
    assert {"success_envelope", "reversal_answer", "cancellation_answer"} <= set(musts)


# -- the Call -----------------------------------------------------------------------------------


def test_bodies_are_parsed_as_json_whatever_the_content_type() -> None:
    plain = _call("GET", "/rewards", 200, {"data": []}, content_type="text/plain")
    assert plain.body == {"data": []}
    assert plain.data == []
    assert _call("GET", "/rewards", 200, "<html>", content_type="text/html").body is NOT_JSON


def test_media_type_drops_parameters_and_case() -> None:
    call = _call(
        "GET", "/rewards", 200, {"data": []}, content_type="Application/JSON; charset=UTF-8"
    )
    assert call.content_type == "Application/JSON; charset=UTF-8"
    assert call.media_type == "application/json"


def test_data_is_the_bare_event_itself_when_the_envelope_is_missing() -> None:
    bare = _call("POST", "/behavior/events", 201, _event(), EMIT)
    assert bare.bare_event
    assert bare.data == _event()
    wrapped = _call("POST", "/behavior/events", 201, {"data": _event()}, EMIT)
    assert not wrapped.bare_event
    assert wrapped.data == _event()
    # Only event operations answer an Event: elsewhere the body is not read as one.
    other = _call("GET", "/customers/x", 200, _event())
    assert not other.bare_event
    assert other.data is None


# -- general ------------------------------------------------------------------------------------


def test_success_envelope() -> None:
    _holds("success_envelope", _call("POST", "/behavior/events", 201, {"data": _event()}, EMIT))
    _holds("success_envelope", _call("GET", "/rewards", 200, {"data": []}))
    _fails(
        "success_envelope",
        _call("GET", "/rewards", 200, {"data": []}, content_type="text/plain"),
        "GEN-1",
        "content type 'text/plain'",
    )
    _fails("success_envelope", _call("GET", "/rewards", 200, [{"id": "r"}]), "GEN-1", "'data'")
    _fails(
        "success_envelope",
        _call("POST", "/behavior/events", 201, {"data": {"id": EVENT_ID}}, EMIT),
        "GEN-1",
        "not an Event",
    )
    _not_applicable("success_envelope", _call("GET", "/customers/x", 404, {"error": "x"}))


def test_success_envelope_compares_media_types_as_media_types() -> None:
    for content_type in (
        "Application/JSON; charset=utf-8",
        "application/json;charset=UTF-8",
        " APPLICATION/JSON ",
    ):
        _holds(
            "success_envelope",
            _call("GET", "/rewards", 200, {"data": []}, content_type=content_type),
        )
    _fails(
        "success_envelope",
        _call("GET", "/rewards", 200, {"data": []}, content_type="application/jsonx"),
        "GEN-1",
    )


def test_success_envelope_allows_other_members_beside_data() -> None:
    body = {"data": _event(), "meta": {"request_id": "r-1"}, "links": []}
    _holds("success_envelope", _call("POST", "/behavior/events", 201, body, EMIT))
    _holds("success_envelope", _call("GET", "/rewards", 200, {"data": [], "total": 0}))


def test_success_envelope_flags_a_bare_event() -> None:
    _fails(
        "success_envelope",
        _call("POST", "/behavior/events", 201, _event(), EMIT),
        "GEN-1",
        "top level",
    )
    # An Event whose own (optional) `data` member is an object is still a bare Event.
    _fails(
        "success_envelope",
        _call("POST", "/behavior/events", 201, _event(data={}), EMIT),
        "GEN-1",
        "top level",
    )
    _fails("success_envelope", _call("POST", REVERSE, 200, _event(status="REVERSED")), "GEN-1")


def test_error_envelope() -> None:
    _holds(
        "error_envelope",
        _call("GET", "/customers/x", 404, {"error": "Not found", "details": "no customer x"}),
    )
    _holds(
        "error_envelope",
        _call(
            "GET",
            "/customers/x",
            422,
            {"error": "Invalid", "details": "x", "code": 7},
            content_type="application/problem+json; charset=utf-8",
        ),
    )
    _not_applicable(
        "error_envelope", _call("GET", "/customers/x", 429, "slow down", content_type="text/plain")
    )
    _not_applicable("error_envelope", _call("GET", "/rewards", 200, {"data": []}))
    _fails("error_envelope", _call("GET", "/customers/x", 404, {"message": "nope"}), "GEN-2")
    _fails(
        "error_envelope",
        _call("GET", "/customers/x", 404, {"error": "Not found", "details": 3}),
        "GEN-2",
        "'details'",
    )
    _fails(
        "error_envelope",
        _call("GET", "/customers/x", 404, "<h1>Not found</h1>", content_type="text/html"),
        "GEN-2",
        "not a JSON object",
    )


def test_error_envelope_needs_a_json_media_type() -> None:
    body = {"error": "Not found", "details": "no customer x"}
    _fails(
        "error_envelope",
        _call("GET", "/customers/x", 404, body, content_type="text/plain"),
        "GEN-2",
        "expected JSON",
    )


def test_no_server_error() -> None:
    _fails(
        "no_server_error",
        _call("GET", "/rewards", 502, "bad gateway", content_type="text/html"),
        "GEN-3",
    )
    _holds("no_server_error", _call("GET", "/customers/x", 404, {"error": "x", "details": "y"}))


def test_response_schema_names_the_failing_path() -> None:
    bad = _call("POST", "/behavior/events", 201, {"data": _event(status="resolved")}, EMIT)
    with pytest.raises(ConformanceViolation, match=r"\$\.data\.status"):
        checks.CHECKS["response_schema"].func(bad)
    _holds("response_schema", _call("POST", "/behavior/events", 201, {"data": _event()}, EMIT))
    _not_applicable("response_schema", _call("GET", "/customers/x", 404, {"error": "x"}))
    _not_applicable(
        "response_schema", _call("GET", "/rewards", 200, "<html>", content_type="text/html")
    )


def test_response_schema_judges_a_bare_event_as_the_payload_it_carries() -> None:
    _holds("response_schema", _call("POST", "/behavior/events", 201, _event(), EMIT))
    bad = _call("POST", "/behavior/events", 201, _event(status="resolved"), EMIT)
    with pytest.raises(ConformanceViolation, match=r"\$\.data\.status"):
        checks.CHECKS["response_schema"].func(bad)


def test_rate_limit_headers() -> None:
    limits = {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "9", "x-ratelimit-reset": "5"}
    _holds("rate_limit_headers", _call("GET", "/rewards", 200, {"data": []}, headers=limits))
    _holds(
        "rate_limit_headers",
        _call("GET", "/rewards", 429, {}, headers={**limits, "retry-after": "1"}),
    )
    _fails("rate_limit_headers", _call("GET", "/rewards", 429, {}, headers=limits), "GEN-5")
    _fails("rate_limit_headers", _call("GET", "/rewards", 200, {"data": []}), "GEN-5")


def test_token_shape_and_lifetime() -> None:
    now = int(time.time())
    good = jwt.encode({"iat": now, "exp": now + 3600}, "k" * 32, algorithm="HS256")
    long = jwt.encode({"iat": now, "exp": now + 86400}, "k" * 32, algorithm="HS256")
    stale = jwt.encode({"iat": now - 7200, "exp": now - 3600}, "k" * 32, algorithm="HS256")
    no_iat = jwt.encode({"exp": now + 86400}, "k" * 32, algorithm="HS256")
    authorize = "/auth/authorize"
    _holds("token_shape", _call("GET", authorize, 200, {"data": good}))
    _holds("token_lifetime", _call("GET", authorize, 200, {"data": good}))
    _fails("token_shape", _call("GET", authorize, 200, {"data": stale}), "AUTH-2")
    _fails("token_shape", _call("GET", authorize, 200, {"data": "opaque"}), "AUTH-2")
    _fails("token_lifetime", _call("GET", authorize, 200, {"data": long}), "AUTH-3")
    _not_applicable("token_lifetime", _call("GET", authorize, 200, {"data": no_iat}))
    _not_applicable("token_shape", _call("GET", authorize, 401, {"error": "x", "details": "y"}))


# -- events -------------------------------------------------------------------------------------


def test_emit_echo_and_state() -> None:
    _holds("emit_echo", _call("POST", "/behavior/events", 201, {"data": _event()}, EMIT))
    _holds("emit_state", _call("POST", "/behavior/events", 201, {"data": _event()}, EMIT))
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
        "emit_echo",
        _call("POST", "/behavior/events", 201, {"data": _event(customer_id="c-2")}, EMIT),
        "EMIT-1",
        "customer_id",
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
    _not_applicable(
        "emit_echo", _call("POST", "/behavior/events", 400, {"error": "x", "details": "y"}, EMIT)
    )


def test_event_checks_read_enums_whatever_their_case() -> None:
    """The case of an enum is GEN-4's to judge; EMIT-4 judges what it means."""
    _fails(
        "emit_state",
        _call(
            "POST", "/behavior/events", 201, {"data": _event(status="resolved", resolved_at=None)}
        ),
        "EMIT-4",
    )
    _fails(
        "emit_state",
        _call(
            "POST",
            "/behavior/events",
            201,
            {"data": _event(status="Resolved", fulfilled=False)},
            {**EMIT, "fulfilled": False},
        ),
        "EMIT-4",
        "standby",
    )


def test_emit_checks_judge_a_bare_event() -> None:
    _holds("emit_echo", _call("POST", "/behavior/events", 201, _event(), EMIT))
    _fails(
        "emit_echo",
        _call("POST", "/behavior/events", 201, _event(type="SIGNUP"), EMIT),
        "EMIT-1",
        "type",
    )


def test_fulfil_answer() -> None:
    _holds("fulfil_answer", _call("PATCH", FULFIL, 200, {"data": _event()}))
    _fails("fulfil_answer", _call("PATCH", FULFIL, 200, {"data": _event(fulfilled=False)}), "FUL-1")
    _fails(
        "fulfil_answer",
        _call("PATCH", FULFIL, 200, {"data": _event(id="another")}),
        "FUL-1",
        "answered event 'another'",
    )
    _not_applicable("fulfil_answer", _call("PATCH", FULFIL, 404, {"error": "x", "details": "y"}))


def test_reversal_answer() -> None:
    done = _event(status="REVERSED", reversed_at="2026-11-20T11:00:00Z")
    _holds("reversal_answer", _call("POST", REVERSE, 200, {"data": done}))
    _fails(
        "reversal_answer",
        _call("POST", REVERSE, 200, {"data": _event(status="REVERSED")}),
        "REV-1",
        "reversed_at is None",
    )
    early = _event(status="REVERSED", reversed_at="2026-11-19T11:00:00Z")
    _fails("reversal_answer", _call("POST", REVERSE, 200, {"data": early}), "REV-1", "before")
    other = _event(id="another", status="REVERSED", reversed_at="2026-11-20T11:00:00Z")
    _fails("reversal_answer", _call("POST", REVERSE, 200, {"data": other}), "REV-1", "another")


def test_reversal_answer_judges_only_reversed_answers() -> None:
    cancelled = _event(status="CANCELLED", cancelled_at="2026-11-20T11:00:00Z")
    _not_applicable("reversal_answer", _call("POST", REVERSE, 200, {"data": cancelled}))
    _not_applicable("reversal_answer", _call("POST", REVERSE, 200, {"data": _event()}))
    _not_applicable("reversal_answer", _call("POST", REVERSE, 409, {"error": "x", "details": "y"}))
    # REVERSED is read whatever its case (the case is GEN-4's).
    _fails(
        "reversal_answer",
        _call("POST", REVERSE, 200, {"data": _event(status="reversed")}),
        "REV-1",
    )


@pytest.mark.parametrize(
    ("issued_at", "reversed_at", "held"),
    [
        ("2026-11-20T10:00:00Z", "2026-11-20T11:00:00", True),  # naive reads as UTC
        ("2026-11-20T10:00:00", "2026-11-20T11:00:00+00:00", True),
        ("2026-11-20T10:00:00Z", "2026-11-20T10:30:00+01:00", False),  # 09:30 UTC
        ("2026-11-20T10:00:00Z", 1795172400, True),  # epoch seconds: 2026-11-20T11:00Z
        ("2026-11-20T10:00:00Z", 1795172400000, True),  # epoch milliseconds
        (1795172400, "2026-11-20T10:00:00", False),
        (None, "2026-11-20T11:00:00Z", True),  # nothing to compare with
    ],
)
def test_reversal_answer_compares_times_of_any_form(
    issued_at: Any, reversed_at: Any, held: bool
) -> None:
    event = _event(status="REVERSED", issued_at=issued_at, reversed_at=reversed_at)
    call = _call("POST", REVERSE, 200, {"data": event})
    if held:
        _holds("reversal_answer", call)
    else:
        _fails("reversal_answer", call, "REV-1", "before issued_at")


def test_cancellation_answer() -> None:
    cancelled = _event(status="CANCELLED", cancelled_at="2026-11-20T11:00:00Z")
    _holds("cancellation_answer", _call("POST", REVERSE, 200, {"data": cancelled}))
    _holds(
        "cancellation_answer",
        _call("POST", REVERSE, 200, {"data": {**cancelled, "status": "cancelled"}}),
    )
    _fails(
        "cancellation_answer",
        _call("POST", REVERSE, 200, {"data": _event(status="CANCELLED", cancelled_at=None)}),
        "REV-3",
    )
    both = {**cancelled, "reversed_at": "2026-11-20T11:00:00Z"}
    _fails("cancellation_answer", _call("POST", REVERSE, 200, {"data": both}), "REV-3")
    _fails(
        "cancellation_answer",
        _call("POST", REVERSE, 200, {"data": {**cancelled, "id": "another"}}),
        "REV-3",
        "another",
    )
    done = _event(status="REVERSED", reversed_at="2026-11-20T11:00:00Z")
    _not_applicable("cancellation_answer", _call("POST", REVERSE, 200, {"data": done}))


# -- time and enums -----------------------------------------------------------------------------

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-20T12:00:00Z", NOON),
        ("2026-11-20T12:00:00+00:00", NOON),
        ("2026-11-20T14:00:00+02:00", NOON),
        ("2026-11-20T07:00:00-05:00", NOON),
        ("2026-11-20T12:00:00", NOON),  # naive: UTC
        ("2026-11-20T12:00:00.250Z", NOON + timedelta(milliseconds=250)),
        (1795172400 + 3600, NOON),  # epoch seconds
        (1795172400.5 + 3600, NOON + timedelta(milliseconds=500)),
        ((1795172400 + 3600) * 1000, NOON),  # epoch milliseconds
        ((1795172400 + 3600) * 1000 + 250, NOON + timedelta(milliseconds=250)),
    ],
)
def test_timestamp_reads_every_form_as_an_aware_utc_time(value: Any, expected: datetime) -> None:
    parsed = timestamp(value)
    assert parsed is not None
    assert parsed.tzinfo is not None
    assert parsed == expected


def test_timestamp_keeps_the_offset_it_was_given() -> None:
    parsed = timestamp("2026-11-20T14:00:00+02:00")
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(hours=2)
    assert parsed.tzinfo == timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    "value",
    [None, True, False, "", "yesterday", "2026-13-40T00:00:00Z", [], {}, float("nan"), 1e300],
)
def test_timestamp_is_none_for_what_is_no_time(value: Any) -> None:
    assert timestamp(value) is None


def test_timestamps_of_any_form_compare_without_raising() -> None:
    forms: list[Any] = [
        "2026-11-20T12:00:00Z",
        "2026-11-20T12:00:00",
        "2026-11-20T12:00:00+05:30",
        "2026-11-20",
        1795172400,
        1795172400.25,
        1795172400000,
    ]
    parsed = [timestamp(value) for value in forms]
    assert all(p is not None for p in parsed)
    for a, b in itertools.product(parsed, repeat=2):
        assert a is not None
        assert b is not None
        assert (a < b) or (a >= b)  # a naive and an aware time would raise TypeError here
        assert (a == b) == (a - b == timedelta(0))


def test_same_enum_ignores_case_only() -> None:
    assert same_enum("REVERSED", "REVERSED")
    assert same_enum("reversed", "REVERSED")
    assert same_enum("Reversed", "REVERSED")
    assert not same_enum("REVERSE", "REVERSED")
    assert not same_enum(" REVERSED", "REVERSED")
    assert not same_enum(None, "REVERSED")
    assert not same_enum(1, "REVERSED")


# -- preview ------------------------------------------------------------------------------------


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
        _holds(name, call)


def test_preview_checks_do_not_apply_to_other_answers() -> None:
    refused = _call(
        "PUT", "/events/redeem/preview", 400, {"error": "x", "details": "y"}, {"order": {}}
    )
    for name in ("preview_echo", "preview_results", "preview_arithmetic", "preview_percent"):
        _not_applicable(name, refused)
        _not_applicable(name, _call("GET", "/rewards", 200, {"data": []}))


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


# -- judge_call ---------------------------------------------------------------------------------


def _violated(evidence: Evidence) -> dict[str, int]:
    return {r: t.violated for r, t in evidence.tallies.items() if t.violated}


def _held(evidence: Evidence) -> dict[str, int]:
    return {r: t.held for r, t in evidence.tallies.items() if t.held}


def test_judge_call_records_every_violation_and_no_check_stops_another() -> None:
    call = _call(
        "POST", "/behavior/events", 201, {"data": _event(status="resolved", fulfilled=False)}, EMIT
    )
    evidence = Evidence()
    violated = checks.judge_call(call, evidence, checks.must_checks())
    assert violated == {"GEN-4", "EMIT-1"}
    assert _violated(evidence) == {"GEN-4": 1, "EMIT-1": 1}
    # The checks after and between the violated ones still judged the answer.
    assert _held(evidence) == {"GEN-1": 1, "GEN-3": 1, "EMIT-4": 1}
    summary = evidence.summary()
    assert "[GEN-4]" in summary
    assert "[EMIT-1]" in summary
    assert "reproduce: curl ..." in summary


def test_judge_call_records_nothing_for_checks_that_do_not_apply() -> None:
    evidence = Evidence()
    call = _call("GET", "/rewards", 200, {"data": []})
    assert checks.judge_call(call, evidence, checks.must_checks()) == set()
    assert _held(evidence) == {"GEN-1": 1, "GEN-3": 1, "GEN-4": 1}
    assert _violated(evidence) == {}
    assert not {"EMIT-1", "FUL-1", "REV-1", "REV-3", "PRV-1", "AUTH-2"} & set(evidence.tallies)


def test_judge_call_runs_every_check_by_default_and_only_the_named_ones_when_asked() -> None:
    call = _call("GET", "/rewards", 200, {"data": []})  # no rate-limit headers
    everything = Evidence()
    assert checks.judge_call(call, everything) == {"GEN-5"}
    named = Evidence()
    assert checks.judge_call(call, named, ["no_server_error"]) == set()
    assert set(named.tallies) == {"GEN-3"}


def test_judge_call_counts_across_calls() -> None:
    evidence = Evidence()
    good = _call("GET", "/rewards", 200, {"data": []})
    bad = _call("GET", "/rewards", 500, "boom", content_type="text/plain")
    for call in (good, good, bad):
        checks.judge_call(call, evidence, ["no_server_error"])
    tally = evidence.tallies["GEN-3"]
    assert (tally.held, tally.violated) == (2, 1)
    assert evidence.violations == 1


def test_a_bare_event_is_one_gen1_violation_and_the_event_is_still_judged() -> None:
    evidence = Evidence()
    call = _call("POST", "/behavior/events", 201, _event(), EMIT)
    assert checks.judge_call(call, evidence, checks.must_checks()) == {"GEN-1"}
    assert _violated(evidence) == {"GEN-1": 1}
    assert _held(evidence) == {"EMIT-1": 1, "EMIT-4": 1, "GEN-3": 1, "GEN-4": 1}


def test_a_bare_event_with_a_wrong_echo_is_violated_on_both_counts() -> None:
    evidence = Evidence()
    call = _call("POST", "/behavior/events", 201, _event(type="SIGNUP"), EMIT)
    assert checks.judge_call(call, evidence, checks.must_checks()) == {"GEN-1", "EMIT-1"}
    assert evidence.tallies["GEN-1"].violated == 1
    assert evidence.tallies["EMIT-1"].violated == 1


def test_a_wrong_content_type_does_not_hide_the_payload() -> None:
    evidence = Evidence()
    call = _call(
        "POST",
        "/behavior/events",
        201,
        {"data": _event(customer_id="c-2")},
        EMIT,
        content_type="text/plain",
    )
    assert checks.judge_call(call, evidence, checks.must_checks()) == {"GEN-1", "EMIT-1"}
    assert evidence.tallies["GEN-4"].held == 1
