"""The storefront API as the suite uses it: typed operations on one target, every answer
checked by the single-call MUST checks, fresh customers, settling, and cleanup.
"""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from masivo_conformance import checks, payloads
from masivo_conformance.calls import Call
from masivo_conformance.checks import ConformanceViolation
from masivo_conformance.checks._util import EVENT_OPERATIONS
from masivo_conformance.client import ApiClient
from masivo_conformance.errors import SettingsError
from masivo_conformance.requirements import catalogue

__all__ = ["CUSTOMER_PREFIX", "IdFactory", "Storefront", "WritesRefused"]

CUSTOMER_PREFIX = "mc-test-"
FINAL_STATUSES = frozenset({"REVERSED", "CANCELLED", "FAILED", "EXPIRED"})
SETTLED_STATUSES = frozenset({"RESOLVED", "FAILED"})
POLL_INTERVALS = (0.05, 0.1, 0.2, 0.4, 0.8)


class WritesRefused(SettingsError):
    """A write against a host that is not loopback without --allow-writes."""


def _must_check_names() -> list[str]:
    reqs = catalogue()
    return [
        name
        for name, entry in checks.CHECKS.items()
        if all(reqs[i].is_must for i in entry.requirements)
    ]


@dataclass
class IdFactory:
    """Recognisable, reproducible customer ids: prefix, a salt per test, a counter."""

    salt: str
    prefix: str = CUSTOMER_PREFIX
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def for_test(cls, run_salt: str, nodeid: str) -> IdFactory:
        digest = hashlib.sha256(f"{run_salt}:{nodeid}".encode()).hexdigest()[:10]
        return cls(salt=digest)

    def customer_id(self) -> str:
        return f"{self.prefix}{self.salt}-{next(self._counter):03d}"

    def uuid(self) -> str:
        """A uuid no target knows, the same on every run with the same seed (for replay)."""
        return str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"masivo-conformance:{self.salt}:{next(self._counter)}")
        )


@dataclass
class EventLog:
    """Events this run created and the last status seen, for cleanup at the end."""

    statuses: dict[str, str] = field(default_factory=dict)

    def saw(self, call: Call) -> None:
        data = call.data
        if call.operation not in EVENT_OPERATIONS:
            return  # a customer's `data.id` is no event: reversing it would be nonsense
        if 200 <= call.status < 300 and isinstance(data, dict) and isinstance(data.get("id"), str):
            self.statuses[data["id"]] = str(data.get("status"))

    def live(self) -> list[str]:
        return [i for i, status in self.statuses.items() if status not in FINAL_STATUSES]


