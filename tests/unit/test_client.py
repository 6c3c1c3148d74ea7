"""The HTTP client against tiny local servers: failures, 429s, the budget, tokens."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest

from masivo_conformance.errors import NoAnswer, TargetError, TargetStopped
from masivo_conformance.suite.client import ApiClient, BudgetSpent, RequestBudget

API_KEY = "mk_test_key_abcdef123456"
SIGNING_KEY = "fake-masivo-signing-key-0123456789"  # 32+ bytes, as PyJWT wants for HS256
HOUR = 3600


def mint(lifetime: float) -> str:
    now = int(time.time())
    claims = {"sub": "store", "iat": now, "exp": now + int(lifetime)}
    return jwt.encode(claims, SIGNING_KEY, algorithm="HS256")


@dataclass
class FakeMasivo:
    """What the fake server knows and saw; handlers read and write it under `lock`."""

    token_lifetimes: list[float] = field(default_factory=lambda: [HOUR])
    limited_429s: int = 0  # how many 429s /limited answers before it succeeds
    slow_s: float = 1.0
    authorizations: int = 0
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, bearer
    issued: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, path: str, headers: Any) -> tuple[int, dict[str, str], Any]:
        bearer = str(headers.get("Authorization", "")).removeprefix("Bearer ")
        with self.lock:
            self.seen.append((method, path, bearer))
            if path == "/auth/authorize":
                if headers.get("x-api-key") != API_KEY:
                    return 401, {}, {"error": "unauthorized", "details": "bad api key"}
                self.authorizations += 1
                lifetime = self.token_lifetimes[
                    min(self.authorizations, len(self.token_lifetimes)) - 1
                ]
                token = mint(lifetime)
                self.issued.add(token)
                return 200, {}, {"data": token}
            if bearer not in self.issued:
                return 401, {}, {"error": "unauthorized", "details": "bad token"}
            if path == "/limited" and self.limited_429s > 0:
                self.limited_429s -= 1
                return 429, {"Retry-After": "0.1", "X-RateLimit-Remaining": "0"}, {"error": "slow"}
        if path == "/slow":
            time.sleep(self.slow_s)
        return 200, {"X-RateLimit-Remaining": "41"}, {"data": {"path": path}}

    def requests_to(self, path: str) -> int:
        return sum(1 for _, p, _ in self.seen if p == path)


def handler_for(fake: FakeMasivo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            status, headers, body = fake.answer(self.command, self.path, self.headers)
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                for name, value in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (the timeout test): nothing to answer to

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output clean."""

    return Handler


@contextmanager
def fake_server(fake: FakeMasivo) -> Iterator[str]:
    """The fake on a free loopback port for the duration of the block; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    server.daemon_threads = True  # a sleeping handler must not hold up the shutdown
    # A short poll interval: shutdown() waits up to one interval, on every test.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake() -> FakeMasivo:
    return FakeMasivo()


@pytest.fixture
def fake_url(fake: FakeMasivo) -> Iterator[str]:
    with fake_server(fake) as url:
        yield url


@contextmanager
def client(fake_url: str, **options: Any) -> Iterator[ApiClient]:
    api = ApiClient(fake_url, **options)
    try:
        yield api
    finally:
        api.close()


def target_error(call: Callable[[], object]) -> str:
    """The message of the connection error `call` raises: a target that cannot be reached
    at all, not one request's silence nor an outage mid-run."""
    with pytest.raises(TargetError) as caught:
        call()
    assert type(caught.value) is TargetError, f"{type(caught.value).__name__}: {caught.value}"
    message = str(caught.value)
    assert "\n" not in message, "connection errors are one line"
    assert caught.value.todo, "connection errors say what to do"
    return message


# -- connection failures ----------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there now


def test_connection_refused_says_so() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with client(url, token="tok_given_123456") as api:
        message = target_error(lambda: api.request("GET", "/customers/c1"))
    assert "connection refused" in message
    assert url in message


