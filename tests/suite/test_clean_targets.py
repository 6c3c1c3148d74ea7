"""No false alarms: the suite passes a correct server, ours on several seeds and a second
one that differs from ours wherever the contract allows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.seed import VARIANT_SEED
from tests.suite.cli_runs import run_cli, target_args


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 2026, 90210])
def test_clean_reference_server_conforms_on_any_seed(
    start_server: Any, tmp_path: Path, seed: int
) -> None:
    server = start_server()
    run = run_cli(
        "run",
        *target_args(server),
        "--profile",
        "quick",
        "--seed",
        str(seed),
        "--strict",
        "-q",
        report_dir=tmp_path,
    )
    assert run.exit_code == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert run.failing() == []
    assert run.status("REV-1") == "pass"


@pytest.mark.slow
def test_a_different_but_conforming_server_passes(start_server: Any, tmp_path: Path) -> None:
    """200 for emit, 400 for bad bodies, another points rule and conversion factor, extra
    members everywhere, and events that settle 300 ms after emit."""
    server = start_server(
        ServerConfig(
            seed_path=VARIANT_SEED,
            emit_status=200,
            validation_status=400,
            extra_members=True,
            processing_delay=0.3,
        )
    )
    run = run_cli(
        "run",
        *target_args(server),
        "--profile",
        "ci",
        "--strict",
        "-q",
        report_dir=tmp_path,
        timeout=400,
    )
    assert run.exit_code == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert run.failing() == []
    assert run.result is not None
    not_run = [r["id"] for r in run.result["requirements"] if r["status"] == "not run"]
    assert not_run == []


@pytest.mark.slow
def test_a_rerun_with_the_same_seed_on_the_same_server_passes(
    start_server: Any, tmp_path: Path
) -> None:
    """The target keeps the first run's customers; the second run must make its own."""
    server = start_server()
    for attempt in ("first", "second"):
        run = run_cli(
            "run",
            *target_args(server),
            "--profile",
            "quick",
            "--seed",
            "5",
            "--requirement",
            "REV-1",
            "-q",
            report_dir=tmp_path / attempt,
        )
        assert run.exit_code == 0, f"{attempt} run: {run.stdout[-3000:]}"
