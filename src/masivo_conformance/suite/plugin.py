"""pytest plugin for a team's own tests against Masivo (entry point `masivo`, loaded by
pytest wherever masivo-conformance is installed; `-p no:masivo` turns it off).

It is inert until a test asks for one of its fixtures: it adds only `--masivo-*`
options, no autouse fixture, no collection hook and no global Hypothesis setting. It
turns off the pytest plugins of the packages it depends on (Hypothesis, schemathesis,
pytest-recording), unless the session asks for them (suite/carried.py).

* `storefront`: a judged client of the storefront API for a test's own scenarios
  (`Storefront`, suite/storefront.py). Every answer is checked by the suite's
  single-call MUST checks; a violation fails the test with the requirement id and a
  curl line that shows it again, whether the test's own assertions held or not.
* `masivo_server`: starts the reference server (optionally with faults and delays) on
  a free loopback port for integration tests of the team's own code; stopped after
  the test.
* `masivo_settings`, `masivo_target`: where `storefront` points (options, `MASIVO_*`
  variables, a targets file, else the embedded reference server). Override
  `masivo_target` in a conftest.py to point `storefront` at a `masivo_server`.
* `--masivo-judge-proxy UPSTREAM`: the session's traffic with UPSTREAM judged. A judging
  proxy (proxy/, `masivo-conformance proxy`) starts for the session on a free loopback
  port; `masivo_judged_url` is its base URL, to point the team's own code at. At the
  end the verdict matrix is in the terminal summary (and, with `--masivo-judge-report
  DIR`, judge's reports in DIR), and a MUST the traffic violated fails the session
  (exit 1), whatever its tests said. Without the option the proxy is never imported.

The conformance suite's own machinery (verdicts, requirement selection, exploration
profiles, cassettes) is in suite/session.py; only suite runs register it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol

import pytest

from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.errors import MasivoError
from masivo_conformance.suite import carried
from masivo_conformance.suite.connection import Connection
from masivo_conformance.suite.recorder import judge_report
from masivo_conformance.suite.settings import (
    TARGET_FLAGS,
    Settings,
    add_target_options,
    resolve,
)
from masivo_conformance.suite.storefront import IdFactory, Storefront
from masivo_conformance.suite.target import Target, open_target

__all__ = ["OPTION_PREFIX", "SUITE", "MasivoServer", "fail_on", "settings_from_options"]

OPTION_PREFIX = "--masivo-"
# The evidence of a test that used this plugin's `storefront`: only such a test's report
# is judged by `pytest_runtest_makereport` below.
_EVIDENCE = pytest.StashKey[Evidence]()
# The plugins of our dependencies this session turned off (carried.py), by name.
_TURNED_OFF = pytest.StashKey[dict[str, Any]]()
VIOLATIONS_SECTION = "contract violations the storefront recorded"
# The judging proxy of `--masivo-judge-proxy` (a `masivo_conformance.proxy.running.Proxy`),
# and what it found once stopped.
_PROXY = pytest.StashKey[Any]()


class ConformanceRun(Protocol):
    """What the fixtures here need of the conformance suite's session (suite/session.py)."""

    @property
    def settings(self) -> Settings: ...


#: The suite's session, when this pytest session is a conformance run: the fixtures here
#: then take its settings and the run's connection, salt and evidence.
SUITE = pytest.StashKey[ConformanceRun]()
_JUDGED = pytest.StashKey[Any]()
JUDGE_OPTION = "--masivo-judge-proxy"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("masivo", "Masivo target (storefront fixture and conformance suite)")
    add_target_options(group.addoption, prefix=OPTION_PREFIX)
    group.addoption(
        JUDGE_OPTION,
        metavar="UPSTREAM",
        dest="masivo_judge_proxy",
        help="judge this session's traffic with UPSTREAM (a storefront base URL) through a "
        "proxy whose URL the masivo_judged_url fixture gives; a MUST it violated fails "
        "the session",
    )
    group.addoption(
        "--masivo-judge-report",
        metavar="DIR",
        dest="masivo_judge_report",
        type=Path,
        help=f"with {JUDGE_OPTION}: write judge's reports (report.html, summary.md, "
        "result.json, junit.xml, traffic.json) here",
    )
    group.addoption(
        "--masivo-judge-cassettes",
        metavar="DIR",
        dest="masivo_judge_cassettes",
        type=Path,
        help=f"with {JUDGE_OPTION}: record the judged traffic here as redacted cassettes",
    )


