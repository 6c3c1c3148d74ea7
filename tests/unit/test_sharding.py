"""`run --shard I/N`'s split of a run's tests (suite/sharding.py, applied by
run_plan.arrange) and what a shard's result.json carries for `merge`."""

from __future__ import annotations

import random

import pytest

from masivo_conformance.checks.evidence import ConformanceViolation, Evidence
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.reporting.results import RunResult, ShardPart, TestOutcome, fold
from masivo_conformance.suite import run_plan
from masivo_conformance.suite.session import SuiteOptions
from masivo_conformance.suite.settings import Settings
from masivo_conformance.suite.sharding import Shard

STANDARD = [s.test for s in run_plan.plan_for("quick").scenarios]
FUZZ = "tests/contract/test_fuzz.py::test_generated_requests_keep_the_contract"


def _kinds(nodeid: str) -> str:
    return "explores" if nodeid == FUZZ else "requirement"


def _parts(count: int, items: list[str]) -> list[list[str]]:
    return [
        run_plan.arrange("quick", items, str, _kinds, Shard(i, count))[0]
        for i in range(1, count + 1)
    ]


@pytest.mark.parametrize("count", [1, 2, 3, 7, len(STANDARD) + 5])
def test_the_shards_are_disjoint_and_together_the_whole_run(count: int) -> None:
    items = [FUZZ, *STANDARD]
    whole, _ = run_plan.arrange("quick", items, str, _kinds)
    parts = _parts(count, items)
    every = [test for part in parts for test in part]
    assert sorted(every) == sorted(whole)  # each test once, none lost
    assert len(set(every)) == len(every)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1  # and evenly


def test_the_split_follows_the_plan_not_the_collection_order() -> None:
    """Each shard computes its part on its own machine: the same tests, however they were
    collected, give the same parts, each in plan order (judge first, explore last)."""
    items = [FUZZ, *STANDARD]
    shuffled = items[:]
    random.Random(5).shuffle(shuffled)
    assert _parts(3, shuffled) == _parts(3, items)
    first, second = _parts(2, items)
    assert (first[:2], second[:1]) == ([STANDARD[0], STANDARD[2]], [STANDARD[1]])
    explores = first if len(STANDARD) % 2 == 0 else second  # the test after the plan's
    assert explores[-1] == FUZZ


def test_a_shard_that_drops_tests_says_so() -> None:
    kept, dropped = run_plan.arrange("quick", [FUZZ, *STANDARD], str, _kinds, Shard(2, 2))
    assert set(kept).isdisjoint(dropped)
    assert len(kept) + len(dropped) == len(STANDARD) + 1


@pytest.mark.parametrize(
    ("text", "shard"), [("1/1", Shard(1, 1)), ("2/3", Shard(2, 3)), (" 10/12 ", Shard(10, 12))]
)
def test_a_shard_is_read_as_i_of_n(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard
    assert Shard.parse(str(shard)) == shard


@pytest.mark.parametrize(
    "text", ["0/2", "3/2", "1/0", "2", "1/2/3", "a/b", "-1/2", "\uff11/\uff12", ""]
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a shard"):
        Shard.parse(text)


def test_the_shard_reaches_xdist_workers() -> None:
    options = SuiteOptions(Settings(seed=3), profile="budget", shard=Shard(2, 4))
    assert SuiteOptions.from_wire(options.to_wire()) == options


def _evidence(held: int, violated: int = 0) -> Evidence:
    evidence = Evidence()
    for _ in range(held):
        evidence.held("REV-2")
    for n in range(violated):
        evidence.violated(ConformanceViolation("REV-2", f"broken {n}", f"curl {n}"))
    return evidence


def test_a_shard_result_round_trips_with_its_evidence() -> None:
    outcomes = [TestOutcome("t::a", ("REV-2",), "failed", _evidence(2, 1), requests=4)]
    part = ShardPart(2, 3, outcomes, ["a note"], suspects=["curl x"])
    result = RunResult(
        "embedded reference server", "budget", 7, False, 1.0, 4, fold(catalogue(), outcomes)
    )
    result.shard = part
    again = RunResult.from_json(result.to_json())
    assert again.shard is not None
    assert (again.shard.index, again.shard.count, again.shard.notes) == (2, 3, ["a note"])
    assert fold(catalogue(), again.shard.outcomes) == fold(catalogue(), outcomes)


def test_outcomes_of_one_name_from_several_shards_fold_as_one() -> None:
    parts = [
        TestOutcome("traffic", ("REV-2",), "passed", _evidence(3), requests=1),
        TestOutcome("traffic", ("REV-2",), "failed", _evidence(1, 4), requests=2),
    ]
    one = TestOutcome.combined(parts)
    assert (one.outcome, one.requests) == ("failed", 3)
    tally = one.evidence.tallies["REV-2"]
    assert (tally.held, tally.violated, len(tally.findings)) == (4, 4, 3)  # MAX_FINDINGS
    (row,) = [r for r in fold(catalogue(), [one]) if r.id == "REV-2"]
    assert (row.held, row.violated, row.tests) == (4, 4, 1)
