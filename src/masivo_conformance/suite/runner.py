"""Runs suite tests through pytest in this process and reads back what they found.

Used by the `run`, `record`, `replay` and `drift` commands: they differ only in which
tests they select and in the pytest options they add.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from masivo_conformance.errors import MasivoError, SettingsError
from masivo_conformance.reporting.results import TestOutcome
from masivo_conformance.suite.outcomes import load_outcomes

__all__ = ["SuiteRun", "project_root", "run_pytest", "suite_path"]

_ROOT = Path(__file__).resolve().parents[3]


def project_root() -> Path:
    return _ROOT


def suite_path(*parts: str) -> Path:
    """A path under the suite's tests; the suite runs from a checkout of the project."""
    path = _ROOT.joinpath("tests", *parts)
    if not path.exists():
        raise SettingsError(
            f"suite tests not found at {path}",
            "run masivo-conformance from a checkout of the project (pip install -e .)",
        )
    return path


@dataclass(frozen=True)
class SuiteRun:
    exit_code: int  # pytest's
    outcomes: list[TestOutcome]
    request_count: int
    duration_s: float
    output: str  # what pytest printed, when it was captured
    notes: list[str] = field(default_factory=list)  # cleanup and rate-limit remarks
    stopped: str = ""  # the target stopped answering mid-run: where and how
    budget_spent: str = ""  # the request budget ran out: the message that said so


def run_pytest(paths: Sequence[Path], args: Sequence[str], *, quiet: bool = False) -> SuiteRun:
    """Run pytest on `paths` with `args`; a usage or internal error is a MasivoError."""
    with tempfile.TemporaryDirectory(prefix="masivo-") as tmp:
        results = Path(tmp) / "outcomes.json"
        argv = [
            *map(str, paths),
            "--rootdir",
            str(_ROOT),
            "-c",
            str(_ROOT / "pyproject.toml"),
            "--masivo-results",
            str(results),
            # The CLI imported our modules before pytest could rewrite their asserts.
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
            *args,
        ]
        started = time.monotonic()
        captured = io.StringIO()
        redirect = contextlib.redirect_stdout(captured) if quiet else contextlib.nullcontext()
        with redirect:
            code = int(pytest.main(argv))
        duration = time.monotonic() - started
        if (
            code in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR)
            or not results.exists()
        ):
            tail = captured.getvalue().strip().splitlines()[-1:] if quiet else []
            raise MasivoError(
                f"the test run could not start (pytest exit {code}"
                f"{': ' + tail[0] if tail else ''})",
                "run again with -v to see pytest's own message",
            )
        found = load_outcomes(results)
    if quiet:
        sys.stdout.flush()
    return SuiteRun(
        code,
        found["outcomes"],
        int(found["requests"]),
        duration,
        captured.getvalue(),
        [str(n) for n in found.get("notes", [])],
        str(found.get("stopped", "")),
        str(found.get("budget_spent", "")),
    )
