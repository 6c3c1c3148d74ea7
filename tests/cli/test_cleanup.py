"""Cleanup that survives an interruption: the journal a run writes on a real target, and
`masivo-conformance cleanup` reversing what an interrupted run left live."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from masivo_conformance.server.embedded import EmbeddedServer
from masivo_conformance.suite.client import ApiClient
from masivo_conformance.suite.journal import Journal
from masivo_conformance.suite.storefront import EventLog, IdFactory, Storefront
from tests.cli.cli_runs import run_cli, target_args
from tests.hostile.tamperer import replace


def _storefront(server: EmbeddedServer, client: ApiClient, events: EventLog) -> Storefront:
    return Storefront(
        client,
        brand_id=server.brand_id,
        ids=IdFactory("cleanup-test"),
        writes_allowed=True,
        settle_time=0.0,
        events=events,
        host=server.base_url,
    )


def test_cleanup_reverses_what_the_journal_says_is_live(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    journal = Journal.for_target(server.base_url, tmp_path)
    client = ApiClient(server.base_url, api_key=server.api_key, timeout=5)
    sf = _storefront(server, client, EventLog(journal=journal))
    customer = sf.create_customer()
    emitted = [sf.event_id(sf.emit_purchase(customer, value=v)) for v in (10.0, 20.0)]
    standby = sf.event_id(sf.emit_purchase(customer, value=30.0, fulfilled=False))
    sf.reverse(emitted[0])  # reversed by the run itself: not the cleanup's business
    assert sorted(journal.live()) == sorted([emitted[1], standby])

    run = run_cli("cleanup", *target_args(server), env={"MASIVO_JOURNAL_DIR": str(tmp_path)})

    assert run.exit_code == 0, run.stdout + run.stderr
    assert "reversed 2 of 2 live events" in run.stdout
    assert journal.live() == []
    # The target agrees: each of them is final now, a second reverse is refused.
    for event_id in (emitted[1], standby):
        again = client.request(
            "POST", f"/behavior/events/{event_id}/reverse", json_body={"reason": "x"}
        )
        assert 400 <= again.status_code < 500
    client.close()
    nothing = run_cli("cleanup", *target_args(server), env={"MASIVO_JOURNAL_DIR": str(tmp_path)})
    assert nothing.exit_code == 0
    assert "nothing left live" in nothing.stdout


def test_an_interrupted_run_is_cleaned_up_later(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    journal = Journal.for_target(server.base_url, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASIVO_")}
    env["MASIVO_JOURNAL_DIR"] = str(tmp_path)
    run = subprocess.Popen(
        [sys.executable, "-m", "masivo_conformance", "run", *target_args(server), "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while len(journal.live()) < 3 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.05)
    finally:
        run.send_signal(signal.SIGKILL)  # no teardown, no cleanup: what CI's timeout does
        run.wait()
    left = journal.live()
    assert len(left) >= 3, "the run ended before it had created three events"

    cleanup = run_cli("cleanup", *target_args(server), env={"MASIVO_JOURNAL_DIR": str(tmp_path)})

    assert cleanup.exit_code == 0, cleanup.stdout + cleanup.stderr
    assert f"of {len(left)} live events" in cleanup.stdout
    assert journal.live() == []


def test_cleanup_of_the_embedded_server_is_refused_in_one_line() -> None:
    run = run_cli("cleanup")
    assert run.exit_code == 2
    assert run.stderr.strip().count("\n") == 0
    assert "cleanup needs a target" in run.stderr


def test_what_cleanup_cannot_reverse_is_named_with_why_and_what_to_do(
    hostile: Any, tmp_path: Path
) -> None:
    """A target that refuses the cleanup's reverse: the event stays in the journal, and
    the line says why (the target's status and words) and what to do next."""
    journal = Journal.for_target(hostile.base_url, tmp_path)
    client = ApiClient(hostile.base_url, api_key=hostile.api_key, timeout=5)
    sf = _storefront(hostile, client, EventLog(journal=journal))
    event_id = sf.event_id(sf.emit_purchase(sf.create_customer(), value=10.0))
    client.close()
    hostile.rule("reverse_event", replace(status=503, body='{"error": "ledger locked"}'))

    run = run_cli("cleanup", *target_args(hostile), env={"MASIVO_JOURNAL_DIR": str(tmp_path)})

    assert run.exit_code == 1, run.stdout + run.stderr
    assert f"{event_id} (reverse answered HTTP 503: ledger locked)" in run.stdout, run.stdout
    assert "Run this command again later" in run.stdout
    assert journal.live() == [event_id]
