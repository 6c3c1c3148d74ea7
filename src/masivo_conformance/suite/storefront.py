"""The storefront API as the suite uses it: typed operations on one target, every answer
judged by the single-call MUST checks (recorded as evidence, never raised), fresh
customers, settling, and cleanup.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple
from urllib.parse import quote

from masivo_conformance import checks, scrub
from masivo_conformance.checks import replayer, sequences
from masivo_conformance.checks.calls import EVENT_OPERATIONS, NOT_JSON, Call
from masivo_conformance.checks.events import valid_emit_accepted
from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.checks.invariants import Wallet, wallet_totals
from masivo_conformance.checks.values import same_enum
from masivo_conformance.errors import SettingsError
from masivo_conformance.suite import payloads
from masivo_conformance.suite.client import ApiClient
from masivo_conformance.suite.journal import FINAL_STATUSES, Journal

__all__ = [
    "CUSTOMER_PREFIX",
    "CannotContinue",
    "IdFactory",
    "PlannedCall",
    "Settlement",
    "SetupRefused",
    "StepRefused",
    "Storefront",
    "WritesRefused",
]

CUSTOMER_PREFIX = "mc-test-"
POLL_INTERVALS = (0.05, 0.1, 0.2, 0.4, 0.8)


def _own_words(call: Call) -> str:
    """What the target said of a refusal: its error body's `error` and `details`, or
    the start of whatever it answered (redacted, then cut)."""
    body = call.body
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        details = body.get("details")
        said = body["error"] + (f": {details}" if isinstance(details, str) and details else "")
        return scrub.excerpt(repr(said)[1:-1])
    return scrub.excerpt(repr(call.text)[1:-1]) if call.text else "(an empty body)"


def _segment(value: str) -> str:
    """An id as one path segment: the target chose it, and a `/`, `?`, `#` or control
    character in it must stay part of the id, never reshape the URL."""
    return quote(value, safe="")


class WritesRefused(SettingsError):
    """A write against a host that is not loopback without --allow-writes."""


class SetupRefused(Exception):
    """A step that sets a scenario up (create a customer, read a wallet) was refused.

    No requirement speaks of it on its own, so it is an error of the test, never a
    verdict on a rule: the rules the scenario had not reached stay "not checked".
    """


class StepRefused(SetupRefused):
    """A step every scenario needs (creating a customer, reading its wallet) was
    refused outright (not 2xx): nothing can be judged on this target, so the run stops
    at once with one line naming the step, the status and the target's own words."""


class CannotContinue(Exception):
    """A scenario cannot go on because of a violation it has already recorded."""


@dataclass(frozen=True)
class Settlement:
    """What waiting for a fulfilled event showed (`Storefront.settle` and `earn`).

    `known` is True when the event is known to have settled as the contract defines it
    from outside: its answer said RESOLVED or FAILED, or its transactions were listed.
    An event that only outlived the settle time made no visible transaction: it may be
    settled with no effect, or not settled at all, and rules that need a RESOLVED event
    are not judged on it. `transactions` are the event's as list_transactions listed
    them, `status` the event's as its answer gave it (upper case), and `event_id` the
    event's id: what the next step needs (`storefront.reverse(settled.event_id)`).
    """

    known: bool
    transactions: list[dict[str, Any]]
    status: str = ""
    event_id: str = ""


def _same_totals(a: dict[str, float], b: dict[str, float]) -> bool:
    return Wallet(a) == b  # a missing reward as 0, within the tolerance


def _polls(deadline: float) -> Any:
    """Pauses between polls until `deadline` (time.monotonic), growing to 0.8 s."""
    for pause in itertools.chain(POLL_INTERVALS, itertools.repeat(POLL_INTERVALS[-1])):
        left = deadline - time.monotonic()
        if left <= 0:
            return
        yield min(pause, left)


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
    # On a real target, every change is also written down as it happens, so that an
    # interrupted run's events can be reversed later (`masivo-conformance cleanup`).
    journal: Journal | None = None
    # Whether an amount has been seen to move on the target in this run: a customer's
    # wallet read different from its read before, or a transaction listed for the run's
    # events or customers. Until then two equal wallets prove nothing (a purchase earned
    # nothing, so no step could have moved a total: invariants.same_wallet).
    moved: bool = False

    def saw(self, call: Call) -> None:
        data = call.data
        if call.operation not in EVENT_OPERATIONS:
            return  # a customer's `data.id` is no event: reversing it would be nonsense
        if 200 <= call.status < 300 and isinstance(data, dict) and isinstance(data.get("id"), str):
            status = str(data.get("status")).upper()
            if self.journal is not None and self.statuses.get(data["id"]) != status:
                self.journal.note(data["id"], status)
            self.statuses[data["id"]] = status

    def live(self) -> list[str]:
        return [i for i, status in self.statuses.items() if status not in FINAL_STATUSES]

    def gone(self, event_id: str) -> None:
        """The target says no reverse can change this event any more (journal.py)."""
        if self.journal is not None:
            self.journal.note(event_id, "GONE")
        self.statuses[event_id] = "GONE"


