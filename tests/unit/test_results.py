"""Folding test outcomes into the requirement matrix, and the exit codes it implies."""

from __future__ import annotations

from masivo_conformance.requirements import catalogue
from masivo_conformance.results import RunResult, TestOutcome, fold


def _result(outcomes: list[TestOutcome], strict: bool = False) -> RunResult:
    return RunResult(
        target="t",
        profile="ci",
        seed=None,
        strict=strict,
        duration_s=1.0,
        request_count=3,
        requirements=fold(catalogue(), outcomes),
    )


def _status(result: RunResult, requirement: str) -> str:
    return next(r.status for r in result.requirements if r.id == requirement)


def test_a_failure_counts_against_the_ids_its_message_names() -> None:
    outcome = TestOutcome("t::x", ("GEN-1", "GEN-4"), "failed", "[GEN-4] bad schema")
    result = _result([outcome])
    assert _status(result, "GEN-4") == "fail"
    assert _status(result, "GEN-1") == "pass"
    assert result.exit_code() == 1


def test_a_failure_naming_no_id_counts_against_all_ids_of_the_test() -> None:
    result = _result([TestOutcome("t::x", ("REV-1", "REV-2"), "failed", "KeyError: 'data'")])
    assert {_status(result, "REV-1"), _status(result, "REV-2")} == {"fail"}


def test_skipped_tests_leave_requirements_not_run() -> None:
    result = _result([TestOutcome("t::x", ("PRV-2",), "skipped", "budget spent")])
    assert _status(result, "PRV-2") == "not run"
    assert result.exit_code() == 0


def test_should_failures_warn_unless_strict() -> None:
    outcome = TestOutcome("t::x", ("GEN-5",), "failed", "[GEN-5] missing headers")
    assert _result([outcome]).exit_code() == 0
    assert _result([outcome], strict=True).exit_code() == 1


def test_first_violation_keeps_its_reproducer_and_round_trips_json() -> None:
    outcome = TestOutcome("t::x", ("REV-4",), "failed", "[REV-4] second reverse 200", "curl -X")
    result = _result([outcome])
    again = RunResult.from_json(result.to_json())
    row = next(r for r in again.requirements if r.id == "REV-4")
    assert row.violation is not None
    assert row.violation.reproducer == "curl -X"
    assert again.exit_code() == 1
