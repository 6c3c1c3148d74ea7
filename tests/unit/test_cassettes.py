"""Cassettes: the vcrpy settings, reading cassettes back, and a real record/replay trip."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
import pytest
import uvicorn
import vcr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from vcr.errors import CannotOverwriteExistingCassetteException

from masivo_conformance import scrub
from masivo_conformance.errors import CassetteError
from masivo_conformance.recording.cassettes import (
    iter_cassettes,
    load_cassette,
    path_template,
    vcr_config,
)

LEAK_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"Bearer [A-Za-z0-9._-]{8,}"),
)
CANARY_KEY = "canary-key-93be0c11aa"

CASSETTE = """\
interactions:
- request:
    body: '{"customer_id": "c-1"}'
    headers:
      Authorization:
      - <redacted>
    method: POST
    uri: http://127.0.0.1:8123/api/v1/behavior/events?x=1
  response:
    body:
      string: '{"data": {"id": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "status": "RESOLVED"}}'
    headers:
      content-type:
      - application/json; charset=utf-8
    status:
      code: 201
      message: Created
- request:
    body: null
    headers: {}
    method: GET
    uri: http://127.0.0.1:8123/api/v1/customers/mc-4a1b2c3d4e
  response:
    body:
      string: ''
    headers: {}
    status:
      code: 404
      message: Not Found
