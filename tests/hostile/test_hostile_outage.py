"""A request that kills the target is named. The target answers it, then dies: the call
that finds it gone is the next, innocent one, so the outage line and the report name
the last requests sent before, newest first, with their curl lines, as the suspects."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from tests.cli.cli_runs import run_cli, target_args
from tests.hostile.tamperer import Action, Exchange, Rewrite, Tamperer


class AnswerThenDie(Action):
    """Answer the exchange as the upstream did, then stop the whole target."""

    def __init__(self, tamperer: Tamperer) -> None:
        self.tamperer = tamperer

    async def send(self, exchange: Exchange, writer: asyncio.StreamWriter) -> bool:
        await Rewrite(lambda same: same).send(exchange, writer)
        threading.Thread(target=self.tamperer.stop).start()
        return False


def test_an_outage_names_the_last_requests_before_it(hostile: Tamperer, tmp_path: Path) -> None:
    hostile.rule("preview_order", AnswerThenDie(hostile), times=1)
    run = run_cli("run", *target_args(hostile), "--profile", "budget", report_dir=tmp_path)
    assert run.exit_code == 2, run.tail()
    (killer,) = [path for method, path, _ in hostile.hits if method == "PUT"]
    said = run.stdout + run.stderr
    assert "the target stopped answering" in said
    assert f"PUT {hostile.base_url.split('/api')[0]}{killer}" in said, said[-2000:]
    assert run.result is not None
    suspects = [note for note in run.result["notes"] if note.startswith("suspect ")]
    assert any("curl -sS -X PUT " in note and "/events/redeem/preview" in note for note in suspects)
