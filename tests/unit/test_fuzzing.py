"""Unit tests of the schemathesis glue: failure translation, refusal rules, tailoring and
judging of hand-made exchanges (no server: nothing here sends a request)."""

from __future__ import annotations

import json
import uuid
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
import requests
import schemathesis
from schemathesis.core.failures import Failure

from masivo_conformance import fuzzing
from masivo_conformance.calls import Call
from masivo_conformance.checks import ConformanceViolation, ViolationGroup
from masivo_conformance.storefront import CUSTOMER_PREFIX
from masivo_conformance.tailoring import Tailor

BASE = "http://127.0.0.1:9/api/storefront/v1"
FAILURE = Failure(operation="op", message="what schemathesis saw")
VALID_EMIT = {"customer_id": "c-1", "brand_id": "b-1", "type": "PURCHASE"}


def _call(
    method: str,
    path: str,
    status: int,
    body: Any = None,
    content_type: str = "application/json",
    sent: Any = None,
) -> Call:
    call = Call.build(
        method,
        BASE + path,
        None if sent is None else json.dumps(sent).encode(),
        status,
        {"content-type": content_type},
        json.dumps(body),
        "curl ...",
    )
    assert call is not None
    return call


# -- requirement_for ---------------------------------------------------------------------------


def _judged(case: Any, response: Any) -> set[str]:
    """The requirement ids `fuzzing.judge` raises for one exchange (it must raise)."""
    with pytest.raises((ConformanceViolation, ViolationGroup)) as raised:
        fuzzing.judge(case, response)
    return {v.requirement for v in getattr(raised.value, "violations", [raised.value])}


@pytest.mark.parametrize(
    ("check", "status", "content_type", "expected"),
    [
        ("not_a_server_error", 500, "application/json", "GEN-3"),
        ("response_schema_conformance", 200, "application/json", "GEN-4"),
        ("response_schema_conformance", 404, "application/json", "GEN-2"),
        ("response_schema_conformance", 429, "application/json", None),
        ("response_schema_conformance", 503, "application/json", None),
        ("content_type_conformance", 200, "text/plain", "GEN-1"),
        ("content_type_conformance", 422, "text/html", "GEN-2"),
        ("content_type_conformance", 422, "application/problem+json", None),
        ("ignored_auth", 200, "application/json", "AUTH-1"),
        ("missing_required_header", 400, "application/json", "AUTH-2"),
    ],
)
def test_requirement_for_maps_each_kept_check(
    check: str, status: int, content_type: str, expected: str | None
) -> None:
    call = _call("GET", "/rewards", status, {"data": []}, content_type)
    assert fuzzing.requirement_for(check, FAILURE, call) == expected


@pytest.mark.parametrize(
    ("path", "sent", "status", "expected"),
    [
        (
            "/behavior/events",
            {k: v for k, v in VALID_EMIT.items() if k != "brand_id"},
            201,
            "EMIT-2",
        ),
        ("/behavior/events", {**VALID_EMIT, "fulfilled": "yes"}, 201, "EMIT-2"),
        ("/behavior/events", {**VALID_EMIT, "order": {"value": "12"}}, 201, "EMIT-2"),
        ("/behavior/events", [VALID_EMIT], 201, "EMIT-2"),
        ("/behavior/events", {**VALID_EMIT, "customer_id": ""}, 201, None),  # minLength only
        ("/behavior/events", {**VALID_EMIT, "order": {"value": -1}}, 201, None),  # minimum only
        ("/behavior/events", {k: v for k, v in VALID_EMIT.items() if k != "type"}, 500, None),
        ("/events/redeem/preview", {"customer_id": "c", "brand_id": "b"}, 200, "PRV-6"),
        (
            "/events/redeem/preview",
            {"customer_id": "c", "brand_id": "b", "order": {"value": -3}},
            200,
            None,
        ),
        ("/customers", {"name": "no id"}, 201, None),  # no MUST obliges this refusal
    ],
)
def test_accepted_negative_data_counts_only_where_a_must_requires_a_refusal(
    path: str, sent: Any, status: int, expected: str | None
) -> None:
    method = "PUT" if "preview" in path else "POST"
    call = _call(method, path, status, {"data": {}}, sent=sent)
    assert fuzzing.requirement_for("negative_data_rejection", FAILURE, call) == expected


