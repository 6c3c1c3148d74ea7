"""Reports: the terminal matrix, the job summary and the HTML page, for runs and drift."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import html5lib
import pytest
from html5lib.html5parser import ParseError

from masivo_conformance.checks.evidence import ConformanceViolation, Evidence, Finding
from masivo_conformance.contract.catalogue import catalogue, sources
from masivo_conformance.recording.changes import Classification
from masivo_conformance.recording.structure_diff import Difference, DriftReport
from masivo_conformance.reporting.report import (
    EXIT_CODES,
    render_drift_html,
    render_drift_markdown,
    render_drift_text,
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
from masivo_conformance.scrub import REPRODUCER_WITHHELD, clear_secrets, register_secret

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
    return Finding(rid, message, reproducer, test or f"tests/cli/test_x.py::test_{rid.lower()}")


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
    return RequirementResult(
        rid, "MUST", title, "pass", held=12, tests=3, requests=40, duration_s=6.2
    )


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
                        "tests/cli/test_y.py::test_again",
                    ),
                ),
                requests=30,
                duration_s=65.0,
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
        "tests/cli/test_x.py::test_<i>err</i>", f"NoAnswer: token {JWT} got <b>no</b> answer"
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
    assert "AUTH-1 (MUST) accepted in tests/cli/test_x.py::test_auth-1:" in text
    last = text.splitlines()[-1]
    assert last.startswith("CONFORMANT (exit 0): 0 MUST failed")
    assert ", 1 accepted" in last


def test_render_matrix_shows_each_finding_with_its_test_and_curl_line() -> None:
    text = render_matrix(mixed_result())
    first = text.split("REV-2 (MUST) fail in tests/cli/test_x.py::test_rev-2:", 1)[1]
    assert first.splitlines()[1:3] == [
        "  points total 90, expected 100",
        f"  reproduce: {CURL}",
    ]
    second = text.split("REV-2 (MUST) fail in tests/cli/test_y.py::test_again:", 1)[1]
    assert second.splitlines()[1:3] == [
        "  points total 80, expected 100",
        f"  reproduce: {CURL_2}",
    ]
    assert "REV-7 (SHOULD) fail in" in text
    assert "(no request to repeat" in text.split("REV-7 (SHOULD)", 1)[1]


def test_render_matrix_lists_test_errors_apart_from_requirements() -> None:
    error = TestError("tests/cli/test_x.py::test_boom", "KeyError: 'data'")
    text = render_matrix(run_result([passed()], errors=[error]))
    block = text.split("Test errors (charged to no requirement):", 1)[1]
    assert "  tests/cli/test_x.py::test_boom: KeyError: 'data'" in block.splitlines()
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

HOSTILE = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'


def parse(document: str) -> ElementTree.Element:
    """The page as a browser builds it; any HTML5 parse error fails the test."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    tree: ElementTree.Element = parser.parse(document)  # strict: raises on the first error
    assert parser.errors == []
    return tree


def text(element: ElementTree.Element | None) -> str:
    """The text a reader sees in `element`, spaces collapsed."""
    assert element is not None
    return " ".join("".join(element.itertext()).split())


def matrix_rows(tree: ElementTree.Element) -> dict[str, tuple[str, list[str]]]:
    """Requirement id -> (row class, the text of each cell)."""
    rows = tree.findall(".//table[@class='matrix']/tbody/tr")
    cells = [(row.get("class", ""), [text(td) for td in row.findall("td")]) for row in rows]
    return {values[0]: (css, values) for css, values in cells}


def test_the_html5_parser_of_these_tests_refuses_broken_markup() -> None:
    with pytest.raises(ParseError):
        parse("<!DOCTYPE html><title>t</title><p><b>bold</p>")


