"""Cleanup after a killed run: a reverse answered 404 or 409 means the target has the
event where no reverse can change it (the run reversed it just before it was killed, it
failed, or the target does not know it), so nothing is left to undo; any other refusal
keeps the event live for the next cleanup."""

from __future__ import annotations

from pathlib import Path

import httpx

from masivo_conformance.suite.client import ApiClient
from masivo_conformance.suite.journal import Journal
from masivo_conformance.suite.storefront import EventLog, IdFactory, Storefront

BASE = "http://127.0.0.1:9/api/storefront/v1"
ANSWERS = {"e-reversed-now": 200, "e-reversed-before": 409, "e-unknown": 404, "e-broken": 500}


def answer(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/auth/authorize"):
        return httpx.Response(200, json={"data": "token-abcdef"})
    event_id = request.url.path.split("/")[-2]
    status = ANSWERS[event_id]
    if status == 200:
        event = {"id": event_id, "customer_id": "c", "type": "PURCHASE", "status": "REVERSED"}
        return httpx.Response(200, json={"data": event})
    return httpx.Response(status, json={"error": "conflict", "details": "cannot reverse"})


def test_a_reverse_answered_404_or_409_leaves_nothing_live(tmp_path: Path) -> None:
    journal = Journal.for_target(BASE, tmp_path)
    events = EventLog(journal=journal)
    for event_id in ANSWERS:
        journal.note(event_id, "RESOLVED")
        events.statuses[event_id] = "RESOLVED"
    client = ApiClient(BASE, api_key="key-abcdef", transport=httpx.MockTransport(answer))
    storefront = Storefront(
        client,
        brand_id="b",
        ids=IdFactory("cleanup"),
        writes_allowed=True,
        settle_time=0.0,
        events=events,
    )
    left = storefront.cleanup()
    assert list(left) == ["e-broken"]
    assert left["e-broken"].startswith("reverse answered HTTP 5"), left
    assert journal.live() == ["e-broken"]
    client.close()
