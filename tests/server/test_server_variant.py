"""The variant target (ServerConfig.variant()): every switch does what it says, over
plain HTTP, and the variant stays correct where the contract is strict."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from masivo_conformance import contract
from masivo_conformance.server import EmbeddedServer, ServerConfig
from masivo_conformance.server.config import VARIANT_JSON
from masivo_conformance.server.seed import VARIANT_SEED, load_seed

from .conftest import Api, Retry429

VARIANT = load_seed(VARIANT_SEED)
STARS = next(r.id for r in VARIANT.rewards if r.type == "POINTS")  # 2 per currency unit
UNKNOWN_EVENT = "4b3a2c1d-0000-4000-8000-000000000000"
# Where, as whom and how long to run: the variant leaves these to the caller.
_PLACE = {"host", "port", "db_path", "api_key", "faults", "rate_limit", "rate_window"}
_PLACE |= {"keep_alive_timeout", "header_timeout", "body_timeout", "max_connections", "reuse_port"}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    db_path = str(tmp_path_factory.mktemp("variant") / "db.sqlite")
    with EmbeddedServer(ServerConfig.variant(db_path=db_path)) as server:
        client = Api(server)
        yield client
        client.close()


def settle() -> None:
    """Past the variant's processing delay (0.3 s), with room for a slow machine."""
    time.sleep(0.5)


def valid(schema: str, response: httpx.Response) -> Any:
    """The answer's `data`, once the whole answer matched its schema."""
    assert contract.validate(schema, response.json()) == [], response.text
    return response.json()["data"]


def stars(api: Api, customer_id: str) -> float:
    return api.total(customer_id, STARS)


def test_variant_turns_every_switch_on_and_takes_overrides():
    default, variant = ServerConfig(), ServerConfig.variant()
    changed = {
        f.name
        for f in dataclasses.fields(ServerConfig)
        if getattr(default, f.name) != getattr(variant, f.name)
    }
    assert changed == {f.name for f in dataclasses.fields(ServerConfig)} - _PLACE
    assert ServerConfig.variant(emit_status=202, port=9).emit_status == 202
    assert ServerConfig.variant(emit_status=202, port=9).async_effects is True


def test_create_customer_answers_200(api: Api):
    response = api.http.post("/customers", json={"id": f"variant-{time.time_ns()}"})
    assert response.status_code == 200
    valid("create-customer.response.schema.json", response)


def test_refused_tokens_and_keys_answer_403(api: Api):
    forged = jwt.encode({"iat": 1, "exp": 2**40}, "another-secret-of-at-least-32-bytes!")
    for headers in ({}, {"authorization": f"Bearer {forged}"}, {"authorization": "Basic x"}):
        plain = httpx.Client(base_url=api.server.base_url, headers=headers, transport=Retry429())
        for response in (
            plain.get("/customers/x"),
            plain.get("/rewards", params={"from": 0, "to": 1}),
            plain.post("/behavior/events", json={}),
            plain.patch(f"/behavior/events/{UNKNOWN_EVENT}/fulfill"),
        ):
            assert response.status_code == 403, response.text
            assert contract.validate("error.schema.json", response.json()) == []
        plain.close()
    for key in ({}, {"x-api-key": "wrong"}):
        refused = api.http.get("/auth/authorize", headers={"authorization": "", **key})
        assert refused.status_code == 403


def test_fulfilled_emit_answers_pending_and_settles_later(api: Api):
    customer_id = api.customer()
    event = api.event(customer_id, 10.7)
    assert (event["status"], event["fulfilled"]) == ("PENDING", True)
    assert "transactions" not in event["result"]
    assert api.transactions(event["id"]) == []
    assert stars(api, customer_id) == 0
    settle()
    assert [t["type"] for t in api.transactions(event["id"])] == ["ACCUMULATION"]
    assert stars(api, customer_id) == 21


def test_fulfil_answers_pending_and_turns_the_reservation_into_a_redemption_later(api: Api):
    customer_id = api.customer()
    api.event(customer_id, 50)
    settle()
    standby = api.event(customer_id, 10, fulfilled=False, redeem=[{"id": STARS, "amount": 30}])
    assert stars(api, customer_id) == 70  # reserved at once
    fulfilled = valid("fulfill-event.response.schema.json", api.fulfil(standby["id"]))
    assert (fulfilled["id"], fulfilled["status"], fulfilled["fulfilled"]) == (
        standby["id"],
        "PENDING",
        True,
    )
    assert (api.transactions(standby["id"]), stars(api, customer_id)) == ([], 70)
    settle()
    listed = api.transactions(standby["id"])
    assert sorted((t["type"], t["amount"]) for t in listed) == [
        ("ACCUMULATION", 20),
        ("REDEMPTION", -30),
    ]
    assert stars(api, customer_id) == 90


