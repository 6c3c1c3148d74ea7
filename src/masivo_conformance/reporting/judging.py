"""Verdicts from a team's own recordings: every recorded exchange judged by the suite's
checks, folded into the matrix `run` prints (`masivo-conformance judge`).

Each storefront exchange is one "test" of the fold (named `FILE#N`), so a finding says
which exchange showed it and carries the curl line of the recorded request. On it run:
every single-call check (`checks.CHECKS`, MUST and SHOULD, as `run` reports them; only
the status and header checks where the recorder kept no body), AUTH-2 at the time the
token was issued (`checks.recorded`), the refusals the team's own request obliged
(EMIT-2, PRV-6, REV-7), and the multi-call rules whose premise the file shows
(`checks.passive`, one file at a time: each file is its own recorded order). A request
that breaks its request schema is a `ClientFinding`: the team's, shown apart, charged to
no requirement.

Exit codes differ from `run`'s: a recording judges what it happens to show, so a
requirement it never touched is no failure of the server. 1 a MUST was violated; 3
nothing was, but a requirement the user required (`--require`, `--require-all`) was not
judged; 0 otherwise.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from masivo_conformance import __version__, checks
from masivo_conformance.checks import limits
from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Evidence, Finding, Verdict
from masivo_conformance.checks.passive import NO_PREMISE, judge_sequence
from masivo_conformance.checks.recorded import refusals, request_problem, token_when_issued
from masivo_conformance.checks.reproducers import curl_line
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.errors import EXIT_INCONCLUSIVE, EXIT_NONCONFORMANT, EXIT_OK
from masivo_conformance.recording.traffic import Exchange, Recording
from masivo_conformance.reporting.results import RequirementResult, RunResult, status_of
from masivo_conformance.scrub import excerpt

__all__ = [
    "NOT_JUDGED",
    "ClientFinding",
    "Coverage",
    "JudgedResult",
    "Judgement",
    "SequenceJudge",
    "TrafficJudge",
    "judge_traffic",
    "within",
]

# Where the recorder kept no body, only what status and headers show is judged.
_WITHOUT_BODY = ("no_server_error", "rate_limit_headers")
# AUTH-2 is judged at the time the token was issued (checks/recorded.py), not now.
_WITH_BODY = tuple(name for name in checks.CHECKS if name != "token_shape")
OUTSIDE_CONTRACT = "not a storefront operation (no path of the OpenAPI document)"
OUTSIDE_BASE = "outside --base-url"

#: Why a requirement judge does not judge (yet) is never shown by a recording.
NOT_JUDGED: dict[str, str] = {
    "AUTH-1": (
        "a recording cannot tell a missing or forged token from one its recorder filtered "
        "out; `masivo-conformance run` judges it"
    ),
    "EMIT-5": "judge does not follow redemptions through wallets yet; `run` judges it",
    "FUL-2": (
        "needs two identical customers, one emitted standby then fulfilled and one "
        "fulfilled at once; `run` judges it"
    ),
    "PRV-5": "judge does not know which rewards a customer could redeem; `run` judges it",
}
# Why a single-call rule found nothing to judge in traffic that has its operations.
_NO_CASE: dict[str, str] = {
    "GEN-2": "the recording has no 4xx answer (but 429)",
    "AUTH-2": "the recording has no authorize answered 200",
    "AUTH-3": "the recording has no authorize answered 200 with a token that has exp and iat",
    "EMIT-2": (
        "the recording has no emit without customer_id, brand_id or type, or with a "
        "member of the wrong type"
    ),
    "PRV-6": "the recording has no preview without customer_id, brand_id or order",
    "REV-3": "the recording has no reverse answered CANCELLED",
    "REV-7": "every recorded reverse carried a reason",
    "PRV-3": "the recording has no preview answered 200 that redeems",
}


@dataclass(frozen=True)
class ClientFinding:
    """A request the team's code sent that breaks the contract's request schema."""

    origin: str
    operation: str
    status: int
    message: str
    reproducer: str


@dataclass
class Coverage:
    """What the recordings held: files, exchanges, operations and status codes seen."""

    files: list[dict[str, Any]] = field(default_factory=list)
    # operation -> status code -> exchanges
    operations: dict[str, dict[str, int]] = field(default_factory=dict)
    without_body: int = 0  # exchanges judged on status and headers only
    others: list[str] = field(default_factory=list)  # files in folders that are no recording

    @property
    def exchanges(self) -> int:
        return sum(sum(codes.values()) for codes in self.operations.values())


@dataclass
class JudgedResult(RunResult):
    """A `RunResult` whose exit code is judge's (module docstring)."""

    required: list[str] = field(default_factory=list)

    @property
    def unchecked_binding(self) -> list[RequirementResult]:
        return [r for r in self.requirements if r.status == "not checked" and r.id in self.required]

    def exit_code(self) -> int:
        if self.failed_musts:
            return EXIT_NONCONFORMANT
        if self.unchecked_binding:
            return EXIT_INCONCLUSIVE
        return EXIT_OK


