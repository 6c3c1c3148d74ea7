"""What one test observed, requirement by requirement: the evidence verdicts are made of.

Every place that judges a requirement (a single-call check on an answer, a scenario's
expectation, the fuzz judge, a state machine's invariant) records an observation here:
the requirement held, or it was violated on a given call. A requirement passes only
where an observation held and none violated; the markers on tests say what a test may
judge, never that it did.

Observations are soft: recording a violation does not stop the test, so one broken
answer does not hide the rules judged after it. A scenario that cannot go on (no event
id to reverse, say) stops with `insist`, which records and then raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from masivo_conformance import scrub

__all__ = [
    "MAX_FINDINGS",
    "NOTHING_AT_STAKE",
    "ConformanceViolation",
    "Evidence",
    "Finding",
    "Tally",
    "Verdict",
]

MAX_FINDINGS = 3  # violations kept per requirement and test; the rest are counted
NOTHING_AT_STAKE = "the purchase earned nothing on this target: no amount could show a break"


class ConformanceViolation(AssertionError):
    """A requirement broken by an observed answer; the message starts with `[ID]`."""

    def __init__(self, requirement: str, message: str, reproducer: str = "") -> None:
        # Redacted, then cut: one message quotes at most `scrub.MESSAGE_LIMIT` characters
        # of what a target sent, however much it sent.
        message = scrub.excerpt(message, scrub.MESSAGE_LIMIT)
        text = f"[{requirement}] {message}"
        if reproducer:
            text += f"\n    reproduce: {reproducer}"
        super().__init__(text)
        self.requirement = requirement
        self.detail = message
        self.reproducer = reproducer
        self.recorded = False  # set once an `Evidence` holds it, so it is counted once


@dataclass(frozen=True)
class Verdict:
    """One judgement of one requirement: it held, or here is the violation; or it held
    where it could not have failed (`unjudged` says why), which is no evidence."""

    requirement: str
    violation: ConformanceViolation | None = None
    unjudged: str = ""  # why a judgement without violation still proves nothing
    # Held on amounts read before the run had seen any amount move: evidence only if
    # the run ever does (`Evidence.settled`), whichever scenario shows it, and when.
    staked: bool = False

    @property
    def held(self) -> bool:
        """No violation (also true of an unjudged verdict: see `judged`)."""
        return self.violation is None

    @property
    def judged(self) -> bool:
        """A violation, or a judgement that could have been one (a staked one may yet
        be: `Evidence.settled`)."""
        return not self.unjudged and not self.staked

    @classmethod
    def of(cls, requirement: str, ok: bool, message: str, reproducer: str = "") -> Verdict:
        """Held when `ok`, else violated with `message` (what was expected and seen)."""
        if ok:
            return cls(requirement)
        return cls(requirement, ConformanceViolation(requirement, message, reproducer))

    @classmethod
    def staked_on_the_run(cls, requirement: str) -> Verdict:
        """Held on equal amounts read before any amount was seen to move in this run:
        evidence if the run sees one move at all, else not checked (NOTHING_AT_STAKE).
        Decided once the run has ended, so that neither the order of the tests nor
        their overlap (suite/concurrent_scenarios.py) decides what counts."""
        return cls(requirement, None, staked=True)

    @classmethod
    def moot(cls, requirement: str, reason: str) -> Verdict:
        """A judgement that held on what could show no break (two wallets compared when
        no amount could have moved): recorded as not checked, with `reason`, never held."""
        return cls(requirement, None, reason)


@dataclass(frozen=True)
class Finding:
    """One violation as a person reads it, with the curl line that shows it again."""

    requirement: str
    message: str
    reproducer: str = ""
    test: str = ""
    # The test's calls up to the violation, as a sequence reproducer replays them
    # (checks/sequences.py); None where no call trail was kept (fuzzing, replay).
    sequence: dict[str, Any] | None = None


@dataclass
class Tally:
    """How often one requirement held and was violated in one test."""

    held: int = 0
    violated: int = 0
    findings: list[Finding] = field(default_factory=list)
    unjudged: str = ""  # why a test that meant to judge it could not (first reason)
    staked: int = 0  # held, if the run saw an amount move (`Verdict.staked_on_the_run`)


class Evidence:
    """The observations of one test (thread-safe: scenarios reverse concurrently)."""

    def __init__(self) -> None:
        self.tallies: dict[str, Tally] = {}
        self._lock = threading.Lock()
        # (requirement, message) -> the data of a sequence reproducer of the calls so
        # far; set by whoever makes the calls (suite/storefront.py).
        self.trail: Callable[[str, str], dict[str, Any] | None] | None = None

    def _tally(self, requirement: str) -> Tally:
        return self.tallies.setdefault(requirement, Tally())

    # -- recording --------------------------------------------------------------------------

    def held(self, requirement: str) -> None:
        with self._lock:
            self._tally(requirement).held += 1

    def violated(self, violation: ConformanceViolation) -> None:
        with self._lock:
            tally = self._tally(violation.requirement)
            tally.violated += 1
            if len(tally.findings) < MAX_FINDINGS:
                trail = self.trail
                sequence = trail(violation.requirement, violation.detail) if trail else None
                tally.findings.append(
                    Finding(
                        violation.requirement,
                        violation.detail,
                        violation.reproducer,
                        sequence=sequence,
                    )
                )
        violation.recorded = True

    def unjudged(self, requirement: str, reason: str) -> None:
        """Say why a requirement this test is about could not be judged here."""
        reason = scrub.excerpt(reason, scrub.MESSAGE_LIMIT)  # it may quote the target
        with self._lock:
            tally = self._tally(requirement)
            tally.unjudged = tally.unjudged or reason

    # -- judging ----------------------------------------------------------------------------

    def expect(self, verdict: Verdict) -> bool:
        """Record a judgement; True when the requirement was not violated (a moot
        verdict is recorded as unjudged, with its reason: it is no evidence)."""
        if verdict.violation is None:
            if verdict.staked:
                with self._lock:
                    self._tally(verdict.requirement).staked += 1
            elif verdict.unjudged:
                self.unjudged(verdict.requirement, verdict.unjudged)
            else:
                self.held(verdict.requirement)
            return True
        self.violated(verdict.violation)
        return False

    def insist(self, verdict: Verdict) -> None:
        """Like `expect`, but a violation also ends the scenario: what follows needs it."""
        if not self.expect(verdict):
            assert verdict.violation is not None
            raise verdict.violation

    # -- reading ----------------------------------------------------------------------------

    @property
    def violations(self) -> int:
        return sum(t.violated for t in self.tallies.values())

    def summary(self) -> str:
        """The violations as the lines of a failed test's report."""
        lines = []
        for requirement, tally in sorted(self.tallies.items()):
            for finding in tally.findings:
                lines.append(f"[{requirement}] {finding.message}")
                if finding.reproducer:
                    lines.append(f"    reproduce: {finding.reproducer}")
            if tally.violated > len(tally.findings):
                lines.append(f"[{requirement}] ... {tally.violated - len(tally.findings)} more")
        return "\n".join(lines)

    def redacted(self) -> Evidence:
        """A copy with every text redacted, for what leaves the test (messages quote the
        target's answers, which may hold a token); counts as they are."""
        copy = Evidence()
        with self._lock:
            for requirement, t in self.tallies.items():
                copy.tallies[requirement] = Tally(
                    t.held,
                    t.violated,
                    [
                        replace(
                            f,
                            message=scrub.redact_text(f.message),
                            reproducer=scrub.redact_text(f.reproducer),
                            sequence=scrub.scrub_json(f.sequence, fields=(), reproducers=True)
                            if f.sequence
                            else None,
                        )
                        for f in t.findings
                    ],
                    scrub.redact_text(t.unjudged),
                    t.staked,
                )
        return copy

    def settled(self, amounts_moved: bool) -> Evidence:
        """A copy where what was staked on the run is decided: held where the run saw an
        amount move, else not checked with NOTHING_AT_STAKE."""
        copy = Evidence()
        for requirement, t in self.tallies.items():
            copy.tallies[requirement] = Tally(
                t.held + (t.staked if amounts_moved else 0),
                t.violated,
                list(t.findings),
                t.unjudged or ("" if amounts_moved or not t.staked else NOTHING_AT_STAKE),
            )
        return copy

    @classmethod
    def combined(cls, parts: Iterable[Evidence]) -> Evidence:
        """The observations of several, as one Evidence: counts summed, findings kept in
        order up to MAX_FINDINGS, the first reason a requirement could not be judged."""
        whole = cls()
        for part in parts:
            for requirement, t in part.tallies.items():
                tally = whole._tally(requirement)
                tally.held += t.held
                tally.violated += t.violated
                tally.findings.extend(t.findings[: MAX_FINDINGS - len(tally.findings)])
                tally.unjudged = tally.unjudged or t.unjudged
                tally.staked += t.staked
        return whole

    def to_dict(self) -> dict[str, Any]:
        return {
            requirement: {
                "held": t.held,
                "violated": t.violated,
                # [message, reproducer], and the sequence reproducer's data when kept
                "findings": [
                    [f.message, f.reproducer, *([f.sequence] if f.sequence else [])]
                    for f in t.findings
                ],
                "unjudged": t.unjudged,
                **({"staked": t.staked} if t.staked else {}),
            }
            for requirement, t in self.tallies.items()
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], test: str = "") -> Evidence:
        evidence = cls()
        for requirement, t in raw.items():
            evidence.tallies[requirement] = Tally(
                int(t["held"]),
                int(t["violated"]),
                [
                    Finding(requirement, f[0], f[1], test, f[2] if len(f) > 2 else None)
                    for f in t["findings"]
                ],
                str(t.get("unjudged", "")),
                int(t.get("staked", 0)),
            )
        return evidence
