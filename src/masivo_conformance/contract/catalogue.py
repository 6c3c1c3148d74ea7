"""The requirement catalogue (`schemas/requirements.yaml`): stable ids, levels, statements."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from masivo_conformance import contract
from masivo_conformance.errors import ContractDataError, SettingsError

__all__ = ["REQUIREMENT_ID", "Catalogue", "Requirement", "catalogue"]

#: How a requirement id looks; reports find ids in failure messages with it.
REQUIREMENT_ID = re.compile(r"\b(?:GEN|AUTH|EMIT|FUL|REV|PRV)-\d+\b")


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str  # "MUST" or "SHOULD"
    title: str
    statement: str
    sources: tuple[str, ...]
    operations: tuple[str, ...]

    @property
    def is_must(self) -> bool:
        return self.level == "MUST"


class Catalogue:
    """The requirements in catalogue order, addressable by id."""

    def __init__(self, requirements: list[Requirement]) -> None:
        self._by_id = {r.id: r for r in requirements}

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self._by_id

    def __getitem__(self, requirement_id: str) -> Requirement:
        try:
            return self._by_id[requirement_id]
        except KeyError:
            known = ", ".join(self._by_id)
            raise SettingsError(
                f"unknown requirement id {requirement_id!r}", f"use one of {known}"
            ) from None

    @property
    def ids(self) -> list[str]:
        return list(self._by_id)


def _parse(document: Any) -> Catalogue:
    violations = contract.validate("requirements.schema.json", document)
    if violations:
        raise ContractDataError(
            f"requirement catalogue is malformed ({violations[0]})", "fix schemas/requirements.yaml"
        )
    entries = document["requirements"]
    ids = [e["id"] for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ContractDataError(
            f"requirement ids repeated: {', '.join(duplicates)}", "give each requirement its own id"
        )
    return Catalogue(
        [
            Requirement(
                id=e["id"],
                level=e["level"],
                title=e["title"],
                statement=" ".join(e["statement"].split()),
                sources=tuple(e["sources"]),
                operations=tuple(e["operations"]),
            )
            for e in entries
        ]
    )


@cache
def catalogue() -> Catalogue:
    """Load and validate the catalogue once per process."""
    path = contract.schemas_dir() / "requirements.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContractDataError(
            f"cannot read {path} ({exc.strerror})", "restore it from the repository"
        ) from exc
    except yaml.YAMLError as exc:
        raise ContractDataError(f"{path} is not valid YAML ({exc})", "fix it") from None
    return _parse(document)