def test_reverse_answers_reversed_at_once_and_restores_later(api: Api):
    customer_id = api.customer()
    event = api.event(customer_id, 5)
    settle()
    reversed_ = valid("reverse-event.response.schema.json", api.reverse(event["id"]))
    assert reversed_["status"] == "REVERSED"
    assert reversed_["reversed_at"] >= reversed_["issued_at"]
    assert stars(api, customer_id) == 10  # the ledger has not caught up yet
    settle()
    assert stars(api, customer_id) == 0
    assert [t["type"] for t in api.transactions(event["id"])] == ["REVERSAL", "ACCUMULATION"]


def test_cancel_answers_cancelled_at_once_and_releases_later(api: Api):
    customer_id = api.customer()
    api.event(customer_id, 20)
    settle()
    standby = api.event(customer_id, 10, fulfilled=False, redeem=[{"id": STARS, "amount": 15}])
    cancelled = valid("reverse-event.response.schema.json", api.reverse(standby["id"]))
    assert cancelled["status"] == "CANCELLED"
    assert (cancelled["cancelled_at"] is not None, cancelled["reversed_at"]) == (True, None)
    assert stars(api, customer_id) == 25
    settle()
    assert stars(api, customer_id) == 40


def test_state_conflicts_answer_409(api: Api):
    event = api.event(api.customer(), 5)
    assert api.reverse(event["id"]).status_code == 409  # still being processed
    settle()
    assert api.reverse(event["id"]).status_code == 200
    assert api.reverse(event["id"]).status_code == 409
    assert api.fulfil(event["id"]).status_code == 409


def test_refulfil_answers_200_with_the_unchanged_event_and_credits_nothing(api: Api):
    customer_id = api.customer()
    event = api.event(customer_id, 5)
    settle()
    first = valid("fulfill-event.response.schema.json", api.fulfil(event["id"]))
    assert (first["id"], first["status"], first["fulfilled"]) == (event["id"], "RESOLVED", True)
    pending = api.event(customer_id, 5)
    again = valid("fulfill-event.response.schema.json", api.fulfil(pending["id"]))
    assert (again["status"], again["fulfilled"]) == ("PENDING", True)
    settle()
    assert api.fulfil(pending["id"]).status_code == 200
    assert stars(api, customer_id) == 20
    assert len(api.transactions(event["id"])) == len(api.transactions(pending["id"])) == 1


def test_concurrent_reverses_of_a_settled_event_apply_once(api: Api):
    customer_id = api.customer()
    api.event(customer_id, 30)
    event = api.event(customer_id, 20, redeem=[{"id": STARS, "amount": 25}])
    settle()
    assert stars(api, customer_id) == 75
    barrier, codes = threading.Barrier(12), []

    def one() -> None:
        with httpx.Client(
            base_url=api.server.base_url,
            headers={"Authorization": api.http.headers["Authorization"]},
            transport=Retry429(),
            timeout=30,
        ) as client:
            barrier.wait()
            path = f"/behavior/events/{event['id']}/reverse"
            codes.append(client.post(path, json={"reason": "race"}).status_code)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [200] + [409] * 11
    settle()
    assert stars(api, customer_id) == 60
    assert [t["type"] for t in api.transactions(event["id"])].count("REVERSAL") == 2


def test_wallet_totals_come_split_per_event_and_sum_per_reward(api: Api):
    customer_id = api.customer()
    api.event(customer_id, 10)
    gone = api.event(customer_id, 3)
    api.event(customer_id, 10, redeem=[{"id": STARS, "amount": 4}])
    settle()
    response = api.http.get(f"/customers/{customer_id}")
    totals = valid("get-customer.response.schema.json", response)["wallet"]["totals"]
    assert [(t["reward_id"], t["total"]) for t in totals] == [
        (STARS, 20),
        (STARS, 6),
        (STARS, 16),  # the redemption and the accumulation of one event, netted
    ]
    api.reverse(gone["id"])
    settle()
    assert [t["total"] for t in api.wallet(customer_id)["totals"]] == [20, 16]