def _kept(call: Call) -> Call:
    """`call` as the history keeps it: a long answer cut where a reproducer stops
    reading it anyway (replayer.OBSERVED_LIMIT), so a test's history stays small."""
    if len(call.text) <= replayer.OBSERVED_LIMIT:
        return call
    return dataclasses.replace(call, text=call.text[: replayer.OBSERVED_LIMIT + 1], body=NOT_JSON)


class PlannedCall(NamedTuple):
    """One request of `Storefront.calls_at_once`, as `Storefront.call` takes it.

    Requests of one sweep with the same non-empty `lane` are sent one after another, in
    the order given, while lanes overlap: give one lane to the requests that write to, or
    read, the same customer. A lenient target may accept several of them, and each answer
    shows the wallet the ones before it left; raced, the answers would depend on the
    scheduler, and a reproducer, which replays them in order, could not get them back."""

    method: str
    path: str
    json_body: Any = None
    content: bytes | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    auth: bool = True
    lane: str = ""


#: A call answered, with when it was sent and answered (time.monotonic()).
Answered = tuple[Call, float, float]
#: A request of a sweep: its answer, or what stopped it (the budget, an outage).
Attempt = Callable[[], "Answered | Exception"]


#: A sweep's requests: the attempts in the order given, and its lanes (each the indexes
#: of attempts to send one after another, in order; see `PlannedCall.lane`).
Lanes = Sequence[Sequence[int]]


def one_by_one(jobs: Sequence[Attempt], lanes: Lanes = ()) -> list[Answered | Exception]:
    """A sweep's requests in turn, none after the first that failed (which keeps every
    lane's order, so `lanes` is not needed)."""
    done: list[Answered | Exception] = []
    for job in jobs:
        done.append(job())
        if isinstance(done[-1], Exception):
            break
    return done


