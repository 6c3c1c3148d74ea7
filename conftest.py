"""Root conftest: only points at the plugins the tests use (the suite's own, pytester, and
the fault-matrix summary)."""

pytest_plugins = ["masivo_conformance.suite.plugin", "pytester", "tests.suite.matrix_report"]
