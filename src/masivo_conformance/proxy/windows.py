"""The history the proxy's multi-call rules read: the last calls of each customer.

`checks.passive.judge_sequence` judges an ordered list of calls. A batch judge hands it
a whole file; traffic that never ends cannot be kept whole, so the proxy keeps, per
customer, a window of its last `calls` calls (each rule is about one customer's wallet
or one event, and an event belongs to the customer its answers name), at most
`customers` windows (the least recently active go first) and at most `max_bytes` of
answers in all. Each new call is judged by running the rules over its customer's
window; a verdict is taken once per call and requirement (the first one given), so a
rule that speaks of an earlier call (an emit found valid later) is counted once and a
call that leaves the window keeps what it was judged.

What a window cannot show is not judged: an emit that left it (or came before the
session) is no premise for its reverse. Calls of no known customer (a fulfil of an event
the proxy never saw emitted, authorize) share one window, so a rule about the event
alone (FUL-3, REV-5, a second reverse) is still judged.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, urlsplit

from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.checks.passive import judge_sequence

__all__ = ["CALLS_PER_CUSTOMER", "CUSTOMERS", "MAX_BYTES", "CustomerWindows"]

#: A checkout, a reverse and the reads around them take a dozen calls; 64 keeps the
#: premise of every rule of a long-lived test customer within reach.
CALLS_PER_CUSTOMER = 64
#: Customers whose windows are kept; a test session rarely has more active at once.
CUSTOMERS = 1000
#: Answers kept in all windows (their parsed bodies), whatever their number.
MAX_BYTES = 64 * 1024 * 1024
_NO_CUSTOMER = ""
# What a kept call costs beside its answer's text: the request, headers, the curl line.
_OVERHEAD = 2048
_CUSTOMER_OPERATIONS = frozenset({"get_customer"})


@dataclass
class _Entry:
    call: Call
    label: str
    size: int
    span: tuple[float, float] | None = None  # sent, answered
    judged: set[str] = field(default_factory=set)  # requirements a verdict was taken for


def _slim(call: Call) -> Call:
    """The call as the rules read it once it is history: its text is dropped (the rules
    read the parsed body; only a message about the call itself quotes the text) and its
    curl line is made at once, so nothing else of the exchange is held."""
    reproducer = call.reproducer
    return replace(call, text="", reproduce=lambda: reproducer)


def _member(value: object, name: str) -> str:
    found = value.get(name) if isinstance(value, dict) else None
    return found if isinstance(found, str) else ""


class CustomerWindows:
    """`verdicts(call, label)`: the multi-call verdicts of a new call (a
    `reporting.judging.SequenceJudge`)."""

    def __init__(
        self,
        calls: int = CALLS_PER_CUSTOMER,
        customers: int = CUSTOMERS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.calls, self.customers, self.max_bytes = calls, customers, max_bytes
        self._windows: OrderedDict[str, deque[_Entry]] = OrderedDict()
        # Event id -> its customer, as answers named it: what a fulfil or reverse is of.
        self._events: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0
        self.evicted_customers = 0

    # -- what is kept -----------------------------------------------------------------------

    @property
    def kept_calls(self) -> int:
        return sum(len(window) for window in self._windows.values())

    @property
    def kept_customers(self) -> int:
        return len(self._windows)

    @property
    def kept_events(self) -> int:
        return len(self._events)

    @property
    def kept_bytes(self) -> int:
        return self._bytes

    # -- judging ----------------------------------------------------------------------------

    def verdicts(
        self, call: Call, label: str, span: tuple[float, float] | None = None
    ) -> list[tuple[str, Verdict]]:
        customer = self._customer_of(call)
        self._learn(call, customer)
        window = self._window(customer)
        entry = _Entry(_slim(call), label, len(call.text) + _OVERHEAD, span)
        if len(window) == self.calls:
            self._bytes -= window[0].size
        window.append(entry)  # a full deque drops its oldest
        self._bytes += entry.size
        self._fit(keep=customer)
        entries = list(window)
        # The new call whole (its messages quote its answer); the kept ones slim.
        calls = [e.call for e in entries[:-1]] + [call]
        taken = []
        labels, spans = [e.label for e in entries], [e.span for e in entries]
        for index, verdict in judge_sequence(calls, labels, spans):
            owner = entries[index]
            if verdict.requirement in owner.judged:
                continue
            owner.judged.add(verdict.requirement)
            taken.append((owner.label, verdict))
        return taken

    def _customer_of(self, call: Call) -> str:
        request = call.request_json
        named = (
            (call.path_params.get("id", "") if call.operation in _CUSTOMER_OPERATIONS else "")
            or _member(request, "customer_id")
            or _member(call.data, "customer_id")
        )
        if named:
            return named
        event = call.path_params.get("eventId", "")
        if not event and call.operation == "list_transactions":
            event = dict(parse_qsl(urlsplit(call.url).query)).get("event_id", "")
        return self._events.get(event, _NO_CUSTOMER) if event else _NO_CUSTOMER

    def _learn(self, call: Call, customer: str) -> None:
        """Remember whose event an answer names (an emit's, a fulfil's, a reverse's)."""
        event = _member(call.data, "id") if call.operation.endswith("_event") else ""
        event = event or call.path_params.get("eventId", "")
        if not event or not customer:
            return
        self._events[event] = customer
        self._events.move_to_end(event)
        while len(self._events) > self.customers * 16:
            self._events.popitem(last=False)

    def _window(self, customer: str) -> deque[_Entry]:
        window = self._windows.get(customer)
        if window is None:
            window = self._windows[customer] = deque(maxlen=self.calls)
        self._windows.move_to_end(customer)
        return window

    def _fit(self, keep: str) -> None:
        """Drop the least recently active windows until the bounds hold (never `keep`'s:
        the call being judged is in it; its own oldest calls go if it alone is too big)."""
        while len(self._windows) > self.customers or self._bytes > self.max_bytes:
            oldest = next(iter(self._windows))
            if oldest == keep:
                window = self._windows[keep]
                if len(window) <= 1:
                    return
                self._bytes -= window.popleft().size
                continue
            self._bytes -= sum(e.size for e in self._windows.pop(oldest))
            self.evicted_customers += 1
