"""The cleanup journal: what a run created on a target, readable after the run died."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from masivo_conformance.suite.journal import Journal, journal_dir


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
