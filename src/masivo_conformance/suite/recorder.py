"""What a suite session found, test by test: the evidence each test recorded, how it
ended, its errors and request count, written as JSON for `masivo-conformance run`.

Registered by the suite session (suite/session.py) as an object, so each pytest session
(the CLI may run several in one process) has its own; on pytest-xdist it runs on the
controller, where reports arrive carrying the `masivo` attribute set here on the worker.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.checks.evidence import ConformanceViolation, Evidence
from masivo_conformance.errors import NoAnswer, TargetError, TargetStopped
from masivo_conformance.reporting.results import TestOutcome
from masivo_conformance.scrub import cut, excerpt, redact_reproducer, redact_text, scrub_json
from masivo_conformance.suite.client import ApiClient, BudgetSpent, RequestBudget
from masivo_conformance.suite.saved_traffic import saved_traffic, worker_name
from masivo_conformance.suite.storefront import CannotContinue, StepRefused

__all__ = [
    "AMOUNTS_MOVED",
    "CLEANUP_NOTE",
    "CONCURRENCY_NOTE",
    "EVIDENCE",
    "POOL_RUN",
    "RATE_NOTE",
    "Recorder",
    "SessionRecord",
    "ends_the_run",
    "judge_report",
    "one_line",
    "requirement_ids",
]

_BUDGET_AT_START = pytest.StashKey[int]()
CLEANUP_NOTE = pytest.StashKey[str]()
CONCURRENCY_NOTE = pytest.StashKey[str]()
#: A test's evidence, kept in its item's stash by the `masivo_evidence` fixture.
EVIDENCE = pytest.StashKey[Evidence]()
RATE_NOTE = pytest.StashKey[str]()
#: Whether an amount was seen to move on the target (the run's `EventLog.moved`).
AMOUNTS_MOVED = pytest.StashKey[bool]()
#: The overlapping run of a test (suite/concurrent_scenarios.py), set by its storefront.
POOL_RUN = pytest.StashKey[Any]()
_ERROR_LIMIT = 300
# What pytest prints and junit.xml keeps of one test: a target that answers megabytes must
# not make megabytes of log (the evidence keeps its own, shorter, quotes).
REPORT_TEXT_LIMIT = 20_000


def requirement_ids(item: pytest.Item) -> tuple[str, ...]:
    """What a test may judge, from its `requirement` and `explores` markers."""
    ids: list[str] = []
    for name in ("requirement", "explores"):
        for marker in item.iter_markers(name):
            ids.extend(marker.args)
    return tuple(dict.fromkeys(ids))


def one_line(exc: BaseException) -> str:
    """An exception as one line a person can act on: its type and first line."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return excerpt(f"{type(exc).__name__}: {first}", _ERROR_LIMIT).rstrip(": ")


def _budget_of(item: pytest.Item) -> RequestBudget | None:
    """The run's request budget, through whichever of its fixtures the test asked for."""
    funcargs = getattr(item, "funcargs", None) or {}
    client = funcargs.get("masivo_client") or getattr(funcargs.get("storefront"), "client", None)
    budget = funcargs.get("masivo_budget") or getattr(client, "budget", None)
    return budget if isinstance(budget, RequestBudget) else None


def _redact_report(report: pytest.TestReport) -> None:
    """The report as pytest prints it (terminal, junit.xml) without secrets or tokens.

    Done where the test ran, before the report is serialised: on pytest-xdist the
    controller that writes junit.xml never learns the tokens a worker was issued.
    """
    if isinstance(report.longrepr, tuple):  # a skip: (path, line, reason)
        path, line, reason = report.longrepr
        report.longrepr = (path, line, redact_text(reason))
    elif report.longrepr is not None:
        text = str(report.longrepr)
        clean = _printed(text)
        if clean != text:
            report.longrepr = clean
    report.sections = [(name, _printed(content)) for name, content in report.sections]


_REPRODUCE = re.compile(r"^(\s*reproduce: )(.*)$", re.MULTILINE)


