"""Every fault shows its violation through plain HTTP when on, and is invisible when off.

A probe drives the few calls that expose one fault and answers "is the violation
there?". Each probe runs twice: on a server with only that fault (must be True) and on
a correct server (must be False).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from masivo_conformance import contract
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.server import FAULTS, EmbeddedServer, ServerConfig

from .conftest import POINTS, Api

UNKNOWN_EVENT = "1f0e2d3c-0000-4000-8000-000000000000"
UNKNOWN_REWARD = "2e1d0c9b-0000-4000-8000-000000000000"
Probe = Callable[[Api], bool]
PROBES: dict[str, Probe] = {}


def probe(name: str) -> Callable[[Probe], Probe]:
    def register(function: Probe) -> Probe:
        PROBES[name] = function
        return function

    return register


def is_uuid(value: object) -> bool:
    try:
        return str(uuid.UUID(str(value))) == value
    except ValueError:
        return False


def funded(api: Api, points: float = 100) -> str:
    customer_id = api.customer()
    api.event(customer_id, points)
    return customer_id


def standby_of(api: Api, customer_id: str, **extra: object) -> str:
    body = api.emit_body(customer_id, 10, fulfilled=False, **extra)
    event_id: str = api.http.post("/behavior/events", json=body).json()["data"]["id"]
    return event_id


@probe("emit_bare_event")
def _(api: Api) -> bool:
    return "status" in api.emit(api.customer(), 5).json()


@probe("text_plain_success")
def _(api: Api) -> bool:
    response = api.fulfil(standby_of(api, api.customer()))
    return response.headers["content-type"].startswith("text/plain")


@probe("error_body_message_only")
def _(api: Api) -> bool:
    return "error" not in api.http.get("/customers/nobody").json()


@probe("crash_on_long_customer_id")
def _(api: Api) -> bool:
    customer_id = "c" * 201
    api.http.post("/customers", json={"id": customer_id})
    return api.emit(customer_id, 5).status_code >= 500


@probe("lowercase_status")
def _(api: Api) -> bool:
    return bool(api.emit(api.customer(), 5).json()["data"]["status"] == "resolved")


@probe("epoch_timestamps")
def _(api: Api) -> bool:
    return isinstance(api.emit(api.customer(), 5).json()["data"]["issued_at"], float)


@probe("wallet_totals_object")
def _(api: Api) -> bool:
    return isinstance(api.wallet(funded(api))["totals"], dict)


@probe("amount_as_string")
def _(api: Api) -> bool:
    event_id = api.emit(api.customer(), 5).json()["data"]["id"]
    return isinstance(api.transactions(event_id)[0]["amount"], str)


@probe("transaction_missing_type")
def _(api: Api) -> bool:
    event_id = api.emit(api.customer(), 5).json()["data"]["id"]
    return "type" not in api.transactions(event_id)[0]


@probe("non_uuid_event_id")
def _(api: Api) -> bool:
    event_id = standby_of(api, api.customer())
    assert api.fulfil(event_id).status_code == 200  # the odd id still works
    return not is_uuid(event_id)


@probe("no_rate_limit_headers")
def _(api: Api) -> bool:
    return "x-ratelimit-limit" not in api.http.get("/customers/nobody").headers


@probe("unverified_token_signature")
def _(api: Api) -> bool:
    now = int(time.time())
    claims = {"iss": "masivo-conformance-reference-server", "iat": now - 7200, "exp": now - 3600}
    token = jwt.encode(claims, "someone-else's-secret-of-32-bytes!", algorithm="HS256")
    response = api.http.get("/rewards?from=0&to=1", headers={"authorization": f"Bearer {token}"})
    return response.status_code == 200


@probe("authorize_accepts_any_key")
def _(api: Api) -> bool:
    return api.http.get("/auth/authorize", headers={"x-api-key": "guess"}).status_code == 200


@probe("long_lived_token")
def _(api: Api) -> bool:
    token = api.http.get("/auth/authorize", headers={"x-api-key": api.server.api_key})
    claims = jwt.decode(token.json()["data"], options={"verify_signature": False})
    return bool(claims["exp"] - claims["iat"] > 3600)


@probe("emit_ignores_fulfilled_flag")
def _(api: Api) -> bool:
    return bool(api.emit(api.customer(), 5, fulfilled=False).json()["data"]["fulfilled"])


@probe("emit_accepts_missing_brand")
def _(api: Api) -> bool:
    body = api.emit_body(api.customer(), 5)
    del body["brand_id"]
    return api.http.post("/behavior/events", json=body).status_code < 400


@probe("emit_accepts_stale_issued_at")
def _(api: Api) -> bool:
    stale = (datetime.now(UTC) - timedelta(hours=80)).isoformat()
    return api.emit(api.customer(), 5, issued_at=stale).status_code < 400


@probe("resolved_without_resolved_at")
def _(api: Api) -> bool:
    event = api.emit(api.customer(), 5).json()["data"]
    return (event["status"], event["resolved_at"]) == ("RESOLVED", None)


@probe("fulfil_answers_unfulfilled")
def _(api: Api) -> bool:
    return api.fulfil(standby_of(api, api.customer())).json()["data"]["fulfilled"] is False


@probe("deferred_fulfil_double_credit")
def _(api: Api) -> bool:
    now, later = api.customer(), api.customer()
    api.emit(now, 10)
    api.fulfil(standby_of(api, later))
    return api.total(now) != api.total(later)


@probe("fulfil_unknown_event_ok")
def _(api: Api) -> bool:
    return api.fulfil(UNKNOWN_EVENT).status_code == 200


@probe("fulfil_after_reverse_credits")
def _(api: Api) -> bool:
    customer_id = api.customer()
    event_id = api.emit(customer_id, 10).json()["data"]["id"]
    api.reverse(event_id)
    return api.fulfil(event_id).status_code < 400 or api.total(customer_id) != 0


@probe("refulfil_credits_again")
def _(api: Api) -> bool:
    customer_id = api.customer()
    event_id = api.emit(customer_id, 10).json()["data"]["id"]
    api.fulfil(event_id)
    return api.total(customer_id) != 10


@probe("reverse_forgets_reversed_at")
def _(api: Api) -> bool:
    event_id = api.emit(api.customer(), 10).json()["data"]["id"]
    return api.reverse(event_id).json()["data"]["reversed_at"] is None


@probe("reverse_keeps_points")
def _(api: Api) -> bool:
    customer_id = api.customer()
    event_id = api.emit(customer_id, 10).json()["data"]["id"]
    api.reverse(event_id)
    return api.total(customer_id) != 0


@probe("cancel_keeps_reservation")
def _(api: Api) -> bool:
    customer_id = funded(api, 50)
    api.reverse(standby_of(api, customer_id, redeem=[{"id": POINTS, "amount": 20}]))
    return api.total(customer_id) != 50


@probe("double_reverse_accepted")
def _(api: Api) -> bool:
    event_id = api.emit(api.customer(), 10).json()["data"]["id"]
    api.reverse(event_id)
    return api.reverse(event_id).status_code < 400


@probe("reverse_unknown_event_ok")
def _(api: Api) -> bool:
    return api.reverse(UNKNOWN_EVENT).status_code == 200


@probe("reverse_not_atomic")
def _(api: Api) -> bool:
    event_id = api.emit(api.customer(), 10).json()["data"]["id"]
    headers = {"Authorization": api.http.headers["Authorization"]}
    barrier, codes = threading.Barrier(6), []

    def one() -> None:
        with httpx.Client(base_url=api.server.base_url, headers=headers) as client:
            barrier.wait()
            codes.append(
                client.post(
                    f"/behavior/events/{event_id}/reverse", json={"reason": "race"}
                ).status_code
            )

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes.count(200) > 1


@probe("reverse_without_reason_accepted")
def _(api: Api) -> bool:
    event_id = api.emit(api.customer(), 10).json()["data"]["id"]
    return api.reverse(event_id, reason=None).status_code < 400


@probe("preview_drops_brand_id")
def _(api: Api) -> bool:
    answer = api.preview(api.customer(), {"value": 1}).json()["data"]
    return bool(answer["brand_id"] != api.brand_id)


@probe("preview_consumes_points")
def _(api: Api) -> bool:
    customer_id = funded(api, 50)
    api.preview(customer_id, {"value": 10, "redeem": [{"id": POINTS, "amount": 20}]})
    return api.total(customer_id) != 50


@probe("preview_skips_shipping_result")
def _(api: Api) -> bool:
    order = {"value": 10, "shipping": {"value": 2, "redeem": [{"id": POINTS, "amount": 1}]}}
    shipping = api.preview(funded(api), order).json()["data"]["order"]["shipping"]
    return "redemptions_result" not in shipping


@probe("preview_reorders_products")
def _(api: Api) -> bool:
    order = {"value": 10, "products": [{"sku": "a", "value": 1}, {"sku": "b", "value": 2}]}
    products = api.preview(funded(api), order).json()["data"]["order"]["products"]
    return [p["sku"] for p in products] != ["a", "b"]


@probe("preview_sorts_products")
def _(api: Api) -> bool:
    order = {"value": 10, "products": [{"sku": "b", "value": 1}, {"sku": "a", "value": 2}]}
    products = api.preview(funded(api), order).json()["data"]["order"]["products"]
    return [p["sku"] for p in products] != ["b", "a"]


@probe("preview_answers_201")
def _(api: Api) -> bool:
    return api.preview(api.customer(), {"value": 1}).status_code != 200


@probe("preview_rejects_unknown_reward")
def _(api: Api) -> bool:
    order = {"value": 10, "redeem": [{"id": UNKNOWN_REWARD, "amount": 1}]}
    return api.preview(funded(api), order).status_code != 200


@probe("preview_accepts_missing_order")
def _(api: Api) -> bool:
    body = {"customer_id": api.customer(), "brand_id": api.brand_id}
    return api.http.put("/events/redeem/preview", json=body).status_code < 400


@probe("preview_percent_of_order_total")
def _(api: Api) -> bool:
    order = {
        "value": 100,
        "products": [{"sku": "a", "value": 10, "redeem": [{"id": POINTS, "amount": 10}]}],
    }
    result = api.preview(funded(api), order).json()["data"]["order"]["products"][0]
    return bool(abs(result["redemptions_result"]["discount_percent"] - 0.1) > 0.005)


@probe("naive_timestamps")
def _(api: Api) -> bool:
    issued = api.emit(api.customer(), 5).json()["data"]["issued_at"]
    return datetime.fromisoformat(issued).tzinfo is None


@probe("authorize_wrong_key_402")
def _(api: Api) -> bool:
    return api.http.get("/auth/authorize", headers={"x-api-key": "wrong"}).status_code == 402


@probe("emit_refuses_zulu_time")
def _(api: Api) -> bool:
    zulu = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return api.emit(api.customer(), 5, issued_at=zulu).status_code == 422


@probe("refused_emit_credits_later")
def _(api: Api) -> bool:
    customer_id = api.customer()
    body = api.emit_body(customer_id, 12)
    del body["brand_id"]
    assert api.http.post("/behavior/events", json=body).status_code == 422
    time.sleep(0.5)  # the regression credits 200 ms after the refusal
    return api.total(customer_id) != 0


@probe("every_other_emit_never_settles")
def _(api: Api) -> bool:
    customer_id = api.customer()
    api.event(customer_id, 10)
    api.event(customer_id, 10)  # one of the two is an even purchase of the server
    return api.total(customer_id) != 20


@probe("reversal_unlisted_without_event_id")
def _(api: Api) -> bool:
    event_id = api.event(api.customer(), 10)["id"]
    api.reverse(event_id)
    return "REVERSAL" not in [t["type"] for t in api.transactions(event_id)]


@probe("preview_records_redemption")
def _(api: Api) -> bool:
    customer_id = api.customer()
    event_id = api.event(customer_id, 50)["id"]
    before = api.transactions(event_id)
    api.preview(customer_id, {"value": 10, "redeem": [{"id": POINTS, "amount": 20}]})
    return api.transactions(event_id) != before


@probe("emit_accepts_non_object_metadata")
def _(api: Api) -> bool:
    # The old EMIT-2 defects are still refused: only the new member lets a wrong type in.
    assert api.emit(api.customer(), 5, fulfilled="yes").status_code == 422
    return api.emit(api.customer(), 5, metadata="{}").status_code < 400


@probe("emit_accepts_unvalidated_products")
def _(api: Api) -> bool:
    refused = {"products": {"sku": "SKU-1"}, "redeem": []}  # not an array: still refused
    assert api.emit(api.customer(), 5, order=refused).status_code == 422
    item = {"sku": 1, "amount": "1", "value": "5", "tags": "{}", "metadata": []}
    response = api.emit(api.customer(), 5, order={"products": [item]})
    return response.status_code < 400 and response.json()["data"]["status"] == "RESOLVED"


def _redeeming_standby_fulfilled(api: Api, customer_id: str) -> str:
    """A standby purchase of 10 (earns 10) reserving 20 points, then fulfilled."""
    event_id = standby_of(api, customer_id, redeem=[{"id": POINTS, "amount": 20}])
    assert api.fulfil(event_id).status_code == 200
    return event_id


# Three ways to get a redeeming standby event wrong; each shows as a wallet that is not
# the 50 earned, less the 20 redeemed, plus the 10 the purchase earns.
@probe("fulfil_keeps_reservation")
@probe("fulfil_releases_reservation")
@probe("standby_reserves_nothing")
def _(api: Api) -> bool:
    customer_id = funded(api, 50)
    _redeeming_standby_fulfilled(api, customer_id)
    return api.total(customer_id) != 50 - 20 + 10


@probe("refulfil_redeems_again")
def _(api: Api) -> bool:
    customer_id = funded(api, 50)
    event_id = _redeeming_standby_fulfilled(api, customer_id)
    api.fulfil(event_id)
    return api.total(customer_id) != 50 - 20 + 10


@probe("failed_without_resolved_at")
def _(api: Api) -> bool:
    emitted = api.emit(api.customer(), 5, redeem=[{"id": POINTS, "amount": 20}])  # holds 0
    event = emitted.json()["data"]
    assert event["status"] == "FAILED"
    return event["resolved_at"] is None


def _redeems_at(api: Api, **level: object) -> bool:
    """A customer holding 50 emits a fulfilled purchase of 10 (earns 10) redeeming 5 at
    one level: True when the wallet is not 50 - 5 + 10 (the redemption not applied)."""
    customer_id = funded(api, 50)
    assert api.emit(customer_id, 10, **level).json()["data"]["status"] == "RESOLVED"
    return api.total(customer_id) != 50 - 5 + 10


_FIVE = [{"id": POINTS, "amount": 5}]


@probe("emit_ignores_top_level_redeem")
def _(api: Api) -> bool:
    return _redeems_at(api, redeem=_FIVE)


@probe("emit_ignores_order_redeem")
def _(api: Api) -> bool:
    return _redeems_at(api, order={"redeem": _FIVE})


@probe("emit_ignores_product_redeem")
def _(api: Api) -> bool:
    return _redeems_at(api, order={"products": [{"sku": "a", "value": 10, "redeem": _FIVE}]})


@probe("emit_ignores_shipping_redeem")
def _(api: Api) -> bool:
    return _redeems_at(api, order={"shipping": {"value": 2, "redeem": _FIVE}})


def test_every_fault_has_a_probe_and_every_requirement_a_fault():
    assert set(PROBES) == set(FAULTS)
    broken = {f.requirement for f in FAULTS.values()}
    assert broken <= set(catalogue().ids)
    assert {r.id for r in catalogue() if r.is_must} <= broken


@pytest.fixture(scope="module")
def correct_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    db_path = str(tmp_path_factory.mktemp("correct") / "db.sqlite")
    with EmbeddedServer(ServerConfig(db_path=db_path)) as server:
        api = Api(server)
        yield api
        api.close()


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_shows_its_violation_when_on(make_api, name):
    assert PROBES[name](make_api(faults=frozenset({name}))), f"{name} on: no violation seen"


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_is_invisible_when_off(correct_api, name):
    assert not PROBES[name](correct_api), f"{name} off: violation seen anyway"


def _shape(response: httpx.Response, schema: str) -> None:
    """A 2xx matches the operation's schema, a 4xx (not 429) the error schema, no 5xx."""
    assert response.status_code < 500, response.text
    if response.status_code < 300:
        assert contract.validate(schema, response.json()) == [], response.text
    elif response.status_code != 429:
        assert contract.validate("error.schema.json", response.json()) == [], response.text


