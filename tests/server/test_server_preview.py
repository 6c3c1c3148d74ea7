"""Preview maths of the reference server (pure functions, no HTTP)."""

from __future__ import annotations

import copy

import pytest

from masivo_conformance.server.preview_maths import preview_order

from .conftest import DISCOUNT, POINTS, SEED

UNKNOWN = "5e0f3a43-1b7e-4f59-9a51-000000000000"


def points(amount: float) -> list[dict[str, object]]:
    return [{"id": POINTS, "amount": amount}]


def test_points_discount_is_amount_times_conversion_factor_capped_at_value():
    order = {
        "value": 20.0,
        "redeem": points(37),
        "products": [{"sku": "a", "value": 2.5, "redeem": points(100)}],
    }
    result = preview_order(SEED, order, {POINTS: 1000})
    top = result["redemptions_result"]
    assert (top["discount_value"], top["value"], top["action"]) == (3.7, 16.3, "UPDATE")
    assert top["discount_percent"] == pytest.approx(0.185)
    assert top["amount"] == 37
    product = result["products"][0]["redemptions_result"]
    assert (product["discount_value"], product["value"], product["discount_percent"]) == (
        2.5,
        0.0,
        1.0,
    )


def test_discount_reward_takes_its_percentage_and_rounds_to_cents():
    result = preview_order(SEED, {"value": 33.33, "redeem": [{"id": DISCOUNT, "amount": 1}]}, {})
    top = result["redemptions_result"]
    assert (top["discount_value"], top["value"]) == (3.33, 30.0)
    assert top["redeemed"][0]["reward"]["type"] == "DISCOUNT"
    assert "error" not in top["redeemed"][0]


def test_points_asked_over_all_levels_beyond_the_balance_are_refused_everywhere():
    order = {"value": 50, "redeem": points(6), "shipping": {"value": 5, "redeem": points(6)}}
    result = preview_order(SEED, order, {POINTS: 10})
    for level in (result, result["shipping"]):
        rr = level["redemptions_result"]
        assert rr["redeemed"][0]["error"]
        assert (rr["discount_value"], rr["discount_percent"], rr["action"]) == (0, 0, "READ")
        assert rr["value"] == level["value"]


def test_unknown_reward_gets_an_error_entry_and_other_rewards_still_apply():
    order = {"value": 10, "redeem": [{"id": UNKNOWN, "amount": 1}, *points(10)]}
    rr = preview_order(SEED, order, {POINTS: 10})["redemptions_result"]
    assert [e["id"] for e in rr["redeemed"]] == [UNKNOWN, POINTS]
    assert rr["redeemed"][0]["reward"] is None
    assert "does not exist" in rr["redeemed"][0]["error"]
    assert rr["discount_value"] == 1.0


def test_results_only_where_a_redeem_was_asked_and_products_keep_their_order():
    order = {
        "value": 10,
        "redeem": [],
        "products": [
            {"sku": s, "value": 1, **({"redeem": points(1)} if s == "b" else {})} for s in "abc"
        ],
        "shipping": {"value": 1},
        "redemptions_result": {"discount_value": 99},
    }
    result = preview_order(SEED, order, {POINTS: 5})
    assert "redemptions_result" not in result
    assert [p["sku"] for p in result["products"]] == ["a", "b", "c"]
    assert ["redemptions_result" in p for p in result["products"]] == [False, True, False]
    assert "redemptions_result" not in result["shipping"]


def test_level_worth_zero_has_zero_percent():
    rr = preview_order(SEED, {"value": 0, "redeem": points(3)}, {POINTS: 5})["redemptions_result"]
    assert (rr["discount_value"], rr["discount_percent"], rr["action"]) == (0, 0, "READ")


def test_preview_does_not_touch_its_input():
    order = {"value": 10, "redeem": points(1), "products": [{"sku": "a", "value": 1}]}
    before = copy.deepcopy(order)
    preview_order(SEED, order, {POINTS: 5})
    assert order == before
