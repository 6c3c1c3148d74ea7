"""The static mock answers every operation with one schema-valid example, whatever the request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
import yaml

from masivo_conformance import contract
from tests.targets.static_mock import (
    BRAND_ID,
    CUSTOMER_ID,
    EVENT_ID,
    JWT_SECRET,
    OPERATIONS,
    RATE_LIMIT_HEADERS,
    REWARD_ID,
    Operation,
    StaticMock,
    static_answers,
)

UNKNOWN_EVENT = "00000000-0000-4000-8000-000000000000"
# One plausible request per operation (what a client of the real API would send).
GOOD_REQUESTS: dict[str, dict[str, Any]] = {
    "authorize": {"headers": {"x-api-key": "any"}},
    "create_customer": {"json": {"id": "mc-1", "name": "A", "email": "a@example.com"}},
    "get_customer": {},
    "list_rewards": {"params": {"from": 0, "to": 10, "brand_id": BRAND_ID}},
    "list_transactions": {"params": {"event_id": EVENT_ID}},
    "emit_event": {"json": {"customer_id": "mc-1", "brand_id": BRAND_ID, "type": "PURCHASE"}},
    "fulfill_event": {},
    "reverse_event": {"json": {"reason": "test"}},
    "preview_order": {
        "json": {"customer_id": "mc-1", "brand_id": BRAND_ID, "order": {"value": 10}}
    },
}
PATH_VALUES = {"id": CUSTOMER_ID, "eventId": EVENT_ID}


@pytest.fixture(scope="module")
def mock() -> Iterator[StaticMock]:
    with StaticMock() as started:
        yield started


@pytest.fixture(scope="module")
def http(mock: StaticMock) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mock.base_url, timeout=5) as client:
        yield client


def _call(
    http: httpx.Client, op: Operation, path_values: dict[str, str], **kwargs: Any
) -> httpx.Response:
    return http.request(op.method, op.path.format(**path_values), **kwargs)


def _op(name: str) -> Operation:
    return next(op for op in OPERATIONS if op.name == name)


def test_operations_are_those_of_the_openapi_document() -> None:
    document = yaml.safe_load(contract.openapi_path().read_text(encoding="utf-8"))
    documented = {
        item["operationId"]: (method.upper(), path, item["responses"])
        for path, methods in document["paths"].items()
        for method, item in methods.items()
    }
    assert {op.name for op in OPERATIONS} == set(documented)
    for op in OPERATIONS:
        method, path, responses = documented[op.name]
        assert (op.method, op.path) == (method, path), op.name
        success = str(op.status) if str(op.status) in responses else "2XX"
        assert success in responses, f"{op.name}: {op.status} is not a documented success"
        ref = responses[success]["content"]["application/json"]["schema"]["$ref"]
        assert ref.removeprefix("./") == op.schema, op.name


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_every_fixed_answer_is_schema_valid(op: Operation) -> None:
    body = static_answers()[op.name]
    assert contract.validate(op.schema, body) == [], body


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_served_answer_is_the_fixed_one_and_schema_valid(
    mock: StaticMock, http: httpx.Client, op: Operation
) -> None:
    response = _call(http, op, PATH_VALUES, **GOOD_REQUESTS[op.name])
    assert response.status_code == op.status
    assert response.headers["content-type"].startswith("application/json")
    for name, value in RATE_LIMIT_HEADERS.items():
        assert response.headers[name] == value
    body = response.json()
    assert body == mock.answers[op.name]
    assert contract.validate(op.schema, body) == [], body


def test_the_fixed_answers_fit_together(mock: StaticMock) -> None:
    answers = mock.answers
    assert [r["id"] for r in answers["list_rewards"]["data"]] == [REWARD_ID]
    assert answers["list_rewards"]["data"][0]["type"] == "POINTS"
    assert answers["list_rewards"]["data"][0]["brand_id"] == mock.brand_id == BRAND_ID
    totals = answers["get_customer"]["data"]["wallet"]["totals"]
    assert [t["reward_id"] for t in totals] == [REWARD_ID]
    [transaction] = answers["list_transactions"]["data"]
    assert (transaction["type"], transaction["event_id"]) == ("ACCUMULATION", EVENT_ID)
    event = answers["emit_event"]["data"]
    assert answers["fulfill_event"]["data"] == event
    assert (event["id"], event["customer_id"], event["type"]) == (
        EVENT_ID,
        CUSTOMER_ID,
        "PURCHASE",
    )
    assert (event["status"], event["fulfilled"]) == ("RESOLVED", True)
    assert event["resolved_at"] is not None
    reversed_event = answers["reverse_event"]["data"]
    assert reversed_event["id"] == EVENT_ID
    assert reversed_event["status"] == "REVERSED"
    assert reversed_event["reversed_at"] >= reversed_event["issued_at"]
    preview = answers["preview_order"]["data"]
    assert (preview["customer_id"], preview["brand_id"]) == (CUSTOMER_ID, BRAND_ID)


def test_authorize_gives_a_one_hour_hs256_token(mock: StaticMock, http: httpx.Client) -> None:
    token = http.get("/auth/authorize").json()["data"]
    assert token == mock.token
    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    assert isinstance(claims["exp"], int)
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["iat"] <= time.time() + 1 < claims["exp"]


REFUSED_BY_A_REAL_SERVER = [
    pytest.param(
        "emit_event",
        {},
        {"json": {"brand_id": BRAND_ID, "type": "PURCHASE"}},
        id="emit-without-customer_id",
    ),
    pytest.param("emit_event", {}, {"content": b"{not json"}, id="emit-unparseable-json"),
    pytest.param("fulfill_event", {"eventId": UNKNOWN_EVENT}, {}, id="fulfill-unknown-event"),
    pytest.param("fulfill_event", {"eventId": "not-a-uuid"}, {}, id="fulfill-malformed-id"),
    pytest.param(
        "reverse_event", {"eventId": UNKNOWN_EVENT}, {"json": {}}, id="reverse-unknown-no-reason"
    ),
    pytest.param(
        "preview_order",
        {},
        {"json": {"customer_id": "mc-1", "brand_id": BRAND_ID}},
        id="preview-without-order",
    ),
    pytest.param("get_customer", {"id": "never-created"}, {}, id="get-unknown-customer"),
    pytest.param("authorize", {}, {}, id="authorize-without-key"),
    pytest.param(
        "list_rewards", {}, {"headers": {"Authorization": "Bearer forged.token.x"}}, id="bad-token"
    ),
]


@pytest.mark.parametrize(("name", "path_values", "request_kwargs"), REFUSED_BY_A_REAL_SERVER)
def test_answers_success_to_what_a_real_server_must_refuse(
    mock: StaticMock,
    http: httpx.Client,
    name: str,
    path_values: dict[str, str],
    request_kwargs: dict[str, Any],
) -> None:
    op = _op(name)
    response = _call(http, op, {**PATH_VALUES, **path_values}, **request_kwargs)
    assert response.status_code == op.status
    assert response.json() == mock.answers[name]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_no_authorization_header_is_needed(
    mock: StaticMock, http: httpx.Client, op: Operation
) -> None:
    # The module's client never sets Authorization, and no body or query is sent either.
    response = _call(http, op, PATH_VALUES)
    assert "authorization" not in response.request.headers
    assert response.status_code == op.status
    assert response.json() == mock.answers[op.name]


def test_stop_frees_the_port() -> None:
    mock = StaticMock().start()
    url = f"{mock.base_url}/rewards"
    assert httpx.get(url, timeout=5).status_code == 200
    mock.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=1)
