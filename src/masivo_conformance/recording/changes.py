"""How two shapes differ, and what each change means for a client.

A change is *breaking* when a client written against the old shape can fail on the new
one (member removed, type or format changed, enum value gone) and *additive* when such a
client keeps working (new member, new enum value, a string that kept its meaning).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from masivo_conformance.recording.shapes import Hints, Shape

__all__ = ["ADDITIVE", "BREAKING", "Change", "Classification", "compare_shapes"]

Classification = Literal["breaking", "additive"]
BREAKING: Classification = "breaking"
ADDITIVE: Classification = "additive"


@dataclass(frozen=True)
class Change:
    """One difference inside a body, at a JSON path like `$.data.result.transactions[*].type`."""

    path: str
    kind: str
    classification: Classification
    description: str


def compare_shapes(old: Shape, new: Shape, hints: Hints) -> list[Change]:
    """Every change from the `old` shape of a body to the `new` one."""
    comparison = _Comparison(hints)
    comparison.shapes(old, new, "$", None)
    return comparison.found


_TYPE_NAMES = {
    "string:date-time": "an RFC 3339 date-time string",
    "string:uuid": "a uuid string",
    "string:other": "a string",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
    "array": "an array",
    "object": "an object",
}


def _names(types: Iterable[str]) -> str:
    return " or ".join(_TYPE_NAMES.get(t, t) for t in sorted(types))


def _member(where: str, key: str) -> str:
    return f"{where}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{where}[{key!r}]"


class _Comparison:
    """Walks two shapes side by side and collects what changed."""

    def __init__(self, hints: Hints) -> None:
        self.hints = hints
        self.found: list[Change] = []

    def add(self, path: str, kind: str, classification: Classification, text: str) -> None:
        self.found.append(Change(path, kind, classification, text))

    def shapes(self, old: Shape, new: Shape, where: str, name: str | None) -> None:
        old_types, new_types = old.types, new.types
        if name in self.hints.nullable:
            # Null is a legal value here; a side that was only null tells us no structure.
            if old_types - {"null"} and new_types - {"null"}:
                old_types, new_types = old_types - {"null"}, new_types - {"null"}
            elif old_types != new_types:
                self.add(
                    where,
                    "nullability-changed",
                    ADDITIVE,
                    f"was {_names(old_types)}, now {_names(new_types)}; the contract "
                    "allows null here, so clients already handle both",
                )
                return
        if not self._types(old_types, new_types, where):
            return  # a breaking type change says it all; the members below would only echo it
        if "object" in old_types and "object" in new_types:
            self._members(old, new, where)
        if "array" in old_types and "array" in new_types and old.items and new.items:
            # An empty array on either side has no item shape to compare.
            self.shapes(old.items, new.items, f"{where}[*]", name)
        self._values(old, new, where, name)

    def _types(self, old: frozenset[str], new: frozenset[str], where: str) -> bool:
        """Report a type change; False when it was breaking."""
        added, gone = new - old, old - new
        if not added and not gone:
            return True
        # A client that kept a string opaque does not mind it now being a uuid or a date.
        harmful = {t for t in added if not (t.startswith("string:") and "string:other" in old)}
        strings_only = all(t.startswith("string:") for t in old | new)
        kind = "format-changed" if strings_only else "type-changed"
        if harmful:
            meaning = (
                "clients that parse it (a timestamp, an id) will fail"
                if strings_only
                else "clients that read it as before will fail"
            )
            self.add(where, kind, BREAKING, f"was {_names(old)}, now {_names(new)}; {meaning}")
            return False
        self.add(
            where,
            kind,
            ADDITIVE,
            f"was {_names(old)}, now {_names(new)}; every value "
            "now seen is one clients already accept",
        )
        return True

    def _members(self, old: Shape, new: Shape, where: str) -> None:
        for key, shape in old.members.items():
            path = _member(where, key)
            if key not in new.members:
                self.add(
                    path,
                    "member-removed",
                    BREAKING,
                    f"member `{key}` ({_names(shape.types)}) is gone; clients that read "
                    "it will find nothing",
                )
            else:
                self.shapes(shape, new.members[key], path, key)
        for key, shape in new.members.items():
            if key not in old.members:
                self.add(
                    _member(where, key),
                    "member-added",
                    ADDITIVE,
                    f"new member `{key}` ({_names(shape.types)}); clients that ignore "
                    "unknown members are unaffected",
                )

    def _values(self, old: Shape, new: Shape, where: str, name: str | None) -> None:
        if not old.values and not new.values:
            return
        now = ", ".join(sorted(new.values)) or "nothing"
        for value in sorted(old.values - new.values):
            self.add(
                where,
                "enum-value-removed",
                BREAKING,
                f"value {value!r} is no longer sent (now: {now}); clients that wait for "
                "or branch on it will miss it",
            )
        declared = self.hints.enums.get(name or "", frozenset())
        for value in sorted(new.values - old.values):
            note = "" if value in declared else ", not one the contract declares"
            self.add(
                where,
                "enum-value-added",
                ADDITIVE,
                f"new value {value!r}{note}; clients need a default branch for it",
            )