def test_an_unmapped_check_is_a_programming_error() -> None:
    with pytest.raises(LookupError, match="unsupported_method"):
        fuzzing.requirement_for("unsupported_method", FAILURE, _call("GET", "/rewards", 404))


def test_every_kept_check_maps_to_a_requirement_the_tests_carry() -> None:
    assert set(fuzzing.BUILTIN_CHECKS.values()) <= set(fuzzing.REQUIREMENTS)
    assert {"GEN-1", "GEN-2", "GEN-3", "GEN-4", "AUTH-1"} <= set(fuzzing.REQUIREMENTS)
    assert "GEN-5" not in fuzzing.REQUIREMENTS  # a SHOULD never fails a fuzz run


# -- Tailor ------------------------------------------------------------------------------------


def _case(method: str, path: str, body: Any = None, **parts: Any) -> Any:
    return SimpleNamespace(
        method=method,
        path=path,
        body=body,
        path_parameters=parts.get("path_parameters"),
        query=parts.get("query"),
    )


FRESH = iter(f"fresh-{i}" for i in range(1000))
TAILOR = Tailor("brand-1", f"{CUSTOMER_PREFIX}known", "listed-event", lambda: next(FRESH))


def test_tailor_prefixes_created_customers_with_a_fresh_number() -> None:
    tailor = Tailor("b", "c", "e", lambda: "f")
    first, second = (
        _case("POST", "/customers", {"id": "abc"}),
        _case("POST", "/customers", {"id": "abc"}),
    )
    tailor.apply(first)
    tailor.apply(second)
    assert first.body["id"] == f"{CUSTOMER_PREFIX}fz-0-abc"
    assert second.body["id"] == f"{CUSTOMER_PREFIX}fz-1-abc"


def test_tailor_points_emits_at_our_brand_and_customers() -> None:
    seen = set()
    for drawn in ("a", "b", "c", "d", "e", "f", "g", "h"):
        case = _case("POST", "/behavior/events", {**VALID_EMIT, "customer_id": drawn})
        TAILOR.apply(case)
        assert case.body["brand_id"] == "brand-1"
        assert case.body["customer_id"].startswith(CUSTOMER_PREFIX)
        seen.add(
            "known"
            if case.body["customer_id"] == TAILOR.customer_id
            else "long"
            if len(case.body["customer_id"]) >= 300
            else "own"
        )
    assert seen == {"known", "long", "own"}


def test_tailor_keeps_linked_and_negated_values() -> None:
    linked = _case("GET", "/customers/{id}", path_parameters={"id": f"{CUSTOMER_PREFIX}made"})
    negated = _case("POST", "/behavior/events", {"customer_id": 7, "brand_id": "", "type": "x"})
    TAILOR.apply(linked)
    TAILOR.apply(negated)
    assert linked.path_parameters["id"] == f"{CUSTOMER_PREFIX}made"
    assert negated.body == {"customer_id": 7, "brand_id": "", "type": "x"}


def test_tailor_gives_half_of_the_fulfils_a_fresh_event_of_ours() -> None:
    drawn = [str(uuid.UUID(int=i)) for i in range(1, 40)]
    cases = [
        _case("PATCH", "/behavior/events/{eventId}/fulfill", path_parameters={"eventId": d})
        for d in drawn
    ]
    for case in cases:
        TAILOR.apply(case)
    fresh = [
        c.path_parameters["eventId"]
        for c, d in zip(cases, drawn, strict=True)
        if c.path_parameters["eventId"] != d
    ]
    assert 0 < len(fresh) < len(cases)
    assert all(f.startswith("fresh-") for f in fresh)
    assert len(set(fresh)) == len(fresh)  # one new event per request: replays meet no reuse
    not_uuid = _case(
        "PATCH", "/behavior/events/{eventId}/fulfill", path_parameters={"eventId": "not-a-uuid"}
    )
    TAILOR.apply(not_uuid)
    assert not_uuid.path_parameters["eventId"] == "not-a-uuid"


