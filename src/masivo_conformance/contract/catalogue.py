"""The requirement catalogue (`schemas/requirements.yaml`): stable ids, levels, statements,
and the sources they cite (`schemas/sources.yaml`: each tag's title and address)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from masivo_conformance import contract
from masivo_conformance.errors import ContractDataError, SettingsError

__all__ = ["REQUIREMENT_ID", "Catalogue", "Requirement", "Source", "catalogue", "sources"]

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


@dataclass(frozen=True)
class Source:
    """A tag the catalogue cites: a documentation page (S1, S2, ...) or DECIDED."""

    id: str
    title: str
    url: str  # "" for DECIDED: the project's own decision, no page
    about: str  # what the project takes from it

    @property
    def label(self) -> str:
        """`S3 Masivo API reference: Reverse event <https://...>`, for plain text."""
        return f"{self.id} {self.title}" + (f" <{self.url}>" if self.url else "")


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


def _load(name: str) -> Any:
    path = contract.schemas_dir() / name
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContractDataError(
            f"cannot read {path} ({exc.strerror})", "restore it from the repository"
        ) from exc
    except yaml.YAMLError as exc:
        raise ContractDataError(f"{path} is not valid YAML ({exc})", "fix it") from None


@cache
def catalogue() -> Catalogue:
    """Load and validate the catalogue once per process (every source it cites included)."""
    loaded = _parse(_load("requirements.yaml"))
    known = sources()
    unknown = sorted({t for r in loaded for t in r.sources if t not in known})
    if unknown:
        raise ContractDataError(
            f"requirements.yaml cites sources that sources.yaml lacks: {', '.join(unknown)}",
            "add them to schemas/sources.yaml",
        )
    return loaded


@cache
def sources() -> dict[str, Source]:
    """The cited sources by tag (`schemas/sources.yaml`), in the file's order."""
    document = _load("sources.yaml")
    entries = document.get("sources") if isinstance(document, dict) else None
    fields = ("id", "title", "url", "about")
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and all(isinstance(e.get(f), str) for f in fields) for e in entries
    ):
        raise ContractDataError(
            "sources.yaml is malformed (a list `sources` of id, title, url and about strings)",
            "fix schemas/sources.yaml",
        )
    found = {e["id"]: Source(*(" ".join(e[f].split()) for f in fields)) for e in entries}
    if len(found) != len(entries):
        raise ContractDataError("sources.yaml repeats a tag", "give each source its own id")
    return found
