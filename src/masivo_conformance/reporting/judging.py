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
from dataclasses import dataclass, field, replace
from typing import Any

from masivo_conformance import __version__, checks
from masivo_conformance.checks import limits
from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.checks.passive import NO_PREMISE, judge_sequence
from masivo_conformance.checks.recorded import refusals, request_problem, token_when_issued
from masivo_conformance.checks.reproducers import curl_line
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.errors import EXIT_INCONCLUSIVE, EXIT_NONCONFORMANT, EXIT_OK
from masivo_conformance.recording.traffic import Exchange, Recording
from masivo_conformance.reporting.results import RequirementResult, RunResult, TestOutcome, fold
from masivo_conformance.scrub import excerpt

__all__ = [
    "NOT_JUDGED",
    "ClientFinding",
    "Coverage",
    "JudgedResult",
    "Judgement",
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
    "EMIT-3": "judge does not compare issued_at with the server's clock yet; `run` judges it",
    "EMIT-5": "judge does not follow redemptions through wallets yet; `run` judges it",
    "FUL-2": (
        "needs two identical customers, one emitted standby then fulfilled and one "
        "fulfilled at once; `run` judges it"
    ),
    "FUL-3": (
        "a recording cannot tell an unknown event id from one made before it began; `run` judges it"
    ),
    "FUL-5": "judge does not follow a second fulfil through wallets yet; `run` judges it",
    "REV-5": (
        "a recording cannot tell an unknown event id from one made before it began; `run` judges it"
    ),
    "REV-6": "needs concurrent reverses of one event; `run` judges it",
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


def call_of(exchange: Exchange) -> Call | None:
    """The exchange as a `Call`, or None outside the contract. An answer larger than the
    suite reads is cut and carries the breach GEN-3 judges, as in a live run."""
    text = exchange.response_text or ""
    breach = ""
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


def judge_traffic(
    recordings: list[Recording],
    *,
    base_url: str = "",
    required: list[str] | None = None,
    others: list[str] | None = None,
) -> Judgement:
    """Judge every storefront exchange of `recordings` (module docstring)."""
    started = time.monotonic()
    coverage = Coverage(others=others or [])
    outcomes: list[TestOutcome] = []
    client: list[ClientFinding] = []
    for recording in recordings:
        skipped = Counter(recording.skipped)
        judged: list[tuple[Exchange, Call, Evidence]] = []
        for exchange in recording.exchanges:
            if base_url and not within(exchange.url, base_url):
                skipped[OUTSIDE_BASE] += 1
                continue
            call = call_of(exchange)
            if call is None:
                skipped[OUTSIDE_CONTRACT] += 1
                continue
            evidence = Evidence()
            finding = _judge_exchange(exchange, call, evidence)
            if finding is not None:
                client.append(finding)
            judged.append((exchange, call, evidence))
            codes = coverage.operations.setdefault(call.operation, {})
            codes[str(call.status)] = codes.get(str(call.status), 0) + 1
            coverage.without_body += exchange.response_text is None
        labels = [exchange.origin for exchange, _, _ in judged]
        for index, verdict in judge_sequence([call for _, call, _ in judged], labels):
            judged[index][2].expect(verdict)
        outcomes += [
            TestOutcome(
                exchange.origin,
                (),
                "failed" if evidence.violations else "passed",
                evidence.to_dict(),
                requests=1,
            )
            for exchange, _, evidence in judged
        ]
        coverage.files.append(
            {
                "file": str(recording.path),
                "kind": recording.kind,
                "exchanges": len(recording.exchanges) + sum(recording.skipped.values()),
                "judged": len(judged),
                "skipped": dict(skipped),
            }
        )
    rows = [_with_reason(row, outcomes, coverage) for row in fold(catalogue(), outcomes)]
    result = JudgedResult(
        target=_target(recordings),
        profile="judge (recorded traffic)",
        seed=None,
        strict=False,
        duration_s=round(time.monotonic() - started, 2),
        request_count=len(outcomes),
        requirements=rows,
        suite_version=__version__,
        notes=_notes(rows, client, coverage, required or []),
        requests_by_operation={
            op: sum(codes.values()) for op, codes in coverage.operations.items()
        },
        required=list(required or []),
    )
    return Judgement(result, client, coverage)


def _target(recordings: list[Recording]) -> str:
    names = [str(r.path) for r in recordings]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"recorded traffic: {shown}"


def _with_reason(
    row: RequirementResult, outcomes: list[TestOutcome], coverage: Coverage
) -> RequirementResult:
    """A row not checked, with the reason that holds for a recording."""
    if row.status != "not checked":
        return row
    told = [
        str(o.evidence[row.id].get("unjudged", ""))
        for o in outcomes
        if row.id in o.evidence and o.evidence[row.id].get("unjudged")
    ]
    if told:
        return replace(row, reason=told[0])
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
    client: list[ClientFinding],
    coverage: Coverage,
    required: list[str],
) -> list[str]:
    unchecked = [r.id for r in rows if r.status == "not checked" and r.is_must]
    notes = [
        "each test is one recorded exchange (FILE#N); exit 0 means no MUST was violated "
        f"in the traffic ({len(unchecked)} MUST requirement(s) not checked; --require ID or "
        "--require-all makes one that is not judged exit 3)"
    ]
    if client:
        notes.append(
            f"{len(client)} request(s) of your own broke the request schemas: client "
            "findings, not charged to the server"
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
