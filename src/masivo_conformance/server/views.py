"""JSON shapes of stored rows: customers, wallets, events, lines and transactions.

These are the correct shapes; faults that only change how a result is shown live in
render.py. Shapes follow the contract's schemas (schemas/*.schema.json).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from masivo_conformance.server.rows import balances, customer_row, event_row, line_json
from masivo_conformance.server.rules import iso
from masivo_conformance.server.seed import Seed
from masivo_conformance.server.store import Db, Row

__all__ = ["customer_json", "event_json", "made_up_event", "transaction_json", "wallet_json"]


def wallet_json(
    seed: Seed, db: Db, customer: Row, *, lines: bool = True, split: bool = False
) -> dict[str, Any]:
    """`split`: one total per reward and event that moved it (their sum per reward is
    still the wallet total of the reward, CONTRACT section 2), instead of one per reward."""
    sums = _totals_by_event(db, customer["id"]) if split else balances(db, customer["id"]).items()
    totals = []
    for reward_id, total in sums:
        reward = seed.reward(reward_id)
        totals.append(
            {
                "total": total,
                "reward_id": reward_id,
                "expiration_date": None,
                "reward": reward.as_json() if reward else None,
            }
        )
    wallet: dict[str, Any] = {"id": customer["wallet_id"], "owner_id": customer["internal_id"]}
    if lines:
        wallet["lines"] = [
            line_json(r)
            for r in db.execute(
                "SELECT * FROM lines WHERE customer_id = ? AND active = 1 ORDER BY seq",
                (customer["id"],),
            ).fetchall()
        ]
    wallet["totals"] = totals
    return wallet


def _totals_by_event(db: Db, customer_id: str) -> list[tuple[str, float]]:
    rows = db.execute(
        "SELECT reward_id, round(SUM(amount), 6) AS total FROM lines "
        "WHERE customer_id = ? AND active = 1 GROUP BY reward_id, event_id ORDER BY MIN(seq)",
        (customer_id,),
    ).fetchall()
    return [(r["reward_id"], r["total"]) for r in rows]


def event_json(
    db: Db,
    seed: Seed,
    faults: frozenset[str],
    event_id: str,
    *,
    split: bool = False,
    customer: Row | None = None,
) -> dict[str, Any]:
    """`customer`: the event's customer's row when the caller has it (one query less)."""
    row = event_row(db, event_id)
    assert row is not None
    txs = db.execute(
        "SELECT * FROM transactions WHERE event_id = ? ORDER BY seq", (event_id,)
    ).fetchall()
    lines = db.execute(
        "SELECT * FROM lines WHERE event_id = ? ORDER BY seq", (event_id,)
    ).fetchall()
    unprocessed = row["status"] == "PENDING" and row["fulfilled"]
    if customer is None:
        customer = customer_row(db, row["customer_id"])
    result: dict[str, Any] = (
        {}
        if unprocessed or customer is None
        else {
            "wallet": wallet_json(seed, db, customer, lines=False, split=split),
            "customer": customer_json(customer),
            "gift_card": [],
            "accumulations": [line_json(r) for r in lines if r["kind"] == "ACCUMULATION"],
            "redemptions": [
                line_json(r) for r in lines if r["kind"] in {"REDEMPTION", "RESERVATION"}
            ],
            "transactions": [transaction_json(t) for t in txs],
            "customer_by_tier": [],
        }
    )
    campaigns = {
        t["campaign_id"]: {
            "id": t["campaign_id"],
            "name": t["campaign_name"],
            "reward_id": t["reward_id"],
            "amount": t["amount"],
        }
        for t in txs
        if t["type"] == "ACCUMULATION"
    }
    if row["failure"]:
        result["error"] = row["failure"]
    event_ref = f"evt_{row['seq']}" if "non_uuid_event_id" in faults else row["id"]
    return {
        "id": event_ref,
        "customer_id": row["customer_id"],
        "type": row["type"],
        "data": json.loads(row["body"]),
        "fulfilled": bool(row["fulfilled"]),
        "reserve": row["reserve"],
        "queue_message_id": row["queue_message_id"],
        "rewarding_campaigns": list(campaigns.values()),
        "status": row["status"],
        "result": result,
        "issued_at": row["issued_at"],
        "processing_at": row["processing_at"],
        "resolved_at": row["resolved_at"],
        "cancelled_at": row["cancelled_at"],
        "expired_at": row["expired_at"],
        "reversed_at": row["reversed_at"],
    }


def made_up_event(ref: str, now: datetime, status: str) -> dict[str, Any]:
    """What the *_unknown_event_ok regressions answer: a plausible, schema-valid event."""
    try:
        event_id = str(uuid.UUID(ref))
    except ValueError:
        event_id = str(uuid.uuid4())
    stamp = iso(now)
    return {
        "id": event_id,
        "customer_id": "unknown",
        "type": "PURCHASE",
        "data": {},
        "fulfilled": True,
        "reserve": 1,
        "queue_message_id": None,
        "rewarding_campaigns": [],
        "status": status,
        "result": {},
        "issued_at": stamp,
        "processing_at": stamp,
        "resolved_at": stamp,
        "cancelled_at": None,
        "expired_at": None,
        "reversed_at": stamp if status == "REVERSED" else None,
    }


def customer_json(row: Row) -> dict[str, Any]:
    body = json.loads(row["body"])
    return {
        **body,
        "id": row["id"],
        "status": "ACTIVE",
        "name": body.get("name"),
        "email": body.get("email"),
        "gender": body.get("gender"),
        "dob": body.get("dob"),
        "registration_date": row["registration_date"],
        "tier_id": None,
        "tags": body.get("tags"),
        "consent": body.get("consent"),
        "metrics": {},
        "metadata": body.get("metadata") or {},
    }


def transaction_json(row: Row) -> dict[str, Any]:
    receives = row["amount"] >= 0
    return {
        "id": row["id"],
        "brand_id": row["brand_id"],
        "event_id": row["event_id"],
        "campaign_id": row["campaign_id"],
        "channel_id": row["channel_id"],
        "store_id": row["store_id"],
        "funded_by": "MARKETING",
        "event_type": row["event_type"],
        "reward_type": row["reward_type"],
        "reward_id": row["reward_id"],
        "amount": row["amount"],
        "cost": None,
        "details": row["details"],
        "type": row["type"],
        "receiver_id": row["customer_id"] if receives else None,
        "sender_id": None if receives else row["customer_id"],
        "created_at": row["created_at"],
        "issued_at": row["issued_at"],
        "attributes": {
            "line": json.loads(row["line"]) if row["line"] else None,
            "campaign_name": row["campaign_name"],
        },
        "metadata": {},
    }