def test_html_report_is_valid_html5_and_self_contained() -> None:
    document = render_html(mixed_result())
    tree = parse(document)
    assert document.startswith("<!DOCTYPE html>")
    assert tree.find("head/style") is not None
    tags = {element.tag for element in tree.iter()}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    # Links, never fetched: anchors, reproducer files, and the cited documentation pages.
    pages = {source.url for source in sources().values() if source.url}
    for element in tree.iter():
        for name in ("src", "href"):
            value = element.get(name)
            if element.tag.endswith("a") and name == "href" and value in pages:
                continue
            assert value is None or value.startswith(("#", "reproducers/")), value
    assert "url(" not in document
    assert "@import" not in document


def test_html_matrix_has_one_row_per_requirement_with_counts_time_and_catalogue_text() -> None:
    known = catalogue()
    rows = matrix_rows(parse(render_html(mixed_result())))
    assert list(rows) == ["GEN-1", "REV-2", "REV-7", "PRV-7"]
    css, cells = rows["GEN-1"]
    assert css == "pass"
    # Id, Level, Status, Held, Violated, Tests, Requests, Time, Evidence, Requirement
    assert cells[:9] == [
        "GEN-1",
        "MUST",
        "pass",
        "12",
        "0",
        "3",
        "40",
        "6.2 s",
        "12 checks in 3 test(s)",
    ]
    statement = known["GEN-1"].statement.replace("`", "")
    requirement = parse(render_html(mixed_result())).find(
        ".//tr[@id='GEN-1']/td[@class='requirement']"
    )
    assert requirement is not None
    assert [text(part) for part in requirement] == [
        "success envelope",
        statement,
        f"Sources: {', '.join(known['GEN-1'].sources)}",
    ]
    assert rows["REV-2"][0] == "fail"
    assert rows["REV-2"][1][2:9] == [
        "fail",
        "12",
        "2",
        "2",
        "30",
        "1 min 05 s",
        "2 of 14 checks in 2 test(s) violated",
    ]
    assert rows["REV-7"][0] == "warn"  # a SHOULD failure without --strict
    assert rows["REV-7"][1][2] == "fail (warning)"
    assert rows["PRV-7"][0] == "not-checked"
    assert rows["PRV-7"][1][6:9] == ["0", "", NOT_RUN]
    strict = matrix_rows(parse(render_html(mixed_result(strict=True))))
    assert strict["REV-7"][0] == "fail"
    assert strict["REV-7"][1][2] == "fail"


def test_html_statements_show_backtick_spans_as_code() -> None:
    tree = parse(render_html(mixed_result()))
    statement = tree.find(".//tr[@id='GEN-1']//p[@class='statement']")
    assert statement is not None
    assert [code.text for code in statement.iter("code")] == ["data"]


def test_html_counts_requirements_by_level() -> None:
    tree = parse(render_html(mixed_result()))
    rows = tree.findall(".//table[@class='levels narrow']/tbody/tr")
    # Level, pass, fail, not checked, accepted
    assert [[text(td) for td in row] for row in rows] == [
        ["MUST", "1", "1", "0", "0"],
        ["SHOULD", "0", "1", "1", "0"],
    ]


def test_html_chart_has_a_bar_per_requirement_group_with_a_segment_per_verdict() -> None:
    rows = [
        passed("GEN-1"),
        passed("GEN-2"),
        RequirementResult("GEN-3", "MUST", "no 5xx", "fail", violated=1, tests=1),
        passed("AUTH-1"),
        RequirementResult("REV-7", "SHOULD", "reason", "fail", violated=1, tests=1),
        RequirementResult("REV-2", "MUST", "restores", "not checked", reason=NOT_RUN),
    ]
    chart = parse(render_html(run_result(rows))).find(".//figure[@class='chart']")
    assert chart is not None
    bars = {}
    for row in chart.findall("div[@class='chart-row']"):
        label, bar, total = list(row)
        segments = [(s.get("class"), text(s), s.get("style")) for s in bar]
        bars[text(label)] = (segments, text(total))
    assert bars == {
        "GEN": (
            [("seg pass", "2", "width: 66.67%"), ("seg fail", "1", "width: 33.33%")],
            "3",
        ),
        "AUTH": ([("seg pass", "1", "width: 100.00%")], "1"),
        "REV": (
            [("seg warn", "1", "width: 50.00%"), ("seg not-checked", "1", "width: 50.00%")],
            "2",
        ),
    }


