"""Unit tests of the schemathesis glue: failure translation, refusal rules, tailoring and
judging of hand-made exchanges (no server: nothing here sends a request)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
import requests
import schemathesis

from masivo_conformance.checks import fuzzed
from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.checks.fuzzed import BuiltinFailure
from masivo_conformance.suite import fuzzing
from masivo_conformance.suite.client import BudgetSpent, RequestBudget
from masivo_conformance.suite.storefront import CUSTOMER_PREFIX
from masivo_conformance.suite.tailoring import Tailor

BASE = "http://127.0.0.1:9/api/storefront/v1"
VALID_EMIT = {"customer_id": "c-1", "brand_id": "b-1", "type": "PURCHASE"}
EVENT_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
EVENT = {
    "id": EVENT_ID,
    "customer_id": "c-1",
    "type": "PURCHASE",
    "fulfilled": True,
    "status": "RESOLVED",
    "issued_at": "2026-11-20T10:00:00Z",
    "resolved_at": "2026-11-20T10:00:01Z",
}


def _failure(check: str) -> BuiltinFailure:
    return BuiltinFailure(check, "a title", "what schemathesis saw")


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
    assert fuzzed.requirement_for(_failure(check), call) == expected


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
        ("/behavior/events", {**VALID_EMIT, "order": {"value": None}}, 201, None),  # null: unset
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
    assert fuzzed.requirement_for(_failure("negative_data_rejection"), call) == expected


@pytest.mark.parametrize(
    ("check", "otherwise"),
    [("response_schema_conformance", "GEN-4"), ("content_type_conformance", "GEN-1")],
)
def test_a_bare_event_is_left_to_our_own_gen1_check(check: str, otherwise: str) -> None:
    bare = _call("POST", "/behavior/events", 201, EVENT, sent=VALID_EMIT)
    assert bare.bare_event
    assert fuzzed.requirement_for(_failure(check), bare) is None
    wrapped = _call("POST", "/behavior/events", 201, {"data": EVENT}, sent=VALID_EMIT)
    assert fuzzed.requirement_for(_failure(check), wrapped) == otherwise


# -- must_refuse --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (VALID_EMIT, None),
        ({**VALID_EMIT, "customer_id": None}, "EMIT-2"),  # null for a required member
        ({**VALID_EMIT, "brand_id": None}, "EMIT-2"),
        ({**VALID_EMIT, "type": None}, "EMIT-2"),
        ({**VALID_EMIT, "fulfilled": None}, None),  # null for an optional member: "not given"
        ({**VALID_EMIT, "order": None}, None),
        ({**VALID_EMIT, "order": {"value": None}}, None),  # null for an optional nested member
        ({**VALID_EMIT, "order": {"products": [{"sku": "A", "value": None}]}}, None),
        ({**VALID_EMIT, "redeem": [None]}, None),
        ({**VALID_EMIT, "fulfilled": "yes"}, "EMIT-2"),  # a non-null wrong type
        ({**VALID_EMIT, "order": {"value": "12"}}, "EMIT-2"),
        ({**VALID_EMIT, "order": {"value": None, "store_id": 7}}, "EMIT-2"),
        ({**VALID_EMIT, "customer_id": 7}, "EMIT-2"),
    ],
)
def test_must_refuse_emit(sent: Any, expected: str | None) -> None:
    assert fuzzed.must_refuse("emit_event", sent) == expected


def test_must_refuse_preview_and_other_operations() -> None:
    assert fuzzed.must_refuse("preview_order", {"customer_id": "c", "brand_id": "b"}) == "PRV-6"
    whole = {"customer_id": "c", "brand_id": "b", "order": {}}
    assert fuzzed.must_refuse("preview_order", whole) is None
    assert fuzzed.must_refuse("create_customer", {}) is None


def test_an_unmapped_check_is_a_programming_error() -> None:
    with pytest.raises(LookupError, match="unsupported_method"):
        fuzzed.requirement_for(_failure("unsupported_method"), _call("GET", "/rewards", 404))


def test_every_kept_check_maps_to_a_requirement_the_tests_carry() -> None:
    assert set(fuzzed.BUILTIN_CHECKS.values()) <= set(fuzzed.REQUIREMENTS)
    assert {"GEN-1", "GEN-2", "GEN-3", "GEN-4", "AUTH-1"} <= set(fuzzed.REQUIREMENTS)
    assert "GEN-5" not in fuzzed.REQUIREMENTS  # a SHOULD never fails a fuzz run


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
    content: bytes,
    content_type: str = "application/json",
    sent: Any = None,
    **case_parts: Any,
) -> tuple[Any, Any]:
    """A case and its answer, as schemathesis hands them to `judge`; `sent` is the JSON
    request body (of the case and of the request on the wire)."""
    if sent is not None:
        case_parts.setdefault("body", sent)
    case = schema[template][method].Case(**case_parts)
    prepared = requests.Request(method, BASE + path, json=sent).prepare()
    response = schemathesis.Response(
        status_code=status,
        headers={"content-type": [content_type]},
        content=content,
        request=prepared,
        elapsed=0.0,
        verify=True,
    )
    return case, response


def _violated(evidence: Evidence) -> dict[str, int]:
    return {r: t.violated for r, t in evidence.tallies.items() if t.violated}


def _judged(case: Any, response: Any) -> tuple[set[str], Evidence]:
    """The requirement ids `fuzzing.judge` records violated for one exchange (it never
    raises), and the evidence it recorded them in."""
    evidence = Evidence()
    call = fuzzing.judge(case, response, evidence)
    assert call is not None
    return set(_violated(evidence)), evidence


def test_judge_records_gen3_for_a_server_error_without_raising(schema: Any) -> None:
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
    violated, evidence = _judged(case, response)
    assert violated == {"GEN-3"}
    (finding,) = evidence.tallies["GEN-3"].findings
    assert f"/behavior/events/{event}/fulfill" in finding.reproducer
    assert "answered 500" in finding.message
    assert evidence.summary().startswith("[GEN-3]")


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
    violated, evidence = _judged(case, response)
    assert violated == {"GEN-2"}
    assert evidence.tallies["GEN-2"].violated == 1  # schemathesis's finding is not said again
    assert evidence.tallies["GEN-3"].held == 1


def test_judge_says_each_requirement_once_and_hides_no_other(schema: Any) -> None:
    """A success sent as text/plain: GEN-1 once (ours, not schemathesis's as well), and the
    token it carries is still judged (AUTH-2)."""
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
    violated, evidence = _judged(case, response)
    assert violated == {"GEN-1", "AUTH-2"}
    assert evidence.tallies["GEN-1"].violated == 1
    assert "content type 'text/plain'" in evidence.tallies["GEN-1"].findings[0].message
    assert "schemathesis" not in evidence.summary()


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
    violated, evidence = _judged(case, response)
    assert violated == {"AUTH-2"}
    assert "not a decodable JWT" in evidence.tallies["AUTH-2"].findings[0].message
    assert evidence.tallies["GEN-1"].held == 1


def test_judge_reports_a_bare_event_once_as_gen1_and_judges_the_event(schema: Any) -> None:
    case, response = _exchange(
        schema,
        "POST",
        "/behavior/events",
        "/behavior/events",
        201,
        json.dumps(EVENT).encode(),
        sent=VALID_EMIT,
    )
    _, evidence = _judged(case, response)
    gen1 = evidence.tallies["GEN-1"]
    assert (gen1.held, gen1.violated) == (0, 1)
    assert "top level" in gen1.findings[0].message
    # schemathesis's schema check fails on the missing envelope too; that is GEN-1's.
    assert evidence.tallies["GEN-4"].violated == 0
    assert evidence.tallies["GEN-4"].held == 1
    assert evidence.tallies["EMIT-1"].held == 1
    assert evidence.tallies["EMIT-1"].violated == 0


def test_judge_counts_a_refusal_the_contract_demands_as_held(schema: Any) -> None:
    sent = {k: v for k, v in VALID_EMIT.items() if k != "brand_id"}
    case, response = _exchange(
        schema,
        "POST",
        "/behavior/events",
        "/behavior/events",
        400,
        b'{"error": "Invalid", "details": "brand_id is required"}',
        sent=sent,
    )
    violated, evidence = _judged(case, response)
    assert violated == set()
    assert evidence.tallies["EMIT-2"].held == 1
    assert evidence.tallies["GEN-2"].held == 1


def test_judge_counts_no_refusal_where_none_is_demanded(schema: Any) -> None:
    case, response = _exchange(
        schema,
        "POST",
        "/behavior/events",
        "/behavior/events",
        404,
        b'{"error": "Not found", "details": "no customer c-1"}',
        sent=VALID_EMIT,
    )
    violated, evidence = _judged(case, response)
    assert violated == set()
    assert "EMIT-2" not in evidence.tallies


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
    evidence = Evidence()
    call = fuzzing.judge(case, response, evidence)
    assert call is not None
    assert call.operation == "get_customer"
    assert evidence.violations == 0
    assert evidence.tallies["GEN-2"].held == 1


# -- AuthProbe ---------------------------------------------------------------------------------


@dataclass
class _Probed:
    """A case the probe may derive a forged request from; the forged one is answered
    `answer` without any network."""

    label: str
    headers: dict[str, str] | None
    answer: int
    derived: list[dict[str, str]] = field(default_factory=list)

    @property
    def operation(self) -> Any:
        return SimpleNamespace(label=self.label)

    def derive(self, headers: dict[str, str]) -> Any:
        self.derived.append(headers)
        prepared = requests.Request("GET", BASE + "/customers/c-1", headers=headers).prepare()
        response = schemathesis.Response(
            status_code=self.answer,
            headers={"content-type": ["application/json"]},
            content=b'{"data": {}}',
            request=prepared,
            elapsed=0.0,
            verify=True,
        )
        return SimpleNamespace(
            method="GET",
            path="/customers/{id}",
            call=lambda **_: response,  # fuzzing.call passes its bounded session
            as_curl_command=lambda headers, verify: "curl forged",
        )


TOKEN = jwt.encode({"sub": "brand", "exp": 2_000_000_000}, "secret" * 6, algorithm="HS256")
OK = SimpleNamespace(status_code=200)


@pytest.mark.parametrize(("answer", "held"), [(401, True), (403, True), (200, False)])
def test_auth_probe_records_an_auth1_verdict(answer: int, held: bool) -> None:
    evidence = Evidence()
    probe = fuzzing.AuthProbe(TOKEN, evidence)
    case = _Probed(
        "GET /customers/{id}", {"Authorization": f"Bearer {TOKEN}", "X-Trace": "1"}, answer
    )
    probe(case, OK)
    (sent,) = case.derived
    assert sent["X-Trace"] == "1"
    forged = sent["Authorization"].removeprefix("Bearer ")
    assert forged != TOKEN
    assert jwt.decode(forged, options={"verify_signature": False})["sub"] == "brand"
    tally = evidence.tallies["AUTH-1"]
    assert (tally.held, tally.violated) == ((1, 0) if held else (0, 1))
    if not held:
        assert "answered 200 to a JWT signed by someone else" in tally.findings[0].message
        line = tally.findings[0].reproducer
        assert line.startswith("curl -sS -X GET ")
        assert forged in line  # the forged token, as sent


def test_auth_probe_probes_each_operation_once_after_its_first_success() -> None:
    evidence = Evidence()
    probe = fuzzing.AuthProbe(TOKEN, evidence)
    bearer = {"authorization": f"Bearer {TOKEN}"}
    refused = _Probed("GET /customers/{id}", bearer, 401)
    probe(refused, SimpleNamespace(status_code=404))  # not a success: not probed yet
    assert refused.derived == []
    probe(refused, OK)
    probe(refused, OK)
    assert len(refused.derived) == 1
    assert "authorization" not in refused.derived[0]  # replaced, not sent twice
    unauthenticated = _Probed("GET /auth/authorize", {"x-api-key": "k"}, 200)
    probe(unauthenticated, OK)
    assert unauthenticated.derived == []
    assert evidence.tallies["AUTH-1"].held == 1
    assert evidence.violations == 0


# -- links_machine -----------------------------------------------------------------------------


def test_links_machine_records_verdicts_instead_of_raising(schema: Any) -> None:
    seen: list[Call] = []
    probe = fuzzing.AuthProbe(TOKEN, Evidence())
    machine_class = fuzzing.links_machine(schema, TAILOR, probe, seen.append)
    assert not hasattr(machine_class, "first_violation")
    case, response = _exchange(
        schema,
        "GET",
        "/customers/{id}",
        "/customers/x",
        500,
        b'{"error": "boom", "details": "x"}',
        path_parameters={"id": "x"},
    )
    machine_class().validate_response(response, case)  # a violation, and nothing raised
    assert [c.status for c in seen] == [500]
    assert _violated(probe.evidence) == {"GEN-3": 1}


def test_the_auth_probe_never_shows_its_token() -> None:
    """Hypothesis prints fixtures' reprs into reports: the bearer token must not be there."""
    probe = fuzzing.AuthProbe("eyJhbGciOiJIUzI1NiJ9.secret.sig", Evidence())
    assert "eyJ" not in repr(probe)
    assert "secret" not in repr(probe)


@dataclass
class _Case:
    """A generated case that answers 429 `limited` times, then 200."""

    limited: int
    sent: int = 0
    method: str = "GET"
    path: str = "/customers/{id}"

    def call(self, **_: Any) -> Any:
        self.sent += 1
        status = 429 if self.sent <= self.limited else 200
        return SimpleNamespace(status_code=status, headers={"Retry-After": "0"})


def test_generated_requests_and_their_retries_are_taken_from_the_run_budget() -> None:
    budget = RequestBudget(limit=10)
    response = fuzzing.call(_Case(limited=2), budget)
    assert response.status_code == 200
    assert budget.spent == 3  # the request and its two retries
    assert budget.by_operation == {"get_customer": 3}


def test_a_spent_budget_stops_fuzzing_before_the_request_is_sent() -> None:
    budget = RequestBudget(limit=1)
    case = _Case(limited=1)
    with pytest.raises(BudgetSpent):
        fuzzing.call(case, budget)
    assert case.sent == 1  # the retry was never sent
