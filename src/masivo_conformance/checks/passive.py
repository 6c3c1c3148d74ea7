"""Multi-call rules judged on traffic the suite did not make: wherever a recording (or,
later, a live run) shows a rule's premise, in recorded order, per event and per customer.

`judge_sequence(calls)` is a plain function of an ordered list of `Call`s. It follows
each event (emitted, fulfilled, reversed or cancelled: what the answers said) and each
customer's wallet reads, previews and writes, and returns the verdicts the traffic
supports, each with the index of the call it belongs to:

* REV-4: a reverse of an event an earlier reverse ended (2xx) answers 4xx;
* FUL-4: a fulfil of an event an earlier reverse ended answers 4xx;
* REV-1: a reverse of an event seen emitted, fulfilled and RESOLVED answers 2xx with
  REVERSED;
* FUL-1: the first fulfil of an event emitted standby answers 200;
* FUL-3, REV-5: a fulfil or reverse of an id that cannot be an event's (event ids are
  uuids, schemas/event.schema.json) answers 4xx;
* EMIT-1: an emit the recording shows to be valid (its request breaks no schema and
  redeems nothing, its customer, brand and type were accepted in other emits, its
  issued_at inside the 72 hours before the answer's Date) answers 2xx;
* EMIT-3: an emit whose issued_at lies after the answer's Date, or more than 72 hours
  before it, answers 4xx;
* steps that must change no wallet, each between a wallet read and the next with no
  write for the customer between: the same totals. PRV-2 for previews, EMIT-2 for an
  emit refused for a missing or mistyped member, FUL-5 for a fulfil of an event seen
  fulfilled already;
* REV-2, REV-3: a wallet read, the emit of an event (nothing else for the customer
  between), its reverse (REVERSED for a fulfilled event, REV-2; CANCELLED for a standby
  one, REV-3), a wallet read (the last before the customer's next write): the same
  totals. And REV-2: the last listing of a reversed event's transactions
  (`list_transactions?event_id=`) after its reverse shows a REVERSAL wherever a listing
  of it showed any transaction.

The judgements are as loose as the statements, since real servers differ: a 5xx is
GEN-3's and charged to nothing here; an answer refused at the door (401, 403: AUTH-1's)
or rate-limited (429) asked no rule anything; what a single answer shows (fulfilled true, the same
id, reversed_at) is the single-call checks' (checks/events.py), not judged twice.
Effects may land after the answer (Masivo settles later), so a wallet that changed
between two reads is a violation only when the first read was at rest: no earlier write
for the customer, every earlier write answered in a final state, or an equal read since
the last write that was not. Otherwise it is "not checked", with that reason. Equal
wallets where no amount could have moved prove nothing (invariants.NOTHING_AT_STAKE).
A premise the traffic never shows leaves its rule "not checked": `NO_PREMISE` says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from masivo_conformance.checks.calls import NOT_JSON, Call, answered_at, can_be_event_id, is_event
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.checks.invariants import (
    NOTHING_AT_STAKE,
    Wallet,
    is_4xx,
    status_in,
    wallet_totals,
)
from masivo_conformance.checks.recorded import EMIT_REQUIRED, request_problem
from masivo_conformance.checks.values import same_enum, timestamp

__all__ = [
    "ANY_REPEAT",
    "JUDGES",
    "NOTHING_HELD",
    "NOT_AT_REST",
    "NO_PREMISE",
    "OUT_OF_ORDER",
    "UNTIMED",
    "judge_sequence",
]

#: Why each rule was not checked when the traffic never showed its premise.
NO_PREMISE: dict[str, str] = {
    "REV-1": "the recording has no reverse of an event seen emitted, fulfilled and RESOLVED",
    "REV-2": (
        "the recording has no wallet read before an emit and after its reverse with "
        "nothing else for the customer between, and no listing of a reversed event's "
        "transactions after its reverse"
    ),
    "REV-3": (
        "the recording has no reverse answered CANCELLED, or no wallet read before the "
        "standby emit and after its cancellation"
    ),
    "EMIT-1": (
        "the recording has no emit answered 2xx, and no refused emit it shows was valid "
        "(its customer, brand and type accepted elsewhere, its issued_at in the window)"
    ),
    "EMIT-3": "the recording has no emit with an issued_at in the future or 72 hours old",
    "FUL-3": "the recording has no fulfil of an id that cannot be an event's (not a uuid)",
    "REV-5": "the recording has no reverse of an id that cannot be an event's (not a uuid)",
    "REV-6": (
        "the recording has no reverse sent while another reverse of the same event was in "
        "flight (a HAR keeps the times; a cassette does not)"
    ),
    "FUL-5": (
        "the recording has no fulfil of an event seen fulfilled between two wallet reads "
        "of its customer with no write between them"
    ),
    "REV-4": "the recording has no reverse of an event already reversed or cancelled",
    "FUL-1": "the recording has no fulfil of an event emitted standby (fulfilled false)",
    "FUL-4": "the recording has no fulfil of an event after it was reversed or cancelled",
    "PRV-2": (
        "the recording has no preview between two wallet reads of its customer with no "
        "write for the customer between them"
    ),
}
#: What the steps that must change no wallet are, by the rule each is judged under.
NO_CHANGE = {
    "PRV-2": "preview(s)",
    "EMIT-2": "emit(s) refused for a missing or mistyped member",
    "FUL-5": "fulfil(s) of an event seen fulfilled",
}
#: Every requirement `judge_sequence` may judge (the requirement map lists it under each;
#: tests/unit/test_requirement_map.py holds it to the ids this module names).
JUDGES = (
    "EMIT-1",
    "EMIT-2",
    "EMIT-3",
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
    "PRV-2",
)
NOT_AT_REST = (
    "the wallet changed between the reads, but an earlier write for the customer was not "
    "seen settled and may have landed late (no read showed the wallet at rest)"
)
OUT_OF_ORDER = (
    "a later recorded reverse of the event answered 2xx: concurrent reverses are recorded "
    "in the order their answers came"
)
UNTIMED = (
    "a reverse of the event answered 2xx just before, and the recording keeps no times: "
    "the two may have been sent at once (REV-6's case), not one after the other"
)
ANY_REPEAT = (
    "the target accepts a second reverse sent after the first had answered (REV-4): two "
    "accepted at once show no race, only that"
)
NOTHING_HELD = "the customer held nothing a preview could consume: no amount could show a break"
_FINAL = frozenset({"RESOLVED", "FAILED", "REVERSED", "CANCELLED"})
# Refused at the door (AUTH-1's) or asked to come back later: no rule was asked anything.
_NOT_ASKED = frozenset({401, 403, 429})
# The headers a client of the storefront sends. A fuzzed request (schemathesis marks its
# own) that carries others, invented ones, may be refused for them before any rule is
# asked: its refusal is judged by no rule here (it wrote nothing either), as a 401's is
# not. A team's own traffic carries headers of its own too (tracing, cookies): judged.
FUZZ_MARK = "x-schemathesis-testcaseid"
_ORDINARY_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "authorization",
        "connection",
        "content-length",
        "content-type",
        "host",
        "user-agent",
        "x-api-key",
    }
)
WINDOW = timedelta(hours=72)  # EMIT-3's
# The time a request may take to reach the target after its issued_at was written: an
# issued_at this close to a bound of the window is judged by neither EMIT-1 nor EMIT-3.
_SLACK = timedelta(seconds=60)
_ORDINARY_NUMBER = 1e9
_ORDINARY_TEXT = 200
_ORDINARY_ITEMS = 50


@dataclass
class _Event:
    customer: str | None
    emitted: int | None = None  # index of its emit
    fulfilled: bool = False
    standby: bool = False  # emitted fulfilled false and not fulfilled since
    status: str = ""  # upper case, as last answered
    ended: str = ""  # REVERSED or CANCELLED, once a reverse answered 2xx
    ended_at: int = -1
    reversed_fulfilled: bool = False  # its reverse answered REVERSED for a fulfilled event
    # A fulfil or reverse after its end was accepted: the target's state of it is broken
    # (charged there), and what follows of it is that break's consequence, not judged.
    broken: bool = False
    # Its listed transactions: (index of the listing, the types it listed).
    listings: list[tuple[int, frozenset[str]]] = field(default_factory=list)


@dataclass(frozen=True)
class _Step:
    """One call as the wallet rules see it, for one customer (None: any customer)."""

    index: int
    kind: str  # "read", "still" (must change no wallet) or "write"
    customer: str | None
    event: str = ""
    settled: bool = False  # a write answered in a final state (its effects applied)
    totals: Mapping[str, float] | None = None  # of a read
    rule: str = ""  # of a still step: NO_CHANGE's key; of a reverse: REV-2 or REV-3


@dataclass(frozen=True)
class _Refused:
    """A refused emit whose request breaks no schema: EMIT-1's, if the rest shows it valid."""

    index: int
    customer: str
    brand: str
    type: str


