"""Steering generated requests to the suite's own data on a target, so that a fuzzer
reaches success paths (and never touches customers the suite did not create)."""

from __future__ import annotations

import itertools
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from masivo_conformance.checks.calls import EVENT_OPERATIONS, Call
from masivo_conformance.contract.routes import route_for
from masivo_conformance.suite import payloads
from masivo_conformance.suite.storefront import CUSTOMER_PREFIX, Storefront

__all__ = ["Tailor"]

_LONG_ID = 300  # GEN-3 names huge strings; Hypothesis rarely draws them at small budgets
_WITH_CUSTOMER = ("emit_event", "preview_order")


@dataclass(frozen=True)
class Tailor:
    """Points generated requests at the suite's own data on the target.

    Customer ids get the suite's prefix (the suite never touches customers it did not
    create); half of them become `customer_id`, a customer of this run with a wallet, so
    that reads, emits and previews reach their success paths, and some are stretched to
    huge strings (GEN-3). Half of the event ids of fulfil and reverse become a standby
    event made for that request by `fresh_event` (fresh, so that a replayed step meets
    the same state as its first run), and half of list_transactions' become `event_id`,
    an event of this run with transactions: those operations succeed too. String brand
    ids become the target's brand. Half of the emits lose a drawn `issued_at`: a random
    date-time is almost never inside the 72-hour window (EMIT-3 has its own example).
    Values that already carry the prefix (passed on by a link) are kept, and so are
    values that are no usable id (maybe the very negation under test).
    """

    brand_id: str
    customer_id: str
    event_id: str
    fresh_event: Callable[[], str]
    # Created customers get a fresh number each: a replayed step (Hypothesis re-runs
    # steps while it explores) must not meet the customer its first run created.
    _created: Iterator[int] = field(default_factory=itertools.count, compare=False)
    # Event ids the target answered: passed on by a link, they are kept as they are, so
    # that whether a step is rewritten never depends on a server-made (random) id.
    _served: set[str] = field(default_factory=set, compare=False)

    @classmethod
    def prepare(cls, storefront: Storefront) -> Tailor:
        """A tailor with a customer of this run (with points) on the storefront's target.

        The emits are not checked here: the fuzzer judges those operations, so that a
        broken answer is reported once, with its requirement, by the fuzzer.
        """
        customer = storefront.create_customer()
        brand = storefront.brand_id

        def emit(**options: Any) -> str:
            body = payloads.purchase(customer, brand, **options)
            call = storefront.call("POST", "/behavior/events", json_body=body, check=False)
            event = call.data.get("id") if isinstance(call.data, dict) else None
            return event if isinstance(event, str) else str(uuid.uuid4())

        return cls(brand, customer, emit(), lambda: emit(value=20.0, fulfilled=False))

    def apply(self, case: Any) -> None:
        routed = route_for(case.method, case.path)
        operation = routed.operation if routed is not None else ""
        body = case.body if isinstance(case.body, dict) else None
        path, query = case.path_parameters, case.query
        if operation == "create_customer" and body is not None:
            body["id"] = _own(body.get("id"), f"{next(self._created)}-")
        elif operation == "get_customer" and path:
            path["id"] = self._customer(path.get("id"))
        elif operation in ("fulfill_event", "reverse_event") and path:
            if self._replaced(path.get("eventId")):
                path["eventId"] = self.fresh_event()
        elif operation == "list_transactions" and query and self._replaced(query.get("event_id")):
            query["event_id"] = self.event_id
        elif operation in _WITH_CUSTOMER and body is not None:
            if "customer_id" in body:  # a missing one may be the very negation under test
                body["customer_id"] = self._customer(body["customer_id"])
            if isinstance(body.get("brand_id"), str) and body["brand_id"]:
                body["brand_id"] = self.brand_id
            if isinstance(body.get("issued_at"), str) and _bucket(body["issued_at"]) % 2:
                del body["issued_at"]

    def _customer(self, value: Any) -> Any:
        own = _own(value)
        if own is value:
            return value
        bucket = _bucket(value)
        if bucket < 2:
            return self.customer_id
        return own if bucket == 2 else own.ljust(_LONG_ID, "x")

    def note(self, call: Call) -> None:
        """Remember the event an answer names (see `_served`)."""
        data = call.data
        if call.operation in EVENT_OPERATIONS and isinstance(data, dict) and data.get("id"):
            self._served.add(str(data["id"]))

    def _replaced(self, value: Any) -> bool:
        """Whether a drawn event id is one of the half that is replaced by one of ours."""
        if isinstance(value, str) and value in self._served:
            return False
        try:
            uuid.UUID(value)
        except (TypeError, ValueError, AttributeError):
            return False  # not an event id at all: maybe the negation under test
        return _bucket(value) % 2 == 1


def _own(value: Any, nonce: str = "") -> Any:
    """A drawn customer id with the suite's prefix; anything else as drawn."""
    if not isinstance(value, str) or not value or value.startswith(CUSTOMER_PREFIX):
        return value
    return f"{CUSTOMER_PREFIX}fz-{nonce}{value}"


def _bucket(value: str) -> int:
    """A stable choice in 0..3 for a drawn value, so a run replays the same requests."""
    return zlib.crc32(value.encode("utf-8", "surrogatepass")) % 4
