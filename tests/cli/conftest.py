"""Helpers for tests that run the suite itself (as a user would) against servers we start."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer
from tests.cli.cli_runs import WarmCli
from tests.targets.static_mock import StaticMock


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `starts_first` go to the front of the run: under xdist a worker starts
    each at once, instead of one of them ending the session alone while the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("starts_first") is None)


@pytest.fixture
def start_server() -> Iterator[Any]:
    """Start reference servers with a given config; all are stopped after the test."""
    servers: list[EmbeddedServer] = []

    def start(config: ServerConfig | None = None) -> EmbeddedServer:
        server = EmbeddedServer(config)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def clean_server() -> Iterator[EmbeddedServer]:
    """One correct reference server per worker, shared: reproducers of the faults must
    pass on it (each makes its own customer, so they do not meet)."""
    server = EmbeddedServer(ServerConfig())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def warm_cli() -> Iterator[WarmCli]:
    """`run_cli` without the interpreter's start-up: each call is still a fresh process
    (forked from one that imported everything), one fork server per xdist worker."""
    cli = WarmCli()
    yield cli
    cli.close()


@pytest.fixture
def matrix_row(record_property: Any) -> Any:
    """Record one row of the fault matrix, printed at the end of the session."""

    def record(row: str) -> None:
        record_property("fault_matrix_row", row)

    return record


@pytest.fixture
def static_mock() -> Iterator[StaticMock]:
    """A started static mock (tests/targets/static_mock.py), stopped after the test.

    Every operation answers one fixed, schema-valid example whatever the request (no
    auth, no validation, no state), like Prism in static mode. It has `base_url`,
    `api_key` and `brand_id` as an EmbeddedServer has, so `target_args(static_mock)` works.
    """
    with StaticMock() as mock:
        yield mock
