"""Single-call checks of preview answers (PRV-1, PRV-3, PRV-4, PRV-7), and the verdicts of
PRV-5's probes, which know what they asked to redeem."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from masivo_conformance.checks import check, fail
from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.checks.values import short

ACTIONS = frozenset({"UPDATE", "READ", "CREATE", "REMOVE"})
MONEY_TOLERANCE = 0.01
PERCENT_TOLERANCE = 0.005


def _preview(call: Call) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(request, answer data) of a 200 preview whose request was a JSON object."""
    if call.operation != "preview_order" or call.status != 200:
        return None
    if not isinstance(call.request_json, dict) or not isinstance(call.data, dict):
        return None
    return call.request_json, call.data


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _answer_for(product: Any, index: int, answers: list[dict[str, Any]]) -> Any:
    """The answered product for a requested one: by sku (the order is PRV-4's to judge),
    else by position."""
    sku = product.get("sku") if isinstance(product, dict) else None
    same = [p for p in answers if sku is not None and p.get("sku") == sku]
    if len(same) == 1:
        return same[0]
    return answers[index] if index < len(answers) else None


def _levels(sent: dict[str, Any], got: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """(name, requested level, answered level) for the order, each product and shipping."""
    yield "order", sent, got
    sent_products = sent.get("products")
    got_products = got.get("products")
    if isinstance(sent_products, list):
        answers = (
            [p for p in got_products if isinstance(p, dict)]
            if isinstance(got_products, list)
            else []
        )
        for i, product in enumerate(sent_products):
            yield f"order.products[{i}]", product, _answer_for(product, i, answers)
    if isinstance(sent.get("shipping"), dict):
        yield "order.shipping", sent["shipping"], got.get("shipping")


def _redeemed_levels(call: Call) -> Iterator[tuple[str, dict[str, Any], Any]]:
    found = _preview(call)
    if found is None:
        return
    request, data = found
    sent_order, got_order = request.get("order"), data.get("order")
    if not isinstance(sent_order, dict) or not isinstance(got_order, dict):
        return
    for name, sent, got in _levels(sent_order, got_order):
        if isinstance(sent, dict) and isinstance(sent.get("redeem"), list) and sent["redeem"]:
            yield name, sent, got


@check("PRV-1")
def preview_echo(call: Call) -> bool:
    """A 2xx preview is a 200 that echoes customer_id and brand_id, with an order."""
    if call.operation == "preview_order" and 200 < call.status < 300:
        fail("PRV-1", call, "a preview answers 200 (it creates nothing)")
    found = _preview(call)
    if found is None:
        return False
    request, data = found
    for member in ("customer_id", "brand_id"):
        if data.get(member) != request.get(member):
            fail(
                "PRV-1",
                call,
                f"data.{member} is {short(data.get(member))}, "
                f"the request sent {short(request.get(member))}",
            )
    if not isinstance(data.get("order"), dict):
        fail("PRV-1", call, f"data.order is {short(data.get('order'))}, expected an object")
    return True


@check("PRV-3")
def preview_results(call: Call) -> bool:
    """Each level that asked to redeem has a well-formed redemptions_result."""
    judged = False
    for name, sent, got in _redeemed_levels(call):
        judged = True
        result = got.get("redemptions_result") if isinstance(got, dict) else None
        if not isinstance(result, dict):
            fail("PRV-3", call, f"{name} asked to redeem but has no redemptions_result")
        percent, value = (
            _number(result.get("discount_percent")),
            _number(result.get("discount_value")),
        )
        if percent is None or not 0 <= percent <= 1:
            fail(
                "PRV-3",
                call,
                f"{name}.redemptions_result.discount_percent is "
                f"{short(result.get('discount_percent'))}, expected 0..1",
            )
        if value is None or value < 0:
            fail(
                "PRV-3",
                call,
                f"{name}.redemptions_result.discount_value is "
                f"{short(result.get('discount_value'))}, expected >= 0",
            )
        if result.get("action") not in ACTIONS:
            fail(
                "PRV-3",
                call,
                f"{name}.redemptions_result.action is "
                f"{short(result.get('action'))}, expected one of {sorted(ACTIONS)}",
            )
        wanted = sorted(str(item.get("id")) for item in sent["redeem"] if isinstance(item, dict))
        redeemed = result.get("redeemed")
        got_ids = (
            sorted(str(e.get("id")) for e in redeemed if isinstance(e, dict))
            if isinstance(redeemed, list)
            else []
        )
        if got_ids != wanted:
            fail(
                "PRV-3",
                call,
                f"{name}.redemptions_result.redeemed covers rewards {got_ids}, "
                f"the request asked for {wanted}",
            )
    return judged


@check("PRV-4")
def preview_arithmetic(call: Call) -> bool:
    """Products keep their order and skus; value = original value - discount_value."""
    found = _preview(call)
    if found is None:
        return False
    judged = False
    request, data = found
    sent_products = (
        request.get("order", {}).get("products") if isinstance(request.get("order"), dict) else None
    )
    got_order = data.get("order")
    if isinstance(sent_products, list) and isinstance(got_order, dict):
        judged = True
        sent_skus = [p.get("sku") for p in sent_products if isinstance(p, dict)]
        got_products = got_order.get("products")
        got_skus = (
            [p.get("sku") for p in got_products if isinstance(p, dict)]
            if isinstance(got_products, list)
            else None
        )
        if got_skus != sent_skus:
            fail(
                "PRV-4",
                call,
                f"products came back as skus {short(got_skus)}, sent {short(sent_skus)}",
            )
    for name, sent, got in _redeemed_levels(call):
        result = got.get("redemptions_result") if isinstance(got, dict) else None
        original = _number(sent.get("value"))
        if not isinstance(result, dict) or original is None:
            continue
        judged = True
        value, discount = _number(result.get("value")), _number(result.get("discount_value"))
        if (
            value is None
            or discount is None
            or abs(value - (original - discount)) > MONEY_TOLERANCE
        ):
            fail(
                "PRV-4",
                call,
                f"{name}: value {short(result.get('value'))} is not the original "
                f"{original} minus discount_value {short(result.get('discount_value'))}",
            )
    return judged


@check("PRV-7")
def preview_percent(call: Call) -> bool:
    judged = False
    for name, sent, got in _redeemed_levels(call):
        result = got.get("redemptions_result") if isinstance(got, dict) else None
        original = _number(sent.get("value"))
        if not isinstance(result, dict) or original is None or original <= 0:
            continue
        percent, discount = (
            _number(result.get("discount_percent")),
            _number(result.get("discount_value")),
        )
        if percent is None or discount is None:
            continue
        judged = True
        if abs(percent - discount / original) > PERCENT_TOLERANCE:
            fail(
                "PRV-7",
                call,
                f"{name}: discount_percent {percent} is not discount_value / "
                f"value = {discount / original:.4f}",
            )
    return judged


def _order_entries(call: Call, reward: str) -> list[dict[str, Any]]:
    """The order level's redeemed entries for `reward` in a preview's answer."""
    order = call.data.get("order") if isinstance(call.data, dict) else None
    result = (order.get("redemptions_result") if isinstance(order, dict) else None) or {}
    redeemed = result.get("redeemed") if isinstance(result, dict) else None
    return [e for e in redeemed or [] if isinstance(e, dict) and e.get("id") == reward]


def unredeemable_reported(call: Call, reward: str, case: str) -> Verdict:
    """PRV-5: a reward that cannot be redeemed (`case` says why) comes back as a redeemed
    entry with a non-empty error."""
    entries = _order_entries(call, reward)
    return Verdict.of(
        "PRV-5",
        bool(entries) and all(isinstance(e.get("error"), str) and e["error"] for e in entries),
        f"{case}: expected a redeemed entry for {reward} with a non-empty error, "
        f"got {short(entries)}",
        call.reproducer,
    )


def redeemed_without_error(call: Call, reward: str, amount: float, held: float) -> Verdict:
    """PRV-5 at its boundary: a redeem of `amount` of the `held` points is no "balance
    too low" when `amount` <= `held`; its entry carries no error (mutation testing found
    a server that refused exactly the balance, docs/decisions.md)."""
    entries = _order_entries(call, reward)
    return Verdict.of(
        "PRV-5",
        bool(entries) and not any(e.get("error") for e in entries),
        f"a redeem of {amount:g} of the {held:g} points held of {reward}: expected a redeemed "
        f"entry without an error, got {short(entries)}",
        call.reproducer,
    )
