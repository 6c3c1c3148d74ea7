"""Print the requirement catalogue with the number of suite tests that judge each id and
the sources each cites, then what each source is (title and address); with ids, print
those requirements in full: statement, operations and sources.

Counts are of collected deterministic tests (`requirement` markers) in tests/contract
and tests/stateful, one per parametrised case, so an id with 0 has no deterministic test
yet; fuzz and state-machine tests (`explores` markers) are counted apart, since what
they judge depends on what they happen to generate.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import textwrap
from collections import Counter

import pytest

from masivo_conformance.commands._options import requirement_id
from masivo_conformance.contract.catalogue import Requirement, catalogue, sources
from masivo_conformance.errors import EXIT_NONCONFORMANT, EXIT_OK, MasivoError
from masivo_conformance.suite.runner import pytest_config_args, suite_path

HELP = "list requirement ids with their level, tests and sources; with ids, their full text"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        type=requirement_id,
        help="print these requirements in full (statement, operations, sources); "
        "case-insensitive, e.g. rev-2",
    )
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


def _in_full(requirement: Requirement) -> list[str]:
    known = sources()
    return [
        f"{requirement.id} ({requirement.level}) {requirement.title}",
        *textwrap.wrap(requirement.statement, 88, initial_indent="  ", subsequent_indent="  "),
        f"  operations: {', '.join(requirement.operations)}",
        "  sources:",
        *(f"    {known[tag].label}" for tag in requirement.sources),
    ]


def execute(args: argparse.Namespace) -> int:
    known = catalogue()
    if args.ids:
        for n, requirement_id in enumerate(dict.fromkeys(args.ids)):
            print(*([""] if n else []), *_in_full(known[requirement_id]), sep="\n")
        return EXIT_OK
    counts, explored = coverage()
    uncovered = []
    for req in known:
        n = counts.get(req.id, 0)
        more = f" (+{explored[req.id]} exploring)" if explored.get(req.id) else ""
        tags = ", ".join(req.sources)
        print(f"{req.id:<7} {req.level:<6} {_tests(n)}{more:<16} {req.title} [{tags}]")
        if n == 0 and req.is_must:
            uncovered.append(req.id)
    print(
        f"{len(known)} requirements, "
        f"{sum(1 for r in known if counts.get(r.id))} covered; "
        f"MUST without a deterministic test: {', '.join(uncovered) or 'none'}"
    )
    cited = {tag for r in known for tag in r.sources}
    print("\nsources [in brackets above]:")
    for tag, source in sources().items():
        if tag in cited:
            print(f"  {source.label}")
    print("`masivo-conformance requirements ID` prints a requirement's full statement")
    return EXIT_NONCONFORMANT if args.check and uncovered else EXIT_OK
