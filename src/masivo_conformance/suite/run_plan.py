"""The request plan of each profile, as data: which deterministic test judges which
requirements and what it costs, and what the profile's exploration adds.

A DEV account allows 1,000 requests a day, so a run is planned like an expense: the
`budget` profile judges every requirement of the catalogue with the shared scenarios
below and nothing else; quick, ci and deep run their deterministic tests first, then
explore with what is left. Costs are requests against the embedded reference server
(which settles at once); a slow-settling target adds polls, which `SLACK` leaves room
for. `tests/cli/test_budget_profile.py` runs the plans and compares these numbers with
the requests actually made, so the data cannot drift from the tests.

Pure functions only: the pytest plugin orders and selects tests with `arrange`, the
`run` command picks a profile and says what the budget allows with `choose_profile`
and `headline`, the `plan` command prints `plan_for(profile)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from masivo_conformance.suite.sharding import Shard

__all__ = [
    "BUDGET_LIMIT",
    "DEFAULT_PROFILE",
    "DEV_DAILY_REQUESTS",
    "EXPLORATION",
    "SESSION_COST",
    "SLACK",
    "Plan",
    "Scenario",
    "arrange",
    "choose_profile",
    "headline",
    "kind_of",
    "nodeid_of",
    "plan_for",
]

# The profile of a run that asks for none and has no cap below a DEV day: `run`, `plan`
# and a direct `pytest --masivo-profile` all default to it.
DEFAULT_PROFILE = "ci"
DEV_DAILY_REQUESTS = 1000  # a Masivo DEV account's daily allowance (the lower documented one)
# What the budget profile may spend against any target: three runs in a 1,000-a-day DEV
# account (250 until the checks of issue 18 made amounts move: docs/decisions.md).
BUDGET_LIMIT = 300
SESSION_COST = 1  # authorize, once per run (the token is reused until it nears its exp)
# Polls on a target whose effects land late (300 ms on the variant server) and retried
# 429s: measured 40-60 requests over the budget plan, so the plan keeps this much spare.
SLACK = 60

T = TypeVar("T")


@dataclass(frozen=True)
class Scenario:
    """One deterministic test (a pytest node id) and what one run of it costs."""

    test: str
    judges: tuple[str, ...]
    cost: int  # requests the test itself makes on the embedded server
    fixtures: int = 0  # requests its fixtures make first (the POINTS reward lookup)

    @property
    def total(self) -> int:
        return self.cost + self.fixtures


_GENERAL = ("GEN-1", "GEN-3", "GEN-4")  # judged on every answer of every scenario
_BS = "tests/stateful/test_budget_scenarios.py::"
_EX = "tests/contract/test_examples.py::"
_AU = "tests/contract/test_auth.py::"
_FZ = "tests/contract/test_fuzz.py::"
_SC = "tests/stateful/test_scenarios.py::"

# Cheapest judgement of each requirement first, so that a budget cut short still judges
# as many requirements as it can; the shared scenarios follow, the sweeps last.
_BUDGET = (
    Scenario(_EX + "test_fulfil_of_an_unknown_event_is_refused", ("FUL-3", "GEN-2", "GEN-3"), 1),
    Scenario(_EX + "test_reverse_of_an_unknown_event_is_refused", ("REV-5", "GEN-2", "GEN-3"), 1),
    # Its authorize answer is checked like any other: AUTH-2 too.
    Scenario(_EX + "test_tokens_live_at_most_an_hour", ("AUTH-3", "AUTH-2", *_GENERAL), 1),
    Scenario(_EX + "test_authorize_exchanges_a_valid_key_for_a_jwt", ("AUTH-2", *_GENERAL), 4),
    Scenario(
        _EX + "test_emit_issued_at_outside_the_window_is_refused[older-than-72h]",
        ("EMIT-3", "GEN-2"),
        2,
    ),
    Scenario(
        _EX + "test_emit_issued_at_outside_the_window_is_refused[in-the-future]",
        ("EMIT-3", "GEN-2"),
        2,
    ),
    Scenario(
        _EX + "test_emit_accepts_every_documented_timestamp_format",
        ("EMIT-1", "EMIT-4", *_GENERAL),
        8,
    ),
    # The derived defects' covering subset (suite/defects.py): 33 emits on one customer.
    Scenario(_BS + "test_incomplete_emits_are_refused_and_create_nothing", ("EMIT-2", "GEN-2"), 37),
    Scenario(
        _BS + "test_one_customer_previews_every_way_and_nothing_changes",
        ("PRV-1", "PRV-2", "PRV-3", "PRV-4", "PRV-5", "PRV-6", "PRV-7", "GEN-5", *_GENERAL),
        21,
    ),
    Scenario(
        _BS + "test_one_reversed_purchase_refuses_what_follows",
        ("REV-1", "REV-2", "REV-4", "FUL-4", "EMIT-1", "EMIT-4", "GEN-5", *_GENERAL),
        12,
    ),
    Scenario(
        _BS + "test_one_standby_purchase_fulfilled_then_one_cancelled",
        ("EMIT-4", "FUL-1", "FUL-2", "FUL-5", "REV-3", "REV-4", "FUL-4", *_GENERAL),
        25,
    ),
    Scenario(
        _BS + "test_identical_purchases_settle_then_race_and_repeat",
        ("EMIT-4", "REV-6", "REV-7", "FUL-5", "REV-1", *_GENERAL),
        25,
    ),
    Scenario(
        _BS + "test_one_customer_redeems_at_every_level_at_once",
        ("EMIT-5", "EMIT-1", "EMIT-4", *_GENERAL),
        12,
    ),
    Scenario(_BS + "test_bad_tokens_are_refused_on_every_operation", ("AUTH-1", "GEN-2"), 17),
    Scenario(
        _EX + "test_malformed_requests_never_get_a_server_error", ("GEN-3", "GEN-2", "GEN-1"), 33
    ),
)

# The deterministic part of quick, ci and deep: one test per rule, as `record` records
# them (collection order; each profile adds its exploration after them).
_STANDARD = (
    Scenario(_AU + "test_bad_bearer_tokens_are_refused_everywhere", ("AUTH-1",), 65),
    Scenario(
        _EX + "test_success_answers_are_data_envelopes_that_match_the_schemas",
        ("GEN-1", "GEN-4"),
        10,
        1,
    ),
    Scenario(_EX + "test_answers_carry_rate_limit_headers", ("GEN-5",), 10, 1),
    Scenario(_EX + "test_client_errors_have_error_and_details", ("GEN-2",), 6),
    Scenario(_EX + "test_malformed_requests_never_get_a_server_error", ("GEN-3",), 33),
    Scenario(_EX + "test_authorize_exchanges_a_valid_key_for_a_jwt", ("AUTH-2",), 4),
    Scenario(_EX + "test_tokens_live_at_most_an_hour", ("AUTH-3",), 1),
    *(
        Scenario(_EX + f"test_emit_echoes_customer_type_and_fulfilled[{p}]", ("EMIT-1",), 2)
        for p in ("default", "true", "false")
    ),
    Scenario(_EX + "test_emit_accepts_every_documented_timestamp_format", ("EMIT-1",), 8),
    # Every derived defect (60 emits), on one customer per missing member and per level.
    Scenario(_EX + "test_emit_without_required_or_with_wrong_types_is_refused", ("EMIT-2",), 112),
    *(
        Scenario(_EX + f"test_emit_issued_at_outside_the_window_is_refused[{p}]", ("EMIT-3",), 2)
        for p in ("older-than-72h", "in-the-future")
    ),
    Scenario(_EX + "test_fulfil_of_an_unknown_event_is_refused", ("FUL-3",), 1),
    Scenario(_EX + "test_reverse_of_an_unknown_event_is_refused", ("REV-5",), 1),
    Scenario(_EX + "test_reverse_without_a_reason_is_refused", ("REV-7",), 4),
    Scenario(_EX + "test_preview_echoes_customer_and_brand", ("PRV-1",), 2),
    Scenario(_EX + "test_preview_reports_a_result_at_every_redeeming_level", ("PRV-3",), 4, 1),
    Scenario(_EX + "test_preview_keeps_products_and_subtracts_discounts", ("PRV-4",), 4, 1),
    Scenario(_EX + "test_preview_percent_is_discount_over_value", ("PRV-7",), 4, 1),
    *(
        Scenario(
            _EX + f"test_preview_reports_unredeemable_rewards_as_errors[{p}]", ("PRV-5",), 2, 1
        )
        for p in ("unknown reward", "balance too low", "one point, none held")
    ),
    Scenario(_EX + "test_preview_redeems_the_whole_balance_without_error", ("PRV-5",), 7, 1),
    *(
        Scenario(_EX + f"test_preview_without_a_required_member_is_refused[{p}]", ("PRV-6",), 2)
        for p in ("customer_id", "brand_id", "order")
    ),
    Scenario(_FZ + "test_huge_and_odd_strings_get_no_server_error", ("GEN-3",), 25),
    Scenario(
        _SC + "test_reversing_a_fulfilled_purchase_restores_the_wallet", ("REV-1", "REV-2"), 8
    ),
    Scenario(
        _SC + "test_reversing_a_standby_event_cancels_it_and_releases_reservations",
        ("REV-3",),
        7,
        1,
    ),
    Scenario(_SC + "test_a_second_reverse_is_refused_and_changes_nothing[reversed]", ("REV-4",), 9),
    Scenario(
        _SC + "test_a_second_reverse_is_refused_and_changes_nothing[cancelled]", ("REV-4",), 8
    ),
    Scenario(_SC + "test_concurrent_reversals_apply_once", ("REV-6",), 14),
    Scenario(_SC + "test_deferred_fulfilment_equals_immediate", ("FUL-2",), 13, 1),
    Scenario(_SC + "test_fulfilling_a_standby_event_answers_it_fulfilled", ("FUL-1",), 3),
    Scenario(
        _SC + "test_fulfilling_a_reversed_or_cancelled_event_is_refused[reversed]",
        ("FUL-4",),
        9,
        1,
    ),
    Scenario(
        _SC + "test_fulfilling_a_reversed_or_cancelled_event_is_refused[cancelled]",
        ("FUL-4",),
        9,
        1,
    ),
    Scenario(_SC + "test_fulfilling_twice_changes_no_wallet[emitted-fulfilled]", ("FUL-5",), 7, 1),
    Scenario(_SC + "test_fulfilling_twice_changes_no_wallet[fulfilled-later]", ("FUL-5",), 10, 1),
    Scenario(_SC + "test_previews_change_nothing", ("PRV-2",), 13, 1),
    Scenario(_SC + "test_fulfilled_events_settle", ("EMIT-4",), 9),
    Scenario(_SC + "test_standby_events_stand_by", ("EMIT-4",), 2),
    Scenario(_SC + "test_a_failing_emit_settles_with_resolved_at", ("EMIT-4",), 3, 1),
    Scenario(_SC + "test_fulfilled_emits_redeem_at_every_level", ("EMIT-5",), 24),
)

# What each profile's exploration (schemathesis fuzzing, the state machines) adds on the
# embedded server: the profile's measured total (docs/benchmarks.md) minus its
# deterministic part. An estimate: generated data decides how many calls a case makes.
EXPLORATION = {"budget": 0, "quick": 165, "ci": 1170, "deep": 15300}


@dataclass(frozen=True)
class Plan:
    profile: str
    scenarios: tuple[Scenario, ...]
    exploration: int

    @property
    def deterministic(self) -> int:
        """Requests of the deterministic part, the run's one authorize included."""
        return SESSION_COST + sum(s.total for s in self.scenarios)

    @property
    def total(self) -> int:
        return self.deterministic + self.exploration

    def judged(self) -> set[str]:
        return {i for s in self.scenarios for i in s.judges}

    def judges_of(self, test: str) -> tuple[str, ...]:
        """The requirements the plan's scenario `test` (a node id) judges; () if not planned.
        A shared scenario judges more than its markers name (every answer is judged on
        GEN-1, GEN-3 and GEN-4; a reversed purchase also emits and settles)."""
        return next((s.judges for s in self.scenarios if s.test == test), ())

    def unjudged(self, requirement_ids: Iterable[str]) -> list[str]:
        """The requirements no scenario of the plan judges (exploration may, or not)."""
        judged = self.judged()
        return [i for i in requirement_ids if i not in judged]

    def reach(
        self, limit: int, requirement_ids: Iterable[str], authorizes: bool | None = True
    ) -> tuple[list[str], list[str]]:
        """What a cap of `limit` requests leaves out, scenarios run in plan order: (the
        requirements sure to be not checked; those only the scenario the cap cuts short
        judges, which may judge them before the cap stops it). `authorizes`: the run spends
        SESSION_COST on its own authorize (an API key: True), none (a token only: False), or
        either (both: the token is used while fresh; None)."""
        if authorizes is None:
            every = list(requirement_ids)
            (left1, maybe1), (left0, maybe0) = (
                self.reach(limit, every),
                self.reach(limit, every, False),
            )
            unsure = {*left1, *left0, *maybe1, *maybe0}
            sure = [i for i in left1 if i in left0]
            return sure, [i for i in every if i in unsure and i not in sure]
        spent, judged, maybe = SESSION_COST if authorizes else 0, set[str](), set[str]()
        for scenario in self.scenarios:
            spent += scenario.total
            if spent > limit:
                maybe.update(scenario.judges)
                break
            judged.update(scenario.judges)
        ids = [i for i in requirement_ids if i not in judged]
        return [i for i in ids if i not in maybe], [i for i in ids if i in maybe]

    def beyond(
        self, limit: int, requirement_ids: Iterable[str], authorizes: bool | None = True
    ) -> list[str]:
        """The requirements sure to be not checked with a cap of `limit` (`reach`)."""
        return self.reach(limit, requirement_ids, authorizes)[0]


