"""What a newcomer meets first, with only the installed command and its --help (issue 22):
everything cited is shipped, ids are typed in any case, and the server says how to test it."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from masivo_conformance import cli
from masivo_conformance.contract.catalogue import catalogue, sources
from masivo_conformance.reporting.baseline import load_baseline
from tests.cli.cli_runs import clean_env, run_cli

REPO = Path(__file__).resolve().parents[2]
COMMANDS = (
    "run",
    "merge",
    "plan",
    "record",
    "replay",
    "drift",
    "cleanup",
    "serve",
    "requirements",
)


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


def test_the_licence_pyproject_names_is_the_licence_file() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in text


def test_readme_examples_are_for_pip_users() -> None:
    """The make commands open the README as they were; every example after them uses the
    command a pip install provides, not a checkout's .venv (named once, as the checkout's)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(
        "# masivo-conformance\n\n```sh\n"
        "make conformance   # set up .venv, start the embedded reference server, run the "
        "suite, print the per-requirement matrix\n"
        "make test          # set up .venv, then ruff, mypy and the project's own tests "
        "(what CI runs)\n```\n"
    )
    blocks = re.findall(r"```[a-z]*\n(.*?)```", readme, flags=re.DOTALL)
    for block in blocks[1:]:
        assert ".venv/bin" not in block, block
    assert "\nmasivo-conformance run --allow-writes --report-dir reports\n" in readme


def test_requirement_ids_are_typed_in_any_case(tmp_path: Path) -> None:
    """--requirement, --masivo-requirement and a baseline's ids: rev-2 is REV-2."""
    run = run_cli(
        "run",
        "--profile",
        "budget",
        "--settle-time",
        "0.2",
        "--requirement",
        "rev-2",
        report_dir=tmp_path,
    )
    assert run.exit_code == 0, run.tail()
    assert run.result is not None
    assert [r["id"] for r in run.result["requirements"]] == ["REV-2"]
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text("accepted:\n  - requirement: gen-5\n    reason: known upstream\n")
    assert list(load_baseline(baseline).entries) == ["GEN-5"]
    parser = cli.build_parser()
    assert parser.parse_args(["run", "--requirement", " Emit-4 "]).requirement == ["EMIT-4"]
    assert parser.parse_args(["requirements", "prv-7"]).ids == ["PRV-7"]


def test_masivo_requirement_is_case_insensitive(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    config = pytester.parseconfig(
        "-p", "masivo_conformance.suite.session", "--masivo-requirement", "fUl-2"
    )
    assert config.getoption("masivo_requirement") == ["FUL-2"]


@pytest.mark.slow
def test_workers_and_progress_letters_are_explained_once(tmp_path: Path) -> None:
    """-n: one line of ours says what is going on, none of pytest-xdist's status lines;
    the `u` of fuzzed operations in the progress line is explained."""
    run = run_cli("run", "--profile", "quick", "--settle-time", "0.2", "-n", "2")
    assert run.exit_code == 0, run.tail()
    assert "bringing up nodes" not in run.stdout
    assert run.stdout.count("masivo: starting 2 pytest-xdist workers (-n)") == 1
    progress = next(line for line in run.stdout.splitlines() if line.endswith("[100%]"))
    assert "u" in progress  # the fuzz test's operations, as subtests
    assert "u one fuzzed operation passed" in run.stdout


def test_a_run_leaves_no_hypothesis_folder_where_it_ran(tmp_path: Path) -> None:
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    env = {**clean_env(), "XDG_CACHE_HOME": str(cache)}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    done = subprocess.run(
        [sys.executable, "-m", "masivo_conformance", "run", "--profile", "quick", "-q"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert list(work.iterdir()) == []
    assert (cache / "masivo-conformance" / "hypothesis").is_dir()


@pytest.mark.slow
@pytest.mark.parametrize(("delay", "settle"), [(None, "0.2"), ("0.5", "0.7")])
def test_serve_prints_the_run_command_that_tests_it_fast(
    delay: str | None, settle: str, tmp_path: Path
) -> None:
    """The banner's command carries the settle time the server's processing delay needs
    (not the default 1 s), and runs as printed."""
    extra = [] if delay is None else ["--processing-delay", delay]
    serve = subprocess.Popen(
        [sys.executable, "-m", "masivo_conformance", "serve", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert serve.stdout is not None
        banner = [serve.stdout.readline() for _ in range(5)]
        command = next(line for line in banner if line.startswith("test it:  "))
        argv = shlex.split(command.removeprefix("test it:  "))
        assert argv[:2] == ["masivo-conformance", "run"]
        assert argv[argv.index("--settle-time") + 1] == settle
        run = run_cli(*argv[1:], "--profile", "budget", "-q", report_dir=tmp_path)
        assert run.exit_code == 0, run.tail()
    finally:
        serve.terminate()
        serve.wait(timeout=10)
