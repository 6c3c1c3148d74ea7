"""The budget profile's shared scenarios: every rule of the one-rule scenarios, judged on
fewer customers and events (suite/run_plan.py lists what each judges and costs).

One reversed purchase serves REV-1, REV-2, REV-4 and FUL-4; one standby purchase serves
FUL-1, FUL-2 and FUL-5, and one cancelled one REV-3, REV-4 and FUL-4; identical
purchases serve EMIT-4, then REV-6, REV-7 and FUL-5; one customer's previews serve every
PRV rule. Attribution stays exact: each later rule compares with the state just before
its own step (never with a state an earlier rule's fault may have changed), `expect`
records and goes on, and a step the scenario cannot go on without leaves the rules
after it "not checked" with the reason. Only the budget profile runs these (the other
profiles run the one-rule tests they repeat).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from masivo_conformance import checks
from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.checks.invariants import (
    NOTHING_AT_STAKE,
    is_2xx,
    is_4xx,
    same_transactions,
    same_wallet,
    status_among,
    status_in,
)
from masivo_conformance.checks.preview import unredeemable_reported
from masivo_conformance.checks.values import same_enum
from masivo_conformance.suite import payloads
from masivo_conformance.suite.defects import covering
from masivo_conformance.suite.payloads import preview_request
from masivo_conformance.suite.storefront import PlannedCall, Settlement, Storefront
from tests.contract.test_auth import _bad_tokens, _operations, _with_token
from tests.contract.test_examples import (
    _EMIT_DEFECTS,
    EMITS,
    _defective_emit,
    _judge_nothing_created,
    _judge_refusal,
    judge_whole_balance,
)
from tests.stateful.test_scenarios import (
    _NO_EFFECT,
    _NO_STANDBY,
    _NOT_SETTLED,
    _NOTHING_TO_REPEAT,
    _RESERVATION_FAILED,
    REDEEM_AT,
    SAME_PURCHASES,
    Wallet,
    _final_status,
    _fulfilled_event,
    _had_effect,
    _redeeming,
    _status_is,
    judge_cancellation,
    judge_concurrent_reversals,
    judge_deferred_equals_immediate,
    judge_failing_emit,
    judge_identical_purchases,
    judge_redemptions_on_emit,
)

pytestmark = pytest.mark.writes


def _points_reward_id(sf: Storefront) -> str:
    """A POINTS reward of the brand, looked up inside the scenario so that its request is
    counted as the scenario's (the plan's costs are per test)."""
    for reward in sf.rewards():
        if reward.get("type") == "POINTS" and isinstance(reward.get("id"), str):
            return str(reward["id"])
    pytest.skip(f"brand {sf.brand_id} lists no POINTS reward: rules that need points not run")


def _rate_limit_headers(sf: Storefront, *calls: Call) -> None:
    """GEN-5 (a SHOULD, so not among the storefront's checks) on answers already had."""
    for call in calls:
        checks.judge_call(call, sf.evidence, ["rate_limit_headers"])


def _unjudged(sf: Storefront, rules: tuple[str, ...], reason: str) -> None:
    for rule in rules:
        sf.evidence.unjudged(rule, reason)


def _same_wallet_after(
    sf: Storefront, customer: str, before: Wallet, call: Call, rule: str, what: str
) -> Wallet:
    """`rule` holds when the customer's wallet is still `before` after `call`; the
    wallet read is returned, so the next rule compares with the state it starts from."""
    now = sf.wallet(customer)
    sf.evidence.expect(same_wallet(before, now, rule, what, call.reproducer))
    return now


@pytest.mark.requirement("REV-1", "REV-2", "REV-4", "FUL-4", "GEN-5")
def test_one_reversed_purchase_refuses_what_follows(storefront: Storefront) -> None:
    """Reverse a settled purchase (REV-1, REV-2), then reverse it again (REV-4) and
    fulfil it (FUL-4): both refused, neither changing the wallet."""
    sf, ev = storefront, storefront.evidence
    customer, event_id, before, after, settled = _fulfilled_event(sf, 120.0)
    if not settled.known or settled.status == "FAILED":
        _unjudged(sf, ("REV-1", "REV-2", "REV-4", "FUL-4"), _NOT_SETTLED)
        return
    reversed_ = sf.reverse(event_id)  # reversed_at is judged by the single-call check
    _rate_limit_headers(sf, reversed_)
    if not ev.expect(is_2xx(reversed_, "REV-1", "reverse of a fulfilled, settled event")):
        _unjudged(sf, ("REV-2", "REV-4", "FUL-4"), "the reverse was refused (REV-1's)")
        return
    ev.expect(_status_is(reversed_, "REVERSED", "REV-1", "reverse of a fulfilled, settled event"))
    restored = sf.wallet_back_to(customer, before)
    if not _had_effect(before, after, settled):
        ev.unjudged("REV-2", _NO_EFFECT)
    else:
        ev.expect(same_wallet(before, restored, "REV-2", "after reversing", reversed_.reproducer))
        _judge_reversal_listed(sf, event_id, settled.transactions, reversed_)
    second = sf.reverse(event_id)
    ev.expect(is_4xx(second, "REV-4", "a second reverse of the same event"))
    now = _same_wallet_after(sf, customer, restored, second, "REV-4", "after a second reverse")
    refused = sf.fulfil(event_id)
    ev.expect(is_4xx(refused, "FUL-4", "fulfil of a reversed event"))
    _same_wallet_after(sf, customer, now, refused, "FUL-4", "after fulfilling a reversed event")


def _judge_reversal_listed(
    sf: Storefront, event_id: str, made: list[dict[str, Any]], reversed_: Call
) -> None:
    """REV-2's ledger half: an event that made transactions lists a REVERSAL."""
    if not made:
        return
    if not any(t.get("type") for t in made):
        sf.evidence.unjudged(
            "REV-2", "the event's transactions carry no type (GEN-4's): no REVERSAL to find"
        )
        return
    listed = sf.wait_transactions(event_id, "REVERSAL")
    sf.evidence.expect(
        Verdict.of(
            "REV-2",
            any(same_enum(t.get("type"), "REVERSAL") for t in listed),
            f"the event made {len(made)} transactions but no REVERSAL is listed after its reversal",
            reversed_.reproducer,
        )
    )


@pytest.mark.requirement("EMIT-4", "FUL-1", "FUL-2", "FUL-5", "REV-3", "REV-4", "FUL-4")
def test_one_standby_purchase_fulfilled_then_one_cancelled(storefront: Storefront) -> None:
    """Two customers earn alike; one buys at once and one buys the same standby (EMIT-4)
    and fulfils it (FUL-1, FUL-2: the same wallets), both redeeming points, so that the
    reservation must end debited once; fulfilled again (FUL-5: not debited twice). The
    first then buys redeeming more than it holds: a FAILED event, with resolved_at
    (EMIT-4). A standby purchase of the second that reserves points is cancelled (REV-3),
    reversed again (REV-4) and fulfilled (FUL-4)."""
    sf = storefront
    reward_id = _points_reward_id(sf)
    twins = judge_deferred_equals_immediate(sf, reward_id)
    judge_failing_emit(sf, twins.immediate, reward_id, twins.wallet_i.get(reward_id, 0.0))
    if twins.stopped:
        _unjudged(sf, ("FUL-5", "REV-3", "REV-4", "FUL-4"), twins.stopped)
        return
    wallet_d = twins.wallet_d
    if twins.settled_d is None:
        sf.evidence.unjudged("FUL-5", "the fulfil of a standby event was refused (FUL-1's)")
    elif not twins.settled_d.known:
        # Its effects may still land: no later rule could tell them from its own.
        _unjudged(sf, ("FUL-5", "REV-3", "REV-4", "FUL-4"), _NOT_SETTLED)
        return
    elif twins.effect:
        wallet_d = _fulfil_again(sf, twins.deferred, twins.event_id, wallet_d)
    else:
        sf.evidence.unjudged("FUL-5", _NOTHING_TO_REPEAT)
    _cancel_a_reservation(sf, twins.deferred, reward_id, wallet_d)


def _fulfil_again(sf: Storefront, customer: str, event_id: str, before: Wallet) -> Wallet:
    """FUL-5: a second fulfil answers 200 or 4xx and changes no wallet."""
    again = sf.fulfil(event_id)
    sf.evidence.expect(
        Verdict.of(
            "FUL-5",
            again.status == 200 or 400 <= again.status < 500,
            f"a second fulfil answered {again.status}; expected 200 or 4xx",
            again.reproducer,
        )
    )
    return _same_wallet_after(sf, customer, before, again, "FUL-5", "after fulfilling again")


def _cancel_a_reservation(sf: Storefront, customer: str, reward_id: str, before: Wallet) -> None:
    """REV-3, then REV-4 and FUL-4 on the cancelled event, each against the wallet it
    starts from."""
    ev = sf.evidence
    redeem = _redeeming(reward_id, before)
    standby = sf.standby(customer, value=30.0, redeem=redeem)
    if standby is None or (redeem and _final_status(standby) == "FAILED"):
        reason = _NO_STANDBY if standby is None else _RESERVATION_FAILED
        _unjudged(sf, ("REV-3", "REV-4", "FUL-4"), reason)
        return
    event_id = sf.event_id(standby)
    judged = judge_cancellation(sf, customer, before, standby, rich=redeem is not None)
    if judged is None:
        _unjudged(sf, ("REV-4", "FUL-4"), "the cancel of a standby event was refused (REV-3's)")
        return
    released = judged[1] if judged[1] is not None else sf.wallet(customer)
    second = sf.reverse(event_id)
    ev.expect(is_4xx(second, "REV-4", "a reverse of a cancelled event"))
    now = _same_wallet_after(sf, customer, released, second, "REV-4", "after a second reverse")
    refused = sf.fulfil(event_id)
    ev.expect(is_4xx(refused, "FUL-4", "fulfil of a cancelled event"))
    _same_wallet_after(sf, customer, now, refused, "FUL-4", "after fulfilling a cancelled event")


@pytest.mark.requirement("EMIT-4", "REV-6", "REV-7", "FUL-5")
def test_identical_purchases_settle_then_race_and_repeat(storefront: Storefront) -> None:
    """Identical purchases settle (EMIT-4); then the first is reversed concurrently
    (REV-6), the second reversed without a reason (REV-7), the third fulfilled again
    (FUL-5). Each later rule runs only on an event known to have settled: a reverse of
    an unsettled event may be refused for that alone."""
    sf = storefront
    customers = [sf.create_customer() for _ in range(SAME_PURCHASES)]
    racing, repeated = customers[0], customers[-1]
    before_race, before_repeat = sf.wallet(racing), sf.wallet(repeated)
    emitted = [sf.emit_purchase(customer, value=25.0) for customer in customers]
    found = judge_identical_purchases(sf, emitted)
    ids = [sf.event_id(call) for call in emitted]
    known = [bool(found[i]) or _final(call) for call, i in zip(emitted, ids, strict=True)]
    if known[0]:
        made = found[ids[0]]
        after = sf.wallet_after(racing, before_race) if made else sf.wallet(racing)
        settlement = _settlement(emitted[0], made)
        judge_concurrent_reversals(sf, racing, ids[0], (before_race, after), settlement)
    else:
        sf.evidence.unjudged("REV-6", _NOT_SETTLED)
    if known[1]:
        call = sf.reverse(ids[1], reason=None)
        sf.evidence.expect(is_4xx(call, "REV-7", "reverse without a reason"))
    else:
        sf.evidence.unjudged("REV-7", _NOT_SETTLED)
    if known[-1]:
        made = found[ids[-1]]
        before = sf.wallet_after(repeated, before_repeat) if made else sf.wallet(repeated)
        _fulfil_again(sf, repeated, ids[-1], before)
    else:
        sf.evidence.unjudged("FUL-5", _NOT_SETTLED)


def _final(call: Call) -> bool:
    status = call.data.get("status") if isinstance(call.data, dict) else None
    return same_enum(status, "RESOLVED") or same_enum(status, "FAILED")


def _settlement(call: Call, made: list[dict[str, Any]]) -> Settlement:
    """What settling showed for an event known to have settled (listed or final)."""
    status = str(call.data.get("status", "")) if isinstance(call.data, dict) else ""
    return Settlement(True, made, status.upper())


@pytest.mark.requirement("PRV-1", "PRV-2", "PRV-3", "PRV-4", "PRV-5", "PRV-6", "PRV-7", "GEN-5")
def test_one_customer_previews_every_way_and_nothing_changes(storefront: Storefront) -> None:
    """A customer with points previews an order redeeming at every level (PRV-1, PRV-3,
    PRV-4, PRV-7), rewards it cannot redeem (PRV-5) and requests missing a member
    (PRV-6); after all of them the wallet and the ledger are unchanged (PRV-2)."""
    sf, ev = storefront, storefront.evidence
    reward_id = _points_reward_id(sf)
    customer = sf.create_customer()
    empty = sf.wallet(customer)
    # Before it holds any: one point of a reward the wallet lacks is too much (a target
    # that reads a missing balance as 1 lets it through; mutation testing found one).
    if not empty.get(reward_id):
        _judge_unredeemable(sf, customer, "one point, none held", reward_id, 1)
    # issued_at now by the target's own clock: EMIT-1 (a valid emit answers 2xx).
    fresh = payloads.issued_at_now(sf.last_headers)
    earned = sf.emit_purchase(customer, value=500.0, **({"issued_at": fresh} if fresh else {}))
    settled = sf.settle(earned)
    wallet = sf.wallet_after(customer, empty) if settled.transactions else sf.wallet(customer)
    event_id = sf.event_id(earned)
    ledger = sf.transactions(event_id) + sf.customer_transactions(customer)
    # First, while the wallet is as read: a target whose previews consume points (PRV-2)
    # would otherwise make the whole balance look too much.
    judge_whole_balance(sf, customer, reward_id, wallet)
    redeem = [{"id": reward_id, "amount": 10}]
    full = sf.preview(
        preview_request(
            customer,
            sf.brand_id,
            order_redeem=redeem,
            product_redeem=redeem,
            shipping_redeem=redeem,
        )
    )
    ev.expect(status_in(full, 200, 200, "PRV-1", "a preview redeeming at every level"))
    checks.judge_call(full, ev, ["preview_percent"])
    _rate_limit_headers(sf, earned, full)
    last = full
    # The balance too low by far, and by one point: a target off by one at the boundary
    # lets the second through (mutation testing found one).
    over = int(wallet.get(reward_id, 0.0)) + 1
    for case, reward, amount in (
        ("unknown reward", sf.ids.uuid(), 10**9),
        ("balance too low", reward_id, 10**9),
        ("one point over the balance", reward_id, over),
    ):
        last = _judge_unredeemable(sf, customer, case, reward, amount)
    for member in ("customer_id", "brand_id", "order"):
        body = preview_request(customer, sf.brand_id)
        del body[member]
        last = sf.preview(body)
        ev.expect(is_4xx(last, "PRV-6", f"preview without {member}"))
    if not sf.amounts_moved:  # equal ledgers, like equal wallets, would prove nothing
        ev.unjudged("PRV-2", NOTHING_AT_STAKE)
        return
    if not any(wallet.values()) and not ledger:
        ev.unjudged("PRV-2", "the customer had nothing a preview could change (no points)")
        return
    what, reproducer = "after seven previews", last.reproducer
    ev.expect(same_wallet(wallet, sf.wallet_at_rest(customer), "PRV-2", what, reproducer))
    after = sf.transactions(event_id) + sf.customer_transactions(customer)
    ev.expect(same_transactions(ledger, after, "PRV-2", what, reproducer))


def _judge_unredeemable(sf: Storefront, customer: str, case: str, reward: str, amount: int) -> Call:
    """PRV-5: a reward that cannot be redeemed comes back as an entry with an error."""
    call = sf.preview(
        preview_request(customer, sf.brand_id, order_redeem=[{"id": reward, "amount": amount}])
    )
    what = f"a preview redeeming a reward it cannot ({case})"
    if sf.evidence.expect(status_in(call, 200, 200, "PRV-5", what)):
        sf.evidence.expect(unredeemable_reported(call, reward, case))
    return call


@pytest.mark.requirement("EMIT-2")
def test_incomplete_emits_are_refused_and_create_nothing(storefront: Storefront) -> None:
    """A covering subset of the one-rule test's defects (every missing member, and one
    wrong type per documented type at each level: `defects.covering`), all on one
    customer: each answered 4xx; after the settle time no wallet total of it has
    changed and no transaction names it."""
    sf = storefront
    customer = sf.create_customer()
    before = sf.wallet(customer)
    defects = covering(_EMIT_DEFECTS)
    # One after another (`PlannedCall.lane`): a target that accepts them credits each.
    emits = [
        PlannedCall("POST", EMITS, _defective_emit(sf, customer, d), lane=customer) for d in defects
    ]
    answered = sf.calls_at_once(emits, judge=lambda n, call: _judge_refusal(sf, call, defects[n]))
    sent = list(zip(defects, answered, strict=True))
    time.sleep(sf.settle_time)  # a late effect would have landed by now
    _judge_nothing_created(sf, customer, before, sent)


@pytest.mark.requirement("AUTH-1")
def test_bad_tokens_are_refused_on_every_operation(storefront: Storefront) -> None:
    """A covering subset of the one-rule test's tokens x operations: every operation
    without a token and with one forged kind, every forged kind on some operation (a
    verifier flaw shows on any operation; a forgotten check on one shows without a
    token)."""
    customer = storefront.create_customer()
    tokens = _bad_tokens(storefront.client.token())
    labels = list(tokens)
    operations = _operations(customer, storefront.brand_id, storefront.ids.uuid())
    asked = [
        _with_token(method, path, body, label, tokens[label])
        for n, (method, path, body) in enumerate(operations)
        for label in dict.fromkeys((labels[0], labels[1 + n % (len(labels) - 1)]))
    ]
    storefront.calls_at_once(
        [planned for _, planned in asked],
        judge=lambda n, call: storefront.evidence.expect(
            status_among(call, (401, 403), "AUTH-1", asked[n][0])
        ),
    )


@pytest.mark.requirement("EMIT-5")
def test_one_customer_redeems_at_every_level_at_once(storefront: Storefront) -> None:
    """A customer who has earned points emits a purchase without redemption, then the
    same purchase redeeming a different amount at each level at once (EMIT-5): refused
    with 4xx, or the wallet lower by the sum, net of what the twin earned, and a
    REDEMPTION listed. The amounts are powers of two, so a short debit names the levels
    left out (the one-rule test asks each level alone as well)."""
    judge_redemptions_on_emit(storefront, [REDEEM_AT])
