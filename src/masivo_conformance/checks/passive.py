"""Multi-call rules judged on traffic the suite did not make: wherever a recording (or,
later, a live run) shows a rule's premise, in recorded order, per event and per customer.

`judge_sequence(calls)` is a plain function of an ordered list of `Call`s. It follows
each event (emitted, fulfilled, reversed or cancelled: what the answers said) and each
customer's wallet reads, previews and writes, and returns the verdicts the traffic
supports, each with the index of the call it belongs to:

* REV-4: a reverse of an event an earlier reverse ended (2xx) answers 4xx;
* FUL-4: a fulfil of an event an earlier reverse ended answers 4xx;
* REV-1: a reverse of an event seen fulfilled and RESOLVED answers 2xx with REVERSED;
* FUL-1: the first fulfil of an event emitted standby answers 200;
* PRV-2: a wallet read, previews of that customer, a wallet read, and no write for the
  customer between the reads: the same totals;
* REV-2: a wallet read, the emit of a fulfilled event (nothing else for the customer
  between), its reverse, a wallet read (the last before the customer's next write):
  the same totals.

The judgements are as loose as the statements, since real servers differ: a 5xx is
GEN-3's and charged to nothing here; what a single answer shows (fulfilled true, the same
id, reversed_at) is the single-call checks' (checks/events.py), not judged twice.
Effects may land after the answer (Masivo settles later), so a wallet that changed
between two reads is a violation only when the first read was at rest: no earlier write
for the customer, every earlier write answered in a final state, or an equal read since
the last write that was not. Otherwise it is "not checked", with that reason. Equal
wallets where no amount could have moved prove nothing (invariants.NOTHING_AT_STAKE).
A premise the traffic never shows leaves its rule "not checked": `NO_PREMISE` says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from masivo_conformance.checks._util import same_enum
from masivo_conformance.checks.calls import NOT_JSON, Call, is_event
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.checks.invariants import (
    NOTHING_AT_STAKE,
    Wallet,
    is_4xx,
    status_in,
    wallet_totals,
)

__all__ = [
    "NOTHING_HELD",
    "NOT_AT_REST",
    "NO_PREMISE",
    "OUT_OF_ORDER",
    "judge_sequence",
]

#: Why each rule was not checked when the traffic never showed its premise.
NO_PREMISE: dict[str, str] = {
    "REV-1": "the recording has no reverse of an event seen fulfilled and RESOLVED",
    "REV-2": (
        "the recording has no wallet read before an emit and after its reverse with "
        "nothing else for the customer between"
    ),
    "REV-4": "the recording has no reverse of an event already reversed or cancelled",
    "FUL-1": "the recording has no fulfil of an event emitted standby (fulfilled false)",
    "FUL-4": "the recording has no fulfil of an event after it was reversed or cancelled",
    "PRV-2": (
        "the recording has no preview between two wallet reads of its customer with no "
        "write for the customer between them"
    ),
}
NOT_AT_REST = (
    "the wallet changed between the reads, but an earlier write for the customer was not "
    "seen settled and may have landed late (no read showed the wallet at rest)"
)
OUT_OF_ORDER = (
    "a later recorded reverse of the event answered 2xx: concurrent reverses are recorded "
    "in the order their answers came"
)
NOTHING_HELD = "the customer held nothing a preview could consume: no amount could show a break"
_FINAL = frozenset({"RESOLVED", "FAILED", "REVERSED", "CANCELLED"})


@dataclass
class _Event:
    customer: str | None
    emitted: int | None = None  # index of its emit
    fulfilled: bool = False
    standby: bool = False  # emitted fulfilled false and not fulfilled since
    status: str = ""  # upper case, as last answered
    ended: str = ""  # REVERSED or CANCELLED, once a reverse answered 2xx
    ended_at: int = -1


@dataclass(frozen=True)
class _Step:
    """One call as the wallet rules see it, for one customer (None: any customer)."""

    index: int
    kind: str  # "read", "preview" or "write"
    customer: str | None
    event: str = ""
    op: str = ""  # of a write: emit_event, fulfill_event, reverse_event
    settled: bool = False  # a write answered in a final state (its effects applied)
    totals: Mapping[str, float] | None = None  # of a read
    moved: bool = False  # of a read: an amount had been seen to move by then
    reversed_fulfilled: bool = False  # a reverse that answered REVERSED for a fulfilled event


def _has_reason(call: Call) -> bool:
    return isinstance(call.request_json, dict) and "reason" in call.request_json


def _event_data(call: Call) -> dict[str, Any] | None:
    data = call.data if 200 <= call.status < 300 else None
    return data if is_event(data) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class _Judge:
    def __init__(self, calls: Sequence[Call], labels: Sequence[str]) -> None:
        self.calls, self.labels = calls, labels
        self.events: dict[str, _Event] = {}
        self.steps: list[_Step] = []
        self.verdicts: list[tuple[int, Verdict]] = []
        self.last_read: dict[str, Mapping[str, float]] = {}
        self.moved = False

    def judge(self, index: int, verdict: Verdict) -> None:
        self.verdicts.append((index, verdict))

    # -- following the traffic ----------------------------------------------------------------

    def follow(self) -> None:
        for index, call in enumerate(self.calls):
            handler = getattr(self, f"_{call.operation}", None)
            if handler is not None:
                handler(index, call)

    def _write(
        self,
        index: int,
        call: Call,
        customer: str | None,
        event: str,
        settled: bool,
        *,
        reversed_fulfilled: bool = False,
    ) -> None:
        if 400 <= call.status < 500:
            return  # refused: nothing written (what EMIT-2, FUL-4, REV-4 ask)
        self.steps.append(
            _Step(
                index,
                "write",
                customer,
                event,
                call.operation,
                settled,
                reversed_fulfilled=reversed_fulfilled,
            )
        )

    def _emit_event(self, index: int, call: Call) -> None:
        request = call.request_json if isinstance(call.request_json, dict) else {}
        customer = _text(request.get("customer_id"))
        data = _event_data(call)
        event_id, settled = "", False
        if data is not None:
            event_id = str(data["id"])
            customer = customer or _text(data.get("customer_id"))
            standby = request.get("fulfilled") is False and data.get("fulfilled") is not True
            status = str(data.get("status")).upper()
            self.events[event_id] = _Event(
                customer, index, data.get("fulfilled") is True, standby, status
            )
            settled = status in _FINAL or standby
        self._write(index, call, customer, event_id, settled)

    def _fulfill_event(self, index: int, call: Call) -> None:
        event_id = call.path_params.get("eventId", "")
        event = self.events.get(event_id)
        if event is not None and call.status < 500:
            if event.ended:
                self.judge(
                    index,
                    is_4xx(
                        call,
                        "FUL-4",
                        f"fulfil of an event {event.ended.lower()} at "
                        f"{self.labels[event.ended_at]}",
                    ),
                )
            elif event.standby and event.emitted is not None:
                self.judge(
                    index,
                    status_in(
                        call,
                        200,
                        200,
                        "FUL-1",
                        f"fulfil of the standby event emitted at {self.labels[event.emitted]}",
                    ),
                )
        data = _event_data(call)
        if event is None and data is not None:
            event = self.events[event_id] = _Event(_text(data.get("customer_id")))
        status = str(data.get("status")).upper() if data else ""
        if event is not None and 200 <= call.status < 300 and not event.ended:
            event.fulfilled, event.standby = True, False
            event.status = status or event.status
        customer = event.customer if event else None
        self._write(index, call, customer, event_id, status in _FINAL)

    def _reverse_event(self, index: int, call: Call) -> None:
        event_id = call.path_params.get("eventId", "")
        event = self.events.get(event_id)
        data = _event_data(call)
        if event is not None and call.status < 500:
            if event.ended:
                self.judge(
                    index,
                    is_4xx(
                        call,
                        "REV-4",
                        f"second reverse of an event {event.ended.lower()} at "
                        f"{self.labels[event.ended_at]}",
                    ),
                )
            elif event.fulfilled and event.status == "RESOLVED" and _has_reason(call):
                # Without a reason a refusal is REV-7's to judge (a SHOULD), not REV-1's.
                self._reversal(index, call, data)
        if event is None and data is not None:
            event = self.events[event_id] = _Event(_text(data.get("customer_id")))
        answered = str(data.get("status")).upper() if data else ""
        fulfilled_reverse = False
        if event is not None and 200 <= call.status < 300 and not event.ended:
            cancelled = answered == "CANCELLED" or (not answered and event.standby)
            fulfilled_reverse = event.fulfilled and not cancelled
            event.ended, event.ended_at = ("CANCELLED" if cancelled else "REVERSED"), index
        customer = event.customer if event else None
        self._write(
            index,
            call,
            customer,
            event_id,
            answered in _FINAL,
            reversed_fulfilled=fulfilled_reverse,
        )

    def _reversal(self, index: int, call: Call, data: dict[str, Any] | None) -> None:
        what = "reverse of an event seen fulfilled and RESOLVED"
        event_id = call.path_params.get("eventId", "")
        if 400 <= call.status < 500 and any(
            later.operation == "reverse_event"
            and later.path_params.get("eventId") == event_id
            and 200 <= later.status < 300
            for later in self.calls[index + 1 :]
        ):
            # Concurrent requests are recorded as their answers came: the reverse that
            # won may come after the one it beat.
            self.judge(index, Verdict.moot("REV-1", OUT_OF_ORDER))
            return
        verdict = status_in(call, 200, 299, "REV-1", what)
        if verdict.held and call.body is not NOT_JSON:  # no body recorded: status alone
            status = data.get("status") if data else None
            verdict = Verdict.of(
                "REV-1",
                same_enum(status, "REVERSED"),
                f"{what}: {call.method} {call.url} answered status {status!r}, expected REVERSED",
                call.reproducer,
            )
        self.judge(index, verdict)

    def _get_customer(self, index: int, call: Call) -> None:
        customer = call.path_params.get("id", "")
        totals = wallet_totals(call.data) if 200 <= call.status < 300 else None
        if totals is None or not customer:
            return
        last = self.last_read.get(customer)
        if last is not None and Wallet(last) != totals:
            self.moved = True
        self.last_read[customer] = totals
        self.steps.append(_Step(index, "read", customer, totals=totals, moved=self.moved))

    def _list_transactions(self, index: int, call: Call) -> None:
        listed = call.data if 200 <= call.status < 300 else None
        if isinstance(listed, list) and listed:
            self.moved = True

    def _preview_order(self, index: int, call: Call) -> None:
        request = call.request_json if isinstance(call.request_json, dict) else {}
        customer = _text(request.get("customer_id"))
        if customer is not None:
            self.steps.append(_Step(index, "preview", customer))

    # -- the wallet rules -----------------------------------------------------------------------

    def timeline(self, customer: str) -> list[_Step]:
        return [
            s
            for s in self.steps
            if s.customer == customer or (s.kind == "write" and s.customer is None)
        ]

    def at_rest(self, timeline: list[_Step], read: _Step) -> bool:
        """Whether `read` showed the wallet with every earlier write's effects applied."""
        before = [s for s in timeline if s.index < read.index]
        unsettled = [s.index for s in before if s.kind == "write" and not s.settled]
        if not unsettled:
            return True
        since = [s for s in before if s.index > max(unsettled)]
        return any(
            s.kind == "read"
            and s.totals is not None
            and Wallet(s.totals) == (read.totals or {})
            and not any(w.kind == "write" and w.index > s.index for w in since)
            for s in since
        )

    def compare(
        self,
        requirement: str,
        timeline: list[_Step],
        first: _Step,
        last: _Step,
        what: str,
        stake: bool,
        nothing: str,
        reproducer: str,
    ) -> None:
        before, after = first.totals or {}, last.totals or {}
        changed = {
            reward: (before.get(reward, 0.0), after.get(reward, 0.0))
            for reward in sorted(set(before) | set(after))
            if Wallet({reward: before.get(reward, 0.0)}) != {reward: after.get(reward, 0.0)}
        }
        if not changed:
            verdict = Verdict(requirement) if stake else Verdict.moot(requirement, nothing)
        elif not self.at_rest(timeline, first):
            verdict = Verdict.moot(requirement, NOT_AT_REST)
        else:
            shown = ", ".join(f"{r}: {a:g} -> {b:g}" for r, (a, b) in changed.items())
            verdict = Verdict.of(
                requirement, False, f"{what}: wallet totals changed ({shown})", reproducer
            )
        self.judge(last.index, verdict)

    def previews(self) -> None:
        previewed = {s.customer for s in self.steps if s.kind == "preview" and s.customer}
        for customer in sorted(c for c in previewed if c is not None):
            timeline = self.timeline(customer)
            segment: list[_Step] = []
            for step in [*timeline, None]:
                if step is None or step.kind == "write":
                    self._preview_segment(timeline, segment)
                    segment = []
                else:
                    segment.append(step)

    def _preview_segment(self, timeline: list[_Step], segment: list[_Step]) -> None:
        """Within reads and previews with no write between: the first read followed by
        a preview against the last read after it."""
        previews = [s for s in segment if s.kind == "preview"]
        reads = [s for s in segment if s.kind == "read"]
        first = next((r for r in reads if any(p.index > r.index for p in previews)), None)
        if first is None:
            return
        seen = [p for p in previews if p.index > first.index]
        last = next((r for r in reversed(reads) if r.index > seen[0].index), None)
        if last is None:
            return
        between = [p for p in seen if p.index < last.index]
        labels = ", ".join(self.labels[p.index] for p in between[:3])
        what = (
            f"preview(s) at {labels} between the wallet reads at {self.labels[first.index]} "
            f"and {self.labels[last.index]}, no write for the customer between"
        )
        held = any(abs(v) > 0 for v in (first.totals or {}).values())
        self.compare(
            "PRV-2",
            timeline,
            first,
            last,
            what,
            held or first.moved,
            NOTHING_HELD,
            self.calls[between[0].index].reproducer,
        )

    def reversals(self) -> None:
        for reverse in self.steps:
            if not reverse.reversed_fulfilled or reverse.customer is None:
                continue
            event = self.events.get(reverse.event)
            if event is None or event.emitted is None:
                continue
            timeline = self.timeline(reverse.customer)
            emitted = event.emitted
            before = [s for s in timeline if s.index < emitted]
            first = next((s for s in reversed(before) if s.kind == "read"), None)
            if first is None or any(s.kind == "write" and s.index > first.index for s in before):
                continue
            meanwhile = [s for s in timeline if emitted < s.index < reverse.index]
            if any(s.kind == "write" and s.event != reverse.event for s in meanwhile):
                continue
            after = [s for s in timeline if s.index > reverse.index]
            upto = next((s.index for s in after if s.kind == "write"), None)
            reads = [s for s in after if s.kind == "read" and (upto is None or s.index < upto)]
            if not reads:
                continue
            last = reads[-1]
            what = (
                f"wallet read at {self.labels[first.index]} before the emit at "
                f"{self.labels[emitted]} and at {self.labels[last.index]} after its reverse "
                f"at {self.labels[reverse.index]}"
            )
            self.compare(
                "REV-2",
                timeline,
                first,
                last,
                what,
                last.moved,
                NOTHING_AT_STAKE,
                self.calls[reverse.index].reproducer,
            )


def judge_sequence(
    calls: Sequence[Call], labels: Sequence[str] | None = None
) -> list[tuple[int, Verdict]]:
    """The verdicts of the multi-call rules on `calls` (in the order they were made),
    each with the index of the call it belongs to. `labels` name the calls in messages
    (default `call N`)."""
    judge = _Judge(calls, labels or [f"call {n}" for n in range(1, len(calls) + 1)])
    judge.follow()
    judge.previews()
    judge.reversals()
    return sorted(judge.verdicts, key=lambda item: item[0])