def _has_reason(call: Call) -> bool:
    return isinstance(call.request_json, dict) and "reason" in call.request_json


def _event_data(call: Call) -> dict[str, Any] | None:
    data = call.data if 200 <= call.status < 300 else None
    return data if is_event(data) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _redeems(value: Any) -> bool:
    """Whether a request asks to redeem anywhere (a refusal may then be the wallet's)."""
    if isinstance(value, dict):
        return "redeem" in value or any(_redeems(v) for v in value.values())
    if isinstance(value, list):
        return any(_redeems(v) for v in value)
    return False


def _ordinary(value: Any) -> bool:
    """Whether a request holds only values any server takes: finite, modest numbers and
    short texts (a server may bound them, as the reference server does, and still be
    right: EMIT-1 is judged only on requests no bound could refuse)."""
    if isinstance(value, dict):
        return all(_ordinary(v) for v in value.values())
    if isinstance(value, list):
        return len(value) <= _ORDINARY_ITEMS and all(_ordinary(v) for v in value)
    if isinstance(value, float | int) and not isinstance(value, bool):
        return math.isfinite(value) and abs(value) <= _ORDINARY_NUMBER
    return not isinstance(value, str) or len(value) <= _ORDINARY_TEXT


def _issued(call: Call) -> tuple[datetime, datetime] | None:
    """(issued_at sent, the answer's Date) of an emit, when both can be read."""
    request = call.request_json if isinstance(call.request_json, dict) else {}
    issued, answered = timestamp(request.get("issued_at")), answered_at(call)
    if issued is None or answered is None or isinstance(request.get("issued_at"), int | float):
        return None
    return issued, answered


