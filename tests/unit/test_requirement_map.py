"""The requirement map is read from the code: every id has a check and a fault, what it
says is where it says, and docs/requirement-map.md is what the generator writes now."""

from __future__ import annotations

import ast
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from masivo_conformance import cli
from masivo_conformance.checks import passive
from masivo_conformance.commands._requirement_map import MapEntry, gaps, requirement_map
from masivo_conformance.commands.requirements import MARKDOWN_COMMAND, map_markdown
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.errors import MasivoError
from masivo_conformance.suite import markers
from masivo_conformance.suite.runner import pytest_config_args, suite_path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "masivo_conformance"


@pytest.fixture(scope="module")
def entries() -> list[MapEntry]:
    return requirement_map()


def by_id(entries: Sequence[MapEntry], rid: str) -> MapEntry:
    return next(entry for entry in entries if entry.id == rid)


def assert_no_gaps(entries: Sequence[MapEntry]) -> None:
    missing = gaps(entries)
    assert not missing, "; ".join(missing)


def test_the_map_has_every_id_of_the_catalogue(entries: list[MapEntry]) -> None:
    assert [entry.id for entry in entries] == catalogue().ids


def test_every_id_has_a_check_or_rule_and_a_fault(entries: list[MapEntry]) -> None:
    assert_no_gaps(entries)


def test_an_id_without_a_check_or_a_fault_is_named(entries: list[MapEntry]) -> None:
    bare = dataclasses.replace(by_id(entries, "REV-4"), checks=(), rules=(), faults=())
    doctored = [bare if entry.id == "REV-4" else entry for entry in entries]
    with pytest.raises(AssertionError) as caught:
        assert_no_gaps(doctored)
    message = str(caught.value)
    assert "REV-4 has no check and no multi-call rule" in message
    assert "REV-4 has no fault" in message
    assert "REV-3" not in message


def test_docs_requirement_map_is_what_the_code_says_now(entries: list[MapEntry]) -> None:
    written = (ROOT / "docs" / "requirement-map.md").read_text(encoding="utf-8")
    assert written == map_markdown(entries) + "\n", (
        f"docs/requirement-map.md is stale: regenerate it with `{MARKDOWN_COMMAND}`"
    )


def test_the_map_finds_what_judges_and_breaks_rev_4(entries: list[MapEntry]) -> None:
    rev4 = by_id(entries, "REV-4")
    assert "judge_sequence" in {rule.name for rule in rev4.rules}
    assert any(test.startswith("tests/stateful/") for test in rev4.tests)
    assert "tests/stateful/test_lifecycle_machine.py::TestEventLifecycle" in rev4.exploring
    (fault,) = [f for f in rev4.faults if f.name == "double_reverse_accepted"]
    assert any(place.startswith("server/service.py:") for place in fault.where)


def test_the_map_finds_the_tests_that_judge_through_code(entries: list[MapEntry]) -> None:
    # A shared budget scenario judges GEN-1 on every answer, which no marker of it says.
    gen1 = by_id(entries, "GEN-1")
    shared = (
        "tests/stateful/test_budget_scenarios.py::test_one_reversed_purchase_refuses_what_follows"
    )
    assert shared in gen1.tests
    assert shared in gen1.budget
    # AUTH-1 has no single-call check: the rule the auth tests call judges it.
    auth1 = by_id(entries, "AUTH-1")
    assert auth1.checks == ()
    (rule,) = auth1.rules
    assert (rule.name, "tests/contract/test_auth.py" in rule.where) == ("status_among", True)


def test_every_fault_place_names_its_fault_on_that_line(entries: list[MapEntry]) -> None:
    places = [(f.name, place) for e in entries for f in e.faults for place in f.where]
    assert any(place.startswith("server/handlers.py:") for _, place in places)
    for name, place in places:
        path, _, rest = place.partition(":")
        line = int(rest.split(" ")[0])
        text = (PACKAGE / path).read_text(encoding="utf-8").splitlines()[line - 1]
        assert f'"{name}"' in text, f"{place} does not name {name}: {text!r}"


def test_passive_judges_declares_the_ids_passive_names() -> None:
    # JUDGES is what the map shows of judge_sequence; the module's literals are what it
    # actually judges (verdicts, still-step rules, premises).
    ids = set(catalogue().ids)
    source = Path(passive.__file__).read_text(encoding="utf-8")
    named = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and node.value in ids
    }
    assert set(passive.JUDGES) == named


class _Markers:
    """What pytest collects of the suite's markers, before any profile deselects tests."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[set[str], set[str]]] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            # As the map names tests: module and test, without parametrisation or the
            # runTest method of a state machine's TestCase.
            name = "::".join(item.nodeid.partition("[")[0].split("::")[:2])
            judged, explored = self.seen.setdefault(name, (set(), set()))
            for marker in item.iter_markers("requirement"):
                judged.update(marker.args)
            for marker in item.iter_markers("explores"):
                explored.update(marker.args)


def test_markers_read_from_source_are_those_pytest_collects() -> None:
    collected = _Markers()
    args = [str(suite_path("contract")), str(suite_path("stateful")), "--collect-only", "-q"]
    assert pytest.main([*args, *pytest_config_args()], plugins=[collected]) == 0
    read = {
        test.nodeid.split("::", 2)[0] + "::" + test.nodeid.split("::")[1]: (
            set(test.requirement),
            set(test.explores),
        )
        for test in markers.marked_tests()
    }
    marked = {name: ids for name, ids in collected.seen.items() if any(ids)}
    assert read == marked


def test_a_marker_the_reader_cannot_read_is_an_error(tmp_path: Path) -> None:
    module = tmp_path / "test_odd.py"
    module.write_text(
        "import pytest\nIDS = ('GEN-1',)\n\n"
        "@pytest.mark.requirement(*IDS)\ndef test_odd() -> None:\n    pass\n"
    )
    with pytest.raises(MasivoError, match=r"tests/x/test_odd.py:4: .*\*IDS"):
        markers.read_marked_tests("tests/x/test_odd.py", module)


def test_module_and_class_marks_reach_their_tests(tmp_path: Path) -> None:
    module = tmp_path / "test_marked.py"
    module.write_text(
        "import pytest\n"
        "pytestmark = [pytest.mark.writes, pytest.mark.requirement('GEN-2')]\n\n"
        "@pytest.mark.requirement('REV-1')\nclass TestThing:\n"
        "    @pytest.mark.explores('REV-2')\n    def test_one(self) -> None:\n        pass\n\n"
        "def helper() -> None:\n    pass\n"
    )
    assert markers.read_marked_tests("tests/x/test_marked.py", module) == [
        markers.MarkedTest(
            "tests/x/test_marked.py::TestThing::test_one", ("GEN-2", "REV-1"), ("REV-2",)
        )
    ]


def test_the_command_prints_one_block_per_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["requirements", "--map", "rev-4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("REV-4 MUST ")
    assert "double_reverse_accepted" in out
    assert "\nREV-3 " not in out
    assert cli.main(["requirements", "--map", "--json", "gen-5"]) == 0
    (gen5,) = json.loads(capsys.readouterr().out)
    assert gen5["faults"][0]["name"] == "no_rate_limit_headers"


def test_the_command_writes_the_markdown_map(tmp_path: Path) -> None:
    target = tmp_path / "map.md"
    assert cli.main(["requirements", "--map", "--markdown", str(target)]) == 0
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Requirement map\n")
    assert "\n## PRV-7 (SHOULD): " in text