def _printed(text: str) -> str:
    """What pytest may print of a test: redacted, its curl lines left whole or withheld
    (never edited inside their quoting), then cut to `REPORT_TEXT_LIMIT` characters."""
    parts, done = [], 0
    for line in _REPRODUCE.finditer(text):
        parts += [redact_text(text[done : line.start(2)]), redact_reproducer(line[2])]
        done = line.end(2)
    parts.append(redact_text(text[done:]))
    return cut("".join(parts), REPORT_TEXT_LIMIT)


def judge_report(report: pytest.TestReport, when: str, evidence: Evidence | None) -> None:
    """A test's report as the suite and the user plugin show it: a passed call that
    recorded violations fails with them, requirement id and reproducer first (they are
    soft: nothing raised), and no secret is left in what pytest prints."""
    if when == "call" and report.passed and evidence is not None and evidence.violations:
        report.outcome = "failed"
        report.longrepr = evidence.summary()
    _redact_report(report)


def ends_the_run(exc: BaseException) -> bool:
    """Whether a test that raised `exc` stops the run (`Recorder._ending` says how): the
    budget spent, a step every scenario needs refused, the target gone."""
    return isinstance(exc, BudgetSpent | StepRefused) or (
        isinstance(exc, TargetError) and not isinstance(exc, NoAnswer)
    )


def _is_transport(exc: BaseException) -> bool:
    """A request that got no answer from schemathesis's own HTTP stack (requests)."""
    module = type(exc).__module__
    return module.startswith(("requests.", "urllib3.")) and "Error" in type(exc).__name__


def _flaky() -> tuple[type[BaseException], ...]:
    """Hypothesis's Flaky, if a test of this session loaded Hypothesis (else no exception
    can be one): a budget run never imports it."""
    flaky = getattr(sys.modules.get("hypothesis.errors"), "Flaky", None)
    return (flaky,) if isinstance(flaky, type) and issubclass(flaky, BaseException) else ()