def failing_tests(count: int, reproducer: str = CURL_2) -> RequirementResult:
    return RequirementResult(
        "GEN-4",
        "MUST",
        "response schemas",
        "fail",
        violated=count,
        tests=count,
        findings=tuple(
            finding("GEN-4", f"answer {n} breaks the schema", reproducer, f"t.py::test_{n}")
            for n in range(1, count + 1)
        ),
    )


def test_html_lists_every_failing_test_of_a_requirement_with_message_and_reproducer() -> None:
    tree = parse(render_html(run_result([failing_tests(7)])))
    section = tree.find(".//section[@id='failure-GEN-4']")
    assert section is not None
    items = section.findall(".//li[@class='finding']")
    assert [text(li.find("h4")) for li in items] == [f"In t.py::test_{n}" for n in range(1, 8)]
    assert [text(li.find("pre[@class='message']")) for li in items] == [
        f"answer {n} breaks the schema" for n in range(1, 8)
    ]
    assert all(text(li.find("pre[@class='reproducer']")) == CURL_2 for li in items)
    # The first three are open; the rest are folded in one <details>, still in the page.
    folded = section.find("details[@class='more-findings']")
    assert folded is not None
    assert text(folded.find("summary")) == "4 more failing test(s) of GEN-4"
    assert len(folded.findall(".//li[@class='finding']")) == 4


def test_html_failure_sections_link_from_the_matrix_and_keep_findings_without_request() -> None:
    document = render_html(mixed_result())
    tree = parse(document)
    assert tree.find(".//tr[@id='REV-2']//a[@href='#failure-REV-2']") is not None
    # A pass has no failure to link to (its sources link to the list of sources only).
    assert tree.find(".//tr[@id='GEN-1']//td[@class='id']//a") is None
    messages = [text(pre) for pre in tree.iter("pre") if pre.get("class") == "message"]
    assert messages == [
        "points total 90, expected 100",
        "points total 80, expected 100",
        "reverse without reason answered 200",
    ]
    reproducers = [
        "".join(pre.itertext()) for pre in tree.iter("pre") if pre.get("class") == "reproducer"
    ]
    assert reproducers == [CURL, CURL_2]  # REV-7 had no request, so no block
    section = tree.find(".//section[@id='failure-REV-7']")
    assert section is not None
    assert "No request to repeat" in text(section)
    assert "user-select: all" in document


def test_html_shows_run_metadata() -> None:
    tree = parse(render_html(mixed_result()))
    meta = tree.find(".//dl[@class='meta']")
    assert meta is not None
    entries = list(
        zip([text(dt) for dt in meta.iter("dt")], [text(dd) for dd in meta.iter("dd")], strict=True)
    )
    values = dict(entries)
    assert values["Target"] == "https://app.masivo.ai/api/storefront/v1"
    assert values["Started"] == "2026-11-20T10:00:00Z"
    assert values["Duration"] == "1 min 15 s"
    assert values["Profile"] == "ci"
    assert values["Seed"] == "4242"
    assert values["Requests"] == "318"
    assert values["Versions"].startswith("masivo-conformance 0.1.0, schemathesis ")
    assert "Python 3." in values["Versions"]
    assert values["Exit code"] == f"1: {EXIT_CODES[1]}"
    assert ("Note", "request budget of 400 spent; 2 tests not run") in entries


def test_html_lists_the_exit_codes_and_the_test_errors() -> None:
    errors = [TestError("tests/cli/test_x.py::test_boom", "KeyError: 'data'")]
    tree = parse(render_html(run_result([passed()], errors=errors)))
    codes = tree.find(".//dl[@class='meta exit-codes']")
    assert codes is not None
    assert [text(dd) for dd in codes.iter("dd")] == list(EXIT_CODES.values())
    assert {0, 1, 2, 3} == set(EXIT_CODES)
    items = tree.findall(".//ul[@class='errors']/li")
    assert [text(li) for li in items] == ["tests/cli/test_x.py::test_boom: KeyError: 'data'"]
    assert tree.find(".//ul[@class='errors']") is not None
    assert parse(render_html(run_result([passed()]))).find(".//ul[@class='errors']") is None