class Storefront:
    """One test's view of the target: every answer judged, its verdicts in `evidence`."""

    def __init__(
        self,
        client: ApiClient,
        *,
        brand_id: str,
        ids: IdFactory,
        writes_allowed: bool,
        settle_time: float,
        evidence: Evidence | None = None,
        events: EventLog | None = None,
        host: str = "",
        settle_timeout: float | None = None,
    ) -> None:
        self.client = client
        self.brand_id = brand_id
        self.ids = ids
        self.writes_allowed = writes_allowed
        self.settle_time = settle_time
        self.settle_timeout = max(settle_time, settle_timeout or settle_time)
        self.evidence = evidence if evidence is not None else Evidence()
        self.events = events if events is not None else EventLog()
        self._host = host
        self._checks = checks.must_checks()
        self._wallets: dict[str, dict[str, float]] = {}  # the last read of each customer's
        # Every judged call with when it was sent and answered: a violation's sequence
        # reproducer repeats them (calls that overlapped, at once again).
        self.history: list[tuple[Call, float, float]] = []
        self.evidence.trail = self._trail
        # Requests this storefront sent, retries of a 429 included: a test's own count
        # when tests overlap (suite/concurrent_scenarios.py; the budget is the run's).
        self.sent = 0
        self._sent_lock = threading.Lock()
        # How `calls_at_once` sends: one by one, unless the run lets them overlap
        # (suite/concurrent_scenarios.py, `ScenarioPool.sweep`).
        self.sweep: Callable[[Sequence[Attempt], Lanes], list[Answered | Exception]] = one_by_one

    # -- raw, judged calls ------------------------------------------------------------------

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
        """One request; every single-call MUST check judges its answer (as evidence)."""
        planned = PlannedCall(method, path, json_body, content, params, headers, auth)
        observed, sent, answered = self._send(planned)
        self.history.append((_kept(observed), sent, answered))
        if check:
            checks.judge_call(observed, self.evidence, self._checks)
        return observed

    def _send(self, planned: PlannedCall) -> Answered:
        """One request, its answer and when it was sent and answered."""
        if planned.method != "GET" and not self.writes_allowed:
            raise WritesRefused(
                f"refusing {planned.method} {planned.path} on {self._host}: writes are not allowed",
                "pass --allow-writes (or allow_writes in the targets file)",
            )
        sent = time.monotonic()
        response = self.client.request(
            planned.method,
            planned.path,
            json_body=planned.json_body,
            content=planned.content,
            params=planned.params,
            headers=planned.headers,
            auth=planned.auth,
            sent=self._count_sent,
        )
        observed = Call.from_httpx(response)
        answered = time.monotonic()
        self.events.saw(observed)
        return observed, sent, answered

    def calls_at_once(
        self,
        planned: Sequence[PlannedCall],
        *,
        check: bool = True,
        judge: Callable[[int, Call], object] | None = None,
    ) -> list[Call]:
        """Requests that need nothing of each other's answers (a sweep of refusals), sent
        at the same time where the run allows it (those of one `PlannedCall.lane` one
        after another); the answers in the order given.

        Once all have arrived, each answer in that order is judged by the single-call
        MUST checks (unless `check` is False), then by `judge(index, call)`: the evidence
        does not depend on which came first. A request that failed (the budget spent, an
        outage) raises its exception once the answers before it are judged, as it would
        have one request at a time. The history keeps them in that order too, one after
        the other: a reproducer sends a sweep's requests one by one, not as a race (their
        real times overlapped, and an id in one's answer is no input of another's)."""

        def attempt(p: PlannedCall) -> Answered | Exception:
            try:
                return self._send(p)
            except Exception as exc:  # raised below, in turn
                return exc

        lanes: dict[str | int, list[int]] = {}
        for n, p in enumerate(planned):
            lanes.setdefault(p.lane or n, []).append(n)
        answered: list[Call] = []
        outcomes = self.sweep([partial(attempt, p) for p in planned], list(lanes.values()))
        done = [o for o in outcomes if not isinstance(o, Exception)]
        start = min((o[1] for o in done), default=0.0)
        step = (max((o[2] for o in done), default=start) - start) / max(len(done), 1)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
            observed = outcome[0]
            at = start + len(answered) * step  # one after the other, within the real window
            self.history.append((_kept(observed), at, at + step))
            if check:
                checks.judge_call(observed, self.evidence, self._checks)
            if judge is not None:
                judge(len(answered), observed)
            answered.append(observed)
        return answered

    def _count_sent(self) -> None:
        with self._sent_lock:
            self.sent += 1

    @property
    def last_headers(self) -> dict[str, str]:
        """The headers of the last answer ({} before any): the target's clock, for
        `payloads.issued_at_now`."""
        return self.history[-1][0].headers if self.history else {}

    def _trail(self, requirement: str, message: str) -> dict[str, Any] | None:
        return sequences.sequence(self.history, requirement, message)

    def _setup(self, call: Call, what: str) -> Any:
        """The payload of a set-up step's 2xx answer, or SetupRefused."""
        if not 200 <= call.status < 300:
            raise StepRefused(
                f"{what} answered {call.status} to a valid request: {_own_words(call)}"
                f"\n    reproduce: {call.reproducer}"
            )
        return call.data

    # -- operations -------------------------------------------------------------------------

    def create_customer(self) -> str:
        """Create a customer with a fresh id of this test (`mc-test-...`) and return the id;
        a refusal stops the test (SetupRefused) with the status and the target's words."""
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
        self._setup(call, "create_customer")
        return customer_id

    def customer(self, customer_id: str) -> Call:
        """GET /customers/{id}: the customer with its wallet, as answered."""
        return self.call("GET", f"/customers/{_segment(customer_id)}")

    @property
    def amounts_moved(self) -> bool:
        """An amount has been seen to move on the target in this run (`EventLog.moved`)."""
        return self.events.moved

    def _saw_amounts(self, moved: bool) -> None:
        if moved:
            self.events.moved = True

    def wallet(self, customer_id: str) -> dict[str, float]:
        """Wallet totals by reward id (entries of one reward summed; CONTRACT section 2),
        as an `invariants.Wallet` that knows whether any amount had moved on the target
        by then (`moved`: a total that starts above 0, a sign-up bonus say, is no move).
        A reward the wallet does not list holds 0: a wallet compares equal to another
        whose totals differ only by rewards at 0 (`{}` == `{"points": 0.0}`), as a
        wallet read before an earn and after its reverse do on a correct server.
        The wallet_* reads below return what this returns."""
        call = self.customer(customer_id)
        totals = wallet_totals(self._setup(call, "get_customer"))
        if totals is None:
            raise SetupRefused(
                f"get_customer answered no readable wallet: {scrub.excerpt(call.text)}"
                f"\n    reproduce: {call.reproducer}"
            )
        last = self._wallets.get(customer_id, totals)
        self._wallets[customer_id] = totals
        self._saw_amounts(not _same_totals(last, totals))
        return Wallet(totals, moved=self.amounts_moved)

    def wallet_when(self, customer_id: str, done: Any) -> dict[str, float]:
        """The wallet once `done(totals)` holds, polled until the settle time has passed
        (effects may land a few hundred ms after the answer; CONTRACT section 2)."""
        deadline = time.monotonic() + self.settle_time
        totals = self.wallet(customer_id)
        for pause in _polls(deadline):
            if done(totals):
                break
            time.sleep(pause)
            totals = self.wallet(customer_id)
        return totals

    def wallet_back_to(self, customer_id: str, expected: dict[str, float]) -> dict[str, float]:
        """The wallet once it equals `expected`, or as it is when the settle time is over."""
        return self.wallet_when(customer_id, lambda totals: _same_totals(totals, expected))

    def wallet_after(self, customer_id: str, before: dict[str, float]) -> dict[str, float]:
        """The wallet once it differs from `before`, or as it is after the settle time."""
        return self.wallet_when(customer_id, lambda totals: not _same_totals(totals, before))

    def wallet_at_rest(self, customer_id: str) -> dict[str, float]:
        """The wallet after the settle time: what a late effect would have changed by now."""
        time.sleep(self.settle_time)
        return self.wallet(customer_id)

    def emit(self, payload: dict[str, Any]) -> Call:
        """POST /behavior/events with `payload` as it is (`emit_purchase` builds a valid one)."""
        return self.call("POST", "/behavior/events", json_body=payload)

    def fulfil(self, event_id: str) -> Call:
        """PATCH /behavior/events/{id}/fulfill: fulfil a standby event (`settle` its answer)."""
        return self.call("PATCH", f"/behavior/events/{_segment(event_id)}/fulfill")

    def reverse(self, event_id: str, reason: str | None = "masivo-conformance test") -> Call:
        """POST /behavior/events/{id}/reverse with `reason` (None: a body without one); the
        reversed Event is the answer's `data`. Effects may land late: read the wallet back
        with `wallet_back_to`."""
        body = {} if reason is None else {"reason": reason}
        return self.call("POST", f"/behavior/events/{_segment(event_id)}/reverse", json_body=body)

    def preview(self, payload: dict[str, Any]) -> Call:
        """PUT /events/redeem/preview with `payload` as it is: what a redemption would cost."""
        return self.call("PUT", "/events/redeem/preview", json_body=payload)

    def transactions(self, event_id: str, type_: str | None = None) -> list[dict[str, Any]]:
        """The event's transactions, as `list_transactions?event_id=` lists them.

        Entries that carry another `event_id` are dropped; entries without one are kept
        (the member is optional, and the target filtered on the query already), so a
        target that omits it is judged on its ledger, not passed by omission.
        """
        params = {"event_id": event_id} | ({"type": type_} if type_ else {})
        data = self._setup(self.call("GET", "/transactions", params=params), "list_transactions")
        if not isinstance(data, list):
            return []
        found = [t for t in data if isinstance(t, dict) and t.get("event_id") in (event_id, None)]
        self._saw_amounts(bool(found))
        return found

    def customer_transactions(self, customer_id: str) -> list[dict[str, Any]]:
        """The brand's listed transactions that name the customer as receiver or sender
        (list_transactions has no customer filter; the suite owns the customer)."""
        call = self.call("GET", "/transactions", params={"brand_id": self.brand_id})
        data = self._setup(call, "list_transactions")
        found = [
            t
            for t in (data if isinstance(data, list) else [])
            if isinstance(t, dict) and customer_id in (t.get("receiver_id"), t.get("sender_id"))
        ]
        self._saw_amounts(bool(found))
        return found

    def rewards(self) -> list[dict[str, Any]]:
        """The brand's rewards (the first 100), as list_rewards answered them."""
        call = self.call(
            "GET", "/rewards", params={"from": 0, "to": 100, "brand_id": self.brand_id}
        )
        data = self._setup(call, "list_rewards")
        return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []

    def emit_purchase(self, customer_id: str, **options: Any) -> Call:
        """Emit a valid PURCHASE and return the answer (its Event is `data`; its id is
        `event_id(call)`). Options as `payloads.purchase`: `value=120.0`,
        `fulfilled=False` (a standby event: `fulfil` it later), `redeem=[...]` or
        any other field of the event.
        EMIT-1 asks for a 2xx with the Event, and the scenario cannot go on without its
        id (CannotContinue)."""
        call = self.emit(payloads.purchase(customer_id, self.brand_id, **options))
        self.evidence.insist(valid_emit_accepted(call, "a valid PURCHASE emit"))
        self.event_id(call)
        return call

    def event_id(self, call: Call) -> str:
        """The id of the Event an answer carries; a scenario cannot go on without it."""
        data = call.data
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise CannotContinue(
                f"{call.operation} answered no event id: {scrub.excerpt(call.text)}"
            )
        return str(data["id"])

    def standby(self, customer_id: str, **options: Any) -> Call | None:
        """Emit a standby PURCHASE (fulfilled false); None when the target did not keep it
        standby (EMIT-1 and EMIT-4 judge that): rules about standby events are then not
        reached, rather than charged with the emit's fault."""
        call = self.emit_purchase(customer_id, fulfilled=False, **options)
        event = call.data
        if event.get("fulfilled") is False and not same_enum(event.get("status"), "RESOLVED"):
            return call
        return None

    def earn(self, customer_id: str, value: float = 500.0) -> Settlement:
        """Give a customer rewards: a fulfilled PURCHASE of `value`, waited on until
        settled (`settle`); the Settlement carries the event's id for a later reverse."""
        return self.settle(self.emit_purchase(customer_id, value=value))

    def wait_transactions(self, event_id: str, kind: str) -> list[dict[str, Any]]:
        """The event's transactions once one of type `kind` is listed, or after settle_time."""
        deadline = time.monotonic() + self.settle_time
        found = self.transactions(event_id)
        for pause in _polls(deadline):
            if any(same_enum(t.get("type"), kind) for t in found):
                break
            time.sleep(pause)
            found = self.transactions(event_id)
        return found

    def settle(self, answered: Call) -> Settlement:
        """Wait until a fulfilled event counts as settled (CONTRACT section 2): its answer
        shows RESOLVED or FAILED, or its transactions are listed, or, for an event that
        makes none, the settle time has passed. `answered` is the answer of an emit or a
        fulfil (a Call whose `data` is the Event)."""
        event_id = self.event_id(answered)
        status = str(answered.data.get("status", ""))
        if same_enum(status, "RESOLVED") or same_enum(status, "FAILED"):
            return Settlement(True, self.transactions(event_id), status.upper(), event_id)
        deadline = time.monotonic() + self.settle_time
        found = self.transactions(event_id)
        for pause in _polls(deadline):
            if found:
                break
            time.sleep(pause)
            found = self.transactions(event_id)
        return Settlement(bool(found), found, status.upper(), event_id)

    def cleanup(self) -> dict[str, str]:
        """Reverse the events this run left live; return why each one that could not be
        reversed is left (event id -> "reverse answered HTTP 500: <the target's words>")."""
        left: dict[str, str] = {}
        live = self.events.live()
        reverses = [
            PlannedCall(
                "POST",
                f"/behavior/events/{_segment(event_id)}/reverse",
                {"reason": "masivo-conformance cleanup"},
            )
            for event_id in live
        ]
        for event_id, call in zip(live, self.calls_at_once(reverses, check=False), strict=True):
            if call.status in (404, 409):
                # Unknown, or in a state no reverse changes: a run killed between the
                # target's reverse and the journal's note leaves exactly this.
                self.events.gone(event_id)
            elif not 200 <= call.status < 300:
                said = _own_words(call)
                left[event_id] = f"reverse answered HTTP {call.status}" + (
                    f": {said}" if said else ""
                )
        return left
