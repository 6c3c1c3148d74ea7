"""The reference server under hostile clients: big and wide bodies, CPU-heavy requests,
non-HTTP bytes, slow or idle connections, too many connections, stale tokens, and the
mode of its database file."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest

from masivo_conformance import contract
from masivo_conformance.server import EmbeddedServer, ServerConfig
from masivo_conformance.server.bodies import MAX_BODY_BYTES

from .conftest import Api


def error_body(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert contract.validate("error.schema.json", response.json()) == []
    details: str = response.json()["details"]
    return details


def preview_body(api: Api, products: list[object]) -> dict[str, object]:
    return {
        "customer_id": "nobody",
        "brand_id": api.brand_id,
        "order": {"value": 1, "products": products},
    }


def connect(api: Api) -> socket.socket:
    address = urlsplit(api.server.base_url)
    assert address.hostname is not None
    assert address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=5)


def closed_by_server(sock: socket.socket, within: float) -> bool:
    """True once the server closes the connection (recv gives b"" or a reset)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_256_kib_is_refused_with_413(api: Api, chunked):
    raw = json.dumps(preview_body(api, [1] * 200_000)).encode()
    assert len(raw) > 2 * MAX_BODY_BYTES
    content = iter([raw[i : i + 65536] for i in range(0, len(raw), 65536)]) if chunked else raw
    response = api.http.put("/events/redeem/preview", content=content)
    assert "limited to 262144 bytes" in error_body(response, 413)
    assert api.http.get("/rewards", params={"from": 0, "to": 0}).status_code == 200


def test_width_and_depth_are_refused_before_the_schema_is_checked(api: Api):
    wide = api.http.put("/events/redeem/preview", json=preview_body(api, [1] * 1001))
    assert "$.order.products: more than 1000" in error_body(wide, 422)
    deep: object = 1
    for _ in range(70):
        deep = [deep]
    nested = api.http.put("/events/redeem/preview", json=preview_body(api, [deep]))
    assert "nested more than 64 levels" in error_body(nested, 422)


def test_schema_validation_reports_the_first_three_problems(api: Api):
    response = api.http.put("/events/redeem/preview", json=preview_body(api, ["x"] * 900))
    details = error_body(response, 422)
    assert details.count("$.order.products[") == 3


def test_cpu_heavy_bodies_do_not_delay_other_clients(api: Api):
    """Parsing and validating run off the event loop: a GET is answered in 100 ms while
    another client sends oversized bodies and big ones that take long to validate."""
    oversized = json.dumps(preview_body(api, [1] * 200_000)).encode()
    # Schema-valid and under the size limit, yet ~0.2 s of validation (uuid formats).
    redeem = [{"id": "7aabd51b-dae2-4ad8-9b2c-998ea76caeae", "amount": 1}] * 3
    heavy = json.dumps(preview_body(api, [{"sku": "a", "value": 1, "redeem": redeem}] * 1000))
    assert len(heavy) < MAX_BODY_BYTES
    stop = threading.Event()

    def flood() -> None:
        with httpx.Client(base_url=api.server.base_url, headers=api.http.headers) as client:
            while not stop.is_set():
                client.put("/events/redeem/preview", content=oversized)
                client.put("/events/redeem/preview", content=heavy)

    worker = threading.Thread(target=flood)
    worker.start()
    try:
        time.sleep(0.2)
        delays = []
        for _ in range(15):
            started = time.perf_counter()
            assert api.http.get("/rewards", params={"from": 0, "to": 0}).status_code == 200
            delays.append(time.perf_counter() - started)
            time.sleep(0.02)
    finally:
        stop.set()
        worker.join()
    assert max(delays) < 0.1, delays


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"HELLO THERE\r\n\r\n",
        b"GET /api/storefront/v1/rewards HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
    ],
    ids=["not-http", "headers-over-16-kib"],
)
def test_bytes_that_are_not_http_get_a_json_400(api: Api, request_bytes):
    with connect(api) as sock:
        sock.sendall(request_bytes)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in head.lower()
    refusal = json.loads(body)
    assert contract.validate("error.schema.json", refusal) == []
    assert "Invalid HTTP request" in refusal["details"]


@pytest.fixture
def strict_api(make_api) -> Api:
    api: Api = make_api(header_timeout=0.3, keep_alive_timeout=1, max_connections=4)
    return api


def test_a_request_whose_headers_trickle_in_is_dropped(strict_api: Api):
    with connect(strict_api) as silent, connect(strict_api) as slow:
        slow.sendall(b"GET /api/storefront/v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        assert slow.recv(65536).startswith(b"HTTP/1.1 404")
        started = time.monotonic()
        try:  # the next request, a byte every 50 ms: each byte would reset keep-alive
            for byte in b"GET /api/storefront/v1/rewards HTTP/1.1\r\nHost: x\r\n":
                slow.send(bytes([byte]))
                time.sleep(0.05)
        except OSError:
            pass  # closed by the server, as it should be
        assert closed_by_server(slow, within=1)
        assert time.monotonic() - started < 1.5
        assert closed_by_server(silent, within=1)
    assert strict_api.http.get("/rewards", params={"from": 0, "to": 0}).status_code == 200


def test_an_idle_keep_alive_connection_is_closed_after_its_timeout(strict_api: Api):
    with connect(strict_api) as sock:
        sock.sendall(b"GET /api/storefront/v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 404")
        assert not closed_by_server(sock, within=0.5)  # kept alive for a while ...
        assert closed_by_server(sock, within=2)  # ... but not for ever


def test_connections_over_the_cap_are_refused_until_some_close(strict_api: Api):
    # Four idle connections fill the cap of four (the client's pooled one closed first).
    strict_api.http.close()
    held = [connect(strict_api) for _ in range(4)]
    time.sleep(0.1)  # let the server accept them
    with httpx.Client(base_url=strict_api.server.base_url) as client:
        assert client.get("/rewards").status_code == 503
    for sock in held:
        sock.close()
    time.sleep(0.1)
    with httpx.Client(base_url=strict_api.server.base_url) as client:
        assert client.get("/rewards").status_code == 401


def test_tokens_die_with_the_api_key_that_obtained_them(tmp_path):
    db_path = str(tmp_path / "keys.sqlite")
    with EmbeddedServer(ServerConfig(db_path=db_path, api_key="first-key")) as first:
        old = Api(first)
        token = old.http.headers["Authorization"]
        assert old.http.get("/rewards", params={"from": 0, "to": 0}).status_code == 200
        old.close()
    with EmbeddedServer(ServerConfig(db_path=db_path, api_key="second-key")) as second:
        stale = httpx.get(
            f"{second.base_url}/rewards?from=0&to=0", headers={"Authorization": token}
        )
        assert "another API key" in error_body(stale, 401)
        fresh = Api(second)
        assert fresh.http.get("/rewards", params={"from": 0, "to": 0}).status_code == 200
        fresh.close()


def test_the_database_file_is_private_to_its_owner(tmp_path):
    db_path = tmp_path / "private.sqlite"
    with EmbeddedServer(ServerConfig(db_path=str(db_path))) as server:
        Api(server).customer()
        files = [db_path, *tmp_path.glob("private.sqlite-*")]
        assert len(files) > 1  # the WAL files exist while the server runs
        for path in files:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


@pytest.fixture
def api(make_api) -> Api:
    fresh: Api = make_api()
    return fresh
