"""Multi-call rules: what must hold across several answers (wallets, transactions, codes).

Each function raises `ConformanceViolation` with the requirement id, the expectation,
what came back and the reproducer of the call that showed it.
"""

from __future__ import annotations

from collections.abc import Mapping

from masivo_conformance.calls import Call
from masivo_conformance.checks import ConformanceViolation

__all__ = ["expect_2xx", "expect_4xx", "expect_status", "expect_wallet"]

WALLET_TOLERANCE = 1e-6


def _answered(call: Call) -> str:
    return f"{call.method} {call.url} answered {call.status}: {call.text[:200]}"


def expect_status(call: Call, low: int, high: int, requirement: str, what: str) -> None:
    """`call` answered a status in [low, high]."""
    if not low <= call.status <= high:
        raise ConformanceViolation(
            requirement, f"{what}: expected {low}-{high}; {_answered(call)}", call.reproducer
        )


def expect_2xx(call: Call, requirement: str, what: str) -> None:
    expect_status(call, 200, 299, requirement, what)


def expect_4xx(call: Call, requirement: str, what: str) -> None:
    expect_status(call, 400, 499, requirement, what)


def expect_wallet(
    before: Mapping[str, float],
    after: Mapping[str, float],
    requirement: str,
    what: str,
    reproducer: str = "",
) -> None:
    """Wallet totals are the same (a missing reward counts as 0)."""
    changed = {
        reward: (before.get(reward, 0.0), after.get(reward, 0.0))
        for reward in set(before) | set(after)
        if abs(before.get(reward, 0.0) - after.get(reward, 0.0)) > WALLET_TOLERANCE
    }
    if changed:
        shown = ", ".join(f"{r}: {a} -> {b}" for r, (a, b) in sorted(changed.items()))
        raise ConformanceViolation(
            requirement, f"{what}: wallet totals changed ({shown})", reproducer
        )
