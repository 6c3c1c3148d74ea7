"""The budget profile and the request plan, run as a user runs them: the plan's declared
costs are the requests made, budget judges all 32 requirements within 300 requests on
the embedded and the variant server, and a low --max-requests judges before it explores.

The reference server settles synchronously, so these runs pass a short settle time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.reporting.results import TestOutcome, fold
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.suite import run_plan
from masivo_conformance.suite.saved_traffic import TRAFFIC_TEST as TRAFFIC
from tests.cli.cli_runs import run_cli, target_args

ROOT = Path(__file__).resolve().parents[2]
FAST = ("--seed", "1", "--settle-time", "0.2")
IDS = [r.id for r in catalogue()]


def _plain_pytest_run(tmp_path: Path, profile: str, *extra: str) -> dict[str, Any]:
    """The suite under plain pytest against the embedded server: what each test spent."""
    results = tmp_path / "outcomes.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MASIVO_", "PYTEST_"))}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/contract",
            "tests/stateful",
            "-q",
            "-p",
            "no:cacheprovider",
            "--masivo-profile",
            profile,
            "--masivo-seed",
            "1",
            "--masivo-settle-time",
            "0.2",
            "--masivo-results",
            str(results),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    found: dict[str, Any] = json.loads(results.read_text(encoding="utf-8"))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["budget", "quick"])
def test_declared_costs_are_the_requests_made(profile: str, tmp_path: Path) -> None:
    """Each planned test makes exactly its declared requests on the embedded server (the
    first one authorizes for the run too); budget runs its plan alone, and judges every
    requirement with it. quick's deterministic part is run alone (`-m requirement`)."""
    chosen = run_plan.plan_for(profile)
    extra = () if profile == "budget" else ("-m", "requirement")
    found = _plain_pytest_run(tmp_path, profile, *extra)
    spent = {o["nodeid"]: int(o["requests"]) for o in found["outcomes"] if o["nodeid"] != TRAFFIC}
    declared = {s.test: s.cost for s in chosen.scenarios}
    assert set(spent) == set(declared)
    # The run's traffic judged as a recording is one more outcome, and costs nothing.
    (traffic,) = [o for o in found["outcomes"] if o["nodeid"] == TRAFFIC]
    assert traffic["requests"] == 0
    assert traffic["evidence"], traffic
    off = {test: spent[test] - cost for test, cost in declared.items() if spent[test] != cost}
    assert list(off.values()) == [run_plan.SESSION_COST], off
    # The run's total counts the shared fixtures' requests too, which no test owns.
    assert found["requests"] == chosen.deterministic
    assert sum(spent.values()) + sum(s.fixtures for s in chosen.scenarios) == found["requests"]
    if profile == "budget":
        outcomes = [TestOutcome.from_wire(o) for o in found["outcomes"]]
        rows = fold(catalogue(), outcomes)
        assert {r.id: r.status for r in rows} == dict.fromkeys(IDS, "pass")


@pytest.mark.slow
def test_a_cap_below_a_dev_day_runs_budget_within_its_limit_on_the_variant_server(
    start_server: Any, tmp_path: Path
) -> None:
    """Effects 300 ms late, 429 every 37 requests, other status codes: still every
    requirement judged and held, within the plan's limit as --max-requests."""
    server = start_server(ServerConfig.variant())
    # The default settle time (1 s): effects land 300 ms after the answer here.
    cap = ("--max-requests", str(run_plan.BUDGET_LIMIT))
    run = run_cli("run", *target_args(server), "--seed", "1", *cap, report_dir=tmp_path)
    assert f"profile budget (picked for --max-requests {run_plan.BUDGET_LIMIT})" in run.stdout
    assert run.exit_code == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert run.result is not None
    assert {r["id"]: r["status"] for r in run.result["requirements"]} == dict.fromkeys(IDS, "pass")
    assert run.result["request_count"] <= run_plan.BUDGET_LIMIT
    print(f"budget on the variant server: {run.result['request_count']} requests")


