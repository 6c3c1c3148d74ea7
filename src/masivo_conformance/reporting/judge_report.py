"""What `judge` prints and writes: the matrix and reports of `run` (report.py), plus the
client's own findings and the coverage of the recording, in the terminal, report.html
(templates/judge.html extends report.html), summary.md (judge.md), junit.xml and
traffic.json. Everything shown is redacted first (`report_templates.redacted`), as in
every other report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from masivo_conformance.errors import EXIT_INCONCLUSIVE, EXIT_NONCONFORMANT, EXIT_OK
from masivo_conformance.reporting import junit, report
from masivo_conformance.reporting.judging import ClientFinding, JudgedResult, Judgement

# report.py's own pieces, so judge's pages are run's pages with sections added.
from masivo_conformance.reporting.report import (
    _context,
    _render,
    _reproducer_files,
    _write,
)
from masivo_conformance.reporting.report_templates import redacted, terminal_text
from masivo_conformance.scrub import redact_reproducer, scrub_json

__all__ = ["EXIT_CODES", "render_junit", "render_text", "write_judge_reports"]

#: judge's exit codes (they differ from run's: a recording judges what it shows).
EXIT_CODES = {
    EXIT_OK: "no MUST requirement was violated in the recorded traffic",
    EXIT_NONCONFORMANT: "a MUST requirement was violated in the recorded traffic",
    2: "an input could not be read (the line names the file and what is wrong)",
    EXIT_INCONCLUSIVE: "a requirement named by --require (or --require-all) was not judged",
}
SHOWN_CLIENT = 10  # client findings in the terminal; every one is in the reports


@dataclass(frozen=True)
class _Unjudged:
    id: str
    level: str
    reason: str


def _codes(codes: dict[str, int]) -> str:
    return ", ".join(f"{code} x{n}" for code, n in sorted(codes.items()))


def _skipped(skipped: dict[str, int]) -> str:
    return "; ".join(f"{n} {why}" for why, n in skipped.items()) or "none"


def render_text(judgement: Judgement, report_dir: Path | None, *, quiet: bool = False) -> str:
    """Coverage and client findings (not with `quiet`), then run's matrix."""
    lines: list[str] = []
    if not quiet:
        lines += _coverage_lines(judgement)
        lines += _client_lines(redacted(judgement.client), report_dir)
    return (
        "\n".join(lines)
        + ("\n\n" if lines else "")
        + report.render_matrix(judgement.result, report_dir)
    )


def _coverage_lines(judgement: Judgement) -> list[str]:
    coverage = redacted(judgement.coverage)
    files = coverage.files
    lines = [
        f"Recorded traffic: {len(files)} file(s), {coverage.exchanges} storefront "
        "exchange(s) judged"
    ]
    for entry in files:
        lines.append(
            f"  {terminal_text(entry['file'])} ({entry['kind']}): {entry['judged']} judged "
            f"of {entry['exchanges']}; skipped: {terminal_text(_skipped(entry['skipped']))}"
        )
    if coverage.others:
        lines.append(f"  not recordings, skipped: {terminal_text(', '.join(coverage.others[:5]))}")
    lines.append("Operations and status codes seen:")
    for operation, codes in sorted(coverage.operations.items()):
        lines.append(f"  {operation:<18} {_codes(codes)}")
    if not coverage.operations:
        lines.append("  none: no exchange was a storefront operation")
    return [*lines, ""]


def _client_lines(client: list[ClientFinding], report_dir: Path | None) -> list[str]:
    if not client:
        return ["Your requests: every recorded request matched its request schema.", ""]
    lines = [f"Your requests: {len(client)} client finding(s) (not charged to the server):"]
    for finding in client[:SHOWN_CLIENT]:
        lines.append(
            f"  {terminal_text(finding.origin)} {finding.operation} answered "
            f"{finding.status}: {terminal_text(finding.message)}"
        )
        if finding.reproducer:
            lines.append(f"    request: {terminal_text(redact_reproducer(finding.reproducer))}")
    if len(client) > SHOWN_CLIENT:
        where = (
            f"every one is in {report_dir / 'report.html'}"
            if report_dir
            else ("run with --report-dir DIR to see every one")
        )
        lines.append(f"  ... {len(client) - SHOWN_CLIENT} more; {where}")
    return [*lines, ""]


def _judge_context(judgement: Judgement) -> dict[str, object]:
    result = redacted(judgement.result)
    context = _context(result)
    meta = [
        (name, value)
        for name, value in context["meta"]  # type: ignore[attr-defined]
        if name not in ("Seed", "Strict", "Exit code", "Requests")
    ]
    code = result.exit_code()
    coverage = redacted(judgement.coverage)
    context.update(
        meta=[
            *meta,
            ("Exchanges judged", str(result.request_count)),
            ("Exit code", f"{code}: {EXIT_CODES[code]}"),
        ],
        exit_codes=list(EXIT_CODES.items()),
        client=redacted(judgement.client),
        files=[{**f, "skipped": _skipped(f["skipped"])} for f in coverage.files],
        status_codes=[(op, _codes(codes)) for op, codes in sorted(coverage.operations.items())],
        unjudged=[
            _Unjudged(r.id, r.level, r.reason)
            for r in result.requirements
            if r.status == "not checked"
        ],
    )
    return context


def render_junit(result: JudgedResult, client: list[ClientFinding]) -> str:
    """One testcase per requirement (junit.py); the client findings go to the suite's
    system-out: they fail nothing of the server's."""
    return junit.render_junit(
        result,
        "masivo-conformance judge",
        "\n".join(
            f"client finding {f.origin} ({f.operation}, answered {f.status}): {f.message}"
            for f in redacted(client)
        )
        or "no client findings",
    )


def traffic_json(judgement: Judgement) -> str:
    """The coverage and the client findings as JSON (result.json has the verdicts)."""
    data: dict[str, Any] = {
        "coverage": {**asdict(judgement.coverage), "exchanges": judgement.coverage.exchanges},
        "client_findings": [asdict(f) for f in judgement.client],
    }
    return json.dumps(scrub_json(data, fields=(), reproducers=True), indent=2)


def write_judge_reports(
    judgement: Judgement, report_dir: Path, junit: Path | None = None
) -> list[Path]:
    """report.html, summary.md, result.json, junit.xml, traffic.json and the long
    reproducers into `report_dir`; junit.xml also (or only) at `junit`."""
    result = redacted(judgement.result)
    context = _judge_context(judgement)
    for stale in (report_dir / report.REPRODUCER_DIR).glob("*.sh"):
        stale.unlink()
    written = _write(
        report_dir,
        {
            "report.html": _render("judge.html", context),
            "summary.md": _render("judge.md", context),
            "result.json": result.to_json(),
            "junit.xml": render_junit(judgement.result, judgement.client),
            "traffic.json": traffic_json(judgement),
            **_reproducer_files(result),
        },
    )
    if junit is not None:
        written.append(write_junit(judgement, junit))
    return written


def write_junit(judgement: Judgement, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_junit(judgement.result, judgement.client), encoding="utf-8")
    return path
