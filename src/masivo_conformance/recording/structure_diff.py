"""Drift: how the live API's answers differ in structure from the recorded ones.

Each recorded interaction is paired with the live one made at the same step of the same
scenario (same method and path template, same position), and their bodies' shapes are
compared (see `shapes` and `changes`). Breaking drift ends the run with exit code 1.
Text that is not valid Unicode (a lone surrogate) is read as U+FFFD (`cassettes`), and
the report counts it in a note.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from masivo_conformance.errors import EXIT_NONCONFORMANT, EXIT_OK
from masivo_conformance.recording.cassettes import (
    Cassette,
    Interaction,
    cassette_name,
    iter_cassettes,
    load_cassette,
)
from masivo_conformance.recording.changes import ADDITIVE, BREAKING, Classification, compare_shapes
from masivo_conformance.recording.shapes import Hints, contract_hints, shape_of

__all__ = [
    "Difference",
    "DifferenceGroup",
    "DriftReport",
    "compare_cassettes",
    "compare_folders",
    "compare_interactions",
    "group_differences",
]


@dataclass(frozen=True)
class Difference:
    """One structural change between a recorded answer and the live one."""

    test: str  # the cassette, `<test module>/<test name>`
    request: str  # "METHOD /path/{template}"
    path: str  # JSON path in the body, e.g. `$.data.result.transactions[*].type`
    kind: str
    classification: Classification
    description: str  # what changed and what it means for a client


@dataclass(frozen=True)
class DifferenceGroup:
    """Every difference of one kind at one JSON path, whichever scenario and step showed it.

    One change of the target repeats in every scenario that reads the same answer (a
    missing wallet member shows on each GET of a customer): the reader acts on the change
    once, so reports list groups, with how often and where each was seen.
    """

    classification: Classification
    path: str
    kind: str
    count: int  # differences in the group
    scenarios: tuple[str, ...]  # the tests (cassettes) that showed it, sorted
    requests: tuple[str, ...]  # "METHOD /path/{template}" where it was seen, sorted
    descriptions: tuple[str, ...]  # the distinct descriptions, in the order first seen


def group_differences(differences: Iterable[Difference]) -> list[DifferenceGroup]:
    """Differences grouped by (path, kind): breaking first, then the most frequent."""
    groups: dict[tuple[Classification, str, str], list[Difference]] = defaultdict(list)
    for d in differences:
        # A kind has one classification; keying on it too keeps a group all of one class.
        groups[d.classification, d.path, d.kind].append(d)
    found = [
        DifferenceGroup(
            classification,
            path,
            kind,
            len(members),
            tuple(sorted({d.test for d in members})),
            tuple(sorted({d.request for d in members})),
            tuple(dict.fromkeys(d.description for d in members)),
        )
        for (classification, path, kind), members in groups.items()
    ]
    return sorted(found, key=lambda g: (g.classification != BREAKING, -g.count, g.path, g.kind))


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def compare_interactions(
    recorded: Interaction, live: Interaction, *, test: str = "", hints: Hints | None = None
) -> list[Difference]:
    """The differences between one recorded answer and the live answer to the same step."""
    found: list[Difference] = []

    def add(kind: str, classification: Classification, text: str, path: str = "$") -> None:
        found.append(Difference(test, recorded.request, path, kind, classification, text))

    old, new = recorded.status, live.status
    if old // 100 != new // 100:
        add(
            "status-class-changed",
            BREAKING,
            f"status {old} became {new}; clients see another outcome",
        )
        return found  # bodies of different outcomes are not comparable
    if old != new:
        add(
            "status-changed",
            ADDITIVE,
            f"status {old} became {new}, same class; clients that check the class are unaffected",
        )
    old_type, new_type = _media_type(recorded.content_type), _media_type(live.content_type)
    if old_type != new_type:
        add(
            "content-type-changed",
            BREAKING,
            f"content type {old_type or 'none'} became "
            f"{new_type or 'none'}; clients cannot parse the body as before",
        )
        return found
    if recorded.body is not None and live.body is None:
        add(
            "body-not-json",
            BREAKING,
            "the body is no longer a JSON document; clients cannot parse it",
        )
    elif recorded.body is None and live.body is not None:
        add("body-added", ADDITIVE, "a JSON body now comes where none was recorded")
    elif recorded.body is not None:
        hints = contract_hints() if hints is None else hints
        for change in compare_shapes(
            shape_of(recorded.body, hints), shape_of(live.body, hints), hints
        ):
            add(change.kind, change.classification, change.description, change.path)
    return found


def _by_step(cassette: Cassette) -> dict[str, list[Interaction]]:
    steps: dict[str, list[Interaction]] = defaultdict(list)
    for interaction in cassette.interactions:
        steps[interaction.request].append(interaction)
    return steps


def _pair(old: list[Interaction], new: list[Interaction]) -> list[tuple[Interaction, Interaction]]:
    """Pair answers to the same request, same status first, else in recorded order.

    Concurrent requests (REV-6 sends several reverses at once) finish in any order, so
    pairing strictly by position would report a status change that is only a reordering.
    """
    pairs, free = [], list(new)
    unmatched = []
    for before in old:
        twin = next((after for after in free if after.status == before.status), None)
        if twin is None:
            unmatched.append(before)
        else:
            free.remove(twin)
            pairs.append((before, twin))
    pairs += list(zip(unmatched, free, strict=False))
    return pairs


def compare_cassettes(
    recorded: Cassette, live: Cassette, hints: Hints | None = None
) -> list[Difference]:
    """Pair interactions in order per request (method and path template) and compare."""
    test, found = recorded.name, []
    old_steps, new_steps = _by_step(recorded), _by_step(live)
    for request in dict.fromkeys([*old_steps, *new_steps]):
        old, new = old_steps.get(request, []), new_steps.get(request, [])
        for before, after in _pair(old, new):
            found += compare_interactions(before, after, test=test, hints=hints)
        for extra in old[len(new) :]:
            found.append(
                Difference(
                    test,
                    request,
                    "$",
                    "interaction-missing",
                    BREAKING,
                    f"the recorded answer ({extra.status}) has no live "
                    "counterpart; the live scenario stopped earlier or took "
                    "another path",
                )
            )
        for extra in new[len(old) :]:
            found.append(
                Difference(
                    test,
                    request,
                    "$",
                    "interaction-added",
                    ADDITIVE,
                    f"the live run made one more such request ({extra.status})",
                )
            )
    return found


def compare_folders(
    recorded_root: Path, live_root: Path, base_path: str = "", hints: Hints | None = None
) -> DriftReport:
    """Compare every cassette under `recorded_root` with its namesake under `live_root`."""
    found: list[Difference] = []
    recorded_names = set()
    replaced = 0
    for path in iter_cassettes(recorded_root):
        recorded = load_cassette(path, recorded_root, base_path)
        recorded_names.add(recorded.name)
        replaced += recorded.replaced
        twin = live_root / path.relative_to(recorded_root)
        if not twin.is_file():
            found.append(
                Difference(
                    recorded.name,
                    "-",
                    "$",
                    "cassette-missing",
                    BREAKING,
                    "the scenario made no requests live (it failed early or "
                    "did not run), so none of its answers could be compared",
                )
            )
            continue
        live = load_cassette(twin, live_root, base_path)
        replaced += live.replaced
        found += compare_cassettes(recorded, live, hints)
    for path in iter_cassettes(live_root):
        name = cassette_name(path, live_root)
        if name not in recorded_names:
            found.append(
                Difference(
                    name,
                    "-",
                    "$",
                    "cassette-added",
                    ADDITIVE,
                    "a scenario ran live that has no recording yet",
                )
            )
    return DriftReport(tuple(found), replaced)


@dataclass(frozen=True)
class DriftReport:
    """All differences of a drift run, grouped for reading and as JSON (`reporting.report`
    renders them for people)."""

    differences: tuple[Difference, ...]
    # Lone surrogates the cassettes held, read as U+FFFD: two different ones compare
    # equal after that, so the report says how many there were.
    replaced: int = 0

    @property
    def notes(self) -> list[str]:
        """What a reader of the report should know beyond the differences."""
        if not self.replaced:
            return []
        return [
            f"{self.replaced} lone surrogate(s) (\\ud800-\\udfff: valid JSON, not valid "
            "Unicode) in the recorded or live answers were read as U+FFFD; values that "
            "differed only there compare equal"
        ]

    @property
    def breaking(self) -> list[Difference]:
        return [d for d in self.differences if d.classification == BREAKING]

    @property
    def additive(self) -> list[Difference]:
        return [d for d in self.differences if d.classification == ADDITIVE]

    def exit_code(self) -> int:
        return EXIT_NONCONFORMANT if self.breaking else EXIT_OK

    @property
    def groups(self) -> list[DifferenceGroup]:
        return group_differences(self.differences)

    @property
    def tests(self) -> list[str]:
        """The scenarios (cassettes) with at least one difference."""
        return sorted({d.test for d in self.differences})

    def to_json(self) -> str:
        groups = self.groups
        summary = {"breaking": len(self.breaking), "additive": len(self.additive)}
        return json.dumps(
            {
                "summary": {**summary, "groups": len(groups)},
                "notes": self.notes,
                "groups": [asdict(g) for g in groups],
                "breaking": [asdict(d) for d in self.breaking],
                "additive": [asdict(d) for d in self.additive],
            },
            indent=2,
        )
