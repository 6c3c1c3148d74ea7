"""The fixtures of the conformance suite's own tests, over the run's session.

Registered by the suite session (suite/session.py) when it starts. Each fixture is
defined once: `storefront`, `masivo_settings` and `masivo_target` are the user plugin's
(suite/plugin.py), which in a conformance run take the session's settings and these:
the run's `masivo_connection` (one client, with the run's request budget, and the
events it created, cleaned up at the end), `run_salt` and `masivo_evidence` (what the
recorder reads).
"""

from __future__ import annotations

import secrets
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from masivo_conformance import scrub
from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.recording import cassettes
from masivo_conformance.suite import run_plan
from masivo_conformance.suite.budget import LOW_REMAINING
from masivo_conformance.suite.client import ApiClient, RequestBudget
from masivo_conformance.suite.concurrent_scenarios import ConcurrencyLimit, ScenarioPool, Sweeper
from masivo_conformance.suite.connection import Connection
from masivo_conformance.suite.journal import Journal
from masivo_conformance.suite.plugin import SUITE
from masivo_conformance.suite.recorder import (
    AMOUNTS_MOVED,
    CLEANUP_NOTE,
    CONCURRENCY_NOTE,
    EVIDENCE,
    POOL_RUN,
    RATE_NOTE,
)
from masivo_conformance.suite.session import SuiteOptions, SuiteSession
from masivo_conformance.suite.settings import Settings
from masivo_conformance.suite.shared_budget import SharedCounter
from masivo_conformance.suite.storefront import EventLog, IdFactory, Storefront
from masivo_conformance.suite.target import Target


def _session(config: pytest.Config) -> SuiteSession:
    return cast(SuiteSession, config.stash[SUITE])


@pytest.fixture(scope="session")
def masivo_profile(pytestconfig: pytest.Config) -> str:
    """The exploration profile of the run (quick, ci or deep)."""
    return _session(pytestconfig).options.profile


@pytest.fixture(scope="session")
def masivo_budget(
    masivo_settings: Settings, masivo_target: Target, pytestconfig: pytest.Config
) -> Iterator[RequestBudget]:
    limit, daily = masivo_settings.max_requests, masivo_settings.daily_budget
    # Each xdist worker is a process of its own: the run's --max-requests is counted in
    # one shared store (suite/shared_budget.py), as is --daily-budget across runs. The
    # worker count and the run's id come from this session's controller, not the
    # environment, which a CLI run started from inside another pytest-xdist run inherits.
    workerinput: dict[str, Any] = getattr(pytestconfig, "workerinput", {})
    workers = int(workerinput.get("workercount", 1))
    shared = None
    if daily is not None or (limit is not None and workers > 1):
        run = str(workerinput.get("testrunuid") or uuid.uuid4().hex)
        shared = SharedCounter(masivo_target.base_url, run)
    max_time = masivo_settings.max_time
    yield RequestBudget(
        limit=limit if shared is None else None,
        max_time=max_time,
        deadline=None if max_time is None else time.monotonic() + max_time,
        timeout=masivo_settings.timeout,  # what schemathesis's requests get (fuzzing.call)
        progress=_progress_line(pytestconfig) if workers == 1 else None,
        shared=shared,
        shared_limit=limit,
        daily_limit=daily,
    )
    if shared is not None:
        shared.close()


PROGRESS_EVERY_S = 15.0


