"""Emit bodies that EMIT-2 obliges a target to refuse, derived from the request schemas.

EMIT-2: an emit without customer_id, brand_id or type, or with a documented field of the
wrong JSON type, answers 4xx and creates nothing. The defects are read off
`emit-event.request.schema.json` through the contract's registry (every `$ref` resolved
as the validator resolves it), so a member the schemas gain is tested without anyone
listing it here:

* each member the body itself requires, left out ("no brand_id");
* each member, at any depth, whose documented type is object, array, number (or
  integer), boolean or string, sent with one fixed value of another type: an object as
  the string "{}", an array as one object (a valid item where the items are objects),
  a number as the string "1", a boolean as the string "true", a string as the number 1.
  The values are the ones a lenient server coerces or double-decodes, and never null
  (a null for an optional member obliges nothing: `checks/fuzzed.py _obliges`). `customer_id` is
  sent as a list holding the body's own id instead of a number: a target that coerces
  `1` to "1" would credit a customer the suite did not create.

Members documented without a type (`payment_method`, an enum) and read-only ones
(`redemptions_result`, set by the server) are left alone. A defect inside an array
goes in its first item (`order.products[0].amount`); containers the valid body lacks
(`order.shipping`, a `redeem` item) are added with only what their schema requires, so
each defective body breaks the schema exactly once, at the defect's path.

Pure data: the tests send them (tests/contract/test_examples.py, every defect;
tests/stateful/test_budget_scenarios.py, `covering(...)`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from masivo_conformance import contract

__all__ = ["EMIT_SCHEMA", "REWARD_ID", "Defect", "covering", "emit_defects", "member_path"]

EMIT_SCHEMA = "emit-event.request.schema.json"
# The reward of a `redeem` item a defect needs: a uuid no brand's reward has. A defect
# must be its body's only schema problem; what a target does with an unknown reward
# comes after validation (the reference server FAILS the event).
REWARD_ID = "6d2f8e1a-0c4b-4e7d-9a3f-5b1c2d3e4f50"
# The wrong value for each documented type; an array's is its item (see _wrong).
_WRONG: dict[str, Any] = {
    "object": "{}",
    "number": "1",
    "integer": "1",
    "boolean": "true",
    "string": 1,
}
_TYPES = (*_WRONG, "array")
_OWN_ID = ("customer_id",)  # sent as [its own value], never as a scalar (module doc)

Path = tuple[str | int, ...]


def member_path(path: Iterable[str | int]) -> str:
    """`("order", "products", 0, "sku")` as `order.products[0].sku` ("" for the body)."""
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else f".{key}"
    return text.removeprefix(".")


def _kind(value: Any) -> str:
    """How a message names the JSON type of `value`."""
    for python, name in (
        (bool, "a boolean"),
        (str, "a string"),
        (int, "a number"),
        (float, "a number"),
        (list, "an array"),
        (dict, "an object"),
    ):
        if isinstance(value, python):
            return name
    return "null"


@dataclass(frozen=True)
class Defect:
    """One reason EMIT-2 obliges a refusal, applied to a valid emit body."""

    path: Path
    documented: str  # the member's documented JSON type
    missing: bool = False  # left out; else sent as `wrong`
    wrong: Any = None
    # The value each container along the path gets when the body lacks it (one per
    # element of path[:-1]): what its schema requires and no more.
    fills: tuple[Any, ...] = field(default=(), compare=False)

    @property
    def member(self) -> str:
        return member_path(self.path)

    @property
    def level(self) -> str:
        """The object the defect sits in ("" for the body itself); an item of an array
        counts as a member of the object that holds the array."""
        holder = self.path[:-2] if isinstance(self.path[-1], int) else self.path[:-1]
        return member_path(holder)

    @property
    def label(self) -> str:
        """What a message calls it: `no brand_id`, `order.products[0].amount as a string`."""
        if self.missing:
            return f"no {self.member}"
        sent = [""] if self.path == _OWN_ID else self.wrong
        return f"{self.member} as {_kind(sent)}"

    def apply(self, body: dict[str, Any]) -> dict[str, Any]:
        """A copy of the valid `body` with this defect, and nothing else, changed."""
        body = copy.deepcopy(body)
        node: Any = body
        for key, fill in zip(self.path[:-1], self.fills, strict=True):
            if isinstance(key, int):
                if len(node) <= key:
                    node.append(copy.deepcopy(fill))
            elif not isinstance(node.get(key), dict | list):
                node[key] = copy.deepcopy(fill)
            node = node[key]
        last = self.path[-1]
        if self.missing:
            node.pop(last, None)
            return body
        value = [node.get(last)] if self.path == _OWN_ID else copy.deepcopy(self.wrong)
        if isinstance(last, int) and len(node) <= last:
            node.append(value)
        else:
            node[last] = value
        return body


@cache
def emit_defects() -> tuple[Defect, ...]:
    """Every defect of an emit body: the required members missing (in the schema's
    order), then every typed member with a wrong type (depth first, schema order)."""
    resolved = contract.registry().resolver().lookup(EMIT_SCHEMA)
    root, resolver = resolved.contents, resolved.resolver
    missing = [
        Defect((name,), str(_documented(root["properties"].get(name, {}), resolver)), True)
        for name in root.get("required", ())
    ]
    return (*missing, *_walk(root, resolver, (), ()))


def covering(defects: Iterable[Defect]) -> tuple[Defect, ...]:
    """The budget profile's subset: every missing member, and for each level and each
    documented type there, one wrong-type defect: the last in schema order. The first
    members of a level are those a server reads to do its work (ids, `value`,
    `products`); the last are the optional extras validators let through (`metadata`,
    `discounted_value`, `redeem`)."""
    every = tuple(defects)
    chosen: dict[tuple[str, str], Defect] = {}
    kept: list[Defect] = []
    for defect in every:
        if defect.missing:
            kept.append(defect)
        else:
            chosen[(defect.level, defect.documented)] = defect
    last = {id(d) for d in chosen.values()}
    return (*kept, *(d for d in every if not d.missing and id(d) in last))


# -- walking the schema ---------------------------------------------------------------


def _resolve(node: Any, resolver: Any) -> tuple[dict[str, Any], Any]:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        resolved = resolver.lookup(node["$ref"])
        node, resolver = resolved.contents, resolved.resolver
    return (node if isinstance(node, dict) else {}), resolver


def _documented(node: Any, resolver: Any) -> str | None:
    """The one JSON type a schema documents (null aside), or None."""
    node, _ = _resolve(node, resolver)
    declared = node.get("type")
    kinds = [declared] if isinstance(declared, str) else list(declared or ())
    kinds = [k for k in kinds if k != "null"]
    return kinds[0] if len(kinds) == 1 and kinds[0] in _TYPES else None


def _minimal(node: Any, resolver: Any) -> Any:
    """The smallest valid value of a schema: an object with its required members only,
    an array with one item (as a container on a defect's path it needs one)."""
    node, resolver = _resolve(node, resolver)
    if "enum" in node:
        return node["enum"][0]
    kind = _documented(node, resolver)
    if kind == "object":
        members = node.get("properties", {})
        return {name: _minimal(members[name], resolver) for name in node.get("required", ())}
    if kind == "array":
        return [_minimal(node.get("items", {}), resolver)]
    if kind == "string" and node.get("format") not in (None, "uuid"):
        raise LookupError(f"no minimal value for a string of format {node['format']!r}")
    scalars = {
        "string": REWARD_ID if node.get("format") == "uuid" else "x",
        "number": max(1, node.get("minimum", 1)),
        "boolean": True,
    }
    return scalars.get("number" if kind == "integer" else str(kind), {})


def _wrong(kind: str, node: Any, resolver: Any) -> Any:
    if kind != "array":
        return _WRONG[kind]
    item = _minimal(node.get("items", {}), resolver)
    return item if isinstance(item, dict) else {}


def _walk(node: Any, resolver: Any, path: Path, fills: tuple[Any, ...]) -> Iterator[Defect]:
    node, resolver = _resolve(node, resolver)
    if node.get("readOnly"):
        return
    kind = _documented(node, resolver)
    if kind is None:
        return
    if path:
        yield Defect(path, kind, wrong=_wrong(kind, node, resolver), fills=fills)
    if path and kind in ("object", "array"):
        fills = (*fills, _minimal(node, resolver))  # this container, for what is inside
    if kind == "object":
        for name, member in node.get("properties", {}).items():
            if not (isinstance(member, dict) and member.get("readOnly")):
                yield from _walk(member, resolver, (*path, name), fills)
    elif kind == "array" and "items" in node:
        yield from _walk(node["items"], resolver, (*path, 0), fills)
