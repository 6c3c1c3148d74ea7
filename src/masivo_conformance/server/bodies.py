"""Reading request bodies safely: strict JSON, bounded size and depth, schema checks.

Schemas come only from `masivo_conformance.contract` (the project's own files), so
the server and the suite can never disagree on what a valid request is.
"""

from __future__ import annotations

import json
from typing import Any

from masivo_conformance import contract
from masivo_conformance.server.ledger import MAX_NUMBER

__all__ = ["MAX_BODY_BYTES", "BadBody", "Invalid", "parse", "problems"]

MAX_BODY_BYTES = 1_000_000
_MAX_DEPTH = 64


class BadBody(Exception):
    """The body is not JSON at all (HTTP 400)."""


class Invalid(Exception):
    """The body is JSON but breaks the schema or a business rule (HTTP 422)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse(raw: bytes) -> Any:
    """JSON without NaN/Infinity, numbers finite, at most 64 levels, valid Unicode."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadBody(f"the body is not valid JSON ({str(exc)[:200]})") from exc
    _check_tree(value)
    return value


def _check_tree(value: Any) -> None:
    """Iterative, so a hostile body cannot exhaust the stack."""
    stack = [(value, 1, "$")]
    while stack:
        item, depth, path = stack.pop()
        if depth > _MAX_DEPTH:
            raise Invalid(f"{path}: nested more than {_MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, path)
                stack.append((child, depth + 1, f"{path}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, f"{path}[{i}]") for i, child in enumerate(item))
        elif isinstance(item, str):
            _check_text(item, path)
        elif (
            isinstance(item, int | float)
            and not isinstance(item, bool)
            and not abs(item) <= MAX_NUMBER
        ):
            raise Invalid(
                f"{path}: {item!r} is above {MAX_NUMBER:g}, the largest number "
                "the reference server accepts"
            )


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Invalid(f"{path}: a string holds a lone surrogate (not valid Unicode)") from exc


def problems(schema_file: str, body: Any, ignore: frozenset[str] = frozenset()) -> list[str]:
    """The schema violations of `body` as 'path: message', minus messages in `ignore`."""
    return [str(v) for v in contract.validate(schema_file, body) if v.message not in ignore]
