"""Real traffic for `judge`'s tests: one story of a team's client against a reference
server, recorded by vcrpy (a cassette, as a team's pytest-recording run writes it) and
as HAR 1.2 (as devtools or Playwright save it), with the secrets a real recording holds.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import vcr

from masivo_conformance import scrub
from masivo_conformance.recording import traffic
from masivo_conformance.reporting.judging import judge_traffic
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer
from masivo_conformance.suite.payloads import preview_request, purchase

SESSION_COOKIE = "sess-9f8e7d6c5b4a39281706"  # a browser's session cookie: a secret
TRACKING_COOKIE = "trk-0a1b2c3d4e5f60718293"


@dataclass
class Story:
    """What was recorded: the exchanges in order, the secrets in them."""

    token: str = ""
    api_key: str = ""
    exchanges: list[httpx.Response] = field(default_factory=list)

    @property
    def secrets(self) -> list[str]:
        return [self.token, self.api_key, SESSION_COOKIE, TRACKING_COOKIE]


def _points_reward(client: httpx.Client) -> str:
    rewards = client.get("/rewards", params={"from": 0, "to": 50}).json()["data"]
    return str(next(r["id"] for r in rewards if r.get("type") == "POINTS"))


def checkout(client: httpx.Client, api_key: str, brand: str, prefix: str) -> tuple[str, str, str]:
    """The part of a team's flow every recording test shares: authorize, a customer who
    earns, previews between wallet reads, earns again and reverses it twice, a wallet
    read after each. (token, customer id, the reversed event's id)"""
    token = client.get("/auth/authorize", headers={"x-api-key": api_key}).json()["data"]
    assert isinstance(token, str)
    client.headers["authorization"] = f"Bearer {token}"
    customer = f"{prefix}-{datetime.now(UTC).strftime('%H%M%S%f')}"
    client.post("/customers", json={"id": customer, "email": "ana@example.com"})
    client.get(f"/customers/{customer}")
    client.post("/behavior/events", json=purchase(customer, brand, value=500.0))
    client.get(f"/customers/{customer}")
    redeem = [{"id": _points_reward(client), "amount": 10}]
    client.put("/events/redeem/preview", json=preview_request(customer, brand, order_redeem=redeem))
    client.get(f"/customers/{customer}")
    event = client.post("/behavior/events", json=purchase(customer, brand, value=300.0))
    event_id = str(event.json()["data"]["id"])
    client.post(f"/behavior/events/{event_id}/reverse", json={"reason": "returned"})
    client.get(f"/customers/{customer}")
    client.post(f"/behavior/events/{event_id}/reverse", json={"reason": "again"})
    return token, customer, event_id


def _keep(story: Story, response: httpx.Response) -> None:
    response.read()
    story.exchanges.append(response)


def tell(server: EmbeddedServer, story: Story) -> None:
    """The team's flow: earn, preview, earn and reverse (twice), fulfil a reversed event,
    a standby purchase fulfilled, a request that forgets brand_id, a reverse without
    reason, and a call outside the contract."""
    brand = server.brand_id
    with httpx.Client(
        base_url=server.base_url,
        headers={"cookie": f"session={SESSION_COOKIE}; _trk={TRACKING_COOKIE}"},
        event_hooks={"response": [lambda response: _keep(story, response)]},
    ) as client:
        token, customer, event_id = checkout(client, server.api_key, brand, "team")
        story.token, story.api_key = token, server.api_key
        client.patch(f"/behavior/events/{event_id}/fulfill")
        standby = client.post(
            "/behavior/events", json=purchase(customer, brand, value=80.0, fulfilled=False)
        )
        client.patch(f"/behavior/events/{standby.json()['data']['id']}/fulfill")
        broken = purchase(customer, brand)
        del broken["brand_id"]
        client.post("/behavior/events", json=broken)
        client.post(f"/behavior/events/{event_id}/reverse", json={})
        client.get("/health-check-of-our-own")


def record(tmp: Path, faults: frozenset[str] = frozenset()) -> tuple[Path, Path, Story]:
    """The story against a server with `faults`, as a cassette and as a HAR file."""
    story = Story()
    cassette = tmp / "cassettes" / "test_checkout.yaml"
    with EmbeddedServer(ServerConfig(faults=faults)) as server:
        recorder = vcr.VCR(record_mode="all", decode_compressed_response=True)
        with recorder.use_cassette(str(cassette)):
            tell(server, story)
    har = tmp / "har" / "checkout.har"
    har.parent.mkdir(parents=True, exist_ok=True)
    har.write_text(json.dumps(har_of(story.exchanges)), encoding="utf-8")
    return cassette, har, story


def _pairs(headers: httpx.Headers) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in headers.multi_items()]


def har_of(responses: list[httpx.Response]) -> dict[str, Any]:
    """HAR 1.2 as Chromium's devtools write it: cookies listed, binary bodies base64."""
    entries = []
    began = datetime.now(UTC)
    for n, response in enumerate(responses):
        request = response.request
        entry: dict[str, Any] = {
            # One after the other, as the story made them (overlapping times are calls
            # made at once, which the judge tells apart).
            "startedDateTime": (began + timedelta(milliseconds=10 * n)).isoformat(),
            "time": 1.5,
            "request": {
                "method": request.method,
                "url": str(request.url),
                "httpVersion": "HTTP/1.1",
                "headers": [
                    {"name": ":authority", "value": request.url.host},
                    *_pairs(request.headers),
                ],
                "cookies": [
                    {"name": "session", "value": SESSION_COOKIE},
                    {"name": "_trk", "value": TRACKING_COOKIE},
                ],
                "queryString": [],
                "headersSize": -1,
                "bodySize": len(request.content),
            },
            "response": {
                "status": response.status_code,
                "statusText": response.reason_phrase,
                "httpVersion": "HTTP/1.1",
                "headers": _pairs(response.headers),
                "cookies": [],
                "content": {
                    "size": len(response.content),
                    "mimeType": response.headers.get("content-type", ""),
                },
                "redirectURL": "",
                "headersSize": -1,
                "bodySize": len(response.content),
            },
            "cache": {},
            "timings": {"send": 0, "wait": 1, "receive": 0.5},
        }
        if request.content:
            entry["request"]["postData"] = {
                "mimeType": request.headers.get("content-type", ""),
                "text": request.content.decode(),
            }
        content = entry["response"]["content"]
        if n % 2:  # every other body base64, as devtools keep some
            content["text"] = base64.b64encode(response.content).decode()
            content["encoding"] = "base64"
        else:
            content["text"] = response.text
        entries.append(entry)
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [],
            "entries": entries,
        }
    }


def judged_files(folder: Path) -> dict[str, dict[str, str]]:
    """`masivo-conformance judge`'s verdicts on each file `run --save-traffic` wrote in
    `folder`, judged alone (a HAR and a cassette of the same traffic), by requirement;
    the secrets judging registered in this process are forgotten after."""
    statuses: dict[str, dict[str, str]] = {}
    try:
        for path in sorted(folder.glob("traffic-*")):
            recordings, _ = traffic.read_traffic([path])
            judgement = judge_traffic(recordings)
            statuses[path.name] = {r.id: r.status for r in judgement.result.requirements}
    finally:
        scrub.clear_secrets()
    return statuses
