"""Reports: the terminal matrix, the job summary and the HTML page, for runs and drift."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from masivo_conformance.changes import Classification
from masivo_conformance.drift import Difference, DriftReport
from masivo_conformance.report import (
    render_drift_html,
    render_drift_markdown,
    render_html,
    render_markdown,
    render_matrix,
    write_drift_reports,
    write_reports,
)
from masivo_conformance.requirements import catalogue
from masivo_conformance.results import (
    RequirementResult,
    RunResult,
    TestOutcome,
    Violation,
    fold,
)
from masivo_conformance.scrub import clear_secrets, register_secret

API_KEY = "mk_dev_5e3cr3t_k3y_123456"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjdXN0In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
CURL = (
    "curl -sS -X POST 'https://app.masivo.ai/api/storefront/v1/events/ev-1/reverse' "
    "-H \"Authorization: Bearer $MASIVO_TOKEN\" -H 'Content-Type: application/json' "
    '--data-raw \'{"reason": "a|b"}\''
)


@pytest.fixture(autouse=True)
def secrets_registry() -> Iterator[None]:
    clear_secrets()
    register_secret(API_KEY)
    yield
    clear_secrets()


def violation(rid: str, message: str, reproducer: str = CURL) -> Violation:
    return Violation(rid, message, f"tests/suite/test_x.py::test_{rid.lower()}", reproducer)


def run_result(rows: list[RequirementResult], *, strict: bool = False) -> RunResult:
    return RunResult(
        target="https://app.masivo.ai/api/storefront/v1",
        profile="ci",
        seed=4242,
        strict=strict,
        duration_s=75.4,
        request_count=318,
        requirements=rows,
        suite_version="0.1.0",
        notes=["request budget of 400 spent; 2 tests not run"],
    )


def mixed_result(*, strict: bool = False) -> RunResult:
    return run_result(
        [
            RequirementResult("GEN-1", "MUST", "success envelope", "pass", tests=4),
            RequirementResult(
                "REV-2",
                "MUST",
                "reverse restores the wallet",
                "fail",
                tests=2,
                failed=1,
                violation=violation("REV-2", "REV-2: points total 90, expected 100"),
            ),
            RequirementResult(
                "REV-7",
                "SHOULD",
                "reverse needs a reason",
                "fail",
                tests=1,
                failed=1,
                violation=violation("REV-7", "REV-7: reverse without reason answered 200", ""),
            ),
            RequirementResult("PRV-7", "SHOULD", "discount percent consistent", "not run"),
        ],
        strict=strict,
    )


def hostile_result() -> RunResult:
    """A failure whose message carries markup, pipes, fences and every kind of secret."""
    message = (
        "GEN-2: body was <script>alert('x')</script> | not JSON\n"
        f"```\nsent x-api-key {API_KEY}\nAuthorization: Bearer {JWT}\n\x1b[31mred\x1b[0m"
    )
    row = RequirementResult(
        "GEN-2",
        "MUST",
        "error | envelope",
        "fail",
        tests=1,
        failed=1,
        violation=violation("GEN-2", message, f"{CURL} -H 'x-api-key: {API_KEY}'"),
    )
    result = run_result([row])
    result.notes.append(f"token {JWT} <b>bold</b>")
    return result


# -- terminal matrix --------------------------------------------------------------------------


def test_render_matrix_lists_each_requirement_on_one_line() -> None:
    lines = render_matrix(mixed_result()).splitlines()
    assert re.fullmatch(r"GEN-1\s+MUST\s+pass\s+success envelope", lines[0])
    assert re.fullmatch(r"REV-2\s+MUST\s+fail\s+reverse restores the wallet", lines[1])
    assert re.fullmatch(r"REV-7\s+SHOULD\s+fail\s+reverse needs a reason", lines[2])
    assert re.fullmatch(r"PRV-7\s+SHOULD\s+not run\s+discount percent consistent", lines[3])


def test_render_matrix_shows_each_failure_with_its_curl_line() -> None:
    text = render_matrix(mixed_result())
    block = text.split("REV-2 (MUST) failed in tests/suite/test_x.py::test_rev-2:", 1)[1]
    assert "REV-2: points total 90, expected 100" in block
    assert f"reproduce: {CURL}" in block
    assert "REV-7 (SHOULD) failed in" in text
    assert "(no request to repeat" in text.split("REV-7 (SHOULD)", 1)[1]


@pytest.mark.parametrize(
    ("strict", "verdict"),
    [
        (
            False,
            "NONCONFORMANT: 1 MUST failed, 1 SHOULD failed (warnings only), 1 passed, 1 not run",
        ),
        (True, "NONCONFORMANT: 1 MUST failed, 1 SHOULD failed, 1 passed, 1 not run"),
    ],
)
def test_render_matrix_ends_with_the_verdict_and_counts(strict: bool, verdict: str) -> None:
    last = render_matrix(mixed_result(strict=strict)).splitlines()[-1]
    assert last.startswith(verdict)
    assert last.endswith("(4 requirements)")


def test_verdict_of_a_should_failure_alone_depends_on_strict() -> None:
    rows = [r for r in mixed_result().requirements if r.id != "REV-2"]
    lenient, strict = run_result(rows), run_result(rows, strict=True)
    assert render_matrix(lenient).splitlines()[-1].startswith("CONFORMANT with warnings")
    assert lenient.exit_code() == 0
    assert render_matrix(strict).splitlines()[-1].startswith("NONCONFORMANT")


def test_verdict_says_nothing_was_checked_when_nothing_ran() -> None:
    rows = [RequirementResult("GEN-1", "MUST", "success envelope", "not run")]
    assert render_matrix(run_result(rows)).splitlines()[-1].startswith("NOTHING CHECKED")


def test_verdict_is_conformant_when_everything_ran_and_passed() -> None:
    rows = [RequirementResult("GEN-1", "MUST", "success envelope", "pass", tests=1)]
    assert render_matrix(run_result(rows)).splitlines()[-1].startswith("CONFORMANT: 0 MUST")


def test_render_matrix_strips_terminal_control_characters() -> None:
    text = render_matrix(hostile_result())
    assert "\x1b" not in text
    assert "?[31mred" in text


# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "render",
    [render_matrix, render_markdown, render_html],
    ids=["matrix", "markdown", "html"],
)
def test_reports_never_contain_secrets(render: object) -> None:
    assert callable(render)
    text = render(hostile_result())
    assert API_KEY not in text
    assert JWT not in text
    assert "eyJ" not in text
    assert "redacted" in text


def test_report_target_drops_credentials_in_the_url() -> None:
    result = mixed_result()
    result.target = "https://ci:hunter2pass@mock.example.test:8443/api/storefront/v1"
    for text in (render_html(result), render_markdown(result)):
        assert "hunter2pass" not in text
        assert "https://mock.example.test:8443/api/storefront/v1" in text


# -- HTML -------------------------------------------------------------------------------------


class _Page(HTMLParser):
    """Collects what the tests look at: open tags, row classes, attributes, text by tag."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[tuple[str, list[str]]] = []
        self.pre: dict[str, list[str]] = {}
        self._pre_class: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "tr":
            self.rows.append((attributes.get("class") or "", []))
        if tag == "pre":
            self._pre_class = attributes.get("class") or ""
            self.pre.setdefault(self._pre_class, []).append("")

    def handle_endtag(self, tag: str) -> None:
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack.pop() == tag, f"</{tag}> closes another element"
        if tag == "pre":
            self._pre_class = None

    def handle_data(self, data: str) -> None:
        if "td" in self.stack and self.rows:
            self.rows[-1][1].append(data)
        if self._pre_class is not None:
            self.pre[self._pre_class][-1] += data


