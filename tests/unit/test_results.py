"""The verdict rules: evidence folded into one row per requirement, and the exit code.

Table-driven: every combination of held / violated / error / not reached / budget spent
for a MUST and a SHOULD, with the row it gives and the exit code of the run.
"""

from __future__ import annotations

from typing import Any

import pytest

from masivo_conformance.checks.evidence import ConformanceViolation, Evidence
from masivo_conformance.commands import replay
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.errors import (
    EXIT_CANNOT_RUN,
    EXIT_INCONCLUSIVE,
    EXIT_NONCONFORMANT,
    EXIT_OK,
)
from masivo_conformance.reporting.results import (
    RequirementResult,
    RunResult,
    TestError,
    TestOutcome,
    fold,
)

MUST, SHOULD = "REV-2", "GEN-5"


def _evidence(held: int = 0, violated: int = 0, unjudged: str = "", req: str = MUST) -> Any:
    evidence = Evidence()
    for _ in range(held):
        evidence.held(req)
    for i in range(violated):
        evidence.violated(ConformanceViolation(req, f"broken {i}", f"curl {i}"))
    if unjudged:
        evidence.unjudged(req, unjudged)
    return evidence.to_dict()


def _outcome(
    outcome: str = "passed",
    evidence: Any = None,
    error: str = "",
    skip: str = "",
    covers: tuple[str, ...] = (MUST,),
    nodeid: str = "t::x",
) -> TestOutcome:
    observed = Evidence.from_dict(evidence or {})  # the tests below write it as data
    return TestOutcome(nodeid, covers, outcome, observed, error, skip)  # type: ignore[arg-type]


def _run(
    outcomes: list[TestOutcome],
    *,
    selected: list[str] | None = None,
    strict: bool = False,
    stopped: str = "",
    budget: str = "",
) -> RunResult:
    return RunResult(
        target="t",
        profile="quick",
        seed=None,
        strict=strict,
        duration_s=1.0,
        request_count=3,
        requirements=fold(catalogue(), outcomes, selected or [MUST, SHOULD], budget),
        errors=[TestError(o.nodeid, o.error) for o in outcomes if o.error],
        stopped=stopped,
        selected=selected is not None,
    )


def _row(result: RunResult, requirement: str = MUST) -> Any:
    return next(r for r in result.requirements if r.id == requirement)


# (case, outcomes, MUST's status, exit code); the SHOULD is judged held in every case
# unless the case says otherwise, so that only the MUST decides.
_HELD_SHOULD = _outcome(evidence=_evidence(held=1, req=SHOULD), covers=(SHOULD,), nodeid="t::s")
CASES = [
    ("held once", [_outcome(evidence=_evidence(held=1))], "pass", EXIT_OK),
    ("held many times", [_outcome(evidence=_evidence(held=12))], "pass", EXIT_OK),
    ("violated once", [_outcome("failed", _evidence(violated=1))], "fail", EXIT_NONCONFORMANT),
    (
        "held and violated",
        [_outcome(evidence=_evidence(held=5)), _outcome("failed", _evidence(violated=1))],
        "fail",
        EXIT_NONCONFORMANT,
    ),
    ("never reached", [_outcome()], "not checked", EXIT_INCONCLUSIVE),
    (
        "unjudged with a reason",
        [_outcome(evidence=_evidence(unjudged="no event settled"))],
        "not checked",
        EXIT_INCONCLUSIVE,
    ),
    (
        "test erred before its check",
        [_outcome("failed", error="KeyError: 'data'")],
        "not checked",
        EXIT_INCONCLUSIVE,
    ),
    (
        "held, but another test erred",
        [_outcome(evidence=_evidence(held=1)), _outcome("failed", error="boom", nodeid="t::y")],
        "pass",
        EXIT_INCONCLUSIVE,
    ),
    (
        "failed on another requirement only",
        [_outcome("failed", _evidence(violated=1, req="GEN-1"))],
        "not checked",
        EXIT_INCONCLUSIVE,
    ),
    ("skipped", [_outcome("skipped", skip="no POINTS reward")], "not checked", EXIT_INCONCLUSIVE),
    ("no test at all", [], "not checked", EXIT_INCONCLUSIVE),
]


