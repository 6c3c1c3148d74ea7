"""Print the requirement catalogue with the number of suite tests that judge each id.

Counts are of collected deterministic tests (`requirement` markers) in tests/contract
and tests/stateful, one per parametrised case, so an id with 0 has no deterministic test
yet; fuzz and state-machine tests (`explores` markers) are counted apart, since what
they judge depends on what they happen to generate.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from collections import Counter

import pytest

from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.errors import EXIT_NONCONFORMANT, EXIT_OK, MasivoError
from masivo_conformance.suite.runner import pytest_config_args, suite_path

HELP = "list requirement ids with their level and how many tests cover each"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a MUST requirement has no test"
    )


class _Counter:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.explored: Counter[str] = Counter()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            for marker in item.iter_markers("requirement"):
                self.counts.update(marker.args)
            for marker in item.iter_markers("explores"):
                self.explored.update(marker.args)


def coverage() -> tuple[Counter[str], Counter[str]]:
    """How many collected deterministic tests, and exploring tests, name each id."""
    counter = _Counter()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = pytest.main(
            [
                str(suite_path("contract")),
                str(suite_path("stateful")),
                "--collect-only",
                "-q",
                *pytest_config_args(),
            ],
            plugins=[counter],
        )
    # A suite that does not collect would otherwise read as "no test covers anything".
    if code != pytest.ExitCode.OK:
        last = printed.getvalue().strip().splitlines()[-1:]
        raise MasivoError(
            f"the suite's tests could not be collected (pytest exit {int(code)}"
            f"{': ' + last[0] if last else ''})",
            "reinstall masivo-conformance, or fix the suite tests in the checkout",
        )
    return counter.counts, counter.explored


def _tests(n: int) -> str:
    return f"{n:>3} test{'s' if n != 1 else ' '}"


def execute(args: argparse.Namespace) -> int:
    counts, explored = coverage()
    uncovered = []
    for req in catalogue():
        n = counts.get(req.id, 0)
        more = f" (+{explored[req.id]} exploring)" if explored.get(req.id) else ""
        print(f"{req.id:<7} {req.level:<6} {_tests(n)}{more:<16} {req.title}")
        if n == 0 and req.is_must:
            uncovered.append(req.id)
    print(
        f"{len(catalogue())} requirements, "
        f"{sum(1 for r in catalogue() if counts.get(r.id))} covered; "
        f"MUST without a deterministic test: {', '.join(uncovered) or 'none'}"
    )
    return EXIT_NONCONFORMANT if args.check and uncovered else EXIT_OK