def plan_for(profile: str) -> Plan:
    scenarios = _BUDGET if profile == "budget" else _STANDARD
    return Plan(profile, scenarios, EXPLORATION[profile])


def test_files(profile: str) -> list[str] | None:
    """The suite's test files a profile runs, relative to tests/ (`stateful/...`), when
    it runs its plan alone (budget: no exploration); None when it runs them all. A run
    collects only these: the fuzz and state-machine modules import schemathesis and
    Hypothesis, which the budget profile never uses."""
    chosen = plan_for(profile)
    if chosen.exploration:
        return None
    return sorted({s.test.split("::")[0].removeprefix("tests/") for s in chosen.scenarios})


def choose_profile(profile: str | None, max_requests: int | None) -> str:
    """The profile asked for; without one, budget when the cap is below a DEV account's
    day (any other profile would spend the day on exploration), else DEFAULT_PROFILE."""
    if profile is not None:
        return profile
    if max_requests is not None and max_requests < DEV_DAILY_REQUESTS:
        return "budget"
    return DEFAULT_PROFILE


def headline(
    profile: str,
    max_requests: int | None,
    requirement_ids: Sequence[str],
    chosen: bool = False,
    authorizes: bool | None = True,
) -> str:
    """The up-front line about what `max_requests` allows ("" when there is no cap and
    the profile was asked for). `chosen`: the profile was picked for the cap;
    `authorizes`: as `Plan.reach`."""
    plan = plan_for(profile)
    why = f" (picked for --max-requests {max_requests})" if chosen else ""
    if max_requests is None:
        return ""
    if max_requests < plan.deterministic:
        left, maybe = plan.reach(max_requests, requirement_ids, authorizes)
        line = (
            f"profile {profile}{why}: --max-requests {max_requests} is below the plan's "
            f"{plan.deterministic}: requirements {', '.join(left) or 'none'} will not be checked"
        )
        if maybe:
            line += f"; {', '.join(maybe)} only if the scenario the cap cuts short gets that far"
        return line
    if max_requests < plan.total:
        return (
            f"profile {profile}{why}: this profile needs ~{plan.total} requests; with "
            f"--max-requests {max_requests} the run judges every requirement first, then "
            "explores with what is left"
        )
    return (
        f"profile {profile}{why}: needs ~{plan.total} requests, within --max-requests "
        f"{max_requests}"
    )


