"""`run --concurrency N`: scenarios overlap, the verdict does not move.

The same seed at concurrency 1 and 8 against one server with four faults, each met by a
test that overlaps others (a sweep of bad tokens, of incomplete emits, of malformed
requests, a second reverse): the same exit code, the same matrix, and every test judged
what it judges as often, with the same findings. Then a target that answers 429 makes
the run drop to one scenario at a time, says so, and still reaches the same verdict.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance import cli
from masivo_conformance.reporting.results import TestOutcome
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer
from masivo_conformance.suite.saved_traffic import TRAFFIC_TEST
from tests.cli.cli_runs import CliRun, WarmCli, target_args

FAULTS = frozenset(
    {
        "unverified_token_signature",  # AUTH-1: the bad-token sweep
        "refused_emit_credits_later",  # EMIT-2: the incomplete-emit sweep
        "crash_on_infinite_number",  # GEN-3: the malformed-request sweep
        "double_reverse_accepted",  # REV-4
    }
)
PLAN = ("--profile", "budget", "--seed", "11", "--settle-time", "0.2")


def _rows(result: dict[str, Any]) -> dict[str, tuple[str, int, int]]:
    """Each requirement's verdict, checks violated and tests that judged it. Not the
    checks held: the run's traffic, judged as a recording, counts REV-1, REV-4 and REV-6
    on reversals whose times overlapped, which is the scheduler's at any concurrency
    (two runs at concurrency 1 differ there too); `_tests` compares the tests' own."""
    return {r["id"]: (r["status"], r["violated"], r["tests"]) for r in result["requirements"]}


def _tests(run: CliRun) -> dict[str, tuple[str, dict[str, tuple[int, int, int, str]]]]:
    """Each test's outcome and evidence: held, violated, findings kept and why not judged
    (the messages name the run's own customers, which differ from run to run)."""
    assert run.result is not None, run.tail()
    found: dict[str, tuple[str, dict[str, tuple[int, int, int, str]]]] = {}
    for raw in run.result["shard"]["outcomes"]:
        if raw["nodeid"].startswith(TRAFFIC_TEST):
            continue  # its REV-6 count is the scheduler's: whether reverses overlapped
        outcome = TestOutcome.from_wire(raw)
        found[outcome.nodeid] = (
            outcome.outcome,
            {
                rule: (t.held, t.violated, len(t.findings), t.unjudged[:40])
                for rule, t in outcome.evidence.tallies.items()
            },
        )
    return found


_CUSTOMER = re.compile(r"mc-test-[0-9a-z-]+")


def _scenarios_overlapped(har: Path) -> bool:
    """Whether two requests naming different customers (two scenarios: each has its own)
    were in flight at the same time, by the HAR's send and answer times."""
    spans = []
    for entry in json.loads(har.read_text())["log"]["entries"]:
        sent = entry["request"]["url"] + entry["request"].get("postData", {}).get("text", "")
        customers = set(_CUSTOMER.findall(sent))
        if len(customers) == 1:
            start = datetime.fromisoformat(entry["startedDateTime"]).timestamp()
            spans.append((start, start + entry["time"] / 1000, customers.pop()))
    spans.sort()
    return any(
        later[0] < earlier[1] and later[2] != earlier[2]
        for n, earlier in enumerate(spans)
        for later in spans[n + 1 : n + 40]
    )


def _verdict(root: Path, name: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    """A shard of one merged alone: the run's exit code and result.json."""
    code = cli.main(
        ["merge", str(root / name / "result.json"), "--report-dir", str(root / f"{name}-merged")]
    )
    capsys.readouterr()
    return code, json.loads((root / f"{name}-merged" / "result.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = EmbeddedServer(ServerConfig(faults=FAULTS))
    server.start()
    cli_run = WarmCli()
    root = tmp_path_factory.mktemp("concurrency")
    try:
        done = {
            n: cli_run(
                "run",
                *target_args(server),
                *PLAN,
                "--concurrency",
                str(n),
                "--shard",
                "1/1",
                "--save-traffic",
                str(root / f"c{n}-traffic"),
                report_dir=root / f"c{n}",
            )
            for n in (1, 8)
        }
    finally:
        cli_run.close()
        server.stop()
    return root, done


def test_the_verdict_is_the_same_at_concurrency_1_and_8(
    runs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root, done = runs
    # The runs differ where they should: at 8, scenarios were in flight together.
    assert not _scenarios_overlapped(root / "c1-traffic" / "traffic-main.har")
    assert _scenarios_overlapped(root / "c8-traffic" / "traffic-main.har")
    one, eight = _verdict(root, "c1", capsys), _verdict(root, "c8", capsys)
    assert one[0] == eight[0] == 1  # the faults fail their MUSTs
    failing = {r["id"] for r in one[1]["requirements"] if r["status"] == "fail"}
    assert {"AUTH-1", "EMIT-2", "GEN-3", "REV-4"} <= failing
    assert _rows(one[1]) == _rows(eight[1])
    tests_one, tests_eight = _tests(done[1]), _tests(done[8])
    assert tests_one == tests_eight
    assert len(tests_one) > 10


def test_a_429_drops_the_run_to_one_scenario_at_a_time(tmp_path: Path, warm_cli: WarmCli) -> None:
    """Every 23rd request answered 429: the run retries it, drops to one scenario at a
    time at once, says so in its notes, and passes as a run at concurrency 1 does."""
    with EmbeddedServer(ServerConfig(throttle_every=23)) as server:
        run = warm_cli(
            "run", *target_args(server), *PLAN, "--concurrency", "8", report_dir=tmp_path
        )
    assert run.exit_code == 0, run.tail()
    assert run.result is not None
    notes = " ".join(run.result["notes"])
    assert "concurrency: lowered from 8 to 1 scenario at a time" in notes, notes
    assert "answered 429" in notes
    assert {r["status"] for r in run.result["requirements"]} == {"pass"}