def hostile_target_result() -> RunResult:
    """Everything a target (or a hand-edited result.json) controls, carrying markup."""
    row = RequirementResult(
        f"GEN-2{BREAKOUT}",
        "MUST",
        f"title {HOSTILE}",
        "fail",
        violated=1,
        tests=1,
        findings=(
            finding(
                "GEN-2",
                f"body was {HOSTILE} and {BREAKOUT}",
                f"{CURL} --data-raw '{HOSTILE}{BREAKOUT}'",
                f"t.py::test_{BREAKOUT}",
            ),
        ),
    )
    result = run_result([row], errors=[TestError(f"t::{HOSTILE}", f"NoAnswer: {BREAKOUT}")])
    result.target = f"https://evil.example/{BREAKOUT}"
    result.notes.append(HOSTILE)
    return result


def test_html_shows_hostile_target_text_as_text_never_as_markup() -> None:
    document = render_html(hostile_target_result())
    tree = parse(document)
    tags = {element.tag for element in tree.iter()}
    assert "script" not in tags
    assert "img" not in tags
    for element in tree.iter():
        assert "onerror" not in element.attrib, element.tag
    page_text = "".join(tree.itertext())
    assert page_text.count(HOSTILE) >= 4  # title, message, reproducer, note, error
    assert page_text.count(BREAKOUT) >= 4  # message, reproducer, test name, target, error
    message = next(pre for pre in tree.iter("pre") if pre.get("class") == "message")
    assert "".join(message.itertext()) == f"body was {HOSTILE} and {BREAKOUT}"
    # The id lands in attributes (anchor, link) and stays one value there.
    anchors = [a.get("href") for a in tree.iter("a")]
    assert f"#failure-GEN-2{BREAKOUT}" in anchors


def test_drift_html_shows_hostile_text_as_text() -> None:
    report = DriftReport(
        (
            Difference(
                f"m/{HOSTILE}", "GET /x", f"$.{BREAKOUT}", "enum-value-added", "additive", HOSTILE
            ),
        )
    )
    tree = parse(render_drift_html(report))
    assert not {element.tag for element in tree.iter()} & {"script", "img"}
    assert HOSTILE in "".join(tree.itertext())
    assert BREAKOUT in "".join(tree.itertext())


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
    assert "| Id | Level | Status | Evidence | Time | Title |" in text
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
    assert len(_UNESCAPED_PIPE.findall(row)) == 7  # six columns, whatever the title holds
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
    assert "Test: tests/cli/test\\_x.py::test\\_rev-2" in outside
    assert "Test: tests/cli/test\\_y.py::test\\_again" in outside


def test_markdown_reproducer_is_a_shell_block() -> None:
    blocks, _ = fenced_blocks(render_markdown(mixed_result()))
    assert [content for info, content in blocks if info == "sh"] == [CURL, CURL_2]


