"""Small helpers shared by the check modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

EVENT_OPERATIONS = frozenset({"emit_event", "fulfill_event", "reverse_event"})


def timestamp(value: Any) -> datetime | None:
    """An RFC 3339 string as a datetime, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def short(value: Any, limit: int = 160) -> str:
    """A value for a failure message, cut so that one message stays readable."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