class Storefront:
    """One test's view of the target."""

    def __init__(
        self,
        client: ApiClient,
        *,
        brand_id: str,
        ids: IdFactory,
        writes_allowed: bool,
        settle_time: float,
        events: EventLog | None = None,
        host: str = "",
    ) -> None:
        self.client = client
        self.brand_id = brand_id
        self.ids = ids
        self.writes_allowed = writes_allowed
        self.settle_time = settle_time
        self.events = events if events is not None else EventLog()
        self._host = host
        self._checks = _must_check_names()

    # -- raw, checked calls ---------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        check: bool = True,
    ) -> Call:
        """One request; its answer passes every single-call MUST check or this raises."""
        if method != "GET" and not self.writes_allowed:
            raise WritesRefused(
                f"refusing {method} {path} on {self._host}: writes are not allowed",
                "pass --allow-writes (or allow_writes in the targets file)",
            )
        response = self.client.request(
            method,
            path,
            json_body=json_body,
            content=content,
            params=params,
            headers=headers,
            auth=auth,
        )
        observed = Call.from_httpx(response)
        self.events.saw(observed)
        if check:
            checks.run_checks(observed, self._checks)
        return observed

    # -- operations -------------------------------------------------------------------------

    def create_customer(self) -> str:
        customer_id = self.ids.customer_id()
        call = self.call(
            "POST",
            "/customers",
            json_body={
                "id": customer_id,
                "name": f"Conformance {customer_id}",
                "email": f"{customer_id}@example.invalid",
            },
        )
        if not 200 <= call.status < 300:
            raise AssertionError(
                f"create_customer answered {call.status}: {call.text[:200]}"
                f"\n    reproduce: {call.reproducer}"
            )
        return customer_id

    def customer(self, customer_id: str) -> Call:
        return self.call("GET", f"/customers/{customer_id}")

    def wallet(self, customer_id: str) -> dict[str, float]:
        """Wallet totals by reward id (entries of one reward summed; CONTRACT section 2)."""
        call = self.customer(customer_id)
        if call.status != 200:
            raise AssertionError(
                f"get_customer answered {call.status}: {call.text[:200]}"
                f"\n    reproduce: {call.reproducer}"
            )
        totals: dict[str, float] = {}
        for entry in call.data["wallet"].get("totals", []):
            key = str(entry.get("reward_id"))
            totals[key] = round(totals.get(key, 0.0) + float(entry.get("total", 0)), 6)
        return totals

    def emit(self, payload: dict[str, Any]) -> Call:
        return self.call("POST", "/behavior/events", json_body=payload)

    def fulfil(self, event_id: str) -> Call:
        return self.call("PATCH", f"/behavior/events/{event_id}/fulfill")

    def reverse(self, event_id: str, reason: str | None = "masivo-conformance test") -> Call:
        body = {} if reason is None else {"reason": reason}
        return self.call("POST", f"/behavior/events/{event_id}/reverse", json_body=body)

    def preview(self, payload: dict[str, Any]) -> Call:
        return self.call("PUT", "/events/redeem/preview", json_body=payload)

    def transactions(self, event_id: str, type_: str | None = None) -> list[dict[str, Any]]:
        params = {"event_id": event_id} | ({"type": type_} if type_ else {})
        call = self.call("GET", "/transactions", params=params)
        if call.status != 200:
            raise AssertionError(
                f"list_transactions answered {call.status}: {call.text[:200]}"
                f"\n    reproduce: {call.reproducer}"
            )
        return [t for t in call.data if isinstance(t, dict) and t.get("event_id") == event_id]

    def rewards(self) -> list[dict[str, Any]]:
        call = self.call(
            "GET", "/rewards", params={"from": 0, "to": 100, "brand_id": self.brand_id}
        )
        if call.status != 200:
            raise AssertionError(
                f"list_rewards answered {call.status}: {call.text[:200]}"
                f"\n    reproduce: {call.reproducer}"
            )
        return [r for r in call.data if isinstance(r, dict)]

    def emit_purchase(self, customer_id: str, **options: Any) -> Call:
        """Emit a PURCHASE (see `payloads.purchase` for options); it must answer 2xx."""
        call = self.emit(payloads.purchase(customer_id, self.brand_id, **options))
        if not 200 <= call.status < 300:
            raise ConformanceViolation(
                "EMIT-1",
                f"a valid PURCHASE emit answered {call.status}: {call.text[:200]}",
                call.reproducer,
            )
        return call

    def earn(self, customer_id: str, value: float = 500.0) -> Call:
        """Give a customer rewards: a fulfilled PURCHASE, waited on until settled."""
        call = self.emit_purchase(customer_id, value=value)
        self.settle(call)
        return call

    def wait_transactions(self, event_id: str, kind: str) -> list[dict[str, Any]]:
        """The event's transactions once one of type `kind` is listed, or after settle_time."""
        deadline = time.monotonic() + self.settle_time
        for pause in itertools.chain(POLL_INTERVALS, itertools.repeat(POLL_INTERVALS[-1])):
            found = self.transactions(event_id)
            if any(t.get("type") == kind for t in found) or time.monotonic() >= deadline:
                return found
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
        raise AssertionError("unreachable")  # pragma: no cover

    def settle(self, emitted: Call) -> list[dict[str, Any]]:
        """Wait until an emitted, fulfilled event counts as settled; return its transactions.

        Settled (CONTRACT section 2): the emit answer shows RESOLVED or FAILED, or its
        transactions are listed, or, for an event that makes none, `settle_time` passed.
        """
        event = emitted.data
        event_id = str(event["id"])
        if event.get("status") in SETTLED_STATUSES:
            return self.transactions(event_id)
        deadline = time.monotonic() + self.settle_time
        for pause in itertools.chain(POLL_INTERVALS, itertools.repeat(POLL_INTERVALS[-1])):
            found = self.transactions(event_id)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
        raise AssertionError("unreachable")  # pragma: no cover

    def cleanup(self) -> list[str]:
        """Reverse the events this run left live; return the ids that could not be reversed."""
        left = []
        for event_id in self.events.live():
            call = self.call(
                "POST",
                f"/behavior/events/{event_id}/reverse",
                json_body={"reason": "masivo-conformance cleanup"},
                check=False,
            )
            if not 200 <= call.status < 300:
                left.append(event_id)
        return left
