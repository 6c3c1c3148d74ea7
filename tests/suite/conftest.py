"""Helpers for tests that run the suite itself (as a user would) against servers we start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer

_MATRIX_ROWS: list[str] = []


@dataclass(frozen=True)
class CliRun:
    exit_code: int
    stdout: str
    stderr: str
    result: dict[str, Any] | None  # result.json of the run, when it wrote one

    def status(self, requirement_id: str) -> str | None:
        rows = (self.result or {}).get("requirements", [])
        return next((r["status"] for r in rows if r["id"] == requirement_id), None)

    def failing(self) -> list[str]:
        return [r["id"] for r in (self.result or {}).get("requirements", [])
                if r["status"] == "fail"]


def run_cli(*args: str, report_dir: Path, env: dict[str, str] | None = None,
            timeout: float = 240) -> CliRun:
    """`masivo-conformance ARGS --report-dir DIR` in a subprocess, as CI would run it."""
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("MASIVO_")}
    completed = subprocess.run(
        [sys.executable, "-m", "masivo_conformance", *args, "--report-dir", str(report_dir)],
        capture_output=True, text=True, timeout=timeout, env={**clean_env, **(env or {})},
        check=False)
    result_file = report_dir / "result.json"
    result = json.loads(result_file.read_text()) if result_file.exists() else None
    return CliRun(completed.returncode, completed.stdout, completed.stderr, result)


def target_args(server: EmbeddedServer) -> list[str]:
    return ["--base-url", server.base_url, "--api-key", server.api_key,
            "--brand-id", server.brand_id]


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


@pytest.fixture
def matrix_row(record_property: Any) -> Any:
    """Record one row of the fault matrix, printed at the end of the session."""
    def record(row: str) -> None:
        record_property("fault_matrix_row", row)
    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _MATRIX_ROWS.extend(str(v) for k, v in report.user_properties if k == "fault_matrix_row")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _MATRIX_ROWS:
        terminalreporter.section("fault matrix (fault -> requirement: caught by the suite?)")
        for row in sorted(_MATRIX_ROWS):
            terminalreporter.write_line(row)
