"""What a conformance run found: per-test outcomes folded into a per-requirement matrix.

The pytest plugin writes one `TestOutcome` per test; `RunResult` is what reports and
exit codes are made from. Both round-trip through JSON so that `run` can read what a
pytest session (possibly in another process) wrote.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from masivo_conformance.errors import EXIT_NONCONFORMANT, EXIT_OK
from masivo_conformance.requirements import REQUIREMENT_ID, Catalogue

__all__ = ["RequirementResult", "RunResult", "TestOutcome", "Violation", "fold"]

Outcome = Literal["passed", "failed", "skipped"]
Status = Literal["pass", "fail", "not run"]


@dataclass(frozen=True)
class Violation:
    """The first observed break of a requirement, with a way to see it again."""

    requirement: str
    message: str
    test: str
    reproducer: str = ""


@dataclass(frozen=True)
class TestOutcome:
    """One test of the suite: the requirement ids it covers and how it ended."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    requirements: tuple[str, ...]
    outcome: Outcome
    message: str = ""
    reproducer: str = ""

    def violated(self) -> tuple[str, ...]:
        """Ids this failure breaks: the ids its message names, else all the test covers."""
        if self.outcome != "failed":
            return ()
        named = tuple(dict.fromkeys(REQUIREMENT_ID.findall(self.message)))
        named = tuple(i for i in named if i in self.requirements) or named
        return named or self.requirements


@dataclass(frozen=True)
class RequirementResult:
    id: str
    level: str
    title: str
    status: Status
    tests: int = 0
    failed: int = 0
    violation: Violation | None = None


@dataclass
class RunResult:
    """A whole run: metadata for the report plus the matrix, in catalogue order."""

    target: str
    profile: str
    seed: int | None
    strict: bool
    duration_s: float
    request_count: int
    requirements: list[RequirementResult]
    suite_version: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def failed_musts(self) -> list[RequirementResult]:
        return [r for r in self.requirements if r.status == "fail" and r.level == "MUST"]

    @property
    def failed_shoulds(self) -> list[RequirementResult]:
        return [r for r in self.requirements if r.status == "fail" and r.level == "SHOULD"]

    def exit_code(self) -> int:
        if self.failed_musts or (self.strict and self.failed_shoulds):
            return EXIT_NONCONFORMANT
        return EXIT_OK

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunResult:
        raw: dict[str, Any] = json.loads(text)
        rows = []
        for row in raw.pop("requirements"):
            violation = row.pop("violation")
            rows.append(
                RequirementResult(**row, violation=Violation(**violation) if violation else None)
            )
        return cls(**raw, requirements=rows)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")


def fold(
    catalogue: Catalogue, outcomes: list[TestOutcome], selected: list[str] | None = None
) -> list[RequirementResult]:
    """Fold test outcomes into one row per requirement (only `selected` ids when given).

    A requirement passes when at least one test covering it ran and none broke it,
    fails when any test broke it (the first break is kept), and is "not run" otherwise.
    """
    rows = []
    for req in catalogue:
        if selected is not None and req.id not in selected:
            continue
        breaking = [o for o in outcomes if req.id in o.violated()]
        covering = [
            o
            for o in outcomes
            if o.outcome != "skipped" and (req.id in o.requirements or o in breaking)
        ]
        status: Status = "fail" if breaking else ("pass" if covering else "not run")
        first = breaking[0] if breaking else None
        violation = (
            Violation(req.id, first.message, first.nodeid, first.reproducer) if first else None
        )
        rows.append(
            RequirementResult(
                req.id,
                req.level,
                req.title,
                status,
                tests=len(covering),
                failed=len(breaking),
                violation=violation,
            )
        )
    return rows
