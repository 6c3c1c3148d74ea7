"""pytest plugin of the conformance suite (loaded from the root conftest.py).

It owns the target settings (flags, environment, targets file), starts the embedded
reference server when no base URL is given, hands tests a checked `Storefront`, selects
tests by requirement id, applies the Hypothesis profile, and writes what every test
found (requirement ids, outcome, first violation, reproducer) for `masivo-conformance run`.
"""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.recording import cassettes
from masivo_conformance.suite import profiles
from masivo_conformance.suite.client import ApiClient, RequestBudget
from masivo_conformance.suite.outcomes import (
    CLEANUP_NOTE,
    RATE_LIMIT_WARNING,
    RATE_NOTE,
    Recorder,
    requirement_ids,
)
from masivo_conformance.suite.settings import TARGET_FLAGS, Settings, add_target_options, resolve
from masivo_conformance.suite.storefront import EventLog, IdFactory, Storefront
from masivo_conformance.suite.target import Target, open_target


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("masivo", "Masivo conformance target")
    add_target_options(group.addoption)
    group.addoption(
        "--profile",
        choices=profiles.NAMES,
        default="ci",
        help="how hard to explore: quick, ci (default, derandomised) or deep",
    )
    group.addoption("--seed", type=int, help="seed that makes a run reproducible")
    group.addoption("--max-requests", type=int, help="cap the run's requests")
    group.addoption(
        "--timeout-s",
        dest="masivo_timeout",
        type=float,
        help="seconds per HTTP request (default 10)",
    )
    group.addoption(
        "--settle-time",
        type=float,
        help="seconds after which an event with no transaction counts as settled",
    )
    group.addoption(
        "--settle-timeout",
        type=float,
        help="longest wait for a fulfilled event's transactions once an identical one listed its",
    )
    group.addoption(
        "--requirement",
        action="append",
        default=[],
        metavar="ID",
        help="run only tests covering this requirement id (repeatable)",
    )
    group.addoption("--masivo-results", type=Path, help="write per-test outcomes as JSON here")
    group.addoption(
        "--masivo-cassettes",
        type=Path,
        help="record or replay the deterministic tests with cassettes under DIR "
        "(used by the record, replay and drift commands)",
    )


