"""Single-call checks: plain functions of one `Call`, each tagged with requirement ids.

A check raises `ConformanceViolation` naming its requirement id, what was expected, what
came back and a curl line to see it again. All checks are registered in `CHECKS`, in one
place; the fuzz tests, the example tests and the stateful tests run them on every call.
Multi-call rules (wallet restored, preview pure, ...) are in `invariants.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NoReturn

from masivo_conformance.calls import Call

__all__ = [
    "CHECKS",
    "Check",
    "ConformanceViolation",
    "ViolationGroup",
    "check",
    "fail",
    "raise_all",
    "run_checks",
]


class ConformanceViolation(AssertionError):
    """A requirement broken by an observed answer; the message starts with `[ID]`."""

    def __init__(self, requirement: str, message: str, reproducer: str = "") -> None:
        text = f"[{requirement}] {message}"
        if reproducer:
            text += f"\n    reproduce: {reproducer}"
        super().__init__(text)
        self.requirement = requirement
        self.reproducer = reproducer


class ViolationGroup(AssertionError):
    """Several violations seen on one call."""

    def __init__(self, violations: list[ConformanceViolation]) -> None:
        super().__init__("\n".join(str(v) for v in violations))
        self.violations = violations
        self.reproducer = violations[0].reproducer


@dataclass(frozen=True)
class Check:
    name: str
    requirements: tuple[str, ...]
    func: Callable[[Call], None]


CHECKS: dict[str, Check] = {}


def check(*requirements: str) -> Callable[[Callable[[Call], None]], Callable[[Call], None]]:
    """Register a check under its function name, tagged with the ids it enforces."""

    def register(func: Callable[[Call], None]) -> Callable[[Call], None]:
        CHECKS[func.__name__] = Check(func.__name__, requirements, func)
        return func

    return register


def run_checks(call: Call, names: Iterable[str] | None = None) -> None:
    """Run the named checks (all by default) and raise every violation at once."""
    selected = CHECKS.values() if names is None else [CHECKS[n] for n in names]
    violations = []
    for entry in selected:
        try:
            entry.func(call)
        except ConformanceViolation as exc:
            violations.append(exc)
    raise_all(violations)


def raise_all(violations: list[ConformanceViolation]) -> None:
    """Raise the violations seen on one call (nothing when there are none).

    A 2xx outside its `data` envelope is reported once, as GEN-1: what the other checks
    read under `data` is then not the payload, and their reports would be noise.
    """
    if any(v.requirement == "GEN-1" for v in violations):
        violations = [v for v in violations if v.requirement == "GEN-1"]
    if len(violations) == 1:
        raise violations[0]
    if violations:
        raise ViolationGroup(violations)


def fail(requirement: str, call: Call, message: str) -> NoReturn:
    """Raise a violation of `requirement` seen on `call`."""
    where = f"{call.method} {call.url} answered {call.status}"
    raise ConformanceViolation(requirement, f"{where}: {message}", call.reproducer)


# Importing the modules registers their checks (last: they import this module).
from masivo_conformance.checks import events, general, preview  # noqa: E402

__all__ += ["events", "general", "preview"]
