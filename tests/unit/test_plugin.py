"""The suite's pytest plugin: requirement markers, selection, outcomes, write safety."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from masivo_conformance.client import ApiClient
from masivo_conformance.storefront import IdFactory, Storefront, WritesRefused

TESTS = """
import pytest

@pytest.mark.requirement("REV-1")
def test_reverse():
    pass

@pytest.mark.requirement("PRV-2", "PRV-1")
def test_preview():
    raise AssertionError("[PRV-2] wallet changed")
"""


def test_unknown_requirement_ids_are_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('import pytest\n@pytest.mark.requirement("REV-99")\ndef test_x(): pass\n')
    result = pytester.runpytest("-p", "masivo_conformance.plugin")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "REV-99" in result.stdout.str() + result.stderr.str()


def test_requirement_option_selects_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest("-p", "masivo_conformance.plugin", "--requirement", "REV-1")
    result.assert_outcomes(passed=1, deselected=1)


def test_outcomes_name_their_requirements(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(TESTS)
    out = tmp_path / "outcomes.json"
    pytester.runpytest("-p", "masivo_conformance.plugin", "--masivo-results", str(out))
    document = json.loads(out.read_text())
    by_test = {o["nodeid"].split("::")[-1]: o for o in document["outcomes"]}
    assert by_test["test_reverse"]["outcome"] == "passed"
    assert by_test["test_reverse"]["requirements"] == ["REV-1"]
    assert by_test["test_preview"]["outcome"] == "failed"
    assert "[PRV-2]" in by_test["test_preview"]["message"]


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
