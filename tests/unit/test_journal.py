"""The cleanup journal: what a run created on a target, readable after the run died."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from masivo_conformance import scrub
from masivo_conformance.suite.journal import ID_LIMIT, Journal, journal_dir, usable_id

KEY = "mk_live_journal_key_8812"


def test_the_last_status_of_each_event_decides_what_is_live(tmp_path: Path) -> None:
    journal = Journal.for_target("https://app.masivo.ai/api/storefront/v1", tmp_path)
    journal.note("e1", "resolved")
    journal.note("e2", "STANDBY")
    journal.note("e3", "PENDING")
    journal.note("e1", "REVERSED")
    journal.note("e2", "CANCELLED")
    assert journal.live() == ["e3"]
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert journal.path.name.startswith("app.masivo.ai-")


def test_half_a_line_from_a_killed_run_is_skipped(tmp_path: Path) -> None:
    journal = Journal.for_target("http://127.0.0.1:9/v1", tmp_path)
    journal.note("e1", "RESOLVED")
    with journal.path.open("a") as handle:
        handle.write('{"event": "e2", "sta')
    assert journal.live() == ["e1"]


def test_compact_keeps_only_live_events_and_removes_an_empty_journal(tmp_path: Path) -> None:
    journal = Journal.for_target("http://127.0.0.1:9/v1", tmp_path)
    journal.note("e1", "RESOLVED")
    journal.note("e2", "REVERSED")
    journal.compact()
    assert journal.path.read_text().count("\n") == 1
    assert journal.live() == ["e1"]
    journal.note("e1", "REVERSED")
    journal.compact()
    assert not journal.path.exists()


def test_each_target_has_its_own_journal(tmp_path: Path) -> None:
    one = Journal.for_target("https://a.example/v1", tmp_path)
    other = Journal.for_target("https://a.example/v2", tmp_path)
    assert one.path != other.path


def test_a_journal_that_cannot_be_written_does_not_fail_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    Journal.for_target("http://x/v1", blocker / "sub").note("e1", "RESOLVED")  # no raise


def test_the_folder_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MASIVO_JOURNAL_DIR", str(tmp_path / "j"))
    assert journal_dir() == tmp_path / "j"
    monkeypatch.delenv("MASIVO_JOURNAL_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert journal_dir() == tmp_path / "state" / "masivo-conformance" / "journal"


# -- what the target chose: only what cleanup can use, never a secret --------------------------


@pytest.fixture
def key_registered() -> Iterator[str]:
    scrub.clear_secrets()
    scrub.register_secret(KEY)  # as the run's ApiClient does with the API key
    yield KEY
    scrub.clear_secrets()


def test_an_event_id_that_holds_the_key_is_counted_never_written(
    tmp_path: Path, key_registered: str
) -> None:
    journal = Journal.for_target("http://127.0.0.1:9/v1", tmp_path)
    journal.note("e1", "RESOLVED")
    journal.note(f"evt-{key_registered}", "RESOLVED")
    journal.note(f"evt-{key_registered}", "REVERSED")  # the same event: counted once
    text = journal.path.read_text()
    assert key_registered not in text
    assert scrub.REDACTED not in text  # not a redacted copy either: it would name no event
    assert journal.live() == ["e1"]
    assert journal.skipped() == 1


@pytest.mark.parametrize(
    "event_id",
    [
        "x" * (ID_LIMIT + 1),
        'e1\n{"event": "forged", "status": "RESOLVED"}',
        "e1\x1b[2J",
        "../../customers/mc-test-1",
        "e1?reason=x",
        "e%2F1",
        "e 1",
        "évt-1",
        "..",
        "",
    ],
    ids=[
        "long",
        "newline",
        "escape",
        "traversal",
        "query",
        "percent",
        "blank",
        "non-ascii",
        "dot-dot",
        "empty",
    ],
)
def test_an_event_id_cleanup_cannot_use_safely_is_skipped(tmp_path: Path, event_id: str) -> None:
    assert not usable_id(event_id)
    journal = Journal.for_target("http://127.0.0.1:9/v1", tmp_path)
    journal.note(event_id, "RESOLVED")
    assert journal.live() == []
    assert journal.skipped() == 1
    lines = journal.path.read_text().splitlines()
    assert [set(json.loads(line)) for line in lines] == [{"skipped", "at"}]


@pytest.mark.parametrize(
    "event_id", ["4d1c0d9e-7c1b-4b61-9f3e-2f0a1b2c3d4e", "evt_01HZX3", "a" * ID_LIMIT]
)
def test_ordinary_event_ids_are_kept(tmp_path: Path, event_id: str) -> None:
    journal = Journal.for_target("http://127.0.0.1:9/v1", tmp_path)
    journal.note(event_id, "PENDING")
    assert journal.live() == [event_id]
    assert journal.skipped() == 0


def test_a_status_that_is_no_word_is_kept_as_unknown_and_live(
    tmp_path: Path, key_registered: str
) -> None:
    journal = Journal.for_target("http://127.0.0.1:9/v1", tmp_path)
    journal.note("e1", f"REVERSED {key_registered}")
    journal.note("e2", "x" * 5000)
    assert key_registered not in journal.path.read_text()
    assert journal.statuses() == {"e1": "UNKNOWN", "e2": "UNKNOWN"}
    assert journal.live() == ["e1", "e2"]  # cleanup tries to reverse what it cannot tell


def test_entries_written_by_hand_or_an_older_version_obey_the_same_rules(
    tmp_path: Path,
) -> None:
    journal = Journal.for_target("http://127.0.0.1:9/v1", tmp_path)
    journal.path.write_text(
        "".join(
            json.dumps(entry) + "\n"
            for entry in (
                {"event": "e1", "status": "RESOLVED"},
                {"event": "e2\u001b]0;x", "status": "RESOLVED"},
                {"event": 7, "status": "RESOLVED"},
                ["not", "an", "entry"],
            )
        )
    )
    assert journal.live() == ["e1"]
    assert journal.skipped() == 2


def test_compact_writes_the_journal_private_from_the_start(tmp_path: Path) -> None:
    journal = Journal.for_target("http://127.0.0.1:9/v1", tmp_path)
    journal.note("e1", "RESOLVED")
    journal.note("bad id", "RESOLVED")
    journal.compact()
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    assert journal.skipped() == 0  # said by the cleanup that compacted it
    assert journal.live() == ["e1"]


def test_cleanup_says_how_many_events_it_cannot_know_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from masivo_conformance.cli import build_parser  # noqa: PLC0415 - the CLI, only here

    base_url = "http://127.0.0.1:9/v1"  # never reached: nothing in the journal is live
    monkeypatch.setenv("MASIVO_JOURNAL_DIR", str(tmp_path))
    journal = Journal.for_target(base_url)
    journal.note("e1", "REVERSED")
    journal.note("x" * (ID_LIMIT + 1), "RESOLVED")
    args = build_parser().parse_args(["cleanup", "--base-url", base_url, "--api-key", "k" * 12])
    assert args.execute(args) == 0
    out = capsys.readouterr().out
    assert "1 event(s) that runs saw on http://127.0.0.1:9/v1 are not in the journal" in out
    assert "nothing left live" in out
    assert not journal.path.exists()  # said once: the count goes with the compacted journal
