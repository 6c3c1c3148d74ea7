"""Loading of the contract data: the JSON Schemas and the OpenAPI document in `schemas/`.

This is the lowest layer of the package: it imports nothing else of ours but `errors`.
Every schema file carries a `$id` equal to its file name and refers to the others by
relative `$ref`, so one `referencing.Registry` of the folder resolves everything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from masivo_conformance.errors import ContractDataError

__all__ = [
    "SchemaViolation",
    "check_complete",
    "openapi_path",
    "registry",
    "schema",
    "schemas_dir",
    "surely_valid",
    "validate",
    "validator",
]

_PACKAGED = Path(__file__).parents[1] / "_data" / "schemas"
_CHECKOUT = Path(__file__).resolve().parents[3] / "schemas"
_FORMATS = ("date-time", "uuid")  # the formats the contract's schemas use


@dataclass(frozen=True)
class SchemaViolation:
    """One reason an instance does not match a schema, with the JSON path that fails."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def schemas_dir() -> Path:
    """The folder of contract data: inside an installed wheel, else the checkout's."""
    for candidate in (_PACKAGED, _CHECKOUT):
        if candidate.is_dir():
            return candidate
    raise ContractDataError(
        f"contract data folder not found (looked in {_PACKAGED} and {_CHECKOUT})",
        "reinstall masivo-conformance or run it from a complete checkout",
    )


def openapi_path() -> Path:
    path = schemas_dir() / "openapi.yaml"
    if not path.is_file():
        raise ContractDataError(f"missing schema file {path}", "restore it from the repository")
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContractDataError(
            f"cannot read schema file {path} ({exc.strerror})", "restore it from the repository"
        ) from exc
    except json.JSONDecodeError as exc:
        raise ContractDataError(
            f"schema file {path} is not valid JSON (line {exc.lineno})", "fix or restore it"
        ) from exc


@cache
def registry() -> Registry[Any]:
    """All `*.schema.json` files of the contract, keyed by their `$id` (the file name)."""
    resources = []
    for path in sorted(schemas_dir().glob("*.schema.json")):
        contents = _read_json(path)
        if contents.get("$id") != path.name:
            raise ContractDataError(
                f"schema file {path} has $id {contents.get('$id')!r}",
                f"set its $id to {path.name!r}",
            )
        resources.append((path.name, Resource.from_contents(contents, DRAFT202012)))
    return Registry().with_resources(resources)


def check_complete() -> None:
    """Every schema file the OpenAPI document reaches exists and parses (else one clear error)."""
    import yaml  # noqa: PLC0415 - only this check reads the YAML document

    try:
        document = yaml.safe_load(openapi_path().read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContractDataError(
            f"{openapi_path()} is not valid YAML ({exc})", "restore it from the repository"
        ) from None
    pending = [str(ref) for ref in _refs(document)]
    seen: set[str] = set()
    while pending:
        name = pending.pop().split("#", 1)[0].removeprefix("./")
        if not name or name in seen:
            continue
        seen.add(name)
        pending += _refs(schema(name))


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def schema(name: str) -> dict[str, Any]:
    """The contents of one schema file, e.g. `schema("event.schema.json")`."""
    try:
        contents: dict[str, Any] = registry().contents(name)
    except LookupError as exc:
        raise ContractDataError(
            f"missing schema file {schemas_dir() / name}", "restore it from the repository"
        ) from exc
    return contents


@cache
def validator(name: str) -> Draft202012Validator:
    """A validator for one schema file that really checks `date-time` and `uuid` formats."""
    return Draft202012Validator(
        schema(name),
        registry=registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _format_check(name: str) -> Callable[[Any], bool]:
    """python-jsonschema's own check of format `name`, as a plain predicate."""
    check, raises = Draft202012Validator.FORMAT_CHECKER.checkers[name]

    def conforms(value: Any) -> bool:
        try:
            return bool(check(value))
        except raises:
            return False

    return conforms


@cache
def _fast_validator(name: str) -> jsonschema_rs.Validator:
    """jsonschema_rs's compiled validator of one schema file.

    Its formats are python-jsonschema's checks, so that both libraries agree on what a
    `date-time` or a `uuid` is (jsonschema_rs alone would accept a leap second on any day).
    """
    files = [(file, registry().contents(file)) for file in registry()]
    return jsonschema_rs.validator_for(
        schema(name),
        registry=jsonschema_rs.Registry(files),
        validate_formats=True,
        formats={fmt: _format_check(fmt) for fmt in _FORMATS},
        offline=True,
    )


def surely_valid(name: str, instance: Any) -> bool:
    """The compiled validator's yes: True when `instance` keeps schema `name`; False when
    it may not (refused, or not JSON as jsonschema_rs reads it: NaN, say), which only
    python-jsonschema decides."""
    try:
        return bool(_fast_validator(name).is_valid(instance))
    except ValueError:
        return False


def is_valid(name: str, instance: Any) -> bool:
    """Whether `instance` keeps schema `name` (the compiled validator's fast yes; what it
    refuses or cannot read, python-jsonschema decides)."""
    return surely_valid(name, instance) or validator(name).is_valid(instance)


def validate(name: str, instance: Any) -> list[SchemaViolation]:
    """Every way `instance` breaks schema `name`, deepest paths first; empty when valid.

    Every answer the suite judges is validated, some of them lists of hundreds of
    transactions: the compiled validator says "valid" about twenty times faster than
    python-jsonschema. An instance it refuses, or cannot read (NaN, say), goes to
    python-jsonschema, which stays the judge: only its errors are reported, so a verdict
    and its message are what they always were.
    """
    if surely_valid(name, instance):
        return []
    errors = sorted(validator(name).iter_errors(instance), key=lambda e: -len(e.absolute_path))
    return [SchemaViolation(e.json_path, e.message) for e in errors]
