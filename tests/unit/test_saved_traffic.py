"""The run's own traffic (suite/saved_traffic.py): kept within its bound, and what was
not kept is said in the file, not lost silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from masivo_conformance.suite import saved_traffic as module
from masivo_conformance.suite.saved_traffic import SavedTraffic


def _note(saved: SavedTraffic, body: bytes) -> None:
    saved.note(
        "GET", "http://127.0.0.1:1/api/storefront/v1/rewards", [], None, 200, [], body, (0.0, 0.1)
    )


def test_exchanges_past_the_bound_are_counted_and_said_in_the_har(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(module, "MAX_KEPT_BYTES", 10)
    saved = SavedTraffic()
    saved.start(tmp_path)
    for _ in range(3):
        _note(saved, b'{"data":[]}'[:6])  # 6 bytes each: the second passes the bound
    har, cassette = saved.finish("main")
    log = json.loads(har.read_text())["log"]
    assert len(log["entries"]) == 1
    assert log["comment"].startswith("2 later exchange(s) not kept")
    assert cassette.is_file()


def test_nothing_is_kept_or_written_outside_a_session(tmp_path: Path) -> None:
    saved = SavedTraffic()
    _note(saved, b"{}")
    assert saved.finish("main") == []
    saved.start(None)  # kept to be judged, not written
    _note(saved, b"{}")
    assert saved.finish("main") == []
