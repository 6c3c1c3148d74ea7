"""How the checks read the values an answer carries and quote them in a message: a
point in time (`timestamp`), an enum member whatever its case (`same_enum`), any value
redacted and cut for a failure message (`short`). The scenarios read answers the same
way, so that what they wait for is what the checks judge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from masivo_conformance import scrub

__all__ = ["same_enum", "short", "timestamp"]

_EPOCH_MS = 10**11  # a number above this is an epoch in milliseconds (year 5138 in seconds)


def timestamp(value: Any) -> datetime | None:
    """A point in time, read as leniently as its meaning allows, always timezone-aware.

    RFC 3339 strings (with `Z`, an offset, or none: read as UTC) and epoch numbers are
    all read: whether a timestamp is *formatted* right is GEN-4's to judge, and the
    rules that compare times (REV-1) judge what the time is.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > _EPOCH_MS else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def same_enum(value: Any, wanted: str) -> bool:
    """An enum value meant as `wanted`: the case is GEN-4's to judge, the meaning ours."""
    return isinstance(value, str) and value.upper() == wanted


def short(value: Any, limit: int = 160) -> str:
    """A value for a failure message: every string in it redacted, then shown as Python
    writes it (control characters escaped), then redacted again and cut to `limit`.

    Redacted before `repr`, which escapes characters a secret may contain (a backslash,
    a quote) so that it no longer matches; and before the cut, which could split one.
    """
    return scrub.excerpt(repr(scrub.scrub_json(value, fields=())), limit)