def parse(document: str) -> _Page:
    page = _Page()
    page.feed(document)
    page.close()
    assert page.stack == [], f"unclosed elements {page.stack}"
    return page


def test_html_report_is_self_contained() -> None:
    document = render_html(mixed_result())
    page = parse(document)
    assert document.startswith("<!DOCTYPE html>")
    assert "<style>" in document
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "img", "iframe"}
    for _, attributes in page.tags:
        for name in ("src", "href"):
            value = attributes.get(name)
            assert value is None or value.startswith("#"), f"{name}={value} leaves the page"
    assert "url(" not in document
    assert "@import" not in document


def test_html_matrix_styles_each_status() -> None:
    page = parse(render_html(mixed_result()))
    matrix = {cells[0]: (css, cells) for css, cells in page.rows if cells and "-" in cells[0]}
    assert matrix["GEN-1"][0] == "pass"
    assert matrix["REV-2"][0] == "fail"
    assert matrix["REV-7"][0] == "warn"  # a SHOULD failure without --strict
    assert matrix["PRV-7"][0] == "not-run"
    assert matrix["REV-2"][1][1:3] == ["MUST", "fail"]
    strict = parse(render_html(mixed_result(strict=True)))
    assert ("fail", ["REV-7", "SHOULD", "fail", "1", "1", "reverse needs a reason"]) in strict.rows