@pytest.mark.parametrize(
    "text",
    [
        "[Errno -2] Name or service not known",
        "[Errno 11001] getaddrinfo failed",
        "[Errno -3] Temporary failure in name resolution",
    ],
)
def test_dns_failure_says_the_host_cannot_be_resolved(text: str) -> None:
    def no_dns(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(text, request=request)

    url = "https://app.masivo.invalid/api/storefront/v1"
    with client(url, token="tok_given_123456", transport=httpx.MockTransport(no_dns)) as api:
        message = target_error(lambda: api.request("GET", "/rewards"))
    assert "cannot resolve" in message
    assert "app.masivo.invalid" in message


def test_tls_to_a_plain_http_server_is_a_tls_failure(fake_url: str) -> None:
    https_url = fake_url.replace("http://", "https://")
    with client(https_url, token="tok_given_123456") as api:
        message = target_error(lambda: api.request("GET", "/customers/c1"))
    assert "TLS" in message
    assert https_url in message


def test_slow_first_answer_is_a_timeout(fake: FakeMasivo, fake_url: str) -> None:
    token = mint(HOUR)
    fake.issued.add(token)
    with client(fake_url, token=token, timeout=0.2) as api:  # no authorize: nothing answered
        started = time.monotonic()
        message = target_error(lambda: api.request("GET", "/slow"))
    assert "did not answer in time" in message
    assert "--timeout" in message
    assert time.monotonic() - started < fake.slow_s


# -- silence after the target answered ---------------------------------------------------------


def test_a_request_without_answer_while_the_target_answers_others_is_no_answer(
    fake: FakeMasivo, fake_url: str
) -> None:
    with client(fake_url, api_key=API_KEY, timeout=0.2) as api:
        assert api.request("GET", "/customers/c1").status_code == 200
        with pytest.raises(NoAnswer) as caught:
            api.request("GET", "/slow")
    message = str(caught.value)
    assert (
        message
        == "GET /slow got no answer (ReadTimeout: timed out) while the target answers others"
    )
    assert not isinstance(caught.value, TargetStopped)
    probes = [path for _, path, _ in fake.seen if path.startswith("/rewards")]
    assert len(probes) == 1, "one probe asks whether the target still answers"


def _flaky_transport(answers: int) -> tuple[httpx.MockTransport, list[str]]:
    """Answers the first `answers` requests (authorize included), then connections fail."""
    sent: list[str] = []
    token = mint(HOUR)

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        if len(sent) > answers:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if request.url.path.endswith("/auth/authorize"):
            return httpx.Response(200, json={"data": token})
        return httpx.Response(200, json={"data": {}})

    return httpx.MockTransport(answer), sent


def test_a_target_that_stops_answering_mid_run_is_target_stopped() -> None:
    transport, sent = _flaky_transport(answers=2)
    url = "https://mock.example.test/v1"
    with client(url, api_key=API_KEY, transport=transport) as api:
        assert api.request("GET", "/customers/c1").status_code == 200
        with pytest.raises(TargetStopped) as caught:
            api.request("POST", "/behavior/events", json_body={"a": 1})
    message = str(caught.value)
    assert message.startswith(
        "the target stopped answering at POST /behavior/events (ConnectError: "
    )
    assert "\n" not in message
    assert caught.value.todo
    assert isinstance(caught.value, TargetError)  # commands still end it with exit 2
    assert sent == ["/v1/auth/authorize", "/v1/customers/c1", "/v1/behavior/events", "/v1/rewards"]


def test_the_same_failure_before_any_answer_is_a_connection_error() -> None:
    transport, sent = _flaky_transport(answers=0)
    with client(
        "https://mock.example.test/v1", token="tok_given_123456", transport=transport
    ) as api:
        message = target_error(lambda: api.request("GET", "/customers/c1"))
    assert "connection refused" in message
    assert sent == ["/v1/customers/c1"], "no probe before the target ever answered"


def test_silence_classifies_a_transport_error() -> None:
    transport, _ = _flaky_transport(answers=1)
    url = "https://mock.example.test/v1"
    timeout = httpx.ReadTimeout("timed out")
    with client(url, token="tok_given_123456", transport=transport) as api:
        before = api.silence("GET /rewards", timeout)
        assert type(before) is TargetError
        assert "did not answer in time" in str(before)
        api.request("GET", "/customers/c1")  # answered: the target was up
        after = api.silence("GET /rewards", timeout)  # and the probe now fails
    assert isinstance(after, TargetStopped)
    assert "at GET /rewards (ReadTimeout: timed out)" in str(after)


@pytest.mark.parametrize(("status", "up"), [(200, True), (401, True), (503, True), (None, False)])
def test_responsive_counts_any_answer(status: int | None, up: bool) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if status is None:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return httpx.Response(status)

    transport = httpx.MockTransport(answer)
    with client(
        "https://mock.example.test/v1", token="tok_given_123456", transport=transport
    ) as api:
        assert api.responsive() is up


# -- 429 and the request budget ---------------------------------------------------------------


def test_429_is_retried_after_retry_after(fake: FakeMasivo, fake_url: str) -> None:
    fake.limited_429s = 2
    budget = RequestBudget()
    with client(fake_url, api_key=API_KEY, budget=budget) as api:
        api.token()
        started = time.monotonic()
        response = api.request("GET", "/limited")
        waited = time.monotonic() - started
    assert response.status_code == 200
    assert fake.requests_to("/limited") == 3
    assert waited >= 0.2  # two waits of Retry-After: 0.1
    assert budget.spent == 4  # authorize plus three tries: each one counts against the day
    assert budget.lowest_remaining == 0


def test_429_beyond_the_retries_is_returned(fake: FakeMasivo, fake_url: str) -> None:
    fake.limited_429s = 100
    with client(fake_url, api_key=API_KEY) as api:
        response = api.request("GET", "/limited")
    assert response.status_code == 429
    assert 1 < fake.requests_to("/limited") < 10


def test_budget_refuses_the_request_past_the_limit(fake: FakeMasivo, fake_url: str) -> None:
    budget = RequestBudget(limit=3)
    with client(fake_url, api_key=API_KEY, budget=budget) as api:
        api.request("GET", "/customers/c1")  # authorize + 1
        api.request("GET", "/customers/c2")  # 3
        with pytest.raises(BudgetSpent) as caught:
            api.request("GET", "/customers/c3")
    assert len(fake.seen) == 3, "the refused request is never sent"
    assert "budget of 3" in str(caught.value)
    assert "--max-requests" in caught.value.todo


def test_budget_is_shared_and_thread_safe() -> None:
    budget = RequestBudget(limit=50)
    refused = []

    def spend() -> None:
        for _ in range(20):
            try:
                budget.take()
            except BudgetSpent:
                refused.append(1)

    threads = [threading.Thread(target=spend) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert budget.spent == 50
    assert len(refused) == 50


# -- tokens -----------------------------------------------------------------------------------


def test_api_key_is_exchanged_once_while_the_token_is_fresh(
    fake: FakeMasivo, fake_url: str
) -> None:
    with client(fake_url, api_key=API_KEY) as api:
        for _ in range(3):
            assert api.request("GET", "/customers/c1").status_code == 200
    assert fake.authorizations == 1
    bearers = {bearer for _, path, bearer in fake.seen if path != "/auth/authorize"}
    assert len(bearers) == 1
    assert bearers <= fake.issued


def test_token_is_refreshed_within_five_minutes_of_exp(fake: FakeMasivo, fake_url: str) -> None:
    fake.token_lifetimes = [240, HOUR]  # the first token is already inside the margin
    with client(fake_url, api_key=API_KEY) as api:
        for _ in range(3):
            assert api.request("GET", "/customers/c1").status_code == 200
    assert fake.authorizations == 2
    bearers = [bearer for _, path, bearer in fake.seen if path == "/customers/c1"]
    assert bearers[0] != bearers[1]
    assert bearers[1] == bearers[2]
    assert jwt.decode(bearers[1], SIGNING_KEY, algorithms=["HS256"])["exp"] > time.time() + 300


def test_given_token_is_used_as_is_without_an_api_key(fake: FakeMasivo, fake_url: str) -> None:
    token = mint(60)  # near its end, but there is no key to get another
    fake.issued.add(token)
    with client(fake_url, token=token) as api:
        assert api.request("GET", "/customers/c1").status_code == 200
    assert fake.authorizations == 0
    assert fake.seen[-1][2] == token


def test_authorize_refusing_the_key_is_a_target_error(fake: FakeMasivo, fake_url: str) -> None:
    with client(fake_url, api_key="mk_wrong_key_000000") as api:
        message = target_error(lambda: api.request("GET", "/customers/c1"))
    assert "authorize refused the API key" in message
    assert "HTTP 401" in message
    assert "mk_wrong_key_000000" not in message
    assert fake.requests_to("/customers/c1") == 0


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [(404, "text/html", b"<h1>Not Found</h1>"), (200, "text/html", b"<html>app</html>")],
)
def test_authorize_answering_no_json_or_404_questions_the_base_url(
    status: int, content_type: str, body: bytes
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Content-Type": content_type}, content=body)

    base = "https://shop.example.test/api"
    with client(base, api_key=API_KEY, transport=httpx.MockTransport(answer)) as api:
        message = target_error(api.token)
    assert f"authorize at {base}/auth/authorize answered {status} ({content_type})" in message
    assert "is the base URL right?" in message
    assert "/api/storefront/v1" in message
    assert "refused" not in message


@pytest.mark.parametrize("status", [401, 403])
def test_authorize_401_or_403_is_a_refused_key_whatever_the_body(status: int) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Content-Type": "text/html"}, content=b"<p>no</p>")

    base = "https://shop.example.test/api/storefront/v1"
    with client(base, api_key=API_KEY, transport=httpx.MockTransport(answer)) as api:
        message = target_error(api.token)
    assert f"authorize refused the API key (HTTP {status})" in message


def test_no_request_starts_after_the_max_time() -> None:
    budget = RequestBudget(max_time=5, deadline=time.monotonic() - 0.01)
    with pytest.raises(BudgetSpent, match="--max-time of 5 s reached"):
        budget.take()
    assert budget.spent == 0


def test_progress_hears_of_every_request_taken() -> None:
    heard: list[int] = []
    budget = RequestBudget(progress=heard.append)
    budget.take()
    budget.take()
    assert heard == [1, 2]


def test_the_budget_counts_requests_per_operation(fake: FakeMasivo, fake_url: str) -> None:
    budget = RequestBudget()
    with client(fake_url, api_key=API_KEY, budget=budget) as api:
        api.request("GET", "/rewards")
        api.request("GET", "/rewards")
        api.request("GET", "/nowhere")
    assert budget.by_operation["list_rewards"] == 2
    assert budget.by_operation["other"] == 1
    assert budget.by_operation["authorize"] == 1
    assert sum(budget.by_operation.values()) == budget.spent
