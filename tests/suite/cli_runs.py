"""Running the command as a user or CI would: a subprocess with a clean environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masivo_conformance.server.embedded import EmbeddedServer


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


def run_cli(
    *args: str,
    report_dir: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 240,
) -> CliRun:
    """`masivo-conformance ARGS [--report-dir DIR]` in a subprocess, as CI would run it."""
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("MASIVO_")}
    extra = [] if report_dir is None else ["--report-dir", str(report_dir)]
    completed = subprocess.run(
        [sys.executable, "-m", "masivo_conformance", *args, *extra],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean_env, **(env or {})},
        check=False,
    )
    result_file = None if report_dir is None else report_dir / "result.json"
    result = json.loads(result_file.read_text()) if result_file and result_file.exists() else None
    return CliRun(completed.returncode, completed.stdout, completed.stderr, result)


def target_args(server: EmbeddedServer) -> list[str]:
    return [
        "--base-url",
        server.base_url,
        "--api-key",
        server.api_key,
        "--brand-id",
        server.brand_id,
    ]
