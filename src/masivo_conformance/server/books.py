"""Bookkeeping of the reference server: the ledger writes behind each transition.

`Books` turns the rules of rules.py into rows: wallet lines (accumulated, redeemed,
reserved) and transactions. Every method takes the open SQLite transaction of the
caller, so one HTTP request is still one atomic change.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from masivo_conformance.server import rules
from masivo_conformance.server.rows import (
    add_to_balance,
    balances,
    line_json,
    parsed_body,
    release_lines,
    reserved,
)
from masivo_conformance.server.rules import iso
from masivo_conformance.server.seed import Seed
from masivo_conformance.server.store import Db, Row, dumps, insert, update

__all__ = ["Books"]


class Books:
    def __init__(self, seed: Seed, faults: frozenset[str]) -> None:
        self.seed = seed
        self.faults = faults
        # The emit_ignores_<level>_redeem regressions: processing skips that level.
        self.unread_levels = frozenset(
            level
            for fault, level in (
                ("emit_ignores_top_level_redeem", "top"),
                ("emit_ignores_order_redeem", "order"),
                ("emit_ignores_product_redeem", "products"),
                ("emit_ignores_shipping_redeem", "shipping"),
            )
            if fault in faults
        )

    def settle_due(self, db: Db, now: datetime, customer: str | None = None) -> None:
        """Lazily run what time has made due, in due order, stamped with the due time (so
        the outcome does not depend on when somebody looks): delayed processing, standby
        expiry, and the late ledger effects of fulfil, reverse and cancel. Only
        `customer`'s events when given: a transaction scoped to one customer changes
        nothing of another's (Service._settled)."""
        mine = "" if customer is None else " AND customer_id = ?"
        due = db.execute(
            f"SELECT * FROM events WHERE due_at IS NOT NULL AND due_at <= ?{mine} "  # noqa: S608
            "ORDER BY due_at, seq",
            (now.timestamp(),) if customer is None else (now.timestamp(), customer),
        ).fetchall()
        for row in due:
            self.settle(db, row, datetime.fromtimestamp(row["due_at"], now.tzinfo))

    def settle(self, db: Db, row: Row, moment: datetime) -> None:
        """The effect an event waits for, told apart by its status (see Service)."""
        update(db, "events", "id", row["id"], {"due_at": None})
        if row["status"] == "REVERSED":
            self.reverse_effects(db, row, row["reason"], moment, again=False)
        elif row["status"] == "CANCELLED":
            self.cancel_effects(db, row)
        elif not row["fulfilled"]:
            release_lines(db, row["id"])
            update(db, "events", "id", row["id"], {"status": "EXPIRED", "expired_at": iso(moment)})
        elif reserved(db, row["id"]):
            self.complete_fulfil(db, row, moment)  # a standby event fulfilled late
        else:
            self.process(db, row, moment)

    def process(self, db: Db, row: Row, now: datetime) -> None:
        """Process a fulfilled event: redemptions, then accumulations, or FAILED."""
        body = parsed_body(row["body"])
        wanted = rules.collect_redeems(body, skip=self.unread_levels)  # every level asked
        problem = rules.redeem_problem(self.seed, wanted, balances(db, row["customer_id"]))
        if problem is None:
            for reward_id, amount in rules.points_to_redeem(self.seed, wanted):
                line = self.line(db, row, "REDEMPTION", reward_id, -amount, now)
                self.transaction(db, row, "REDEMPTION", reward_id, -amount, now, line=line)
            self.credit(db, row, now)
        # The failed_without_resolved_at regression stamps only the events that succeed.
        failed_unstamped = problem is not None and "failed_without_resolved_at" in self.faults
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
                "resolved_at": None if failed_unstamped else iso(now),
            },
        )

    def reserve(self, db: Db, row: Row, expires: datetime, now: datetime) -> None:
        body = parsed_body(row["body"])
        wanted = rules.collect_redeems(body)
        problem = rules.redeem_problem(self.seed, wanted, balances(db, row["customer_id"]))
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
        if "standby_reserves_nothing" in self.faults:
            wanted = {}  # the regression: the balance was checked, nothing is put aside
        for reward_id, amount in rules.points_to_redeem(self.seed, wanted):
            self.line(
                db, row, "RESERVATION", reward_id, -amount, now, reservation_expires_at=iso(expires)
            )
        update(db, "events", "id", row["id"], {"due_at": expires.timestamp()})

    def complete_fulfil(self, db: Db, row: Row, now: datetime) -> None:
        """A fulfilled standby event: its reservations become redemptions, then it earns."""
        for line in db.execute(
            "SELECT * FROM lines WHERE event_id = ? AND kind = 'RESERVATION' AND active = 1",
            (row["id"],),
        ).fetchall():
            shown = self._spend(db, row, line, now)
            self.transaction(
                db, row, "REDEMPTION", line["reward_id"], line["amount"], now, line=shown
            )
        self.credit(db, row, now)
        if "deferred_fulfil_double_credit" in self.faults:
            self.credit(db, row, now)
        update(
            db,
            "events",
            "id",
            row["id"],
            {
                "status": "RESOLVED",
                "fulfilled": 1,
                "due_at": None,
                "processing_at": iso(now),
                "resolved_at": iso(now),
            },
        )

    def _spend(self, db: Db, row: Row, line: Row, now: datetime) -> Row:
        """A reservation becomes a redemption: the same line, still taken from the wallet."""
        if "fulfil_keeps_reservation" in self.faults:
            # The regression: a new debit beside the reservation, which stays active.
            return self.line(db, row, "REDEMPTION", line["reward_id"], line["amount"], now)
        changes: Row = {"kind": "REDEMPTION", "reservation_expires_at": None}
        if "fulfil_releases_reservation" in self.faults:
            # The regression: the reservation is released like a cancelled one's.
            changes["active"] = 0
            add_to_balance(db, line["customer_id"], line["reward_id"], -line["amount"])
        update(db, "lines", "seq", line["seq"], changes)
        return line_json({**line, **changes})

    def redeem_again(self, db: Db, row: Row, now: datetime) -> None:
        """The refulfil_redeems_again regression: a fulfilled event's redemptions, again."""
        for tx in db.execute(
            "SELECT * FROM transactions WHERE event_id = ? AND type = 'REDEMPTION' ORDER BY seq",
            (row["id"],),
        ).fetchall():
            line = self.line(db, row, "REDEMPTION", tx["reward_id"], tx["amount"], now)
            self.transaction(db, row, "REDEMPTION", tx["reward_id"], tx["amount"], now, line=line)

    def reverse_effects(
        self, db: Db, row: Row, reason: str | None, now: datetime, *, again: bool
    ) -> None:
        if "reverse_keeps_points" not in self.faults:
            self.undo(db, row, reason, now, again=again)

    def cancel_effects(self, db: Db, row: Row) -> None:
        if "cancel_keeps_reservation" not in self.faults:
            release_lines(db, row["id"])

    def credit(self, db: Db, row: Row, now: datetime) -> None:
        order = parsed_body(row["body"]).get("order")
        for campaign, points in rules.accumulations(self.seed, row["type"], order):
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

    def undo(self, db: Db, row: Row, reason: str | None, now: datetime, *, again: bool) -> None:
        """One REVERSAL per transaction of the event; its lines stop counting."""
        made = db.execute(
            "SELECT * FROM transactions WHERE event_id = ? AND type != 'REVERSAL' ORDER BY seq",
            (row["id"],),
        ).fetchall()
        if "reversal_unlisted_without_event_id" in self.faults:
            made = []  # the regression: the wallet is restored below, unrecorded
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

    def consume(self, db: Db, customer_id: str, order: Mapping[str, Any], now: datetime) -> None:
        """The preview_consumes_points regression: a preview that redeems for real."""
        fake = {
            "id": str(uuid.uuid4()),
            "customer_id": customer_id,
            "type": "PREVIEW",
            "brand_id": self.seed.brand_id,
            "body": dumps({"order": order}),
        }
        for reward_id, amount in rules.points_to_redeem(
            self.seed, rules.collect_redeems({"order": order})
        ):
            line = self.line(db, fake, "REDEMPTION", reward_id, -amount, now)
            self.transaction(db, fake, "REDEMPTION", reward_id, -amount, now, line=line)

    def record_preview(
        self, db: Db, customer_id: str, order: Mapping[str, Any], now: datetime
    ) -> None:
        """The preview_records_redemption regression: an audit row, filed as a REDEMPTION
        of 0 under the customer's latest event, for each reward a preview redeems."""
        latest: Row | None = db.execute(
            "SELECT * FROM events WHERE customer_id = ? ORDER BY seq DESC LIMIT 1",
            (customer_id,),
        ).fetchone()
        if latest is None:
            return
        for reward_id, _ in rules.points_to_redeem(
            self.seed, rules.collect_redeems({"order": order})
        ):
            # A line shown on the transaction (schemas want one) but never stored: the
            # wallet stays as it is.
            shown = {
                "amount": 0.0,
                "reward_id": reward_id,
                "campaign_id": None,
                "brand_id": latest["brand_id"],
                "issued_at": iso(now),
                "expiration_date": None,
                "reservation_expires_at": None,
            }
            self.transaction(db, latest, "REDEMPTION", reward_id, 0.0, now, line=shown)

    def line(
        self,
        db: Db,
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
        add_to_balance(db, row["customer_id"], reward_id, amount)
        return line_json(line)

    def transaction(
        self,
        db: Db,
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
        order = parsed_body(row["body"]).get("order") or {}
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