@pytest.mark.slow
def test_a_cap_below_the_plan_judges_what_fits_and_leaves_the_rest_not_checked(
    tmp_path: Path,
) -> None:
    cap = 40
    left = run_plan.plan_for("budget").beyond(cap, IDS)
    run = run_cli("run", *FAST, "--max-requests", str(cap), report_dir=tmp_path)
    assert f"below the plan's {run_plan.plan_for('budget').deterministic}" in run.stdout
    assert f"requirements {', '.join(left)} will not be checked" in run.stdout
    assert run.exit_code == 3, run.stdout[-3000:]
    assert run.result is not None
    rows = {r["id"]: r for r in run.result["requirements"]}
    assert [i for i in IDS if i not in left and rows[i]["status"] != "pass"] == []
    assert not [i for i in IDS if rows[i]["status"] == "fail"]
    assert rows["AUTH-1"]["status"] == "not checked"
    assert "budget" in rows["AUTH-1"]["reason"]


@pytest.mark.slow
@pytest.mark.parametrize("selected", [(), ("--requirement", "REV-2")])
def test_the_up_front_count_is_what_the_run_judges(
    selected: tuple[str, ...], tmp_path: Path
) -> None:
    """The budget scenarios' markers name fewer ids than the scenarios judge: the first
    line counts what the plan says they judge, as the matrix at the end does."""
    run = run_cli("run", "--profile", "budget", *FAST, *selected, report_dir=tmp_path)
    assert run.exit_code == 0, run.tail()
    assert run.result is not None
    rows = run.result["requirements"]
    assert all(r["status"] == "pass" for r in rows)
    assert f"judging {len(rows)} requirements" in run.stdout, run.stdout[:500]
    assert f"{len(rows)} passed, 0 not checked ({len(rows)} requirements)" in run.stdout


@pytest.mark.slow
@pytest.mark.parametrize("cap", [2, 5, 12])
def test_the_up_front_line_of_a_cap_is_true(cap: int, tmp_path: Path) -> None:
    """What the first lines say will not be checked is not checked, and what they say
    may be (the scenario the cap cuts short) is all that is not checked besides."""
    left, maybe = run_plan.plan_for("budget").reach(cap, IDS)
    run = run_cli("run", *FAST, "--max-requests", str(cap), report_dir=tmp_path)
    assert f"requirements {', '.join(left)} will not be checked" in run.stdout
    assert run.result is not None
    unchecked = {r["id"] for r in run.result["requirements"] if r["status"] == "not checked"}
    assert set(left) <= unchecked, run.stdout[-3000:]
    assert unchecked <= {*left, *maybe}, run.stdout[-3000:]


@pytest.mark.slow
def test_a_capped_quick_run_judges_every_requirement_before_exploring(tmp_path: Path) -> None:
    """In collection order the lifecycle machine (~150 requests) runs before the
    scenarios; ordered by the plan, a cap just above the deterministic part judges all."""
    quick = run_plan.plan_for("quick")
    cap = quick.deterministic + 10
    capped = ("--profile", "quick", *FAST, "--max-requests", str(cap))
    run = run_cli("run", *capped, report_dir=tmp_path)
    assert "judges every requirement first, then explores with what is left" in run.stdout
    assert run.result is not None
    statuses = {r["id"]: r["status"] for r in run.result["requirements"]}
    assert statuses == dict.fromkeys(IDS, "pass"), run.stdout[-3000:]
    assert run.exit_code == 0


def test_plan_prints_every_scenario_its_cost_and_the_total() -> None:
    run = run_cli("plan", "--profile", "budget")
    assert run.exit_code == 0, run.stderr
    budget = run_plan.plan_for("budget")
    for scenario in budget.scenarios:
        assert scenario.test in run.stdout
    assert f"deterministic part: {budget.deterministic} requests" in run.stdout
    assert "every requirement of the catalogue (32) is judged by a scenario" in run.stdout
    quick = run_cli("plan", "--profile", "quick")
    assert f"~{run_plan.EXPLORATION['quick']} requests (estimate)" in quick.stdout