@dataclass
class Judgement:
    result: JudgedResult
    client: list[ClientFinding]
    coverage: Coverage


def within(url: str, base_url: str) -> bool:
    """Whether `url` is under `base_url` (scheme, host and path prefix; case-blind host)."""
    base = base_url.rstrip("/")
    head, _, _ = url.partition("?")
    return head.lower() == base.lower() or head.lower().startswith(base.lower() + "/")


def call_of(exchange: Exchange, breach: str = "") -> Call | None:
    """The exchange as a `Call`, or None outside the contract. An answer larger than the
    suite reads is cut and carries the breach GEN-3 judges, as in a live run (`breach`:
    one its reader found already, as the proxy does while it streams)."""
    text = exchange.response_text or ""
    if len(text) > limits.MAX_BODY_BYTES:
        text, breach = text[: limits.MAX_BODY_BYTES], limits.TOO_LARGE
    return Call.build(
        exchange.method,
        exchange.url,
        exchange.request_body,
        exchange.status,
        dict(exchange.response_headers),
        text,
        lambda: curl_line(
            exchange.method, exchange.url, exchange.request_headers, exchange.request_body
        ),
        breach=breach,
        sent_headers=(name for name, _ in exchange.request_headers),
    )


def _token_not_kept(call: Call) -> bool:
    """An authorize 2xx whose token is text of no JWT shape: a recorder's placeholder."""
    return (
        call.operation == "authorize"
        and 200 <= call.status < 300
        and isinstance(call.data, str)
        and call.data.count(".") != 2
    )


def _judge_exchange(exchange: Exchange, call: Call, evidence: Evidence) -> ClientFinding | None:
    recorded = exchange.response_text is not None
    names = _WITH_BODY if recorded else _WITHOUT_BODY
    if _token_not_kept(call):
        # The recorder replaced the token (`<redacted>`, as `record` and --scrub-to do):
        # authorize's schema would fail on the placeholder, not on the server.
        names = tuple(name for name in names if name != "response_schema")
    checks.judge_call(call, evidence, names)
    token = token_when_issued(call) if recorded else None
    if token is not None:
        evidence.expect(token)
    problem = request_problem(call)
    for verdict in refusals(call, problem):
        evidence.expect(verdict)
    if problem is None:
        return None
    return ClientFinding(
        exchange.origin,
        call.operation,
        call.status,
        excerpt(problem.message, 1000),
        call.reproducer,
    )


#: Where the multi-call rules of a live judge read a call's history: given the call just
#: judged and its label, the verdicts the rules now give, each with the label of the call
#: it belongs to (usually the new one; a rule may also speak of an earlier call).
SequenceJudge = Callable[[Call, str, tuple[float, float] | None], list[tuple[str, Verdict]]]


@dataclass
class _Row:
    """One requirement's running totals, as `results.fold` counts them."""

    held: int = 0
    violated: int = 0
    tests: int = 0
    findings: list[Finding] = field(default_factory=list)
    unjudged: str = ""  # the first reason an exchange gave for not judging it


class _Tallies:
    """`results.fold` of one outcome per exchange, kept as running totals, so a judge that
    sees exchanges without end holds counts, not outcomes. `kept` bounds the findings
    kept per requirement (None: every failing exchange's first, as fold keeps)."""

    def __init__(self, kept: int | None) -> None:
        self.kept = kept
        self.rows: dict[str, _Row] = {}
        self.exchanges = 0

    def add(self, origin: str, evidence: Evidence, *, new_exchange: bool = True) -> None:
        self.exchanges += new_exchange
        for requirement, tally in evidence.tallies.items():
            row = self.rows.setdefault(requirement, _Row())
            row.unjudged = row.unjudged or tally.unjudged
            if not (tally.held or tally.violated):
                continue
            row.tests += 1
            row.held, row.violated = row.held + tally.held, row.violated + tally.violated
            if tally.findings and (self.kept is None or len(row.findings) < self.kept):
                row.findings.append(replace(tally.findings[0], test=origin))

    def results(self) -> list[RequirementResult]:
        rows = []
        for req in catalogue():
            row = self.rows.get(req.id, _Row())
            rows.append(
                RequirementResult(
                    req.id,
                    req.level,
                    req.title,
                    status_of(row.held, row.violated),
                    held=row.held,
                    violated=row.violated,
                    tests=row.tests,
                    findings=tuple(row.findings),
                    requests=row.tests,  # one request per exchange
                )
            )
        return rows


