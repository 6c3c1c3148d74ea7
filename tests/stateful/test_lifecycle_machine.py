"""The event lifecycle as a Hypothesis state machine: emit (fulfilled or standby, with or
without a POINTS redeem), fulfil, reverse, preview and concurrent reverses, in any order,
over a few fresh customers.

The shadow model is target-agnostic: it never predicts how many points a purchase earns.
It records each event's OBSERVED effect (the wallet after it settled minus before; steps
run one at a time, and only this machine touches its customers) and expects the rules
that follow from it: reversing gives back exactly that effect, cancelling a standby event
releases what its emit reserved, a refused call and a preview change nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from masivo_conformance.calls import Call
from masivo_conformance.checks import ConformanceViolation
from masivo_conformance.invariants import expect_2xx, expect_4xx, expect_status, expect_wallet
from masivo_conformance.payloads import preview_request
from masivo_conformance.storefront import Storefront

CUSTOMERS = 2
CONCURRENT_REVERSALS = 4
REDEEM_POINTS = 5
STARTING_PURCHASE = 200.0

Wallet = dict[str, float]


@dataclass
class Event:
    """What the machine knows of one event: its customer, state and observed effect."""

    id: str
    customer: str
    state: str  # "standby", "fulfilled", "reversed" or "cancelled"
    effect: Wallet = field(default_factory=dict)  # wallet change since before its emit
    made_transactions: bool = False


def _plus(wallet: Wallet, change: Wallet, sign: float = 1.0) -> Wallet:
    return {r: wallet.get(r, 0.0) + sign * change.get(r, 0.0) for r in set(wallet) | set(change)}


def _minus(after: Wallet, before: Wallet) -> Wallet:
    return _plus(after, before, -1.0)


class EventLifecycleMachine(RuleBasedStateMachine):
    """Rules are the storefront's verbs; each checks the requirements its step shows."""

    # Set for each test run by the `_lifecycle_world` fixture below (Hypothesis builds
    # the machine itself, so pytest fixtures reach it through the class).
    storefront: ClassVar[Storefront]
    reward_id: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.sf = type(self).storefront
        self.wallets: dict[str, Wallet] = {}  # the model: each customer's wallet totals
        self.events: dict[str, Event] = {}

    # -- helpers --------------------------------------------------------------------------

    def _ids(self, *states: str) -> list[str]:
        return [e.id for e in self.events.values() if e.state in states]

    def _observe(
        self, customer: str, expected: Wallet, requirement: str, what: str, call: Call
    ) -> Wallet:
        """The customer's wallet now; it must equal `expected` (the model's)."""
        actual = self.sf.wallet(customer)
        expect_wallet(expected, actual, requirement, what, call.reproducer)
        self.wallets[customer] = actual
        return actual

    def _draw(self, data: st.DataObject, *states: str) -> Event:
        # In creation order: ids are fresh uuids, so sorting them would make a replay
        # (shrinking) pick another event than the run it replays.
        return self.events[data.draw(st.sampled_from(self._ids(*states)))]

    # -- rules ------------------------------------------------------------------------------

    @initialize()
    def open_customers(self) -> None:
        for _ in range(CUSTOMERS):
            customer = self.sf.create_customer()
            self.wallets[customer] = self.sf.wallet(customer)
        # Points from the start, so that redeeming emits (and their release) come early.
        for customer in list(self.wallets):
            self._record(customer, self.sf.earn(customer, value=STARTING_PURCHASE), True)

    @rule(data=st.data(), value=st.integers(1, 400), fulfilled=st.booleans())
    def emit(self, data: st.DataObject, value: int, fulfilled: bool) -> None:
        self._emit(data.draw(st.sampled_from(list(self.wallets))), value, fulfilled, None)

    @precondition(lambda self: self._rich())
    @rule(data=st.data(), value=st.integers(1, 400), fulfilled=st.booleans())
    def emit_redeeming(self, data: st.DataObject, value: int, fulfilled: bool) -> None:
        """A purchase paid partly with points: a standby one reserves them (REV-3)."""
        customer = data.draw(st.sampled_from(self._rich()))
        self._emit(customer, value, fulfilled, [{"id": self.reward_id, "amount": REDEEM_POINTS}])

    def _rich(self) -> list[str]:
        return [c for c, w in self.wallets.items() if w.get(self.reward_id, 0.0) >= REDEEM_POINTS]

    def _emit(
        self, customer: str, value: int, fulfilled: bool, redeem: list[dict[str, Any]] | None
    ) -> None:
        call = self.sf.emit_purchase(
            customer, value=float(value), fulfilled=fulfilled, redeem=redeem
        )
        if fulfilled:
            self.sf.settle(call)
        elif call.data.get("fulfilled") is not False or call.data.get("status") == "RESOLVED":
            raise ConformanceViolation(
                "EMIT-4",
                "a standby event must stay fulfilled false "
                f"and not RESOLVED; got {call.data.get('fulfilled')!r}"
                f" / {call.data.get('status')!r}",
                call.reproducer,
            )
        self._record(customer, call, fulfilled)

    def _record(self, customer: str, emitted: Call, fulfilled: bool) -> None:
        """Model a settled emit by its observed effect on the wallet (never predicted)."""
        before, after = self.wallets[customer], self.sf.wallet(customer)
        self.wallets[customer] = after
        event_id = emitted.data["id"]
        made = bool(self.sf.transactions(event_id)) if fulfilled else False
        self.events[event_id] = Event(
            event_id, customer, "fulfilled" if fulfilled else "standby", _minus(after, before), made
        )

    @precondition(lambda self: self._ids("standby"))
    @rule(data=st.data())
    def fulfil(self, data: st.DataObject) -> None:
        event = self._draw(data, "standby")
        before = self.wallets[event.customer]
        call = self.sf.fulfil(event.id)
        expect_status(call, 200, 200, "FUL-1", "fulfil of a standby event")
        made = self.sf.settle(call)
        after = self.sf.wallet(event.customer)
        self.wallets[event.customer] = after
        event.state, event.made_transactions = "fulfilled", bool(made)
        event.effect = _plus(event.effect, _minus(after, before))

    @precondition(lambda self: self._ids("fulfilled"))
    @rule(data=st.data())
    def fulfil_again(self, data: st.DataObject) -> None:
        event = self._draw(data, "fulfilled")
        call = self.sf.fulfil(event.id)
        if not (call.status == 200 or 400 <= call.status < 500):
            raise ConformanceViolation(
                "FUL-5",
                f"a second fulfil answered {call.status}; expected 200 or 4xx",
                call.reproducer,
            )
        self._observe(
            event.customer,
            self.wallets[event.customer],
            "FUL-5",
            "after fulfilling a fulfilled event again",
            call,
        )

    @precondition(lambda self: self._ids("reversed", "cancelled"))
    @rule(data=st.data())
    def fulfil_dead(self, data: st.DataObject) -> None:
        event = self._draw(data, "reversed", "cancelled")
        call = self.sf.fulfil(event.id)
        expect_4xx(call, "FUL-4", f"fulfil of a {event.state} event")
        self._observe(
            event.customer,
            self.wallets[event.customer],
            "FUL-4",
            f"after the refused fulfil of a {event.state} event",
            call,
        )

    @precondition(lambda self: self._ids("fulfilled"))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        event = self._draw(data, "fulfilled")
        self._finish(event, [self.sf.reverse(event.id)])

    @precondition(lambda self: self._ids("standby"))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        """Reverse a standby event: it is cancelled and its reservation released."""
        event = self._draw(data, "standby")
        self._finish(event, [self.sf.reverse(event.id)])

    @precondition(lambda self: self._ids("fulfilled", "standby"))
    @rule(data=st.data())
    def reverse_concurrently(self, data: st.DataObject) -> None:
        event = self._draw(data, "fulfilled", "standby")
        with ThreadPoolExecutor(CONCURRENT_REVERSALS) as pool:
            calls = list(pool.map(lambda _: self.sf.reverse(event.id), range(CONCURRENT_REVERSALS)))
        accepted = [c for c in calls if 200 <= c.status < 300]
        if len(accepted) > 1 and 200 <= (again := self.sf.reverse(event.id)).status < 300:
            # Not a race: even a later, lone reverse is accepted. That is REV-4's rule.
            raise ConformanceViolation(
                "REV-4",
                f"a reverse of an event {len(accepted)} "
                f"concurrent reverses had already reversed answered "
                f"{again.status}",
                again.reproducer,
            )
        if len(accepted) != 1:
            raise ConformanceViolation(
                "REV-6",
                f"{len(accepted)} of {CONCURRENT_REVERSALS} "
                "concurrent reverse calls answered 2xx (statuses "
                f"{sorted(c.status for c in calls)}), expected one",
                calls[0].reproducer,
            )
        self._finish(event, accepted, concurrent=True)

    def _finish(self, event: Event, calls: list[Call], concurrent: bool = False) -> None:
        """Check one accepted reversal (REV-1/REV-2) or cancellation (REV-3)."""
        call = calls[0]
        cancelling = event.state == "standby"
        rule_id = "REV-3" if cancelling else "REV-1"
        expect_2xx(call, rule_id, f"reverse of a {event.state} event")
        status = call.data.get("status") if isinstance(call.data, dict) else None
        wanted = "CANCELLED" if cancelling else "REVERSED"
        if status != wanted:
            raise ConformanceViolation(
                rule_id,
                f"reverse of a {event.state} event answered status {status!r}, expected {wanted!r}",
                call.reproducer,
            )
        listed = self.sf.wait_transactions(event.id, "REVERSAL") if event.made_transactions else []
        before = self.wallets[event.customer]
        expected = _plus(before, event.effect, -1.0)
        undone_rule = "REV-3" if cancelling else "REV-2"
        if concurrent and self.sf.wallet(event.customer) != before:
            undone_rule = "REV-6"  # something was undone: more than once is the race's fault
        self._observe(
            event.customer,
            expected,
            undone_rule,
            f"after the reverse of a {event.state} event (its own effect undone)",
            call,
        )
        if event.made_transactions and not any(t.get("type") == "REVERSAL" for t in listed):
            raise ConformanceViolation(
                "REV-2",
                "the event made transactions but no REVERSAL is listed after its reversal",
                call.reproducer,
            )
        event.state, event.effect = ("cancelled" if cancelling else "reversed"), {}

    @precondition(lambda self: self._ids("reversed", "cancelled"))
    @rule(data=st.data())
    def reverse_dead(self, data: st.DataObject) -> None:
        event = self._draw(data, "reversed", "cancelled")
        call = self.sf.reverse(event.id)
        expect_4xx(call, "REV-4", f"reverse of a {event.state} event")
        self._observe(
            event.customer,
            self.wallets[event.customer],
            "REV-4",
            f"after the refused reverse of a {event.state} event",
            call,
        )

    @rule(event_id=st.uuids())
    def touch_unknown(self, event_id: Any) -> None:
        fulfilled, reversed_ = self.sf.fulfil(str(event_id)), self.sf.reverse(str(event_id))
        expect_4xx(fulfilled, "FUL-3", "fulfil of an unknown event id")
        expect_4xx(reversed_, "REV-5", "reverse of an unknown event id")

    @rule(data=st.data(), points=st.integers(0, 50))
    def preview(self, data: st.DataObject, points: int) -> None:
        customer = data.draw(st.sampled_from(list(self.wallets)))
        mine = [e for e in self.events.values() if e.customer == customer]
        listed = self.sf.transactions(mine[-1].id) if mine else []
        redeem = [{"id": self.reward_id, "amount": points}]
        call = self.sf.preview(
            preview_request(customer, self.sf.brand_id, order_redeem=redeem, product_redeem=redeem)
        )
        expect_2xx(call, "PRV-1", "a valid preview")
        self._observe(customer, self.wallets[customer], "PRV-2", "after a preview", call)
        if mine and self.sf.transactions(mine[-1].id) != listed:
            raise ConformanceViolation(
                "PRV-2", "an event's transactions changed after a preview", call.reproducer
            )


TestEventLifecycle = EventLifecycleMachine.TestCase
# The active profile (loaded before collection) gives the number of runs and their
# length; one bug per run, so that a failure names one requirement.
TestEventLifecycle.settings = settings(report_multiple_bugs=False)
TestEventLifecycle = pytest.mark.requirement(
    "EMIT-1",
    "EMIT-4",
    "FUL-1",
    "FUL-3",
    "FUL-4",
    "FUL-5",
    "REV-1",
    "REV-2",
    "REV-3",
    "REV-4",
    "REV-5",
    "REV-6",
    "PRV-1",
    "PRV-2",
)(pytest.mark.writes(TestEventLifecycle))


@pytest.fixture(autouse=True)
def _lifecycle_world(storefront: Storefront, points_reward: dict[str, Any]) -> Iterator[None]:
    EventLifecycleMachine.storefront = storefront
    EventLifecycleMachine.reward_id = points_reward["id"]
    yield
    del EventLifecycleMachine.storefront, EventLifecycleMachine.reward_id