_ENVELOPE_OR_SCHEMA = {"GEN-1", "GEN-2", "GEN-4"}  # faults that break exactly these shapes


@pytest.mark.parametrize(
    "name", sorted(n for n, f in FAULTS.items() if f.requirement not in _ENVELOPE_OR_SCHEMA)
)
def test_fault_keeps_every_answer_well_formed(make_api, name):
    api = make_api(faults=frozenset({name}))
    customer_id = api.customer()
    _shape(api.http.get(f"/customers/{customer_id}"), "get-customer.response.schema.json")
    _shape(
        api.http.get("/rewards", params={"from": 0, "to": 5}), "list-rewards.response.schema.json"
    )
    emitted = api.emit(customer_id, 100)
    _shape(emitted, "emit-event.response.schema.json")
    standby = api.emit(customer_id, 10, fulfilled=False, redeem=[{"id": POINTS, "amount": 10}])
    _shape(standby, "emit-event.response.schema.json")
    _shape(api.fulfil(standby.json()["data"]["id"]), "fulfill-event.response.schema.json")
    cancelled = api.emit(customer_id, 10, fulfilled=False)
    _shape(api.reverse(cancelled.json()["data"]["id"]), "reverse-event.response.schema.json")
    _shape(api.reverse(emitted.json()["data"]["id"]), "reverse-event.response.schema.json")
    listed = api.http.get("/transactions", params={"event_id": emitted.json()["data"]["id"]})
    _shape(listed, "list-transactions.response.schema.json")
    order = {
        "value": 30,
        "redeem": [{"id": POINTS, "amount": 5}],
        "products": [
            {"sku": "a", "value": 10, "redeem": [{"id": POINTS, "amount": 1}]},
            {"sku": "b", "value": 5},
        ],
        "shipping": {"value": 3, "redeem": [{"id": UNKNOWN_REWARD, "amount": 1}]},
    }
    _shape(api.preview(customer_id, order), "preview-order.response.schema.json")
    _shape(api.fulfil(UNKNOWN_EVENT), "fulfill-event.response.schema.json")
    _shape(api.reverse(UNKNOWN_EVENT), "reverse-event.response.schema.json")
    _shape(api.http.post("/behavior/events", json={"type": 1}), "emit-event.response.schema.json")


