"""The suite session (requirement markers, selection, outcomes, write safety, settings
resolved once or handed over) and the user plugin (inert until its fixtures are used)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# httpx imports httpcore only when it first sends: were that inside a pytester run below,
# pytester would drop httpcore from sys.modules afterwards, and httpx would no longer
# recognise the errors of the httpcore imported next (test_client.py then fails when
# it runs after this file in the same worker).
import httpcore  # noqa: F401
import httpx
import pytest
from hypothesis import settings as hypothesis_settings

from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.reporting.results import fold
from masivo_conformance.suite import plugin as user_plugin
from masivo_conformance.suite.client import ApiClient
from masivo_conformance.suite.recorder import SessionRecord
from masivo_conformance.suite.session import SuiteOptions, SuiteSession
from masivo_conformance.suite.settings import Settings, resolve
from masivo_conformance.suite.storefront import IdFactory, Storefront, WritesRefused

SESSION = ("-p", "masivo_conformance.suite.session")

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
    result = pytester.runpytest(*SESSION)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "REV-99" in result.stdout.str() + result.stderr.str()


def test_explores_needs_catalogue_ids_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n@pytest.mark.explores()\ndef test_x(): pass\n")
    result = pytester.runpytest(*SESSION)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    pytester.makepyfile('import pytest\n@pytest.mark.explores("GEN-99")\ndef test_x(): pass\n')
    result = pytester.runpytest(*SESSION)
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
    result = pytester.runpytest(*SESSION, "--masivo-requirement", requirement, "-v")
    result.assert_outcomes(**{outcome: 1}, deselected=7)
    assert f"::{selected} {outcome.upper()}" in result.stdout.str()


def _outcomes(pytester: pytest.Pytester, tmp_path: Path) -> dict[str, dict[str, Any]]:
    pytester.makepyfile(TESTS)
    out = tmp_path / "outcomes.json"
    result = pytester.runpytest(*SESSION, "--masivo-results", str(out))
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
        r.id: r for r in fold(catalogue(), SessionRecord.read(tmp_path / "outcomes.json").outcomes)
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


# -- settings resolved once, or handed over as they are --------------------------------------

SETTINGS_TESTS = """
import pytest

@pytest.mark.writes
@pytest.mark.parametrize("n", range(3))
def test_sees(masivo_settings, n):
    assert masivo_settings.token == "handed-token"
"""

# What a test of the suite sees of its session: the suite's own fixtures, not the user
# plugin's of the same name (no request is made: the target is never started or called).
SUITE_FIXTURE_TESTS = """
from hypothesis import settings

def test_suite_fixtures_win(storefront, masivo_events, masivo_evidence, masivo_profile):
    assert storefront.events is masivo_events
    assert storefront.evidence is masivo_evidence
    assert masivo_profile == "quick"
    assert settings.get_current_profile_name() == "masivo-quick"
"""


@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every resolution of settings in this process (the spy keeps resolving)."""
    calls: list[object] = []

    def spy(*args: Any, **kwargs: Any) -> Settings:
        calls.append(args)
        return resolve(*args, **kwargs)

    monkeypatch.setattr(user_plugin, "resolve", spy)
    monkeypatch.setenv("MASIVO_TOKEN", "env-token")
    return calls


def _handed(**fields: Any) -> SuiteSession:
    settings = Settings(
        base_url="http://127.0.0.1:9/api", token="handed-token", brand_id="b", **fields
    )
    return SuiteSession(SuiteOptions(settings, profile="quick"))


def test_a_direct_run_resolves_settings_once(
    pytester: pytest.Pytester, resolutions: list[object]
) -> None:
    pytester.makepyfile(SETTINGS_TESTS.replace("handed-token", "env-token"))
    result = pytester.runpytest(*SESSION, "--masivo-base-url", "http://127.0.0.1:9/api")
    result.assert_outcomes(passed=3)
    assert len(resolutions) == 1


@pytest.mark.parametrize(
    "workers",
    [
        pytest.param([], id="in-process"),
        pytest.param(["-n", "1"], id="xdist", marks=pytest.mark.slow),
    ],
)
def test_handed_settings_reach_the_tests_as_they_are(
    pytester: pytest.Pytester, resolutions: list[object], workers: list[str]
) -> None:
    """MASIVO_TOKEN says env-token: a session that resolved again would see it, also on
    an xdist worker (a process of its own, which gets the options from the controller)."""
    pytester.makepyfile(SETTINGS_TESTS)
    result = pytester.runpytest_inprocess(*SESSION, *workers, plugins=[_handed()])
    result.assert_outcomes(passed=3)
    assert resolutions == []


def test_the_suite_fixtures_override_the_user_plugins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(SUITE_FIXTURE_TESTS)
    before = hypothesis_settings.get_current_profile_name()
    pytester.runpytest_inprocess(*SESSION, plugins=[_handed()]).assert_outcomes(passed=1)
    assert hypothesis_settings.get_current_profile_name() == before  # restored at the end


def test_settings_that_do_not_resolve_fail_only_the_tests_that_need_them(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_needs(masivo_settings): pass\ndef test_does_not(): pass\n")
    result = pytester.runpytest(*SESSION, "--masivo-base-url", "ftp://nowhere")
    result.assert_outcomes(passed=1, errors=1)
    assert "base URL 'ftp://nowhere' is not an http(s) URL" in result.stdout.str()
    assert "Traceback" not in result.stdout.str()


# -- the user plugin ------------------------------------------------------------------------

HOST_TESTS = """
from hypothesis import given, settings, strategies as st

def test_nothing_of_the_suite_is_here(request):
    manager = request.config.pluginmanager
    assert manager.has_plugin("masivo")
    assert not manager.has_plugin("masivo-recorder")
    assert settings.get_current_profile_name() == "PROFILE"  # as the process had it
    assert not [n for n in request.fixturenames if "masivo" in n]  # no autouse of ours

@given(st.integers())
def test_a_hosts_property(n):
    assert n == n
"""


def test_the_user_plugin_is_inert_until_asked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        HOST_TESTS.replace("PROFILE", hypothesis_settings.get_current_profile_name())
    )
    result = pytester.runpytest("--masivo-base-url", "http://127.0.0.1:9/api")
    result.assert_outcomes(passed=2)
    help_text = pytester.runpytest("--help").stdout.str()
    assert "--masivo-base-url" in help_text
    assert "--masivo-requirement" not in help_text  # the suite's options are the session's


def test_a_violation_fails_a_users_test_with_its_requirement_and_reproducer(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        "import pytest\n"
        "@pytest.fixture\n"
        "def masivo_target(masivo_server):\n"
        '    return masivo_server(faults=["lowercase_status"]).target\n'
    )
    pytester.makepyfile(
        "def test_my_scenario(storefront):\n"
        "    customer = storefront.create_customer()\n"
        "    storefront.emit_purchase(customer)\n"
        "    assert storefront.evidence.violations\n"  # soft: the test went on
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "[GEN-4]" in out
    assert re.search(r"reproduce: (MASIVO_TOKEN=.*?; )?curl ", out), out
    assert "Traceback" not in out
