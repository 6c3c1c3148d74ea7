"""Profiles (budget, quick, ci, deep) as Hypothesis settings profiles, registered once.

`budget` runs no exploration at all (suite/run_plan.py: its shared scenarios judge every
requirement in at most 250 requests); its settings only keep Hypothesis quiet.

`ci` is derandomised so that a green run means the same thing twice; a `--seed` turns
randomisation on with that seed, so any run can be reproduced.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NAMES", "load"]

NAMES = ("budget", "quick", "ci", "deep")

_PROFILES: dict[str, dict[str, Any]] = {
    "budget": {"max_examples": 1, "stateful_step_count": 1, "derandomize": True},
    "quick": {"max_examples": 6, "stateful_step_count": 8, "derandomize": False},
    "ci": {"max_examples": 20, "stateful_step_count": 15, "derandomize": True},
    "deep": {"max_examples": 150, "stateful_step_count": 40, "derandomize": False},
}


def load(name: str, seed: int | None = None) -> None:
    """Make profile `name` the active Hypothesis settings, optionally seeded."""
    # Imported here: a budget run explores nothing and never loads Hypothesis.
    from hypothesis import HealthCheck, Phase, core, settings  # noqa: PLC0415

    values: dict[str, Any] = {
        "deadline": None,  # network latency is not a property of the code under test
        "database": None,  # no state carried between runs: a run means the same thing each time
        "print_blob": True,
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
        # Shrinking replays a failing sequence against a live server many times over, and
        # a server's state makes the replays diverge (Hypothesis then reports "Flaky"
        # instead of the failure): every profile reports the first failure as found,
        # with the curl line of the call that showed it.
        "phases": [Phase.explicit, Phase.reuse, Phase.generate, Phase.target],
        **_PROFILES[name],
    }
    if seed is not None:
        values["derandomize"] = False
        # What hypothesis's own --hypothesis-seed does: one seed for every test.
        core.global_force_seed = seed  # type: ignore[assignment]
    settings.register_profile(f"masivo-{name}", **values)
    settings.load_profile(f"masivo-{name}")
