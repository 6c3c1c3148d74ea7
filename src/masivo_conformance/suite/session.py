"""The conformance suite's own pytest machinery, active only when the suite runs.

`masivo-conformance run` (and record, replay, drift) resolves the settings once and
hands them over as they are: `pytest.main(argv, plugins=[SuiteSession(options)])`
(suite/runner.py). This project's root conftest.py loads this module instead, and the
session then resolves the settings once from the `--masivo-*` options and `MASIVO_*`
variables. Either way the session selects tests by requirement id, applies the
exploration profile (Hypothesis settings, restored when the session ends), records what
every test found (suite/recorder.py), wires cassettes, and gives the suite's tests their
fixtures: a checked `storefront` sharing the run's client, budget, events and evidence.

A host project that merely has masivo-conformance installed never loads this module:
its tests see only the inert user plugin (suite/plugin.py).
"""

from __future__ import annotations

import gc
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.errors import MasivoError
from masivo_conformance.suite import plugin as user_plugin
from masivo_conformance.suite import profiles, run_plan
from masivo_conformance.suite.recent import recent_requests
from masivo_conformance.suite.recorder import POOL_RUN, Recorder, requirement_ids
from masivo_conformance.suite.saved_traffic import saved_traffic, worker_name
from masivo_conformance.suite.settings import DEFAULT_CONCURRENCY, Settings
from masivo_conformance.suite.sharding import Shard

__all__ = ["SuiteOptions", "SuiteSession"]

# What the controller hands each pytest-xdist worker (workers are processes of their own:
# the object passed to pytest.main does not reach them).
_WIRE = "masivo_suite"
FIXTURES = "masivo_conformance.suite.fixtures"
# A run allocates fast (Hypothesis draws, parsed answers) beside about a million
# long-lived objects (modules, schemas, strategies); with CPython's default thresholds
# the collector scans them all a dozen times per quick run, a quarter of its CPU
# (docs/benchmarks.md, "Suite speed"). So: young objects collected less often, and what
# exists once the session is configured, and again once collected, frozen out of scans.
_GC_THRESHOLDS = (10_000, 20, 100)


@dataclass(frozen=True)
class SuiteOptions:
    """What one suite session runs: against what, how hard, which tests, where to write."""

    settings: Settings
    profile: str = run_plan.DEFAULT_PROFILE
    requirements: tuple[str, ...] = ()  # run only the tests of these ids (empty: all)
    cassettes: Path | None = None  # record or replay the tests with cassettes here
    results: Path | None = None  # write the per-test outcomes here (JSON)
    traffic: Path | None = None  # save every exchange here as HAR and cassette files
    shard: Shard | None = None  # run only this part of the tests (suite/sharding.py)

    def to_wire(self) -> dict[str, Any]:
        """Plain values for the xdist channel (the results are written by the controller)."""
        return {
            "settings": asdict(self.settings),
            "profile": self.profile,
            "requirements": list(self.requirements),
            "cassettes": None if self.cassettes is None else str(self.cassettes),
            "traffic": None if self.traffic is None else str(self.traffic),
            "shard": None if self.shard is None else str(self.shard),
        }

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> SuiteOptions:
        return cls(
            Settings(**raw["settings"]),
            raw["profile"],
            tuple(raw["requirements"]),
            None if raw["cassettes"] is None else Path(raw["cassettes"]),
            traffic=None if raw["traffic"] is None else Path(raw["traffic"]),
            shard=None if raw["shard"] is None else Shard.parse(raw["shard"]),
        )


