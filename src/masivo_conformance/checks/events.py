"""Single-call checks of emit, fulfil and reverse answers.

They judge what one answer shows on its own. What depends on the event's state before
the call (a reverse of a settled, RESOLVED event must answer REVERSED) is judged by the
scenarios, which know that state; so is whether a request was valid at all, which only
its sender knows (`valid_emit_accepted`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from masivo_conformance.checks import check, fail
from masivo_conformance.checks.calls import EVENT_OPERATIONS, Call, answered_at, can_be_event_id
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.checks.invariants import is_2xx
from masivo_conformance.checks.values import same_enum, short, timestamp


def _event(call: Call, operation: str) -> dict[str, Any] | None:
    """The Event of a 2xx answer of `operation`, or None."""
    if call.operation != operation or operation not in EVENT_OPERATIONS:
        return None
    if not 200 <= call.status < 300 or not isinstance(call.data, dict):
        return None
    return call.data


def _same_event(requirement: str, call: Call, event: dict[str, Any]) -> None:
    asked = call.path_params.get("eventId", "")
    answered = event.get("id")
    if answered != asked and (can_be_event_id(asked) or not can_be_event_id(str(answered))):
        fail(
            requirement,
            call,
            f"answered event {short(answered)}, not {short(asked)}",
        )


def _issued_later(call: Call, issued_at: datetime) -> bool:
    """Whether `issued_at` lies after the answer's own Date: an event issued in the
    target's future, which its acceptance broke (EMIT-3's), so any reversal is before it."""
    answered = answered_at(call)
    return answered is not None and issued_at > answered


@check("EMIT-1")
def emit_echo(call: Call) -> bool:
    """The emitted Event echoes customer_id, type and fulfilled (default true)."""
    event = _event(call, "emit_event")
    request = call.request_json
    if event is None or not isinstance(request, dict):
        return False
    for member in ("customer_id", "type"):
        if event.get(member) != request.get(member):
            fail(
                "EMIT-1",
                call,
                f"event {member} is {short(event.get(member))}, "
                f"the request sent {short(request.get(member))}",
            )
    wanted = request.get("fulfilled", True)
    if event.get("fulfilled") is not wanted:
        fail(
            "EMIT-1", call, f"event fulfilled is {short(event.get('fulfilled'))}, expected {wanted}"
        )
    return True


@check("EMIT-4")
def emit_state(call: Call) -> bool:
    """A resolved event has resolved_at; a standby event is not RESOLVED."""
    event = _event(call, "emit_event")
    if event is None:
        return False
    status = event.get("status")
    settled = same_enum(status, "RESOLVED") or same_enum(status, "FAILED")
    if settled and timestamp(event.get("resolved_at")) is None:
        fail(
            "EMIT-4",
            call,
            f"event is {status} but resolved_at is {short(event.get('resolved_at'))}",
        )
    request = call.request_json
    standby = isinstance(request, dict) and request.get("fulfilled") is False
    if standby and same_enum(status, "RESOLVED"):
        fail("EMIT-4", call, "a standby event (fulfilled false) came back RESOLVED")
    return True


@check("FUL-1")
def fulfil_answer(call: Call) -> bool:
    """A 2xx fulfil answers the same event, now fulfilled."""
    event = _event(call, "fulfill_event")
    if event is None:
        return False
    _same_event("FUL-1", call, event)
    if event.get("fulfilled") is not True:
        fail("FUL-1", call, f"fulfilled is {short(event.get('fulfilled'))} after fulfilment")
    return True


@check("REV-1")
def reversal_answer(call: Call) -> bool:
    """A 2xx reverse that answers REVERSED: the same event, with reversed_at set, not
    earlier than issued_at. (Whether REVERSED was due is the scenario's to judge.)"""
    event = _event(call, "reverse_event")
    if event is None or not same_enum(event.get("status"), "REVERSED"):
        return False
    _same_event("REV-1", call, event)
    reversed_at, issued_at = timestamp(event.get("reversed_at")), timestamp(event.get("issued_at"))
    if reversed_at is None:
        fail(
            "REV-1", call, f"reversed_at is {short(event.get('reversed_at'))}, expected a date-time"
        )
    if issued_at is not None and reversed_at < issued_at and not _issued_later(call, issued_at):
        fail(
            "REV-1",
            call,
            f"reversed_at {event['reversed_at']} is before issued_at {event['issued_at']}",
        )
    return True


@check("REV-3")
def cancellation_answer(call: Call) -> bool:
    """A 2xx reverse that answers CANCELLED: the same event, cancelled_at set and
    reversed_at null."""
    event = _event(call, "reverse_event")
    if event is None or not same_enum(event.get("status"), "CANCELLED"):
        return False
    _same_event("REV-3", call, event)
    if timestamp(event.get("cancelled_at")) is None or event.get("reversed_at") is not None:
        fail(
            "REV-3",
            call,
            "a cancelled event needs cancelled_at set and reversed_at null, "
            f"got {short(event.get('cancelled_at'))} / {short(event.get('reversed_at'))}",
        )
    return True


def valid_emit_accepted(call: Call, what: str) -> Verdict:
    """EMIT-1: an emit its sender knows to be valid (`what` says how) is accepted, a 2xx;
    what the accepted Event echoes is `emit_echo`'s to judge."""
    return is_2xx(call, "EMIT-1", what)
