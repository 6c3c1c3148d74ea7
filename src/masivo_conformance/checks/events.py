"""Single-call checks of emit, fulfil and reverse answers."""

from __future__ import annotations

from typing import Any

from masivo_conformance.calls import Call
from masivo_conformance.checks import check, fail
from masivo_conformance.checks._util import EVENT_OPERATIONS, short, timestamp

# -- events -----------------------------------------------------------------------------------


def _event(call: Call) -> dict[str, Any] | None:
    if call.operation in EVENT_OPERATIONS and 200 <= call.status < 300:
        data = call.data
        return data if isinstance(data, dict) else None
    return None


@check("EMIT-1")
def emit_echo(call: Call) -> None:
    """The emitted Event echoes customer_id, type and fulfilled (default true)."""
    event = _event(call)
    request = call.request_json
    if call.operation != "emit_event" or event is None or not isinstance(request, dict):
        return
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


@check("EMIT-4")
def emit_state(call: Call) -> None:
    """A resolved event has resolved_at; a standby event is not RESOLVED."""
    event = _event(call)
    if call.operation != "emit_event" or event is None:
        return
    status = event.get("status")
    if status in ("RESOLVED", "FAILED") and not event.get("resolved_at"):
        fail(
            "EMIT-4",
            call,
            f"event is {status} but resolved_at is {short(event.get('resolved_at'))}",
        )
    request = call.request_json
    if isinstance(request, dict) and request.get("fulfilled") is False and status == "RESOLVED":
        fail("EMIT-4", call, "a standby event (fulfilled false) came back RESOLVED")


@check("FUL-1")
def fulfil_answer(call: Call) -> None:
    """A 200 fulfil answers the same event, now fulfilled."""
    event = _event(call)
    if call.operation != "fulfill_event" or event is None:
        return
    if event.get("id") != call.path_params.get("eventId"):
        fail(
            "FUL-1",
            call,
            f"answered event {short(event.get('id'))}, not {call.path_params.get('eventId')}",
        )
    if event.get("fulfilled") is not True:
        fail("FUL-1", call, f"fulfilled is {short(event.get('fulfilled'))} after fulfilment")


@check("REV-1", "REV-3")
def reverse_answer(call: Call) -> None:
    """A 2xx reverse answers the same event, REVERSED with reversed_at or CANCELLED."""
    event = _event(call)
    if call.operation != "reverse_event" or event is None:
        return
    if event.get("id") != call.path_params.get("eventId"):
        fail(
            "REV-1",
            call,
            f"answered event {short(event.get('id'))}, not {call.path_params.get('eventId')}",
        )
    status = event.get("status")
    if status == "CANCELLED":
        if not event.get("cancelled_at") or event.get("reversed_at") is not None:
            fail(
                "REV-3",
                call,
                "a cancelled event needs cancelled_at set and reversed_at null, "
                f"got {short(event.get('cancelled_at'))} / "
                f"{short(event.get('reversed_at'))}",
            )
        return
    if status != "REVERSED":
        fail(
            "REV-1",
            call,
            f"status is {short(status)}, expected 'REVERSED' (or 'CANCELLED' for a standby event)",
        )
    reversed_at, issued_at = timestamp(event.get("reversed_at")), timestamp(event.get("issued_at"))
    if reversed_at is None:
        fail(
            "REV-1", call, f"reversed_at is {short(event.get('reversed_at'))}, expected a date-time"
        )
    elif issued_at is not None and reversed_at < issued_at:
        fail(
            "REV-1",
            call,
            f"reversed_at {event['reversed_at']} is before issued_at {event['issued_at']}",
        )