# -- the faults of issue 18's probes ------------------------------------------------------


def _raw_emit(api: Api, content: bytes) -> httpx.Response:
    return api.http.post(
        "/behavior/events", content=content, headers={"Content-Type": "application/json"}
    )


@probe("crash_on_empty_body")
def _(api: Api) -> bool:
    return _raw_emit(api, b"").status_code >= 500


@probe("crash_on_non_object_body")
def _(api: Api) -> bool:
    return _raw_emit(api, b"1e13").status_code >= 500


@probe("crash_on_infinite_number")
def _(api: Api) -> bool:
    customer_id = api.customer()
    head = json.dumps(api.emit_body(customer_id))[:-1]
    return _raw_emit(api, f'{head}, "order": {{"value": 1e400}}}}'.encode()).status_code >= 500


@probe("crash_on_lone_surrogate")
def _(api: Api) -> bool:
    body = b'{"customer_id": "\\ud800", "brand_id": "b", "type": "PURCHASE"}'
    return _raw_emit(api, body).status_code >= 500


@probe("crash_on_bad_event_id_filter")
def _(api: Api) -> bool:
    return api.http.get("/transactions", params={"event_id": "not-a-uuid"}).status_code >= 500


@probe("crash_on_year_one_issued_at")
def _(api: Api) -> bool:
    answer = api.emit(api.customer(), 5, issued_at="0001-01-01T00:30:00+01:00")
    return answer.status_code >= 500