def test_tailor_lists_the_transactions_of_our_event_for_half_of_the_drawn_ids() -> None:
    cases = [
        _case("GET", "/transactions", query={"event_id": str(uuid.UUID(int=i))})
        for i in range(1, 40)
    ]
    for case in cases:
        TAILOR.apply(case)
    assert 0 < sum(c.query["event_id"] == "listed-event" for c in cases) < len(cases)


# -- judge -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> Any:
    return fuzzing.schema_for(BASE, "token")


def _exchange(
    schema: Any,
    method: str,
    template: str,
    path: str,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    **case_parts: Any,
) -> tuple[Any, Any]:
    case = schema[template][method].Case(**case_parts)
    prepared = requests.Request(method, BASE + path).prepare()
    response = schemathesis.Response(
        status_code=status,
        headers={"content-type": [content_type]},
        content=body,
        request=prepared,
        elapsed=0.0,
        verify=True,
    )
    return case, response


def test_judge_names_gen3_for_a_server_error(schema: Any) -> None:
    event = str(uuid.uuid4())
    case, response = _exchange(
        schema,
        "PATCH",
        "/behavior/events/{eventId}/fulfill",
        f"/behavior/events/{event}/fulfill",
        500,
        b'{"error": "boom", "details": "x"}',
        path_parameters={"eventId": event},
    )
    with pytest.raises(ConformanceViolation, match=r"^\[GEN-3\]") as raised:
        fuzzing.judge(case, response)
    assert f"/behavior/events/{event}/fulfill" in raised.value.reproducer


def test_judge_names_gen2_for_an_error_body_without_error_and_details(schema: Any) -> None:
    case, response = _exchange(
        schema,
        "GET",
        "/customers/{id}",
        "/customers/x",
        404,
        b'{"message": "no such customer"}',
        path_parameters={"id": "x"},
    )
    assert _judged(case, response) == {"GEN-2"}


def test_judge_reports_a_success_out_of_its_envelope_once_as_gen1(schema: Any) -> None:
    case, response = _exchange(
        schema,
        "GET",
        "/auth/authorize",
        "/auth/authorize",
        200,
        b'{"data": "a.b.c"}',
        content_type="text/plain",
        headers={"x-api-key": "k"},
    )
    assert _judged(case, response) == {"GEN-1"}


def test_judge_runs_our_single_call_checks_too(schema: Any) -> None:
    case, response = _exchange(
        schema,
        "GET",
        "/auth/authorize",
        "/auth/authorize",
        200,
        b'{"data": "a.b.c"}',
        headers={"x-api-key": "k"},
    )
    with pytest.raises(ConformanceViolation, match=r"^\[AUTH-2\].*not a decodable JWT"):
        fuzzing.judge(case, response)


def test_judge_passes_a_conformant_refusal(schema: Any) -> None:
    case, response = _exchange(
        schema,
        "GET",
        "/customers/{id}",
        "/customers/x",
        404,
        b'{"error": "Not found", "details": "no customer x"}',
        path_parameters={"id": "x"},
    )
    call = fuzzing.judge(case, response)
    assert call is not None
    assert call.operation == "get_customer"


def test_forged_tokens_keep_the_claims_but_not_the_signature() -> None:
    real = jwt.encode(
        {"sub": "brand", "iss": "masivo", "exp": 2_000_000_000}, "secret" * 6, algorithm="HS256"
    )
    forged = fuzzing._forged(real)
    assert jwt.decode(forged, options={"verify_signature": False})["sub"] == "brand"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, "secret" * 6, algorithms=["HS256"])
