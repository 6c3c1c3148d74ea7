"""The request plan as data: coverage, limits, the profile a cap picks, the up-front
line and the run order (suite/run_plan.py); and how many workers a run uses unasked."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from masivo_conformance.cli import build_parser
from masivo_conformance.commands import run as run_command
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.suite import profiles, run_plan
from masivo_conformance.suite.session import SuiteOptions
from masivo_conformance.suite.settings import Settings

IDS = [r.id for r in catalogue()]


@dataclass(frozen=True)
class Item:
    """What `arrange` reads of a pytest item."""

    nodeid: str
    kind: str  # "requirement", "explores" or "" (not a suite test)


def _arrange(profile: str, items: list[Item]) -> tuple[list[str], list[str]]:
    kept, dropped = run_plan.arrange(profile, items, lambda i: i.nodeid, lambda i: i.kind)
    return [i.nodeid for i in kept], [i.nodeid for i in dropped]


def test_every_profile_has_a_plan() -> None:
    assert set(profiles.NAMES) == set(run_plan.EXPLORATION)
    for name in profiles.NAMES:
        assert run_plan.plan_for(name).unjudged(IDS) == [], name


def test_the_budget_plan_fits_its_limit_with_room_for_slow_targets() -> None:
    budget = run_plan.plan_for("budget")
    assert budget.exploration == 0
    assert budget.total + run_plan.SLACK <= run_plan.BUDGET_LIMIT
    assert len({s.test for s in budget.scenarios}) == len(budget.scenarios)


def test_plans_name_only_catalogue_ids() -> None:
    for name in profiles.NAMES:
        for scenario in run_plan.plan_for(name).scenarios:
            assert set(scenario.judges) <= set(IDS), scenario.test


@pytest.mark.parametrize(
    ("asked", "cap", "chosen"),
    [
        (None, None, "ci"),
        (None, 600, "budget"),
        (None, 999, "budget"),
        (None, 1000, "ci"),
        ("quick", 600, "quick"),
        ("deep", None, "deep"),
    ],
)
def test_a_cap_below_a_dev_day_picks_budget(
    asked: str | None, cap: int | None, chosen: str
) -> None:
    assert run_plan.choose_profile(asked, cap) == chosen


def test_no_cap_needs_no_line() -> None:
    assert run_plan.headline("ci", None, IDS) == ""


def test_a_cap_above_the_deterministic_part_explores_with_the_rest() -> None:
    quick = run_plan.plan_for("quick")
    line = run_plan.headline("quick", quick.deterministic + 10, IDS)
    assert f"needs ~{quick.total} requests" in line
    assert "judges every requirement first, then explores with what is left" in line


def test_a_cap_below_the_plan_names_the_requirements_left_out() -> None:
    line = run_plan.headline("budget", 20, IDS, chosen=True)
    budget = run_plan.plan_for("budget")
    assert line.startswith("profile budget (picked for --max-requests 20)")
    assert f"below the plan's {budget.deterministic}" in line
    left = run_plan.plan_for("budget").beyond(20, IDS)
    assert "FUL-3" not in left  # the cheapest scenarios come first
    assert {"PRV-2", "AUTH-1"} <= set(left)
    assert ", ".join(left) in line


def test_a_cap_that_fits_says_so() -> None:
    assert "within --max-requests 250" in run_plan.headline("budget", 250, IDS)


def test_beyond_counts_the_authorize_of_the_run() -> None:
    budget = run_plan.plan_for("budget")
    first = budget.scenarios[0]
    assert set(first.judges) - set(budget.beyond(run_plan.SESSION_COST + first.total, IDS))
    # The first scenario is cut short: it may judge its requirements before the cap stops it.
    left, maybe = budget.reach(first.total, IDS)
    assert maybe == [i for i in IDS if i in first.judges]
    assert left == [i for i in IDS if i not in first.judges]
    # A token only: no authorize, so the first scenario fits.
    assert not set(first.judges) & set(budget.reach(first.total, IDS, authorizes=False)[1])


def test_a_key_and_a_token_leave_the_authorize_unknown() -> None:
    budget = run_plan.plan_for("budget")
    for cap in (1, 2, 5, 12, 40):
        with_key, without = budget.reach(cap, IDS, True), budget.reach(cap, IDS, False)
        sure, maybe = budget.reach(cap, IDS, None)
        assert set(sure) == set(with_key[0]) & set(without[0])
        assert set(sure) | set(maybe) == set(with_key[0] + with_key[1] + without[0] + without[1])


def test_a_cut_short_scenario_is_said_to_be_may() -> None:
    line = run_plan.headline("budget", 12, IDS)
    left, maybe = run_plan.plan_for("budget").reach(12, IDS)
    assert maybe, "a cap of 12 cuts a scenario short"
    assert f"requirements {', '.join(left)} will not be checked" in line
    assert f"; {', '.join(maybe)} only if the scenario the cap cuts short gets that far" in line


def test_budget_keeps_its_plan_alone_in_plan_order() -> None:
    scenarios = run_plan.plan_for("budget").scenarios
    items = [
        Item("tests/contract/test_fuzz.py::test_generated_requests_keep_the_contract", "explores"),
        Item(scenarios[-1].test, "requirement"),
        Item(
            "tests/stateful/test_scenarios.py::test_concurrent_reversals_apply_once", "requirement"
        ),
        Item("tests/unit/test_plan.py::test_x", ""),
        Item(scenarios[0].test, "requirement"),
    ]
    kept, dropped = _arrange("budget", items)
    assert kept == [scenarios[0].test, scenarios[-1].test, "tests/unit/test_plan.py::test_x"]
    assert len(dropped) == 2


def test_other_profiles_judge_first_explore_last_and_skip_budget_scenarios() -> None:
    budget_only = (
        "tests/stateful/test_budget_scenarios.py::test_bad_tokens_are_refused_on_every_operation"
    )
    fuzz = "tests/contract/test_fuzz.py::test_generated_requests_keep_the_contract[GET /rewards]"
    machine = "tests/stateful/test_lifecycle_machine.py::TestEventLifecycle::runTest"
    scenario = "tests/stateful/test_scenarios.py::test_concurrent_reversals_apply_once"
    auth = "tests/contract/test_auth.py::test_bad_bearer_tokens_are_refused_everywhere"
    items = [
        Item(fuzz, "explores"),
        Item(machine, "explores"),
        Item(budget_only, "requirement"),
        Item(scenario, "requirement"),
        Item(auth, "requirement"),
    ]
    kept, dropped = _arrange("quick", items)
    assert kept == [auth, scenario, fuzz, machine]
    assert dropped == [budget_only]


@pytest.mark.parametrize(
    ("settings", "profile", "cpus", "workers"),
    [
        (Settings(), "quick", 2, "2"),  # embedded, exploring: two processes
        (Settings(), "ci", 8, "2"),
        (Settings(), "budget", 2, None),  # start-up bound
        (Settings(), "quick", 1, None),  # one core: a worker only adds start-up
        (Settings(), "quick", None, None),  # core count unknown
        (Settings(max_requests=400), "quick", 2, None),  # a cap is spent in plan order
        (Settings(max_time=30.0), "quick", 2, None),
        (Settings(base_url="https://api.example"), "quick", 2, None),  # a live target
    ],
)
def test_default_workers(
    settings: Settings, profile: str, cpus: int | None, workers: str | None
) -> None:
    assert run_command.default_workers(settings, profile, cpus) == workers


def test_plan_and_run_default_to_one_profile(capsys: pytest.CaptureFixture[str]) -> None:
    """`plan` with no --profile shows what `run` with no --profile runs, and says which."""
    parser = build_parser()
    shown = parser.parse_args(["plan"])
    ran = parser.parse_args(["run"])
    assert ran.profile is None  # run chooses: choose_profile, with no cap
    assert shown.profile == run_plan.choose_profile(ran.profile, None) == run_plan.DEFAULT_PROFILE
    assert SuiteOptions(Settings()).profile == run_plan.DEFAULT_PROFILE  # a direct pytest run
    shown.execute(shown)
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"plan of profile {run_plan.DEFAULT_PROFILE} (the default of `run`")