@probe("crash_on_far_reservation")
def _(api: Api) -> bool:
    return api.emit(api.customer(), 5, fulfilled=False, reserve=1e7).status_code >= 500


@probe("crash_on_free_level_redeem")
def _(api: Api) -> bool:
    products = [{"sku": "free", "value": 0, "redeem": [{"id": POINTS, "amount": 1}]}]
    answer = api.preview(funded(api), {"value": 10, "products": products})
    return answer.status_code >= 500


@probe("negative_percent_on_free_level")
def _(api: Api) -> bool:
    products = [{"sku": "free", "value": 0, "redeem": [{"id": POINTS, "amount": 1}]}]
    answer = api.preview(funded(api), {"value": 10, "products": products}).json()
    result = answer["data"]["order"]["products"][0]["redemptions_result"]
    return bool(result["discount_percent"] < 0)


@probe("preview_value_rounded_to_dime")
def _(api: Api) -> bool:
    order = {"value": 30.25, "redeem": [{"id": POINTS, "amount": 1}]}
    result = api.preview(funded(api), order).json()["data"]["order"]["redemptions_result"]
    return bool(result["value"] != round(30.25 - result["discount_value"], 2))


@probe("preview_balance_one_point_short")
def _(api: Api) -> bool:
    customer_id = funded(api, 100)
    balance = api.total(customer_id)
    order = {"value": 10**6, "redeem": [{"id": POINTS, "amount": balance + 1}]}
    result = api.preview(customer_id, order).json()["data"]["order"]["redemptions_result"]
    return not any(entry.get("error") for entry in result["redeemed"])


