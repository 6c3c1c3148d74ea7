"""The reference server over plain HTTP: codes, auth, headers, bodies valid per schema."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from masivo_conformance import contract
from masivo_conformance.server.app import PREFIX

from .conftest import POINTS, Api

UNKNOWN_EVENT = "9a7b6c5d-0000-4000-8000-000000000000"


def valid(schema: str, body: object) -> None:
    assert contract.validate(schema, body) == [], body


def error_body(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    valid("error.schema.json", response.json())
    details: str = response.json()["details"]
    return details


def test_authorize_gives_a_one_hour_hs256_jwt(api: Api):
    response = api.http.get("/auth/authorize", headers={"x-api-key": api.server.api_key})
    assert response.status_code == 200
    valid("authorize.response.schema.json", response.json())
    token = response.json()["data"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["exp"] > time.time()


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"x-api-key": ""}])
def test_authorize_refuses_missing_or_wrong_keys(api: Api, headers):
    error_body(httpx.get(f"{api.server.base_url}/auth/authorize", headers=headers), 401)


def test_api_key_option_replaces_the_seed_key(make_api):
    api = make_api(api_key="my-own-key")
    assert api.server.api_key == "my-own-key"
    assert api.http.get("/rewards", params={"from": 0, "to": 9}).status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not.a.jwt",
        "Basic abc",
        "Bearer "
        + jwt.encode(
            {"iat": 1, "exp": 2**40, "iss": "x"}, "someone-else-entirely-secret-0123456789"
        ),
    ],
)
def test_every_operation_but_authorize_needs_a_valid_bearer_token(api: Api, authorization):
    headers = {"authorization": authorization} if authorization else {}
    plain = httpx.Client(base_url=api.server.base_url, headers=headers)
    calls = [
        plain.get("/customers/x"),
        plain.get("/rewards?from=0&to=1"),
        plain.get("/transactions"),
        plain.post("/customers", json={"id": "z"}),
        plain.post("/behavior/events", json={}),
        plain.patch(f"/behavior/events/{UNKNOWN_EVENT}/fulfill"),
        plain.post(f"/behavior/events/{UNKNOWN_EVENT}/reverse", json={"reason": "x"}),
        plain.put("/events/redeem/preview", json={}),
    ]
    for response in calls:
        error_body(response, 401)


def test_expired_token_is_refused_and_a_fresh_one_is_not(make_api):
    api = make_api()
    now = int(time.time())
    claims = {"iss": "masivo-conformance-reference-server", "iat": now - 7200, "exp": now - 3600}
    expired = jwt.encode(claims, api.secret(), algorithm="HS256")
    response = api.http.get("/customers/x", headers={"authorization": f"Bearer {expired}"})
    assert "expired" in error_body(response, 401)
    assert api.http.get("/customers/x").status_code == 404


def test_rate_limit_headers_on_every_answer_and_429_with_retry_after(make_api):
    api = make_api(rate_limit=4, rate_window=60)  # authorize used 1
    answers = [api.http.get("/rewards", params={"from": 0, "to": 1}) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    for response in answers:
        assert response.headers["x-ratelimit-limit"] == "4"
        assert int(response.headers["x-ratelimit-reset"]) > 0
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert int(answers[-1].headers["retry-after"]) > 0


def test_customers_create_read_and_conflict(api: Api):
    customer_id = api.customer()
    response = api.http.get(f"/customers/{customer_id}")
    valid("get-customer.response.schema.json", response.json())
    assert response.json()["data"]["customer"]["id"] == customer_id
    assert response.json()["data"]["wallet"]["totals"] == []
    error_body(api.http.post("/customers", json={"id": customer_id}), 409)
    error_body(api.http.get("/customers/nobody-here"), 404)


def test_emit_fulfil_reverse_answers_are_schema_valid_and_exact(api: Api):
    customer_id = api.customer()
    response = api.emit(customer_id, 80.5)
    assert response.status_code == 201
    valid("emit-event.response.schema.json", response.json())
    event = response.json()["data"]
    assert (event["customer_id"], event["status"], event["fulfilled"]) == (
        customer_id,
        "RESOLVED",
        True,
    )
    assert str(uuid.UUID(event["id"])) == event["id"]
    assert api.total(customer_id) == 80
    standby = api.event(customer_id, 10, fulfilled=False, redeem=[{"id": POINTS, "amount": 30}])
    assert api.total(customer_id) == 50
    fulfilled = api.fulfil(standby["id"])
    assert fulfilled.status_code == 200
    valid("fulfill-event.response.schema.json", fulfilled.json())
    assert api.total(customer_id) == 60
    reversed_ = api.reverse(event["id"])
    assert reversed_.status_code == 200
    valid("reverse-event.response.schema.json", reversed_.json())
    assert reversed_.json()["data"]["status"] == "REVERSED"
    assert api.total(customer_id) == -20  # the 80 points were partly spent: it may go below 0
    listed = api.http.get("/transactions", params={"event_id": event["id"]})
    valid("list-transactions.response.schema.json", listed.json())
    assert [t["type"] for t in listed.json()["data"]] == ["ACCUMULATION", "REVERSAL"]


def test_state_conflicts_answer_409(api: Api):
    customer_id = api.customer()
    event = api.event(customer_id, 5)
    error_body(api.fulfil(event["id"]), 409)
    assert api.reverse(event["id"]).status_code == 200
    error_body(api.reverse(event["id"]), 409)
    error_body(api.fulfil(event["id"]), 409)
    standby = api.event(customer_id, 5, fulfilled=False)
    assert api.reverse(standby["id"]).json()["data"]["status"] == "CANCELLED"
    error_body(api.fulfil(standby["id"]), 409)
    error_body(api.reverse(standby["id"]), 409)


@pytest.mark.parametrize("event_id", [UNKNOWN_EVENT, "evt_1", "%20", "x" * 300])
def test_unknown_event_ids_answer_404(api: Api, event_id):
    error_body(api.fulfil(event_id), 404)
    error_body(api.reverse(event_id), 404)


def test_reverse_without_reason_is_refused(api: Api):
    event = api.event(api.customer(), 5)
    assert "reason" in error_body(api.reverse(event["id"], reason=None), 422)
    empty = api.http.post(f"/behavior/events/{event['id']}/reverse", content=b"")
    error_body(empty, 422)


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"brand_id": None}, "brand_id"),
        ({"type": 7}, "type"),
        ({"fulfilled": "yes"}, "fulfilled"),
        ({"order": {"value": -1}}, "order.value"),
        ({"redeem": [{"id": "nope", "amount": 1}]}, "id"),
        ({"order": {"value": 1e13}}, "order.value"),
    ],
)
def test_emit_bad_body_is_422_naming_the_path_and_creates_nothing(api: Api, change, path):
    customer_id = api.customer()
    body = {**api.emit_body(customer_id, 10), **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = api.http.post("/behavior/events", json=body)
    assert path in error_body(response, 422)
    assert api.wallet(customer_id)["totals"] == []


@pytest.mark.parametrize("content", [b"{", b"", b"[1,", b'{"a": NaN}', b"\xff\xfe", b"1" * 5000])
def test_unparseable_body_is_400(api: Api, content):
    error_body(api.http.post("/behavior/events", content=content), 400)


@pytest.mark.parametrize("hours", [-80, 2])
def test_emit_issued_at_too_old_or_in_the_future_is_422(api: Api, hours):
    issued = (datetime.now(UTC) + timedelta(hours=hours)).isoformat()
    response = api.emit(api.customer(), 10, issued_at=issued)
    assert "issued_at" in error_body(response, 422)


def test_emit_and_preview_need_a_known_customer_and_brand(api: Api):
    error_body(api.emit("never-created", 10), 404)
    error_body(api.preview("never-created", {"value": 1}), 404)
    body = {**api.emit_body(api.customer(), 10), "brand_id": "other-brand"}
    error_body(api.http.post("/behavior/events", json=body), 404)


def test_preview_answers_the_order_and_changes_nothing(api: Api):
    customer_id = api.customer()
    api.event(customer_id, 100)
    order = {
        "value": 20,
        "products": [
            {"sku": "b", "value": 5, "redeem": [{"id": POINTS, "amount": 10}]},
            {"sku": "a", "value": 4},
        ],
        "shipping": {"value": 3, "redeem": [{"id": POINTS, "amount": 50}]},
    }
    redemptions = len(api.http.get("/transactions", params={"type": "REDEMPTION"}).json()["data"])
    for _ in range(3):
        response = api.preview(customer_id, order)
        assert response.status_code == 200
        valid("preview-order.response.schema.json", response.json())
    data = response.json()["data"]
    assert (data["customer_id"], data["brand_id"]) == (customer_id, api.brand_id)
    assert data["order"]["products"][0]["redemptions_result"]["discount_value"] == 1.0
    assert data["order"]["shipping"]["redemptions_result"]["value"] == 0
    assert api.total(customer_id) == 100
    after = api.http.get("/transactions", params={"type": "REDEMPTION"}).json()["data"]
    assert len(after) == redemptions


def test_preview_without_order_is_422(api: Api):
    body = {"customer_id": api.customer(), "brand_id": api.brand_id}
    assert "order" in error_body(api.http.put("/events/redeem/preview", json=body), 422)


def test_list_rewards_pages_and_filters(api: Api):
    response = api.http.get("/rewards", params={"from": 0, "to": 0})
    valid("list-rewards.response.schema.json", response.json())
    assert [r["type"] for r in response.json()["data"]] == ["POINTS"]
    both = api.http.get("/rewards", params={"from": 0, "to": 10, "brand_id": api.brand_id})
    assert len(both.json()["data"]) == 2
    only = api.http.get("/rewards", params={"from": 0, "to": 10, "type": "DISCOUNT"})
    assert [r["type"] for r in only.json()["data"]] == ["DISCOUNT"]
    refused: list[dict[str, Any]] = [
        {},
        {"from": 0},
        {"from": -1, "to": 2},
        {"from": "a", "to": 1},
        {"from": 0, "to": 1, "type": "COINS"},
    ]
    for params in refused:
        error_body(api.http.get("/rewards", params=params), 422)


def test_list_transactions_filters_and_refuses_bad_filters(api: Api):
    event = api.event(api.customer(), 10)
    by_type = api.http.get(
        "/transactions", params={"event_id": event["id"], "type": "REVERSAL", "date": "ignored"}
    )
    assert by_type.json()["data"] == []
    by_reward = api.http.get("/transactions", params={"event_id": event["id"], "reward_id": POINTS})
    assert len(by_reward.json()["data"]) == 1
    for params in ({"type": "GIFT"}, {"event_id": "nope"}, {"reward_id": "nope"}):
        error_body(api.http.get("/transactions", params=params), 422)


def test_unknown_routes_and_methods_answer_json_errors(api: Api):
    error_body(api.http.get("/nothing-here"), 404)
    assert api.http.delete("/customers").status_code == 405
    valid("error.schema.json", api.http.delete("/customers").json())


def test_configurable_codes_and_extra_members(make_api):
    api = make_api(emit_status=202, validation_status=400, extra_members=True)
    customer_id = api.customer()
    response = api.emit(customer_id, 10)
    assert response.status_code == 202
    assert response.json()["x_reference_server"]
    assert response.json()["data"]["result"]["transactions"][0]["x_reference_server"]
    assert api.http.post("/behavior/events", json={"type": "X"}).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/customers/%00",
        "/customers/a%2Fb",
        "/customers/%F0%9F%92%A9",
        "/customers/" + "x" * 5000,
        "/transactions?event_id=%00",
    ],
)
def test_odd_paths_are_refused_cleanly(api: Api, path):
    response = api.http.get(path)
    assert 400 <= response.status_code < 500
    valid("error.schema.json", response.json())


@pytest.mark.parametrize(
    "issued_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-01-01t00:00:00z"]
)
def test_a_fault_switched_stale_issued_at_still_never_crashes(make_api, issued_at):
    api = make_api(faults=frozenset({"emit_accepts_stale_issued_at"}))
    for fulfilled in (True, False):
        response = api.emit(api.customer(), 5, issued_at=issued_at, fulfilled=fulfilled)
        assert response.status_code == 201, response.text
        valid("emit-event.response.schema.json", response.json())


def test_lower_case_t_and_z_are_rfc_3339_too(api: Api):
    now = datetime.now(UTC).isoformat().replace("+00:00", "z").replace("T", "t")
    assert api.emit(api.customer(), 5, issued_at=now).status_code == 201


def test_healthz_says_whether_the_store_answers_and_spends_no_quota(make_api):
    """Issue 21: what a load balancer or a team's harness polls. Outside the storefront
    base path, public, and not counted by the rate limit (a probe every second must not
    leave the clients 429s)."""
    api = make_api(rate_limit=2, rate_window=60.0)
    health = api.server.base_url.removesuffix(PREFIX) + "/healthz"
    for _ in range(5):
        answer = httpx.get(health)
        assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
        assert "x-ratelimit-remaining" not in answer.headers
    assert api.http.get("/rewards", params={"from": 0, "to": 1}).status_code == 200
    api.server._store.close()  # the database is gone: the server is not healthy
    answer = httpx.get(health)
    assert (answer.status_code, answer.json()) == (503, {"status": "unavailable"})