def nodeid_of(item: Any) -> str:
    """A pytest item's node id (relative to the project root, as the plan names tests)."""
    return str(item.nodeid)


def kind_of(item: Any) -> str:
    """ "explores" (fuzz, state machine), "requirement" (deterministic) or "" (a test that
    is not the suite's), from a pytest item's markers."""
    for name in ("explores", "requirement"):
        if item.get_closest_marker(name) is not None:
            return name
    return ""


def arrange(
    profile: str,
    items: Sequence[T],
    nodeid: Callable[[T], str] = nodeid_of,
    kind: Callable[[T], str] = kind_of,
    shard: Shard | None = None,
) -> tuple[list[T], list[T]]:
    """(kept in run order, dropped): the plan's scenarios first in plan order, then the
    other tests, exploration last, so a capped run spends its requests judging every
    requirement once before anything is fuzzed. `kind(item)` is "explores" for a fuzz or
    state-machine test, "" for a test that is not the suite's (left alone), anything
    else for a deterministic one. `budget` keeps its plan alone; the other profiles drop
    the budget-only scenarios (they repeat the one-rule tests). A `shard` keeps its part
    of that order (suite/sharding.py) and drops the other shards'."""
    order = {s.test: n for n, s in enumerate(plan_for(profile).scenarios)}
    budget_only = {s.test for s in _BUDGET} - {s.test for s in _STANDARD}
    kept: list[T] = []
    dropped: list[T] = []
    for item in items:
        name, suite = nodeid(item), kind(item) != ""
        if suite and (name not in order if profile == "budget" else name in budget_only):
            dropped.append(item)
        else:
            kept.append(item)

    def rank(item: T) -> tuple[int, int]:
        name = nodeid(item)
        if name in order:
            return (0, order[name])
        return (2, 0) if kind(item) == "explores" else (1, 0)

    ordered = sorted(kept, key=rank)
    if shard is None:
        return ordered, dropped
    mine, others = shard.split(ordered)
    return mine, dropped + others
