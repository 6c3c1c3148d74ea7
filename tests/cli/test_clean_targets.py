"""No false alarms: the suite passes a correct server, ours on several seeds and a second
one that differs from ours wherever the contract allows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from masivo_conformance.checks.invariants import NOTHING_AT_STAKE
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.seed import DEFAULT_SEED
from tests.cli.cli_runs import WarmCli, target_args
from tests.cli.judge_traffic import judged_files


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
        "--save-traffic",
        str(tmp_path / "traffic"),
        report_dir=tmp_path,
    )
    assert run.exit_code == 0, run.tail()
    assert run.failing() == []
    assert run.status("REV-1") == "pass"
    _judged_clean(tmp_path / "traffic")


def _judged_clean(saved: Path) -> None:
    """Issue 23: `judge` on the run's own traffic (HAR and cassettes) finds nothing either,
    and judges the multi-call rules it can (the traffic shows their premises)."""
    files = judged_files(saved)
    assert files, f"no traffic saved in {saved}"
    for name, statuses in files.items():
        assert [i for i, s in statuses.items() if s == "fail"] == [], name
    judged = {i for statuses in files.values() for i, s in statuses.items() if s == "pass"}
    assert {"REV-1", "REV-2", "REV-4", "FUL-4", "PRV-2", "EMIT-3"} <= judged, sorted(judged)


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
        *("--save-traffic", str(tmp_path / "traffic")),
        report_dir=tmp_path,
        timeout=400,
    )
    assert run.exit_code == 0, run.tail()
    assert run.result is not None
    assert [r["id"] for r in run.result["requirements"] if r["status"] != "pass"] == []
    _judged_clean(tmp_path / "traffic")


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


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["budget", "quick"])  # quick: the lifecycle machine too
def test_a_server_whose_purchases_earn_nothing_is_inconclusive_not_conformant(
    warm_cli: WarmCli, start_server: Any, tmp_path: Path, profile: str
) -> None:
    """The reference server without campaigns: correct (the contract does not say a
    purchase must earn), but no amount ever moves, so no wallet comparison could show a
    break. Nothing fails, and the rules that need an amount to move (EMIT-5 to redeem,
    REV-2 to undo, FUL-2 to compare, PRV-2 to keep) are not checked, with the reason,
    never passed: INCONCLUSIVE, exit 3. The rules judged on a status as well (FUL-4,
    FUL-5, REV-4, ...) pass on their statuses alone."""
    seed = yaml.safe_load(DEFAULT_SEED.read_text(encoding="utf-8"))
    seed["campaigns"] = []
    path = tmp_path / "earns-nothing.yaml"
    path.write_text(yaml.safe_dump(seed), encoding="utf-8")
    server = start_server(ServerConfig(seed_path=path))
    fast = ("--seed", "1", "--settle-time", "0.2", "--settle-timeout", "2", "-q")
    run = warm_cli(
        "run", *target_args(server), "--profile", profile, *fast, report_dir=tmp_path / "run"
    )
    assert run.exit_code == 3, run.tail()
    assert run.failing() == []
    assert run.result is not None
    rows = {r["id"]: r for r in run.result["requirements"]}
    for rule in ("EMIT-5", "REV-2", "FUL-2", "PRV-2"):
        assert rows[rule]["status"] == "not checked", rows[rule]
        assert rows[rule]["held"] == 0, rows[rule]
    assert rows["EMIT-5"]["reason"] == NOTHING_AT_STAKE
    assert rows["PRV-2"]["reason"] == NOTHING_AT_STAKE
    assert "INCONCLUSIVE (exit 3)" in run.stdout
