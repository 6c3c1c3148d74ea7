"""The reference server's state changes: customers, emit, fulfil, reverse, expiry.

Every public method is one SQLite transaction (see store.py) and takes `now` so tests
can drive time. Rules live in ledger.py; this module only applies them to storage.
Faults that change what is stored or computed are consulted here.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from masivo_conformance.server import ledger
from masivo_conformance.server.ledger import Conflict, EventState, iso
from masivo_conformance.server.preview import preview_order
from masivo_conformance.server.seed import Seed
from masivo_conformance.server.store import Row, Store, dumps, insert, update

__all__ = ["Conflict", "Exists", "NotFound", "Service"]


class NotFound(Exception):
    """The id names nothing this server knows (HTTP 404)."""


class Exists(Exception):
    """The id is already taken (HTTP 409)."""


class Service:
    def __init__(self, store: Store, seed: Seed, faults: frozenset[str],
                 processing_delay: float = 0.0) -> None:
        self.store = store
        self.seed = seed
        self.faults = faults
        self.delay = processing_delay

    # -- customers -------------------------------------------------------------------

    def create_customer(self, body: Mapping[str, Any], now: datetime) -> Row:
        with self.store.transaction() as db:
            if _customer(db, body["id"]) is not None:
                raise Exists(f"customer {body['id']!r} already exists")
            row = {"id": body["id"], "internal_id": str(uuid.uuid4()),
                   "wallet_id": str(uuid.uuid4()), "body": dumps(body),
                   "registration_date": iso(now)}
            insert(db, "customers", row)
            return _customer_json(row)

    def get_customer(self, customer_id: str, now: datetime) -> dict[str, Any]:
        with self.store.transaction() as db:
            self._settle_due(db, now)
            row = _customer(db, customer_id)
            if row is None:
                raise NotFound(f"customer {customer_id!r} does not exist")
            return {"customer": _customer_json(row), "wallet": self._wallet(db, row)}

    def balances(self, customer_id: str, now: datetime) -> dict[str, float]:
        with self.store.transaction() as db:
            self._settle_due(db, now)
            return _balances(db, customer_id)

    # -- events ----------------------------------------------------------------------

    def emit(self, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        fulfilled = body.get("fulfilled", True) or "emit_ignores_fulfilled_flag" in self.faults
        reserve = float(body.get("reserve", 1))
        issued = datetime.fromisoformat(body["issued_at"]) if "issued_at" in body else now
        with self.store.transaction() as db:
            self._settle_due(db, now)
            if _customer(db, body["customer_id"]) is None:
                raise NotFound(f"customer {body['customer_id']!r} does not exist: create it first")
            row: Row = {
                "id": str(uuid.uuid4()), "customer_id": body["customer_id"],
                "brand_id": body.get("brand_id", self.seed.brand_id), "type": body["type"],
                "body": dumps(body), "fulfilled": int(fulfilled), "reserve": reserve,
                "status": "PENDING", "queue_message_id": str(uuid.uuid4()),
                "issued_at": iso(issued), "due_at": None,
            }
            insert(db, "events", row)
            row = _event(db, row["id"]) or row
            if not fulfilled:
                self._reserve(db, row, ledger.expiry_time(issued, reserve), now)
            elif "fulfilled_event_never_settles" in self.faults:
                pass  # the regression: nothing ever picks the event up
            elif self.delay > 0:
                update(db, "events", "id", row["id"], {"due_at": now.timestamp() + self.delay})
            else:
                self._process(db, row, now)
            return self._event_json(db, row["id"])

    def fulfil(self, ref: str, now: datetime) -> dict[str, Any]:
        with self.store.transaction() as db:
            self._settle_due(db, now)
            row = self._find(db, ref)
            if row is None:
                if "fulfil_unknown_event_ok" in self.faults:
                    return self._made_up_event(ref, now, "RESOLVED")
                raise NotFound(f"event {ref!r} does not exist")
            state = _state(row)
            again = (("fulfil_after_reverse_credits" in self.faults
                      and state.status in {"REVERSED", "CANCELLED"})
                     or ("refulfil_credits_again" in self.faults
                         and state.status == "RESOLVED"))
            if again:
                self._credit(db, row, now)
                update(db, "events", "id", row["id"], {"status": "RESOLVED", "fulfilled": 1})
                return self._event_json(db, row["id"])
            ledger.check_fulfil(state)
            for line in db.execute("SELECT * FROM lines WHERE event_id = ? AND kind = "
                                   "'RESERVATION' AND active = 1", (row["id"],)).fetchall():
                update(db, "lines", "seq", line["seq"],
                       {"kind": "REDEMPTION", "reservation_expires_at": None})
                self._transaction(db, row, "REDEMPTION", line["reward_id"], line["amount"],
                                  now, line={**line, "reservation_expires_at": None})
            self._credit(db, row, now)
            if "deferred_fulfil_double_credit" in self.faults:
                self._credit(db, row, now)
            update(db, "events", "id", row["id"], {
                "status": "RESOLVED", "fulfilled": 1, "due_at": None,
                "processing_at": iso(now), "resolved_at": iso(now)})
            return self._event_json(db, row["id"])

    def reverse_decision(self, ref: str, now: datetime) -> tuple[str, str] | None:
        """(event id, "REVERSE" or "CANCEL") for a known event, None for an unknown one."""
        with self.store.transaction() as db:
            self._settle_due(db, now)
            return self._decide_reverse(db, ref)

    def reverse(self, ref: str, reason: str | None, now: datetime,
                decided: tuple[str, str] | None = None) -> dict[str, Any]:
        """Reverse or cancel; `decided` (from reverse_decision in an earlier transaction)
        skips the check, which is exactly the race of the reverse_not_atomic fault."""
        with self.store.transaction() as db:
            if decided is None:
                self._settle_due(db, now)
                decided = self._decide_reverse(db, ref)
            if decided is None:
                return self._made_up_event(ref, now, "REVERSED")
            event_id, kind = decided
            row = _event(db, event_id)
            assert row is not None  # events are never deleted
            if kind == "CANCEL":
                if "cancel_keeps_reservation" not in self.faults:
                    db.execute("UPDATE lines SET active = 0 WHERE event_id = ?", (event_id,))
                update(db, "events", "id", event_id,
                       {"status": "CANCELLED", "cancelled_at": iso(now), "due_at": None})
            else:
                if "reverse_keeps_points" not in self.faults:
                    self._undo(db, row, reason, now, again=row["status"] == "REVERSED")
                reversed_at = None if "reverse_forgets_reversed_at" in self.faults else iso(now)
                update(db, "events", "id", event_id,
                       {"status": "REVERSED", "reversed_at": reversed_at})
            return self._event_json(db, event_id)

    def list_transactions(self, filters: Mapping[str, str], now: datetime) -> list[dict[str, Any]]:
        clauses, values = [], []
        for column in ("event_id", "type", "brand_id", "reward_id"):
            if column in filters:
                clauses.append(f"{column} = ?")
                values.append(filters[column])
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.store.transaction() as db:
            self._settle_due(db, now)
            if "event_id" in filters and (row := self._find(db, filters["event_id"])):
                values[0] = row["id"]  # an evt_N alias (non_uuid_event_id fault)
            rows = db.execute(f"SELECT * FROM transactions {where} "  # noqa: S608 (fixed names)
                              "ORDER BY seq DESC LIMIT 1000", values).fetchall()
            return [_transaction_json(r) for r in reversed(rows)]

    def preview(self, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        with self.store.transaction() as db:
            self._settle_due(db, now)
            if _customer(db, body["customer_id"]) is None:
                raise NotFound(f"customer {body['customer_id']!r} does not exist: create it first")
            balances = _balances(db, body["customer_id"])
            order = preview_order(self.seed, body.get("order") or {}, balances, self.faults)
            if "preview_consumes_points" in self.faults:
                self._consume(db, body["customer_id"], order, now)
            return order

    # -- internals -------------------------------------------------------------------

    def _find(self, db: sqlite3.Connection, ref: str) -> Row | None:
        if "non_uuid_event_id" in self.faults and ref.startswith("evt_") and ref[4:].isdigit():
            found: Row | None = db.execute("SELECT * FROM events WHERE seq = ?",
                                           (int(ref[4:]),)).fetchone()
            return found
        try:
            return _event(db, str(uuid.UUID(ref)))
        except ValueError:
            return None

    def _decide_reverse(self, db: sqlite3.Connection, ref: str) -> tuple[str, str] | None:
        row = self._find(db, ref)
        if row is None:
            if "reverse_unknown_event_ok" in self.faults:
                return None
            raise NotFound(f"event {ref!r} does not exist")
        if row["status"] == "REVERSED" and "double_reverse_accepted" in self.faults:
            return row["id"], "REVERSE"
        return row["id"], ledger.check_reverse(_state(row))

    def _settle_due(self, db: sqlite3.Connection, now: datetime) -> None:
        """Lazily run what time has made due: delayed processing and standby expiry,
        in due order, stamped with the due time (so the outcome does not depend on
        when somebody looks)."""
        due = db.execute("SELECT * FROM events WHERE due_at IS NOT NULL AND due_at <= ? "
                         "ORDER BY due_at, seq", (now.timestamp(),)).fetchall()
        for row in due:
            moment = datetime.fromtimestamp(row["due_at"], now.tzinfo)
            if row["fulfilled"]:
                self._process(db, row, moment)
            else:
                db.execute("UPDATE lines SET active = 0 WHERE event_id = ?", (row["id"],))
                update(db, "events", "id", row["id"],
                       {"status": "EXPIRED", "expired_at": iso(moment), "due_at": None})

    def _process(self, db: sqlite3.Connection, row: Row, now: datetime) -> None:
        """Process a fulfilled event: redemptions, then accumulations, or FAILED."""
        body = json.loads(row["body"])
        wanted = ledger.collect_redeems(body)
        problem = ledger.redeem_problem(self.seed, wanted, _balances(db, row["customer_id"]))
        if problem is None:
            for reward_id, amount in ledger.points_to_redeem(self.seed, wanted):
                line = self._line(db, row, "REDEMPTION", reward_id, -amount, now)
                self._transaction(db, row, "REDEMPTION", reward_id, -amount, now, line=line)
            self._credit(db, row, now)
        update(db, "events", "id", row["id"], {
            "status": "FAILED" if problem else "RESOLVED", "failure": problem, "due_at": None,
            "processing_at": iso(now), "resolved_at": iso(now)})

    def _reserve(self, db: sqlite3.Connection, row: Row, expires: datetime,
                 now: datetime) -> None:
        body = json.loads(row["body"])
        wanted = ledger.collect_redeems(body)
        problem = ledger.redeem_problem(self.seed, wanted, _balances(db, row["customer_id"]))
        if problem is not None:
            update(db, "events", "id", row["id"], {
                "status": "FAILED", "failure": problem,
                "processing_at": iso(now), "resolved_at": iso(now)})
            return
        for reward_id, amount in ledger.points_to_redeem(self.seed, wanted):
            self._line(db, row, "RESERVATION", reward_id, -amount, now,
                       reservation_expires_at=iso(expires))
        update(db, "events", "id", row["id"], {"due_at": expires.timestamp()})

    def _credit(self, db: sqlite3.Connection, row: Row, now: datetime) -> None:
        order = json.loads(row["body"]).get("order")
        for campaign, points in ledger.accumulations(self.seed, row["type"], order):
            line = self._line(db, row, "ACCUMULATION", campaign.reward_id, points, now,
                              campaign_id=campaign.id)
            self._transaction(db, row, "ACCUMULATION", campaign.reward_id, points, now,
                              line=line, campaign=(campaign.id, campaign.name))

    def _undo(self, db: sqlite3.Connection, row: Row, reason: str | None, now: datetime,
              *, again: bool) -> None:
        """One REVERSAL per transaction of the event; its lines stop counting."""
        made = db.execute("SELECT * FROM transactions WHERE event_id = ? AND type != "
                          "'REVERSAL' ORDER BY seq", (row["id"],)).fetchall()
        for tx in made:
            line = json.loads(tx["line"]) if tx["line"] else None
            if again and line:  # double_reverse_accepted: the lines are already inactive
                line = self._line(db, row, "REVERSAL", tx["reward_id"], -tx["amount"], now)
            self._transaction(db, row, "REVERSAL", tx["reward_id"], -tx["amount"], now,
                              line=line, campaign=(tx["campaign_id"], tx["campaign_name"]),
                              details=f"reversal of {tx['id']}: {reason or 'no reason given'}")
        if not again:
            db.execute("UPDATE lines SET active = 0 WHERE event_id = ?", (row["id"],))

    def _consume(self, db: sqlite3.Connection, customer_id: str, order: Mapping[str, Any],
                 now: datetime) -> None:
        """The preview_consumes_points regression: a preview that redeems for real."""
        fake = {"id": str(uuid.uuid4()), "customer_id": customer_id, "type": "PREVIEW",
                "brand_id": self.seed.brand_id, "body": dumps({"order": order})}
        for reward_id, amount in ledger.points_to_redeem(
                self.seed, ledger.collect_redeems({"order": order})):
            line = self._line(db, fake, "REDEMPTION", reward_id, -amount, now)
            self._transaction(db, fake, "REDEMPTION", reward_id, -amount, now, line=line)

    def _line(self, db: sqlite3.Connection, row: Row, kind: str, reward_id: str,
              amount: float, now: datetime, *, campaign_id: str | None = None,
              reservation_expires_at: str | None = None) -> Row:
        line = {"customer_id": row["customer_id"], "event_id": row["id"], "kind": kind,
                "active": 1, "amount": amount, "reward_id": reward_id,
                "campaign_id": campaign_id, "brand_id": row["brand_id"], "issued_at": iso(now),
                "expiration_date": None, "reservation_expires_at": reservation_expires_at}
        insert(db, "lines", line)
        return _line_json(line)

    def _transaction(self, db: sqlite3.Connection, row: Row, kind: str, reward_id: str,
                     amount: float, now: datetime, *, line: Row | None,
                     campaign: tuple[str | None, str | None] = (None, None),
                     details: str | None = None) -> None:
        reward = self.seed.reward(reward_id)
        order = json.loads(row["body"]).get("order") or {}
        insert(db, "transactions", {
            "id": str(uuid.uuid4()), "customer_id": row["customer_id"], "event_id": row["id"],
            "brand_id": row["brand_id"], "campaign_id": campaign[0],
            "campaign_name": campaign[1], "reward_id": reward_id,
            "reward_type": reward.type if reward else None, "amount": amount, "type": kind,
            "event_type": row["type"], "details": details or f"{kind.lower()} of event {row['id']}",
            "line": dumps(line) if line else None, "channel_id": order.get("channel_id"),
            "store_id": order.get("store_id"), "created_at": iso(now),
            "issued_at": row.get("issued_at", iso(now))})

    def _wallet(self, db: sqlite3.Connection, customer: Row, *,
                lines: bool = True) -> dict[str, Any]:
        totals = []
        for reward_id, total in _balances(db, customer["id"]).items():
            reward = self.seed.reward(reward_id)
            totals.append({"total": total, "reward_id": reward_id, "expiration_date": None,
                           "reward": reward.as_json() if reward else None})
        wallet: dict[str, Any] = {"id": customer["wallet_id"], "owner_id": customer["internal_id"]}
        if lines:
            wallet["lines"] = [_line_json(r) for r in db.execute(
                "SELECT * FROM lines WHERE customer_id = ? AND active = 1 ORDER BY seq",
                (customer["id"],)).fetchall()]
        wallet["totals"] = totals
        return wallet

    def _event_json(self, db: sqlite3.Connection, event_id: str) -> dict[str, Any]:
        row = _event(db, event_id)
        assert row is not None
        txs = db.execute("SELECT * FROM transactions WHERE event_id = ? ORDER BY seq",
                         (event_id,)).fetchall()
        lines = db.execute("SELECT * FROM lines WHERE event_id = ? ORDER BY seq",
                           (event_id,)).fetchall()
        unprocessed = row["status"] == "PENDING" and row["fulfilled"]
        customer = _customer(db, row["customer_id"])
        result: dict[str, Any] = {} if unprocessed or customer is None else {
            "wallet": self._wallet(db, customer, lines=False),
            "customer": _customer_json(customer),
            "gift_card": [],
            "accumulations": [_line_json(r) for r in lines if r["kind"] == "ACCUMULATION"],
            "redemptions": [_line_json(r) for r in lines
                            if r["kind"] in {"REDEMPTION", "RESERVATION"}],
            "transactions": [_transaction_json(t) for t in txs],
            "customer_by_tier": [],
        }
        campaigns = {t["campaign_id"]: {"id": t["campaign_id"], "name": t["campaign_name"],
                                        "reward_id": t["reward_id"], "amount": t["amount"]}
                     for t in txs if t["type"] == "ACCUMULATION"}
        if row["failure"]:
            result["error"] = row["failure"]
        event_ref = f"evt_{row['seq']}" if "non_uuid_event_id" in self.faults else row["id"]
        return {
            "id": event_ref, "customer_id": row["customer_id"], "type": row["type"],
            "data": json.loads(row["body"]), "fulfilled": bool(row["fulfilled"]),
            "reserve": row["reserve"], "queue_message_id": row["queue_message_id"],
            "rewarding_campaigns": list(campaigns.values()), "status": row["status"],
            "result": result, "issued_at": row["issued_at"],
            "processing_at": row["processing_at"], "resolved_at": row["resolved_at"],
            "cancelled_at": row["cancelled_at"], "expired_at": row["expired_at"],
            "reversed_at": row["reversed_at"],
        }

    def _made_up_event(self, ref: str, now: datetime, status: str) -> dict[str, Any]:
        """What the *_unknown_event_ok regressions answer: a plausible, schema-valid event."""
        try:
            event_id = str(uuid.UUID(ref))
        except ValueError:
            event_id = str(uuid.uuid4())
        stamp = iso(now)
        return {"id": event_id, "customer_id": "unknown", "type": "PURCHASE", "data": {},
                "fulfilled": True, "reserve": 1, "queue_message_id": None,
                "rewarding_campaigns": [], "status": status, "result": {},
                "issued_at": stamp, "processing_at": stamp, "resolved_at": stamp,
                "cancelled_at": None, "expired_at": None,
                "reversed_at": stamp if status == "REVERSED" else None}


def _customer(db: sqlite3.Connection, customer_id: str) -> Row | None:
    row: Row | None = db.execute("SELECT * FROM customers WHERE id = ?",
                                 (customer_id,)).fetchone()
    return row


def _event(db: sqlite3.Connection, event_id: str) -> Row | None:
    row: Row | None = db.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
    return row


def _state(row: Row) -> EventState:
    unsettled = row["status"] == "PENDING" and bool(row["fulfilled"])
    return EventState(row["status"], bool(row["fulfilled"]), settled=not unsettled)


def _balances(db: sqlite3.Connection, customer_id: str) -> dict[str, float]:
    rows = db.execute("SELECT reward_id, SUM(amount) AS total FROM lines WHERE customer_id = ? "
                      "AND active = 1 GROUP BY reward_id ORDER BY MIN(seq)",
                      (customer_id,)).fetchall()
    return {r["reward_id"]: round(r["total"], 6) for r in rows}


def _customer_json(row: Row) -> dict[str, Any]:
    body = json.loads(row["body"])
    return {
        **body, "id": row["id"], "status": "ACTIVE", "name": body.get("name"),
        "email": body.get("email"), "gender": body.get("gender"), "dob": body.get("dob"),
        "registration_date": row["registration_date"], "tier_id": None,
        "tags": body.get("tags"), "consent": body.get("consent"), "metrics": {},
        "metadata": body.get("metadata") or {},
    }


def _line_json(row: Row) -> dict[str, Any]:
    return {key: row[key] for key in ("amount", "reward_id", "campaign_id", "brand_id",
                                      "issued_at", "expiration_date", "reservation_expires_at")}


def _transaction_json(row: Row) -> dict[str, Any]:
    receives = row["amount"] >= 0
    return {
        "id": row["id"], "brand_id": row["brand_id"], "event_id": row["event_id"],
        "campaign_id": row["campaign_id"], "channel_id": row["channel_id"],
        "store_id": row["store_id"], "funded_by": "MARKETING", "event_type": row["event_type"],
        "reward_type": row["reward_type"], "reward_id": row["reward_id"],
        "amount": row["amount"], "cost": None, "details": row["details"], "type": row["type"],
        "receiver_id": row["customer_id"] if receives else None,
        "sender_id": None if receives else row["customer_id"],
        "created_at": row["created_at"], "issued_at": row["issued_at"],
        "attributes": {"line": json.loads(row["line"]) if row["line"] else None,
                       "campaign_name": row["campaign_name"]},
        "metadata": {},
    }