@pytest.mark.parametrize(("case", "outcomes", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_verdict_and_exit_code(
    case: str, outcomes: list[TestOutcome], status: str, code: int
) -> None:
    result = _run([*outcomes, _HELD_SHOULD])
    assert _row(result).status == status, case
    assert result.exit_code() == code, case


def test_a_pass_counts_its_observations_and_tests() -> None:
    result = _run([_outcome(evidence=_evidence(held=3)), _outcome(evidence=_evidence(held=2))])
    row = _row(result)
    assert (row.held, row.violated, row.tests) == (5, 0, 2)


def test_a_failure_keeps_one_finding_per_failing_test_with_its_reproducer() -> None:
    result = _run(
        [
            _outcome("failed", _evidence(violated=2), nodeid="t::a"),
            _outcome("failed", _evidence(violated=1), nodeid="t::b"),
        ]
    )
    row = _row(result)
    assert row.violated == 3
    assert [(f.test, f.reproducer) for f in row.findings] == [
        ("t::a", "curl 0"),
        ("t::b", "curl 0"),
    ]


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([_outcome(evidence=_evidence(unjudged="no settled event"))], "no settled event"),
        ([_outcome("skipped", skip="no POINTS reward")], "skipped: no POINTS reward"),
        ([_outcome("failed", error="SetupRefused: create_customer answered 500")], "t::x"),
        ([], "no test that judges it ran"),
    ],
    ids=["told", "skipped", "stopped", "none"],
)
def test_not_checked_rows_say_why(outcomes: list[TestOutcome], expected: str) -> None:
    assert expected in _row(_run(outcomes)).reason


def test_budget_spent_is_the_reason_of_what_it_left_unjudged() -> None:
    result = _run([_outcome("skipped", skip="not run: budget")], budget="budget spent")
    assert _row(result).reason == "budget spent"
    assert result.exit_code() == EXIT_INCONCLUSIVE


def test_a_target_that_stopped_answering_exits_2_whatever_else_was_found() -> None:
    outcomes = [_outcome("failed", _evidence(violated=1)), _HELD_SHOULD]
    assert _run(outcomes, stopped="the target stopped answering").exit_code() == EXIT_CANNOT_RUN


@pytest.mark.parametrize(
    ("should", "strict", "code"),
    [
        (_evidence(violated=1, req=SHOULD), False, EXIT_OK),
        (_evidence(violated=1, req=SHOULD), True, EXIT_NONCONFORMANT),
        ({}, False, EXIT_OK),
        ({}, True, EXIT_INCONCLUSIVE),
    ],
    ids=["failed", "failed-strict", "unchecked", "unchecked-strict"],
)
def test_shoulds_bind_only_with_strict(should: Any, strict: bool, code: int) -> None:
    outcomes = [
        _outcome(evidence=_evidence(held=1)),
        _outcome("failed" if should else "passed", should, covers=(SHOULD,), nodeid="t::s"),
    ]
    assert _run(outcomes, strict=strict).exit_code() == code


def test_a_selected_requirement_exits_by_its_own_verdict() -> None:
    """--requirement X: X held is 0 even when another test erred or another id failed."""
    outcomes = [
        _outcome(evidence=_evidence(held=1)),
        _outcome("failed", _evidence(violated=1, req="GEN-1"), error="boom", nodeid="t::y"),
    ]
    assert _run(outcomes, selected=[MUST]).exit_code() == EXIT_OK
    unchecked = [_outcome("failed", _evidence(violated=1, req="GEN-1"), nodeid="t::y")]
    assert _run(unchecked, selected=[MUST]).exit_code() == EXIT_INCONCLUSIVE


def test_the_result_round_trips_through_json() -> None:
    result = _run([_outcome("failed", _evidence(violated=1)), _outcome("failed", error="boom")])
    again = RunResult.from_json(result.to_json())
    assert again == result
    assert again.exit_code() == EXIT_NONCONFORMANT


@pytest.mark.parametrize(
    ("unchecked", "code"),
    [
        ({"AUTH-2", "AUTH-3"}, EXIT_OK),  # need a live authorize: outside the exit code
        ({"AUTH-2", "EMIT-4"}, EXIT_INCONCLUSIVE),  # any other MUST not checked: as in run
        ({"REV-7"}, EXIT_OK),  # a SHOULD, as in run
    ],
)
def test_replay_exits_by_the_table_but_for_the_rules_a_cassette_cannot_hold(
    unchecked: set[str], code: int
) -> None:
    rows = [
        RequirementResult(r.id, r.level, r.title, "not checked", reason="skipped: no key")
        if r.id in unchecked
        else RequirementResult(r.id, r.level, r.title, "pass", held=1, tests=1)
        for r in catalogue()
    ]
    shown = [replay.on_replay(r) for r in rows]
    result = replay.replay_result(shown, target="cassettes")
    assert result.exit_code() == code
    reasons = {r.id: r.reason for r in shown if r.status == "not checked"}
    assert "given a token only" not in " ".join(reasons.values())
    for rid, reason in reasons.items():
        assert reason.startswith("not checked on replay: ")
        if rid in {"AUTH-2", "AUTH-3"}:
            assert "no live authorize" in reason
