"""No secret reaches any artefact of a run: stdout and stderr (verbose), junit.xml,
result.json, report.html and summary.md. The target runs with every auth fault on, so
the suite's failure messages quote tokens it was handed for a wrong key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.server.config import ServerConfig
from tests.suite.cli_runs import run_cli, target_args

CANARY_KEY = "canary-key-5d1e9b7c3a"
JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
AUTH_FAULTS = ("authorize_accepts_any_key", "unverified_token_signature", "long_lived_token")


@pytest.mark.slow
def test_a_run_with_auth_faults_writes_no_key_and_no_token(
    start_server: Any, tmp_path: Path
) -> None:
    server = start_server(ServerConfig(faults=frozenset(AUTH_FAULTS), api_key=CANARY_KEY))
    reports = tmp_path / "reports"
    run = run_cli(
        "run",
        *target_args(server),
        *("--profile", "quick", "--settle-time", "0.2", "-v"),
        report_dir=reports,
    )
    assert run.exit_code == 1, run.stdout[-3000:]
    assert {"AUTH-1", "AUTH-2"} <= set(run.failing())  # the faults were seen and reported
    artefacts = {"stdout": run.stdout, "stderr": run.stderr}
    artefacts |= {path.name: path.read_text(errors="replace") for path in reports.iterdir()}
    assert {"junit.xml", "result.json", "report.html", "summary.md"} <= set(artefacts)
    for name, text in artefacts.items():
        assert CANARY_KEY not in text, name
        assert JWT_SHAPED.findall(text) == [], name
