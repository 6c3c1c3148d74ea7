"""What a newcomer meets first, with only the installed command and its --help (issue 22):
everything cited is shipped, ids are typed in any case, and the server says how to test it."""

from __future__ import annotations

import re

import pytest

from masivo_conformance import cli
from masivo_conformance.contract.catalogue import catalogue, sources
from tests.suite.cli_runs import run_cli

COMMANDS = ("run", "plan", "record", "replay", "drift", "cleanup", "serve", "requirements")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_cites_nothing_the_user_does_not_have(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "CONTRACT" not in shown
    assert not re.search(r"section \d", shown), shown


def test_requirements_names_each_source_it_cites() -> None:
    run = run_cli("requirements")
    assert run.exit_code == 0, run.tail()
    for requirement in catalogue():
        line = next(x for x in run.stdout.splitlines() if x.startswith(f"{requirement.id} "))
        assert f"[{', '.join(requirement.sources)}]" in line
    for tag in {t for r in catalogue() for t in r.sources}:
        assert sources()[tag].label in run.stdout, tag


def test_requirements_prints_one_in_full_with_its_sources_typed_in_any_case() -> None:
    run = run_cli("requirements", "rev-2")
    assert run.exit_code == 0, run.tail()
    rev2 = catalogue()["REV-2"]
    assert run.stdout.startswith("REV-2 (MUST) ")
    assert " ".join(run.stdout.split()).count(rev2.statement) == 1
    for tag in rev2.sources:
        assert sources()[tag].url in run.stdout
