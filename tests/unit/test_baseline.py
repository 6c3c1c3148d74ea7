"""Known deviations (`run --baseline`): loading the file and its errors, applying it to a
run's rows, and the exit code that follows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from masivo_conformance.checks.evidence import Finding
from masivo_conformance.errors import SettingsError
from masivo_conformance.reporting.baseline import Baseline, Entry, load_baseline
from masivo_conformance.reporting.results import RequirementResult, RunResult, Status

TODAY = date(2026, 6, 1)
FINDING = Finding("AUTH-1", "401 expected, got 200", "curl -s https://x/y", "t::auth")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "baseline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def row(requirement: str, status: Status, level: str = "MUST") -> RequirementResult:
    violated = 2 if status == "fail" else 0
    return RequirementResult(
        requirement,
        level,
        f"title of {requirement}",
        status,
        held=3,
        violated=violated,
        tests=1,
        findings=(FINDING,) if violated else (),
        reason="no test ran" if status == "not checked" else "",
        requests=7,
    )


def baseline(*entries: Entry) -> Baseline:
    return Baseline(Path("baseline.yaml"), {e.requirement: e for e in entries})


# -- loading ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'accepted:\n  - requirement: GEN-5\n    reason: "ticket MAS-123"\n'
            "    expires: 2027-01-31\n",
            {"GEN-5": Entry("GEN-5", "ticket MAS-123", date(2027, 1, 31))},
            id="yaml-date",
        ),
        pytest.param(
            "accepted:\n  - requirement: GEN-5\n    reason: ticket\n    expires: '2027-01-31'\n",
            {"GEN-5": Entry("GEN-5", "ticket", date(2027, 1, 31))},
            id="iso-string",
        ),
        pytest.param(
            "accepted:\n  - requirement: AUTH-1\n    reason: >\n      reported upstream,\n"
            "      MAS-9\n  - requirement: GEN-5\n    reason: MAS-1\n",
            {
                "AUTH-1": Entry("AUTH-1", "reported upstream, MAS-9"),
                "GEN-5": Entry("GEN-5", "MAS-1"),
            },
            id="no-expiry-and-reason-on-one-line",
        ),
        pytest.param("accepted: []\n", {}, id="empty-list"),
    ],
)
def test_a_valid_file_loads(tmp_path: Path, text: str, expected: dict[str, Entry]) -> None:
    path = write(tmp_path, text)
    loaded = load_baseline(path)
    assert loaded.path == path
    assert loaded.entries == expected
    assert list(loaded.entries) == list(expected), "file order is kept"


ENTRY = "accepted:\n  - requirement: GEN-5\n    reason: MAS-1\n"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("accepted: [GEN-5\n", "is not valid YAML at line", id="not-yaml"),
        pytest.param("", "no 'accepted' list", id="empty-file"),
        pytest.param("- GEN-5\n", "no 'accepted' list", id="top-level-list"),
        pytest.param("accepted: GEN-5\n", "no 'accepted' list", id="accepted-not-a-list"),
        pytest.param("acepted: []\n", "no 'accepted' list", id="misspelt-key"),
        pytest.param(ENTRY + "ignored: []\n", "unknown top-level keys ['ignored']", id="extra-key"),
        pytest.param("accepted:\n  - GEN-5\n", "entry 1 is not a mapping", id="bare-id"),
        pytest.param(
            "accepted:\n  - reason: MAS-1\n", "entry 1 has no requirement id", id="no-requirement"
        ),
        pytest.param(
            "accepted:\n  - requirement: 5\n    reason: x\n", "no requirement id", id="id-not-text"
        ),
        pytest.param(
            "accepted:\n  - requirement: GEN-99\n    reason: x\n",
            "entry 1 (GEN-99): unknown requirement id",
            id="unknown-id",
        ),
        pytest.param(
            "accepted:\n  - requirement: GEN-5\n", "entry 1 (GEN-5) has no reason", id="no-reason"
        ),
        pytest.param(
            "accepted:\n  - requirement: GEN-5\n    reason: '  '\n", "has no reason", id="blank"
        ),
        pytest.param(
            "accepted:\n  - requirement: GEN-5\n    reason: [a]\n",
            "has no reason",
            id="reason-list",
        ),
        pytest.param(
            ENTRY + "    expires: next year\n", "expires 'next year' is not a date", id="bad-date"
        ),
        pytest.param(ENTRY + "    expires: 2027\n", "expires 2027 is not a date", id="number"),
        pytest.param(ENTRY + "    expires: 2027-02-30\n", "not a real date", id="no-such-day"),
        pytest.param(ENTRY + "    expires: 2027-01-31T10:00:00\n", "is not a date", id="timestamp"),
        pytest.param(
            ENTRY + "    ticket: MAS-1\n",
            "entry 1 has unknown keys ['ticket']",
            id="extra-entry-key",
        ),
        pytest.param(
            ENTRY + "  - requirement: GEN-5\n    reason: again\n",
            "GEN-5 is listed more than once",
            id="duplicate",
        ),
    ],
)
def test_a_bad_file_is_one_settings_error_naming_it(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        load_baseline(path)
    message = str(caught.value)
    assert fragment in message
    assert str(path) in message
    assert "\n" not in message, "errors are one line"
    assert caught.value.todo, "errors say what to do"
    assert caught.value.exit_code == 2


def unreadable(tmp_path: Path, kind: str) -> Path:
    if kind == "missing":
        return tmp_path / "missing.yaml"
    if kind == "directory":
        return tmp_path
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"accepted: [\xe9]\n")
    return path


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [("missing", "not found"), ("directory", "cannot read"), ("latin-1", "is not UTF-8")],
)
def test_an_unreadable_file_is_one_settings_error_naming_it(
    tmp_path: Path, kind: str, fragment: str
) -> None:
    path = unreadable(tmp_path, kind)
    with pytest.raises(SettingsError) as caught:
        load_baseline(path)
    message = str(caught.value)
    assert fragment in message
    assert str(path) in message
    assert "\n" not in message
    assert caught.value.todo


# -- applying ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expires", "after", "note"),
    [
        pytest.param("fail", None, "accepted", "", id="accepted"),
        pytest.param("fail", date(2026, 6, 2), "accepted", "", id="accepted-until-expiry"),
        pytest.param(
            "fail",
            date(2026, 6, 1),
            "fail",
            "AUTH-1 in baseline.yaml expired on 2026-06-01: its failure counts again; "
            "renew or remove the entry",
            id="expires-today",
        ),
        pytest.param(
            "fail",
            date(2026, 1, 31),
            "fail",
            "AUTH-1 in baseline.yaml expired on 2026-01-31: its failure counts again; "
            "renew or remove the entry",
            id="expired",
        ),
        pytest.param(
            "pass", None, "pass", "AUTH-1 passes now: remove it from baseline.yaml", id="passes"
        ),
        pytest.param(
            "pass",
            date(2026, 1, 31),
            "pass",
            "AUTH-1 passes now: remove it from baseline.yaml",
            id="passes-and-expired",
        ),
        pytest.param(
            "not checked",
            None,
            "not checked",
            "AUTH-1 in baseline.yaml was not checked in this run: entry not used",
            id="not-checked",
        ),
    ],
)
def test_an_entry_accepts_only_a_failure_before_it_expires(
    status: Status, expires: date | None, after: Status, note: str
) -> None:
    before = row("AUTH-1", status)
    rows, notes = baseline(Entry("AUTH-1", "MAS-123", expires)).apply([before], TODAY)
    assert [r.status for r in rows] == [after]
    assert notes == ([note] if note else [])
    if after == "accepted":
        assert rows[0].reason == "MAS-123"
        assert (rows[0].held, rows[0].violated, rows[0].findings) == (3, 2, (FINDING,))
        assert (rows[0].tests, rows[0].requests, rows[0].level) == (1, 7, "MUST")
    else:
        assert rows[0] == before


def test_rows_the_baseline_does_not_name_are_untouched() -> None:
    rows = [row("GEN-1", "fail"), row("AUTH-1", "fail"), row("GEN-5", "not checked", "SHOULD")]
    applied, notes = baseline(Entry("AUTH-1", "MAS-123")).apply(rows, TODAY)
    assert applied[0] is rows[0]
    assert applied[2] is rows[2]
    assert [r.status for r in applied] == ["fail", "accepted", "not checked"]
    assert notes == []
    assert rows[1].status == "fail", "the input rows are not changed"


def test_a_requirement_outside_the_run_gives_no_note() -> None:
    applied, notes = baseline(Entry("GEN-5", "MAS-1")).apply([row("GEN-1", "pass")], TODAY)
    assert [r.status for r in applied] == ["pass"]
    assert notes == []


def run_result(rows: list[RequirementResult]) -> RunResult:
    return RunResult(
        target="t", profile="ci", seed=None, strict=False, duration_s=1.0, request_count=3,
        requirements=rows,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("expires", "exit_code"),
    [
        pytest.param(None, 0, id="accepted"),
        pytest.param(date(2027, 1, 31), 0, id="not-yet-expired"),
        pytest.param(date(2026, 1, 31), 1, id="expired"),
    ],
)
def test_an_accepted_must_does_not_fail_the_run(expires: date | None, exit_code: int) -> None:
    rows = [row("GEN-1", "pass"), row("AUTH-1", "fail")]
    assert run_result(rows).exit_code() == 1
    applied, _ = baseline(Entry("AUTH-1", "MAS-123", expires)).apply(rows, TODAY)
    result = run_result(applied)
    assert result.exit_code() == exit_code
    assert result.failed_musts == ([] if exit_code == 0 else [rows[1]])
