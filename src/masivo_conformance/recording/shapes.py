"""The shape of a JSON document: what drift compares instead of values.

Values change on every run (ids, timestamps, tokens), so they are masked: a shape keeps
the JSON type of each member, a format class for strings (date-time, uuid, other) and,
only for members the contract's schemas declare as enums, the values seen. An array has
one item shape, the union of its items' shapes.

Which members are enums, and which may be null, comes from the project's JSON Schemas
(every schema reachable from an operation's response schema), keyed by member name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from masivo_conformance import contract

if TYPE_CHECKING:
    from referencing import Registry
    from referencing._core import Resolver  # not re-exported, but the type we are given

__all__ = ["Hints", "Shape", "contract_hints", "hints_from_registry", "merge", "shape_of"]

# The profile jsonschema's date-time format check uses (RFC 3339 section 5.6).
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Hints:
    """What the schemas say about members, by name: enum values and nullability."""

    enums: Mapping[str, frozenset[str]] = field(default_factory=dict)
    nullable: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Shape:
    """Types seen at one place of a document, e.g. {"string:date-time", "null"}."""

    types: frozenset[str]
    members: Mapping[str, Shape] = field(default_factory=dict)
    items: Shape | None = None
    values: frozenset[str] = frozenset()  # seen values of an enum member


def string_type(value: str) -> str:
    if _DATE_TIME.match(value):
        return "string:date-time"
    if _UUID.match(value):
        return "string:uuid"
    return "string:other"


def _json_type(value: Any) -> str:
    if isinstance(value, str):
        return string_type(value)
    # bool before number: in Python a bool is an int; ints and floats are both "number",
    # since 100 and 99.5 are the same kind of amount to a client.
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return "null" if value is None else type(value).__name__


_JSON_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "boolean"),
    ((int, float), "number"),
    (list, "array"),
    (dict, "object"),
)


def shape_of(value: Any, hints: Hints, name: str | None = None) -> Shape:
    """The shape of a JSON value; `name` is the member it sits in (arrays pass it on)."""
    kind = _json_type(value)
    if isinstance(value, dict):
        members = {key: shape_of(item, hints, key) for key, item in value.items()}
        return Shape(frozenset({kind}), members=members)
    if isinstance(value, list):
        items: Shape | None = None
        for item in value:
            shape = shape_of(item, hints, name)
            items = shape if items is None else merge(items, shape)
        return Shape(frozenset({kind}), items=items)
    seen = frozenset({value}) if isinstance(value, str) and name in hints.enums else frozenset()
    return Shape(frozenset({kind}), values=seen)


def merge(left: Shape, right: Shape) -> Shape:
    """The union of two shapes: every type, member and enum value either has."""
    members = dict(left.members)
    for key, shape in right.members.items():
        members[key] = merge(members[key], shape) if key in members else shape
    if left.items is None or right.items is None:
        items = left.items or right.items
    else:
        items = merge(left.items, right.items)
    return Shape(left.types | right.types, members, items, left.values | right.values)


@cache
def contract_hints() -> Hints:
    """Hints from the project's schemas (computed once per process)."""
    return hints_from_registry(contract.registry())


def hints_from_registry(registry: Registry[Any]) -> Hints:
    """Walk every response schema (`*.response.schema.json`) and what it refers to."""
    collector = _Collector()
    for uri in sorted(registry):
        if uri.endswith(".response.schema.json"):
            collector.walk(registry.contents(uri), registry.resolver(base_uri=uri))
    enums = {name: frozenset(values) for name, values in collector.enums.items()}
    return Hints(enums=enums, nullable=frozenset(collector.nullable))


# Keywords whose values are data, not subschemas: walking them would misread examples.
_DATA_KEYWORDS = frozenset({"enum", "const", "examples", "default", "required", "description"})


class _Collector:
    def __init__(self) -> None:
        self.enums: dict[str, set[str]] = {}
        self.nullable: set[str] = set()
        self._seen: set[int] = set()

    def walk(self, node: Any, resolver: Resolver[Any]) -> None:
        if isinstance(node, list):
            for item in node:
                self.walk(item, resolver)
            return
        if not isinstance(node, dict) or id(node) in self._seen:
            return
        self._seen.add(id(node))  # schemas refer to each other in cycles
        if isinstance(node.get("$ref"), str):
            resolved = resolver.lookup(node["$ref"])
            self.walk(resolved.contents, resolved.resolver)
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, sub in properties.items():
                self._describe(name, sub, resolver, depth=0)
        for key, value in node.items():
            if key not in _DATA_KEYWORDS:
                self.walk(value, resolver)

    def _describe(self, name: str, sub: Any, resolver: Resolver[Any], depth: int) -> None:
        """Record what member `name` may hold: enum values, and whether null is allowed."""
        if not isinstance(sub, dict) or depth > 8:
            return
        if isinstance(sub.get("$ref"), str):
            resolved = resolver.lookup(sub["$ref"])
            self._describe(name, resolved.contents, resolved.resolver, depth + 1)
        types = sub.get("type")
        if types == "null" or (isinstance(types, list) and "null" in types):
            self.nullable.add(name)
        if isinstance(sub.get("enum"), list):
            values = sub["enum"]
            self.enums.setdefault(name, set()).update(v for v in values if isinstance(v, str))
            if None in values:
                self.nullable.add(name)
        for keyword in ("anyOf", "oneOf"):
            for branch in sub.get(keyword) or []:
                self._describe(name, branch, resolver, depth + 1)
        items = sub.get("items")
        if isinstance(items, dict) and "enum" in items:
            # An array of enum values: its items are shaped under the member's name.
            self.enums.setdefault(name, set()).update(
                v for v in items["enum"] if isinstance(v, str)
            )