version: 1
"""


@pytest.fixture(autouse=True)
def no_registered_secrets() -> Iterator[None]:
    scrub.clear_secrets()
    yield
    scrub.clear_secrets()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_vcr_config_matches_on_method_path_and_query_and_plays_repeats_in_order() -> None:
    config = vcr_config()
    assert config["match_on"] == ("method", "path", "query")
    assert config["allow_playback_repeats"] is False
    assert config["decode_compressed_response"] is True
    assert callable(config["before_record_request"])
    assert callable(config["before_record_response"])


def test_load_cassette_reads_interactions_in_order(tmp_path: Path) -> None:
    path = write(tmp_path / "test_events" / "test_emit.yaml", CASSETTE)
    cassette = load_cassette(path, tmp_path, base_path="/api/v1")
    assert cassette.name == "test_events/test_emit"
    first, second = cassette.interactions
    assert (first.method, first.path, first.query) == ("POST", "/behavior/events", (("x", "1"),))
    assert (first.status, first.content_type) == (201, "application/json; charset=utf-8")
    assert first.body == {
        "data": {"id": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "status": "RESOLVED"}
    }
    assert (second.request, second.status, second.body) == ("GET /customers/{id}", 404, None)


def test_load_cassette_without_base_path_keeps_the_whole_path(tmp_path: Path) -> None:
    cassette = load_cassette(write(tmp_path / "m" / "t.yaml", CASSETTE))
    assert cassette.name == "m/t"
    assert cassette.interactions[0].path == "/api/v1/behavior/events"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("interactions:\n- request: {method: GET\n", "not valid YAML"),
        ("interactions: [\n  {request: 'unterminated\n", "not valid YAML"),
        ("- request: {}\n", "not a vcrpy cassette"),
        ("just a string\n", "not a vcrpy cassette"),
        ("interactions:\n- request: {method: GET, uri: 'http://h/x'}\nversion: 1\n", "lacks"),
        ("", "empty"),
    ],
)
def test_load_cassette_refuses_a_corrupt_file_naming_it(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = write(tmp_path / "test_mod" / "test_broken.yaml", text)
    with pytest.raises(CassetteError) as caught:
        load_cassette(path)
    message = str(caught.value)
    assert f"cassette {path} is corrupt" in message
    assert reason in message
    assert "re-record it with `masivo-conformance record`" in message


@pytest.mark.parametrize("keep", [0.35, 0.5, 0.8, 0.97])
def test_load_cassette_refuses_a_truncated_file(tmp_path: Path, keep: float) -> None:
    path = write(tmp_path / "test_mod" / "test_cut.yaml", CASSETTE[: int(len(CASSETTE) * keep)])
    with pytest.raises(CassetteError, match=re.escape(str(path))):
        load_cassette(path)


def test_load_cassette_refuses_a_file_cut_at_a_line_end(tmp_path: Path) -> None:
    """Cut after a whole interaction the YAML still parses; the missing last line tells."""
    text = CASSETTE[: CASSETTE.index("version: 1")]
    path = write(tmp_path / "m" / "t.yaml", text)
    with pytest.raises(CassetteError, match="truncated"):
        load_cassette(path)


def test_load_cassette_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="does not exist"):
        load_cassette(tmp_path / "nope.yaml")


def test_iter_cassettes_lists_yaml_files_in_a_stable_order(tmp_path: Path) -> None:
    for name in ("b/t2.yaml", "a/t1.yaml", "a/notes.txt"):
        write(tmp_path / name, CASSETTE)
    assert list(iter_cassettes(tmp_path)) == [tmp_path / "a/t1.yaml", tmp_path / "b/t2.yaml"]
    with pytest.raises(CassetteError, match="no cassette folder"):
        list(iter_cassettes(tmp_path / "missing"))


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (
            "/behavior/events/3c90c3cc-0d44-4b50-8888-8dd25736052a/reverse",
            "/behavior/events/{eventId}/reverse",
        ),
        (
            "/api/storefront/v1/behavior/events/abc/fulfill",
            "/api/storefront/v1/behavior/events/{eventId}/fulfill",
        ),
        ("/customers/mc-anything", "/customers/{id}"),
        ("/customers", "/customers"),
    ],
)
def test_path_template_masks_ids_with_the_openapi_templates(path: str, template: str) -> None:
    assert path_template(path) == template


def test_path_template_falls_back_to_masking_id_like_segments() -> None:
    assert path_template("/v1/things/12345/parts/ab12cd34ef") == ("/v1/things/{id}/parts/{id}")


# --- a real round trip: record with scrubbing, then replay with the server gone -------


def canary_jwt() -> str:
    return jwt.encode({"sub": "canary", "exp": int(time.time()) + 3600}, "s" * 32, "HS256")


def build_app(token: str) -> Starlette:
    reads: dict[str, int] = {}

    async def authorize(request: Request) -> JSONResponse:
        if request.headers.get("x-api-key") != CANARY_KEY:
            return JSONResponse({"error": "unauthorized", "details": "bad key"}, 401)
        return JSONResponse({"data": token})

    async def get_customer(request: Request) -> JSONResponse:
        customer_id = request.path_params["id"]
        reads[customer_id] = reads.get(customer_id, 0) + 1
        customer = {"id": customer_id, "email": "ana@example.com", "document_number": DOCUMENT}
        # Long enough for the gzip middleware, so the cassette must store it decoded.
        wallet = {"totals": [{"total": 10 * i, "reward_id": str(uuid.uuid4())} for i in range(5)]}
        return JSONResponse(
            {"data": {"customer": customer, "wallet": wallet, "reads": reads[customer_id]}}
        )

    async def emit(request: Request) -> JSONResponse:
        payload = await request.json()
        event = {
            "id": str(uuid.uuid4()),
            "customer_id": payload["customer_id"],
            "status": "RESOLVED",
            "issued_at": datetime.now(UTC).isoformat(),
        }
        return JSONResponse({"data": event}, 201)

    routes = [
        Route("/v1/auth/authorize", authorize),
        Route("/v1/customers/{id}", get_customer),
        Route("/v1/behavior/events", emit, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(GZipMiddleware, minimum_size=50)])


class LiveServer:
    """A uvicorn server in a thread on a free loopback port."""

    def __init__(self, token: str) -> None:
        self.token = token
        config = uvicorn.Config(build_app(token), host="127.0.0.1", port=0, log_level="error")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the test server did not start"
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the test server did not stop"


DOCUMENT = "DNI-X7Q2-22119"


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    server = LiveServer(canary_jwt())
    yield server
    server.stop()


def run_scenario(client: httpx.Client) -> list[httpx.Response]:
    auth = client.get("/auth/authorize", headers={"x-api-key": CANARY_KEY})
    bearer = {"Authorization": f"Bearer {auth.json()['data']}"}
    return [
        auth,
        client.post(
            "/behavior/events",
            json={"customer_id": "mc-1", "email": "ana@example.com"},
            headers=bearer,
        ),
        client.get("/customers/mc-1", headers=bearer),
        client.get("/customers/mc-1", headers=bearer),
    ]


@pytest.mark.slow
def test_round_trip_records_scrubbed_and_replays_offline(
    tmp_path: Path, live_server: LiveServer
) -> None:
    token = live_server.token
    scrub.register_secret(CANARY_KEY)
    scrub.register_secret(token)
    path = tmp_path / "test_flows" / "test_round_trip.yaml"
    recorder = vcr.VCR()

    with (
        recorder.use_cassette(str(path), record_mode="once", **vcr_config()),
        httpx.Client(base_url=live_server.base_url) as client,
    ):
        recorded = run_scenario(client)
    assert [r.status_code for r in recorded] == [200, 201, 200, 200]
    assert recorded[0].json()["data"] == token  # the client itself saw the real token
    assert recorded[2].headers["content-encoding"] == "gzip"

    text = path.read_text(encoding="utf-8")
    # The document number is long and odd enough that no timestamp of the recording holds
    # it by chance ("2211" once matched a Date header's microseconds).
    for secret in (token, CANARY_KEY, "ana@example.com", DOCUMENT):
        assert secret not in text
    for pattern in LEAK_PATTERNS:
        assert not pattern.search(text)
    assert "content-encoding" not in text.lower()  # stored decoded, readable

    live_server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{live_server.base_url}/auth/authorize", timeout=2)

    # Replay against a dummy host: only method, path and query have to match.
    with (
        recorder.use_cassette(str(path), record_mode="none", **vcr_config()),
        httpx.Client(base_url="http://replay.invalid/v1") as client,
    ):
        replayed = run_scenario(client)
        with pytest.raises(CannotOverwriteExistingCassetteException):
            client.get("/customers/mc-1")  # both recorded reads are used up
    assert [r.status_code for r in replayed] == [200, 201, 200, 200]
    assert replayed[0].json() == {"data": "<redacted>"}
    assert replayed[1].json()["data"]["customer_id"] == "mc-1"
    customer = replayed[2].json()["data"]["customer"]
    assert customer["email"] == "<redacted>"
    assert customer["document_number"] == "<redacted>"
    # Identical requests come back in recorded order, each once.
    assert [r.json()["data"]["reads"] for r in replayed[2:]] == [1, 2]

    cassette = load_cassette(path, tmp_path, base_path="/v1")
    assert [i.request for i in cassette.interactions] == [
        "GET /auth/authorize",
        "POST /behavior/events",
        "GET /customers/{id}",
        "GET /customers/{id}",
    ]
    assert json.loads(cassette.interactions[1].text)["data"]["status"] == "RESOLVED"
