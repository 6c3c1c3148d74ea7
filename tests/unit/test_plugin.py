"""The suite's pytest plugin: requirement markers, selection, outcomes, write safety."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.reporting.results import fold
from masivo_conformance.suite.client import ApiClient
from masivo_conformance.suite.outcomes import load_outcomes
from masivo_conformance.suite.storefront import IdFactory, Storefront, WritesRefused

TESTS = """
import pytest

from masivo_conformance.checks.evidence import ConformanceViolation, Verdict

@pytest.mark.requirement("REV-1")
def test_reverse(masivo_evidence):
    masivo_evidence.held("REV-1")
    masivo_evidence.held("REV-1")

@pytest.mark.requirement("PRV-2", "PRV-1")
def test_preview(masivo_evidence):
    masivo_evidence.expect(Verdict.of("PRV-2", False, "wallet changed", "curl -X PUT w"))
    masivo_evidence.held("PRV-1")  # a soft violation does not stop the test

@pytest.mark.requirement("REV-2")
def test_insist(masivo_evidence):
    masivo_evidence.insist(Verdict.of("REV-2", False, "points not restored"))
    masivo_evidence.held("REV-2")  # never reached

@pytest.mark.requirement("FUL-1")
def test_raised(masivo_evidence):
    raise ConformanceViolation("FUL-1", "fulfilled is False", "curl -X PATCH f")

@pytest.mark.requirement("EMIT-1")
def test_erred(masivo_evidence):
    {}["data"]

@pytest.mark.requirement("EMIT-4")
def test_skipped():
    pytest.skip("no standby events here")

@pytest.mark.explores("GEN-1", "GEN-3")
def test_fuzz(masivo_evidence):
    masivo_evidence.held("GEN-3")

def test_unmarked(masivo_evidence):
    assert masivo_evidence.tallies == {}  # a fresh Evidence per test
