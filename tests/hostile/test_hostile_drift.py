"""`drift` against a target whose answers hold text that is not valid Unicode."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli.cli_runs import run_cli
from tests.hostile.tamperer import Tamperer, json_patch

COMMITTED = Path(__file__).resolve().parents[2] / "cassettes"


def test_a_lone_surrogate_in_a_live_answer_is_reported_not_a_traceback(
    hostile: Tamperer, tmp_path: Path
) -> None:
    def odd_member(body: Any) -> Any:
        for reward in body.get("data") or []:
            # A member name drift prints (member added); sent as the JSON escape \ud800.
            reward["note\ud800"] = 1
        return body

    hostile.rule("list_rewards", json_patch(odd_member))

    run = run_cli(
        "drift",
        "--base-url",
        hostile.base_url,
        "--api-key",
        hostile.api_key,
        "--brand-id",
        hostile.brand_id,
        "--settle-time",
        "0.2",
        "--cassettes",
        str(COMMITTED),
        "-q",
        report_dir=tmp_path,
    )

    assert hostile.hits, "no rewards answer was tampered with: nothing was tested"
    assert "Traceback" not in run.stderr, run.tail()
    # An added member is additive drift: exit 0, as documented, not 1 from a crash.
    assert run.exit_code == 0, run.tail()
    assert "note\ufffd" in run.stdout
    notes = [line for line in run.stdout.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1
    assert "lone surrogate" in notes[0]
    report = json.loads((tmp_path / "drift.json").read_text(encoding="utf-8"))
    assert report["notes"] == [notes[0].removeprefix("note: ")]
    assert report["summary"]["breaking"] == 0