@probe("preview_refuses_whole_balance")
def _(api: Api) -> bool:
    customer_id = funded(api, 100)
    balance = api.total(customer_id)
    order = {"value": 10**6, "redeem": [{"id": POINTS, "amount": balance}]}
    result = api.preview(customer_id, order).json()["data"]["order"]["redemptions_result"]
    return any(entry.get("error") for entry in result["redeemed"])


@probe("preview_missing_balance_is_one")
def _(api: Api) -> bool:
    order = {"value": 100, "redeem": [{"id": POINTS, "amount": 1}]}
    result = api.preview(api.customer(), order).json()["data"]["order"]["redemptions_result"]
    return not any(entry.get("error") for entry in result["redeemed"])


def _issued(api: Api, age: timedelta) -> httpx.Response:
    moment = (datetime.now(UTC) - age).isoformat()
    return api.emit(api.customer(), 5, issued_at=moment)


@probe("issued_at_window_71_hours")
def _(api: Api) -> bool:
    return _issued(api, timedelta(hours=71, minutes=40)).status_code >= 400


@probe("issued_at_window_73_hours")
def _(api: Api) -> bool:
    return _issued(api, timedelta(hours=72, minutes=20)).status_code < 300


@probe("issued_at_last_seconds_future")
def _(api: Api) -> bool:
    return _issued(api, timedelta(seconds=1)).status_code >= 400


