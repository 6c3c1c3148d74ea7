"""Print the requirement catalogue with the number of suite tests that cover each id.

Counts are of collected test items in tests/contract and tests/stateful (one per
parametrised case), so an id with 0 has no test yet.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from collections import Counter

import pytest

from masivo_conformance.errors import EXIT_NONCONFORMANT, EXIT_OK
from masivo_conformance.recorder import requirement_ids
from masivo_conformance.requirements import catalogue
from masivo_conformance.runner import project_root, suite_path

HELP = "list requirement ids with their level and how many tests cover each"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a MUST requirement has no test"
    )


class _Counter:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.counts.update(requirement_ids(item))


def coverage() -> Counter[str]:
    """How many collected suite tests carry each requirement id."""
    counter = _Counter()
    root = project_root()
    with contextlib.redirect_stdout(io.StringIO()):
        pytest.main(
            [
                str(suite_path("contract")),
                str(suite_path("stateful")),
                "--collect-only",
                "-q",
                "--rootdir",
                str(root),
                "-c",
                str(root / "pyproject.toml"),
            ],
            plugins=[counter],
        )
    return counter.counts


def execute(args: argparse.Namespace) -> int:
    counts = coverage()
    uncovered = []
    for req in catalogue():
        n = counts.get(req.id, 0)
        print(f"{req.id:<7} {req.level:<6} {n:>3} tests  {req.title}")
        if n == 0 and req.is_must:
            uncovered.append(req.id)
    print(
        f"{len(catalogue())} requirements, "
        f"{sum(1 for r in catalogue() if counts.get(r.id))} covered; "
        f"MUST without a test: {', '.join(uncovered) or 'none'}"
    )
    return EXIT_NONCONFORMANT if args.check and uncovered else EXIT_OK
