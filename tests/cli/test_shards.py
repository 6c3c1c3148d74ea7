"""`run --shard I/N` and `merge`: a run split into shards and merged again gives the verdict
of one run of the same seed, with the same tests, and a shard's result.json holds what
merge needs and no secret.

One reference server with two auth faults, shared by every run as a team's CI matrix
jobs share a DEV account: the verdict has failures (with findings whose messages quote
the target's answers), passes and an exit code of 1 to compare.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jwt
import pytest

from masivo_conformance import __version__, cli
from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.reporting.results import RunResult, ShardPart, TestOutcome, fold
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer
from masivo_conformance.suite.saved_traffic import TRAFFIC_TEST
from tests.cli.cli_runs import CliRun, WarmCli, target_args
from tests.cli.test_secrets_in_artefacts import CANARY_KEY, JWT_SHAPED

FAULTS = frozenset({"unverified_token_signature", "long_lived_token"})
PLAN = ("--profile", "budget", "--seed", "7", "--settle-time", "0.2")


def _rows(result: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Each requirement's verdict and checks violated, as result.json shows them."""
    return {r["id"]: (r["status"], r["violated"]) for r in result["requirements"]}


def _tests(*shards: CliRun) -> list[TestOutcome]:
    """The shards' tests, as they judged them; not the run's traffic judgement, whose
    counts are the scheduler's: it judges REV-1, REV-4 and REV-6 on reversals whose
    times overlapped, so two whole runs of one seed differ there too (REV-6: no race
    seen in one run on a loaded machine, 7 in the next)."""
    outcomes = []
    for shard in shards:
        assert shard.result is not None, shard.tail()
        outcomes += [
            TestOutcome.from_wire(o)
            for o in shard.result["shard"]["outcomes"]
            if not o["nodeid"].startswith(TRAFFIC_TEST)
        ]
    return outcomes


def _judged(*shards: CliRun) -> list[tuple[str, str, int, int, int]]:
    """What the shards' tests judged, folded: verdict, held, violated and tests."""
    rows = fold(catalogue(), _tests(*shards))
    return [(r.id, r.status, r.held, r.violated, r.tests) for r in rows]


def _junit_tests(path: Path) -> set[str]:
    """The node ids of a run's junit.xml (pytest's: module as dotted classname)."""
    cases = ET.parse(path).getroot().iter("testcase")  # noqa: S314  # our own file
    return {f"{c.get('classname', '').replace('.', '/')}.py::{c.get('name')}" for c in cases}


