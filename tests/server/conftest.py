"""Fixtures of the reference server's own tests: servers on loopback and a tiny client."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from masivo_conformance.server import EmbeddedServer, ServerConfig
from masivo_conformance.server.seed import load_seed
from masivo_conformance.server.store import Store

from .postgres_server import create_database, drop_database, postgres_server

SEED = load_seed()
POINTS = next(r.id for r in SEED.rewards if r.type == "POINTS")
DISCOUNT = next(r.id for r in SEED.rewards if r.type == "DISCOUNT")
_ids = itertools.count()


class Retry429(httpx.HTTPTransport):
    """Retries a 429 at once: a server with `throttle_every` refuses now and then, and
    tests of anything else should not see it."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(3):
            response = super().handle_request(request)
            if response.status_code != 429:
                return response
            response.close()
        return response


class Api:
    """Plain HTTP calls to one server, with the few helpers every test needs."""

    def __init__(self, server: EmbeddedServer) -> None:
        self.server = server
        self.brand_id = server.brand_id
        transport = Retry429() if server.config.throttle_every else None
        self.http = httpx.Client(base_url=server.base_url, timeout=10, transport=transport)
        token = self.http.get("/auth/authorize", headers={"x-api-key": server.api_key})
        self.http.headers["Authorization"] = f"Bearer {token.json()['data']}"

    def close(self) -> None:
        self.http.close()

    def secret(self) -> str:
        """The server's JWT secret (only for a server started with a db file)."""
        assert self.server.config.db_path, "start the server with db_path to read its secret"
        store = Store(self.server.config.db_path)
        try:
            return store.secret()
        finally:
            store.close()

    def customer(self, prefix: str = "test") -> str:
        customer_id = f"{prefix}-{next(_ids)}-{uuid.uuid4().hex[:8]}"
        response = self.http.post(
            "/customers", json={"id": customer_id, "name": "Test", "email": "test@example.com"}
        )
        assert response.status_code == self.server.config.create_status, response.text
        return customer_id

    def emit_body(
        self, customer_id: str, value: float | None = None, **extra: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "customer_id": customer_id,
            "brand_id": self.brand_id,
            "type": "PURCHASE",
            **extra,
        }
        if value is not None:
            body["order"] = {
                "purchase_id": uuid.uuid4().hex,
                "value": value,
                **body.get("order", {}),
            }
        return body

    def emit(self, customer_id: str, value: float | None = None, **extra: Any) -> httpx.Response:
        return self.http.post("/behavior/events", json=self.emit_body(customer_id, value, **extra))

    def event(self, customer_id: str, value: float | None = None, **extra: Any) -> dict[str, Any]:
        response = self.emit(customer_id, value, **extra)
        assert response.status_code == self.server.config.emit_status, response.text
        data: dict[str, Any] = response.json()["data"]
        return data

    def fulfil(self, event_id: str) -> httpx.Response:
        return self.http.patch(f"/behavior/events/{event_id}/fulfill")

    def reverse(self, event_id: str, reason: str | None = "test") -> httpx.Response:
        body = {} if reason is None else {"reason": reason}
        return self.http.post(f"/behavior/events/{event_id}/reverse", json=body)

    def wallet(self, customer_id: str) -> dict[str, Any]:
        response = self.http.get(f"/customers/{customer_id}")
        assert response.status_code == 200, response.text
        wallet: dict[str, Any] = response.json()["data"]["wallet"]
        return wallet

    def total(self, customer_id: str, reward_id: str = POINTS) -> float:
        totals = self.wallet(customer_id)["totals"]
        return float(sum(t["total"] for t in totals if t["reward_id"] == reward_id))

    def transactions(self, event_id: str) -> list[dict[str, Any]]:
        response = self.http.get("/transactions", params={"event_id": event_id})
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["data"]
        return found

    def preview(self, customer_id: str, order: dict[str, Any]) -> httpx.Response:
        return self.http.put(
            "/events/redeem/preview",
            json={"customer_id": customer_id, "brand_id": self.brand_id, "order": order},
        )


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer() as running:
        yield running


@pytest.fixture
def api(server: EmbeddedServer) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.close()


@pytest.fixture
def make_api(tmp_path: Any) -> Iterator[Callable[..., Api]]:
    """Start a server with the given ServerConfig fields (a db file in tmp_path);
    `variant=True` starts from ServerConfig.variant() instead of the defaults."""
    started: list[tuple[EmbeddedServer, Api]] = []

    def start(*, variant: bool = False, **fields: Any) -> Api:
        fields.setdefault("db_path", str(tmp_path / f"db-{len(started)}.sqlite"))
        config = ServerConfig.variant(**fields) if variant else ServerConfig(**fields)
        running = EmbeddedServer(config).start()
        client = Api(running)
        started.append((running, client))
        return client

    yield start
    for running, client in started:
        client.close()
        running.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server (postgres_server.py), one per xdist worker, started when a
    test first asks for it: the URL of its `postgres` database. A server that does not
    start fails each test that needs it with one line (PostgresStartError)."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def make_postgres_db(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Create fresh, empty databases on the session's server, as many as a test asks for
    (the URL of each); they are dropped afterwards, whatever is still connected."""
    names: list[str] = []

    def create() -> str:
        names.append(f"test_{uuid.uuid4().hex[:12]}")
        return create_database(postgres_url, names[-1])

    yield create
    for name in names:
        drop_database(postgres_url, name)


@pytest.fixture
def postgres_db(make_postgres_db: Callable[[], str]) -> str:
    """A fresh, empty database on the session's PostgreSQL server, dropped afterwards."""
    return make_postgres_db()
