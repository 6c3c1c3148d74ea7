"""The mutation-testing runner's own logic (scripts/mutants.py), on small fixtures: the
verdict of a mutant, the key that ties a record to cosmic-ray's job, the session and its
shares, the score, the operator filter of mutation.toml. No mutant is run here: that is
`make mutants`, outside `make test`."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sqlite3
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mutants() -> Iterator[ModuleType]:
    """scripts/mutants.py, imported from its file (scripts/ is no package)."""
    spec = importlib.util.spec_from_file_location("mutants_script", ROOT / "scripts/mutants.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutants_script"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["mutants_script"]


def _run(m: ModuleType, profile: str, exit: int | None, failing: tuple[str, ...] = ()) -> Any:
    return m.SuiteRun(profile, exit, 1.0, failing=list(failing))


# -- verdicts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exits", "failing", "expected"),
    [
        ((1,), ("REV-2",), "killed"),  # budget caught it
        ((0, 1), ("FUL-5",), "killed"),  # only quick did
        ((2,), (), "stopped"),  # the run could not happen (authorize broken, ...)
        ((3,), (), "stopped"),  # inconclusive
        ((0, 3), (), "stopped"),
        ((1,), (), "stopped"),  # exit 1 with no requirement failing: a crash
        ((4,), (), "stopped"),  # pytest's internal error
        ((None,), (), "timeout"),
        ((0, None), (), "timeout"),
        ((0, 0), (), "survived"),
        ((), (), "stopped"),  # nothing ran at all
    ],
)
def test_a_mutant_s_verdict_follows_the_exit_codes_and_the_failing_requirements(
    mutants: ModuleType, exits: tuple[int | None, ...], failing: tuple[str, ...], expected: str
) -> None:
    runs = [
        _run(mutants, profile, code, failing if i == len(exits) - 1 else ())
        for i, (profile, code) in enumerate(zip(("budget", "quick"), exits, strict=False))
    ]
    assert mutants.verdict(runs) == expected


def test_result_json_gives_the_failing_and_unchecked_requirements(mutants: ModuleType) -> None:
    result = {
        "requirements": [
            {"id": "GEN-1", "level": "MUST", "status": "pass"},
            {"id": "REV-2", "level": "MUST", "status": "fail"},
            {"id": "REV-7", "level": "SHOULD", "status": "fail"},
            {"id": "EMIT-4", "level": "MUST", "status": "not checked"},
        ],
        "errors": [{"test": "x", "cause": "y"}],
    }
    assert mutants.read_result(result) == {
        "failing": ["REV-2", "REV-7"],
        "failing_should": ["REV-7"],
        "not_checked": ["EMIT-4"],
        "errors": 1,
    }
    assert mutants.read_result({}) == {
        "failing": [],
        "failing_should": [],
        "not_checked": [],
        "errors": 0,
    }


# -- diffs and keys -------------------------------------------------------------------------

ORIGINAL = "def f(x):\n    if x > 0:\n        return x\n    return -x\n"
MUTATED = "def f(x):\n    if x >= 0:\n        return x\n    return -x\n"
MODULE = "src/masivo_conformance/server/rules.py"
# What cosmic-ray 8.7 stores in work_results.diff for that mutation (mutating._make_diff).
SESSION_DIFF = "\n".join(
    [
        "--- mutation diff ---",
        f"--- a/{MODULE}",
        f"+++ b/{MODULE}",
        "@@ -1,5 +1,5 @@",
        " def f(x):",
        "-    if x > 0:",
        "+    if x >= 0:",
        "         return x",
        "     return -x",
        " ",
    ]
)


def test_the_test_command_and_the_report_key_a_mutant_alike(mutants: ModuleType) -> None:
    ours = mutants.diff_lines(MODULE, ORIGINAL, MUTATED)
    assert mutants.diff_key(MODULE, ours) == mutants.diff_key(MODULE, SESSION_DIFF.split("\n"))
    assert mutants.diff_key("src/x/books.py", ours) != mutants.diff_key(MODULE, ours)
    assert mutants.changed(ours) == (["    if x > 0:"], ["    if x >= 0:"])
    assert mutants.first_changed_line(ORIGINAL, MUTATED) == 2


def test_our_diff_is_cosmic_ray_s(mutants: ModuleType) -> None:
    mutating = pytest.importorskip("cosmic_ray.mutating")
    theirs = mutating._make_diff(ORIGINAL, MUTATED, MODULE)
    assert theirs == ["--- mutation diff ---", *mutants.diff_lines(MODULE, ORIGINAL, MUTATED)]


def test_a_removed_line_is_found_and_shown(mutants: ModuleType) -> None:
    original = "@dataclass\nclass A:\n    x: int\n"
    mutated = "class A:\n    x: int\n"
    lines = mutants.diff_lines(MODULE, original, mutated)
    assert mutants.changed(lines) == (["@dataclass"], [])
    assert mutants.first_changed_line(original, mutated) == 1


def test_a_survivor_s_id_outlives_a_line_move(mutants: ModuleType) -> None:
    one = mutants.survivor_id(
        MODULE, "f", "ReplaceComparisonOperator_Gt_GtE", ["  if x > 0:"], ["  if x >= 0:"]
    )
    moved = mutants.survivor_id(
        MODULE, "f", "ReplaceComparisonOperator_Gt_GtE", ["if x > 0:"], ["if x >= 0:"]
    )
    other = mutants.survivor_id(
        MODULE, "g", "ReplaceComparisonOperator_Gt_GtE", ["if x > 0:"], ["if x >= 0:"]
    )
    assert one == moved != other


def test_a_survivor_s_id_outlives_a_rename_of_its_module(mutants: ModuleType) -> None:
    """A renamed module's mutants keep the ids they were classified under (the 2026-12-05
    campaign found 110 verdicts orphaned by the rename of ledger.py to rules.py)."""

    def of(module: str) -> str:
        return str(mutants.survivor_id(module, "f", "AddNot", ["if x:"], ["if not x:"]))

    server = "src/masivo_conformance/server/"
    assert of(server + "rules.py") == of(server + "ledger.py")
    assert of(server + "preview_maths.py") == of(server + "preview.py")
    assert of(server + "rules.py") != of(server + "books.py")


# -- the session, its shares and the join ---------------------------------------------------


def _session(
    path: Path, jobs: list[tuple[str, str, int]], results: dict[str, tuple[str, str]]
) -> None:
    """A session file in cosmic-ray 8.7's schema: jobs (id, operator, line), results by id
    (worker outcome, output)."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE work_items (job_id VARCHAR NOT NULL PRIMARY KEY);
        CREATE TABLE mutation_specs (module_path VARCHAR, operator_name VARCHAR,
            operator_args JSON, occurrence INTEGER, start_pos_row INTEGER,
            start_pos_col INTEGER, end_pos_row INTEGER, end_pos_col INTEGER,
            definition_name VARCHAR, job_id VARCHAR NOT NULL PRIMARY KEY);
        CREATE TABLE work_results (worker_outcome VARCHAR(9), output TEXT,
            test_outcome VARCHAR(11), diff TEXT, job_id VARCHAR NOT NULL PRIMARY KEY);
        """
    )
    for job_id, operator, line in jobs:
        db.execute("INSERT INTO work_items VALUES (?)", (job_id,))
        db.execute(
            "INSERT INTO mutation_specs VALUES (?, ?, '{}', 0, ?, 4, ?, 5, 'f', ?)",
            (MODULE, f"core/{operator}", line, line, job_id),
        )
    for job_id, (outcome, output) in results.items():
        db.execute(
            "INSERT INTO work_results VALUES (?, ?, NULL, NULL, ?)", (outcome, output, job_id)
        )
    db.commit()
    db.close()


def _finish(
    path: Path, job_id: str, diff: str, test_outcome: str = "KILLED", output: str = ""
) -> None:
    """What cosmic-ray's exec writes once a job has run."""
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO work_results VALUES ('NORMAL', ?, ?, ?, ?)",
        (output, test_outcome, diff, job_id),
    )
    db.commit()
    db.close()


