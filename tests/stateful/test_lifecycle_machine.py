"""The event lifecycle as a Hypothesis state machine: emit (fulfilled or standby, with or
without a POINTS redeem), fulfil, reverse, preview and concurrent reverses, in any order,
over a few fresh customers.

The shadow model is target-agnostic: it never predicts how many points a purchase earns.
It records each event's OBSERVED effect (the wallet after it settled minus before; steps
run one at a time, and only this machine touches its customers) and expects the rules
that follow from it: reversing gives back exactly that effect, cancelling a standby event
releases what its emit reserved, a refused call and a preview change nothing.

Every verdict is recorded as evidence and the machine goes on; after a violation the
model is put back in step with what the target shows. An event that never showed it
settled is left out of the rules that need a settled event, and its customer's wallet
is no longer predicted (a late effect could land at any time).
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

from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.checks.invariants import (
    is_2xx,
    is_4xx,
    same_transactions,
    same_wallet,
    status_in,
)
from masivo_conformance.checks.values import same_enum
from masivo_conformance.suite.payloads import preview_request
from masivo_conformance.suite.storefront import Storefront

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
    state: str  # "standby", "fulfilled", "reversed", "cancelled" or "unknown"
    effect: Wallet = field(default_factory=dict)  # wallet change since before its emit
    made_transactions: bool = False


def _plus(wallet: Wallet, change: Wallet, sign: float = 1.0) -> Wallet:
    return {r: wallet.get(r, 0.0) + sign * change.get(r, 0.0) for r in set(wallet) | set(change)}


def _minus(after: Wallet, before: Wallet) -> Wallet:
    return _plus(after, before, -1.0)


class EventLifecycleMachine(RuleBasedStateMachine):
    """Rules are the storefront's verbs; each judges the requirements its step shows."""

    # Set for each test run by the `_lifecycle_world` fixture below (Hypothesis builds
    # the machine itself, so pytest fixtures reach it through the class).
    storefront: ClassVar[Storefront]
    reward_id: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.sf = type(self).storefront
        self.ev = self.sf.evidence
        self.wallets: dict[str, Wallet] = {}  # the model: each customer's wallet totals
        self.events: dict[str, Event] = {}
        self.uncertain: set[str] = set()  # customers with an event that never showed settling

    # -- helpers --------------------------------------------------------------------------

    def _ids(self, *states: str) -> list[str]:
        return [e.id for e in self.events.values() if e.state in states]

    def _observe(
        self, customer: str, expected: Wallet, requirement: str, what: str, call: Call
    ) -> None:
        """Judge the customer's wallet against the model (waiting for late effects), then
        take what the target shows as the model."""
        if customer in self.uncertain:
            self.wallets[customer] = self.sf.wallet(customer)
            return
        actual = self.sf.wallet_back_to(customer, expected)
        if not self.ev.expect(same_wallet(expected, actual, requirement, what, call.reproducer)):
            # The model no longer knows what this customer's events did: stop predicting.
            self.uncertain.add(customer)
        self.wallets[customer] = actual

    def _draw(self, data: st.DataObject, *states: str) -> Event:
        # In creation order: ids are fresh uuids, so sorting them would make a replay
        # pick another event than the run it replays.
        return self.events[data.draw(st.sampled_from(self._ids(*states)))]

    # -- rules ------------------------------------------------------------------------------

    @initialize()
    def open_customers(self) -> None:
        for _ in range(CUSTOMERS):
            customer = self.sf.create_customer()
            self.wallets[customer] = self.sf.wallet(customer)
        # Points from the start, so that redeeming emits (and their release) come early.
        for customer in list(self.wallets):
            call = self.sf.emit_purchase(customer, value=STARTING_PURCHASE)
            self._record(customer, call, fulfilled=True)

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
        return [
            c
            for c, w in self.wallets.items()
            if c not in self.uncertain and w.get(self.reward_id, 0.0) >= REDEEM_POINTS
        ]

    def _emit(
        self, customer: str, value: int, fulfilled: bool, redeem: list[dict[str, Any]] | None
    ) -> None:
        call = self.sf.emit_purchase(
            customer, value=float(value), fulfilled=fulfilled, redeem=redeem
        )
        if not fulfilled:
            event = call.data
            self.ev.expect(
                Verdict.of(
                    "EMIT-4",
                    event.get("fulfilled") is False
                    and not same_enum(event.get("status"), "RESOLVED"),
                    "a standby event must stay fulfilled false and not RESOLVED; got "
                    f"{event.get('fulfilled')!r} / {event.get('status')!r}",
                    call.reproducer,
                )
            )
        self._record(customer, call, fulfilled)

    def _record(self, customer: str, emitted: Call, fulfilled: bool) -> None:
        """Model an emit by its observed effect on the wallet (never predicted)."""
        before = self.wallets[customer]
        event_id = self.sf.event_id(emitted)
        made = reserving = False
        if fulfilled:
            settled = self.sf.settle(emitted)
            made = bool(settled.transactions)
            if not settled.known:
                self.uncertain.add(customer)
        else:
            reserving = bool(emitted.request_json.get("redeem"))
        # Wait for the effect only where one is due (transactions listed, or a reservation).
        due = made or reserving
        after = self.sf.wallet_after(customer, before) if due else self.sf.wallet(customer)
        self.wallets[customer] = after
        state = (
            ("fulfilled" if customer not in self.uncertain else "unknown")
            if fulfilled
            else "standby"
        )
        self.events[event_id] = Event(event_id, customer, state, _minus(after, before), made)

    @precondition(lambda self: self._ids("standby"))
    @rule(data=st.data())
    def fulfil(self, data: st.DataObject) -> None:
        event = self._draw(data, "standby")
        before = self.wallets[event.customer]
        call = self.sf.fulfil(event.id)
        if not self.ev.expect(status_in(call, 200, 200, "FUL-1", "fulfil of a standby event")):
            event.state = "unknown"
            return
        settled = self.sf.settle(call)
        if not settled.known:
            self.uncertain.add(event.customer)
        changes = settled.transactions or event.effect  # accumulations, or a reservation spent
        after = (
            self.sf.wallet_after(event.customer, before)
            if changes
            else self.sf.wallet(event.customer)
        )
        self.wallets[event.customer] = after
        event.state = "fulfilled" if settled.known else "unknown"
        event.made_transactions = bool(settled.transactions)
        event.effect = _plus(event.effect, _minus(after, before))

    @precondition(lambda self: self._ids("fulfilled"))
    @rule(data=st.data())
    def fulfil_again(self, data: st.DataObject) -> None:
        event = self._draw(data, "fulfilled")
        call = self.sf.fulfil(event.id)
        self.ev.expect(
            Verdict.of(
                "FUL-5",
                call.status == 200 or 400 <= call.status < 500,
                f"a second fulfil answered {call.status}; expected 200 or 4xx",
                call.reproducer,
            )
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
        if not self.ev.expect(is_4xx(call, "FUL-4", f"fulfil of a {event.state} event")):
            event.state = "unknown"  # fulfilled again: its state is the target's secret now
        self._observe(
            event.customer,
            self.wallets[event.customer],
            "FUL-4",
            f"after fulfilling a {event.state} event",
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
        if len(accepted) > 1:
            # Not a race if even a later, lone reverse is accepted: that is REV-4's rule.
            again = self.sf.reverse(event.id)
            if 200 <= again.status < 300:
                self.ev.expect(is_4xx(again, "REV-4", "a reverse after concurrent reverses"))
                event.state = "unknown"
                self.uncertain.add(event.customer)
                return
        self.ev.expect(
            Verdict.of(
                "REV-6",
                len(accepted) == 1,
                f"{len(accepted)} of {CONCURRENT_REVERSALS} concurrent reverse calls answered "
                f"2xx (statuses {sorted(c.status for c in calls)}), expected one",
                calls[0].reproducer,
            )
        )
        if accepted:
            self._finish(event, accepted, concurrent=True)

    def _finish(self, event: Event, calls: list[Call], concurrent: bool = False) -> None:
        """Judge one accepted reversal (REV-1/REV-2) or cancellation (REV-3)."""
        call = calls[0]
        cancelling = event.state == "standby"
        rule_id = "REV-3" if cancelling else "REV-1"
        if not self.ev.expect(is_2xx(call, rule_id, f"reverse of a {event.state} event")):
            return
        wanted = "CANCELLED" if cancelling else "REVERSED"
        status = call.data.get("status") if isinstance(call.data, dict) else None
        self.ev.expect(
            Verdict.of(
                rule_id,
                same_enum(status, wanted),
                f"reverse of a {event.state} event answered status {status!r}, expected {wanted!r}",
                call.reproducer,
            )
        )
        before = self.wallets[event.customer]
        undone_rule = "REV-3" if cancelling else "REV-2"
        if concurrent and not cancelling and any(abs(v) > 1e-6 for v in event.effect.values()):
            # Undone more than once is the race's (REV-6); not undone at all, REV-2's.
            now = self.sf.wallet_back_to(event.customer, _plus(before, event.effect, -1.0))
            undone_rule = "REV-2" if same_wallet(before, now, "REV-2", "").held else "REV-6"
        self._observe(
            event.customer,
            _plus(before, event.effect, -1.0),
            undone_rule,
            f"after the reverse of a {event.state} event (its own effect undone)",
            call,
        )
        listed = self.sf.wait_transactions(event.id, "REVERSAL") if event.made_transactions else []
        if any(t.get("type") for t in listed):  # untyped entries are GEN-4's, not REV-2's
            self.ev.expect(
                Verdict.of(
                    "REV-2",
                    any(same_enum(t.get("type"), "REVERSAL") for t in listed),
                    "the event made transactions but no REVERSAL is listed after its reversal",
                    call.reproducer,
                )
            )
        event.state, event.effect = ("cancelled" if cancelling else "reversed"), {}

    @precondition(lambda self: self._ids("reversed", "cancelled"))
    @rule(data=st.data())
    def reverse_dead(self, data: st.DataObject) -> None:
        event = self._draw(data, "reversed", "cancelled")
        call = self.sf.reverse(event.id)
        self.ev.expect(is_4xx(call, "REV-4", f"reverse of a {event.state} event"))
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
        self.ev.expect(is_4xx(fulfilled, "FUL-3", "fulfil of an unknown event id"))
        self.ev.expect(is_4xx(reversed_, "REV-5", "reverse of an unknown event id"))

    @rule(data=st.data(), points=st.integers(1, 50))
    def preview(self, data: st.DataObject, points: int) -> None:
        customer = data.draw(st.sampled_from(list(self.wallets)))
        mine = [e for e in self.events.values() if e.customer == customer]
        listed = self.sf.transactions(mine[-1].id) if mine else []
        redeem = [{"id": self.reward_id, "amount": points}]
        call = self.sf.preview(
            preview_request(customer, self.sf.brand_id, order_redeem=redeem, product_redeem=redeem)
        )
        self.ev.expect(status_in(call, 200, 200, "PRV-1", "a valid preview"))
        self._observe(customer, self.wallets[customer], "PRV-2", "after a preview", call)
        if mine and customer not in self.uncertain:
            after = self.sf.transactions(mine[-1].id)
            what, moved = "after a preview", self.sf.amounts_moved
            self.ev.expect(
                same_transactions(listed, after, "PRV-2", what, call.reproducer, stake=moved)
            )


TestEventLifecycle = EventLifecycleMachine.TestCase
# The active profile (loaded before collection) gives the number of runs and their length.
TestEventLifecycle.settings = settings(report_multiple_bugs=False)
TestEventLifecycle = pytest.mark.explores(
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