def _progress_line(config: pytest.Config) -> Callable[[int], None] | None:
    """On a terminal, a line every 15 s with the requests sent so far: pytest's own
    progress shows one dot per test, and one fuzz test against a slow target can send
    requests for minutes without a dot."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not sys.stdout.isatty():
        return None
    started = time.monotonic()
    last = [started]

    def progress(spent: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S:
            last[0] = now
            reporter.write_line(f"masivo: {spent} requests in {now - started:.0f} s")

    return progress


@pytest.fixture(scope="session")
def masivo_concurrency(
    masivo_settings: Settings, masivo_budget: RequestBudget, pytestconfig: pytest.Config
) -> Iterator[ConcurrencyLimit]:
    """How many scenarios run at once (suite/concurrent_scenarios.py), the cleanup's
    reverses too: one in an xdist worker (the workers are the run's concurrency), with
    cassettes (vcrpy records one test at a time) and under a cap below the plan; lowered
    to one for the rest of the run when the target pushes back."""
    options = _session(pytestconfig).options
    serial = hasattr(pytestconfig, "workerinput") or options.cassettes is not None
    capped = _capped_below_the_plan(masivo_budget, options)
    limit = ConcurrencyLimit(1 if serial or capped else masivo_settings.concurrency)
    masivo_budget.pressure = limit.lower
    yield limit
    masivo_budget.pressure = None
    if limit.note or capped:
        pytestconfig.stash[CONCURRENCY_NOTE] = limit.note or capped


@pytest.fixture(scope="session")
def masivo_connection(
    masivo_target: Target,
    masivo_settings: Settings,
    masivo_budget: RequestBudget,
    masivo_events: EventLog,
    masivo_concurrency: ConcurrencyLimit,
    pytestconfig: pytest.Config,
) -> Iterator[Connection]:
    """The run's one connection to its target: every storefront of the run shares its
    client (its request budget, its token) and its events, cleaned up at the end."""
    connection = Connection.open(
        masivo_settings, masivo_target, budget=masivo_budget, events=masivo_events
    )
    yield connection
    if not masivo_target.embedded and masivo_events.statuses and not _replaying(pytestconfig):
        _clean_up(connection, pytestconfig, masivo_concurrency)
    pytestconfig.stash[AMOUNTS_MOVED] = masivo_events.moved
    lowest = masivo_budget.lowest_remaining
    if lowest is not None and lowest < LOW_REMAINING:
        pytestconfig.stash[RATE_NOTE] = (
            f"rate limit: the target's X-RateLimit-Remaining fell to {lowest} during the run"
        )
    connection.close()


@pytest.fixture(scope="session")
def masivo_scenarios(
    masivo_connection: Connection,
    masivo_concurrency: ConcurrencyLimit,
    run_salt: str,
    request: pytest.FixtureRequest,
) -> Iterator[ScenarioPool]:
    """The run's scenarios that overlap (suite/concurrent_scenarios.py)."""
    session = request.session
    pool = ScenarioPool(
        masivo_connection,
        run_salt,
        session.items,
        masivo_concurrency,
        stopped=lambda: bool(session.shouldstop or session.shouldfail),
    )
    yield pool
    pool.close()


def _capped_below_the_plan(budget: RequestBudget, options: SuiteOptions) -> str:
    """Why the run's scenarios do not overlap, if a request cap may cut its plan short:
    then the tests run one at a time in plan order, so that the cheapest judgements are
    made whole before the cap (overlapping, every test would get part of it)."""
    room = budget.room()
    needed = run_plan.plan_for(options.profile).deterministic + run_plan.SLACK
    if room is None or room >= needed or options.settings.concurrency == 1:
        return ""
    return (
        f"concurrency: 1 scenario at a time, in plan order: {room} requests left under the "
        f"run's cap, fewer than its plan's {needed} (spare included)"
    )


@pytest.fixture
def masivo_storefront(request: pytest.FixtureRequest, masivo_scenarios: ScenarioPool) -> Storefront:
    """The suite's `storefront` for this test: the one its overlapping run uses (the
    test's call then waits for that run), or a new one on the run's connection."""
    run = masivo_scenarios.run_of(request.node)
    if run is not None:
        request.node.stash[EVIDENCE] = run.storefront.evidence
        request.node.stash[POOL_RUN] = run
        return run.storefront
    connection: Connection = request.getfixturevalue("masivo_connection")
    salt: str = request.getfixturevalue("run_salt")
    evidence: Evidence = request.getfixturevalue("masivo_evidence")
    storefront = connection.storefront(
        IdFactory.for_test(salt, request.node.nodeid), evidence=evidence
    )
    storefront.sweep = masivo_scenarios.sweep
    return storefront


@pytest.fixture(scope="session")
def masivo_client(masivo_connection: Connection) -> ApiClient:
    """The run's client (fuzzing and the link machine send through it)."""
    return masivo_connection.client


def _clean_up(connection: Connection, config: pytest.Config, limit: ConcurrencyLimit) -> None:
    """On a real target, reverse the events the run left live and say what stays behind."""
    target, events = connection.target, connection.events
    storefront = connection.storefront(IdFactory("cleanup"), settle_time=0.0)
    # The reverses need nothing of each other: at the run's concurrency, one at a time
    # once the target pushed back.
    storefront.sweep = sweeper = Sweeper(limit)
    live = events.live()
    try:
        left = storefront.cleanup()
    finally:
        sweeper.close()
    # The ids are the target's: redacted, then the line cut to a message's length.
    behind = "; ".join(f"{event_id} ({why})" for event_id, why in left.items())
    next_step = (
        f". They stay in the cleanup journal: run `masivo-conformance cleanup --base-url "
        f"{target.base_url}` later (same credentials) to reverse them"
        if left
        else ""
    )
    line = scrub.excerpt(
        f"cleanup: the run created {len(events.statuses)} events and reversed the "
        f"{len(live) - len(left)} still live at the end; left behind: "
        f"{behind or 'nothing'}{next_step}",
        scrub.MESSAGE_LIMIT,
    )
    config.stash[CLEANUP_NOTE] = line
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"masivo: {line}")


