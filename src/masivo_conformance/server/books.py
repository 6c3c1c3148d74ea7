"""Bookkeeping of the reference server: the ledger writes behind each transition.

`Books` turns the rules of ledger.py into rows: wallet lines (accumulated, redeemed,
reserved) and transactions. Every method takes the open SQLite transaction of the
caller, so one HTTP request is still one atomic change.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from masivo_conformance.server import ledger
from masivo_conformance.server.ledger import EventState, iso
from masivo_conformance.server.seed import Seed
from masivo_conformance.server.store import Row, dumps, insert, update

__all__ = [
    "Books",
    "balances",
    "customer_row",
    "event_row",
    "line_json",
    "release_lines",
    "state",
]


class Books:
    def __init__(self, seed: Seed, faults: frozenset[str]) -> None:
        self.seed = seed
        self.faults = faults

    def settle_due(self, db: sqlite3.Connection, now: datetime) -> None:
        """Lazily run what time has made due: delayed processing and standby expiry,
        in due order, stamped with the due time (so the outcome does not depend on
        when somebody looks)."""
        due = db.execute(
            "SELECT * FROM events WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at, seq",
            (now.timestamp(),),
        ).fetchall()
        for row in due:
            moment = datetime.fromtimestamp(row["due_at"], now.tzinfo)
            if row["fulfilled"]:
                self.process(db, row, moment)
            else:
                release_lines(db, row["id"])
                update(
                    db,
                    "events",
                    "id",
                    row["id"],
                    {"status": "EXPIRED", "expired_at": iso(moment), "due_at": None},
                )

    def process(self, db: sqlite3.Connection, row: Row, now: datetime) -> None:
        """Process a fulfilled event: redemptions, then accumulations, or FAILED."""
        body = json.loads(row["body"])
        wanted = ledger.collect_redeems(body)
        problem = ledger.redeem_problem(self.seed, wanted, balances(db, row["customer_id"]))
        if problem is None:
            for reward_id, amount in ledger.points_to_redeem(self.seed, wanted):
                line = self.line(db, row, "REDEMPTION", reward_id, -amount, now)
                self.transaction(db, row, "REDEMPTION", reward_id, -amount, now, line=line)
            self.credit(db, row, now)
        update(
            db,
            "events",
            "id",
            row["id"],
            {
                "status": "FAILED" if problem else "RESOLVED",
                "failure": problem,
                "due_at": None,
                "processing_at": iso(now),
                "resolved_at": iso(now),
            },
        )

    def reserve(self, db: sqlite3.Connection, row: Row, expires: datetime, now: datetime) -> None:
        body = json.loads(row["body"])
        wanted = ledger.collect_redeems(body)
        problem = ledger.redeem_problem(self.seed, wanted, balances(db, row["customer_id"]))
        if problem is not None:
            update(
                db,
                "events",
                "id",
                row["id"],
                {
                    "status": "FAILED",
                    "failure": problem,
                    "processing_at": iso(now),
                    "resolved_at": iso(now),
                },
            )
            return
        for reward_id, amount in ledger.points_to_redeem(self.seed, wanted):
            self.line(
                db, row, "RESERVATION", reward_id, -amount, now, reservation_expires_at=iso(expires)
            )
        update(db, "events", "id", row["id"], {"due_at": expires.timestamp()})

    def credit(self, db: sqlite3.Connection, row: Row, now: datetime) -> None:
        order = json.loads(row["body"]).get("order")
        for campaign, points in ledger.accumulations(self.seed, row["type"], order):
            line = self.line(
                db, row, "ACCUMULATION", campaign.reward_id, points, now, campaign_id=campaign.id
            )
            self.transaction(
                db,
                row,
                "ACCUMULATION",
                campaign.reward_id,
                points,
                now,
                line=line,
                campaign=(campaign.id, campaign.name),
            )

    def undo(
        self, db: sqlite3.Connection, row: Row, reason: str | None, now: datetime, *, again: bool
    ) -> None:
        """One REVERSAL per transaction of the event; its lines stop counting."""
        made = db.execute(
            "SELECT * FROM transactions WHERE event_id = ? AND type != 'REVERSAL' ORDER BY seq",
            (row["id"],),
        ).fetchall()
        for tx in made:
            line = json.loads(tx["line"]) if tx["line"] else None
            if again and line:  # double_reverse_accepted: the lines are already inactive
                line = self.line(db, row, "REVERSAL", tx["reward_id"], -tx["amount"], now)
            self.transaction(
                db,
                row,
                "REVERSAL",
                tx["reward_id"],
                -tx["amount"],
                now,
                line=line,
                campaign=(tx["campaign_id"], tx["campaign_name"]),
                details=f"reversal of {tx['id']}: {reason or 'no reason given'}",
            )
        if not again:
            release_lines(db, row["id"])

    def consume(
        self, db: sqlite3.Connection, customer_id: str, order: Mapping[str, Any], now: datetime
    ) -> None:
        """The preview_consumes_points regression: a preview that redeems for real."""
        fake = {
            "id": str(uuid.uuid4()),
            "customer_id": customer_id,
            "type": "PREVIEW",
            "brand_id": self.seed.brand_id,
            "body": dumps({"order": order}),
        }
        for reward_id, amount in ledger.points_to_redeem(
            self.seed, ledger.collect_redeems({"order": order})
        ):
            line = self.line(db, fake, "REDEMPTION", reward_id, -amount, now)
            self.transaction(db, fake, "REDEMPTION", reward_id, -amount, now, line=line)

    def line(
        self,
        db: sqlite3.Connection,
        row: Row,
        kind: str,
        reward_id: str,
        amount: float,
        now: datetime,
        *,
        campaign_id: str | None = None,
        reservation_expires_at: str | None = None,
    ) -> Row:
        line = {
            "customer_id": row["customer_id"],
            "event_id": row["id"],
            "kind": kind,
            "active": 1,
            "amount": amount,
            "reward_id": reward_id,
            "campaign_id": campaign_id,
            "brand_id": row["brand_id"],
            "issued_at": iso(now),
            "expiration_date": None,
            "reservation_expires_at": reservation_expires_at,
        }
        insert(db, "lines", line)
        _add_to_balance(db, row["customer_id"], reward_id, amount)
        return line_json(line)

    def transaction(
        self,
        db: sqlite3.Connection,
        row: Row,
        kind: str,
        reward_id: str,
        amount: float,
        now: datetime,
        *,
        line: Row | None,
        campaign: tuple[str | None, str | None] = (None, None),
        details: str | None = None,
    ) -> None:
        reward = self.seed.reward(reward_id)
        order = json.loads(row["body"]).get("order") or {}
        insert(
            db,
            "transactions",
            {
                "id": str(uuid.uuid4()),
                "customer_id": row["customer_id"],
                "event_id": row["id"],
                "brand_id": row["brand_id"],
                "campaign_id": campaign[0],
                "campaign_name": campaign[1],
                "reward_id": reward_id,
                "reward_type": reward.type if reward else None,
                "amount": amount,
                "type": kind,
                "event_type": row["type"],
                "details": details or f"{kind.lower()} of event {row['id']}",
                "line": dumps(line) if line else None,
                "channel_id": order.get("channel_id"),
                "store_id": order.get("store_id"),
                "created_at": iso(now),
                "issued_at": row.get("issued_at", iso(now)),
            },
        )


def customer_row(db: sqlite3.Connection, customer_id: str) -> Row | None:
    row: Row | None = db.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
    return row


def event_row(db: sqlite3.Connection, event_id: str) -> Row | None:
    row: Row | None = db.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
    return row


def state(row: Row) -> EventState:
    unsettled = row["status"] == "PENDING" and bool(row["fulfilled"])
    return EventState(row["status"], bool(row["fulfilled"]), settled=not unsettled)


def balances(db: sqlite3.Connection, customer_id: str) -> dict[str, float]:
    """Wallet total per reward: the sum of the active lines, kept up to date on every
    line change (reading it stays O(rewards), however long the customer's history)."""
    rows = db.execute(
        "SELECT reward_id, total FROM balances WHERE customer_id = ? ORDER BY rowid",
        (customer_id,),
    ).fetchall()
    return {r["reward_id"]: r["total"] for r in rows}


def release_lines(db: sqlite3.Connection, event_id: str) -> None:
    """The event's lines stop counting (reversal, cancellation, expiry)."""
    active = db.execute(
        "SELECT customer_id, reward_id, SUM(amount) AS amount FROM lines "
        "WHERE event_id = ? AND active = 1 GROUP BY customer_id, reward_id",
        (event_id,),
    ).fetchall()
    for line in active:
        _add_to_balance(db, line["customer_id"], line["reward_id"], -line["amount"])
    db.execute("UPDATE lines SET active = 0 WHERE event_id = ?", (event_id,))


def _add_to_balance(
    db: sqlite3.Connection, customer_id: str, reward_id: str, amount: float
) -> None:
    # Rounded to 6 places so that +0.1 and -0.1 many times over still meet at 0.
    db.execute(
        "INSERT INTO balances (customer_id, reward_id, total) VALUES (?, ?, round(?, 6)) "
        "ON CONFLICT (customer_id, reward_id) DO UPDATE SET total = round(total + ?, 6)",
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
