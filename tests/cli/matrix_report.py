"""Prints the fault matrix rows that `matrix_row` records, at the end of the session.

A plugin of the root conftest rather than a hook of tests/cli/conftest.py: under
pytest-xdist the controller collects nothing, so only root-level plugins see the reports
that arrive from the workers.
"""

from __future__ import annotations

from typing import Any

import pytest

_ROWS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _ROWS.extend(str(v) for k, v in report.user_properties if k == "fault_matrix_row")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _ROWS:
        terminalreporter.section("fault matrix (fault -> requirement: charged to it alone?)")
        for row in sorted(_ROWS):
            terminalreporter.write_line(row)
