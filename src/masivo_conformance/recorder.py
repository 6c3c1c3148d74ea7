"""What a suite session found, test by test: requirement ids, outcome, first violation,
reproducer and request count, written as JSON for `masivo-conformance run` to read.

Registered by the plugin as an object, so each pytest session (the CLI may run several
in one process) has its own; on pytest-xdist it runs on the controller, where reports
arrive with their `user_properties`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.client import BudgetSpent, RequestBudget
from masivo_conformance.results import TestOutcome

__all__ = [
    "CLEANUP_NOTE",
    "RATE_LIMIT_WARNING",
    "RATE_NOTE",
    "Recorder",
    "load_outcomes",
    "requirement_ids",
]


def requirement_ids(item: pytest.Item) -> tuple[str, ...]:
    ids: list[str] = []
    for marker in item.iter_markers("requirement"):
        ids.extend(marker.args)
    return tuple(dict.fromkeys(ids))


_BUDGET_AT_START = pytest.StashKey[int]()
CLEANUP_NOTE = pytest.StashKey[str]()
RATE_NOTE = pytest.StashKey[str]()
RATE_LIMIT_WARNING = 100  # remaining requests below which a run says so in its report


def _budget_of(item: pytest.Item) -> RequestBudget | None:
    funcargs = getattr(item, "funcargs", {})
    budget = funcargs.get("masivo_budget")
    if budget is None and "masivo_client" in funcargs:
        budget = funcargs["masivo_client"].budget
    return budget if isinstance(budget, RequestBudget) else None


class Recorder:
    """Collects one outcome per test (on the xdist controller too, where reports arrive)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.outcomes: dict[str, TestOutcome] = {}
        self.requests = 0

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Tag each report with its requirement ids, reproducer and request count."""
        report = yield
        report.user_properties.append(("requirements", " ".join(requirement_ids(item))))
        if call.excinfo is not None:
            if call.excinfo.errisinstance(BudgetSpent):
                # The budget is not the test's fault: its requirements are "not run".
                report.outcome = "skipped"
                report.longrepr = (str(item.path), 0, f"not run: {call.excinfo.value}")
                item.session.shouldstop = str(call.excinfo.value)
            reproducer = getattr(call.excinfo.value, "reproducer", "")
            if reproducer:
                report.user_properties.append(("reproducer", reproducer))
        budget = _budget_of(item)
        if call.when == "setup":
            item.stash[_BUDGET_AT_START] = 0 if budget is None else budget.spent
        elif call.when == "teardown" and budget is not None:
            report.user_properties.append(
                ("requests", budget.spent - item.stash.get(_BUDGET_AT_START, 0))
            )
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        requests = props.get("requests", 0)
        self.requests += requests if isinstance(requests, int) else 0
        ids = tuple(str(props.get("requirements", "")).split())
        if not ids or (report.when != "call" and report.outcome == "passed"):
            return
        previous = self.outcomes.get(report.nodeid)
        if previous is not None and previous.outcome == "failed":
            return  # the first failure of a test is the one worth showing
        message = ""
        if report.outcome == "failed":
            crash = getattr(report.longrepr, "reprcrash", None)
            message = _readable(crash.message if crash is not None else str(report.longrepr))
        elif report.outcome == "skipped" and isinstance(report.longrepr, tuple):
            message = str(report.longrepr[2])
        self.outcomes[report.nodeid] = TestOutcome(
            report.nodeid,
            ids,
            report.outcome,
            message,
            str(props.get("reproducer", "")),
        )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        path = self.config.getoption("--masivo-results")
        if path is None or hasattr(self.config, "workerinput"):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "notes": [
                n
                for n in (
                    self.config.stash.get(CLEANUP_NOTE, ""),
                    self.config.stash.get(RATE_NOTE, ""),
                )
                if n
            ],
            "requests": self.requests,
            "outcomes": [o.__dict__ for o in self.outcomes.values()],
        }
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")


_EXCEPTION_PREFIX = re.compile(r"^(?:[\w.]+\.)?(?:ConformanceViolation|ViolationGroup): ")


def _readable(message: str) -> str:
    """A failure as a person reads it: no exception class, no repeated reproducer line
    (the reproducer is kept on its own), at most 4000 characters."""
    lines = [line for line in message.splitlines() if not line.strip().startswith("reproduce: ")]
    return _EXCEPTION_PREFIX.sub("", "\n".join(lines))[:4000]


def load_outcomes(path: Path) -> tuple[list[TestOutcome], int, list[str]]:
    """The outcomes, request count and notes a session wrote with --masivo-results."""
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    outcomes = [
        TestOutcome(**{**o, "requirements": tuple(o["requirements"])}) for o in raw["outcomes"]
    ]
    return outcomes, int(raw["requests"]), [str(n) for n in raw.get("notes", [])]