def test_transactions_are_listed_newest_first_without_event_id(api: Api):
    customer_id = api.customer()
    kept = api.event(customer_id, 10)
    event = api.event(customer_id, 10, redeem=[{"id": STARS, "amount": 4}])
    settle()
    api.reverse(event["id"])
    settle()
    response = api.http.get("/transactions", params={"event_id": event["id"]})
    listed = valid("list-transactions.response.schema.json", response)
    assert [(t["type"], t["amount"]) for t in listed] == [
        ("REVERSAL", -20),
        ("REVERSAL", 4),
        ("ACCUMULATION", 20),
        ("REDEMPTION", -4),
    ]
    assert all("event_id" not in t for t in listed)
    stamps = [t["created_at"] for t in listed]
    assert stamps == sorted(stamps, reverse=True)
    assert [t["type"] for t in api.transactions(kept["id"])] == ["ACCUMULATION"]


def test_rewards_list_a_discount_first_and_a_global_reward(api: Api):
    params: dict[str, str | int] = {"from": 0, "to": 10, "brand_id": api.brand_id}
    rewards = valid("list-rewards.response.schema.json", api.http.get("/rewards", params=params))
    assert rewards[0]["type"] != "POINTS"
    assert [r["brand_id"] for r in rewards] == [api.brand_id, api.brand_id, None]
    assert STARS in [r["id"] for r in rewards]
    other_brand = api.http.get("/rewards", params={**params, "brand_id": UNKNOWN_EVENT})
    assert [r["brand_id"] for r in other_brand.json()["data"]] == [None]


@pytest.mark.parametrize("params", [{}, {"from": 0}, {"to": 5}])
def test_rewards_need_from_and_to(api: Api, params):
    response = api.http.get("/rewards", params=params)
    assert response.status_code == 400
    assert contract.validate("error.schema.json", response.json()) == []


def test_every_37th_request_answers_429_with_retry_after_0(api: Api):
    plain = httpx.Client(base_url=api.server.base_url, headers=dict(api.http.headers))
    answers = [plain.get("/rewards", params={"from": 0, "to": 0}) for _ in range(74)]
    plain.close()
    refused = [i for i, r in enumerate(answers) if r.status_code == 429]
    assert len(refused) == 2
    assert refused[1] - refused[0] == 37
    assert {r.status_code for r in answers} == {200, 429}
    for response in (answers[refused[0]], answers[refused[0] + 1]):
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(
            response.headers
        )
    assert answers[refused[0]].headers["retry-after"] == "0"


def test_extra_members_everywhere(api: Api):
    event = api.emit(api.customer(), 5).json()
    assert event["x_reference_server"]
    assert event["data"]["x_reference_server"]
    settle()
    reversed_ = api.reverse(event["data"]["id"]).json()["data"]
    assert reversed_["result"]["transactions"][0]["x_reference_server"]


def test_redeem_amounts_of_0_are_refused(api: Api):
    customer_id = api.customer()
    zero = [{"id": STARS, "amount": 0}]
    product = {"sku": "a", "value": 5, "redeem": zero}
    for extra in ({"redeem": zero}, {"order": {"value": 5, "products": [product]}}):
        response = api.emit(customer_id, 5, **extra)
        assert response.status_code == 400
        assert "amount" in response.json()["details"]
    for order in (
        {"value": 5, "redeem": zero},
        {"value": 5, "shipping": {"value": 1, "redeem": zero}},
    ):
        assert api.preview(customer_id, order).status_code == 400
    assert (
        api.preview(customer_id, {"value": 5, "redeem": [{"id": STARS, "amount": 1}]}).status_code
        == 200
    )
    settle()
    assert api.wallet(customer_id)["totals"] == []


def test_success_content_type_has_a_charset_and_errors_stay_plain_json(api: Api):
    assert api.http.get("/rewards", params={"from": 0, "to": 0}).headers["content-type"] == (
        VARIANT_JSON
    )
    assert api.emit(api.customer(), 5).headers["content-type"] == VARIANT_JSON
    error = api.http.get("/customers/nobody")
    assert (error.status_code, error.headers["content-type"]) == (404, "application/json")


def test_async_effects_need_a_processing_delay(make_api):
    api = make_api(async_effects=True)  # no delay: everything settles in the answer
    event = api.event(api.customer(), 5)
    assert event["status"] == "RESOLVED"
    assert api.reverse(event["id"]).json()["data"]["status"] == "REVERSED"
    assert [t["type"] for t in api.transactions(event["id"])] == ["ACCUMULATION", "REVERSAL"]
