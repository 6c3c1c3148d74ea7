"""Running the command as a user or CI would: a process of its own with a clean environment.

`run_cli` starts a new interpreter (`python -m masivo_conformance`), exactly what a user
types. `WarmCli` runs the same argv in a child forked from a process that imported
everything once (matrix_forkserver.py): the same fresh process per run, without the
seconds of imports, for tests that make many runs (the fault matrix, the clean targets).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tests.cli.matrix_forkserver import ForkServer


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
        return [
            r["id"] for r in (self.result or {}).get("requirements", []) if r["status"] == "fail"
        ]

    def tail(self) -> str:
        """The end of what the run printed, for an assertion's message."""
        return self.stdout[-3000:] + self.stderr[-2000:]


def clean_env() -> dict[str, str]:
    """This environment without MASIVO_* settings (a run sees only the flags it is given)
    and without PYTEST_* ones: the command runs pytest itself, and must not take this
    session's (PYTEST_ADDOPTS, or PYTEST_XDIST_WORKER_COUNT, which splits --max-requests)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("MASIVO_", "PYTEST_"))}


def _report_args(report_dir: Path | None) -> list[str]:
    return [] if report_dir is None else ["--report-dir", str(report_dir)]


def _finished(code: int, stdout: str, stderr: str, report_dir: Path | None) -> CliRun:
    result_file = None if report_dir is None else report_dir / "result.json"
    result = json.loads(result_file.read_text()) if result_file and result_file.exists() else None
    return CliRun(code, stdout, stderr, result)


def run_cli(
    *args: str,
    report_dir: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 240,
) -> CliRun:
    """`masivo-conformance ARGS [--report-dir DIR]` in a new interpreter, as CI would run it."""
    completed = subprocess.run(
        [sys.executable, "-m", "masivo_conformance", *args, *_report_args(report_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean_env(), **(env or {})},
        check=False,
    )
    return _finished(completed.returncode, completed.stdout, completed.stderr, report_dir)


class WarmCli:
    """`run_cli` through a fork server: called the same way, gives the same `CliRun`."""

    def __init__(self) -> None:
        self._server = ForkServer(clean_env())

    def __call__(
        self,
        *args: str,
        report_dir: Path | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 240,
    ) -> CliRun:
        done = self._server.run([*args, *_report_args(report_dir)], env or {}, timeout)
        return _finished(done.exit_code, done.stdout, done.stderr, report_dir)

    def close(self) -> None:
        self._server.close()


class Served(Protocol):
    """What a run needs of a server a test started: an EmbeddedServer, the static mock,
    a tamperer in front of either."""

    base_url: str
    api_key: str
    brand_id: str


def target_args(server: Served) -> list[str]:
    return [
        "--base-url",
        server.base_url,
        "--api-key",
        server.api_key,
        "--brand-id",
        server.brand_id,
    ]
