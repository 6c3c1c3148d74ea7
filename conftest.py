"""Root conftest: only points at the plugins the tests use (the suite's own and pytester)."""

pytest_plugins = ["masivo_conformance.plugin", "pytester"]
