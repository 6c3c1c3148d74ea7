"""The reference server's state changes: customers, emit, fulfil, reverse, expiry.

Every public method is one transaction of the store (store.py), scoped to the customer
it changes (`_settled`), and takes `now` so tests can drive time. Rules live in
rules.py, the ledger writes in books.py (row helpers in rows.py) and the JSON shapes in
views.py. Faults that change what is stored or computed are consulted here and in
books.py.

With a processing delay, a fulfilled emit answers PENDING and is processed once due;
with `async_effects` too, fulfil, reverse and cancel write their new state at once and
leave their ledger effects due (`_later`); Books.settle_due runs whatever is due for the
transaction's customer (for every customer in a brand-wide one) at its start, so each
effect lands exactly once.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from masivo_conformance.server import rows, rules, views
from masivo_conformance.server.books import Books
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.preview_maths import preview_order
from masivo_conformance.server.rows import customer_row, event_row
from masivo_conformance.server.rules import Conflict, iso
from masivo_conformance.server.seed import Seed
from masivo_conformance.server.store import Db, Row, StoreLike, dumps, insert, inserted, update

__all__ = ["Conflict", "Exists", "NotFound", "Service"]


class NotFound(Exception):
    """The id names nothing this server knows (HTTP 404)."""


class Exists(Exception):
    """The id is already taken (HTTP 409)."""


class Service:
    def __init__(self, store: StoreLike, seed: Seed, config: ServerConfig) -> None:
        self.store = store
        self.seed = seed
        self.config = config
        self.faults = config.faults
        self.delay = config.processing_delay
        self.books = Books(seed, config.faults)
        self._purchases = itertools.count(1)  # every_other_emit_never_settles

    # -- customers -------------------------------------------------------------------

    def create_customer(self, body: Mapping[str, Any], now: datetime) -> Row:
        with self.store.transaction(body["id"]) as db:
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
        with self._settled(customer_id, now) as db:
            row = customer_row(db, customer_id)
            if row is None:
                raise NotFound(f"customer {customer_id!r} does not exist")
            return {
                "customer": views.customer_json(row),
                "wallet": views.wallet_json(self.seed, db, row, split=self.config.split_totals),
            }

    def balances(self, customer_id: str, now: datetime) -> dict[str, float]:
        with self._settled(customer_id, now) as db:
            return rows.balances(db, customer_id)

    # -- events ----------------------------------------------------------------------

    def emit(self, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        fulfilled = body.get("fulfilled", True) or "emit_ignores_fulfilled_flag" in self.faults
        reserve = float(body.get("reserve", 1))
        issued = rules.parse_issued_at(body.get("issued_at"), now)
        with self._settled(body["customer_id"], now) as db:
            customer = customer_row(db, body["customer_id"])
            if customer is None:
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
            row = inserted(db, "events", row)
            if not fulfilled:
                self.books.reserve(db, row, rules.expiry_time(issued, reserve), now)
            elif self._never_settles(row):
                pass  # the every_other_emit_never_settles regression: lost in the queue
            elif self.delay > 0:
                self._later(db, row["id"], now, {})
            else:
                self.books.process(db, row, now)
            return self._event(db, row["id"], customer)

    def fulfil(self, ref: str, now: datetime) -> dict[str, Any]:
        with self._settled(self._owner(ref), now) as db:
            row = self._find(db, ref)
            if row is None:
                if "fulfil_unknown_event_ok" in self.faults:
                    return views.made_up_event(ref, now, "RESOLVED")
                raise NotFound(f"event {ref!r} does not exist")
            if self._credits_again(row):
                self.books.credit(db, row, now)
                update(db, "events", "id", row["id"], {"status": "RESOLVED", "fulfilled": 1})
            elif not rules.check_fulfil(rows.state(row)):
                if "refulfil_redeems_again" in self.faults and row["status"] == "RESOLVED":
                    self.books.redeem_again(db, row, now)  # the regression: answered 200
                elif not self.config.refulfil_answers_event:
                    raise Conflict("the event is already fulfilled")
            elif self._effects_later():
                self._later(db, row["id"], now, {"fulfilled": 1})
            else:
                self.books.complete_fulfil(db, row, now)
            return self._event(db, row["id"])

    def reverse_decision(self, ref: str, now: datetime) -> tuple[str, str] | None:
        """(event id, "REVERSE" or "CANCEL") for a known event, None for an unknown one."""
        with self._settled(self._owner(ref), now) as db:
            found = self._decide_reverse(db, ref)
            return None if found is None else (found[0]["id"], found[1])

    def reverse(
        self, ref: str, reason: str | None, now: datetime, decided: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """Reverse or cancel; `decided` (from reverse_decision in an earlier transaction)
        skips the check, which is exactly the race of the reverse_not_atomic fault."""
        owner = self._owner(ref)
        with self.store.transaction(owner) as db:
            if decided is None:
                self.books.settle_due(db, now, owner)
                found = self._decide_reverse(db, ref)
                if found is None:
                    return views.made_up_event(ref, now, "REVERSED")
                row, kind = found
            else:
                found_again = event_row(db, decided[0])
                assert found_again is not None  # events are never deleted
                row, kind = found_again, decided[1]
            event_id = row["id"]
            if kind == "CANCEL":
                changes: Row = {"status": "CANCELLED", "cancelled_at": iso(now), "due_at": None}
            else:
                reversed_at = None if "reverse_forgets_reversed_at" in self.faults else iso(now)
                changes = {"status": "REVERSED", "reversed_at": reversed_at, "reason": reason}
            if self._effects_later():
                self._later(db, event_id, now, changes)
                return self._event(db, event_id)
            if kind == "CANCEL":
                self.books.cancel_effects(db, row)
            else:
                again = row["status"] == "REVERSED"
                self.books.reverse_effects(db, row, reason, now, again=again)
            update(db, "events", "id", event_id, changes)
            return self._event(db, event_id)

    def list_transactions(self, filters: Mapping[str, str], now: datetime) -> list[dict[str, Any]]:
        clauses, values = [], []
        for column in ("event_id", "type", "brand_id", "reward_id"):
            if column in filters:
                clauses.append(f"{column} = ?")
                values.append(filters[column])
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._settled(None, now) as db:  # the brand's listing: every customer's
            if "event_id" in filters and (row := self._find(db, filters["event_id"])):
                values[0] = row["id"]  # an evt_N alias (non_uuid_event_id fault)
            newest = db.execute(
                f"SELECT * FROM transactions {where} "  # noqa: S608 (fixed names)
                "ORDER BY seq DESC LIMIT 1000",
                values,
            ).fetchall()
            shown = newest if self.config.newest_first else reversed(newest)
            return [views.transaction_json(r) for r in shown]

    def preview(self, body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        with self._settled(body["customer_id"], now) as db:
            if customer_row(db, body["customer_id"]) is None:
                raise NotFound(f"customer {body['customer_id']!r} does not exist: create it first")
            balances = rows.balances(db, body["customer_id"])
            order = preview_order(self.seed, body.get("order") or {}, balances, self.faults)
            if "preview_consumes_points" in self.faults:
                self.books.consume(db, body["customer_id"], order, now)
            if "preview_records_redemption" in self.faults:
                self.books.record_preview(db, body["customer_id"], order, now)
            return order

    # -- internals -------------------------------------------------------------------

    @contextmanager
    def _settled(self, customer: str | None, now: datetime) -> Iterator[Db]:
        """A transaction of `customer` (None: of the whole ledger), with what time has made
        due for it settled first. Everything an operation changes is its customer's, so
        a store may run different customers' transactions side by side (pg_store.py)."""
        with self.store.transaction(customer) as db:
            self.books.settle_due(db, now, customer)
            yield db

    def _owner(self, ref: str) -> str | None:
        """The customer of event `ref`, read before the transaction that changes it (an
        event never changes customer); None for an unknown event."""
        with self.store.peek() as db:
            row = self._find(db, ref)
        return None if row is None else str(row["customer_id"])

    def _event(self, db: Db, event_id: str, customer: Row | None = None) -> dict[str, Any]:
        return views.event_json(
            db, self.seed, self.faults, event_id, split=self.config.split_totals, customer=customer
        )

    def _effects_later(self) -> bool:
        return self.config.async_effects and self.delay > 0

    def _later(self, db: Db, event_id: str, now: datetime, changes: Row) -> None:
        """The new state now, its ledger effects once `processing_delay` has passed
        (Books.settle tells them apart by the status written here)."""
        update(db, "events", "id", event_id, {**changes, "due_at": now.timestamp() + self.delay})

    def _never_settles(self, row: Row) -> bool:
        if "every_other_emit_never_settles" not in self.faults or row["type"] != "PURCHASE":
            return False
        return next(self._purchases) % 2 == 0

    def _credits_again(self, row: Row) -> bool:
        """The fulfil_after_reverse_credits and refulfil_credits_again regressions."""
        status = row["status"]
        return (
            "fulfil_after_reverse_credits" in self.faults and status in {"REVERSED", "CANCELLED"}
        ) or ("refulfil_credits_again" in self.faults and status == "RESOLVED")

    def _find(self, db: Db, ref: str) -> Row | None:
        if "non_uuid_event_id" in self.faults and ref.startswith("evt_") and ref[4:].isdigit():
            found: Row | None = db.execute(
                "SELECT * FROM events WHERE seq = ?", (int(ref[4:]),)
            ).fetchone()
            return found
        try:
            return event_row(db, str(uuid.UUID(ref)))
        except ValueError:
            return None

    def _decide_reverse(self, db: Db, ref: str) -> tuple[Row, str] | None:
        """The event `ref` names and "REVERSE" or "CANCEL"; None for an unknown event
        when the reverse_unknown_event_ok regression answers it anyway."""
        row = self._find(db, ref)
        if row is None:
            if "reverse_unknown_event_ok" in self.faults:
                return None
            raise NotFound(f"event {ref!r} does not exist")
        if row["status"] == "REVERSED" and "double_reverse_accepted" in self.faults:
            return row, "REVERSE"
        return row, rules.check_reverse(rows.state(row))
