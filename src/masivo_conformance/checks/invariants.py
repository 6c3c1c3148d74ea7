"""Multi-call rules as judgements: what must hold across several answers (status codes
of a step, wallets, transactions).

Each function returns a `Verdict` (held, or the violation with the requirement id, the
expectation, what came back and the reproducer of the call that showed it); the caller
records it in its `Evidence` with `expect` (go on) or `insist` (stop the scenario).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from masivo_conformance import scrub
from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Verdict

__all__ = [
    "WALLET_TOLERANCE",
    "is_2xx",
    "is_4xx",
    "same_transactions",
    "same_wallet",
    "status_among",
    "status_in",
    "transaction_key",
]

WALLET_TOLERANCE = 1e-6


def _answered(call: Call) -> str:
    return f"{call.method} {call.url} answered {call.status}: {scrub.excerpt(call.text)}"


def status_in(call: Call, low: int, high: int, requirement: str, what: str) -> Verdict:
    """`call` answered a status in [low, high]."""
    return Verdict.of(
        requirement,
        low <= call.status <= high,
        f"{what}: expected {low}-{high}; {_answered(call)}",
        call.reproducer,
    )


def status_among(call: Call, codes: Iterable[int], requirement: str, what: str) -> Verdict:
    """`call` answered one of exactly these codes (where the contract names them)."""
    wanted = sorted(codes)
    return Verdict.of(
        requirement,
        call.status in wanted,
        f"{what}: expected one of {wanted}; {_answered(call)}",
        call.reproducer,
    )


def is_2xx(call: Call, requirement: str, what: str) -> Verdict:
    return status_in(call, 200, 299, requirement, what)


def is_4xx(call: Call, requirement: str, what: str) -> Verdict:
    return status_in(call, 400, 499, requirement, what)


def same_wallet(
    before: Mapping[str, float],
    after: Mapping[str, float],
    requirement: str,
    what: str,
    reproducer: str = "",
) -> Verdict:
    """Wallet totals per reward are the same (a missing reward counts as 0)."""
    changed = {
        reward: (before.get(reward, 0.0), after.get(reward, 0.0))
        for reward in set(before) | set(after)
        if abs(before.get(reward, 0.0) - after.get(reward, 0.0)) > WALLET_TOLERANCE
    }
    shown = ", ".join(f"{r}: {a} -> {b}" for r, (a, b) in sorted(changed.items()))
    return Verdict.of(
        requirement, not changed, f"{what}: wallet totals changed ({shown})", reproducer
    )


def transaction_key(transaction: Mapping[str, Any]) -> tuple[str, str, str]:
    """What identifies a ledger entry for comparison: id, type and amount (order and
    volatile members such as timestamps or attributes are not the ledger)."""
    return (
        str(transaction.get("id")),
        str(transaction.get("type")),
        repr(transaction.get("amount")),
    )


def same_transactions(
    before: Iterable[Mapping[str, Any]],
    after: Iterable[Mapping[str, Any]],
    requirement: str,
    what: str,
    reproducer: str = "",
) -> Verdict:
    """The same ledger entries, compared as sets of (id, type, amount)."""
    old, new = {transaction_key(t) for t in before}, {transaction_key(t) for t in after}
    added, removed = sorted(new - old), sorted(old - new)
    return Verdict.of(
        requirement,
        not added and not removed,
        f"{what}: transactions changed (added {added[:3]}, removed {removed[:3]})",
        reproducer,
    )
