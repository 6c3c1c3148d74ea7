"""Runs suite tests through pytest in this process and reads back what they found.

Used by the `run`, `record`, `replay` and `drift` commands: they differ only in which
tests they select and in the pytest options they add. The settings they resolved reach
the session as they are (`SuiteOptions`), never as flags to be parsed and resolved again.
"""

from __future__ import annotations

import contextlib
import gc
import io
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from masivo_conformance.errors import MasivoError, SettingsError
from masivo_conformance.reporting.results import TestOutcome
from masivo_conformance.suite.session import SuiteOptions, SuiteSession

__all__ = ["SUITE_PLUGIN", "SuiteRun", "pytest_config_args", "run_pytest", "suite_path"]

_PACKAGE = Path(__file__).resolve().parents[1]
# An installed wheel carries a copy of the suite's tests and of the pytest config, laid
# out as in a checkout (see [tool.hatch.build.targets.wheel] in pyproject.toml); a
# checkout or an editable install has no copy and uses its own root.
_SUITE_ROOTS = (_PACKAGE / "_suite", _PACKAGE.parents[1])
# The suite session's module: xdist workers build their session from it (the object that
# run_pytest hands over stays in this process). Not the user plugin: pytest loads that
# from its entry point, and naming it again would register it twice.
SUITE_PLUGIN = "masivo_conformance.suite.session"


def _suite_root() -> Path:
    """The folder holding the suite's `tests/` and the pytest config (`pyproject.toml`)."""
    for root in _SUITE_ROOTS:
        if (root / "tests" / "contract").is_dir() and (root / "pyproject.toml").is_file():
            return root
    raise SettingsError(
        "suite tests not found (looked in "
        + " and ".join(str(root / "tests") for root in _SUITE_ROOTS)
        + ")",
        "reinstall masivo-conformance, or run it from a complete checkout",
    )


def suite_path(*parts: str) -> Path:
    """A path under the suite's tests, in an installed wheel or in a checkout."""
    path = _suite_root().joinpath("tests", *parts)
    if not path.exists():
        raise SettingsError(
            f"suite tests not found at {path}",
            "reinstall masivo-conformance, or run it from a complete checkout",
        )
    return path


def pytest_config_args() -> list[str]:
    """Where pytest roots the suite and reads its config, and the suite plugin.

    The plugin is named here because an installed wheel has no root conftest.py to name
    it; in a checkout the conftest names it too, and pytest registers a module once.
    """
    root = _suite_root()
    return ["--rootdir", str(root), "-c", str(root / "pyproject.toml"), "-p", SUITE_PLUGIN]


@dataclass(frozen=True)
class SuiteRun:
    exit_code: int  # pytest's
    outcomes: list[TestOutcome]
    request_count: int
    duration_s: float
    output: str  # what pytest printed, when it was captured
    notes: list[str] = field(default_factory=list)  # cleanup and rate-limit remarks
    stopped: str = ""  # the target stopped answering mid-run: where and how
    refused: str = ""  # a step every scenario needs was refused: which, and the answer
    suspects: list[str] = field(default_factory=list)  # curl lines before an outage
    budget_spent: str = ""  # the request budget ran out: the message that said so
    requests_by_operation: dict[str, int] = field(default_factory=dict)
    # An amount was seen to move on the target in this run: what the tests staked on it
    # counts (`Evidence.settled`, at the fold).
    amounts_moved: bool = False


def run_pytest(
    paths: Sequence[Path], args: Sequence[str], options: SuiteOptions, *, quiet: bool = False
) -> SuiteRun:
    """Run pytest on `paths` with `args` as the suite session `options` describe; a usage
    or internal error is a MasivoError."""
    # The session's findings are read from it, in this process: no file between.
    session = SuiteSession(replace(options, results=None), thaw=False)
    argv = [
        *map(str, paths),
        *pytest_config_args(),
        # No assert rewriting: a verdict comes from evidence, never from an assert's
        # introspection, and rewriting every module of each installed plugin's
        # distribution (schemathesis alone has some 250) costs over a second of a
        # run wherever bytecode is not cached (PYTHONDONTWRITEBYTECODE, read-only
        # installs).
        "--assert=plain",
        # Plugins the suite's tests never use, not loaded (each costs start-up time):
        # anyio's (a dependency of the reference server), and pytest-recording's
        # (vcrpy) unless this run records or replays cassettes.
        *("-p", "no:anyio"),
        *(("-p", "no:recording") if options.cassettes is None else ()),
        *args,
    ]
    started = time.monotonic()
    captured = io.StringIO()
    redirect = contextlib.redirect_stdout(captured) if quiet else contextlib.nullcontext()
    with redirect:
        try:
            code = int(pytest.main(argv, plugins=[session]))
        finally:
            gc.unfreeze()  # after pytest's own end-of-run collections (see SuiteSession)
    duration = time.monotonic() - started
    recorder = session.recorder
    if (
        code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR)
        or recorder is None
        or not recorder.finished
    ):
        tail = captured.getvalue().strip().splitlines()[-1:] if quiet else []
        raise MasivoError(
            f"the test run could not start (pytest exit {code}{': ' + tail[0] if tail else ''})",
            "run again with -v to see pytest's own message",
        )
    found = recorder.record()
    if quiet:
        sys.stdout.flush()
    return SuiteRun(
        code,
        found.outcomes,
        found.requests,
        duration,
        captured.getvalue(),
        found.notes,
        found.stopped,
        found.refused,
        found.suspects,
        found.budget_spent,
        found.requests_by_operation,
        found.amounts_moved,
    )