def settings_from_options(config: pytest.Config, **extra: Any) -> Settings:
    """The `--masivo-*` options merged with `MASIVO_*` variables and the targets file."""

    def option(name: str) -> Any:
        return config.getoption("masivo_" + name)

    flags = {**{name: option(name) for name in TARGET_FLAGS}, **extra}
    return resolve(flags, targets_file=option("targets_file"), target=option("target"))


def fail_on(error: MasivoError) -> NoReturn:
    """A settings or target problem as one line in the test's report, not a traceback."""
    pytest.fail(str(error), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    """Once the installed plugins and the initial conftest files are loaded (the suite's
    session may be named by one), turn off the plugins of our dependencies."""
    result = yield
    early_config.stash[_TURNED_OFF] = carried.turn_off(early_config)
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    carried.session_started(session, session.config.stash.get(_TURNED_OFF, {}))
    upstream = session.config.getoption("masivo_judge_proxy", None)
    if upstream:
        session.config.stash[_PROXY] = _start_judging_proxy(session.config, upstream)


def _start_judging_proxy(config: pytest.Config, upstream_url: str) -> Any:
    """The judging proxy for the session, on a free loopback port; a bad upstream or
    folder is one line and the session does not start (pytest.UsageError, exit 4)."""
    # Imported here: a session without the option never loads the proxy.
    from masivo_conformance.proxy.live import LiveJudge  # noqa: PLC0415
    from masivo_conformance.proxy.running import Proxy  # noqa: PLC0415
    from masivo_conformance.proxy.upstream import parse_upstream  # noqa: PLC0415

    try:
        upstream = parse_upstream(upstream_url, JUDGE_OPTION)
        for folder in (
            config.getoption("masivo_judge_report"),
            config.getoption("masivo_judge_cassettes"),
        ):
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
        judge = LiveJudge(
            upstream.url,
            cassettes=config.getoption("masivo_judge_cassettes"),
            report_dir=config.getoption("masivo_judge_report"),
            on_violation=lambda line: None,  # kept by the judge, shown in the summary
            on_error=lambda line: None,  # idem
        )
        proxy = Proxy(upstream, port=0, judge=judge).start()
    except (MasivoError, OSError) as error:
        raise pytest.UsageError(str(error)) from None
    return proxy


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the judging proxy (its reports are written); a MUST the traffic violated
    fails a session that would have passed (docs/decisions.md, "Judging a team's live
    traffic")."""
    proxy = session.config.stash.get(_PROXY, None)
    if proxy is None:
        return
    del session.config.stash[_PROXY]
    judgement = proxy.stop()
    session.config.stash[_JUDGED] = (proxy, judgement)
    if judgement.result.failed_musts and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    judged = config.stash.get(_JUDGED, None)
    if judged is None:
        return
    from masivo_conformance.reporting.report import render_matrix  # noqa: PLC0415

    proxy, judgement = judged
    report_dir = config.getoption("masivo_judge_report")
    write = terminalreporter.write_line
    terminalreporter.section(f"masivo: the traffic with {proxy.upstream.url}, judged")
    live = proxy.judge
    if live.violation_count:
        write(f"{live.violation_count} violation(s) as they passed (first ones):")
        for line in live.violations:
            write(f"  {line}")
    for line in live.error_lines:
        write(line)
    write(render_matrix(judgement.result, report_dir).rstrip("\n"))
    for path in live.written:
        write(f"wrote {path}")
    if judgement.result.failed_musts:
        ids = ", ".join(r.id for r in judgement.result.failed_musts)
        write(f"masivo: the traffic violated MUST requirement(s) {ids}: the session fails")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test that used `storefront` fails on what its answers violated (the checks
    record violations without raising), and a test that failed on its own shows them
    too, after its own failure; any other test's report is left as it is."""
    report = yield
    evidence = item.stash.get(_EVIDENCE, None)
    if evidence is not None:
        if call.when == "call" and report.failed and evidence.violations:
            _add_violations(report, evidence)
        judge_report(report, call.when, evidence)  # and redacts what was added here
    return report


def _add_violations(report: pytest.TestReport, evidence: Evidence) -> None:
    """The violations under the test's own failure: an assertion of the team's that
    failed on a broken answer must not hide the requirement the answer broke."""
    add_section = getattr(report.longrepr, "addsection", None)  # a traceback's
    if callable(add_section):
        add_section(VIOLATIONS_SECTION, evidence.summary())
    else:
        report.longrepr = f"{report.longrepr}\n\n{VIOLATIONS_SECTION}:\n{evidence.summary()}"


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def masivo_settings(pytestconfig: pytest.Config) -> Settings:
    """The target `Settings` of this session, resolved once (`base_url`, `brand_id`,
    `timeout`, `settle_time`, `settle_timeout`, `allow_writes`, ...): `--masivo-*`
    options win over `MASIVO_*` environment variables, which win over the
    `--masivo-target` entry of the targets file. (In a conformance run, as the command
    resolved them.)"""
    suite = pytestconfig.stash.get(SUITE, None)
    if suite is not None:
        return suite.settings
    try:
        return settings_from_options(pytestconfig)
    except MasivoError as error:
        fail_on(error)


@pytest.fixture(scope="session")
def masivo_target(masivo_settings: Settings) -> Iterator[Target]:
    """Where `storefront` points, a `Target` (`base_url`, `brand_id`, `api_key`, `token`,
    `embedded`): the configured target, or, with no base URL, the reference server
    started for the session. Override it to point elsewhere::

        @pytest.fixture
        def masivo_target(masivo_server):
            return masivo_server(faults=["lowercase_status"]).target
    """
    try:
        with open_target(masivo_settings) as target:
            yield target
    except MasivoError as error:
        fail_on(error)


@pytest.fixture(scope="session")
def masivo_judged_url(pytestconfig: pytest.Config) -> str:
    """The base URL of the judging proxy `--masivo-judge-proxy UPSTREAM` started: point
    the code under test at it instead of UPSTREAM (same base path), and every exchange
    is judged. Without the option, the test fails with one line saying so."""
    proxy = pytestconfig.stash.get(_PROXY, None)
    if proxy is None:
        pytest.fail(
            f"masivo_judged_url needs {JUDGE_OPTION} UPSTREAM (the storefront base URL "
            "to judge the traffic with)",
            pytrace=False,
        )
    return str(proxy.base_url)


@pytest.fixture(scope="session")
def _masivo_salt() -> str:
    """Fresh on every session: a target keeps the customers of earlier runs."""
    return secrets.token_hex(4)


@pytest.fixture
def storefront(
    request: pytest.FixtureRequest,
    masivo_target: Target,
    masivo_settings: Settings,
) -> Iterator[Storefront]:
    """A judged client of the storefront API for this test (a `Storefront`), with its
    own customer ids. Every answer is judged by the single-call MUST checks; what they
    found is in `storefront.evidence`, and a violation fails the test with its
    requirement id and reproducer, whether the test's own assertions held or not.

    * customers: `create_customer()` -> id; `customer(id)` -> `Call`;
    * wallets (`Wallet`: totals by reward id, a reward not listed equal to 0):
      `wallet(id)`, `wallet_back_to(id, expected)`, `wallet_after(id, before)`,
      `wallet_when(id, done)`, `wallet_at_rest(id)`;
    * events: `emit_purchase(id, value=120.0, fulfilled=None, redeem=None, **fields)`,
      `emit(payload)`, `standby(id)`, `fulfil(event_id)`, `reverse(event_id, reason=...)`
      -> `Call`; `event_id(call)` -> the Event's id; `settle(call)` and
      `earn(id, value=500.0)` -> `Settlement` (`known`, `status`, `transactions`,
      `event_id`);
    * reads: `transactions(event_id)`, `wait_transactions(event_id, kind)`,
      `customer_transactions(id)`, `rewards()` -> lists of dicts; `preview(payload)`;
    * any request: `call(method, path, json_body=..., params=..., headers=...)`;
      `cleanup()` reverses the events this test left live.

    A `Call` has `status`, `data` (the payload under `data`), `body`, `text`, `headers`
    and `reproducer` (a curl line). Writes are refused against a host that is not
    loopback unless `--masivo-allow-writes` (or `allow_writes` in the targets file) is
    given. README.md ("Use it in your own tests") has a worked example.
    """
    if request.config.stash.get(SUITE, None) is not None:
        # A conformance run: on the run's connection (its request budget, the events it
        # cleans up), salt (fixed when replaying) and evidence (what the recorder reads),
        # perhaps already running with others (suite/fixtures.py, `masivo_storefront`).
        yield request.getfixturevalue("masivo_storefront")
        return
    connection = Connection.open(masivo_settings, masivo_target)
    salt = request.getfixturevalue("_masivo_salt")
    evidence = request.node.stash[_EVIDENCE] = Evidence()
    yield connection.storefront(IdFactory.for_test(salt, request.node.nodeid), evidence=evidence)
    connection.close()


@dataclass(frozen=True)
class MasivoServer:
    """A reference server `masivo_server` started: point your code at `base_url` and
    authenticate with `api_key` (GET /auth/authorize with `x-api-key`); `brand_id` is the
    brand of its seeded rewards."""

    base_url: str
    api_key: str
    brand_id: str
    faults: frozenset[str]

    @property
    def target(self) -> Target:
        """This server as the target of `storefront` (see `masivo_target`)."""
        return Target(self.base_url, self.brand_id, api_key=self.api_key)


@pytest.fixture
def masivo_server() -> Iterator[Callable[..., MasivoServer]]:
    """Start reference servers for this test; all are stopped after it.

    ``masivo_server(faults=(), delay=0.0, seed=None, **config)`` returns a `MasivoServer`
    on a free loopback port with its own in-memory data:

    * `faults`: names of regressions to switch on, each breaking one requirement
      (`masivo-conformance serve --list-faults` lists them), e.g. ``["lowercase_status"]``;
    * `delay`: seconds before a fulfilled event settles (effects land late, as on Masivo);
    * `seed`: a YAML seed file of brands, rewards and the API key (default: the packaged one);
    * `config`: any other `masivo_conformance.server.config.ServerConfig` field, e.g.
      ``throttle_every=5`` (every fifth request answers 429).
    """
    # Imported here: a host project that never asks for a server does not load it.
    from masivo_conformance.server.config import ServerConfig  # noqa: PLC0415
    from masivo_conformance.server.embedded import EmbeddedServer  # noqa: PLC0415

    started: list[EmbeddedServer] = []

    def start(
        faults: Iterable[str] = (),
        delay: float = 0.0,
        seed: str | Path | None = None,
        **config: Any,
    ) -> MasivoServer:
        server = EmbeddedServer(
            ServerConfig(
                faults=frozenset(faults),
                processing_delay=delay,
                seed_path=None if seed is None else Path(seed),
                **config,
            )
        )
        try:
            server.start()
        except MasivoError as error:
            fail_on(error)
        started.append(server)
        return MasivoServer(server.base_url, server.api_key, server.brand_id, server.config.faults)

    yield start
    for server in started:
        server.stop()
