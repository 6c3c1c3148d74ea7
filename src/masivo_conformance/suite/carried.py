"""The pytest plugins masivo-conformance's dependencies bring, off in a team's sessions.

Installing masivo-conformance installs Hypothesis, schemathesis and pytest-recording, and
pytest loads the plugin of every installed package (their `pytest11` entry points): a
team's session would run with all three on, their hooks around every test, though the
team asked for none of them. The user plugin (plugin.py) turns them off again once
pytest has loaded them and the initial conftest files (which may name the suite's
session: this project's root conftest.py does). They stay on where they are asked for:

* in the conformance suite's own sessions (`masivo-conformance run`, record, replay,
  drift, and this checkout's tests), which use all three;
* by `-p NAME` (on the command line, in `addopts`, in PYTEST_ADDOPTS).

`-p no:masivo` turns the user plugin off, and this with it: the session is then as
pytest alone makes it.
"""

from __future__ import annotations

from typing import Any

import pytest

__all__ = ["CARRIED", "SUITE_SESSION", "session_started", "turn_off"]

# Entry-point names, as `-p NAME` and `-p no:NAME` spell them.
CARRIED = ("hypothesispytest", "recording", "schemathesis")
# The suite session's module (runner.SUITE_PLUGIN): registered under this name by `-p`
# or a conftest's `pytest_plugins`.
SUITE_SESSION = "masivo_conformance.suite.session"


def turn_off(config: pytest.Config) -> dict[str, Any]:
    """Turn off the carried plugins this session did not ask for; return them by name."""
    manager = config.pluginmanager
    if manager.has_plugin(SUITE_SESSION):
        return {}
    asked = {name.strip() for name in config.known_args_namespace.plugins or ()}
    off = {
        name: plugin
        for name in CARRIED
        if name not in asked and (plugin := manager.get_plugin(name)) is not None
    }
    for name in off:
        manager.set_blocked(name)  # unregisters it, and refuses it if named again
    _unlist(manager, off.values())
    return off


def _unlist(manager: pytest.PytestPluginManager, plugins: Any) -> None:
    """Leave the plugins turned off out of the `plugins:` line of pytest's header too,
    which lists every distribution loaded by entry point, on or off (pluggy keeps no
    public way to forget one: the list is pluggy's own, read only if it is there)."""
    loaded = getattr(manager, "_plugin_distinfo", None)
    if isinstance(loaded, list):
        gone = [id(plugin) for plugin in plugins]
        loaded[:] = [entry for entry in loaded if id(entry[0]) not in gone]


def session_started(session: pytest.Session, off: dict[str, Any]) -> None:
    """What a plugin turned off still needs at the session's start.

    Hypothesis's plugin counts itself into Hypothesis's start-up when it is imported and
    out again at session start (`_hypothesis_globals.in_initialization`). Turned off, it
    would never count out, and each strategy a team's test draws from would warn of
    "slow code in plugin". So its own session-start hook still runs, and only that.
    """
    start = getattr(off.get("hypothesispytest"), "pytest_sessionstart", None)
    if callable(start):
        start(session)