def test_shares_split_the_pending_jobs_and_merge_back(mutants: ModuleType, tmp_path: Path) -> None:
    session = tmp_path / "session.sqlite"
    jobs = [("a", "AddNot", 1), ("b", "NumberReplacer", 2), ("c", "AddNot", 3)]
    jobs.append(("skip", "ReplaceBinaryOperator_BitOr_Pow", 4))
    _session(session, jobs, {"skip": ("SKIPPED", "Filtered operator")})

    shares = mutants.split_session(session, 2)
    assert [p.name for p in shares] == ["share0.sqlite", "share1.sqlite"]
    assert mutants.progress(shares) == (0, 3)
    owned = [
        {j.job_id for j in mutants.read_session(p) if j.worker_outcome is None} for p in shares
    ]
    assert owned == [{"a", "c"}, {"b"}]

    _finish(shares[0], "a", SESSION_DIFF)
    _finish(shares[1], "b", SESSION_DIFF.replace("x >= 0", "x < 0"), "SURVIVED")
    assert mutants.progress(shares) == (2, 3)
    _finish(shares[0], "c", "", "KILLED", output="timeout")

    merged = mutants.merge_shares(mutants.read_session(p) for p in shares)
    assert [(j.job_id, j.worker_outcome) for j in merged] == [
        ("a", "NORMAL"),
        ("b", "NORMAL"),
        ("c", "NORMAL"),
        ("skip", "SKIPPED"),
    ]
    assert merged[0].operator == "AddNot"
    assert merged[0].line == 1

    key = mutants.diff_key(MODULE, SESSION_DIFF.split("\n"))
    records = {key: {"key": key, "verdict": "killed", "runs": [{"failing": ["REV-2"]}]}}
    campaign = mutants.join(merged, records)
    assert (campaign.excluded, campaign.pending, campaign.no_test) == (1, 0, 0)
    assert [(m.job_id, m.verdict) for m in campaign.mutants] == [
        ("a", "killed"),  # its record
        ("b", "error"),  # no record: the test command died before writing one
        ("c", "timeout"),  # cosmic-ray's own limit
    ]
    assert campaign.mutants[0].failing == ["REV-2"]
    assert campaign.mutants[0].where == "rules.py:1"


