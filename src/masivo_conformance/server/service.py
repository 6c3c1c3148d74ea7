"""The reference server's state changes: customers, emit, fulfil, reverse, expiry.

Every public method is one SQLite transaction (see store.py) and takes `now` so tests
can drive time. Rules live in ledger.py, the ledger writes in books.py and the JSON
shapes in views.py. Faults that change what is stored or computed are consulted here
and in books.py.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from masivo_conformance.server import books, ledger, views
from masivo_conformance.server.books import Books, customer_row, event_row
from masivo_conformance.server.ledger import Conflict, iso
from masivo_conformance.server.preview import preview_order
from masivo_conformance.server.seed import Seed
from masivo_conformance.server.store import Row, Store, dumps, insert, update

__all__ = ["Conflict", "Exists", "NotFound", "Service"]


class NotFound(Exception):
    """The id names nothing this server knows (HTTP 404)."""


class Exists(Exception):
    """The id is already taken (HTTP 409)."""


class Service:
    def __init__(
        self, store: Store, seed: Seed, faults: frozenset[str], processing_delay: float = 0.0
    ) -> None:
        self.store = store
        self.seed = seed
        self.faults = faults
        self.delay = processing_delay
        self.books = Books(seed, faults)

    # -- customers -------------------------------------------------------------------

    def create_customer(self, body: Mapping[str, Any], now: datetime) -> Row:
        with self.store.transaction() as db:
            if customer_row(db, body["id"]) is not None:
                raise Exists(f"customer {body['id']!r} already exists")
            row = {
                "id": body["id"],
                "internal_id": str(uuid.uuid4()),
                "wallet_id": str(uuid.uuid4()),
                "body": dumps(body),
                "registration_date": iso(now),
            }
            insert(db, "customers", row)
            return views.customer_json(row)

    def get_customer(self, customer_id: str, now: datetime) -> dict[str, Any]:
        with self.store.transaction() as db:
            self.books.settle_due(db, now)
            row = customer_row(db, customer_id)
            if row is None:
                raise NotFound(f"customer {customer_id!r} does not exist")
            return {
                "customer": views.customer_json(row),
                "wallet": views.wallet_json(self.seed, db, row),
            }

    def balances(self, customer_id: str, now: datetime) -> dict[str, float]:
        with self.store.transaction() as db:
            self.books.settle_due(db, now)
            return books.balances(db, customer_id)

    # -- events ----------------------------------------------------------------------

    def emit(self, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        fulfilled = body.get("fulfilled", True) or "emit_ignores_fulfilled_flag" in self.faults
        reserve = float(body.get("reserve", 1))
        issued = ledger.parse_issued_at(body.get("issued_at"), now)
        with self.store.transaction() as db:
            self.books.settle_due(db, now)
            if customer_row(db, body["customer_id"]) is None:
                raise NotFound(f"customer {body['customer_id']!r} does not exist: create it first")
            row: Row = {
                "id": str(uuid.uuid4()),
                "customer_id": body["customer_id"],
                "brand_id": body.get("brand_id", self.seed.brand_id),
                "type": body["type"],
                "body": dumps(body),
                "fulfilled": int(fulfilled),
                "reserve": reserve,
                "status": "PENDING",
                "queue_message_id": str(uuid.uuid4()),
                "issued_at": iso(issued),
                "due_at": None,
            }
            insert(db, "events", row)
            row = event_row(db, row["id"]) or row
            if not fulfilled:
                self.books.reserve(db, row, ledger.expiry_time(issued, reserve), now)
            elif self.delay > 0:
                update(db, "events", "id", row["id"], {"due_at": now.timestamp() + self.delay})
            else:
                self.books.process(db, row, now)
            return views.event_json(db, self.seed, self.faults, row["id"])

    def fulfil(self, ref: str, now: datetime) -> dict[str, Any]:
        with self.store.transaction() as db:
            self.books.settle_due(db, now)
            row = self._find(db, ref)
            if row is None:
                if "fulfil_unknown_event_ok" in self.faults:
                    return views.made_up_event(ref, now, "RESOLVED")
                raise NotFound(f"event {ref!r} does not exist")
            state = books.state(row)
            again = (
                "fulfil_after_reverse_credits" in self.faults
                and state.status in {"REVERSED", "CANCELLED"}
            ) or ("refulfil_credits_again" in self.faults and state.status == "RESOLVED")
            if again:
                self.books.credit(db, row, now)
                update(db, "events", "id", row["id"], {"status": "RESOLVED", "fulfilled": 1})
                return views.event_json(db, self.seed, self.faults, row["id"])
            ledger.check_fulfil(state)
            for line in db.execute(
                "SELECT * FROM lines WHERE event_id = ? AND kind = 'RESERVATION' AND active = 1",
                (row["id"],),
            ).fetchall():
                update(
                    db,
                    "lines",
                    "seq",
                    line["seq"],
                    {"kind": "REDEMPTION", "reservation_expires_at": None},
                )
                self.books.transaction(
                    db,
                    row,
                    "REDEMPTION",
                    line["reward_id"],
                    line["amount"],
                    now,
                    line={**line, "reservation_expires_at": None},
                )
            self.books.credit(db, row, now)
            if "deferred_fulfil_double_credit" in self.faults:
                self.books.credit(db, row, now)
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
            return views.event_json(db, self.seed, self.faults, row["id"])

    def reverse_decision(self, ref: str, now: datetime) -> tuple[str, str] | None:
        """(event id, "REVERSE" or "CANCEL") for a known event, None for an unknown one."""
        with self.store.transaction() as db:
            self.books.settle_due(db, now)
            return self._decide_reverse(db, ref)

    def reverse(
        self, ref: str, reason: str | None, now: datetime, decided: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """Reverse or cancel; `decided` (from reverse_decision in an earlier transaction)
        skips the check, which is exactly the race of the reverse_not_atomic fault."""
        with self.store.transaction() as db:
            if decided is None:
                self.books.settle_due(db, now)
                decided = self._decide_reverse(db, ref)
            if decided is None:
                return views.made_up_event(ref, now, "REVERSED")
            event_id, kind = decided
            row = event_row(db, event_id)
            assert row is not None  # events are never deleted
            if kind == "CANCEL":
                if "cancel_keeps_reservation" not in self.faults:
                    books.release_lines(db, event_id)
                update(
                    db,
                    "events",
                    "id",
                    event_id,
                    {"status": "CANCELLED", "cancelled_at": iso(now), "due_at": None},
                )
            else:
                if "reverse_keeps_points" not in self.faults:
                    self.books.undo(db, row, reason, now, again=row["status"] == "REVERSED")
                reversed_at = None if "reverse_forgets_reversed_at" in self.faults else iso(now)
                update(
                    db, "events", "id", event_id, {"status": "REVERSED", "reversed_at": reversed_at}
                )
            return views.event_json(db, self.seed, self.faults, event_id)

    def list_transactions(self, filters: Mapping[str, str], now: datetime) -> list[dict[str, Any]]:
        clauses, values = [], []
        for column in ("event_id", "type", "brand_id", "reward_id"):
            if column in filters:
                clauses.append(f"{column} = ?")
                values.append(filters[column])
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.store.transaction() as db:
            self.books.settle_due(db, now)
            if "event_id" in filters and (row := self._find(db, filters["event_id"])):
                values[0] = row["id"]  # an evt_N alias (non_uuid_event_id fault)
            rows = db.execute(
                f"SELECT * FROM transactions {where} "  # noqa: S608 (fixed names)
                "ORDER BY seq DESC LIMIT 1000",
                values,
            ).fetchall()
            return [views.transaction_json(r) for r in reversed(rows)]

    def preview(self, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        with self.store.transaction() as db:
            self.books.settle_due(db, now)
            if customer_row(db, body["customer_id"]) is None:
                raise NotFound(f"customer {body['customer_id']!r} does not exist: create it first")
            balances = books.balances(db, body["customer_id"])
            order = preview_order(self.seed, body.get("order") or {}, balances, self.faults)
            if "preview_consumes_points" in self.faults:
                self.books.consume(db, body["customer_id"], order, now)
            return order

    # -- internals -------------------------------------------------------------------

    def _find(self, db: sqlite3.Connection, ref: str) -> Row | None:
        if "non_uuid_event_id" in self.faults and ref.startswith("evt_") and ref[4:].isdigit():
            found: Row | None = db.execute(
                "SELECT * FROM events WHERE seq = ?", (int(ref[4:]),)
            ).fetchone()
            return found
        try:
            return event_row(db, str(uuid.UUID(ref)))
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
        return row["id"], ledger.check_reverse(books.state(row))
