"""Row helpers shared by books.py, service.py and views.py: lookups, the event state a
rule needs, wallet balances, and releasing an event's wallet lines."""

from __future__ import annotations

import functools
import json
from typing import Any

from masivo_conformance.server.rules import EventState
from masivo_conformance.server.store import Db, Row

__all__ = [
    "add_to_balance",
    "balances",
    "customer_row",
    "event_row",
    "line_json",
    "parsed_body",
    "release_lines",
    "reserved",
    "state",
]


def customer_row(db: Db, customer_id: str) -> Row | None:
    row: Row | None = db.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
    return row


def event_row(db: Db, event_id: str) -> Row | None:
    row: Row | None = db.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
    return row


@functools.lru_cache(maxsize=16)
def parsed_body(text: str) -> Any:
    """An event's stored body, parsed once however many ledger rows read it (an emit
    reads it for its redemptions, its accumulations and each transaction it files).
    Shared between its readers: read it, never change it. Sixteen bodies of at most
    256 KiB bound what the cache holds."""
    return json.loads(text)


def reserved(db: Db, event_id: str) -> bool:
    found = db.execute(
        "SELECT 1 FROM lines WHERE event_id = ? AND kind = 'RESERVATION' AND active = 1",
        (event_id,),
    ).fetchone()
    return found is not None


def state(row: Row) -> EventState:
    unsettled = row["status"] == "PENDING" and bool(row["fulfilled"])
    return EventState(row["status"], bool(row["fulfilled"]), settled=not unsettled)


def balances(db: Db, customer_id: str) -> dict[str, float]:
    """Wallet total per reward: the sum of the active lines, kept up to date on every
    line change (reading it stays O(rewards), however long the customer's history)."""
    rows = db.execute(
        "SELECT reward_id, total FROM balances WHERE customer_id = ? ORDER BY rowid",
        (customer_id,),
    ).fetchall()
    return {r["reward_id"]: r["total"] for r in rows}


def release_lines(db: Db, event_id: str) -> None:
    """The event's lines stop counting (reversal, cancellation, expiry)."""
    active = db.execute(
        "SELECT customer_id, reward_id, SUM(amount) AS amount FROM lines "
        "WHERE event_id = ? AND active = 1 GROUP BY customer_id, reward_id",
        (event_id,),
    ).fetchall()
    for line in active:
        add_to_balance(db, line["customer_id"], line["reward_id"], -line["amount"])
    db.execute("UPDATE lines SET active = 0 WHERE event_id = ?", (event_id,))


def add_to_balance(db: Db, customer_id: str, reward_id: str, amount: float) -> None:
    # Rounded to 6 places so that +0.1 and -0.1 many times over still meet at 0.
    db.execute(
        "INSERT INTO balances (customer_id, reward_id, total) VALUES (?, ?, round(?, 6)) "
        "ON CONFLICT (customer_id, reward_id) DO UPDATE SET total = round(balances.total + ?, 6)",
        (customer_id, reward_id, amount, amount),
    )


def line_json(row: Row) -> dict[str, Any]:
    return {
        key: row[key]
        for key in (
            "amount",
            "reward_id",
            "campaign_id",
            "brand_id",
            "issued_at",
            "expiration_date",
            "reservation_expires_at",
        )
    }