class Recorder:
    """Collects one outcome per test (on the xdist controller too, where reports arrive)."""

    def __init__(
        self, config: pytest.Config, results: Path | None = None, *, cassettes: bool = False
    ) -> None:
        self.config = config
        self.results = results  # where the controller writes the outcomes (None: nowhere)
        self.cassettes = cassettes  # the session records or replays cassettes
        self.outcomes: dict[str, TestOutcome] = {}
        self.stopped = ""  # the target stopped answering (first such message)
        self.refused = ""  # a step every scenario needs was refused (first such message)
        self.suspects: list[str] = []  # curl lines of the last requests before an outage
        self.budget_spent = ""
        self.worker_notes: list[str] = []  # notes the xdist workers sent back
        self.budget: RequestBudget | None = None  # this process's, once a test used it
        self.worker_requests: Counter[str] = Counter()  # per operation, from xdist workers
        self.worker_moved = False  # an xdist worker saw an amount move (AMOUNTS_MOVED)
        # This process's tests' evidence, redacted, from each phase's report to its outcome
        # (one object all the way; only an xdist worker sends it as data).
        self._evidence: dict[str, Evidence] = {}
        self.worker = hasattr(config, "workerinput")
        self.finished = False

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """Judge how the phase ended, and carry the test's evidence on its report."""
        report = yield
        evidence = item.stash.get(EVIDENCE, None)
        info: dict[str, Any] = {"requirements": list(requirement_ids(item))}
        excinfo = call.excinfo
        if excinfo is not None and not excinfo.errisinstance(pytest.skip.Exception):
            info.update(self._ending(item, report, excinfo.value, evidence))
        elif report.skipped and isinstance(report.longrepr, tuple):
            info["skip_reason"] = str(report.longrepr[2]).removeprefix("Skipped: ")
        judge_report(report, call.when, evidence)
        budget = _budget_of(item)
        self.budget = budget or self.budget
        if call.when == "setup":
            item.stash[_BUDGET_AT_START] = 0 if budget is None else budget.spent
        elif call.when == "teardown" and (run := item.stash.get(POOL_RUN, None)) is not None:
            info["requests"] = run.requests  # others' requests overlapped its own
        elif call.when == "teardown" and budget is not None:
            info["requests"] = budget.spent - item.stash.get(_BUDGET_AT_START, 0)
        # Messages quote the target's answers, which may hold a token: what leaves the
        # test (result.json, reports) is redacted here, where the test's secrets are known.
        if evidence is not None and self.worker:
            info["evidence"] = evidence.to_dict()  # to the controller, as data
        elif evidence is not None:
            self._evidence[report.nodeid] = evidence.redacted()
        report.masivo = scrub_json(info, fields=(), reproducers=True)  # type: ignore[attr-defined]  # carried to the xdist controller
        return report

    def _ending(
        self,
        item: pytest.Item,
        report: pytest.TestReport,
        exc: BaseException,
        evidence: Evidence | None,
    ) -> dict[str, Any]:
        """What an exception means: a violation (recorded), the budget, an outage, or an
        error of the test (never a requirement's)."""
        if isinstance(exc, BudgetSpent):
            # The budget is not the test's fault: what it had not judged is "not checked".
            report.outcome = "skipped"
            report.longrepr = (str(item.path), 0, f"not run: {exc}")
            item.session.shouldstop = str(exc)
            return {"skip_reason": f"not run: {exc}", "budget": str(exc)}
        if isinstance(exc, ConformanceViolation):
            if not exc.recorded and evidence is not None:
                evidence.violated(exc)
            return {}
        explained = evidence is not None and evidence.violations > 0
        if isinstance(exc, (CannotContinue, AssertionError, *_flaky())) and explained:
            return {}  # the scenario stopped on a violation it has already recorded
        if _is_transport(exc):
            client = (getattr(item, "funcargs", None) or {}).get("masivo_client")
            if isinstance(client, ApiClient):
                exc = client.silence(item.name, exc)  # type: ignore[arg-type]
        if isinstance(exc, StepRefused):
            # Every scenario needs this step: stop now, with one line, instead of
            # failing each test the same way.
            line = str(exc).splitlines()[0]
            self.refused = self.refused or line
            item.session.shouldstop = line
            return {"error": line, "refused": line}
        if isinstance(exc, TargetError) and not isinstance(exc, NoAnswer):
            # The target stopped answering (or never did): nothing after this can be judged.
            self.stopped = self.stopped or str(exc)
            item.session.shouldstop = str(exc)
            suspects = list(exc.suspects) if isinstance(exc, TargetStopped) else []
            self.suspects = self.suspects or suspects
            return {"error": str(exc), "stopped": str(exc), "suspects": suspects}
        return {"error": str(exc) if isinstance(exc, TargetError) else one_line(exc)}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        info: dict[str, Any] = getattr(report, "masivo", None) or {}
        if not info:
            return
        self.budget_spent = self.budget_spent or str(info.get("budget", ""))
        error = str(info.get("error", ""))
        self.stopped = self.stopped or str(info.get("stopped", ""))
        self.refused = self.refused or str(info.get("refused", ""))
        self.suspects = self.suspects or [str(s) for s in info.get("suspects", [])]
        previous = self.outcomes.get(report.nodeid)
        outcome = report.outcome
        if previous is not None and (previous.outcome == "failed" or outcome == "passed"):
            outcome = previous.outcome  # a passed teardown does not undo a failed call
        evidence = self._evidence.pop(report.nodeid, None)
        if evidence is None and "evidence" in info:  # an xdist worker's test
            evidence = Evidence.from_dict(info["evidence"])
        if evidence is None:
            evidence = previous.evidence if previous else Evidence()
        self.outcomes[report.nodeid] = TestOutcome(
            report.nodeid,
            tuple(info.get("requirements", ())),
            outcome,
            evidence,
            (previous.error if previous else "") or error,
            str(info.get("skip_reason", "")) or (previous.skip_reason if previous else ""),
            (previous.requests if previous else 0) + int(info.get("requests", 0)),
            (previous.duration_s if previous else 0.0) + report.duration,
        )

    def _own_notes(self) -> list[str]:
        keys = (CLEANUP_NOTE, RATE_NOTE, CONCURRENCY_NOTE)
        return [note for key in keys if (note := self.config.stash.get(key, ""))]

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """xdist controller: each worker cleaned up its own events and saw its own rate
        limits; its notes come back with the worker's output (see pytest_sessionfinish)."""
        worker = node.workerinput.get("workerid", "")
        for note in node.workeroutput.get("masivo_notes", []):
            self.worker_notes.append(f"{note} (worker {worker})" if worker else note)
        self.worker_requests.update(node.workeroutput.get("masivo_by_operation", {}))
        self.worker_moved = self.worker_moved or bool(node.workeroutput.get("masivo_moved"))
        judged = node.workeroutput.get("masivo_traffic")
        if judged:
            outcome = TestOutcome.from_wire(judged)
            self.outcomes[outcome.nodeid] = outcome

    def _by_operation(self) -> Counter[str]:
        own = self.budget.by_operation if self.budget is not None else Counter()
        return own + self.worker_requests

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        workeroutput = getattr(self.config, "workeroutput", None)
        replayed = self.cassettes and self.config.getoption("--record-mode", None) == "none"
        traffic = saved_traffic().judged(worker_name(), replayed=replayed)
        if workeroutput is not None:  # an xdist worker: hand the notes to the controller
            workeroutput["masivo_notes"] = self._own_notes()
            workeroutput["masivo_by_operation"] = dict(self._by_operation())
            workeroutput["masivo_moved"] = self.config.stash.get(AMOUNTS_MOVED, False)
            if traffic is not None:
                workeroutput["masivo_traffic"] = scrub_json(
                    traffic.to_wire(), fields=(), reproducers=True
                )
            return
        if traffic is not None:
            self.outcomes[traffic.nodeid] = replace(traffic, evidence=traffic.evidence.redacted())
        self.finished = True
        if self.results is not None:
            self.record().write(self.results)

    def record(self) -> SessionRecord:
        """What the session found, once it has finished (on the controller)."""
        by_operation = self._by_operation()
        # The outcomes were redacted test by test; what the session says of itself is
        # redacted here (an outage's message quotes the target, its suspects are curl lines).
        return SessionRecord(
            [o for o in self.outcomes.values() if o.requirements],
            # Every request the run's budgets let through (this process's and the
            # workers'), session set-up and cleanup included; per-test counts miss those.
            sum(by_operation.values()),
            dict(by_operation.most_common()),
            [redact_text(n) for n in self._own_notes() + sorted(self.worker_notes)],
            redact_text(self.stopped),
            redact_text(self.refused),
            [redact_reproducer(s) for s in self.suspects],
            redact_text(self.budget_spent),
            self.config.stash.get(AMOUNTS_MOVED, False) or self.worker_moved,
        )


@dataclass(frozen=True)
class SessionRecord:
    """What one suite session found: the outcomes, the requests, how it ended."""

    outcomes: list[TestOutcome]
    requests: int
    requests_by_operation: dict[str, int]
    notes: list[str]
    stopped: str = ""
    refused: str = ""
    suspects: list[str] = field(default_factory=list)
    budget_spent: str = ""
    amounts_moved: bool = False  # what the tests staked on the run counts (results.fold)

    def write(self, path: Path) -> None:
        """As JSON, for another process (`--masivo-results`): the one place the outcomes
        become data."""
        document = {**self.__dict__, "outcomes": [o.to_wire() for o in self.outcomes]}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(scrub_json(document, fields=(), reproducers=True), indent=1),
            encoding="utf-8",
        )

    @classmethod
    def read(cls, path: Path) -> SessionRecord:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{**raw, "outcomes": [TestOutcome.from_wire(o) for o in raw["outcomes"]]})
