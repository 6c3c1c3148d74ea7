"""`masivo-conformance judge`: verdicts from a team's own recordings (issue 23).

Real traffic, recorded by vcrpy and written as HAR 1.2 from the same exchanges
(`judge_traffic.py`), against a correct reference server and against faulty ones: the
clean recording shows no violation, each fault's requirement fails, the team's own broken
request is a client finding apart, and no secret of the recording reaches any output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from masivo_conformance import cli, scrub
from masivo_conformance.recording import traffic
from tests.cli.judge_traffic import SESSION_COOKIE, Story, record


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """judge registers the recording's secrets in this process; other tests start clean."""
    yield
    scrub.clear_secrets()


@dataclass
class Recorded:
    cassette: Path
    har: Path
    story: Story


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    return Recorded(*record(tmp_path_factory.mktemp("clean")))


@dataclass
class Judged:
    code: int
    out: str
    err: str


def judge(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Judged:
    code = cli.main(["judge", *(str(a) for a in args)])
    captured = capsys.readouterr()
    return Judged(code, captured.out, captured.err)


def rows(report_dir: Path) -> dict[str, str]:
    result = json.loads((report_dir / "result.json").read_text())
    return {row["id"]: row["status"] for row in result["requirements"]}


# The multi-call rules the story shows the premise of (tests/cli/judge_traffic.py).
PASSIVE = ("REV-1", "REV-2", "REV-4", "FUL-1", "FUL-4", "PRV-2")


def test_a_clean_recording_shows_no_violation(
    clean: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = judge(capsys, clean.cassette, clean.har, "--report-dir", tmp_path)
    assert run.code == 0, run.out
    statuses = rows(tmp_path)
    assert "fail" not in statuses.values()
    for requirement in (*PASSIVE, "GEN-1", "GEN-4", "EMIT-1", "EMIT-2", "REV-7", "AUTH-2"):
        assert statuses[requirement] == "pass", requirement
    # A recording judges what it shows: the rest is not checked, with a reason, exit 0.
    assert statuses["REV-6"] == "not checked"
    assert "REV-6   MUST   not checked    the recording has no reverse sent while" in run.out
    for name in ("report.html", "summary.md", "result.json", "junit.xml", "traffic.json"):
        assert (tmp_path / name).is_file()


def test_the_teams_broken_request_is_a_client_finding_apart(
    clean: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = judge(capsys, clean.har, "--report-dir", tmp_path)
    section = run.out.split("Your requests: 1 client finding(s) (not charged to the server):")[1]
    assert f"{clean.har}#16 emit_event answered 422" in section.splitlines()[1]
    assert "'brand_id' is a required property" in section
    # The server refused it (EMIT-2 held): nothing of it is charged to the server.
    assert rows(tmp_path)["EMIT-2"] == "pass"
    findings = json.loads((tmp_path / "traffic.json").read_text())["client_findings"]
    assert [f["origin"] for f in findings] == [f"{clean.har}#16"]
    assert "Your requests: client findings" in (tmp_path / "report.html").read_text()
    assert "client findings" in (tmp_path / "summary.md").read_text()


def test_coverage_names_operations_status_codes_and_what_was_skipped(
    clean: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    out = judge(capsys, clean.cassette).out
    assert "reverse_event      200 x1, 409 x1, 422 x1" in out
    assert "1 not a storefront operation" in out
    assert "17 judged of 18" in out


@pytest.mark.parametrize(
    ("fault", "requirement"),
    [
        ("double_reverse_accepted", "REV-4"),
        ("lowercase_status", "GEN-4"),
        ("reverse_keeps_points", "REV-2"),
        ("preview_consumes_points", "PRV-2"),
    ],
)
def test_a_faulty_servers_recording_fails_that_faults_requirement(
    fault: str,
    requirement: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cassette, har, _ = record(tmp_path / "rec", frozenset({fault}))
    for recording in (cassette, har):
        report_dir = tmp_path / recording.suffix.lstrip(".")
        run = judge(capsys, recording, "--report-dir", report_dir)
        assert run.code == 1, run.out
        failed = {r for r, status in rows(report_dir).items() if status == "fail"}
        assert failed == {requirement}
        # The finding names the exchange and repeats the recorded request.
        assert f"{requirement} (MUST) fail in {recording}#" in run.out
        assert "reproduce: " in run.out


def test_secrets_of_a_har_reach_no_output_and_no_shared_copy(
    clean: Recorded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared, reports, junit = tmp_path / "shared", tmp_path / "reports", tmp_path / "ci.xml"
    run = judge(
        capsys,
        clean.har,
        clean.cassette.parent,
        "--report-dir",
        reports,
        "--junit",
        junit,
        "--scrub-to",
        shared,
    )
    written = [p for p in (*reports.rglob("*"), *shared.rglob("*"), junit) if p.is_file()]
    assert {p.name for p in shared.rglob("*") if p.is_file()} == {
        "checkout.har",
        "test_checkout.yaml",
    }
    texts = [run.out, run.err, *(p.read_text() for p in written)]
    for secret in clean.story.secrets:
        assert len(secret) >= 8
        assert not any(secret in text for text in texts), secret[:12]
    assert "Bearer $MASIVO_TOKEN" in run.out  # reproducers use the reader's own token
    har = json.loads((shared / "checkout.har").read_text())
    assert "ana@example.com" not in (shared / "checkout.har").read_text()  # personal data
    assert har["log"]["entries"][1]["request"]["cookies"][0]["value"] == scrub.REDACTED
    # The shared copy is still a recording, judged the same; but its token is gone, so
    # what only the token shows (AUTH-2, AUTH-3) is not checked, with that reason.
    scrub.clear_secrets()
    again = judge(capsys, shared, "--report-dir", tmp_path / "again")
    assert again.code == 0
    before, after = rows(reports), rows(tmp_path / "again")
    assert {r for r in before if before[r] != after[r]} == {"AUTH-2", "AUTH-3"}
    assert after["AUTH-2"] == "not checked"
    assert "the recorder replaced it" in again.out
    assert SESSION_COOKIE not in again.out


def test_require_names_what_the_traffic_did_not_judge(
    clean: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    assert judge(capsys, clean.cassette, "--require", "rev-4").code == 0
    assert judge(capsys, clean.cassette, "--require", "REV-4", "--require", "REV-6").code == 3
    assert judge(capsys, clean.cassette, "--require-all", "-q").code == 3
    unknown = judge(capsys, clean.cassette, "--require", "REV-99")
    assert unknown.code == 2
    assert unknown.err.count("\n") == 1
    assert "REV-99" in unknown.err


def test_base_url_narrows_to_that_base(clean: Recorded, capsys: pytest.CaptureFixture[str]) -> None:
    other = judge(capsys, clean.cassette, "--base-url", "https://app.masivo.ai/api/storefront/v1")
    assert other.code == 2
    assert "nothing to judge" in other.err
    base = clean.story.exchanges[0].request.url
    prefix = f"{base.scheme}://{base.netloc.decode()}/api/storefront/v1"
    assert judge(capsys, clean.cassette, "--base-url", prefix).code == 0


TRUNCATED = 'interactions:\n- request:\n    body: \'{"a": 1\n    method: POST\n'
PYTHON_TAGGED = (
    "interactions:\n- request: !!python/object/apply:os.system ['echo owned']\n"
    "  response: {}\nversion: 1\n"
)


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("truncated.yaml", TRUNCATED, "not valid YAML at line"),
        ("broken.har", '{"log": {"entries": [', "not valid JSON"),
        ("tagged.yaml", PYTHON_TAGGED, "Python YAML tag !!python/object/apply:os.system"),
        ("empty.yml", "   \n", "the file is empty"),
        ("odd.har", '{"log": {"entries": [{"request": {}}]}}', "entry 1 lacks"),
        ("config.yaml", "retries: 3\n", "neither a vcrpy cassette"),
    ],
)
def test_an_unreadable_input_is_one_line_and_exit_2(
    name: str, content: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    path.write_text(content)
    run = judge(capsys, path)
    assert run.code == 2
    assert run.out == ""
    assert run.err.count("\n") == 1, run.err
    assert str(path) in run.err
    assert said in run.err
    assert "Traceback" not in run.err


def test_a_folder_with_nothing_and_a_missing_path_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("no recording here")
    for path, said in ((tmp_path, "holds no recording"), (tmp_path / "gone.har", "does not exist")):
        run = judge(capsys, path)
        assert run.code == 2
        assert run.err.count("\n") == 1
        assert said in run.err


def test_a_file_over_the_limit_is_refused_before_it_is_read(
    clean: Recorded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(traffic, "MAX_FILE_BYTES", 1000)
    run = judge(capsys, clean.har)
    assert run.code == 2
    assert "a recording may have" in run.err
    assert run.err.count("\n") == 1
