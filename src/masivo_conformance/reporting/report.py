"""Reports of a run and of a drift check: HTML for people, Markdown for CI, text for terminals.

`write_reports` puts `report.html`, `summary.md` (fit for `$GITHUB_STEP_SUMMARY`) and,
for curl lines too long to read, `reproducers/<id>-<n>.sh` in the report directory;
`write_drift_reports` writes `drift.html`, `drift.md` and `drift.json`. The pages are
Jinja2 templates (`templates/`). Failure messages quote server answers, so what a report shows is
redacted once (`redacted`) before it is cut, escaped or written anywhere.
"""

from __future__ import annotations

import platform
import re
import shlex
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from masivo_conformance.checks import sequences
from masivo_conformance.checks.reproducers import curl_command
from masivo_conformance.contract.catalogue import Source, catalogue, sources
from masivo_conformance.errors import (
    EXIT_CANNOT_RUN,
    EXIT_INCONCLUSIVE,
    EXIT_NONCONFORMANT,
    EXIT_OK,
)
from masivo_conformance.reporting.report_templates import (
    brief,
    environment,
    redacted,
    safe_target,
    terminal_text,
)
from masivo_conformance.reporting.results import RequirementResult, RunResult

if TYPE_CHECKING:  # drift's reports only: a run need not load vcrpy
    from masivo_conformance.recording.structure_diff import DriftReport

