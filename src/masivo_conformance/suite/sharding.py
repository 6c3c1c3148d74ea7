"""`run --shard I/N`: which part of a run's tests one shard runs.

The split is by position in the run's own order (the plan's order, `run_plan.arrange`):
the k-th test (counting from 0) goes to shard k mod N + 1. It depends only on which tests
the run holds, never on timing, workers or a hash seed, so every shard of one suite
version, profile and selection computes the same split, the union over I = 1..N is
exactly the tests of one run, and no test is in two shards. Round-robin over the plan
order, rather than cutting it in blocks, gives every shard a share of the cheap
single-rule tests and of the long scenarios alike (docs/decisions.md, "Shards").

A test is the unit: the suite's tests share no state but the run's connection (its
session fixtures, which each shard opens for itself), so any test can run without the
others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Shard"]

T = TypeVar("T")

_FORM = re.compile(r"(\d+)/(\d+)")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (from 1) of `count`."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise ValueError(f"shard {self.index}/{self.count} does not exist")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N` with 1 <= I <= N; ValueError saying what is wrong otherwise."""
        found = _FORM.fullmatch(text.strip())
        if found is None or not text.isascii():
            raise ValueError(f"{text!r} is not a shard: give I/N, as 1/3 for the first of three")
        index, count = int(found[1]), int(found[2])
        if not 1 <= index <= count:
            raise ValueError(f"{text!r} is not a shard: I/N needs 1 <= I <= N")
        return cls(index, count)

    def split(self, items: Sequence[T]) -> tuple[list[T], list[T]]:
        """(this shard's items, the other shards'), each in the order given."""
        mine: list[T] = []
        others: list[T] = []
        for position, item in enumerate(items):
            (mine if position % self.count == self.index - 1 else others).append(item)
        return mine, others
