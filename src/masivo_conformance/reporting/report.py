"""Reports of a run and of a drift check: HTML for people, Markdown for CI, text for terminals.

`write_reports` puts `report.html` and `summary.md` (fit for `$GITHUB_STEP_SUMMARY`)
in the report directory; `write_drift_reports` does the same for drift. Failure
messages quote server answers, so every value is redacted and escaped on the way out
(see `report_templates`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from masivo_conformance.errors import (
    EXIT_CANNOT_RUN,
    EXIT_INCONCLUSIVE,
    EXIT_NONCONFORMANT,
    EXIT_OK,
)
from masivo_conformance.recording.changes import BREAKING
from masivo_conformance.recording.drift import Difference, DriftReport
from masivo_conformance.reporting.report_templates import (
    h,
    html_table,
    md_cell,
    md_code_block,
    md_table,
    md_text,
    page,
    safe_target,
    terminal_text,
)
from masivo_conformance.reporting.results import RequirementResult, RunResult
from masivo_conformance.scrub import redact_text

__all__ = [
    "render_drift_html",
    "render_drift_markdown",
    "render_html",
    "render_markdown",
    "render_matrix",
    "write_drift_reports",
    "write_reports",
]

REPORT_HTML = "report.html"
SUMMARY_MD = "summary.md"
DRIFT_HTML = "drift.html"
DRIFT_MD = "drift.md"
# A job summary holds at most 1 MiB; a server that answers with a whole page per failure
# must not push the matrix out of it. report.html keeps the full text.
MARKDOWN_MESSAGE_LIMIT = 3000
TERMINAL_MESSAGE_LINES = 12
_ICONS = {"ok": "✅", "warn": "⚠️", "bad": "❌", "none": "⚪"}
_STATUS_WORDS = {
    "pass": "pass",
    "fail": "fail",
    "warn": "fail (warning)",
    "not-checked": "not checked",
    "accepted": "accepted",
}
_STATUS_ICONS = {
    "pass": "✅ pass",
    "fail": "❌ fail",
    "warn": "⚠️ fail (warning)",
    "not-checked": "⚪ not checked",
    "accepted": "🔸 accepted",
}
#: exit code -> what it means; README, `run --help` and the reports list the same
EXIT_CODES = {
    EXIT_OK: "every MUST requirement was checked and held",
    EXIT_NONCONFORMANT: "a MUST requirement failed (or a SHOULD, with --strict)",
    EXIT_CANNOT_RUN: "the run could not happen, or the target stopped answering mid-run",
    EXIT_INCONCLUSIVE: "inconclusive: nothing failed, but a MUST was not checked or a test erred",
}


def _row_class(result: RunResult, row: RequirementResult) -> str:
    """pass, fail, warn (a SHOULD that failed without --strict), not-checked or accepted."""
    if row.status == "fail" and not row.is_must and not result.strict:
        return "warn"
    return row.status.replace(" ", "-")


_VERDICT_WORDS = {
    EXIT_OK: ("ok", "CONFORMANT"),
    EXIT_NONCONFORMANT: ("bad", "NONCONFORMANT"),
    EXIT_CANNOT_RUN: ("bad", "TARGET STOPPED ANSWERING"),
    EXIT_INCONCLUSIVE: ("none", "INCONCLUSIVE"),
}


def _verdict(result: RunResult) -> tuple[str, str]:
    """(kind, sentence): kind is ok, warn, bad or none (inconclusive)."""
    count = Counter(r.status for r in result.requirements)
    musts, shoulds = len(result.failed_musts), len(result.failed_shoulds)
    code = result.exit_code()
    kind, word = _VERDICT_WORDS[code]
    if code == EXIT_OK and shoulds:
        kind, word = "warn", "CONFORMANT with warnings"
    warning = " (warnings only)" if shoulds and not result.strict else ""
    accepted = f", {count['accepted']} accepted" if count["accepted"] else ""
    errors = f", {len(result.errors)} test error(s)" if result.errors else ""
    return kind, (
        f"{word} (exit {code}): {musts} MUST failed, {shoulds} SHOULD failed{warning}, "
        f"{count['pass']} passed, {count['not checked']} not checked{accepted}{errors} "
        f"({len(result.requirements)} requirements)"
    )


def _evidence(row: RequirementResult) -> str:
    """What a verdict rests on: `12 checks`, `2 of 14 checks violated`, or the reason."""
    if row.status == "not checked":
        return row.reason
    checks = row.held + row.violated
    text = f"{checks} check{'s' if checks != 1 else ''} in {row.tests} test(s)"
    if row.violated:
        text = f"{row.violated} of {text} violated"
    return f"{text}; accepted: {row.reason}" if row.status == "accepted" else text


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _metadata(result: RunResult) -> list[tuple[str, str]]:
    return [
        ("Target", safe_target(result.target)),
        ("Suite version", result.suite_version or "unknown"),
        ("Started", result.started_at or "unknown"),
        ("Profile", result.profile),
        ("Seed", "none (derandomised)" if result.seed is None else str(result.seed)),
        ("Strict", "yes (SHOULD failures fail the run)" if result.strict else "no"),
        ("Duration", _duration(result.duration_s)),
        ("Requests", str(result.request_count)),
        ("Exit code", f"{result.exit_code()}: {EXIT_CODES[result.exit_code()]}"),
    ]


def _failures(result: RunResult) -> list[RequirementResult]:
    return [r for r in result.requirements if r.status in ("fail", "accepted") and r.findings]


# -- terminal ---------------------------------------------------------------------------------


def render_matrix(result: RunResult) -> str:
    """One line per requirement with its evidence, then each failure with its curl line,
    the test errors, and the verdict with its exit code."""
    lines = [
        f"{r.id:<7} {r.level:<6} {_STATUS_WORDS[_row_class(result, r)]:<14} "
        f"{terminal_text(_evidence(r))}"
        for r in result.requirements
    ]
    for row in _failures(result):
        for finding in row.findings:
            lines += ["", f"{row.id} ({row.level}) {row.status} in {terminal_text(finding.test)}:"]
            message = terminal_text(finding.message).splitlines() or ["(no message)"]
            lines += [f"  {line}" for line in message[:TERMINAL_MESSAGE_LINES]]
            if len(message) > TERMINAL_MESSAGE_LINES:
                lines.append(f"  ... ({len(message) - TERMINAL_MESSAGE_LINES} more lines)")
            shown = terminal_text(finding.reproducer) or "(no request to repeat: rerun the test)"
            lines.append(f"  reproduce: {shown}")
    if result.errors:
        lines += ["", "Test errors (charged to no requirement):"]
        lines += [f"  {terminal_text(e.test)}: {terminal_text(e.message)}" for e in result.errors]
    lines += [*(f"note: {terminal_text(n)}" for n in result.notes)]
    lines += ["", _verdict(result)[1]]
    return "\n".join(lines) + "\n"


# -- Markdown ---------------------------------------------------------------------------------


def _shortened(text: str) -> str:
    if len(text) <= MARKDOWN_MESSAGE_LIMIT:
        return text
    cut = len(text) - MARKDOWN_MESSAGE_LIMIT
    return f"{text[:MARKDOWN_MESSAGE_LIMIT]}\n... ({cut} more characters in report.html)"


def render_markdown(result: RunResult) -> str:
    """A job summary: the verdict line first, then metadata, the matrix and the failures."""
    kind, sentence = _verdict(result)
    meta = _metadata(result)
    lines = [f"### {_ICONS[kind]} {md_text(sentence)}", ""]
    lines += md_table([k for k, _ in meta], [[md_cell(v) for _, v in meta]])
    lines += ["", *(f"* {md_text(note)}" for note in result.notes)] if result.notes else []
    lines += ["", "#### Requirements", ""]
    rows = [
        [
            md_cell(r.id),
            md_cell(r.level),
            _STATUS_ICONS[_row_class(result, r)],
            md_cell(_evidence(r)),
            md_cell(r.title),
        ]
        for r in result.requirements
    ]
    lines += md_table(["Id", "Level", "Status", "Evidence", "Title"], rows)
    failures = _failures(result)
    if failures:
        lines += ["", "#### Failures"]
    for row in failures:
        lines += ["", f"**{md_text(row.id)}** ({row.level}) {md_text(row.title)}"]
        for finding in row.findings:
            lines += ["", f"Test: {md_text(finding.test)}", ""]
            lines += [md_code_block(_shortened(redact_text(finding.message))), ""]
            if finding.reproducer:
                lines += ["Reproduce:", "", md_code_block(finding.reproducer, "sh")]
    if result.errors:
        lines += ["", "#### Test errors (charged to no requirement)", ""]
        lines += [f"* {md_text(e.test)}: {md_text(e.message)}" for e in result.errors]
    lines += ["", "#### Exit codes", ""]
    lines += [f"* `{code}`: {md_text(text)}" for code, text in EXIT_CODES.items()]
    return "\n".join(lines) + "\n"


# -- HTML -------------------------------------------------------------------------------------


def _html_matrix(result: RunResult) -> str:
    rows = []
    for r in result.requirements:
        kind = _row_class(result, r)
        ident = f'<a href="#failure-{h(r.id)}">{h(r.id)}</a>' if r.findings else h(r.id)
        rows.append(
            f'<tr class="{kind}"><td>{ident}</td><td class="level-{h(r.level)}">{h(r.level)}</td>'
            f'<td class="status">{_STATUS_WORDS[kind]}</td><td>{r.held}</td><td>{r.violated}</td>'
            f"<td>{r.tests}</td><td>{r.requests}</td><td>{h(_evidence(r))}</td>"
            f"<td>{h(r.title)}</td></tr>\n"
        )
    return html_table(
        ["Id", "Level", "Status", "Held", "Violated", "Tests", "Requests", "Evidence", "Title"],
        rows,
    )


_LEVEL_STATUSES = ("pass", "fail", "not checked", "accepted")


def _html_levels(result: RunResult) -> str:
    count: Counter[tuple[str, str]] = Counter((r.level, r.status) for r in result.requirements)
    levels = dict.fromkeys(r.level for r in result.requirements)
    rows = [
        f"<tr><td>{h(level)}</td>"
        + "".join(f"<td>{count[level, s]}</td>" for s in _LEVEL_STATUSES)
        + "</tr>\n"
        for level in levels
    ]
    return html_table(["Level", *_LEVEL_STATUSES], rows)


def _html_failure(row: RequirementResult) -> str:
    parts = [
        f'<section class="failure"><h3 id="failure-{h(row.id)}">{h(row.id)} ({h(row.level)}) '
        f"{h(row.title)}</h3>",
        f"<p>{h(_evidence(row))}</p>",
    ]
    for finding in row.findings:
        parts += [
            f"<p>In <code>{h(finding.test)}</code></p>",
            f'<pre class="message">{h(finding.message)}</pre>',
        ]
        if finding.reproducer:
            parts += [
                '<p class="hint">Reproduce (one click selects it):</p>',
                f'<pre class="reproducer"><code>{h(finding.reproducer)}</code></pre>',
            ]
    return "\n".join(parts) + "</section>\n"


def render_html(result: RunResult) -> str:
    """The whole report as one self-contained HTML page."""
    kind, sentence = _verdict(result)
    meta = "".join(f"<dt>{h(k)}</dt><dd>{h(v)}</dd>" for k, v in _metadata(result))
    meta += "".join(f"<dt>Note</dt><dd>{h(note)}</dd>" for note in result.notes)
    failures = _failures(result)
    body = [
        "<h1>Masivo conformance report</h1>",
        f'<p class="verdict {kind}">{h(sentence)}</p>',
        f'<dl class="meta">{meta}</dl>',
        "<h2>By level</h2>",
        _html_levels(result),
        "<h2>Requirements</h2>",
        _html_matrix(result),
    ]
    if failures:
        body += ["<h2>Failures</h2>", *(_html_failure(r) for r in failures)]
    if result.errors:
        items = "".join(f"<li><code>{h(e.test)}</code>: {h(e.message)}</li>" for e in result.errors)
        body += ["<h2>Test errors (charged to no requirement)</h2>", f"<ul>{items}</ul>"]
    codes = "".join(f"<dt>{code}</dt><dd>{h(text)}</dd>" for code, text in EXIT_CODES.items())
    body += ["<h2>Exit codes</h2>", f'<dl class="meta">{codes}</dl>']
    return page(f"Masivo conformance: {sentence}", "\n".join(body))


# -- drift ------------------------------------------------------------------------------------


def _drift_verdict(report: DriftReport) -> tuple[str, str]:
    if not report.differences:
        return "ok", "No drift: every live answer has the recorded structure"
    kind = "bad" if report.breaking else "warn"
    return kind, (
        f"{'BREAKING DRIFT' if report.breaking else 'Additive drift only'}: "
        f"{len(report.breaking)} breaking, {len(report.additive)} additive difference(s)"
    )


def _ordered(report: DriftReport) -> list[Difference]:
    """Breaking first (what the reader must act on), then by test as recorded."""
    return sorted(report.differences, key=lambda d: (d.classification != BREAKING, d.test))


_DRIFT_HEADERS = ["Class", "Test", "Request", "Path", "Kind", "Description"]


def render_drift_markdown(report: DriftReport) -> str:
    kind, sentence = _drift_verdict(report)
    lines = [f"### {_ICONS[kind]} {md_text(sentence)}"]
    if report.differences:
        rows = [
            [md_cell(v) for v in (d.classification, d.test, d.request, d.path, d.kind)]
            + [md_cell(d.description)]
            for d in _ordered(report)
        ]
        lines += ["", *md_table(_DRIFT_HEADERS, rows)]
    return "\n".join(lines) + "\n"


def render_drift_html(report: DriftReport) -> str:
    kind, sentence = _drift_verdict(report)
    body = ["<h1>Masivo drift report</h1>", f'<p class="verdict {kind}">{h(sentence)}</p>']
    if report.differences:
        rows = [
            f'<tr class="{h(d.classification)}"><td class="status">{h(d.classification)}</td>'
            f"<td>{h(d.test)}</td><td><code>{h(d.request)}</code></td>"
            f"<td><code>{h(d.path)}</code></td><td>{h(d.kind)}</td><td>{h(d.description)}</td>"
            "</tr>\n"
            for d in _ordered(report)
        ]
        body.append(html_table(_DRIFT_HEADERS, rows))
    return page(f"Masivo drift: {sentence}", "\n".join(body))


# -- files ------------------------------------------------------------------------------------


def _write(report_dir: Path, files: dict[str, str]) -> list[Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = report_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_reports(result: RunResult, report_dir: Path) -> list[Path]:
    """Write report.html and summary.md into `report_dir` (created if needed)."""
    return _write(
        report_dir, {REPORT_HTML: render_html(result), SUMMARY_MD: render_markdown(result)}
    )


def write_drift_reports(report: DriftReport, report_dir: Path) -> list[Path]:
    """Write drift.html and drift.md into `report_dir` (created if needed)."""
    return _write(
        report_dir, {DRIFT_HTML: render_drift_html(report), DRIFT_MD: render_drift_markdown(report)}
    )