# -- the details of the newer faults -----------------------------------------------------


def _redeem_errors(api: Api, customer_id: str, amount: float) -> list[str]:
    order = {"value": 10**6, "redeem": [{"id": POINTS, "amount": amount}]}
    result = api.preview(customer_id, order).json()["data"]["order"]["redemptions_result"]
    return [str(entry.get("error") or "") for entry in result["redeemed"]]


def test_the_two_prv5_faults_are_seen_by_different_probes(make_api):
    """Each PRV-5 fault meets one of the suite's two boundary probes and not the other
    ("one point, none held" and "one point over the balance"), so each probe has a
    fault only it catches."""
    short = make_api(faults=frozenset({"preview_balance_one_point_short"}))
    assert all(_redeem_errors(short, short.customer(), 1))  # none held: still refused
    held = funded(short, 100)
    assert not any(_redeem_errors(short, held, short.total(held) + 1))
    assert all(_redeem_errors(short, held, short.total(held) + 2))
    one = make_api(faults=frozenset({"preview_missing_balance_is_one"}))
    assert not any(_redeem_errors(one, one.customer(), 1))
    held = funded(one, 100)
    assert all(_redeem_errors(one, held, one.total(held) + 1))  # a balance held: exact


def test_every_other_emit_never_settles_even_after_the_processing_delay(make_api):
    api = make_api(faults=frozenset({"every_other_emit_never_settles"}), processing_delay=0.1)
    customer_id = api.customer()
    first, second, third = (api.event(customer_id, 10) for _ in range(3))
    assert [e["status"] for e in (first, second, third)] == ["PENDING"] * 3
    time.sleep(0.3)
    assert [len(api.transactions(e["id"])) for e in (first, second, third)] == [1, 0, 1]
    assert api.total(customer_id) == 20
    stuck = api.reverse(second["id"])
    assert stuck.status_code == 409
    assert "still being processed" in stuck.json()["details"]
    assert api.fulfil(second["id"]).status_code == 409  # a re-fulfil answers as usual
    standby = api.event(customer_id, 10, fulfilled=False)  # not a fulfilled emit: not counted
    assert api.fulfil(standby["id"]).json()["data"]["status"] == "RESOLVED"
    fourth = api.event(customer_id, 10)
    time.sleep(0.3)
    assert api.transactions(fourth["id"]) == []
    assert api.total(customer_id) == 30


