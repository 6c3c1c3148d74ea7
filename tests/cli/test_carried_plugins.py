"""Installing masivo-conformance turns on no other plugin in a team's session
(suite/carried.py): the pytest plugins of Hypothesis, schemathesis and pytest-recording
are off unless the session asks for them, and on in the suite's own sessions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from masivo_conformance.suite.carried import CARRIED, SUITE_SESSION

# A team's test that says which of the carried plugins its session has on.
ACTIVE = """
CARRIED = {carried!r}

def test_carried_plugins_on(request):
    manager = request.config.pluginmanager
    on = sorted(n for n, p in manager.list_name_plugin() if p is not None and n in CARRIED)
    assert on == {expected!r}
"""

# Lazy strategies, evaluated in the test: Hypothesis warns when that happens while it
# still counts as starting up (the plugin turned off must still count out).
PROPERTY = """
from hypothesis import given, strategies as st

@given(st.lists(st.integers()).map(sorted))
def test_a_property_of_ours(xs):
    assert xs == sorted(xs)
"""


def _active(expected: list[str]) -> str:
    return ACTIVE.format(carried=set(CARRIED), expected=sorted(expected))


@pytest.mark.slow
def test_a_teams_session_has_none_of_them(tmp_path: Path) -> None:
    """As a team runs pytest: a process of its own, in a folder with only its tests."""
    (tmp_path / "test_ours.py").write_text(_active([]) + PROPERTY)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASIVO_", "PYTEST_"))}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error", "-rA"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-2000:]
    assert "2 passed" in out
    header = out[out.index("plugins:") :].splitlines()[0]
    assert "masivo-conformance" in header
    for distribution in ("hypothesis", "schemathesis", "recording"):
        assert f" {distribution}-" not in header  # off, so not listed either


@pytest.mark.parametrize(
    ("args", "ini", "on"),
    [
        pytest.param(["-p", "hypothesispytest"], "", ["hypothesispytest"], id="-p"),
        pytest.param(
            [], "addopts = -p recording -p schemathesis", ["recording", "schemathesis"], id="ini"
        ),
        pytest.param(["-p", SUITE_SESSION], "", list(CARRIED), id="suite-by-p"),
        pytest.param(["-p", "no:masivo"], "", list(CARRIED), id="masivo-off"),
    ],
)
def test_a_session_that_asks_keeps_them(
    pytester: pytest.Pytester, args: list[str], ini: str, on: list[str]
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(_active(on))
    pytester.runpytest_inprocess(*args).assert_outcomes(passed=1)


def test_the_suite_named_by_a_conftest_keeps_them(pytester: pytest.Pytester) -> None:
    """As this checkout's root conftest.py names the suite session."""
    pytester.makeconftest(f"pytest_plugins = [{SUITE_SESSION!r}]\n")
    pytester.makepyfile(_active(list(CARRIED)))
    pytester.runpytest_inprocess().assert_outcomes(passed=1)