def _given_ids(calls: Sequence[Call]) -> set[str]:
    """Every event id an answer of the recording gave (a target's ids may be no uuids:
    GEN-4's to judge, and no reason to call them unknown)."""
    given: set[str] = set()
    for call in calls:
        data = call.data if 200 <= call.status < 300 else None
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict):
                for member in ("id", "event_id") if is_event(item) else ("event_id",):
                    if isinstance(item.get(member), str):
                        given.add(item[member])
    return given


class _Judge:
    def __init__(
        self,
        calls: Sequence[Call],
        labels: Sequence[str],
        spans: Sequence[tuple[float, float] | None],
        clock: bool,
    ) -> None:
        self.calls, self.labels, self.spans = calls, labels, spans
        self.given_ids = _given_ids(calls)
        self.events: dict[str, _Event] = {}
        self.steps: list[_Step] = []
        self.verdicts: list[tuple[int, Verdict]] = []
        self.last_read: dict[str, Mapping[str, float]] = {}
        # An amount seen to move anywhere in the recording (a wallet read that differs
        # from the customer's last, or a transaction listed): equal wallets are evidence
        # on such a target. The whole recording's, not the calls before a read: the order
        # of overlapping scenarios must not decide what counts (concurrent_scenarios.py).
        self.moved = False
        self.refused: list[_Refused] = []
        self.races: list[tuple[int, Verdict]] = []
        self.clock = clock
        self.accepted: set[tuple[str, str]] = set()  # ("customer", id), ("type", brand|type)

    def judge(self, index: int, verdict: Verdict) -> None:
        self.verdicts.append((index, verdict))

    # -- following the traffic ----------------------------------------------------------------

    def follow(self) -> None:
        for index, call in enumerate(self.calls):
            if call.status in _NOT_ASKED or (400 <= call.status < 500 and _own_headers(call)):
                continue
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
        rule: str = "",
    ) -> None:
        if 400 <= call.status < 500:
            return  # refused: nothing written (what EMIT-2, FUL-4, REV-4 ask)
        self.steps.append(_Step(index, "write", customer, event, settled, rule=rule))

    def _emit_event(self, index: int, call: Call) -> None:
        request = call.request_json if isinstance(call.request_json, dict) else {}
        customer = _text(request.get("customer_id"))
        data = _event_data(call)
        event_id, settled = "", False
        if call.status < 500:
            self._window(index, call)
        if data is not None:
            event_id = str(data["id"])
            customer = customer or _text(data.get("customer_id"))
            standby = request.get("fulfilled") is False and data.get("fulfilled") is not True
            status = str(data.get("status")).upper()
            self.events[event_id] = _Event(
                customer, index, data.get("fulfilled") is True, standby, status
            )
            settled = status in _FINAL or standby
            brand, kind = _text(request.get("brand_id")), _text(request.get("type"))
            self.accepted |= {("customer", customer or ""), ("type", f"{brand}|{kind}")}
        elif 400 <= call.status < 500 and customer is not None:
            self._refused_emit(index, call, request, customer)
        self._write(index, call, customer, event_id, settled)

    def _refused_emit(self, index: int, call: Call, request: dict[str, Any], customer: str) -> None:
        problem = request_problem(call)
        if problem is not None and (problem.missing & EMIT_REQUIRED or problem.wrong_type):
            self.steps.append(_Step(index, "still", customer, rule="EMIT-2"))
        elif (
            problem is None
            and not _redeems(request)
            and _ordinary(request)
            and self._inside_window(call)
        ):
            brand, kind = str(request.get("brand_id")), str(request.get("type"))
            self.refused.append(_Refused(index, customer, brand, kind))

    def _inside_window(self, call: Call) -> bool:
        """Whether the emit's issued_at lies well inside the window (or it sent none)."""
        request = call.request_json if isinstance(call.request_json, dict) else {}
        if "issued_at" not in request:
            return True
        times = _issued(call) if self.clock else None
        if times is None:
            return False
        issued, answered = times
        return answered - WINDOW + _SLACK <= issued <= answered

    def _window(self, index: int, call: Call) -> None:
        """EMIT-3 on an emit whose issued_at lies clearly outside the window."""
        times = _issued(call) if self.clock else None
        if times is None:
            return
        issued, answered = times
        if issued > answered + _SLACK:
            what = f"emit issued at {issued.isoformat()}, after the answer's Date"
        elif issued < answered - WINDOW - _SLACK:
            what = f"emit issued at {issued.isoformat()}, over 72 hours before the answer's Date"
        else:
            return
        self.judge(index, is_4xx(call, "EMIT-3", what))

    def valid_refusals(self) -> None:
        """EMIT-1 on the refused emits the rest of the recording shows were valid."""
        for refused in self.refused:
            if {
                ("customer", refused.customer),
                ("type", f"{refused.brand}|{refused.type}"),
            } <= self.accepted:
                call = self.calls[refused.index]
                self.judge(
                    refused.index,
                    status_in(
                        call,
                        200,
                        299,
                        "EMIT-1",
                        "an emit valid by the recording (no schema broken, nothing redeemed, "
                        "its customer, brand and type accepted in other emits, issued_at "
                        "inside the window)",
                    ),
                )

    def _unknown_id(self, index: int, call: Call, requirement: str) -> bool:
        """FUL-3 or REV-5 on an id no event can have (no uuid, and no answer of the
        recording gave it); whether the call was one."""
        event_id = call.path_params.get("eventId", "")
        if can_be_event_id(event_id) or event_id in self.given_ids or call.status >= 500:
            return False
        self.judge(
            index, is_4xx(call, requirement, f"{call.operation} of an id that is not a uuid")
        )
        return True

    def _fulfill_event(self, index: int, call: Call) -> None:
        if self._unknown_id(index, call, "FUL-3"):
            return
        event_id = call.path_params.get("eventId", "")
        event = self.events.get(event_id)
        if event is not None and event.broken:
            return
        if event is not None and event.fulfilled and not event.ended and event.customer:
            self.steps.append(_Step(index, "still", event.customer, event_id, rule="FUL-5"))
            return
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
                event.broken = 200 <= call.status < 300
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
        if self._unknown_id(index, call, "REV-5"):
            return
        event_id = call.path_params.get("eventId", "")
        event = self.events.get(event_id)
        if event is not None and event.broken:
            return
        data = _event_data(call)
        if event is not None and call.status < 500:
            if event.ended:
                self._second_reverse(index, call, event)
            elif (
                event.emitted is not None
                and event.fulfilled
                and event.status == "RESOLVED"
                and _has_reason(call)
                and request_problem(call) is None
                and _ordinary(call.request_json)
            ):
                # Without a reason a refusal is REV-7's to judge (a SHOULD), not REV-1's;
                # a body a server may bound (a fuzzed member of 1e235) may be refused too.
                self._reversal(index, call, data)
        if event is None and data is not None:
            event = self.events[event_id] = _Event(_text(data.get("customer_id")))
        answered = str(data.get("status")).upper() if data else ""
        restores = ""
        if event is not None and 200 <= call.status < 300 and not event.ended:
            cancelled = answered == "CANCELLED" or (not answered and event.standby)
            event.reversed_fulfilled = event.fulfilled and not cancelled
            restores = "REV-2" if event.reversed_fulfilled else "REV-3" if event.standby else ""
            event.ended, event.ended_at = ("CANCELLED" if cancelled else "REVERSED"), index
        customer = event.customer if event else None
        self._write(index, call, customer, event_id, answered in _FINAL, restores)

    def _second_reverse(self, index: int, call: Call, event: _Event) -> None:
        """REV-4 on a reverse sent after the one that ended the event had answered;
        REV-6 on one sent while it was in flight (their times overlap)."""
        first, second = self.spans[event.ended_at], self.spans[index]
        what = f"reverse of an event {event.ended.lower()} at {self.labels[event.ended_at]}"
        if first is not None and second is not None and second[0] < first[1]:
            # Judged once the whole recording is seen (`races`); a later reverse of the
            # event is still judged as REV-4's.
            what = f"{what}, sent while that reverse was in flight"
            self.races.append((index, is_4xx(call, "REV-6", what)))
            return
        if first is None and second is None and self._next_for(event, event.ended_at, index):
            verdict = Verdict.moot("REV-4", UNTIMED)
        else:
            verdict = is_4xx(call, "REV-4", f"second {what}")
        self.judge(index, verdict)
        event.broken = 200 <= call.status < 300

    def _next_for(self, event: _Event, ended_at: int, index: int) -> bool:
        """Whether, of the event's customer, nothing but reverses of the event was sent
        between the reverse that ended it and this one: other customers' calls between
        them (scenarios that overlapped) say nothing of whether the two were sent at once."""
        event_id = self.calls[index].path_params.get("eventId", "")
        for call in self.calls[ended_at + 1 : index]:
            if call.operation == "reverse_event" and call.path_params.get("eventId") == event_id:
                continue
            if event.customer is not None and self._customer_of(call) == event.customer:
                return False
        return True

    def _customer_of(self, call: Call) -> str | None:
        """The customer a call is about: named in its request, its path, or its event's."""
        request = call.request_json if isinstance(call.request_json, dict) else {}
        named = _text(request.get("customer_id")) or (
            call.path_params.get("id") if call.operation == "get_customer" else None
        )
        if named:
            return named
        other = self.events.get(call.path_params.get("eventId", ""))
        return other.customer if other is not None else None

    def judge_races(self) -> None:
        """REV-6 on the reverses sent while another was in flight, unless the target
        accepts a second reverse sent after the first had answered (REV-4 broken): then
        two accepted at once show no race, only that break (as `run`'s REV-6 test says)."""
        repeats = any(
            v.requirement == "REV-4" and v.violation is not None for _, v in self.verdicts
        )
        for index, raced in self.races:
            moot = repeats and raced.violation is not None
            self.judge(index, Verdict.moot("REV-6", ANY_REPEAT) if moot else raced)

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
        self.steps.append(_Step(index, "read", customer, totals=totals))

    def _list_transactions(self, index: int, call: Call) -> None:
        listed = call.data if 200 <= call.status < 300 else None
        if not isinstance(listed, list):
            return
        if listed:
            self.moved = True
        query = parse_qs(urlsplit(call.url).query)
        event_id = (query.get("event_id") or [""])[0]
        event = self.events.get(event_id)
        if event is None:
            return
        # Entries of another event are not this event's; those without event_id are
        # (the member is optional and the target filtered on the query).
        types = frozenset(
            str(t.get("type")).upper()
            for t in listed
            if isinstance(t, dict) and t.get("event_id") in (event_id, None)
        )
        event.listings.append((index, types))

    def _preview_order(self, index: int, call: Call) -> None:
        request = call.request_json if isinstance(call.request_json, dict) else {}
        customer = _text(request.get("customer_id"))
        if customer is not None:
            self.steps.append(_Step(index, "still", customer, rule="PRV-2"))

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

    def still_steps(self) -> None:
        """Each rule of NO_CHANGE, per customer, on each stretch with no write."""
        customers = {s.customer for s in self.steps if s.kind == "still" and s.customer}
        for customer in sorted(c for c in customers if c is not None):
            timeline = self.timeline(customer)
            segment: list[_Step] = []
            for step in [*timeline, None]:
                if step is None or step.kind == "write":
                    for rule in NO_CHANGE:
                        self._still_segment(timeline, segment, rule)
                    segment = []
                else:
                    segment.append(step)

    def _still_segment(self, timeline: list[_Step], segment: list[_Step], rule: str) -> None:
        """Within reads and still steps with no write between: the first read followed
        by a step of `rule` against the last read after it, when no step of another rule
        lies between them (a change could not be told apart)."""
        stills = [s for s in segment if s.kind == "still" and s.rule == rule]
        reads = [s for s in segment if s.kind == "read"]
        first = next((r for r in reads if any(p.index > r.index for p in stills)), None)
        if first is None:
            return
        seen = [p for p in stills if p.index > first.index]
        last = next((r for r in reversed(reads) if r.index > seen[0].index), None)
        if last is None:
            return
        if any(
            s.kind == "still" and s.rule != rule and first.index < s.index < last.index
            for s in segment
        ):
            return
        between = [p for p in seen if p.index < last.index]
        labels = ", ".join(self.labels[p.index] for p in between[:3])
        what = (
            f"{NO_CHANGE[rule]} at {labels} between the wallet reads at "
            f"{self.labels[first.index]} and {self.labels[last.index]}, no write for the "
            "customer between"
        )
        held = any(abs(v) > 0 for v in (first.totals or {}).values())
        stake = held or self.moved if rule == "PRV-2" else self.moved
        self.compare(
            rule,
            timeline,
            first,
            last,
            what,
            stake,
            NOTHING_HELD if rule == "PRV-2" else NOTHING_AT_STAKE,
            self.calls[between[0].index].reproducer,
        )

    def reversal_listings(self) -> None:
        """REV-2: a reversed event lists a REVERSAL wherever it listed any transaction."""
        for event_id, event in self.events.items():
            after = [(i, types) for i, types in event.listings if i > event.ended_at]
            if not event.reversed_fulfilled or not after:
                continue
            index, types = after[-1]
            if not any(types for _, types in event.listings):
                continue  # it listed no transaction at all: nothing had to be reversed
            self.judge(
                index,
                Verdict.of(
                    "REV-2",
                    "REVERSAL" in types,
                    f"the transactions of event {event_id}, listed at {self.labels[index]} "
                    f"after its reverse at {self.labels[event.ended_at]}, hold no REVERSAL "
                    f"(types listed: {sorted(types) or 'none'})",
                    self.calls[index].reproducer,
                ),
            )

    def reversals(self) -> None:
        for reverse in self.steps:
            if not reverse.rule or reverse.kind != "write" or reverse.customer is None:
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
                reverse.rule,
                timeline,
                first,
                last,
                what,
                self.moved,
                NOTHING_AT_STAKE,
                self.calls[reverse.index].reproducer,
            )


