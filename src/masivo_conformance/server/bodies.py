"""Reading requests safely: strict JSON, bounded size, depth and width, schema checks,
query parameters.

Schemas come only from `masivo_conformance.contract` (the project's own files), so
the server and the suite can never disagree on what a valid request is. Every bound
is checked before the schema, so the schema never walks a hostile body.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from masivo_conformance import contract
from masivo_conformance.server.rules import MAX_NUMBER

__all__ = [
    "MAX_BODY_BYTES",
    "BadBody",
    "Invalid",
    "TooLarge",
    "choice_param",
    "decode",
    "index_param",
    "parse",
    "problems",
    "uuid_param",
]

MAX_BODY_BYTES = 256 * 1024
_MAX_DEPTH = 64
# Members of one object or items of one array: far above any real order (a basket of
# a thousand products), far below what makes validation slow.
_MAX_WIDTH = 1000
_MAX_PROBLEMS = 3  # reported per body; looking for more only costs time


class BadBody(Exception):
    """The body is not JSON at all (HTTP 400)."""


class Invalid(Exception):
    """The body is JSON but breaks the schema or a business rule (HTTP 422)."""


class TooLarge(Exception):
    """The body is over MAX_BODY_BYTES (HTTP 413)."""


def decode(
    raw: bytes, schema_file: str, empty_is: Any = None, ignore: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A request body parsed and validated: CPU work (Handlers.decode says where it runs).
    An empty body is `empty_is` where the operation allows one."""
    if not raw.strip() and empty_is is not None:
        return dict(empty_is)
    if not raw.strip():
        raise BadBody("the body is empty: send a JSON object")
    value = parse(raw)
    found = problems(schema_file, value, ignore)
    if found:
        raise Invalid("; ".join(found))
    return dict(value)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse(raw: bytes) -> Any:
    """JSON without NaN/Infinity, numbers finite, at most 64 levels and 1000 members or
    items per level, valid Unicode."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadBody(f"the body is not valid JSON ({str(exc)[:200]})") from exc
    _check_tree(value)
    return value


# Where a value sits: None for the root, else (where its parent sits, key or index).
# Paths are spelled out only for an error: one f-string per value made a body of
# 120,000 small values (under 256 KiB) cost 0.1 s of CPU here alone.
_Where = tuple[Any, str | int] | None


def _path(where: _Where) -> str:
    keys: list[str | int] = []
    while where is not None:
        where, key = where
        keys.append(key)
    return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in reversed(keys))


def _check_tree(value: Any) -> None:
    """Iterative, so a hostile body cannot exhaust the stack. The loop is written for
    speed (types compared, no call per value): a body under 256 KiB can hold 120,000
    values, and this runs before anything else looks at it."""
    stack: list[tuple[Any, int, _Where]] = [([value], 0, None)]  # the root as an item
    while stack:
        item, depth, where = stack.pop()
        if depth > _MAX_DEPTH:
            raise Invalid(f"{_path(where)}: nested more than {_MAX_DEPTH} levels deep")
        if len(item) > _MAX_WIDTH:
            raise Invalid(f"{_path(where)}: more than {_MAX_WIDTH} members or items")
        children = item.items() if type(item) is dict else enumerate(item)
        for key, child in children:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1, (where, key) if depth else None))
            elif kind is str:
                if not child.isascii():  # an ASCII string cannot hold a surrogate
                    _check_text(child, (where, key) if depth else None)
            elif (kind is int or kind is float) and not -MAX_NUMBER <= child <= MAX_NUMBER:
                raise Invalid(
                    f"{_path((where, key) if depth else None)}: {child!r} is above "
                    f"{MAX_NUMBER:g}, the largest number the reference server accepts"
                )
            if type(key) is str and not key.isascii():
                _check_text(key, where)


def _check_text(text: str, where: _Where) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Invalid(
            f"{_path(where)}: a string holds a lone surrogate (not valid Unicode)"
        ) from exc


def problems(schema_file: str, body: Any, ignore: frozenset[str] = frozenset()) -> list[str]:
    """The first few schema violations of `body` as 'path: message', minus those
    `ignore` names (faults only): an exact message, or the JSON path of the member
    (an entry that starts with `$`; `[*]` stands for any index). Validation stops
    there instead of collecting every error.

    The compiled validator's yes comes first: it is about twenty times faster, and every
    valid request pays it. What it refuses goes to python-jsonschema, whose messages
    (and the faults' `ignore`) the answer is made of."""
    if contract.surely_valid(schema_file, body):
        return []
    errors = contract.validator(schema_file).iter_errors(body)
    kept = (e for e in errors if not _ignored(e.message, e.json_path, ignore))
    return [f"{e.json_path}: {e.message}" for e in itertools.islice(kept, _MAX_PROBLEMS)]


def _ignored(message: str, path: str, ignore: frozenset[str]) -> bool:
    if message in ignore:
        return True
    return any(
        p.startswith("$") and re.fullmatch(re.escape(p).replace(r"\[\*\]", r"\[\d+\]"), path)
        for p in ignore
    )


def known_params(names: Iterable[str], allowed: tuple[str, ...]) -> None:
    """Refuse a query parameter the operation does not document: a misspelt filter
    (`event-id` for `event_id`) would otherwise list everything, and a team testing its
    app against this double would never see the typo (docs/decisions.md)."""
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:3])
        raise Invalid(f"unknown query parameter {shown}; this operation takes {', '.join(allowed)}")


def index_param(raw: str | None, name: str) -> int:
    if raw is None or not raw.isdigit() or not raw.isascii():
        raise Invalid(f"query parameter {name!r} must be an integer >= 0, got {raw!r}")
    return int(raw[:18])  # 18 digits: far past any list, and never a huge int


def choice_param(raw: str | None, name: str, allowed: tuple[str, ...]) -> str | None:
    if raw is not None and raw not in allowed:
        raise Invalid(f"query parameter {name!r} must be one of {', '.join(allowed)}")
    return raw


def uuid_param(raw: str | None, name: str) -> None:
    if raw is None:
        return
    try:
        uuid.UUID(raw)
    except ValueError as exc:
        raise Invalid(f"query parameter {name!r} must be a uuid, got {raw[:80]!r}") from exc