def test_html_failure_has_message_and_copyable_reproducer() -> None:
    document = render_html(mixed_result())
    page = parse(document)
    assert "REV-2: points total 90, expected 100" in page.pre["message"]
    assert page.pre["reproducer"] == [CURL]  # REV-7 had no request, so no block
    assert 'href="#failure-REV-2"' in document
    assert 'id="failure-REV-2"' in document
    assert "user-select: all" in document


def test_html_shows_run_metadata() -> None:
    document = render_html(mixed_result())
    for value in (
        "https://app.masivo.ai/api/storefront/v1",
        "0.1.0",
        "4242",
        "1 min 15 s",
        "318",
        "request budget of 400 spent; 2 tests not run",
    ):
        assert f"<dd>{value}</dd>" in document
    assert "<dt>Profile</dt><dd>ci</dd>" in document


def test_html_escapes_server_text() -> None:
    document = render_html(hostile_result())
    page = parse(document)
    assert "<script>" not in document
    assert "<b>bold</b>" not in document
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in document
    assert "<script>alert('x')</script>" in page.pre["message"][0]


# -- Markdown ---------------------------------------------------------------------------------

_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def fenced_blocks(markdown: str) -> tuple[list[tuple[str, str]], str]:
    """(info, content) of each fenced block as CommonMark reads them, and the text outside."""
    blocks: list[tuple[str, str]] = []
    outside: list[str] = []
    fence: str | None = None
    info, content = "", list[str]()
    for line in markdown.splitlines():
        if fence is None:
            opening = re.fullmatch(r"(`{3,})(\w*)", line)
            if opening:
                fence, info, content = opening.group(1), opening.group(2), []
            else:
                outside.append(line)
        elif re.fullmatch(rf"`{{{len(fence)},}}", line):
            blocks.append((info, "\n".join(content)))
            fence = None
        else:
            content.append(line)
    assert fence is None, "a fenced block is never closed"
    return blocks, "\n".join(outside)


def table_rows(markdown: str, header_start: str) -> list[str]:
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_markdown_starts_with_a_short_verdict_line() -> None:
    first, *_ = render_markdown(mixed_result()).splitlines()
    assert first.startswith("### ❌ NONCONFORMANT: 1 MUST failed")
    assert len(first) < 200
    conformant = run_result([RequirementResult("GEN-1", "MUST", "x", "pass", tests=1)])
    assert render_markdown(conformant).startswith("### ✅ CONFORMANT")


def test_markdown_matrix_has_one_row_per_requirement() -> None:
    text = render_markdown(mixed_result())
    rows = table_rows(text, "| Id |")
    assert [row.split("|")[1].strip() for row in rows] == ["GEN-1", "REV-2", "REV-7", "PRV-7"]
    assert "❌ fail" in rows[1]
    assert "⚠️ fail (warning)" in rows[2]
    assert "not run" in rows[3]
    meta = table_rows(text, "| Target |")
    assert "4242" in meta[0]
    assert "318" in meta[0]


def test_markdown_table_cells_escape_pipes() -> None:
    text = render_markdown(hostile_result())
    (row,) = table_rows(text, "| Id |")
    assert len(_UNESCAPED_PIPE.findall(row)) == 6  # five columns, whatever the title holds
    assert "error \\| envelope" in row