@dataclass
class _Judged:
    origin: str
    call: Call
    evidence: Evidence
    span: tuple[float, float] | None


def _findings(origin: str, evidence: Evidence) -> list[Finding]:
    return [
        replace(finding, test=origin)
        for tally in evidence.tallies.values()
        for finding in tally.findings
    ]


class TrafficJudge:
    """Judges exchanges one at a time: `add(exchange)` returns the violations it showed
    at once, `judgement()` the verdicts so far. `judge_traffic` feeds it recordings, file
    by file (`add_recording`: the multi-call rules run over each whole file); the proxy
    feeds it live traffic with `sequences`, which judges each call against the history
    it keeps (proxy/windows.py), and `kept`, which bounds the findings and client findings
    kept, so that memory does not grow with the traffic."""

    def __init__(
        self,
        *,
        base_url: str = "",
        required: list[str] | None = None,
        others: list[str] | None = None,
        target: str = "",
        profile: str = "judge (recorded traffic)",
        sequences: SequenceJudge | None = None,
        kept: int | None = None,
    ) -> None:
        self.base_url = base_url
        self.profile = profile
        self.required = list(required or [])
        self.target = target
        self.coverage = Coverage(others=list(others or []))
        self.client: list[ClientFinding] = []
        self.client_count = 0
        self._sequences = sequences
        self._kept = kept
        self._tallies = _Tallies(kept)
        self._started = time.monotonic()
        # The file (or live session) being judged: its judged calls (a file's, until its
        # rules run), how many exchanges it had and why some were skipped.
        self._open: list[_Judged] = []
        self._seen = 0
        self._judged = 0
        self._skipped: Counter[str] = Counter()

    # -- feeding it -------------------------------------------------------------------------

    def add(self, exchange: Exchange, breach: str = "") -> list[Finding]:
        """Judge one exchange (`breach`: a bound of checks/limits.py its answer broke, as
        its reader found); the violations it showed now (with `sequences`, the
        multi-call rules' too; without, those come at `end_file`)."""
        self._seen += 1
        if self.base_url and not within(exchange.url, self.base_url):
            self._skipped[OUTSIDE_BASE] += 1
            return []
        call = call_of(exchange, breach)
        if call is None:
            self._skipped[OUTSIDE_CONTRACT] += 1
            return []
        evidence = Evidence()
        finding = _judge_exchange(exchange, call, evidence)
        if finding is not None:
            self.client_count += 1
            if self._kept is None or len(self.client) < self._kept:
                self.client.append(finding)
        codes = self.coverage.operations.setdefault(call.operation, {})
        codes[str(call.status)] = codes.get(str(call.status), 0) + 1
        self.coverage.without_body += exchange.response_text is None
        self._judged += 1
        if self._sequences is None:
            self._open.append(_Judged(exchange.origin, call, evidence, exchange.span))
            return _findings(exchange.origin, evidence)
        return self._judge_live(exchange.origin, call, evidence, exchange.span)

    def _judge_live(
        self, origin: str, call: Call, evidence: Evidence, span: tuple[float, float] | None
    ) -> list[Finding]:
        assert self._sequences is not None
        earlier: dict[str, Evidence] = {}
        for label, verdict in self._sequences(call, origin, span):
            target = evidence if label == origin else earlier.setdefault(label, Evidence())
            target.expect(verdict)
        self._tallies.add(origin, evidence)
        found = _findings(origin, evidence)
        for label, late in earlier.items():
            self._tallies.add(label, late, new_exchange=False)
            found += _findings(label, late)
        return found

    def add_recording(self, recording: Recording) -> list[Finding]:
        """Judge every exchange of one file, then the multi-call rules over the file."""
        self._skipped.update(recording.skipped)
        self._seen += sum(recording.skipped.values())
        found = [f for exchange in recording.exchanges for f in self.add(exchange)]
        return found + self.end_file(str(recording.path), recording.kind)

    def end_file(self, name: str, kind: str) -> list[Finding]:
        """The file `name` ends: without `sequences`, the multi-call rules run over it
        (its recorded order); its coverage is noted. The violations those rules showed."""
        judged, found = self._open, []
        if self._sequences is None:
            labels = [j.origin for j in judged]
            verdicts = judge_sequence([j.call for j in judged], labels, [j.span for j in judged])
            for index, verdict in verdicts:
                judged[index].evidence.expect(verdict)
                if verdict.violation is not None:
                    violation = verdict.violation
                    found.append(
                        Finding(
                            violation.requirement,
                            violation.detail,
                            violation.reproducer,
                            labels[index],
                        )
                    )
        for item in judged:
            self._tallies.add(item.origin, item.evidence)
        self.coverage.files.append(self._file_entry(name, kind))
        self._open, self._seen, self._judged, self._skipped = [], 0, 0, Counter()
        return found

    def _file_entry(self, name: str, kind: str) -> dict[str, Any]:
        return {
            "file": name,
            "kind": kind,
            "exchanges": self._seen,
            "judged": self._judged,
            "skipped": dict(self._skipped),
        }

    # -- reading it -------------------------------------------------------------------------

    def judgement(self, *, live: tuple[str, str] | None = None) -> Judgement:
        """The verdicts so far. `live` (name, kind) lists the traffic still coming as one
        more file of the coverage (the proxy's session)."""
        coverage = replace(
            self.coverage,
            files=[*self.coverage.files, *([self._file_entry(*live)] if live else [])],
            operations={op: dict(codes) for op, codes in self.coverage.operations.items()},
        )
        told = {req: row.unjudged for req, row in self._tallies.rows.items() if row.unjudged}
        rows = [_with_reason(row, told, coverage) for row in self._tallies.results()]
        result = JudgedResult(
            target=self.target,
            profile=self.profile,
            seed=None,
            strict=False,
            duration_s=round(time.monotonic() - self._started, 2),
            request_count=self._tallies.exchanges,
            requirements=rows,
            suite_version=__version__,
            notes=_notes(rows, self.client_count, len(self.client), coverage, self.required),
            requests_by_operation={
                op: sum(codes.values()) for op, codes in coverage.operations.items()
            },
            required=list(self.required),
        )
        return Judgement(result, list(self.client), coverage)