def _merge(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["merge", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One server; one whole run, the same plan as one shard (a whole run that keeps its
    tests' evidence) and as two."""
    server = EmbeddedServer(ServerConfig(faults=FAULTS, api_key=CANARY_KEY))
    server.start()
    cli_run = WarmCli()
    root = tmp_path_factory.mktemp("shards")
    try:
        done = {
            name: cli_run("run", *target_args(server), *PLAN, *shard, report_dir=root / name)
            for name, shard in (
                ("whole", ()),
                ("shard1of1", ("--shard", "1/1")),
                ("shard1", ("--shard", "1/2")),
                ("shard2", ("--shard", "2/2")),
            )
        }
    finally:
        cli_run.close()
        server.stop()
    return root, done


def test_merged_shards_give_the_verdict_of_one_run_and_keep_no_secret(
    runs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    root, done = runs
    whole, shards = done["whole"], [done["shard1"], done["shard2"]]
    assert whole.exit_code == 1, whole.tail()  # the faults fail AUTH requirements
    for shard in shards:
        assert shard.exit_code == 0, shard.tail()  # the verdict is merge's
    code, out, err = _merge(
        capsys,
        str(root / "shard2" / "result.json"),  # any order
        str(root / "shard1" / "result.json"),
        "--report-dir",
        str(root / "merged"),
    )
    assert (code, err) == (whole.exit_code, ""), out[-3000:]
    merged = json.loads((root / "merged" / "result.json").read_text())
    assert whole.result is not None
    assert _rows(merged) == _rows(whole.result)
    assert {"AUTH-1", "AUTH-3"} <= set(CliRun(code, out, err, merged).failing())
    # Every test judged what it judges in one run (a shard of one: the whole plan), as
    # often: the same verdicts, checks held and violated, and tests per requirement.
    assert _judged(*shards) == _judged(done["shard1of1"])
    # The same tests ran: the shards' parts, disjoint, are the whole run's tests.
    parts = [[o.nodeid for o in _tests(shard)] for shard in shards]
    assert parts[0]
    assert parts[1]
    assert sorted(parts[0] + parts[1]) == sorted(_junit_tests(root / "whole" / "junit.xml"))
    # One set of reports; junit.xml has one case per requirement.
    assert {"report.html", "summary.md", "junit.xml"} <= {
        p.name for p in (root / "merged").iterdir()
    }
    suite = ET.parse(root / "merged" / "junit.xml").getroot().find("testsuite")  # noqa: S314
    assert suite is not None
    assert suite.get("tests") == str(len(merged["requirements"]))
    musts = [r for r in merged["requirements"] if r["status"] == "fail" and r["level"] == "MUST"]
    assert suite.get("failures") == str(len(musts))  # AUTH-3, a SHOULD, fails nothing
    # A shard writes its evidence alone, and no secret: not the key, no token the target
    # issued (the only tokens shown are the bad ones the suite forged for AUTH-1).
    for name in ("shard1", "shard2"):
        assert [p.name for p in (root / name).iterdir()] == ["result.json"]
        text = (root / name / "result.json").read_text()
        assert CANARY_KEY not in text
        for token in JWT_SHAPED.findall(text):
            assert jwt.get_unverified_header(token).get("masivo-conformance") == "forged"


@pytest.mark.parametrize(
    ("shard", "expected"),
    [
        ("3/2", "'3/2' is not a shard: I/N needs 1 <= I <= N"),
        ("0/2", "'0/2' is not a shard: I/N needs 1 <= I <= N"),
        ("1-2", "'1-2' is not a shard: give I/N"),
        ("1/2", "--shard 1/2 writes its evidence to result.json: give --report-dir"),
    ],
)
def test_a_bad_shard_is_one_line_and_exit_2(
    shard: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = cli.main(["run", "--shard", shard, "--profile", "budget"])
    except SystemExit as stop:  # argparse's own refusal
        code = int(str(stop.code))
    out, err = capsys.readouterr()
    assert code == 2
    assert (out, len(err.splitlines())) == ("", 1), err
    assert expected in err


def _shard_file(tmp_path: Path, index: int, count: int = 2, **changes: Any) -> Path:
    """A shard's result.json as `run --shard` writes it, with `changes` to its fields."""
    outcome = TestOutcome(f"tests/t.py::test_{index}", ("REV-2",), "passed", Evidence())
    result = RunResult(
        "embedded reference server", "budget", 7, False, 1.0, 10, [], suite_version=__version__
    )
    result.shard = ShardPart(index, count, [outcome])
    data = json.loads(result.to_json()) | changes
    path = tmp_path / f"{len(list(tmp_path.iterdir()))}-shard{index}.json"
    path.write_text(json.dumps(data))
    return path


def test_shards_of_different_runs_and_incomplete_sets_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = _shard_file(tmp_path, 1), _shard_file(tmp_path, 2)
    whole = _shard_file(tmp_path, 1, shard=None)
    junk = tmp_path / "junk.json"
    junk.write_text('{"seed": 7}')
    same_test = _shard_file(tmp_path, 2)
    same_test.write_text(same_test.read_text().replace("test_2", "test_1"))
    cases = {
        "seed 8 against 7": [one, _shard_file(tmp_path, 2, seed=8)],
        "profile quick against budget": [one, _shard_file(tmp_path, 2, profile="quick")],
        "target http://127.0.0.1:1/ against embedded": [
            one,
            _shard_file(tmp_path, 2, target="http://127.0.0.1:1/"),
        ],
        "version 0.0.1 against": [one, _shard_file(tmp_path, 2, suite_version="0.0.1")],
        "shard 2/2 missing": [one],
        "shard 2/3, 3/3 missing": [_shard_file(tmp_path, 1, 3)],
        "shard 1/2 is given twice": [one, two, one],
        "shard count 3 against 2": [one, _shard_file(tmp_path, 2, 3)],
        "is the result of a whole run": [whole, two],
        "ran in two shards": [one, same_test],
        "is not a masivo-conformance result.json": [one, junk],
        "cannot read": [one, tmp_path / "absent.json"],
    }
    for expected, files in cases.items():
        code, out, err = _merge(capsys, *map(str, files))
        assert (code, out, len(err.splitlines())) == (2, "", 1), (expected, err)
        assert expected in err
    code, out, err = _merge(capsys, str(two), str(one), "-q")  # a complete set merges
    assert (code, err) == (3, "")  # the one requirement judged, none of the others
