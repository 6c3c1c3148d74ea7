"""The README's worked example of the pytest plugin: a team's project that passes.

examples/team_project/ runs as a team runs it: pytest in a process of its own (this
venv's python: the plugin comes from its `pytest11` entry point, as after `pip install`),
on a copy of the folder, against the reference server the plugin starts, then against
one with a fault on, where it must fail naming the requirement the fault breaks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.server.config import ServerConfig
from masivo_conformance.suite.plugin import VIOLATIONS_SECTION

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "team_project"
SHOWN = ("conftest.py", "test_loyalty.py")  # in README.md, whole
TESTS = ("test_a_reversed_purchase_gives_the_points_back", "test_a_standby_purchase_earns_once")


def test_the_readme_shows_the_example_as_it_is() -> None:
    readme = (REPO / "README.md").read_text()
    for name in SHOWN:
        assert f"```python\n{(EXAMPLE / name).read_text()}```\n" in readme, name


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "team_project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASIVO_", "PYTEST_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_the_example_passes_against_the_reference_server(tmp_path: Path) -> None:
    run = _run(tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    for name in TESTS:
        assert f"PASSED test_loyalty.py::{name}" in run.stdout


@pytest.mark.slow
def test_the_example_fails_naming_the_requirement_a_fault_breaks(
    tmp_path: Path, start_server: Any
) -> None:
    server = start_server(ServerConfig(faults=frozenset({"lowercase_status"})))  # GEN-4
    run = _run(
        tmp_path,
        *("--masivo-base-url", server.base_url),
        *("--masivo-api-key", server.api_key),
        *("--masivo-brand-id", server.brand_id),
    )
    out = run.stdout
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, out[-4000:] + run.stderr[-2000:]
    assert "2 failed" in out
    first, second = (out.index(f"_ {name}") for name in TESTS)
    for failure in (out[first:second], out[second:]):
        # The team's own assertion on the lower-case status failed, and under it is the
        # rule the answer broke, with a curl line that repeats the call.
        assert "AssertionError" in failure
        assert VIOLATIONS_SECTION in failure
        assert "[GEN-4]" in failure
        assert "is not one of" in failure
        assert "    reproduce: " in failure
    assert server.api_key not in out + run.stderr
    assert "Traceback" not in out + run.stderr