def test_records_of_a_resumed_campaign_keep_the_last_run(
    mutants: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "w0.jsonl").write_text(
        json.dumps({"key": "k", "verdict": "timeout"})
        + "\n"
        + json.dumps({"key": "k", "verdict": "killed"})
        + "\n"
    )
    (tmp_path / "w1.jsonl").write_text(json.dumps({"key": "j", "verdict": "survived"}) + "\n\n")
    records = mutants.read_records(tmp_path)
    assert {k: r["verdict"] for k, r in records.items()} == {"k": "killed", "j": "survived"}
    assert mutants.read_records(tmp_path / "none") == {}


# -- score and report -----------------------------------------------------------------------


def _mutant(m: ModuleType, verdict: str, ident: str, module: str = MODULE) -> Any:
    return m.Mutant("job", module, 3, "AddNot", "f", verdict, ["a"], ["b"], [], id=ident)


def test_the_score_leaves_out_survivors_nobody_can_observe(mutants: ModuleType) -> None:
    found = [_mutant(mutants, "killed", f"k{i}") for i in range(6)]
    found += [_mutant(mutants, "stopped", "s"), _mutant(mutants, "timeout", "t")]
    found += [_mutant(mutants, "survived", "hidden"), _mutant(mutants, "survived", "gap")]
    classes = {
        "hidden": {"class": "not observable", "why": "a log message"},
        "gap": {"class": "blind spot", "why": "REV-2: ..."},
        "k0": {"class": "not observable", "why": "stale: a killed mutant does not count"},
    }
    score = mutants.score(found, classes)
    assert (score.total, score.killed, score.not_observable, score.observable) == (10, 6, 1, 9)
    assert score.detected == 8
    lines = mutants.score_lines(score)
    assert lines[0] == "killed / total: 6 / 10 = 60.0 %"
    assert lines[1].startswith("killed / (total - not observable): 6 / 9 = 66.7 %")
    assert lines[2].endswith("8 / 10 = 80.0 %")
    assert mutants.percent(1, 0) == "n/a"
    assert mutants.class_line(found, classes) == (
        "survivors by class: blind spot 1, not observable 1"
    )
    assert mutants.class_line(found, {}) == "survivors by class: unclassified 2"


def test_the_figures_table_counts_per_module(mutants: ModuleType) -> None:
    found = [
        _mutant(mutants, "killed", "a"),
        _mutant(mutants, "survived", "b"),
        _mutant(mutants, "killed", "c", module="src/masivo_conformance/server/books.py"),
    ]
    campaign = mutants.Campaign(found, excluded=5, pending=0, no_test=0)
    classes = {"b": {"class": "outside the contract", "why": "a | b"}}
    text = mutants.markdown_figures(campaign, classes, {"date": "2026-12-04", "describe": "x"})
    assert "| books.py | 1 | 1 | 0 | 0 | 0 | 100.0 % |" in text
    assert "| rules.py | 2 | 1 | 0 | 1 | 0 | 50.0 % |" in text
    assert "| b | rules.py:3 | AddNot | `a  ->  b` | outside the contract | a \\| b |" in text
    report = mutants.text_report(campaign, classes)
    assert "survived (1):" in report
    assert "[b] outside the contract" in report


def test_the_figures_replace_only_their_block(mutants: ModuleType) -> None:
    doc = f"# Title\n\nbefore\n{mutants.BEGIN}\nold figures\n{mutants.END}\nafter\n"
    new = mutants.replace_block(doc, "new figures\n")
    assert new == f"# Title\n\nbefore\n{mutants.BEGIN}\nnew figures\n{mutants.END}\nafter\n"
    with pytest.raises(mutants.MutantsError):
        mutants.replace_block("no markers", "x")