def test_refused_emit_credits_later_answers_4xx_then_credits_an_accumulation(make_api):
    api = make_api(faults=frozenset({"refused_emit_credits_later"}))
    customer_id = api.customer()
    body = api.emit_body(customer_id, 12.9)
    del body["brand_id"]
    refused = api.http.post("/behavior/events", json=body)
    assert refused.status_code == 422
    assert "brand_id" in refused.json()["details"]
    assert api.total(customer_id) == 0  # nothing yet: the credit comes ~200 ms later
    time.sleep(0.5)
    assert api.total(customer_id) == 12
    listed = api.http.get("/transactions", params={"type": "ACCUMULATION"}).json()["data"]
    assert [t["amount"] for t in listed if t["receiver_id"] == customer_id] == [12]
    also_bad = {**body, "type": 7}  # refused for more than the brand: never credited
    assert api.http.post("/behavior/events", json=also_bad).status_code == 422
    time.sleep(0.5)
    assert api.total(customer_id) == 12


def test_reversal_unlisted_without_event_id_restores_the_wallet_silently(make_api):
    api = make_api(faults=frozenset({"reversal_unlisted_without_event_id"}))
    customer_id = api.customer()
    api.event(customer_id, 30)
    event = api.event(customer_id, 10)
    assert api.reverse(event["id"]).json()["data"]["status"] == "REVERSED"
    assert api.total(customer_id) == 30
    listed = api.transactions(event["id"])
    assert [t["type"] for t in listed] == ["ACCUMULATION"]
    assert all("event_id" not in t for t in listed)


def test_naive_timestamps_drop_only_the_offset(make_api):
    api = make_api(faults=frozenset({"naive_timestamps"}))
    event = api.event(api.customer(), 5)
    for key in ("issued_at", "processing_at", "resolved_at"):
        moment = datetime.fromisoformat(event[key])
        assert moment.tzinfo is None
        assert abs(moment.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=1)
    reversed_at = api.reverse(event["id"]).json()["data"]["reversed_at"]
    assert datetime.fromisoformat(reversed_at).tzinfo is None
    assert contract.validate("event.schema.json", event) != []


def test_authorize_wrong_key_402_keeps_the_error_body_and_401_for_a_missing_key(make_api):
    api = make_api(faults=frozenset({"authorize_wrong_key_402"}))
    wrong = api.http.get("/auth/authorize", headers={"x-api-key": "wrong"})
    assert wrong.status_code == 402
    assert contract.validate("error.schema.json", wrong.json()) == []
    missing = httpx.get(f"{api.server.base_url}/auth/authorize")
    assert missing.status_code == 401
    good = api.http.get("/auth/authorize", headers={"x-api-key": api.server.api_key})
    assert good.status_code == 200


@pytest.mark.parametrize(
    ("form", "refused"),
    [
        ("%Y-%m-%dT%H:%M:%SZ", True),
        ("%Y-%m-%dT%H:%M:%S.%f+00:00", True),
        ("%Y-%m-%dT%H:%M:%S+00:00", False),
    ],
)
def test_emit_refuses_zulu_time_but_takes_whole_seconds_with_an_offset(make_api, form, refused):
    api = make_api(faults=frozenset({"emit_refuses_zulu_time"}))
    issued_at = (datetime.now(UTC) - timedelta(seconds=10)).strftime(form)
    response = api.emit(api.customer(), 5, issued_at=issued_at)
    assert response.status_code == (422 if refused else 201), response.text


def test_preview_records_redemption_files_a_zero_redemption_and_keeps_totals(make_api):
    api = make_api(faults=frozenset({"preview_records_redemption"}))
    customer_id = api.customer()
    older = api.event(customer_id, 40)
    latest = api.event(customer_id, 10)
    api.preview(customer_id, {"value": 10, "redeem": [{"id": POINTS, "amount": 20}]})
    assert api.total(customer_id) == 50
    assert [(t["type"], t["amount"]) for t in api.transactions(latest["id"])] == [
        ("ACCUMULATION", 10),
        ("REDEMPTION", 0),
    ]
    assert len(api.transactions(older["id"])) == 1
    listed = api.http.get("/transactions", params={"event_id": latest["id"]})
    assert contract.validate("list-transactions.response.schema.json", listed.json()) == []
    api.preview(customer_id, {"value": 10})  # redeems nothing: records nothing
    assert len(api.transactions(latest["id"])) == 2
