"""Issue 20, item 4: the budget profile imports nothing it does not use. Its plan fuzzes
nothing and runs no state machine, so neither schemathesis nor Hypothesis is loaded;
a profile that explores loads both. (The time this saves is measured, not asserted:
docs/benchmarks.md, "Start-up of the budget profile".)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cli.cli_runs import clean_env

# A run in a fresh interpreter, then the modules it loaded: pytest in the same process
# as a test would have them loaded already.
_PROBE = """
import json, sys
from masivo_conformance import cli
code = cli.main(["run", "--profile", sys.argv[1], "--seed", "1", "-q", "-n", "0"])
loaded = {name: name in sys.modules for name in ("schemathesis", "hypothesis")}
print(json.dumps({"code": code, **loaded}))
"""


def _loaded(profile: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, profile],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=clean_env(),
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_the_budget_profile_loads_neither_schemathesis_nor_hypothesis() -> None:
    assert _loaded("budget") == {"code": 0, "schemathesis": False, "hypothesis": False}


@pytest.mark.slow
def test_a_profile_that_explores_loads_both() -> None:
    assert _loaded("quick") == {"code": 0, "schemathesis": True, "hypothesis": True}