def judge_traffic(
    recordings: list[Recording],
    *,
    base_url: str = "",
    required: list[str] | None = None,
    others: list[str] | None = None,
) -> Judgement:
    """Judge every storefront exchange of `recordings` (module docstring)."""
    judge = TrafficJudge(
        base_url=base_url, required=required, others=others, target=_target(recordings)
    )
    for recording in recordings:
        judge.add_recording(recording)
    return judge.judgement()


def _target(recordings: list[Recording]) -> str:
    names = [str(r.path) for r in recordings]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"recorded traffic: {shown}"


def _with_reason(
    row: RequirementResult, told: dict[str, str], coverage: Coverage
) -> RequirementResult:
    """A row not checked, with the reason that holds for a recording (`told`: the first
    reason an exchange gave for not judging a requirement)."""
    if row.status != "not checked":
        return row
    if row.id in told:
        return replace(row, reason=told[row.id])
    if row.id in NOT_JUDGED:
        return replace(row, reason=NOT_JUDGED[row.id])
    operations = catalogue()[row.id].operations
    if not any(op in coverage.operations for op in operations):
        return replace(row, reason=f"the recording has no {' or '.join(operations)} exchange")
    if row.id in NO_PREMISE:
        return replace(row, reason=NO_PREMISE[row.id])
    return replace(
        row, reason=_NO_CASE.get(row.id, "no recorded exchange showed a case it speaks of")
    )


def _notes(
    rows: list[RequirementResult],
    client_count: int,
    client_kept: int,
    coverage: Coverage,
    required: list[str],
) -> list[str]:
    unchecked = [r.id for r in rows if r.status == "not checked" and r.is_must]
    notes = [
        "each test is one recorded exchange (FILE#N); exit 0 means no MUST was violated "
        f"in the traffic ({len(unchecked)} MUST requirement(s) not checked; --require ID or "
        "--require-all makes one that is not judged exit 3)"
    ]
    if client_count:
        notes.append(
            f"{client_count} request(s) of your own broke the request schemas: client "
            "findings, not charged to the server"
            + (f" (the first {client_kept} are listed)" if client_kept < client_count else "")
        )
    if coverage.without_body:
        notes.append(
            f"{coverage.without_body} answer(s) were recorded without a body: judged on "
            "status and headers only"
        )
    missing = [
        r for r in required if any(row.id == r and row.status == "not checked" for row in rows)
    ]
    if missing:
        notes.append(f"required but not judged: {', '.join(missing)}")
    return notes