"""


def test_unknown_requirement_ids_are_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('import pytest\n@pytest.mark.requirement("REV-99")\ndef test_x(): pass\n')
    result = pytester.runpytest("-p", "masivo_conformance.suite.plugin")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "REV-99" in result.stdout.str() + result.stderr.str()


def test_explores_needs_catalogue_ids_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n@pytest.mark.explores()\ndef test_x(): pass\n")
    result = pytester.runpytest("-p", "masivo_conformance.suite.plugin")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    pytester.makepyfile('import pytest\n@pytest.mark.explores("GEN-99")\ndef test_x(): pass\n')
    result = pytester.runpytest("-p", "masivo_conformance.suite.plugin")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "GEN-99" in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("requirement", "selected", "outcome"),
    [
        ("REV-1", "test_reverse", "passed"),
        ("PRV-1", "test_preview", "failed"),
        ("GEN-3", "test_fuzz", "passed"),
    ],
)
def test_requirement_option_selects_tests_by_either_marker(
    pytester: pytest.Pytester, requirement: str, selected: str, outcome: str
) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest(
        "-p", "masivo_conformance.suite.plugin", "--requirement", requirement, "-v"
    )
    result.assert_outcomes(**{outcome: 1}, deselected=7)
    assert f"::{selected} {outcome.upper()}" in result.stdout.str()


def _outcomes(pytester: pytest.Pytester, tmp_path: Path) -> dict[str, dict[str, Any]]:
    pytester.makepyfile(TESTS)
    out = tmp_path / "outcomes.json"
    result = pytester.runpytest(
        "-p", "masivo_conformance.suite.plugin", "--masivo-results", str(out)
    )
    # test_unmarked passes only if each test gets a fresh Evidence
    result.assert_outcomes(passed=3, failed=4, skipped=1)
    document = json.loads(out.read_text())
    return {o["nodeid"].split("::")[-1]: o for o in document["outcomes"]}


def test_outcomes_carry_each_tests_evidence(pytester: pytest.Pytester, tmp_path: Path) -> None:
    by_test = _outcomes(pytester, tmp_path)
    assert set(by_test) == {
        "test_reverse",
        "test_preview",
        "test_insist",
        "test_raised",
        "test_erred",
        "test_skipped",
        "test_fuzz",
    }, "a test that judges nothing is left out"
    reverse = by_test["test_reverse"]
    assert (reverse["outcome"], reverse["requirements"], reverse["error"]) == (
        "passed",
        ["REV-1"],
        "",
    )
    assert reverse["evidence"] == {
        "REV-1": {"held": 2, "violated": 0, "findings": [], "unjudged": ""}
    }
    fuzz = by_test["test_fuzz"]
    assert fuzz["requirements"] == ["GEN-1", "GEN-3"]
    assert fuzz["evidence"]["GEN-3"]["held"] == 1
    assert "GEN-1" not in fuzz["evidence"]  # explored, never judged


def test_a_soft_violation_fails_the_test_and_keeps_what_followed(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    preview = _outcomes(pytester, tmp_path)["test_preview"]
    assert preview["outcome"] == "failed"
    assert preview["error"] == ""
    assert preview["evidence"]["PRV-2"] == {
        "held": 0,
        "violated": 1,
        "findings": [["wallet changed", "curl -X PUT w"]],
        "unjudged": "",
    }
    assert preview["evidence"]["PRV-1"]["held"] == 1


def test_a_raised_violation_is_recorded_once(pytester: pytest.Pytester, tmp_path: Path) -> None:
    by_test = _outcomes(pytester, tmp_path)
    insist, raised = by_test["test_insist"], by_test["test_raised"]
    assert (insist["outcome"], insist["error"]) == ("failed", "")
    assert insist["evidence"]["REV-2"]["violated"] == 1  # insist recorded it; not again
    assert insist["evidence"]["REV-2"]["held"] == 0
    assert (raised["outcome"], raised["error"]) == ("failed", "")
    assert raised["evidence"]["FUL-1"]["findings"] == [["fulfilled is False", "curl -X PATCH f"]]


def test_an_error_is_the_tests_not_a_requirements(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    by_test = _outcomes(pytester, tmp_path)
    erred = by_test["test_erred"]
    assert (erred["outcome"], erred["error"], erred["evidence"]) == (
        "failed",
        "KeyError: 'data'",
        {},
    )
    skipped = by_test["test_skipped"]
    assert (skipped["outcome"], skipped["skip_reason"]) == ("skipped", "no standby events here")


def test_written_outcomes_fold_into_verdicts(pytester: pytest.Pytester, tmp_path: Path) -> None:
    _outcomes(pytester, tmp_path)
    rows = {
        r.id: r for r in fold(catalogue(), load_outcomes(tmp_path / "outcomes.json")["outcomes"])
    }
    assert (rows["REV-1"].status, rows["REV-1"].held) == ("pass", 2)
    assert rows["PRV-1"].status == "pass"
    assert (rows["PRV-2"].status, rows["PRV-2"].findings[0].test.split("::")[-1]) == (
        "fail",
        "test_preview",
    )
    assert rows["REV-2"].status == "fail"
    assert rows["FUL-1"].status == "fail"
    assert rows["EMIT-1"].status == "not checked"
    assert "KeyError: 'data'" in rows["EMIT-1"].reason
    assert rows["EMIT-4"].reason == "skipped: no standby events here"
    assert rows["GEN-1"].status == "not checked"


def test_storefront_refuses_writes_when_not_allowed() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": []})

    client = ApiClient(
        "https://api.example.test/v1", token="t", transport=httpx.MockTransport(answer)
    )
    storefront = Storefront(
        client,
        brand_id="b",
        ids=IdFactory("s"),
        writes_allowed=False,
        settle_time=0.0,
        host="https://api.example.test/v1",
    )
    with pytest.raises(WritesRefused, match="--allow-writes"):
        storefront.create_customer()
    assert seen == []
    assert storefront.rewards() == []  # reads still go through
    assert len(seen) == 1


def test_customer_ids_are_recognisable_and_reproducible() -> None:
    first, again = IdFactory.for_test("s1", "t::a"), IdFactory.for_test("s1", "t::a")
    assert first.customer_id() == again.customer_id()
    assert first.customer_id().startswith("mc-test-")
    assert (
        IdFactory.for_test("s2", "t::a").customer_id()
        != IdFactory.for_test("s1", "t::a").customer_id()
    )
