"""The tamperer itself: each action sends what it says, rules match as documented, and
it stops at once whatever it is sending. The hostile-target tests trust all of this."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from typing import Protocol
from urllib.parse import urlsplit

import httpx
import pytest

from tests.hostile.tamperer import (
    Action,
    Exchange,
    Tamperer,
    add_headers,
    deep_json,
    drip,
    endless_chunked,
    gzip_bomb,
    json_patch,
    rate_limited,
    replace,
)

MIB = 1024 * 1024
REWARDS = "/rewards?from=0&to=10"  # list_rewards (the server wants both bounds)


class _Target(Protocol):
    """The proxy or its upstream, as `_client` sees them."""

    base_url: str
    api_key: str


def _client(target: _Target) -> httpx.Client:
    return httpx.Client(base_url=target.base_url, timeout=5, headers={"x-api-key": target.api_key})


def _authorized(target: _Target) -> httpx.Client:
    """A client with a bearer token (taken from the upstream: no rule sees it)."""
    client = _client(target)
    upstream = target.upstream if isinstance(target, Tamperer) else target
    with _client(upstream) as auth:
        token = auth.get("/auth/authorize").json()["data"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.fixture
def api(hostile: Tamperer) -> Iterator[httpx.Client]:
    """A client of the proxy with a token; one connection, reused (keep-alive)."""
    with _authorized(hostile) as client:
        yield client


def _customer_body() -> dict[str, str]:
    return {"id": f"hostile-{uuid.uuid4().hex[:12]}", "name": "Test", "email": "t@example.com"}


def test_json_patch_authorize_body_arrives(hostile: Tamperer) -> None:
    hostile.rule("authorize", json_patch(lambda body: {**body, "data": "not-a-jwt"}))
    with _client(hostile) as client:
        response = client.get("/auth/authorize")
    assert response.status_code == 200
    assert response.json()["data"] == "not-a-jwt"
    assert response.headers["content-type"].startswith("application/json")
    assert hostile.hits == [("GET", "/api/storefront/v1/auth/authorize", "authorize")]


def test_replace_status_body_and_type(hostile: Tamperer, api: httpx.Client) -> None:
    hostile.rule(
        lambda ex: ex.operation == "list_rewards" and ex.status == 200,
        replace(status=500, body=b"it broke", content_type="text/plain"),
    )
    response = api.get(REWARDS)
    assert (response.status_code, response.content) == (500, b"it broke")
    assert response.headers["content-type"] == "text/plain"
    assert response.headers["content-length"] == "8"


def test_replace_headers_replaces_all_of_them(hostile: Tamperer, api: httpx.Client) -> None:
    hostile.rule("list_rewards", replace(headers={"X-Only": "this"}))
    response = api.get(REWARDS)
    assert response.headers["x-only"] == "this"
    assert "content-type" not in response.headers
    assert response.json()["data"]  # the body is still the upstream's


def test_add_headers_from_dict_and_keywords(hostile: Tamperer, api: httpx.Client) -> None:
    hostile.rule("list_rewards", add_headers({"X-RateLimit-Remaining": "²"}, Retry_After="nan"))
    response = api.get(REWARDS)
    assert response.headers["x-ratelimit-remaining"] == "²"
    assert response.headers["retry-after"] == "nan"
    assert response.status_code == 200


def test_drip_sends_bytes_no_faster_than_interval(hostile: Tamperer, api: httpx.Client) -> None:
    interval = 0.2
    hostile.rule("list_rewards", drip(interval=interval, body=b"abc"))
    # From before the request is sent: the n-th byte leaves the tamperer n waits after
    # the request arrived, so no load on the machine can make it look early (timed from
    # the headers instead, a late read of them did).
    started, received = time.monotonic(), b""
    with api.stream("GET", REWARDS) as response:
        assert response.headers["content-length"] == "3"
        for piece in response.iter_raw():
            received += piece
            # The n-th byte comes after n waits (a little slack for the timer).
            assert time.monotonic() - started >= len(received) * interval * 0.9
    assert received == b"abc"


def test_drip_stops_quietly_when_the_client_leaves(hostile: Tamperer, api: httpx.Client) -> None:
    hostile.rule("list_rewards", drip(interval=0.02), times=1)
    with api.stream("GET", REWARDS) as response:
        next(response.iter_raw())
    time.sleep(0.2)  # the next bytes meet a closed socket
    assert api.get(REWARDS).status_code == 200
    assert hostile.errors == []


def test_endless_chunked_keeps_sending(hostile: Tamperer, api: httpx.Client) -> None:
    hostile.rule("list_rewards", endless_chunked())
    received, start = 0, b""
    with api.stream("GET", REWARDS) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        assert response.headers["content-type"] == "application/json"
        for piece in response.iter_raw():
            start = (start + piece)[:10]
            received += len(piece)
            if received > 2 * MIB:
                break
    assert start.startswith(b"[0,0,0,")
    assert received > 2 * MIB


@pytest.mark.parametrize("size", [3 * MIB, 3 * MIB + 7])
def test_gzip_bomb_inflates_to_its_size(hostile: Tamperer, api: httpx.Client, size: int) -> None:
    hostile.rule("list_rewards", gzip_bomb(decompressed=size))
    with api.stream("GET", REWARDS) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(raw) < size // 500
    assert zlib.decompress(raw, wbits=31) == b" " * size  # also checks CRC and length

    with api.stream("GET", REWARDS) as response:
        assert sum(len(piece) for piece in response.iter_bytes()) == size


def test_gzip_bomb_of_ten_gib_can_be_abandoned(hostile: Tamperer, api: httpx.Client) -> None:
    hostile.rule("list_rewards", gzip_bomb())
    inflated = 0
    with api.stream("GET", REWARDS) as response:
        assert int(response.headers["content-length"]) < 11 * MIB
        for piece in response.iter_bytes():
            inflated += len(piece)
            if inflated > 8 * MIB:
                break
    assert api.get("/auth/authorize").status_code == 200  # on a new connection
    assert hostile.errors == []


def test_deep_json_nests_levels(hostile: Tamperer, api: httpx.Client) -> None:
    hostile.rule("list_rewards", deep_json())
    response = api.get(REWARDS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def test_rate_limited_answers_429_with_retry_after(hostile: Tamperer, api: httpx.Client) -> None:
    hostile.rule("list_rewards", rate_limited())
    response = api.get(REWARDS)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1000000000"
    assert response.json() == {"error": "rate_limited", "details": "slow down"}


def test_times_one_applies_once(hostile: Tamperer, api: httpx.Client) -> None:
    hostile.rule("list_rewards", replace(status=503), times=1)
    assert [api.get(REWARDS).status_code for _ in range(3)] == [503, 200, 200]
    assert hostile.hits == [("GET", "/api/storefront/v1" + REWARDS, "list_rewards")]


def test_rules_first_match_with_times_left_wins(hostile: Tamperer, api: httpx.Client) -> None:
    hostile.rule("list_rewards", replace(status=501), times=1)
    hostile.rule(lambda ex: True, replace(status=502))
    hostile.rule("list_rewards", replace(status=503))
    assert [api.get(REWARDS).status_code for _ in range(2)] == [501, 502]


def test_unmatched_requests_pass_through(hostile: Tamperer, api: httpx.Client) -> None:
    hostile.rule("emit_event", replace(status=500))
    with _authorized(hostile.upstream) as direct:
        for path in (REWARDS, "/rewards", "/customers/nobody-here", "/no/such/path"):
            proxied, asked = api.get(path), direct.get(path)
            assert (proxied.status_code, proxied.json()) == (asked.status_code, asked.json())
        created = api.post("/customers", json=_customer_body())  # a body is forwarded
        assert created.status_code == 201, created.text
        assert direct.get(f"/customers/{created.json()['data']['id']}").status_code == 200
    assert hostile.hits == []


def test_one_connection_serves_many_requests(hostile: Tamperer, api: httpx.Client) -> None:
    """Keep-alive as clients use it, and a chunked request body (a streaming upload)."""
    base = urlsplit(hostile.base_url)
    headers = {"Authorization": api.headers["Authorization"], "Content-Type": "application/json"}
    connection = http.client.HTTPConnection(base.netloc, timeout=5)
    try:
        connection.request("GET", base.path + REWARDS, headers=headers)
        first, sock = connection.getresponse().read(), connection.sock
        connection.request("GET", base.path + REWARDS, headers=headers)
        second = connection.getresponse().read()
        body = json.dumps(_customer_body()).encode()
        chunks = iter([body[:5], body[5:]])
        connection.request("POST", base.path + "/customers", chunks, headers, encode_chunked=True)
        assert connection.getresponse().status == 201
        assert connection.sock is sock  # never reconnected
    finally:
        connection.close()
    assert first == second


def test_rule_sees_the_upstream_answer_after_it_acted(hostile: Tamperer, api: httpx.Client) -> None:
    seen: list[Exchange] = []

    def created(exchange: Exchange) -> bool:
        seen.append(exchange)
        return exchange.operation == "create_customer" and exchange.status == 201

    hostile.rule(created, replace(status=500, body="lost", content_type="text/plain"))
    body = _customer_body()
    assert api.post("/customers?x=1", json=body).status_code == 500
    assert seen[0].path == "/api/storefront/v1/customers?x=1"
    assert seen[0].json["data"]["id"] == body["id"]
    assert "content-length" not in seen[0].headers
    with _authorized(hostile.upstream) as direct:  # the upstream did create it
        assert direct.get(f"/customers/{body['id']}").status_code == 200


def test_rule_refuses_an_unknown_operation(hostile: Tamperer) -> None:
    with pytest.raises(ValueError, match="unknown operation 'authorise'"):
        hostile.rule("authorise", replace(status=500))


@pytest.mark.parametrize(
    "action",
    [endless_chunked(), gzip_bomb(), drip(interval=5.0, body=b"abc")],
    ids=["endless_chunked", "gzip_bomb", "drip"],
)
def test_stop_returns_at_once_while_streaming(hostile: Tamperer, action: Action) -> None:
    hostile.rule("authorize", action)
    failures: list[Exception] = []
    streaming = threading.Event()

    def read_until_cut() -> None:
        with _client(hostile) as client, client.stream("GET", "/auth/authorize") as response:
            streaming.set()
            try:
                for _ in response.iter_bytes():  # the bomb inflated, as a victim would
                    pass
            except httpx.HTTPError as exc:
                failures.append(exc)

    reader = threading.Thread(target=read_until_cut, daemon=True)
    reader.start()
    assert streaming.wait(5)
    time.sleep(0.2)  # well into the answer
    started = time.monotonic()
    hostile.stop()
    assert time.monotonic() - started < 2
    reader.join(5)
    assert not reader.is_alive()
    assert len(failures) == 1  # the answer was cut, not completed