# -- this module as a plugin: how a plain `pytest tests/contract ...` gets a session ------


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    """The suite's own options; the target options come from the user plugin, registered
    here when pytest did not load it from its entry point (PYTEST_DISABLE_PLUGIN_AUTOLOAD)."""
    if not pluginmanager.is_registered(user_plugin):
        pluginmanager.register(user_plugin, "masivo")
    group = parser.getgroup("masivo")
    group.addoption(
        "--masivo-profile",
        choices=profiles.NAMES,
        default=run_plan.DEFAULT_PROFILE,
        help="suite: how hard to explore: budget, quick, ci (derandomised) or deep "
        f"(default {run_plan.DEFAULT_PROFILE})",
    )
    group.addoption("--masivo-seed", type=int, help="suite: seed that makes a run reproducible")
    group.addoption("--masivo-max-requests", type=int, help="suite: cap the run's requests")
    group.addoption(
        "--masivo-concurrency",
        type=int,
        help=f"suite: scenarios run at once (default {DEFAULT_CONCURRENCY}; 1: one at a time)",
    )
    group.addoption(
        "--masivo-requirement",
        action="append",
        default=[],
        metavar="ID",
        type=lambda value: value.strip().upper(),  # case-insensitive: rev-2 is REV-2
        help="suite: run only tests covering this requirement id (repeatable)",
    )
    group.addoption("--masivo-results", type=Path, help="suite: write per-test outcomes here")
    group.addoption(
        "--masivo-cassettes",
        type=Path,
        help="suite: record or replay the deterministic tests with cassettes under DIR",
    )
    group.addoption(
        "--masivo-save-traffic",
        type=Path,
        metavar="DIR",
        help="suite: save every exchange with the target in DIR as HAR and cassette files",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Start a session unless a command handed one over (or this is an xdist worker of
    such a command: the controller sent the options)."""
    manager = config.pluginmanager
    if any(isinstance(p, SuiteSession) for p in manager.get_plugins()):
        return
    wire = getattr(config, "workerinput", {}).get(_WIRE)
    session = (
        SuiteSession(SuiteOptions.from_wire(wire), thaw=False)
        if wire is not None
        else SuiteSession.from_options(config)
    )
    manager.register(session, "masivo-suite")


# -- the session ------------------------------------------------------------------------------


class SuiteSession:
    """The suite's hooks for one pytest session, with its settings resolved once (its
    fixtures, the plugin's and suite/fixtures.py's, read it from `config.stash[SUITE]`)."""

    def __init__(
        self, options: SuiteOptions, problem: MasivoError | None = None, *, thaw: bool = True
    ) -> None:
        self.options = options
        # Unfreeze the heap when the session ends. False where the process ends with the
        # session (xdist workers) or its owner unfreezes after pytest.main (the runner):
        # pytest's end-of-run garbage collections then skip the frozen heap (about 0.3 s).
        self.thaw = thaw
        # Settings that could not be resolved: each test that needs them fails with this
        # one line, while tests that do not (this project's unit tests) still run.
        self.problem = problem
        self._hypothesis: tuple[str, Any] | None = None
        # What the tests found; read in this process by whoever ran pytest (suite/runner.py).
        self.recorder: Recorder | None = None
        self._gc_thresholds: tuple[int, int, int] | None = None

    @classmethod
    def from_options(cls, config: pytest.Config) -> SuiteSession:
        """A session for a direct pytest run: settings from `--masivo-*` and `MASIVO_*`."""
        option = config.getoption
        seed, max_requests = option("masivo_seed"), option("masivo_max_requests")
        problem = None
        try:
            settings = user_plugin.settings_from_options(
                config,
                seed=seed,
                max_requests=max_requests,
                concurrency=option("masivo_concurrency"),
            )
        except MasivoError as error:
            settings, problem = Settings(seed=seed), error
        options = SuiteOptions(
            settings,
            profile=option("masivo_profile"),
            requirements=tuple(option("masivo_requirement")),
            cassettes=option("masivo_cassettes"),
            results=option("masivo_results"),
            traffic=option("masivo_save_traffic"),
        )
        return cls(options, problem)

    @property
    def settings(self) -> Settings:
        if self.problem is not None:
            user_plugin.fail_on(self.problem)
        return self.options.settings

    def pytest_configure(self, config: pytest.Config) -> None:
        config.addinivalue_line(
            "markers", "requirement(*ids): ties a test to requirement ids of the catalogue"
        )
        config.addinivalue_line(
            "markers",
            "explores(*ids): requirement ids a fuzz or state-machine test may judge (selection "
            "only: a verdict comes from what the test observed)",
        )
        config.addinivalue_line("markers", "writes: the test changes state on the target")
        if self.options.profile != "budget" or "hypothesis" in sys.modules:
            # The budget profile explores nothing: Hypothesis is not even imported then.
            from hypothesis import core  # noqa: PLC0415
            from hypothesis import settings as hypothesis_settings  # noqa: PLC0415

            self._hypothesis = (
                hypothesis_settings.get_current_profile_name(),
                core.global_force_seed,
            )
            profiles.load(self.options.profile, self.options.settings.seed)
        self._gc_thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(*_GC_THRESHOLDS)
        self.recorder = Recorder(
            config, self.options.results, cassettes=self.options.cassettes is not None
        )
        config.pluginmanager.register(self.recorder, "masivo-recorder")
        config.stash[user_plugin.SUITE] = self
        saved_traffic().start(self.options.traffic)  # judged at the end (recorder.py)
        recent_requests().clear()  # an outage's suspects are this session's requests
        # The suite's own fixtures (the run's connection, budget, events, evidence); the
        # user plugin's `storefront`, `masivo_settings` and `masivo_target` take them.
        config.pluginmanager.import_plugin(FIXTURES)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Leave Hypothesis as the session found it (the CLI may run several sessions)."""
        saved_traffic().finish(worker_name())
        if self._hypothesis is not None:
            from hypothesis import core  # noqa: PLC0415
            from hypothesis import settings as hypothesis_settings  # noqa: PLC0415

            profile, force_seed = self._hypothesis
            hypothesis_settings.load_profile(profile)
            core.global_force_seed = force_seed
        if self._gc_thresholds is not None:
            gc.set_threshold(*self._gc_thresholds)
            if self.thaw:
                gc.unfreeze()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """pytest-xdist, on the controller: its status lines ("bringing up nodes...", once
        per phase where no terminal rewrites them) are replaced by one line of ours, written
        when the workers start (`pytest_xdist_setupnodes`); failures of a worker still show."""
        config = session.config
        status = config.pluginmanager.get_plugin("terminaldistreporter")
        if status is None or config.get_verbosity() > 0:
            return
        status.ensure_show_status = lambda: None
        status.setstatus = lambda *args, **kwargs: None

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_setupnodes(self, config: pytest.Config, specs: list[Any]) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or config.get_verbosity() < -1 or config.get_verbosity() > 0:
            return
        own = " and its own reference server" if self.options.settings.embedded else ""
        reporter.write_line(
            f"masivo: starting {len(specs)} pytest-xdist workers (-n), each with its own "
            f"copy of the suite{own}; they collect the tests, then share them out"
            + (f"; {_PROGRESS}" if self.options.profile != "budget" else "")
        )

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: hand the worker the same options (it cannot see this object)."""
        if self.problem is None:
            node.workerinput[_WIRE] = self.options.to_wire()

    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Refuse unknown requirement ids (a typo would leave a requirement uncovered) and
        keep only the tests of the requirements asked for."""
        known = catalogue()
        wanted = set(self.options.requirements)
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
        items[:], unplanned = run_plan.arrange(  # judge, then explore; a shard keeps its part
            self.options.profile, items, shard=self.options.shard
        )
        config.hook.pytest_deselected(items=unplanned)
        if self.options.cassettes is not None:
            for item in items:
                item.add_marker(pytest.mark.vcr)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        """schemathesis adds one to `testscollected` per operation of the fuzz test, whose
        subtests never count as reported: pytest's progress then ends at 83 %. Put the count
        back to the tests the run holds, before the reporter reads it."""
        item.session.testscollected = len(item.session.items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """One line per phase of a suite run: how many tests each folder contributes."""
        gc.freeze()  # the test modules and all they imported live as long as the run
        suite = [item for item in session.items if requirement_ids(item)]
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if not suite or reporter is None or session.config.get_verbosity() < -1:
            return
        phases = Counter(Path(str(item.path)).parent.name for item in suite)
        covered = self.covered(suite)
        explores = any(item.get_closest_marker("explores") for item in suite)
        reporter.write_line(
            "masivo: "
            + ", ".join(f"{phase} {count} tests" for phase, count in sorted(phases.items()))
            + f", judging {len(covered)} requirements"
            + (f" ({_PROGRESS})" if explores else "")
        )

    def covered(self, items: list[pytest.Item]) -> set[str]:
        """The requirements the run's tests judge, as the matrix at the end counts them: the
        ids their markers name and those their planned scenario judges (suite/run_plan.py),
        within the ids asked for with --requirement."""
        judged = run_plan.plan_for(self.options.profile)
        covered = {
            i
            for item in items
            for i in (*requirement_ids(item), *judged.judges_of(run_plan.nodeid_of(item)))
        }
        wanted = set(self.options.requirements)
        return covered & wanted if wanted else covered

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> bool | None:
        """A test the run's scenario pool ran (suite/concurrent_scenarios.py): its call is
        the wait for that run, ending as the test ended."""
        run = pyfuncitem.stash.get(POOL_RUN, None)
        if run is None:
            return None
        run.outcome.result()
        return True

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if item.get_closest_marker("writes") is None:
            return
        settings = self.settings
        if not settings.writes_allowed:
            pytest.skip(f"writes to {settings.base_url} are not allowed (pass --allow-writes)")


# What the progress line's letters mean, said once where the fuzz test runs: pytest counts
# each operation schemathesis fuzzes as a subtest, and shows a passed one as `u`.
_PROGRESS = "progress: . test passed, u one fuzzed operation passed, s skipped, F failed"
