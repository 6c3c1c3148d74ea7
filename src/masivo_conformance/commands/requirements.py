"""Print the requirement catalogue with the number of suite tests that judge each id and
the sources each cites, then what each source is (title and address); with ids, print
those requirements in full: statement, operations and sources.

Counts are of collected deterministic tests (`requirement` markers) in tests/contract
and tests/stateful, one per parametrised case, so an id with 0 has no deterministic test
yet; fuzz and state-machine tests (`explores` markers) are counted apart, since what
they judge depends on what they happen to generate.

With --map, print the requirement map instead: per id, its checks and multi-call rules,
the tests that judge or explore it, the budget plan's scenarios, its faults and the
places of server code each bends, all read from the code (--markdown: as
docs/requirement-map.md is written; --json: as data).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import textwrap
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from masivo_conformance.commands._options import requirement_id
from masivo_conformance.contract.catalogue import Requirement, catalogue, sources
from masivo_conformance.errors import EXIT_NONCONFORMANT, EXIT_OK, MasivoError
from masivo_conformance.suite.runner import pytest_config_args, suite_path

if TYPE_CHECKING:
    from masivo_conformance.commands._requirement_map import MapEntry

HELP = "list requirement ids with their level, tests and sources; with ids, their full text"
#: How docs/requirement-map.md is written (tests/unit/test_requirement_map.py says so
#: when the file no longer matches the code).
MARKDOWN_COMMAND = "masivo-conformance requirements --map --markdown docs/requirement-map.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        type=requirement_id,
        help="print these requirements in full (statement, operations, sources), or with "
        "--map map only these; case-insensitive, e.g. rev-2",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a MUST requirement has no test (with --map: when an id has no "
        "check or rule, or no fault)",
    )
    parser.add_argument(
        "--map",
        action="store_true",
        help="print, per id, its checks, tests, budget scenarios, faults and the server "
        "code each fault bends, read from the code",
    )
    form = parser.add_mutually_exclusive_group()
    # Written to a file, not printed: what a command prints passes console.SafeStream,
    # which breaks every `##` (a CI log command), Markdown's headings among them.
    form.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="write the map as Markdown to FILE (docs/requirement-map.md)",
    )
    form.add_argument("--json", action="store_true", help="the map as JSON")


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


_Rows = list[tuple[str, list[tuple[str, tuple[str, ...]]]]]


def _rows(entry: MapEntry) -> _Rows:
    """(label, [(item, its details)]) of one id's block, for either rendering."""
    return [
        ("checks", [(f"{c.name} ({', '.join(c.where)})", ()) for c in entry.checks]),
        ("multi-call rules", [(r.name, r.where) for r in entry.rules]),
        ("tests", [(test, ()) for test in entry.tests]),
        ("exploring", [(test, ()) for test in entry.exploring]),
        ("budget plan", [(test, ()) for test in entry.budget]),
        ("faults", [(f.name, f.where) for f in entry.faults]),
        ("also broken by", [(name, ()) for name in entry.also_broken_by]),
    ]


def _summary(entries: Sequence[MapEntry]) -> str:
    from masivo_conformance.commands._requirement_map import gaps  # noqa: PLC0415

    missing = "; ".join(gaps(entries)) or "each has a check or rule, and a fault"
    return f"{len(entries)} requirements; {missing}"


def map_text(entries: Sequence[MapEntry]) -> str:
    """The map for a terminal: one block per id, one item per line."""
    lines: list[str] = []
    for entry in entries:
        lines.append(f"{entry.id} {entry.level} {entry.title}")
        for label, items in _rows(entry):
            shown = [
                line for item, details in items for line in (item, *(f"  {d}" for d in details))
            ]
            for n, line in enumerate(shown or ["-"]):
                lines.append(f"  {label if n == 0 else '':<18}{line}")
        lines.append("")
    lines.append(_summary(entries))
    return "\n".join(lines)


def map_markdown(entries: Sequence[MapEntry]) -> str:
    """docs/requirement-map.md, as `MARKDOWN_COMMAND` writes it."""
    lines = [
        "# Requirement map",
        "",
        f"Generated from the code by `{MARKDOWN_COMMAND}`: do not edit by hand.",
        "Per requirement id: the single-call checks registered for it, the multi-call rules",
        "that judge it (and where they are called with it), the suite's tests that judge or",
        "explore it, the budget plan's scenarios, and the faults of `server/faults.py` that",
        "break it with the places of server code that switch on each.",
        "",
        _summary(entries),
    ]
    for entry in entries:
        lines += ["", f"## {entry.id} ({entry.level}): {entry.title}", ""]
        for label, items in _rows(entry):
            lines.append(f"- **{label}**:" + ("" if items else " none"))
            for item, details in items:
                lines.append(f"  - `{item}`")
                lines += [f"    - `{detail}`" for detail in details]
    return "\n".join(lines)


def _print_map(args: argparse.Namespace) -> int:
    # Imported only for --map: it reads the suite's tests and the server's source.
    from masivo_conformance.commands._requirement_map import gaps, requirement_map  # noqa: PLC0415

    entries = [e for e in requirement_map() if not args.ids or e.id in args.ids]
    if args.markdown:
        args.markdown.write_text(map_markdown(entries) + "\n", encoding="utf-8")
        print(f"wrote the map of {len(entries)} requirements to {args.markdown}")
    elif args.json:
        print(json.dumps([dataclasses.asdict(e) for e in entries], indent=2))
    else:
        print(map_text(entries))
    return EXIT_NONCONFORMANT if args.check and gaps(entries) else EXIT_OK


def execute(args: argparse.Namespace) -> int:
    known = catalogue()
    if args.map or args.markdown or args.json:
        return _print_map(args)
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
