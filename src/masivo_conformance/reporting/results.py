"""What a conformance run found: the evidence of every test folded into one verdict per
requirement, and the exit code those verdicts mean.

A requirement is **fail** when any observation violated it, **pass** only when at
least one observation held and none violated, and otherwise **not checked**, with the
reason. An exception that is no check's (our bug, a transport error, a refused set-up
step) is an **error** of its test: shown with its one-line cause, never charged to a
requirement. The pytest plugin writes one `TestOutcome` per test; both round-trip
through JSON so that `run` can read what a pytest session wrote.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from masivo_conformance.checks.evidence import Evidence, Finding
from masivo_conformance.contract.catalogue import Catalogue
from masivo_conformance.errors import (
    EXIT_CANNOT_RUN,
    EXIT_INCONCLUSIVE,
    EXIT_NONCONFORMANT,
    EXIT_OK,
)
from masivo_conformance.scrub import scrub_json

__all__ = [
    "RequirementResult",
    "RunResult",
    "ShardPart",
    "TestError",
    "TestOutcome",
    "errors_of",
    "fold",
]

Outcome = Literal["passed", "failed", "skipped"]
Status = Literal["pass", "fail", "not checked", "accepted"]


@dataclass(frozen=True)
class TestOutcome:
    """One test of the suite: what it may judge (its markers), what it judged, how it ended."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    requirements: tuple[str, ...]  # from its markers: documentation and selection only
    outcome: Outcome
    # What it observed, as the test recorded it: an Evidence from start to verdict in one
    # process; plain data only where it crosses one (`to_wire`: xdist, --masivo-results).
    evidence: Evidence = field(default_factory=Evidence)
    error: str = ""  # one line: an exception that is no check's
    skip_reason: str = ""
    requests: int = 0
    duration_s: float = 0.0  # setup, call and teardown

    def to_wire(self) -> dict[str, Any]:
        """Plain values (JSON) for another process."""
        return {**self.__dict__, "requirements": list(self.requirements)} | {
            "evidence": self.evidence.to_dict()
        }

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> TestOutcome:
        return cls(
            **{
                **raw,
                "requirements": tuple(raw["requirements"]),
                "evidence": Evidence.from_dict(raw["evidence"]),
            }
        )

    @classmethod
    def combined(cls, same: list[TestOutcome]) -> TestOutcome:
        """Outcomes of one name from several processes (the run's traffic, judged in
        each shard) as one: evidence and counts summed, failed if any failed."""
        first = same[0]
        return cls(
            first.nodeid,
            tuple(sorted({i for o in same for i in o.requirements})),
            "failed" if any(o.outcome == "failed" for o in same) else first.outcome,
            Evidence.combined(o.evidence for o in same),
            next((o.error for o in same if o.error), ""),
            next((o.skip_reason for o in same if o.skip_reason), ""),
            sum(o.requests for o in same),
            sum(o.duration_s for o in same),
        )


def errors_of(outcomes: list[TestOutcome]) -> list[TestError]:
    """The tests that ended on something no requirement speaks of, with their cause."""
    return [TestError(o.nodeid, o.error) for o in outcomes if o.error]


@dataclass(frozen=True)
class TestError:
    """A test that ended on something that is no requirement's: shown, never charged."""

    __test__ = False

    test: str
    message: str


@dataclass(frozen=True)
class ShardPart:
    """What one shard of a run (`run --shard I/N`) hands `merge`: its tests' outcomes and
    what its session said of itself, before anything is derived from them (the verdicts,
    the baseline, the notes of how the run ended), which `merge` derives for all shards."""

    index: int
    count: int
    outcomes: list[TestOutcome]
    notes: list[str] = field(default_factory=list)  # cleanup, rate limit, writes refused
    budget_spent: str = ""  # the request budget ran out: the message that said so
    refused: str = ""  # a step every scenario needs was refused
    suspects: list[str] = field(default_factory=list)  # curl lines before an outage
    amounts_moved: bool = False  # the shard saw an amount move (`Evidence.settled`)

    def to_wire(self) -> dict[str, Any]:
        return {**self.__dict__, "outcomes": [o.to_wire() for o in self.outcomes]}

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> ShardPart:
        return cls(**{**raw, "outcomes": [TestOutcome.from_wire(o) for o in raw["outcomes"]]})


