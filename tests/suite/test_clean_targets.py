"""No false alarms: the suite passes a correct server, ours on several seeds and a second
one that differs from ours wherever the contract allows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.server.config import ServerConfig
from tests.suite.cli_runs import WarmCli, target_args


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 2026, 90210])
def test_clean_reference_server_conforms_on_any_seed(
    warm_cli: WarmCli, start_server: Any, tmp_path: Path, seed: int
) -> None:
    server = start_server()
    run = warm_cli(
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
    assert run.exit_code == 0, run.tail()
    assert run.failing() == []
    assert run.status("REV-1") == "pass"


@pytest.mark.slow
@pytest.mark.starts_first  # about 70 s, most of it waiting for the variant's late effects
def test_a_different_but_conforming_server_passes(
    warm_cli: WarmCli, start_server: Any, tmp_path: Path
) -> None:
    """Every difference the contract allows at once (docs/decisions.md, "The variant
    target"): 200 for emit and create_customer, 400 for bad bodies, 403 for bad tokens,
    a re-fulfil answered 200, effects of emit, fulfil, reverse and cancel landing 300 ms
    late, another points rule and conversion factor, split wallet totals, transactions
    newest first and without event_id, a non-POINTS reward listed first and a global
    one, occasional 429s, extra members everywhere, a mixed-case media type with a
    charset, redeem amounts of 0 refused.

    The whole ci profile (what CI runs) on one seed, with the default settle time: most
    of its minute and a half is the lifecycle machine waiting for the late effects, so
    the run's own two workers (-n 2) overlap the rest with it. The budget profile on
    this server is test_budget_profile.py's."""
    server = start_server(ServerConfig.variant())
    run = warm_cli(
        "run",
        *target_args(server),
        *("--profile", "ci", "--seed", "3", "--strict", "-n", "2", "-q"),
        report_dir=tmp_path,
        timeout=400,
    )
    assert run.exit_code == 0, run.tail()
    assert run.result is not None
    assert [r["id"] for r in run.result["requirements"] if r["status"] != "pass"] == []


@pytest.mark.slow
def test_a_rerun_with_the_same_seed_on_the_same_server_passes(
    warm_cli: WarmCli, start_server: Any, tmp_path: Path
) -> None:
    """The target keeps the first run's customers; the second run must make its own."""
    server = start_server()
    for attempt in ("first", "second"):
        run = warm_cli(
            "run",
            *target_args(server),
            "--profile",
            "quick",
            "--seed",
            "5",
            "--requirement",
            "REV-4",
            "-q",
            report_dir=tmp_path / attempt,
        )
        assert run.exit_code == 0, f"{attempt} run: {run.tail()}"