def _own_headers(call: Call) -> bool:
    """Whether schemathesis sent the request (its `X-Schemathesis-TestCaseId` mark) with
    headers it invented (beyond `_ORDINARY_HEADERS` and its own marks)."""
    return FUZZ_MARK in call.sent_headers and any(
        name not in _ORDINARY_HEADERS and not name.startswith("x-schemathesis-")
        for name in call.sent_headers
    )


def judge_sequence(
    calls: Sequence[Call],
    labels: Sequence[str] | None = None,
    spans: Sequence[tuple[float, float] | None] | None = None,
    *,
    clock: bool = True,
) -> list[tuple[int, Verdict]]:
    """The verdicts of the multi-call rules on `calls` (in the order their answers came),
    each with the index of the call it belongs to. `labels` name the calls in messages
    (default `call N`); `spans` are when each was sent and answered (epoch seconds, None
    where the recording kept no time). `clock` False: the answers' Date headers are not
    of the moment the requests were made (a replay answers new requests with recorded
    answers), so nothing compares them with a request's issued_at."""
    judge = _Judge(
        calls,
        labels or [f"call {n}" for n in range(1, len(calls) + 1)],
        spans or [None] * len(calls),
        clock,
    )
    judge.follow()
    judge.valid_refusals()
    judge.still_steps()
    judge.reversals()
    judge.reversal_listings()
    judge.judge_races()
    return sorted(judge.verdicts, key=lambda item: item[0])
