"""Root conftest: only points at the plugin that holds the suite's fixtures and options."""

pytest_plugins = ["masivo_conformance.plugin"]