@dataclass(frozen=True)
class RequirementResult:
    id: str
    level: str
    title: str
    status: Status
    held: int = 0  # observations that held
    violated: int = 0  # observations that violated it
    tests: int = 0  # tests that judged it
    findings: tuple[Finding, ...] = ()  # first violation of every failing test
    reason: str = ""  # why it was not checked, or why a failure is accepted
    requests: int = 0  # requests of the tests that judged it
    duration_s: float = 0.0  # time of the tests that judged it

    @property
    def is_must(self) -> bool:
        return self.level == "MUST"


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
    errors: list[TestError] = field(default_factory=list)
    stopped: str = ""  # the target stopped answering: which call, and how
    selected: bool = False  # --requirement chose the rows: exit by them alone
    suite_version: str = ""
    started_at: str = ""
    notes: list[str] = field(default_factory=list)
    # Ids this kind of run cannot judge (replay: what only a live target can answer):
    # shown as not checked, with the reason, and left out of the exit code.
    out_of_reach: list[str] = field(default_factory=list)
    # Requests sent per operation (the suite's client and schemathesis's), most first.
    requests_by_operation: dict[str, int] = field(default_factory=dict)
    # A shard's part of a run (`run --shard`): the evidence `merge` folds with the others'.
    shard: ShardPart | None = None

    def _binding(self, row: RequirementResult) -> bool:
        return (row.is_must or self.strict) and row.id not in self.out_of_reach

    @property
    def failed_musts(self) -> list[RequirementResult]:
        return [r for r in self.requirements if r.status == "fail" and r.is_must]

    @property
    def failed_shoulds(self) -> list[RequirementResult]:
        return [r for r in self.requirements if r.status == "fail" and not r.is_must]

    @property
    def unchecked_binding(self) -> list[RequirementResult]:
        """MUSTs (and SHOULDs, with --strict) that no observation judged."""
        return [r for r in self.requirements if r.status == "not checked" and self._binding(r)]

    def exit_code(self) -> int:
        """2 the target stopped answering; 1 a binding requirement failed; 3 inconclusive
        (nothing failed, but a binding requirement was not checked or a test erred);
        0 every binding requirement was checked and held."""
        if self.stopped:
            return EXIT_CANNOT_RUN
        if any(r.status == "fail" and self._binding(r) for r in self.requirements):
            return EXIT_NONCONFORMANT
        if self.unchecked_binding or (self.errors and not self.selected):
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    def to_json(self) -> str:
        document = asdict(replace(self, shard=None))  # an Evidence is no dataclass
        del document["shard"]
        if self.shard is not None:
            document["shard"] = self.shard.to_wire()
        # Value by value, before json.dumps escapes a secret into another spelling.
        return json.dumps(scrub_json(document, fields=(), reproducers=True), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunResult:
        raw: dict[str, Any] = json.loads(text)
        rows = [
            RequirementResult(
                **{
                    **row,
                    "findings": tuple(Finding(**f) for f in row["findings"]),
                }
            )
            for row in raw.pop("requirements")
        ]
        errors = [TestError(**e) for e in raw.pop("errors", [])]
        shard = raw.pop("shard", None)
        part = None if shard is None else ShardPart.from_wire(shard)
        return cls(**raw, requirements=rows, errors=errors, shard=part)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(), encoding="utf-8")


def _not_checked_reason(requirement: str, outcomes: list[TestOutcome], budget: str) -> str:
    """Why nothing judged a requirement, from the tests that were meant to."""
    covering = [o for o in outcomes if requirement in o.requirements]
    told = [
        o.evidence.tallies[requirement].unjudged
        for o in outcomes
        if requirement in o.evidence.tallies
    ]
    told = [t for t in told if t]
    if told:
        return told[0]
    if budget and (not covering or any(o.outcome == "skipped" for o in covering)):
        return budget
    if not covering:
        return "no test that judges it ran (deselected, or not collected)"
    skipped = [o for o in covering if o.outcome == "skipped"]
    if len(skipped) == len(covering):
        return f"skipped: {skipped[0].skip_reason or 'no reason given'}"
    stopped = [o for o in covering if o.outcome == "failed"]
    if stopped and len(stopped) + len(skipped) == len(covering):
        first = stopped[0]
        cause = first.error or "it stopped on another requirement's violation"
        return (
            f"every test that covers it stopped before its check (first: {first.nodeid}: {cause})"
        )
    return "the tests that cover it ran but met no case it speaks of"


def status_of(held: int, violated: int) -> Status:
    """A requirement's status from its checks: one violated fails it, one held with none
    violated passes it, none at all leaves it not checked."""
    return "fail" if violated else ("pass" if held else "not checked")


def fold(
    catalogue: Catalogue,
    outcomes: list[TestOutcome],
    selected: list[str] | None = None,
    budget_note: str = "",
    *,
    amounts_moved: bool = False,
) -> list[RequirementResult]:
    """One row per requirement (only `selected` ids when given), from the evidence;
    what was staked on the run counts as held if the run saw an amount move
    (`Evidence.settled`)."""
    outcomes = [replace(o, evidence=o.evidence.settled(amounts_moved)) for o in outcomes]
    observed = [(o, o.evidence) for o in outcomes]
    rows = []
    for req in catalogue:
        if selected is not None and req.id not in selected:
            continue
        held = violated = tests = requests = 0
        duration = 0.0
        findings: list[Finding] = []
        for outcome, evidence in observed:
            tally = evidence.tallies.get(req.id)
            if tally is None or not (tally.held or tally.violated):
                continue
            tests += 1
            requests += outcome.requests
            duration += outcome.duration_s
            held, violated = held + tally.held, violated + tally.violated
            if tally.findings:
                findings.append(replace(tally.findings[0], test=outcome.nodeid))
        status = status_of(held, violated)
        reason = "" if held or violated else _not_checked_reason(req.id, outcomes, budget_note)
        rows.append(
            RequirementResult(
                req.id,
                req.level,
                req.title,
                status,
                held=held,
                violated=violated,
                tests=tests,
                findings=tuple(findings),
                reason=reason,
                requests=requests,
                duration_s=round(duration, 3),
            )
        )
    return rows
