"""Preview maths (pure): the order as if its rewards were redeemed, never touching state.

On a level worth `v`, redeeming `a` points takes off min(v, a * conversion_factor) and a
DISCOUNT reward of percentage `p` takes off v * p; discounts of one level add up to at
most `v`. A reward that cannot be redeemed (unknown, or more points asked over the
whole order than the balance holds) gets an `error` and takes nothing off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from masivo_conformance.server.seed import Seed

__all__ = ["preview_order", "unknown_reward_ids"]


def _levels(order: Mapping[str, Any]) -> list[Any]:
    shipping = order.get("shipping")
    return [order, *(order.get("products") or []), *([shipping] if shipping else [])]


def unknown_reward_ids(seed: Seed, order: Mapping[str, Any]) -> list[str]:
    return [
        item["id"]
        for level in _levels(order)
        for item in level.get("redeem") or []
        if seed.reward(item["id"]) is None
    ]


def _asked_points(seed: Seed, order: Mapping[str, Any]) -> dict[str, float]:
    asked: dict[str, float] = {}
    for level in _levels(order):
        for item in level.get("redeem") or []:
            reward = seed.reward(item["id"])
            if reward is not None and reward.type == "POINTS":
                asked[reward.id] = asked.get(reward.id, 0.0) + float(item["amount"])
    return asked


def _redemption_result(
    seed: Seed, level: Mapping[str, Any], refused: Mapping[str, str], percent_base: float | None
) -> dict[str, Any]:
    value = float(level.get("value") or 0)
    left = value
    redeemed = []
    amount = 0.0
    for item in level["redeem"]:
        reward = seed.reward(item["id"])
        entry: dict[str, Any] = {
            "id": item["id"],
            "amount": item["amount"],
            "reward": reward.as_json() if reward else None,
        }
        error = refused.get(item["id"]) if reward else f"reward {item['id']} does not exist"
        if reward is not None and error is None:
            if reward.type == "POINTS":
                off = min(left, float(item["amount"]) * reward.conversion_factor)
            elif reward.type == "DISCOUNT":
                off = min(left, value * reward.percentage)
            else:
                off, error = 0.0, f"a {reward.type} reward cannot be redeemed in an order preview"
            left -= off
            amount += float(item["amount"]) if error is None else 0.0
        if error is not None:
            entry["error"] = error
        redeemed.append(entry)
    discount = round(value - left, 2)
    base = value if percent_base is None else percent_base
    percent = min(1.0, round(discount / base, 6)) if base > 0 else 0.0
    return {
        "redeemed": redeemed,
        "amount": amount,
        "discount_value": discount,
        "discount_percent": percent,
        "value": round(value - discount, 2),
        "action": "UPDATE" if discount > 0 else "READ",
    }


def _slack(off_by_one: bool, held: float) -> float:
    """preview_balance_one_point_short: the point let through over a balance held."""
    return 1.0 if off_by_one and held > 0 else 0.0


def _too_much(asked: float, balance: float, slack: float, whole_refused: bool) -> bool:
    """Whether `asked` is more than `balance` (+ the fault's slack), within float noise;
    preview_refuses_whole_balance also refuses exactly the balance."""
    if whole_refused and balance > 0 and asked >= balance - 1e-9:
        return True
    return asked > balance + slack + 1e-9


def _copied(value: Any) -> Any:
    """A copy of a parsed JSON value (dicts, lists and scalars): copy.deepcopy's memo and
    dispatch cost a preview about as much as all of its maths."""
    if type(value) is dict:
        return {key: _copied(item) for key, item in value.items()}
    if type(value) is list:
        return [_copied(item) for item in value]
    return value


def preview_order(
    seed: Seed,
    order: Mapping[str, Any],
    balances: Mapping[str, float],
    faults: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """A copy of `order` with a redemptions_result at every level that asked to redeem."""
    result: dict[str, Any] = _copied(dict(order))
    # preview_missing_balance_is_one and preview_balance_one_point_short (PRV-5): a
    # missing balance read as 1, and one point over a balance the wallet holds let
    # through. The off-by-one is on held balances only, so that the suite's "one point
    # over the balance" probe alone catches it, not its "one point, none held" one.
    missing = 1.0 if "preview_missing_balance_is_one" in faults else 0.0
    off_by_one = "preview_balance_one_point_short" in faults
    whole_refused = "preview_refuses_whole_balance" in faults
    refused = {
        rid: f"balance of reward {rid} is {balances.get(rid, missing):g}, {asked:g} asked"
        for rid, asked in _asked_points(seed, order).items()
        if _too_much(
            asked,
            balances.get(rid, missing),
            _slack(off_by_one, balances.get(rid, 0.0)),
            whole_refused,
        )
    }
    order_value = float(order.get("value") or 0)
    for level in _levels(result):
        level.pop("redemptions_result", None)  # a result sent in the request is not trusted
        if not level.get("redeem"):
            continue
        if level is result.get("shipping") and "preview_skips_shipping_result" in faults:
            continue
        wrong_base = "preview_percent_of_order_total" in faults and level is not result
        level["redemptions_result"] = _redemption_result(
            seed, level, refused, order_value if wrong_base else None
        )
    if "preview_reorders_products" in faults and result.get("products"):
        result["products"] = list(reversed(result["products"]))
    if "preview_sorts_products" in faults and result.get("products"):
        result["products"] = sorted(result["products"], key=lambda p: str(p.get("sku")))
    return result