def test_markdown_lists_test_errors_and_exit_codes() -> None:
    errors = [TestError("tests/cli/test_x.py::test_boom", "KeyError: 'data'")]
    text = render_markdown(run_result([passed()], errors=errors))
    section = text.split("#### Test errors (charged to no requirement)", 1)[1]
    assert "* tests/cli/test\\_x.py::test\\_boom: KeyError: 'data'" in section
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
        TestOutcome("tests/cli/test_emit.py::test_echo", ("EMIT-1",), "passed", held),
        TestOutcome(
            "tests/cli/test_emit.py::test_standby",
            ("EMIT-1", "EMIT-4"),
            "failed",
            violated,
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
    assert "EMIT-4 (MUST) fail in tests/cli/test_emit.py::test_standby:" in matrix
    assert f"reproduce: {CURL_2}" in matrix
    assert f"1 passed, {len(requirements) - 2} not checked" in matrix.splitlines()[-1]


# -- long reproducers -------------------------------------------------------------------------

LONG_BODY = "x" * 10_000
LONG_CURL = (
    "curl -sS -X POST 'https://app.masivo.ai/api/storefront/v1/behavior/events' "
    f'-H "Authorization: Bearer $MASIVO_TOKEN" --data-raw \'{{"id": "{LONG_BODY}"}}\''
)


def long_result(reproducer: str = LONG_CURL, test: str = "t.py::test_huge") -> RunResult:
    row = RequirementResult(
        "GEN-3",
        "MUST",
        "no server errors",
        "fail",
        violated=1,
        tests=1,
        findings=(
            finding("GEN-3", "answered 500", CURL_2, "t.py::test_short"),
            finding("GEN-3", "answered 500", reproducer, test),
        ),
    )
    return run_result([row])


def test_a_long_reproducer_goes_to_a_file_and_every_report_points_at_it(tmp_path: Path) -> None:
    result = long_result()
    paths = write_reports(result, tmp_path)
    script = tmp_path / "reproducers" / "GEN-3-2.sh"
    assert paths == [tmp_path / "report.html", tmp_path / "summary.md", script]
    lines = script.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#!/bin/sh"
    assert lines[-1] == LONG_CURL  # the whole line, runnable as it is
    assert all(line.startswith("#") for line in lines[:-1])
    assert not (tmp_path / "reproducers" / "GEN-3-1.sh").exists()  # the short one stays inline
    html = paths[0].read_text(encoding="utf-8")
    markdown = paths[1].read_text(encoding="utf-8")
    terminal = render_matrix(result, tmp_path)
    shown = "".join(parse(html).itertext())
    for document in (shown, markdown, terminal):
        assert LONG_BODY not in document
        assert CURL_2 in document
    for document in (html, markdown, terminal):
        assert max(len(line) for line in document.splitlines()) < 400
    assert "sh reproducers/GEN-3-2.sh" in markdown
    assert f"{len(LONG_CURL):,} characters" in markdown
    tree = parse(html)
    assert tree.find(".//a[@href='reproducers/GEN-3-2.sh']") is not None
    reproducers = [text(pre) for pre in tree.iter("pre") if pre.get("class") == "reproducer"]
    assert reproducers == [CURL_2, "sh reproducers/GEN-3-2.sh"]
    line = next(x for x in terminal.splitlines() if "GEN-3-2.sh" in x)
    assert line.startswith(f"  reproduce: sh {tmp_path / 'reproducers' / 'GEN-3-2.sh'}")
    assert "POST https://app.masivo.ai/api/storefront/v1/behavior/events" in line


def test_without_a_report_dir_the_terminal_cuts_a_long_reproducer_and_says_how_to_get_it() -> None:
    terminal = render_matrix(long_result())
    line = next(x for x in terminal.splitlines() if x.startswith("  reproduce: curl -sS -X POST"))
    assert len(line) < 400
    assert LONG_BODY not in terminal
    assert "--report-dir" in line
    assert f"{len(LONG_CURL):,} characters" in line


def test_reproducer_file_comments_cannot_run_text(tmp_path: Path) -> None:
    hostile_test = "t.py::test_x\nrm -rf ~\n"
    write_reports(long_result(LONG_CURL, hostile_test), tmp_path)
    script = (tmp_path / "reproducers" / "GEN-3-2.sh").read_text(encoding="utf-8")
    commands = [line for line in script.splitlines() if not line.startswith("#")]
    assert commands == [LONG_CURL]


def test_a_reproducer_holding_a_secret_is_withheld_whole_never_edited(tmp_path: Path) -> None:
    """Reproducers are built from redacted values; one that still holds a secret (a
    token registered after it was built) is withheld, since editing its quoted text
    could turn data into commands."""
    result = long_result(f"{LONG_CURL} -H 'x-api-key: {API_KEY}' -H 'a: {JWT}'")
    write_reports(result, tmp_path)
    assert not (tmp_path / "reproducers" / "GEN-3-2.sh").exists()
    for path in tmp_path.rglob("*.*"):
        text = path.read_text(encoding="utf-8")
        assert API_KEY not in text
        assert JWT not in text
    assert REPRODUCER_WITHHELD in render_matrix(result)
    assert "reproducer withheld" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_write_reports_removes_reproducers_of_an_earlier_run(tmp_path: Path) -> None:
    write_reports(long_result(), tmp_path)
    assert (tmp_path / "reproducers" / "GEN-3-2.sh").exists()
    write_reports(mixed_result(), tmp_path)
    assert list((tmp_path / "reproducers").iterdir()) == []


def test_terminal_and_summary_show_a_few_failing_tests_and_say_where_the_rest_are(
    tmp_path: Path,
) -> None:
    result = run_result([failing_tests(7)])
    terminal = render_matrix(result, tmp_path)
    assert terminal.count("GEN-4 (MUST) fail in") == 3
    assert f"GEN-4: 4 more failing test(s); every one is in {tmp_path / 'report.html'}" in terminal
    assert "run with --report-dir DIR to see every one" in render_matrix(result)
    markdown = render_markdown(result)
    assert markdown.count("Test: t.py::test\\_") == 5
    assert "2 more failing test(s) of GEN-4: every one is in report.html." in markdown


def test_fold_keeps_every_failing_test_and_sums_time_and_requests() -> None:
    outcomes = []
    for n in range(7):
        evidence = Evidence()
        evidence.violated(ConformanceViolation("GEN-4", f"answer {n}", CURL_2))
        outcomes.append(
            TestOutcome(
                f"t.py::test_{n}",
                ("GEN-4",),
                "failed",
                evidence,
                requests=3,
                duration_s=0.5,
            )
        )
    (row,) = fold(catalogue(), outcomes, selected=["GEN-4"])
    assert [f.test for f in row.findings] == [f"t.py::test_{n}" for n in range(7)]
    assert (row.tests, row.requests, row.duration_s) == (7, 21, 3.5)


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
    assert parse(render_drift_html(report)).find(".//table") is None
    assert "No drift" in render_drift_html(report)


def repeated_drift() -> DriftReport:
    """One removed member seen three times in two scenarios, and two single changes."""
    gone = "member `wallet` is gone | <em>removed</em>"
    return DriftReport(
        (
            Difference("a/test_one", "POST /x", "$.data.extra", "member-added", "additive", "new"),
            difference("b/test_two", "breaking", gone),
            difference("a/test_one", "breaking", gone),
            Difference("c/test_three", "GET /y", "$", "status-class-changed", "breaking", "500"),
            difference("a/test_one", "breaking", gone),
        )
    )


def test_drift_reports_group_repeats_with_counts_and_scenarios_breaking_first() -> None:
    report = repeated_drift()
    markdown = render_drift_markdown(report)
    assert markdown.startswith("### ❌ BREAKING DRIFT: 4 breaking, 1 additive")
    assert "5 difference(s) in 3 scenario(s), 3 distinct change(s)." in markdown
    rows = table_rows(markdown, "| Class |")
    cells = [[cell.strip() for cell in _UNESCAPED_PIPE.split(row)[1:-1]] for row in rows]
    assert [c[:5] for c in cells] == [
        ["breaking", "$.data.wallet", "member-removed", "3", "a/test\\_one, b/test\\_two"],
        ["breaking", "$", "status-class-changed", "1", "c/test\\_three"],
        ["additive", "$.data.extra", "member-added", "1", "a/test\\_one"],
    ]
    assert "<em>" not in markdown
    tree = parse(render_drift_html(report))
    rows_html = tree.findall(".//table[@class='groups']/tbody/tr")
    assert [row.get("class") for row in rows_html] == ["breaking", "breaking", "additive"]
    first = [text(td) for td in rows_html[0]]
    # Class, Change (path and kind), Count, What it means, Requests, Scenarios
    assert first[:3] == ["breaking", "$.data.walletmember-removed", "3"]  # <br> between
    assert first[4] == "GET /customers/{id}"
    assert [text(li) for li in rows_html[0].findall(".//ul[@class='compact scenarios']/li")] == [
        "a/test_one",
        "b/test_two",
    ]
    assert first[3] == "member `wallet` is gone | <em>removed</em>"  # as text, escaped
    assert tree.find(".//em") is None


def test_drift_text_prints_each_change_once_with_where_it_was_seen() -> None:
    lines = render_drift_text(repeated_drift()).splitlines()
    assert lines[0].split() == [
        "BREAKING",
        "$.data.wallet",
        "member-removed",
        "x3",
        "in",
        "2",
        "scenario(s)",
    ]
    assert lines[1].strip() == "member `wallet` is gone | <em>removed</em>"
    assert lines[2].strip() == "requests: GET /customers/{id}"
    assert lines[3].strip() == "scenarios: a/test_one, b/test_two"
    assert lines[4].split()[:2] == ["BREAKING", "$"]
    assert lines[8].split()[:2] == ["ADDITIVE", "$.data.extra"]
    assert lines[-1] == (
        "4 breaking and 1 additive difference(s) in 3 test(s), 3 distinct change(s)."
    )
    assert render_drift_text(DriftReport(())).startswith("No drift")


def test_drift_reports_of_additive_changes_only_are_a_warning() -> None:
    report = DriftReport((difference("a/test_one", "additive"),))
    assert render_drift_markdown(report).startswith("### ⚠️ Additive drift only")
    assert 'class="verdict warn"' in render_drift_html(report)


def test_write_drift_reports_writes_html_and_markdown(tmp_path: Path) -> None:
    report = DriftReport((difference("a/test_one", "breaking"),))
    paths = write_drift_reports(report, tmp_path / "drift")
    assert [p.name for p in paths] == ["drift.html", "drift.md", "drift.json"]
    assert paths[0].read_text(encoding="utf-8") == render_drift_html(report)
    assert paths[1].read_text(encoding="utf-8") == render_drift_markdown(report)
    assert paths[2].read_text(encoding="utf-8") == report.to_json()


def test_html_charts_the_requests_per_operation_busiest_first() -> None:
    result = run_result([passed()])
    result.requests_by_operation = {"preview_order": 40, "get_customer": 150, "<b>x</b>": 1}
    tree = parse(render_html(result))
    chart = tree.find(".//figure[@aria-label='requests per operation']")
    assert chart is not None
    rows = [
        (text(row.find("span[@class='label']")), text(row.find("span[@class='total']")))
        for row in chart.findall("div[@class='chart-row operation']")
    ]
    assert rows == [("get_customer", "150"), ("preview_order", "40"), ("<b>x</b>", "1")]
    widths = [seg.get("style") for seg in chart.iter("span") if seg.get("class") == "seg requests"]
    assert widths == ["width: 100.00%", "width: 26.67%", "width: 0.67%"]


def test_html_has_no_operation_chart_when_no_request_was_counted() -> None:
    tree = parse(render_html(run_result([passed()])))
    assert tree.find(".//figure[@aria-label='requests per operation']") is None


def test_every_cited_source_is_named_with_its_title_and_address() -> None:
    """A row's `Sources: S3, S5` links to a list below that says what S3 is; a failure in
    summary.md names its sources with title and address."""
    result = mixed_result()
    tree = parse(render_html(result))
    known = sources()
    listed = {str(e.get("id")) for e in tree.iter() if str(e.get("id")).startswith("source-")}
    cited = {t for r in result.requirements for t in catalogue()[r.id].sources}
    assert listed == {f"source-{tag}" for tag in cited}
    text = "".join(tree.itertext())
    for tag in cited:
        assert known[tag].title in text
    links = {a.get("href") for a in tree.iter() if a.get("href")}
    assert known["S3"].url in links
    markdown = render_markdown(result)
    failing = next(r for r in result.requirements if r.status == "fail")
    for tag in catalogue()[failing.id].sources:
        assert f"{tag} {known[tag].title}" in markdown