__all__ = [
    "EXIT_CODES",
    "REPRODUCER_DIR",
    "REPRODUCER_LIMIT",
    "drift_json",
    "render_drift_html",
    "render_drift_markdown",
    "render_drift_text",
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
DRIFT_JSON = "drift.json"
#: A curl line longer than this is written to a file and the reports point at it: a
#: 10,000-character line (a fuzzed body) buries the matrix and cannot be copied by eye.
REPRODUCER_LIMIT = 300
REPRODUCER_DIR = "reproducers"
_TERMINAL_PREVIEW = 160  # characters of a long curl line shown when no file is written
TERMINAL_MESSAGE_LINES = 12
# Failing tests shown per requirement in the terminal and the job summary, and open in
# report.html (which lists every one, the rest folded). One broken answer fails every
# test that reads it (26 tests for one lower-case enum): all open, they would bury the
# other requirements.
SHOWN_FINDINGS = 3
MARKDOWN_FINDINGS = 5
OPEN_SCENARIOS = 3  # a drift change seen in more scenarios lists them folded
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
_VERDICT_WORDS = {
    EXIT_OK: ("ok", "CONFORMANT"),
    EXIT_NONCONFORMANT: ("bad", "NONCONFORMANT"),
    EXIT_CANNOT_RUN: ("bad", "TARGET STOPPED ANSWERING"),
    EXIT_INCONCLUSIVE: ("none", "INCONCLUSIVE"),
}
_LEVEL_STATUSES = ("pass", "fail", "not checked", "accepted")
_TOOLS = ("schemathesis", "hypothesis", "pytest")


@dataclass(frozen=True)
class Headline:
    """The run's verdict in one sentence, as the report's first line shows it."""

    kind: str  # ok, warn, bad or none (inconclusive)
    sentence: str

    @property
    def icon(self) -> str:
        return _ICONS[self.kind]


def _row_class(result: RunResult, row: RequirementResult) -> str:
    """pass, fail, warn (a SHOULD that failed without --strict), not-checked or accepted."""
    if row.status == "fail" and not row.is_must and not result.strict:
        return "warn"
    return row.status.replace(" ", "-")


def _verdict(result: RunResult) -> Headline:
    count = Counter(r.status for r in result.requirements)
    musts, shoulds = len(result.failed_musts), len(result.failed_shoulds)
    code = result.exit_code()
    kind, word = _VERDICT_WORDS[code]
    if code == EXIT_OK and shoulds:
        kind, word = "warn", "CONFORMANT with warnings"
    warning = " (warnings only)" if shoulds and not result.strict else ""
    accepted = f", {count['accepted']} accepted" if count["accepted"] else ""
    errors = f", {len(result.errors)} test error(s)" if result.errors else ""
    return Headline(
        kind,
        f"{word} (exit {code}): {musts} MUST failed, {shoulds} SHOULD failed{warning}, "
        f"{count['pass']} passed, {count['not checked']} not checked{accepted}{errors} "
        f"({len(result.requirements)} requirements)",
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
    if seconds < 0.05:
        return "< 0.1 s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _versions(result: RunResult) -> str:
    """The suite's version and those of the tools that generated and ran the tests."""
    parts = [f"masivo-conformance {result.suite_version or 'unknown'}"]
    for tool in _TOOLS:
        try:
            parts.append(f"{tool} {version(tool)}")
        except PackageNotFoundError:  # pragma: no cover - installed with the suite
            continue
    return ", ".join([*parts, f"Python {platform.python_version()}"])


def _metadata(result: RunResult) -> list[tuple[str, str]]:
    return [
        ("Target", safe_target(result.target)),
        ("Started", result.started_at or "unknown"),
        ("Duration", _duration(result.duration_s)),
        ("Profile", result.profile),
        ("Seed", "none (derandomised)" if result.seed is None else str(result.seed)),
        ("Strict", "yes (SHOULD failures fail the run)" if result.strict else "no"),
        ("Requests", str(result.request_count)),
        ("Versions", _versions(result)),
        ("Exit code", f"{result.exit_code()}: {EXIT_CODES[result.exit_code()]}"),
    ]


# -- findings and their reproducers -----------------------------------------------------------


@dataclass(frozen=True)
class ShownFinding:
    """One failing test of a requirement as the reports show it."""

    test: str
    message: str
    reproducer: str  # the whole curl line, or "" when there is no request to repeat
    file: str = ""  # relative to the report folder, when the line is too long to show
    # The Python script that replays the test's calls up to the violation, relative to
    # the report folder ("" when no call trail was kept: fuzzing, replay).
    script: str = ""

    @property
    def length(self) -> str:
        return f"{len(self.reproducer):,}"

    @property
    def command(self) -> str:
        """What runs the reproducer from the report folder."""
        return f"sh {self.file}"

    @property
    def request(self) -> str:
        """`METHOD URL` of the curl line (the URL cut short), to say what the file repeats."""
        line = curl_command(self.reproducer)
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        method = words[words.index("-X") + 1] if "-X" in words[:-1] else ""
        url = next((w for w in words if w.startswith(("http://", "https://"))), "")
        url = url if len(url) <= 100 else f"{url[:100]}..."
        return f"{method} {url}".strip() or "the request"


def _file_name(requirement: str, n: int, suffix: str = ".sh") -> str:
    # Ids come from the catalogue, but a hand-edited result.json must not pick a path.
    return f"{REPRODUCER_DIR}/{re.sub(r'[^A-Za-z0-9_-]', '_', requirement)}-{n}{suffix}"


def _shown(row: RequirementResult) -> list[ShownFinding]:
    return [
        ShownFinding(
            f.test,
            f.message,
            f.reproducer,
            _file_name(row.id, n) if len(curl_command(f.reproducer)) > REPRODUCER_LIMIT else "",
            _file_name(row.id, n, ".py") if f.sequence and f.sequence.get("steps") else "",
        )
        for n, f in enumerate(row.findings, start=1)
    ]


def _failures(result: RunResult) -> list[RequirementResult]:
    return [r for r in result.requirements if r.status in ("fail", "accepted") and r.findings]


def _one_line(text: str) -> str:
    """Text for a shell comment: a newline in it would end the comment and run the rest."""
    return terminal_text(" ".join(text.split()))


def _reproducer_files(result: RunResult) -> dict[str, str]:
    """File name -> a shell script that repeats the request, for each long curl line,
    and a Python script that replays the sequence, for each finding with a call trail."""
    files = {}
    for row in _failures(result):
        for finding, raw in zip(_shown(row), row.findings, strict=True):
            if finding.script and raw.sequence:
                files[finding.script] = sequences.script(raw.sequence, row.title)
            if finding.file:
                files[finding.file] = (
                    "#!/bin/sh\n"
                    f"# {_one_line(row.id)} ({_one_line(row.level)}) {_one_line(row.title)}\n"
                    f"# failing test: {_one_line(finding.test)}\n"
                    "# Credentials come from $MASIVO_TOKEN and $MASIVO_API_KEY; "
                    "none is written here.\n"
                    f"{finding.reproducer}\n"
                )
    return files


# -- terminal ---------------------------------------------------------------------------------


def _terminal_reproducer(finding: ShownFinding, report_dir: Path | None) -> str:
    if not finding.reproducer:
        return "(no request to repeat: rerun the test)"
    if not finding.file:
        return terminal_text(finding.reproducer)
    if report_dir is not None:
        return (
            f"sh {report_dir / finding.file}  "
            f"(the full curl line: {finding.length} characters, {finding.request})"
        )
    return (
        f"{terminal_text(finding.reproducer[:_TERMINAL_PREVIEW])}... "
        f"(cut: {finding.length} characters; run with --report-dir DIR "
        "for the full reproducer in a file)"
    )


def _sequence_hint(finding: ShownFinding, report_dir: Path | None) -> str:
    if report_dir is None:
        return "run with --report-dir DIR for a script that replays the test's calls"
    return f"python3 {report_dir / finding.script}  (exit 1: the failure reproduces)"


def render_matrix(result: RunResult, report_dir: Path | None = None) -> str:
    """One line per requirement with its evidence, then each failing test with its curl
    line (a long one as the file `write_reports(result, report_dir)` writes), the test
    errors, and the verdict with its exit code."""
    result = redacted(result)
    lines = [
        f"{r.id:<7} {r.level:<6} {_STATUS_WORDS[_row_class(result, r)]:<14} "
        f"{terminal_text(_evidence(r))}"
        for r in result.requirements
    ]
    for row in _failures(result):
        shown = _shown(row)
        for finding in shown[:SHOWN_FINDINGS]:
            lines += ["", f"{row.id} ({row.level}) {row.status} in {terminal_text(finding.test)}:"]
            message = terminal_text(finding.message).splitlines() or ["(no message)"]
            lines += [f"  {line}" for line in message[:TERMINAL_MESSAGE_LINES]]
            if len(message) > TERMINAL_MESSAGE_LINES:
                lines.append(f"  ... ({len(message) - TERMINAL_MESSAGE_LINES} more lines)")
            lines.append(f"  reproduce: {_terminal_reproducer(finding, report_dir)}")
            if finding.script:
                lines.append(
                    f"  reproduce the whole sequence: {_sequence_hint(finding, report_dir)}"
                )
        if len(shown) > SHOWN_FINDINGS:
            where = (
                f"every one is in {report_dir / REPORT_HTML}"
                if report_dir is not None
                else "run with --report-dir DIR to see every one"
            )
            lines += [
                "",
                f"{row.id}: {len(shown) - SHOWN_FINDINGS} more failing test(s); {where}",
            ]
    if result.errors:
        lines += ["", "Test errors (charged to no requirement):"]
        lines += [f"  {terminal_text(e.test)}: {terminal_text(e.message)}" for e in result.errors]
    lines += [*(f"note: {terminal_text(n)}" for n in result.notes)]
    lines += ["", _verdict(result).sentence]
    return "\n".join(lines) + "\n"


# -- HTML and Markdown ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """A requirement's line of the matrix, with its catalogue text."""

    id: str
    level: str
    title: str
    kind: str
    status: str
    icon: str
    held: int
    violated: int
    tests: int
    requests: int
    duration: str
    evidence: str
    statement: str
    sources: list[Source]  # the catalogue's tags, each with its title and address
    findings: list[ShownFinding]


@dataclass(frozen=True)
class _Segment:
    kind: str
    word: str
    count: int
    width: str  # CSS percentage of the bar


@dataclass(frozen=True)
class _Bar:
    group: str
    total: int
    segments: list[_Segment]


def _rows(result: RunResult) -> list[_Row]:
    known = {requirement.id: requirement for requirement in catalogue()}
    cited = sources()
    rows = []
    for r in result.requirements:
        kind = _row_class(result, r)
        entry = known.get(r.id)
        rows.append(
            _Row(
                id=r.id,
                level=r.level,
                title=r.title,
                kind=kind,
                status=_STATUS_WORDS[kind],
                icon=_STATUS_ICONS[kind],
                held=r.held,
                violated=r.violated,
                tests=r.tests,
                requests=r.requests,
                duration=_duration(r.duration_s) if r.tests else "",
                evidence=_evidence(r),
                statement=entry.statement if entry else "",
                sources=[cited[tag] for tag in entry.sources if tag in cited] if entry else [],
                findings=_shown(r) if r.status in ("fail", "accepted") else [],
            )
        )
    return rows


def _bars(rows: list[_Row]) -> list[_Bar]:
    """Verdicts per requirement group (the id's prefix: GEN, AUTH, EMIT, ...)."""
    groups: dict[str, Counter[str]] = {}
    for row in rows:
        groups.setdefault(row.id.split("-", 1)[0], Counter())[row.kind] += 1
    return [
        _Bar(
            group,
            sum(count.values()),
            [
                _Segment(kind, word, count[kind], f"{100 * count[kind] / sum(count.values()):.2f}%")
                for kind, word in _STATUS_WORDS.items()
                if count[kind]
            ],
        )
        for group, count in groups.items()
    ]


def _operation_bars(counts: dict[str, int]) -> list[tuple[str, int, str]]:
    """(operation, requests, bar width): where the run's requests went, most first."""
    most = max(counts.values(), default=0)
    return [
        (operation, n, f"{100 * n / most:.2f}%")
        for operation, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _context(result: RunResult) -> dict[str, object]:
    """What the run templates show; `result` must already be redacted."""
    rows = _rows(result)
    count: Counter[tuple[str, str]] = Counter((r.level, r.status) for r in result.requirements)
    levels = dict.fromkeys(r.level for r in result.requirements)
    verdict = _verdict(result)
    return {
        "title": f"Masivo conformance: {verdict.sentence}",
        "verdict": verdict,
        "meta": _metadata(result),
        "notes": result.notes,
        "bars": _bars(rows),
        "operations": _operation_bars(result.requests_by_operation),
        "legend": list(_STATUS_WORDS.items()),
        "level_statuses": _LEVEL_STATUSES,
        "levels": [(level, [count[level, s] for s in _LEVEL_STATUSES]) for level in levels],
        "rows": rows,
        # Every source a row cites, once, in the order of schemas/sources.yaml.
        "sources": [s for s in sources().values() if any(s in row.sources for row in rows)],
        "failures": [row for row in rows if row.findings],
        "errors": result.errors,
        "exit_codes": list(EXIT_CODES.items()),
        "markdown_findings": MARKDOWN_FINDINGS,
        "open_findings": SHOWN_FINDINGS,
    }


def _render(template: str, context: dict[str, object]) -> str:
    return environment().get_template(template).render(context)


def render_html(result: RunResult) -> str:
    """The whole report as one self-contained HTML page (long reproducers as files)."""
    return _render(REPORT_HTML, _context(redacted(result)))


def render_markdown(result: RunResult) -> str:
    """A job summary: the verdict line first, then metadata, the matrix and the failures."""
    return _render(SUMMARY_MD, _context(redacted(result)))


# -- drift ------------------------------------------------------------------------------------


def _drift_verdict(report: DriftReport) -> Headline:
    if not report.differences:
        return Headline("ok", "No drift: every live answer has the recorded structure")
    return Headline(
        "bad" if report.breaking else "warn",
        f"{'BREAKING DRIFT' if report.breaking else 'Additive drift only'}: "
        f"{len(report.breaking)} breaking, {len(report.additive)} additive difference(s)",
    )


def _drift_counts(report: DriftReport) -> str:
    return (
        f"{len(report.differences)} difference(s) in {len(report.tests)} scenario(s), "
        f"{len(report.groups)} distinct change(s)"
    )


def render_drift_text(report: DriftReport) -> str:
    """One entry per change (kind at a JSON path), breaking first, with where it showed."""
    report = redacted(report)
    if not report.differences:
        return "No drift: every live answer has the recorded structure.\n"
    lines = []
    for g in report.groups:
        lines.append(
            f"{g.classification.upper():9} {terminal_text(g.path)}  {terminal_text(g.kind)}  "
            f"x{g.count} in {len(g.scenarios)} scenario(s)"
        )
        lines.append(f"          {terminal_text(g.descriptions[0])}")
        if len(g.descriptions) > 1:
            lines.append(f"          (and {len(g.descriptions) - 1} other variant(s))")
        lines.append(f"          requests: {terminal_text(brief(g.requests))}")
        lines.append(f"          scenarios: {terminal_text(brief(g.scenarios, shown=3))}")
    lines.append(
        f"{len(report.breaking)} breaking and {len(report.additive)} additive difference(s) "
        f"in {len(report.tests)} test(s), {len(report.groups)} distinct change(s)."
    )
    return "\n".join(lines) + "\n"


def _drift_context(report: DriftReport) -> dict[str, object]:
    verdict = _drift_verdict(report)
    return {
        "title": f"Masivo drift: {verdict.sentence}",
        "verdict": verdict,
        "counts": _drift_counts(report),
        "groups": report.groups,
        "open_scenarios": OPEN_SCENARIOS,
    }


def render_drift_markdown(report: DriftReport) -> str:
    return _render(DRIFT_MD, _drift_context(redacted(report)))


def render_drift_html(report: DriftReport) -> str:
    return _render(DRIFT_HTML, _drift_context(redacted(report)))


# -- files ------------------------------------------------------------------------------------


def _write(report_dir: Path, files: dict[str, str]) -> list[Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = report_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not redacted again as a whole: every value was, by `redacted`, before it was
        # escaped. A pass over the finished page would miss a secret that escaping
        # changed (`&` -> `&amp;`, `_` -> `\_`) and would put a raw `<redacted>` tag
        # into the HTML.
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_reports(result: RunResult, report_dir: Path) -> list[Path]:
    """Write report.html, summary.md and the long reproducers into `report_dir`."""
    result = redacted(result)
    context = _context(result)
    # A reused folder may hold the last run's scripts: none may pass for this run's.
    for stale in (
        *(report_dir / REPRODUCER_DIR).glob("*.sh"),
        *(report_dir / REPRODUCER_DIR).glob("*.py"),
    ):
        stale.unlink()
    return _write(
        report_dir,
        {
            REPORT_HTML: _render(REPORT_HTML, context),
            SUMMARY_MD: _render(SUMMARY_MD, context),
            **_reproducer_files(result),
        },
    )


def drift_json(report: DriftReport) -> str:
    """The drift report as JSON, redacted like every other artefact."""
    return redacted(report).to_json()


def write_drift_reports(report: DriftReport, report_dir: Path) -> list[Path]:
    """Write drift.html, drift.md and drift.json into `report_dir` (created if needed)."""
    report = redacted(report)
    context = _drift_context(report)
    return _write(
        report_dir,
        {
            DRIFT_HTML: _render(DRIFT_HTML, context),
            DRIFT_MD: _render(DRIFT_MD, context),
            DRIFT_JSON: report.to_json(),
        },
    )
