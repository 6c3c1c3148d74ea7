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
from masivo_conformance.checks.evidence import NOTHING_AT_STAKE, Verdict

__all__ = [
    "NOTHING_AT_STAKE",
    "WALLET_TOLERANCE",
    "Wallet",
    "at_stake",
    "is_2xx",
    "is_4xx",
    "moved_by",
    "same_transactions",
    "same_wallet",
    "status_among",
    "status_in",
    "transaction_key",
    "wallet_totals",
]

WALLET_TOLERANCE = 1e-6


class Wallet(dict[str, float]):
    """Wallet totals by reward id as read from a target, and whether an amount had been
    seen to move on that target by then (`moved`: in this run, a customer's wallet read
    different from the read before, or a transaction listed for the run's events or
    customers; `Storefront.wallet` tells). Until one has, nothing a scenario does can
    move a total either, so two equal wallets prove nothing (`same_wallet`). A wallet
    made by hand is taken at its word (`moved` left True)."""

    def __init__(self, totals: Mapping[str, float] | None = None, *, moved: bool = True) -> None:
        super().__init__(totals or {})
        self.moved = moved

    # Equal as `same_wallet` judges: a reward a wallet does not list holds 0, and totals
    # within WALLET_TOLERANCE are the same. A correct target may read `{}` before an earn
    # and `{"points": 0.0}` after its reverse, and a team's `==` must not fail on that.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return not _changes(self, other)

    def __ne__(self, other: object) -> bool:
        # dict's own __ne__ would compare the entries as they are: not the opposite of ==.
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # a dict: unhashable, as before


def _changes(
    before: Mapping[str, float], after: Mapping[str, float]
) -> dict[str, tuple[float, float]]:
    """The totals that differ, by reward: (before, after), a missing reward as 0."""
    return {
        reward: (before.get(reward, 0.0), after.get(reward, 0.0))
        for reward in set(before) | set(after)
        if abs(before.get(reward, 0.0) - after.get(reward, 0.0)) > WALLET_TOLERANCE
    }


def at_stake(*wallets: Mapping[str, float]) -> bool:
    """Whether comparing these wallets could show a break: one of them was read once an
    amount had been seen to move. A mapping that is no `Wallet` (a model's expectation,
    say) tells nothing of the target; with no `Wallet` at all, the caller's word holds."""
    read = [wallet.moved for wallet in wallets if isinstance(wallet, Wallet)]
    return any(read) if read else True


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
    """Wallet totals per reward are the same (a missing reward counts as 0).

    The one rule against vacuous evidence: equal wallets that were both read before any
    amount was seen to move on the target (`at_stake`) are evidence only if the run sees
    one move later (`Verdict.staked_on_the_run`), else "not checked" with
    NOTHING_AT_STAKE. A change is a violation whatever was at stake: it is the break
    itself."""
    changed = _changes(before, after)
    if not changed and not at_stake(before, after):
        return Verdict.staked_on_the_run(requirement)
    shown = ", ".join(f"{r}: {a} -> {b}" for r, (a, b) in sorted(changed.items()))
    return Verdict.of(
        requirement, not changed, f"{what}: wallet totals changed ({shown})", reproducer
    )


def moved_by(
    before: Mapping[str, float],
    after: Mapping[str, float],
    delta: Mapping[str, float],
    requirement: str,
    what: str,
    reproducer: str = "",
    *,
    note: str = "",
) -> Verdict:
    """Each wallet total moved by exactly `delta` of its reward (a reward `delta` does
    not name, or a wallet does not list, moved by 0); `note` ends the message."""
    rewards = set(before) | set(after) | set(delta)
    off = {
        reward: (before.get(reward, 0.0), after.get(reward, 0.0), delta.get(reward, 0.0))
        for reward in rewards
        if abs(after.get(reward, 0.0) - before.get(reward, 0.0) - delta.get(reward, 0.0))
        > WALLET_TOLERANCE
    }
    shown = ", ".join(
        f"{r}: {a:g} -> {b:g}, moved by {b - a:+g} where {d:+g} was due"
        for r, (a, b, d) in sorted(off.items())
    )
    return Verdict.of(requirement, not off, f"{what}: {shown}{note}", reproducer)


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
    *,
    stake: bool = True,
) -> Verdict:
    """The same ledger entries, compared as sets of (id, type, amount). Without `stake`
    (no amount seen to move: `Storefront.amounts_moved`), equal ledgers are staked on the
    run, as equal wallets are in `same_wallet`; a change is a violation all the same."""
    old, new = {transaction_key(t) for t in before}, {transaction_key(t) for t in after}
    added, removed = sorted(new - old), sorted(old - new)
    if not (added or removed or stake):
        return Verdict.staked_on_the_run(requirement)
    return Verdict.of(
        requirement,
        not added and not removed,
        f"{what}: transactions changed (added {added[:3]}, removed {removed[:3]})",
        reproducer,
    )


def wallet_totals(data: Any) -> dict[str, float] | None:
    """Wallet totals by reward id from get_customer's `data` (entries of one reward are
    summed). Read leniently (GEN-4 judges the shape): totals given as an
    object keyed by reward id are read too. None when there is no wallet to read."""
    wallet = data.get("wallet") if isinstance(data, dict) else None
    if not isinstance(wallet, dict):
        return None
    entries = wallet.get("totals", [])
    if isinstance(entries, dict):
        entries = [
            {"reward_id": key, **(v if isinstance(v, dict) else {"total": v})}
            for key, v in entries.items()
        ]
    if not isinstance(entries, list):
        return None
    totals: dict[str, float] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        try:
            amount = float(entry.get("total", 0))
        except (TypeError, ValueError):
            continue
        key = str(entry.get("reward_id"))
        totals[key] = round(totals.get(key, 0.0) + amount, 6)
    return totals
