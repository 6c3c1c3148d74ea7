"""Reports: the terminal matrix, the job summary and the HTML page, for runs and drift."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from masivo_conformance.checks.evidence import ConformanceViolation, Evidence, Finding
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.recording.changes import Classification
from masivo_conformance.recording.drift import Difference, DriftReport
from masivo_conformance.reporting.report import (
    EXIT_CODES,
    render_drift_html,
    render_drift_markdown,
    render_html,
    render_markdown,
    render_matrix,
    write_drift_reports,
    write_reports,
)
from masivo_conformance.reporting.results import (
    RequirementResult,
    RunResult,
    TestError,
    TestOutcome,
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
CURL_2 = "curl -sS -X GET 'https://app.masivo.ai/api/storefront/v1/customers/c-2'"
NOT_RUN = "no test that judges it ran (deselected, or not collected)"


@pytest.fixture(autouse=True)
def secrets_registry() -> Iterator[None]:
    clear_secrets()
    register_secret(API_KEY)
    yield
    clear_secrets()


def finding(rid: str, message: str, reproducer: str = CURL, test: str = "") -> Finding:
    return Finding(rid, message, reproducer, test or f"tests/suite/test_x.py::test_{rid.lower()}")


def run_result(
    rows: list[RequirementResult],
    *,
    strict: bool = False,
    errors: list[TestError] | None = None,
    stopped: str = "",
    selected: bool = False,
) -> RunResult:
    return RunResult(
        target="https://app.masivo.ai/api/storefront/v1",
        profile="ci",
        seed=4242,
        strict=strict,
        duration_s=75.4,
        request_count=318,
        requirements=rows,
        errors=errors or [],
        stopped=stopped,
        selected=selected,
        suite_version="0.1.0",
        started_at="2026-11-20T10:00:00Z",
        notes=["request budget of 400 spent; 2 tests not run"],
    )


def passed(rid: str = "GEN-1", title: str = "success envelope") -> RequirementResult:
    return RequirementResult(rid, "MUST", title, "pass", held=12, tests=3, requests=40)


def mixed_result(*, strict: bool = False) -> RunResult:
    return run_result(
        [
            passed(),
            RequirementResult(
                "REV-2",
                "MUST",
                "reverse restores the wallet",
                "fail",
                held=12,
                violated=2,
                tests=2,
                findings=(
                    finding("REV-2", "points total 90, expected 100"),
                    finding(
                        "REV-2",
                        "points total 80, expected 100",
                        CURL_2,
                        "tests/suite/test_y.py::test_again",
                    ),
                ),
                requests=30,
            ),
            RequirementResult(
                "REV-7",
                "SHOULD",
                "reverse needs a reason",
                "fail",
                violated=1,
                tests=1,
                findings=(finding("REV-7", "reverse without reason answered 200", ""),),
            ),
            RequirementResult(
                "PRV-7", "SHOULD", "discount percent consistent", "not checked", reason=NOT_RUN
            ),
        ],
        strict=strict,
    )


def hostile_result() -> RunResult:
    """A failure whose message carries markup, pipes, fences and every kind of secret."""
    message = (
        "body was <script>alert('x')</script> | not JSON\n"
        f"```\nsent x-api-key {API_KEY}\nAuthorization: Bearer {JWT}\n\x1b[31mred\x1b[0m"
    )
    row = RequirementResult(
        "GEN-2",
        "MUST",
        "error | envelope",
        "fail",
        violated=1,
        tests=1,
        findings=(finding("GEN-2", message, f"{CURL} -H 'x-api-key: {API_KEY}'"),),
    )
    error = TestError(
        "tests/suite/test_x.py::test_<i>err</i>", f"NoAnswer: token {JWT} got <b>no</b> answer"
    )
    result = run_result([row], errors=[error])
    result.notes.append(f"token {JWT} <b>bold</b>")
    return result


# -- terminal matrix --------------------------------------------------------------------------


def test_render_matrix_lists_each_requirement_with_its_evidence() -> None:
    lines = render_matrix(mixed_result()).splitlines()
    assert re.fullmatch(r"GEN-1\s+MUST\s+pass\s+12 checks in 3 test\(s\)", lines[0])
    assert re.fullmatch(r"REV-2\s+MUST\s+fail\s+2 of 14 checks in 2 test\(s\) violated", lines[1])
    assert re.fullmatch(
        r"REV-7\s+SHOULD\s+fail \(warning\)\s+1 of 1 check in 1 test\(s\) violated", lines[2]
    )
    assert re.fullmatch(rf"PRV-7\s+SHOULD\s+not checked\s+{re.escape(NOT_RUN)}", lines[3])


def test_render_matrix_shows_a_should_failure_as_a_plain_fail_with_strict() -> None:
    lines = render_matrix(mixed_result(strict=True)).splitlines()
    assert re.fullmatch(r"REV-7\s+SHOULD\s+fail\s+1 of 1 check.*", lines[2])


def test_render_matrix_shows_an_accepted_failure_with_its_reason() -> None:
    row = RequirementResult(
        "AUTH-1",
        "MUST",
        "forged tokens refused",
        "accepted",
        held=3,
        violated=1,
        tests=1,
        findings=(finding("AUTH-1", "answered 200 to a forged token"),),
        reason="known: MAS-123",
    )
    result = run_result([passed(), row])
    text = render_matrix(result)
    assert re.search(
        r"^AUTH-1\s+MUST\s+accepted\s+1 of 4 checks in 1 test\(s\) violated; "
        r"accepted: known: MAS-123$",
        text,
        re.MULTILINE,
    )
    assert "AUTH-1 (MUST) accepted in tests/suite/test_x.py::test_auth-1:" in text
    last = text.splitlines()[-1]
    assert last.startswith("CONFORMANT (exit 0): 0 MUST failed")
    assert ", 1 accepted" in last


def test_render_matrix_shows_each_finding_with_its_test_and_curl_line() -> None:
    text = render_matrix(mixed_result())
    first = text.split("REV-2 (MUST) fail in tests/suite/test_x.py::test_rev-2:", 1)[1]
    assert first.splitlines()[1:3] == [
        "  points total 90, expected 100",
        f"  reproduce: {CURL}",
    ]
    second = text.split("REV-2 (MUST) fail in tests/suite/test_y.py::test_again:", 1)[1]
    assert second.splitlines()[1:3] == [
        "  points total 80, expected 100",
        f"  reproduce: {CURL_2}",
    ]
    assert "REV-7 (SHOULD) fail in" in text
    assert "(no request to repeat" in text.split("REV-7 (SHOULD)", 1)[1]


def test_render_matrix_lists_test_errors_apart_from_requirements() -> None:
    error = TestError("tests/suite/test_x.py::test_boom", "KeyError: 'data'")
    text = render_matrix(run_result([passed()], errors=[error]))
    block = text.split("Test errors (charged to no requirement):", 1)[1]
    assert "  tests/suite/test_x.py::test_boom: KeyError: 'data'" in block.splitlines()
    assert "Test errors" not in render_matrix(run_result([passed()]))


@pytest.mark.parametrize(
    ("strict", "verdict"),
    [
        (
            False,
            "NONCONFORMANT (exit 1): 1 MUST failed, 1 SHOULD failed (warnings only), "
            "1 passed, 1 not checked (4 requirements)",
        ),
        (
            True,
            "NONCONFORMANT (exit 1): 1 MUST failed, 1 SHOULD failed, 1 passed, 1 not checked "
            "(4 requirements)",
        ),
    ],
)
def test_render_matrix_ends_with_the_verdict_and_counts(strict: bool, verdict: str) -> None:
    assert render_matrix(mixed_result(strict=strict)).splitlines()[-1] == verdict


def test_verdict_of_a_should_failure_alone_depends_on_strict() -> None:
    rows = [r for r in mixed_result().requirements if r.id != "REV-2"]
    lenient, strict = run_result(rows), run_result(rows, strict=True)
    assert render_matrix(lenient).splitlines()[-1].startswith("CONFORMANT with warnings (exit 0)")
    assert lenient.exit_code() == 0
    assert render_matrix(strict).splitlines()[-1].startswith("NONCONFORMANT (exit 1)")
    assert strict.exit_code() == 1


def test_verdict_is_inconclusive_when_a_must_was_not_checked() -> None:
    rows = [
        passed(),
        RequirementResult("REV-2", "MUST", "reverse restores the wallet", "not checked"),
    ]
    last = render_matrix(run_result(rows)).splitlines()[-1]
    assert last.startswith("INCONCLUSIVE (exit 3): 0 MUST failed")
    assert "1 passed, 1 not checked" in last


def test_verdict_is_inconclusive_when_a_test_erred_unless_requirements_were_selected() -> None:
    errors = [TestError("t::boom", "KeyError: 'data'")]
    last = render_matrix(run_result([passed()], errors=errors)).splitlines()[-1]
    assert last.startswith("INCONCLUSIVE (exit 3)")
    assert ", 1 test error(s)" in last
    chosen = render_matrix(run_result([passed()], errors=errors, selected=True))
    assert chosen.splitlines()[-1].startswith("CONFORMANT (exit 0)")


def test_verdict_says_the_target_stopped_answering_whatever_else_was_found() -> None:
    result = mixed_result()
    result.stopped = "the target stopped answering at GET /rewards (ConnectError)"
    assert (
        render_matrix(result)
        .splitlines()[-1]
        .startswith("TARGET STOPPED ANSWERING (exit 2): 1 MUST failed")
    )


def test_verdict_is_conformant_when_everything_was_checked_and_held() -> None:
    last = render_matrix(run_result([passed()])).splitlines()[-1]
    assert last == (
        "CONFORMANT (exit 0): 0 MUST failed, 0 SHOULD failed, 1 passed, 0 not checked "
        "(1 requirements)"
    )


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
    assert "NoAnswer: token" in text  # the test error is shown, its token redacted


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


def test_html_matrix_styles_each_status_and_shows_the_evidence() -> None:
    page = parse(render_html(mixed_result()))
    matrix = {cells[0]: (css, cells) for css, cells in page.rows if cells and "-" in cells[0]}
    assert matrix["GEN-1"] == (
        "pass",
        [
            "GEN-1",
            "MUST",
            "pass",
            "12",
            "0",
            "3",
            "40",
            "12 checks in 3 test(s)",
            "success envelope",
        ],
    )
    assert matrix["REV-2"] == (
        "fail",
        [
            "REV-2",
            "MUST",
            "fail",
            "12",
            "2",
            "2",
            "30",
            "2 of 14 checks in 2 test(s) violated",
            "reverse restores the wallet",
        ],
    )
    assert matrix["REV-7"][0] == "warn"  # a SHOULD failure without --strict
    assert matrix["REV-7"][1][2] == "fail (warning)"
    assert matrix["PRV-7"] == (
        "not-checked",
        [
            "PRV-7",
            "SHOULD",
            "not checked",
            "0",
            "0",
            "0",
            "0",
            NOT_RUN,
            "discount percent consistent",
        ],
    )
    strict = parse(render_html(mixed_result(strict=True)))
    assert (
        "fail",
        [
            "REV-7",
            "SHOULD",
            "fail",
            "0",
            "1",
            "1",
            "0",
            "1 of 1 check in 1 test(s) violated",
            "reverse needs a reason",
        ],
    ) in strict.rows


def test_html_counts_requirements_by_level() -> None:
    page = parse(render_html(mixed_result()))
    levels = [cells for _, cells in page.rows if cells and cells[0] in ("MUST", "SHOULD")]
    # Level, pass, fail, not checked, accepted
    assert levels == [["MUST", "1", "1", "0", "0"], ["SHOULD", "0", "1", "1", "0"]]


def test_html_failure_has_every_finding_and_copyable_reproducers() -> None:
    document = render_html(mixed_result())
    page = parse(document)
    assert page.pre["message"] == [
        "points total 90, expected 100",
        "points total 80, expected 100",
        "reverse without reason answered 200",
    ]
    assert page.pre["reproducer"] == [CURL, CURL_2]  # REV-7 had no request, so no block
    assert "<code>tests/suite/test_y.py::test_again</code>" in document
    assert "<p>2 of 14 checks in 2 test(s) violated</p>" in document
    assert 'href="#failure-REV-2"' in document
    assert 'href="#failure-GEN-1"' not in document  # a pass has no failure to link to
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
        "2026-11-20T10:00:00Z",
        "request budget of 400 spent; 2 tests not run",
    ):
        assert f"<dd>{value}</dd>" in document
    assert "<dt>Profile</dt><dd>ci</dd>" in document
    assert f"<dt>Exit code</dt><dd>1: {EXIT_CODES[1]}</dd>" in document


def test_html_lists_the_exit_codes_and_the_test_errors() -> None:
    errors = [TestError("tests/suite/test_x.py::test_boom", "KeyError: 'data'")]
    document = render_html(run_result([passed()], errors=errors))
    parse(document)
    for code, meaning in EXIT_CODES.items():
        assert f"<dt>{code}</dt><dd>{meaning}</dd>" in document
    assert {0, 1, 2, 3} == set(EXIT_CODES)
    assert "<h2>Test errors (charged to no requirement)</h2>" in document
    assert (
        "<li><code>tests/suite/test_x.py::test_boom</code>: KeyError: &#x27;data&#x27;</li>"
        in document
    )
    assert "Test errors" not in render_html(run_result([passed()]))


def test_html_escapes_server_text() -> None:
    document = render_html(hostile_result())
    page = parse(document)
    assert "<script>" not in document
    assert "<b>bold</b>" not in document
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in document
    assert "<script>alert('x')</script>" in page.pre["message"][0]
    assert "<i>err</i>" not in document
    assert "<b>no</b>" not in document
    assert "test_&lt;i&gt;err&lt;/i&gt;" in document


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
    assert first.startswith("### ❌ NONCONFORMANT (exit 1): 1 MUST failed")
    assert len(first) < 200
    assert render_markdown(run_result([passed()])).startswith("### ✅ CONFORMANT (exit 0)")
    unchecked = run_result([RequirementResult("GEN-1", "MUST", "x", "not checked")])
    assert render_markdown(unchecked).startswith("### ⚪ INCONCLUSIVE (exit 3)")
    stopped = run_result([passed()], stopped="the target stopped answering")
    assert render_markdown(stopped).startswith("### ❌ TARGET STOPPED ANSWERING (exit 2)")
    lenient = run_result([r for r in mixed_result().requirements if r.id != "REV-2"])
    assert render_markdown(lenient).startswith("### ⚠️ CONFORMANT with warnings (exit 0)")


def test_markdown_matrix_has_one_row_per_requirement() -> None:
    text = render_markdown(mixed_result())
    assert "| Id | Level | Status | Evidence | Title |" in text
    rows = table_rows(text, "| Id |")
    cells = [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows]
    assert [c[0] for c in cells] == ["GEN-1", "REV-2", "REV-7", "PRV-7"]
    assert cells[0][2:4] == ["✅ pass", "12 checks in 3 test(s)"]
    assert cells[1][2:4] == ["❌ fail", "2 of 14 checks in 2 test(s) violated"]
    assert cells[2][2] == "⚠️ fail (warning)"
    assert cells[3][2:4] == ["⚪ not checked", NOT_RUN]
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


def test_markdown_shows_every_finding_with_its_test() -> None:
    text = render_markdown(mixed_result())
    blocks, outside = fenced_blocks(text)
    assert [content for info, content in blocks if info == "text"] == [
        "points total 90, expected 100",
        "points total 80, expected 100",
        "reverse without reason answered 200",
    ]
    assert "Test: tests/suite/test\\_x.py::test\\_rev-2" in outside
    assert "Test: tests/suite/test\\_y.py::test\\_again" in outside


def test_markdown_reproducer_is_a_shell_block() -> None:
    blocks, _ = fenced_blocks(render_markdown(mixed_result()))
    assert [content for info, content in blocks if info == "sh"] == [CURL, CURL_2]


def test_markdown_lists_test_errors_and_exit_codes() -> None:
    errors = [TestError("tests/suite/test_x.py::test_boom", "KeyError: 'data'")]
    text = render_markdown(run_result([passed()], errors=errors))
    section = text.split("#### Test errors (charged to no requirement)", 1)[1]
    assert "* tests/suite/test\\_x.py::test\\_boom: KeyError: 'data'" in section
    codes = text.split("#### Exit codes", 1)[1]
    for code in EXIT_CODES:
        assert f"* `{code}`: " in codes
    assert "#### Test errors" not in render_markdown(run_result([passed()]))


def test_markdown_shortens_huge_messages() -> None:
    huge = "REV-2: " + "x" * 20_000
    row = RequirementResult(
        "REV-2", "MUST", "t", "fail", violated=1, tests=1, findings=(finding("REV-2", huge),)
    )
    text = render_markdown(run_result([row]))
    assert len(text) < 6_000
    assert "more characters in report.html" in text
    assert huge in render_html(run_result([row]))


def test_reports_cover_a_folded_catalogue() -> None:
    requirements = catalogue()
    held, violated = Evidence(), Evidence()
    held.held("EMIT-1")
    held.held("EMIT-1")
    violated.held("EMIT-1")
    violated.violated(ConformanceViolation("EMIT-4", "standby came back RESOLVED", CURL_2))
    outcomes = [
        TestOutcome("tests/suite/test_emit.py::test_echo", ("EMIT-1",), "passed", held.to_dict()),
        TestOutcome(
            "tests/suite/test_emit.py::test_standby",
            ("EMIT-1", "EMIT-4"),
            "failed",
            violated.to_dict(),
        ),
    ]
    result = run_result(fold(requirements, outcomes))
    matrix = render_matrix(result)
    markdown = render_markdown(result)
    for requirement in requirements:
        assert re.search(rf"^{requirement.id}\s+{requirement.level}\s", matrix, re.MULTILINE)
        assert f"| {requirement.id} |" in markdown
    assert re.search(r"^EMIT-1\s+MUST\s+pass\s+3 checks in 2 test\(s\)$", matrix, re.MULTILINE)
    assert re.search(
        r"^EMIT-4\s+MUST\s+fail\s+1 of 1 check in 1 test\(s\) violated$", matrix, re.MULTILINE
    )
    assert "EMIT-4 (MUST) fail in tests/suite/test_emit.py::test_standby:" in matrix
    assert f"reproduce: {CURL_2}" in matrix
    assert f"1 passed, {len(requirements) - 2} not checked" in matrix.splitlines()[-1]


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