def test_a_survivor_class_must_be_one_of_three(mutants: ModuleType) -> None:
    ok = {"survivors": {"abcd1234": {"class": "blind spot", "why": "FUL-2"}}}
    assert mutants.load_classes(ok) == {"abcd1234": {"class": "blind spot", "why": "FUL-2"}}
    undecided = {"survivors": {"abcd1234": {"why": "to decide: ..."}}}
    assert mutants.load_classes(undecided)["abcd1234"]["class"] == ""
    with pytest.raises(mutants.MutantsError, match="class must be one of"):
        mutants.load_classes({"survivors": {"abcd1234": {"class": "equivalent"}}})


# -- mutation.toml --------------------------------------------------------------------------


def test_the_cosmic_ray_config_is_mutation_toml_with_the_run_s_parts(mutants: ModuleType) -> None:
    config = mutants.load_config(ROOT / "mutation.toml")
    written = tomllib.loads(mutants.cosmic_ray_config(config, "python x.py test --state 'a b'"))
    table = written["cosmic-ray"]
    assert table["test-command"] == "python x.py test --state 'a b'"
    assert table["distributor"] == {"name": "local"}
    assert table["module-path"] == config["cosmic-ray"]["module-path"]
    assert table["filters"] == config["cosmic-ray"]["filters"]
    assert all(path.startswith("src/masivo_conformance/server/") for path in table["module-path"])
    timeouts = config["mutants"]["timeouts"]
    assert sum(timeouts.values()) < table["timeout"]  # the command's own limits come first


KEPT = {
    "AddNot",
    "ExceptionReplacer",
    "NumberReplacer",
    "RemoveDecorator",
    "ReplaceAndWithOr",
    "ReplaceOrWithAnd",
    "ReplaceBreakWithContinue",
    "ReplaceContinueWithBreak",
    "ReplaceTrueWithFalse",
    "ReplaceFalseWithTrue",
    "ZeroIterationForLoop",
    "VariableInserter",  # need arguments that mutation.toml does not give: never run
    "VariableReplacer",
    "ReplaceUnaryOperator_Delete_Not",
    "ReplaceUnaryOperator_Delete_USub",
    *(f"ReplaceBinaryOperator_{p}" for p in ("Add_Sub", "Sub_Add", "Mul_Div", "Div_Mul")),
    "ReplaceBinaryOperator_Div_FloorDiv",
    "ReplaceBinaryOperator_FloorDiv_Div",
    *(f"ReplaceComparisonOperator_{p}" for p in ("Eq_NotEq", "NotEq_Eq", "Is_IsNot", "IsNot_Is")),
    *(
        f"ReplaceComparisonOperator_{a}_{b}"
        for a in ("Lt", "LtE", "Gt", "GtE")
        for b in ("Lt", "LtE", "Gt", "GtE")
        if a != b
    ),
}


def test_the_operator_filter_keeps_exactly_the_chosen_operators(mutants: ModuleType) -> None:
    plugins = pytest.importorskip("cosmic_ray.plugins")
    config = mutants.load_config(ROOT / "mutation.toml")
    patterns = config["cosmic-ray"]["filters"]["operators-filter"]["exclude-operators"]
    # As cr-filter-operators matches them (tools/filters/operators_filter.py).
    excluded = re.compile("|".join(f"(:?{p})" for p in patterns))
    names = {name.removeprefix("core/") for name in plugins.operator_names()}
    kept = {name for name in names if not excluded.match(f"core/{name}")}
    assert kept == KEPT
    assert len(names - kept) > 150  # the bit, power and cross-family swaps


def test_the_campaign_names_the_commit_its_snapshot_was_taken_from(
    mutants: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read when the snapshot is taken, not when the campaign ends: the 2026-12-05
    campaign named a commit made while it ran, which it had not mutated."""
    heads = iter(["aaaaaaa", "bbbbbbb"])
    monkeypatch.setattr(
        mutants, "_git", lambda *argv: next(heads) if argv[0] == "rev-parse" else ""
    )
    assert mutants.snapshot_source(tmp_path, resumed=False) == "aaaaaaa"
    # HEAD moves during the campaign: a resumed one still names its snapshot's commit
    assert mutants.snapshot_source(tmp_path, resumed=True) == "aaaaaaa"
    assert mutants.snapshot_source(tmp_path, resumed=False) == "bbbbbbb"  # a new campaign
