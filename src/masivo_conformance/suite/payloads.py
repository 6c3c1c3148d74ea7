"""Request bodies the suite sends, built in one place so tests read as the rule they check."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

__all__ = [
    "REDEEM_LEVELS",
    "issued_at_formats",
    "issued_at_now",
    "preview_request",
    "purchase",
    "purchase_id",
    "redeeming_purchase",
]

# Where an emit may ask to redeem (S1, and the order schema's levels), as the suite
# names them in messages.
REDEEM_LEVELS = ("redeem", "order.redeem", "order.products[].redeem", "order.shipping.redeem")


def purchase_id(prefix: str = "order") -> str:
    """A purchase id no other order of any run has: a target may de-duplicate orders."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def issued_at_formats(now: datetime | None = None) -> dict[str, str]:
    """The same recent moment in every RFC 3339 form the Masivo docs show or allow:
    `Z` with milliseconds (the docs' own example), `Z` whole seconds, a zero offset,
    another offset, microseconds. All lie inside EMIT-3's 72-hour window."""
    moment = (now or datetime.now(UTC)) - timedelta(minutes=5)
    west = moment.astimezone(timezone(timedelta(hours=-5)))
    return {
        "zulu-millis": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "zulu": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "zero-offset": moment.replace(microsecond=0).isoformat(),
        "other-offset": west.replace(microsecond=0).isoformat(),
        "micros": moment.isoformat(),
    }


def issued_at_now(headers: Mapping[str, str]) -> str | None:
    """The freshest issued_at that is never in the target's future: the `Date` of an
    answer the target has just given (its own clock, whole seconds, so never ahead of
    it), or None when the answer had no readable `Date`. A target that takes the last
    seconds for the future refuses it (mutation testing found one); an issued_at from
    the runner's clock could be refused by a target whose clock lags, a false alarm."""
    try:
        moment = parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def purchase(
    customer_id: str,
    brand_id: str,
    *,
    value: float = 120.0,
    fulfilled: bool | None = None,
    redeem: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A PURCHASE event; `fulfilled` is left out unless given (it defaults to true)."""
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "brand_id": brand_id,
        "type": "PURCHASE",
        "order": {
            "purchase_id": purchase_id(),
            "value": value,
            "products": [{"sku": "SKU-1", "amount": 1, "value": value}],
            "payment_method": "CREDIT",
        },
    }
    if fulfilled is not None:
        body["fulfilled"] = fulfilled
    if redeem:
        body["redeem"] = redeem
    body.update(extra)
    return body


def preview_request(
    customer_id: str,
    brand_id: str,
    *,
    order_redeem: list[dict[str, Any]] | None = None,
    product_redeem: list[dict[str, Any]] | None = None,
    shipping_redeem: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A preview of a four-product order with shipping, redeeming at the levels given.

    The products are out of `sku` order on purpose: PRV-4 says they come back in the
    request's order, and a target that sorts them (or reverses them) shows only on a
    list that sorting would change. Prices carry cents, so a level's value rounded to
    0.1 shows too.
    """
    products: list[dict[str, Any]] = [
        {"sku": "SKU-C", "amount": 1, "value": 30.25},
        {"sku": "SKU-A", "amount": 1, "value": 40.5},
        {"sku": "SKU-B", "amount": 2, "value": 29.25},
        {"sku": "SKU-0", "amount": 1, "value": 0.0},  # a free item
    ]
    if product_redeem:
        # On a priced product and on the free one: a level worth 0 must still answer
        # a discount_percent within [0, 1] (mutation testing found one that did not).
        products[0]["redeem"] = product_redeem
        products[3]["redeem"] = product_redeem
    order: dict[str, Any] = {
        "purchase_id": purchase_id("preview"),
        "value": 100.0,
        "products": products,
        # Worth less than 1: a discount_percent computed only above 1 shows (PRV-7).
        "shipping": {"value": 0.75},
        "payment_method": "CREDIT",
    }
    if order_redeem:
        order["redeem"] = order_redeem
    if shipping_redeem:
        order["shipping"]["redeem"] = shipping_redeem
    return {"customer_id": customer_id, "brand_id": brand_id, "order": order}


def redeeming_purchase(
    customer_id: str,
    brand_id: str,
    *,
    value: float,
    redeem: Mapping[str, list[dict[str, Any]]] | None = None,
    fulfilled: bool | None = None,
) -> dict[str, Any]:
    """A PURCHASE of one product (quantity 1, so a product's redeem is not multiplied)
    and a shipping, worth `value` in all, redeeming what `redeem` asks at each level of
    REDEEM_LEVELS it names. Without `redeem` it is the twin of any of them: the same
    purchase, to tell what the purchase earns from what the redemption takes."""
    body = purchase(customer_id, brand_id, value=value, fulfilled=fulfilled)
    order = body["order"]
    shipping = round(value / 5, 2)
    order["products"][0]["value"] = value - shipping
    order["shipping"] = {"value": shipping}
    levels = {
        "redeem": body,
        "order.redeem": order,
        "order.products[].redeem": order["products"][0],
        "order.shipping.redeem": order["shipping"],
    }
    for level, items in (redeem or {}).items():
        levels[level]["redeem"] = [dict(item) for item in items]
    return body
