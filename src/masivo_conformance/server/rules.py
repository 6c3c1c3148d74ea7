"""Domain rules of the reference server as pure functions (no SQL, no HTTP).

Amounts are signed wallet effects: an ACCUMULATION adds points (+n), a REDEMPTION or a
reservation takes them (-n), a REVERSAL is the opposite of the transaction it undoes,
so the transactions of an event always sum to its net effect on the wallet.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from masivo_conformance.server.seed import Campaign, Seed

__all__ = [
    "MAX_ISSUED_AGE",
    "MAX_NUMBER",
    "REDEEM_LEVELS",
    "Conflict",
    "EventState",
    "accumulations",
    "check_fulfil",
    "check_reverse",
    "collect_redeems",
    "expiry_time",
    "iso",
    "issued_at_problem",
    "parse_issued_at",
    "redeem_problem",
    "zero_redeem_path",
]

MAX_ISSUED_AGE = timedelta(hours=72)
# A few seconds of clock skew between a client and this server is not "the future".
_FUTURE_SKEW = timedelta(seconds=5)
# Numbers above this are refused (422) so sums and products stay finite and exact enough.
MAX_NUMBER = 1e12


class Conflict(Exception):
    """A transition that the event's current state does not allow (HTTP 409)."""


@dataclass(frozen=True)
class EventState:
    status: str
    fulfilled: bool
    settled: bool  # False while a fulfilled emit waits for its processing delay


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, the form of the docs' examples."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").removesuffix("+00:00") + "Z"


def _read_time(text: str) -> datetime | None:
    """An RFC 3339 date-time in UTC (the T and Z may be lower case), or None."""
    try:
        moment = datetime.fromisoformat(text.upper())
        return moment.astimezone(UTC) if moment.tzinfo else None
    except (ValueError, OverflowError):
        return None


def issued_at_problem(text: str, now: datetime) -> str | None:
    """Why an emit's issued_at is refused, or None: at most 72 h old, not in the future."""
    moment = _read_time(text)
    if moment is None:
        return f"issued_at {text[:80]!r} is not an RFC 3339 date-time with an offset"
    if moment > now + _FUTURE_SKEW:
        return "issued_at is in the future"
    if moment < now - MAX_ISSUED_AGE:
        return "issued_at is more than 72 hours old"
    return None


def parse_issued_at(text: str | None, now: datetime) -> datetime:
    """The moment an event happened: its issued_at when readable, else now."""
    return (_read_time(text) if text else None) or now


REDEEM_LEVELS = ("top", "order", "products", "shipping")


def collect_redeems(body: Mapping[str, Any], skip: Collection[str] = ()) -> dict[str, float]:
    """Amount asked per reward id over every level of an emit: top level, order,
    products and shipping (the same reward on two levels adds up). `skip` names levels
    of REDEEM_LEVELS left out (only the emit_ignores_*_redeem regressions skip any)."""
    order = body.get("order") or {}
    levels = {
        "top": [body],
        "order": [order],
        "shipping": [order.get("shipping") or {}],
        "products": list(order.get("products") or []),
    }
    wanted: dict[str, float] = {}
    for level in (item for name, items in levels.items() if name not in skip for item in items):
        for item in level.get("redeem") or []:
            wanted[item["id"]] = wanted.get(item["id"], 0.0) + float(item["amount"])
    return wanted


def redeem_problem(
    seed: Seed, wanted: Mapping[str, float], balances: Mapping[str, float]
) -> str | None:
    """Why the redemptions of an event cannot happen (the event FAILS), or None.

    Only POINTS live in the wallet; a DISCOUNT reward is applied by the merchant at
    checkout, so redeeming one needs no balance and moves no points."""
    for reward_id, amount in wanted.items():
        reward = seed.reward(reward_id)
        if reward is None:
            return f"reward {reward_id} does not exist"
        if reward.type == "POINTS" and amount > balances.get(reward_id, 0.0) + 1e-9:
            return (
                f"balance of reward {reward_id} is {balances.get(reward_id, 0.0):g}, "
                f"{amount:g} asked"
            )
    return None


def points_to_redeem(seed: Seed, wanted: Mapping[str, float]) -> list[tuple[str, float]]:
    """The wallet debits of an event: POINTS rewards with an amount above 0."""
    return [
        (rid, amount)
        for rid, amount in wanted.items()
        if amount > 0 and (r := seed.reward(rid)) is not None and r.type == "POINTS"
    ]


def accumulations(
    seed: Seed, event_type: str, order: Mapping[str, Any] | None
) -> list[tuple[Campaign, float]]:
    """Points each matching campaign gives: floor(order.value * points_per_unit), if > 0."""
    value = float((order or {}).get("value") or 0)
    earned = []
    for campaign in seed.campaigns:
        if campaign.event_type != event_type:
            continue
        points = float(math.floor(value * campaign.points_per_unit + 1e-9))
        if points > 0:
            earned.append((campaign, points))
    return earned


def expiry_time(issued_at: datetime, reserve: float) -> datetime:
    """When a standby event expires: issued_at plus `reserve` days (at most year 9999)."""
    try:
        return issued_at + timedelta(days=reserve)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def check_fulfil(state: EventState) -> bool:
    """True for a standby event (PENDING, not fulfilled), which can be fulfilled; False
    for one that is already fulfilled (nothing left to do); Conflict for the others."""
    if state.status == "PENDING" and not state.fulfilled:
        return True
    if state.fulfilled and state.status in {"PENDING", "PROCESSING", "RESOLVED", "FAILED"}:
        return False
    raise Conflict(f"an event in status {state.status} cannot be fulfilled")


def zero_redeem_path(body: Mapping[str, Any]) -> str | None:
    """Where a body redeems an amount of 0 (top level, order, product, shipping), or None."""
    order = body.get("order") or {}
    levels = [("$", body), ("$.order", order), ("$.order.shipping", order.get("shipping") or {})]
    levels += [(f"$.order.products[{i}]", p) for i, p in enumerate(order.get("products") or [])]
    for path, level in levels:
        for i, item in enumerate(level.get("redeem") or []):
            if item["amount"] == 0:
                return f"{path}.redeem[{i}].amount"
    return None


def check_reverse(state: EventState) -> str:
    """ "REVERSE" for a processed event, "CANCEL" for a standby one; Conflict otherwise."""
    if state.status == "PENDING" and not state.fulfilled:
        return "CANCEL"
    if state.status == "RESOLVED":
        return "REVERSE"
    if state.status in {"PENDING", "PROCESSING"}:
        raise Conflict("the event is still being processed: retry in a moment")
    raise Conflict(f"an event in status {state.status} cannot be reversed")
