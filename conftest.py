"""Root conftest: only points at the plugins the tests use (the suite session, which runs
the suite's own tests straight from pytest, pytester, and the fault-matrix summary).

`tests.hostile.fixtures` gives every test folder the `hostile` fixture (a tamperer in
front of a reference server). The user plugin (suite/plugin.py) is not named here:
pytest loads it from its `pytest11` entry point, and naming it too would register it
twice."""

pytest_plugins = [
    "masivo_conformance.suite.session",
    "pytester",
    "tests.cli.matrix_report",
    "tests.hostile.fixtures",
]
