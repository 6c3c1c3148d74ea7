"""Single-call checks: plain functions of one `Call`, each judging one requirement id.

A check returns True when the answer was one its requirement speaks of and the
requirement held, False when the requirement does not apply to this answer, and raises
`ConformanceViolation` (through `fail`) naming the requirement, what was expected, what
came back and a curl line to see it again. All checks are registered in `CHECKS`, in one
place; `judge_call` runs them on an answer and records what they found as evidence.
Multi-call rules (wallet restored, preview pure, ...) are in `invariants.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn

from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import ConformanceViolation, Evidence
from masivo_conformance.contract.catalogue import catalogue

__all__ = [
    "CHECKS",
    "Check",
    "ConformanceViolation",
    "check",
    "fail",
    "judge_call",
    "must_checks",
]


@dataclass(frozen=True)
class Check:
    name: str
    requirement: str
    func: Callable[[Call], bool]


CHECKS: dict[str, Check] = {}


def check(requirement: str) -> Callable[[Callable[[Call], bool]], Callable[[Call], bool]]:
    """Register a check under its function name, tagged with the id it judges."""

    def register(func: Callable[[Call], bool]) -> Callable[[Call], bool]:
        CHECKS[func.__name__] = Check(func.__name__, requirement, func)
        return func

    return register


def judge_call(call: Call, evidence: Evidence, names: Iterable[str] | None = None) -> set[str]:
    """Run the named checks (all by default) on `call`; record each verdict in `evidence`.

    Returns the ids violated. No check's violation stops another: each reads what it
    needs of the answer, as far as the answer can still be read.

    An answer cut at a bound of checks/limits.py (`call.breach`) is judged by GEN-3
    alone, whichever checks were named: no other rule can be read in what was kept,
    and each would only repeat that the answer was not usable.
    """
    selected = CHECKS.values() if names is None else [CHECKS[n] for n in names]
    if call.breach:
        selected = [CHECKS["no_server_error"]]
    violated = set()
    for entry in selected:
        try:
            judged = entry.func(call)
        except ConformanceViolation as violation:
            evidence.violated(violation)
            violated.add(entry.requirement)
        else:
            if judged:
                evidence.held(entry.requirement)
    return violated


def fail(requirement: str, call: Call, message: str) -> NoReturn:
    """Raise a violation of `requirement` seen on `call`."""
    where = f"{call.method} {call.url} answered {call.status}"
    raise ConformanceViolation(requirement, f"{where}: {message}", call.reproducer)


def must_checks() -> tuple[str, ...]:
    """The names of the checks of MUST requirements (SHOULDs are judged where asked)."""
    reqs = catalogue()
    return tuple(name for name, entry in CHECKS.items() if reqs[entry.requirement].is_must)


# Importing the modules registers their checks (last: they import this module).
from masivo_conformance.checks import events, general, preview  # noqa: E402

__all__ += ["events", "general", "preview"]