@pytest.fixture(scope="session")
def masivo_events(masivo_target: Target, pytestconfig: pytest.Config) -> EventLog:
    """The events this run created; on a real target also written to the cleanup journal
    as they happen (an interrupted run never reaches its teardown)."""
    if masivo_target.embedded or _replaying(pytestconfig):
        return EventLog()
    return EventLog(journal=Journal.for_target(masivo_target.base_url))


def _replaying(config: pytest.Config) -> bool:
    return _session(config).options.cassettes is not None and (
        config.getoption("--record-mode", None) == "none"
    )


@pytest.fixture
def masivo_evidence(request: pytest.FixtureRequest) -> Evidence:
    """What this test observed, requirement by requirement (the recorder reads it).

    Kept in the test item's stash, not only in its arguments: a schemathesis test made
    with `from_fixture` asks for its fixtures itself, so they never reach the item's
    `funcargs`, and the recorder would find no evidence (every fuzz verdict was lost).
    """
    evidence = Evidence()
    request.node.stash[EVIDENCE] = evidence
    return evidence


@pytest.fixture(scope="session")
def run_salt(masivo_settings: Settings, pytestconfig: pytest.Config) -> str:
    """What makes this run's customer ids its own.

    Fresh on every run, even with a seed (which fixes what Hypothesis generates): a
    target keeps the customers of earlier runs, and creating one again is refused.
    Only cassette runs need the same ids every time, so that replayed requests match.
    """
    seed = masivo_settings.seed
    if seed is not None and _session(pytestconfig).options.cassettes is not None:
        return f"s{seed}"
    return secrets.token_hex(4)


@pytest.fixture
def points_reward(
    masivo_connection: Connection,
    masivo_target: Target,
    masivo_evidence: Evidence,
    run_salt: str,
) -> dict[str, Any]:
    """A POINTS reward of the brand, discovered through list_rewards.

    Function-scoped on purpose: a recorded test must hold every request it depends on.
    """
    storefront = masivo_connection.storefront(
        IdFactory.for_test(run_salt, "session"),
        evidence=masivo_evidence,
        writes_allowed=False,
        settle_time=0.0,
    )
    for reward in storefront.rewards():
        if reward.get("type") == "POINTS" and isinstance(reward.get("id"), str):
            return reward
    pytest.skip(
        f"brand {masivo_target.brand_id} lists no POINTS reward: "
        "requirements that need points are not run"
    )


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    """pytest-recording's configuration: scrubbing and matching from `cassettes`."""
    return cassettes.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """Cassettes live under the session's cassette folder as <module>/<test>.yaml."""
    root = _session(request.config).options.cassettes or Path("cassettes")
    return str(root / request.module.__name__.rsplit(".", 1)[-1])
