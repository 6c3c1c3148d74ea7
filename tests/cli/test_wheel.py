"""The wheel is the product: built from this checkout, installed into a fresh venv with
its declared dependencies only, and run from an empty folder as a team would run it.

The dependencies come from a wheelhouse kept in the project's venv (`make clean` removes
it): filled from the package registry the first time, or when constraints.txt names
versions it lacks, and offline after that. Installing them (no byte-compiling) takes
about 3 s; a venv sharing the project's site-packages would be faster but would hide an
undeclared dependency.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from masivo_conformance import __version__

REPO = Path(__file__).resolve().parents[2]
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"
PIP: list[str | Path] = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def _start(argv: list[str | Path], cwd: Path, env: dict[str, str] | None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    """The process's stdout, once it has ended with exit 0."""
    try:
        out, err = process.communicate(timeout=240)
    finally:
        process.kill()  # a no-op unless the wait timed out
    assert process.returncode == 0, (
        f"{process.args!r} exited {process.returncode}\n{out[-3000:]}\n{err[-3000:]}"
    )
    return out


def _run(argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    return _finish(_start(argv, cwd, env))


def _install(wheel: Path, python: Path, cwd: Path) -> None:
    install: list[str | Path] = [
        *PIP,
        "--python",
        python,
        "install",
        "--quiet",
        "--no-compile",
        "--no-index",
        "--find-links",
        WHEELHOUSE,
        "-c",
        REPO / "constraints.txt",
        wheel,
    ]
    installed = subprocess.run(install, cwd=cwd, capture_output=True, check=False)
    if installed.returncode != 0:  # a first run, or constraints.txt changed: fill the wheelhouse
        # Our own wheel is not kept: pip would take the copy a run before left there (same
        # name, the old dependencies) instead of this one.
        for old in Path(WHEELHOUSE).glob("masivo_conformance-*.whl"):
            old.unlink()
        _run(
            [*PIP, "download", "--quiet", "-c", REPO / "constraints.txt", "-d", WHEELHOUSE, wheel],
            cwd,
        )
        _run(install, cwd)


@pytest.mark.slow
@pytest.mark.starts_first  # 35-40 s: build, install, six commands
def test_the_installed_wheel_runs_every_command_from_an_empty_folder(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    _run(
        [*PIP, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", dist, REPO], tmp_path
    )
    (wheel,) = dist.glob("masivo_conformance-*.whl")
    assert wheel.name.startswith(f"masivo_conformance-{__version__}-")  # hatch read __init__.py
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    python, command = venv / "bin" / "python", venv / "bin" / "masivo-conformance"
    _install(wheel, python, tmp_path)
    # As a team runs it: no PYTHONPATH, no MASIVO_* settings, not from the checkout.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MASIVO_", "PYTHON")) and k != "VIRTUAL_ENV"
    }

    where = _run(
        [
            python,
            "-c",
            "import masivo_conformance as m; from masivo_conformance.suite import runner; "
            "print(m.__file__); print(runner.suite_path())",
        ],
        work,
        env,
    ).split()
    for path in where:
        assert Path(path).is_relative_to(venv), f"{path} is not from the installed wheel"

    # The longest command starts first and runs beside the others (it has its own
    # embedded reference server, as record and drift have theirs).
    run = _start([command, "run", "--profile", "quick", "--report-dir", "reports", "-q"], work, env)
    request.addfinalizer(run.kill)  # when a check below fails first

    contract_version = yaml.safe_load((REPO / "schemas" / "openapi.yaml").read_text())["info"][
        "version"
    ]
    version = _run([command, "--version"], work, env)
    assert re.fullmatch(
        rf"masivo-conformance {re.escape(__version__)} \(contract data "
        rf"{re.escape(str(contract_version))}, schemathesis 4\.[0-9.]+\)\n",
        version,
    ), version
    for name in ("record", "replay", "drift"):
        shown = _run([command, name, "--help"], work, env)
        assert "(default ./cassettes)" in " ".join(shown.split()), shown
        assert "site-packages" not in shown

    # Every suite test ships (the same files as in the checkout), and is collected.
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            name.removeprefix("masivo_conformance/_suite/")
            for name in archive.namelist()
            if name.startswith("masivo_conformance/_suite/tests/")
        }
    in_checkout = {
        str(path.relative_to(REPO))
        for folder in ("contract", "stateful")
        for path in (REPO / "tests" / folder).glob("*.py")
    }
    assert shipped == {*in_checkout, "tests/__init__.py"}
    # The licence pyproject.toml names ships as its text (PEP 639 License-File).
    with zipfile.ZipFile(wheel) as archive:
        licences = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert len(licences) == 1, archive.namelist()
        assert archive.read(licences[0]) == (REPO / "LICENSE").read_bytes()
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        assert "License-File: LICENSE" in archive.read(metadata).decode()
    covered = re.search(
        r"(\d+) requirements, (\d+) covered", _run([command, "requirements"], work, env)
    )
    assert covered, "requirements printed no summary"
    assert int(covered[2]) > 0

    recorded = _run([command, "record", "-q"], work, env)
    assert (work / "cassettes" / "recording.json").is_file(), recorded  # ./cassettes
    assert len(list((work / "cassettes").rglob("*.yaml"))) >= 30
    _run([command, "replay", "-q"], work, env)
    _run([command, "drift", "-q", "--json", "drift.json"], work, env)
    assert json.loads((work / "drift.json").read_text())["summary"]["breaking"] == 0

    assert "MUST" in _finish(run)
    assert (work / "reports" / "report.html").is_file()  # the report templates shipped
    # Hypothesis's cache went to the user's cache folder, not the folder of the run.
    assert not (work / ".hypothesis").exists()
