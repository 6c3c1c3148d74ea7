"""What the suite reads of an answer, at most (docs/decisions.md, "Bounded reads").

A broken or hostile target can answer without end, inflate a small body into gigabytes,
drip one byte at a time, or nest JSON deeper than any parser recurses. Both HTTP stacks
read every answer under these bounds (suite/bounded.py); an answer that breaks one is cut
there, and the `Call` made of it carries a `breach`, which GEN-3 judges.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "BREACH_EXTENSION",
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "TOO_DEEP",
    "TOO_LARGE",
    "TooDeep",
    "depth_cut",
    "loads",
    "too_slow",
]

_MIB = 1024 * 1024
# After decompression. The contract's largest answer, a list_transactions of 1000, is a
# few hundred KB; 8 MiB leaves room for any real answer and bounds what a run holds.
MAX_BODY_BYTES = 8 * _MIB
# The contract's answers nest five levels or so; 64 is far beyond any real one, and far
# below the ~1000 at which json.loads runs out of recursion.
MAX_JSON_DEPTH = 64
# Where an httpx response carries its breach (httpx keeps `extensions` as it is given).
BREACH_EXTENSION = "masivo_breach"

TOO_LARGE = f"answer larger than {MAX_BODY_BYTES // _MIB} MiB after decompression"
TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"


def too_slow(timeout: float) -> str:
    return f"answer not complete within {timeout:g} s"


class TooDeep(ValueError):
    """JSON that nests deeper than MAX_JSON_DEPTH (a ValueError: it is no usable JSON)."""


def loads(data: str | bytes) -> Any:
    """`json.loads`, refusing JSON nested deeper than MAX_JSON_DEPTH with `TooDeep`.

    json.loads recurses once per level and raises RecursionError past ~1000 levels; that
    is caught here, and anything it did parse is measured without recursion.
    """
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeep(TOO_DEEP) from None
    if _openers(data) > MAX_JSON_DEPTH and _nests_deeper(value, MAX_JSON_DEPTH):
        raise TooDeep(TOO_DEEP)
    return value


def _openers(data: str | bytes) -> int:
    """How many brackets open: no JSON nests deeper than that (a cheap first look)."""
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    return data.count(b"[") + data.count(b"{")


def _nests_deeper(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (`[]` is one level)."""
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, level = stack.pop()
        if level > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return False


# What changes the nesting: brackets, and the quotes and escapes that hide them in strings.
_STRUCTURE = re.compile(rb'[][{}"\\]')


def depth_cut(body: bytes) -> int | None:
    """Where to cut `body` so that what is kept never nests deeper than MAX_JSON_DEPTH:
    just after the bracket that opens one level too many; None when the body is not JSON
    or nests no deeper.

    What is kept is then unbalanced, so no parser downstream (ours, schemathesis's,
    jsonschema's) recurses into the rest.
    """
    if _openers(body) <= MAX_JSON_DEPTH:
        return None
    try:
        loads(body)
    except TooDeep:
        return _past_depth(body)
    except ValueError:
        pass  # not JSON: there is no nesting to bound
    return None


def _past_depth(body: bytes) -> int:
    """The offset just after the bracket that opens level MAX_JSON_DEPTH + 1 of `body`
    (JSON that `loads` found too deep), read without recursion."""
    depth, in_string, skip_to = 0, False, 0
    for match in _STRUCTURE.finditer(body):
        at = match.start()
        if at < skip_to:
            continue  # the character after a backslash
        char = body[at : at + 1]
        if in_string:
            if char == b"\\":
                skip_to = at + 2
            in_string = char != b'"'
        elif char == b'"':
            in_string = True
        elif char in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return at + 1
        elif char in (b"]", b"}"):
            depth -= 1
    return len(body)  # pragma: no cover  (loads found it too deep, so the scan does too)
