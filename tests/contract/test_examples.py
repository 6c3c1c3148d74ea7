"""Deterministic example tests: one or a few calls show each single-call requirement.

Every call goes through the `storefront` fixture, whose single-call MUST checks judge
each answer; what each test adds is recorded in the test's evidence (`sf.evidence`):
`expect` records and goes on, `insist` records and stops a scenario that needs it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from masivo_conformance import checks
from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.checks.invariants import (
    is_2xx,
    is_4xx,
    same_wallet,
    status_among,
    status_in,
)
from masivo_conformance.checks.preview import redeemed_without_error, unredeemable_reported
from masivo_conformance.suite.defects import Defect, emit_defects
from masivo_conformance.suite.payloads import (
    issued_at_formats,
    issued_at_now,
    preview_request,
    purchase,
)
from masivo_conformance.suite.storefront import CUSTOMER_PREFIX, PlannedCall, Storefront

pytestmark = pytest.mark.writes


def _tour(sf: Storefront, reward_id: str) -> list[Call]:
    """One successful call of every operation but authorize."""
    customer = sf.create_customer()
    emitted = sf.emit_purchase(customer, value=80.0)
    sf.settle(emitted)
    standby = sf.standby(customer, value=10.0)
    fulfilled = [] if standby is None else [sf.fulfil(sf.event_id(standby))]
    return [
        sf.customer(customer),
        sf.call("GET", "/rewards", params={"from": 0, "to": 10, "brand_id": sf.brand_id}),
        sf.call("GET", "/transactions", params={"event_id": sf.event_id(emitted)}),
        emitted,
        *fulfilled,
        sf.reverse(sf.event_id(emitted)),
        sf.preview(
            preview_request(customer, sf.brand_id, order_redeem=[{"id": reward_id, "amount": 1}])
        ),
    ]


@pytest.mark.requirement("GEN-1", "GEN-4")
def test_success_answers_are_data_envelopes_that_match_the_schemas(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    calls = _tour(storefront, points_reward["id"])
    for call in calls:  # the storefront's checks judged GEN-1 and GEN-4 on each answer
        storefront.evidence.expect(is_2xx(call, "GEN-1", f"a valid {call.operation}"))
    assert {c.operation for c in calls} >= {
        "get_customer",
        "list_rewards",
        "list_transactions",
        "emit_event",
        "reverse_event",
        "preview_order",
    }


@pytest.mark.requirement("GEN-5")
def test_answers_carry_rate_limit_headers(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    for call in _tour(storefront, points_reward["id"]):
        checks.judge_call(call, storefront.evidence, ["rate_limit_headers"])


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
    # The storefront's GEN-2 check judged every 4xx among them; the rules that require
    # the refusals (FUL-3, REV-5, EMIT-2, PRV-6, AUTH-1) are other tests'.
    if not any(400 <= c.status < 500 and c.status != 429 for c in refused):
        storefront.evidence.unjudged("GEN-2", "no request the contract refuses answered 4xx")


EMITS = "/behavior/events"
_HUGE = "x" * 10_000
_ODD = "\u0000\ud7ff\ufffd'\"<>{}%00../\u202e" * 20
# Customer ids carry the suite's prefix even here: a lenient target may create them, and
# the suite touches no customer it did not name (CONTRACT section 4).
_HUGE_CUSTOMER, _ODD_CUSTOMER = CUSTOMER_PREFIX + _HUGE, CUSTOMER_PREFIX + _ODD


def _malformed_requests(customer: str, brand: str, unknown: str) -> list[tuple[str, str, Any]]:
    """(method, path, body) of requests no server may answer with a 5xx."""
    emit = purchase(customer, brand)
    return [
        ("POST", "/behavior/events", b"{not json"),
        ("POST", "/behavior/events", b"[]"),
        ("POST", "/behavior/events", {**emit, "customer_id": _HUGE_CUSTOMER}),
        ("POST", "/behavior/events", {**emit, "customer_id": _ODD_CUSTOMER}),
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
        (
            "PUT",
            "/events/redeem/preview",
            {"customer_id": _ODD_CUSTOMER, "brand_id": 7, "order": []},
        ),
        (
            "PUT",
            "/events/redeem/preview",
            {
                "customer_id": customer,
                "brand_id": brand,
                "order": {"value": -1, "products": [None, 3]},
            },
        ),
        ("POST", "/customers", {"id": _HUGE_CUSTOMER}),
        ("POST", "/customers", {"id": [CUSTOMER_PREFIX], "email": ["x"]}),
        ("GET", f"/customers/{quote(_ODD_CUSTOMER[:300], safe='')}", None),
        ("GET", "/rewards?from=-1&to=abc", None),
        ("GET", f"/transactions?event_id={_HUGE[:3000]}&type=NOPE", None),
        *_edge_requests(customer, brand),
    ]


def _edge_requests(customer: str, brand: str) -> list[tuple[str, str, Any]]:
    """Inputs that mutation testing found a server could crash on (docs/mutation.md):
    empty bodies, numbers no float holds, a lone surrogate, a bare number, a malformed
    id filter, the first day of the calendar, a huge reservation."""
    emit = purchase(customer, brand)
    head = json.dumps({k: v for k, v in emit.items() if k != "order"})[:-1]
    return [
        ("POST", "/behavior/events", b""),
        ("POST", "/customers", b""),
        ("PUT", "/events/redeem/preview", b""),
        ("POST", "/behavior/events", f'{head}, "order": {{"value": 1e400}}}}'.encode()),
        ("POST", "/behavior/events", f'{head}, "order": {{"value": -1e400}}}}'.encode()),
        ("POST", "/behavior/events", b'{"customer_id": "\\ud800", "brand_id": "b", "type": "X"}'),
        ("POST", "/behavior/events", b"1e13"),
        ("GET", "/transactions?event_id=not-a-uuid", None),
        ("POST", "/behavior/events", {**emit, "issued_at": "0001-01-01T00:30:00+01:00"}),
        ("POST", "/behavior/events", {**emit, "fulfilled": False, "reserve": 1e7}),
    ]


def _planned(method: str, path: str, body: Any) -> PlannedCall:
    """A request of `_malformed_requests`: raw bytes sent as they are, anything else as
    JSON. The writes go one after another (`PlannedCall.lane`): a lenient target may
    accept several emits of the customer, each answer showing the ones before it."""
    lane = "" if method == "GET" else "writes"
    if isinstance(body, bytes):
        headers = {"Content-Type": "application/json"}
        return PlannedCall(method, path, content=body, headers=headers, lane=lane)
    return PlannedCall(method, path, json_body=body, lane=lane)


@pytest.mark.requirement("GEN-3")
def test_malformed_requests_never_get_a_server_error(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    planned = [
        _planned(*request)
        for request in _malformed_requests(customer, storefront.brand_id, storefront.ids.uuid())
    ]
    # Malformed on purpose: only the answer's code and error body count.
    storefront.calls_at_once(
        planned,
        check=False,
        judge=lambda _, call: checks.judge_call(
            call, storefront.evidence, ["no_server_error", "error_envelope"]
        ),
    )


@pytest.mark.requirement("AUTH-2")
def test_authorize_exchanges_a_valid_key_for_a_jwt(
    storefront: Storefront, masivo_target: Any
) -> None:
    if not masivo_target.api_key:
        pytest.skip("needs an API key (MASIVO_API_KEY): the target was given a token only")
    ev = storefront.evidence
    granted = storefront.call(
        "GET", "/auth/authorize", headers={"x-api-key": masivo_target.api_key}, auth=False
    )
    ev.expect(status_in(granted, 200, 200, "AUTH-2", "authorize with the valid API key"))
    # The wrong key owes nothing to the real one: reproducers show it as sent.
    for key in (None, "", "wrong-masivo-conformance-key"):
        headers: dict[str, str] = {} if key is None else {"x-api-key": key}
        call = storefront.call("GET", "/auth/authorize", headers=headers, auth=False)
        what = "missing" if key is None else "wrong"
        ev.expect(status_among(call, (401, 403), "AUTH-2", f"authorize with key {what}"))


@pytest.mark.requirement("AUTH-3")
def test_tokens_live_at_most_an_hour(storefront: Storefront, masivo_target: Any) -> None:
    if not masivo_target.api_key:
        pytest.skip("needs an API key (MASIVO_API_KEY): the target was given a token only")
    granted = storefront.call(
        "GET", "/auth/authorize", headers={"x-api-key": masivo_target.api_key}, auth=False
    )
    if granted.status != 200:
        storefront.evidence.unjudged("AUTH-3", f"authorize answered {granted.status}")
    checks.judge_call(granted, storefront.evidence, ["token_lifetime"])


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
    call = storefront.emit(body)  # the storefront's emit_echo check judges the echo
    storefront.evidence.expect(is_2xx(call, "EMIT-1", "a valid emit with optional fields"))


@pytest.mark.requirement("EMIT-1")
def test_emit_accepts_every_documented_timestamp_format(storefront: Storefront) -> None:
    """A valid issued_at may end in Z or carry an offset, with or without fractions."""
    customer = storefront.create_customer()
    # Inside the 72-hour window (EMIT-3), 20 minutes from its edge: still valid.
    early = (datetime.now(UTC) - timedelta(hours=71, minutes=40)).isoformat()
    formats = {**issued_at_formats(), "71 h 40 min ago": early}
    now = issued_at_now(storefront.last_headers)
    if now is not None:  # the target's own clock: the freshest moment that is not future
        formats["now, by the target's Date header"] = now
    for label, issued_at in formats.items():
        call = storefront.emit(purchase(customer, storefront.brand_id, issued_at=issued_at))
        storefront.evidence.expect(is_2xx(call, "EMIT-1", f"a valid emit, issued_at {label}"))


# Every body EMIT-2 obliges a target to refuse, derived from the request schemas: each
# required member missing, each typed member (at every level) of a wrong type. The
# budget profile sends `defects.covering(...)` of them (tests/stateful).
_EMIT_DEFECTS = emit_defects()


def _defective_emit(sf: Storefront, customer: str, defect: Defect) -> dict[str, Any]:
    """A valid purchase of `customer` with `defect`, and nothing else, wrong."""
    return defect.apply(purchase(customer, sf.brand_id, value=500.0))


def _judge_refusal(sf: Storefront, call: Call, defect: Defect) -> None:
    """EMIT-2 asks for a 4xx. A 5xx is GEN-3's, already judged by the storefront's
    single-call checks: it is not charged to EMIT-2 as well."""
    if call.status < 500:
        sf.evidence.expect(is_4xx(call, "EMIT-2", f"emit with {defect.label}"))


def _judge_nothing_created(
    sf: Storefront, customer: str, before: dict[str, float], sent: list[tuple[Defect, Call]]
) -> None:
    """After the settle time, `customer`'s wallet is still `before` and no transaction
    names the customer: the refused emits in `sent` (all of them the customer's)
    created nothing."""
    labels = ", ".join(defect.label for defect, _ in sent)
    what = f"refused emit{'s' if len(sent) > 1 else ''} ({labels}) must create nothing"
    reproducer = sent[-1][1].reproducer
    sf.evidence.expect(same_wallet(before, sf.wallet(customer), "EMIT-2", what, reproducer))
    listed = sf.customer_transactions(customer)
    sf.evidence.expect(
        Verdict.of(
            "EMIT-2",
            not listed,
            f"{what}: transactions for the customer appeared: {listed[:2]}",
            reproducer,
        )
    )


@pytest.mark.requirement("EMIT-2")
def test_emit_without_required_or_with_wrong_types_is_refused(storefront: Storefront) -> None:
    """Every derived defect, each answered 4xx. Each missing member on a customer of its
    own, the wrong types on one customer per level (the body, order, each product, the
    shipping, each redeem item); after the settle time (a late effect would have landed
    by then) no wallet has changed and no transaction names a customer."""
    sf = storefront
    groups: dict[str, list[Defect]] = {}
    for defect in _EMIT_DEFECTS:
        groups.setdefault(defect.label if defect.missing else defect.level, []).append(defect)
    customers = [(sf.create_customer(), defects) for defects in groups.values()]
    befores = [sf.wallet(customer) for customer, _ in customers]
    asked = [(customer, defect) for customer, defects in customers for defect in defects]
    # One customer's emits one after another: a target that accepts them credits each.
    emits = [PlannedCall("POST", EMITS, _defective_emit(sf, c, d), lane=c) for c, d in asked]
    answered = iter(
        sf.calls_at_once(emits, judge=lambda n, call: _judge_refusal(sf, call, asked[n][1]))
    )
    sent = [
        (customer, before, [(defect, next(answered)) for defect in defects])
        for (customer, defects), before in zip(customers, befores, strict=True)
    ]
    time.sleep(sf.settle_time)
    for customer, before, calls in sent:
        _judge_nothing_created(sf, customer, before, calls)


@pytest.mark.requirement("EMIT-3")
@pytest.mark.parametrize(
    # 20 minutes past the window's edge: near enough that a server off by an hour shows
    # (mutation testing found one), far enough for any clock difference.
    "offset",
    [timedelta(hours=-72, minutes=-20), timedelta(hours=1)],
    ids=["older-than-72h", "in-the-future"],
)
def test_emit_issued_at_outside_the_window_is_refused(
    storefront: Storefront, offset: timedelta
) -> None:
    customer = storefront.create_customer()
    issued_at = (datetime.now(UTC) + offset).isoformat().replace("+00:00", "Z")
    call = storefront.emit(purchase(customer, storefront.brand_id, issued_at=issued_at))
    storefront.evidence.expect(is_4xx(call, "EMIT-3", f"emit with issued_at {issued_at}"))


@pytest.mark.requirement("FUL-3")
def test_fulfil_of_an_unknown_event_is_refused(storefront: Storefront) -> None:
    call = storefront.fulfil(storefront.ids.uuid())
    storefront.evidence.expect(is_4xx(call, "FUL-3", "fulfil of an unknown event id"))


@pytest.mark.requirement("REV-5")
def test_reverse_of_an_unknown_event_is_refused(storefront: Storefront) -> None:
    call = storefront.reverse(storefront.ids.uuid())
    storefront.evidence.expect(is_4xx(call, "REV-5", "reverse of an unknown event id"))


@pytest.mark.requirement("REV-7")
def test_reverse_without_a_reason_is_refused(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    event = storefront.emit_purchase(customer, value=50.0)
    storefront.settle(event)
    call = storefront.reverse(storefront.event_id(event), reason=None)
    storefront.evidence.expect(is_4xx(call, "REV-7", "reverse without a reason"))


@pytest.mark.requirement("PRV-1")
def test_preview_echoes_customer_and_brand(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    call = storefront.preview(preview_request(customer, storefront.brand_id))
    storefront.evidence.expect(status_in(call, 200, 200, "PRV-1", "a valid preview"))


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
    storefront.evidence.insist(
        status_in(call, 200, 200, "PRV-1", "a preview redeeming at every level")
    )
    checks.judge_call(call, storefront.evidence, ["preview_results"])


@pytest.mark.requirement("PRV-4")
def test_preview_keeps_products_and_subtracts_discounts(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    call = _preview_all_levels(storefront, points_reward["id"])
    storefront.evidence.insist(
        status_in(call, 200, 200, "PRV-1", "a preview redeeming at every level")
    )
    checks.judge_call(call, storefront.evidence, ["preview_arithmetic"])


@pytest.mark.requirement("PRV-7")
def test_preview_percent_is_discount_over_value(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    call = _preview_all_levels(storefront, points_reward["id"])
    storefront.evidence.insist(
        status_in(call, 200, 200, "PRV-1", "a preview redeeming at every level")
    )
    checks.judge_call(call, storefront.evidence, ["preview_percent"])


@pytest.mark.requirement("PRV-5")
@pytest.mark.parametrize("case", ["unknown reward", "balance too low", "one point, none held"])
def test_preview_reports_unredeemable_rewards_as_errors(
    storefront: Storefront, points_reward: dict[str, Any], case: str
) -> None:
    customer = storefront.create_customer()
    reward = storefront.ids.uuid() if case == "unknown reward" else points_reward["id"]
    # A new customer holds none: one point is already too much (a target that reads a
    # missing balance as 1 lets it through; mutation testing found one).
    amount = 1 if case == "one point, none held" else 10**9
    call = storefront.preview(
        preview_request(
            customer, storefront.brand_id, order_redeem=[{"id": reward, "amount": amount}]
        )
    )
    ev = storefront.evidence
    ev.insist(
        status_in(call, 200, 200, "PRV-5", f"a preview redeeming a reward it cannot ({case})")
    )
    ev.expect(unredeemable_reported(call, reward, case))


@pytest.mark.requirement("PRV-5")
def test_preview_redeems_the_whole_balance_without_error(
    storefront: Storefront, points_reward: dict[str, Any]
) -> None:
    """Exactly the balance held is enough: no "balance too low" for it."""
    sf = storefront
    customer = sf.create_customer()
    empty = sf.wallet(customer)
    earned = sf.emit_purchase(customer, value=500.0)
    wallet = sf.wallet_after(customer, empty) if sf.settle(earned).transactions else empty
    judge_whole_balance(sf, customer, points_reward["id"], wallet)


def judge_whole_balance(
    sf: Storefront, customer: str, reward: str, wallet: dict[str, float]
) -> None:
    """PRV-5 at its boundary: a preview redeeming exactly the whole points the customer
    holds of `reward` (per `wallet`) redeems them without an error. Judged only when a
    redeem of one point, well within the balance, asked next, comes back without an
    error (a reward with conditions may refuse both, for reasons that are not the
    balance; asked second, so that a target whose previews consume points, PRV-2's,
    cannot make the whole balance look too much), and when the customer holds whole
    points of it, two at least (a fraction may be rounded where the target keeps it)."""
    held = wallet.get(reward, 0.0)
    if held < 2 or held != int(held):
        sf.evidence.unjudged("PRV-5", f"no whole points of {reward} held to redeem ({held:g})")
        return
    answers = {}
    for amount in (int(held), 1):
        call = sf.preview(
            preview_request(customer, sf.brand_id, order_redeem=[{"id": reward, "amount": amount}])
        )
        what = f"a preview redeeming {amount} of the {held:g} points held"
        if not sf.evidence.expect(status_in(call, 200, 200, "PRV-5", what)):
            return
        answers[amount] = call
    if not redeemed_without_error(answers[1], reward, 1, held).held:
        why = f"a redeem of 1 of the {held:g} points held came back with an error"
        sf.evidence.unjudged("PRV-5", f"{why}: the reward refuses for another reason")
        return
    sf.evidence.expect(redeemed_without_error(answers[int(held)], reward, held, held))


@pytest.mark.requirement("PRV-6")
@pytest.mark.parametrize("member", ["customer_id", "brand_id", "order"])
def test_preview_without_a_required_member_is_refused(storefront: Storefront, member: str) -> None:
    customer = storefront.create_customer()
    body = preview_request(customer, storefront.brand_id)
    del body[member]
    call = storefront.preview(body)
    storefront.evidence.expect(is_4xx(call, "PRV-6", f"preview without {member}"))