def settings_from(config: pytest.Config) -> Settings:
    option = config.getoption
    flags = {
        **{name: option(name) for name in TARGET_FLAGS},
        "seed": option("--seed"),
        "max_requests": option("--max-requests"),
        "timeout": option("masivo_timeout"),
        "settle_time": option("--settle-time"),
        "settle_timeout": option("--settle-timeout"),
    }
    return resolve(flags, targets_file=option("--targets-file"), target=option("--target"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement(*ids): ties a test to requirement ids of the catalogue"
    )
    config.addinivalue_line(
        "markers",
        "explores(*ids): requirement ids a fuzz or state-machine test may judge (selection "
        "only: a verdict comes from what the test observed)",
    )
    config.addinivalue_line("markers", "writes: the test changes state on the target")
    profiles.load(config.getoption("--profile"), config.getoption("--seed"))
    config.pluginmanager.register(Recorder(config), "masivo-recorder")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse unknown requirement ids (a typo would leave a requirement uncovered) and
    keep only the tests of the requirements asked for with --requirement."""
    known = catalogue()
    wanted = set(config.getoption("--requirement"))
    for requirement_id in wanted:
        known[requirement_id]  # raises a clear error for an unknown id
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        ids = requirement_ids(item)
        unknown = [i for i in ids if i not in known]
        markers = [*item.iter_markers("requirement"), *item.iter_markers("explores")]
        if unknown or any(not m.args for m in markers):
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.requirement needs catalogue ids, got {unknown}"
            )
        (kept if not wanted or wanted & set(ids) else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    if config.getoption("--masivo-cassettes") is not None:
        for item in items:
            item.add_marker(pytest.mark.vcr)


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    """pytest-recording's configuration: scrubbing and matching from `cassettes`."""
    return cassettes.vcr_config()


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """Cassettes live under --masivo-cassettes as <module>/<test>.yaml."""
    root = request.config.getoption("--masivo-cassettes") or Path("cassettes")
    return str(root / request.module.__name__.rsplit(".", 1)[-1])


def pytest_collection_finish(session: pytest.Session) -> None:
    """One line per phase of a suite run: how many tests each folder contributes."""
    suite = [item for item in session.items if requirement_ids(item)]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if not suite or reporter is None or session.config.get_verbosity() < -1:
        return
    phases = Counter(Path(str(item.path)).parent.name for item in suite)
    covered = {i for item in suite for i in requirement_ids(item)}
    reporter.write_line(
        "masivo: "
        + ", ".join(f"{phase} {count} tests" for phase, count in sorted(phases.items()))
        + f", covering {len(covered)} requirements"
    )


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def masivo_settings(pytestconfig: pytest.Config) -> Settings:
    return settings_from(pytestconfig)


@pytest.fixture(scope="session")
def masivo_target(masivo_settings: Settings) -> Iterator[Target]:
    """The target of this session: the given base URL, or the embedded server, started here."""
    with open_target(masivo_settings) as target:
        yield target


@pytest.fixture(scope="session")
def masivo_budget(masivo_settings: Settings) -> RequestBudget:
    limit = masivo_settings.max_requests
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    # Each xdist worker is a process of its own: split the run's budget between them.
    return RequestBudget(limit=None if limit is None else max(1, limit // workers))


@pytest.fixture(scope="session")
def masivo_client(
    masivo_target: Target,
    masivo_settings: Settings,
    masivo_budget: RequestBudget,
    masivo_events: EventLog,
    pytestconfig: pytest.Config,
) -> Iterator[ApiClient]:
    client = ApiClient(
        masivo_target.base_url,
        api_key=masivo_target.api_key,
        token=masivo_target.token,
        timeout=masivo_settings.timeout,
        budget=masivo_budget,
    )
    yield client
    replaying = pytestconfig.getoption("--masivo-cassettes") is not None and (
        pytestconfig.getoption("--record-mode", None) == "none"
    )
    if not masivo_target.embedded and masivo_events.statuses and not replaying:
        _clean_up(client, masivo_target, masivo_settings, masivo_events, pytestconfig)
    lowest = masivo_budget.lowest_remaining
    if lowest is not None and lowest < RATE_LIMIT_WARNING:
        pytestconfig.stash[RATE_NOTE] = (
            f"rate limit: the target's X-RateLimit-Remaining fell to {lowest} during the run"
        )
    client.close()


def _clean_up(
    client: ApiClient, target: Target, settings: Settings, events: EventLog, config: pytest.Config
) -> None:
    """On a real target, reverse the events the run left live and say what stays behind."""
    storefront = Storefront(
        client,
        brand_id=target.brand_id,
        ids=IdFactory("cleanup"),
        writes_allowed=settings.writes_allowed,
        settle_time=0.0,
        events=events,
        host=target.base_url,
    )
    live = events.live()
    left = storefront.cleanup()
    line = (
        f"cleanup: the run created {len(events.statuses)} events and reversed the "
        f"{len(live) - len(left)} still live at the end; left behind: "
        f"{', '.join(left) or 'nothing'}"
    )
    config.stash[CLEANUP_NOTE] = line
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"masivo: {line}")


@pytest.fixture(scope="session")
def masivo_events() -> EventLog:
    return EventLog()


@pytest.fixture
def masivo_evidence() -> Evidence:
    """What this test observed, requirement by requirement (the recorder reads it)."""
    return Evidence()


@pytest.fixture(scope="session")
def run_salt(masivo_settings: Settings, pytestconfig: pytest.Config) -> str:
    """What makes this run's customer ids its own.

    Fresh on every run, even with --seed (which fixes what Hypothesis generates): a
    target keeps the customers of earlier runs, and creating one again is refused.
    Only cassette runs need the same ids every time, so that replayed requests match.
    """
    seed = masivo_settings.seed
    if seed is not None and pytestconfig.getoption("--masivo-cassettes") is not None:
        return f"s{seed}"
    return secrets.token_hex(4)


@pytest.fixture
def storefront(
    request: pytest.FixtureRequest,
    masivo_client: ApiClient,
    masivo_target: Target,
    masivo_settings: Settings,
    masivo_events: EventLog,
    masivo_evidence: Evidence,
    run_salt: str,
) -> Storefront:
    """A judged view of the target for one test, with its own customer ids."""
    return Storefront(
        masivo_client,
        brand_id=masivo_target.brand_id,
        ids=IdFactory.for_test(run_salt, request.node.nodeid),
        writes_allowed=masivo_settings.writes_allowed,
        settle_time=masivo_settings.settle_time,
        settle_timeout=masivo_settings.settle_timeout,
        evidence=masivo_evidence,
        events=masivo_events,
        host=masivo_target.base_url,
    )


@pytest.fixture
def points_reward(
    masivo_client: ApiClient,
    masivo_target: Target,
    masivo_evidence: Evidence,
    run_salt: str,
) -> dict[str, Any]:
    """A POINTS reward of the brand, discovered through list_rewards.

    Function-scoped on purpose: a recorded test must hold every request it depends on.
    """
    storefront = Storefront(
        masivo_client,
        brand_id=masivo_target.brand_id,
        ids=IdFactory.for_test(run_salt, "session"),
        writes_allowed=False,
        settle_time=0.0,
        evidence=masivo_evidence,
        host=masivo_target.base_url,
    )
    for reward in storefront.rewards():
        if reward.get("type") == "POINTS" and isinstance(reward.get("id"), str):
            return reward
    pytest.skip(
        f"brand {masivo_target.brand_id} lists no POINTS reward: "
        "requirements that need points are not run"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("writes") is None:
        return
    settings = settings_from(item.config)
    if not settings.writes_allowed:
        pytest.skip(f"writes to {settings.base_url} are not allowed (pass --allow-writes)")