def test_markdown_failures_are_in_code_blocks_that_text_cannot_close() -> None:
    text = render_markdown(hostile_result())
    blocks, outside = fenced_blocks(text)
    messages = [content for info, content in blocks if info == "text"]
    assert len(messages) == 1
    assert "```\nsent x-api-key" in messages[0]
    assert "<script>" in messages[0]  # literal inside a code block, so harmless
    assert "<script>" not in outside
    assert "bold" in outside
    assert "<b>" not in outside


def test_markdown_reproducer_is_a_shell_block() -> None:
    blocks, _ = fenced_blocks(render_markdown(mixed_result()))
    assert ("sh", CURL) in blocks
    assert [info for info, _ in blocks].count("sh") == 1  # REV-7 had no request


def test_markdown_shortens_huge_messages() -> None:
    huge = "REV-2: " + "x" * 20_000
    row = RequirementResult("REV-2", "MUST", "t", "fail", 1, 1, violation("REV-2", huge))
    text = render_markdown(run_result([row]))
    assert len(text) < 6_000
    assert "more characters in report.html" in text
    assert huge in render_html(run_result([row]))


def test_reports_cover_a_folded_catalogue() -> None:
    requirements = catalogue()
    outcome = TestOutcome("tests/suite/test_emit.py::test_echo", ("EMIT-1",), "passed")
    result = run_result(fold(requirements, [outcome]))
    matrix = render_matrix(result)
    markdown = render_markdown(result)
    for requirement in requirements:
        assert re.search(rf"^{requirement.id}\s+{requirement.level}\s", matrix, re.MULTILINE)
        assert f"| {requirement.id} |" in markdown
    assert f"1 passed, {len(requirements) - 1} not run" in matrix


# -- files ------------------------------------------------------------------------------------


def test_write_reports_writes_html_and_summary(tmp_path: Path) -> None:
    result = mixed_result()
    target = tmp_path / "nested" / "reports"
    paths = write_reports(result, target)
    assert paths == [target / "report.html", target / "summary.md"]
    assert paths[0].read_text(encoding="utf-8") == render_html(result)
    assert paths[1].read_text(encoding="utf-8") == render_markdown(result)


# -- drift ------------------------------------------------------------------------------------


def difference(
    test: str, classification: Classification, description: str = "changed"
) -> Difference:
    return Difference(
        test, "GET /customers/{id}", "$.data.wallet", "member-removed", classification, description
    )


def test_drift_reports_without_differences_say_so() -> None:
    report = DriftReport(())
    assert render_drift_markdown(report).startswith("### ✅ No drift")
    assert "<table>" not in render_drift_html(report)
    assert "No drift" in render_drift_html(report)


def test_drift_reports_put_breaking_first_and_escape() -> None:
    report = DriftReport(
        (
            difference("a/test_one", "additive", "new member"),
            difference("b/test_two", "breaking", "gone | <em>removed</em>"),
        )
    )
    markdown = render_drift_markdown(report)
    assert markdown.startswith("### ❌ BREAKING DRIFT: 1 breaking, 1 additive")
    rows = table_rows(markdown, "| Class |")
    assert [row.split("|")[1].strip() for row in rows] == ["breaking", "additive"]
    assert all(len(_UNESCAPED_PIPE.findall(row)) == 7 for row in rows)
    document = render_drift_html(report)
    page = parse(document)
    assert [css for css, cells in page.rows if cells] == ["breaking", "additive"]
    assert "<em>" not in document


def test_drift_reports_of_additive_changes_only_are_a_warning() -> None:
    report = DriftReport((difference("a/test_one", "additive"),))
    assert render_drift_markdown(report).startswith("### ⚠️ Additive drift only")
    assert 'class="verdict warn"' in render_drift_html(report)


def test_write_drift_reports_writes_html_and_markdown(tmp_path: Path) -> None:
    report = DriftReport((difference("a/test_one", "breaking"),))
    paths = write_drift_reports(report, tmp_path / "drift")
    assert [p.name for p in paths] == ["drift.html", "drift.md"]
    assert paths[0].read_text(encoding="utf-8") == render_drift_html(report)
    assert paths[1].read_text(encoding="utf-8") == render_drift_markdown(report)
