"""The requirement map: for each id of the catalogue, what judges it and what breaks it,
gathered from the code as it is, so it cannot drift from what runs.

* checks: the single-call checks registered for it (`checks.CHECKS`);
* rules: the multi-call rules that judge it: `judge_sequence` when checks/passive.py
  declares it among its `JUDGES`, and each rule of checks/invariants.py (a function with
  a `requirement` parameter) wherever the suite's tests or the `checks`/`suite` modules
  call it with the id as a literal;
* tests: the suite's tests whose `requirement` marker names it, or that a plan of
  suite/run_plan.py declares it judges (a shared scenario judges more than its markers name:
  every answer on GEN-1, GEN-3 and GEN-4); exploring: those whose `explores` marker
  names it (fuzzing and the state machines) and no other;
* budget: the budget profile's scenarios that judge it;
* faults: the faults of server/faults.py whose requirement it is, each with the places
  of server/*.py that name it (a string literal: the server switches on a fault with
  `"name" in faults`, or lists names in a set it tests), and the faults that break it
  besides their own (`also`).

Commands may read the server, the suite and the checks alike, which is why this lives
here and not lower (.importlinter).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from masivo_conformance import checks
from masivo_conformance.checks import invariants, passive
from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.server import faults as server_faults
from masivo_conformance.suite import markers
from masivo_conformance.suite.run_plan import plan_for

__all__ = ["Judge", "MapEntry", "gaps", "requirement_map"]

_PACKAGE = Path(checks.__file__).resolve().parents[1]
# Where judging code lives besides the suite's tests (issue 19 moves the suite's into
# checks/); passive.py is left out: its rules are `judge_sequence`'s, declared in JUDGES.
_JUDGING_PACKAGES = ("checks", "suite")
_PASSIVE = Path(passive.__file__).resolve()
_FAULT_LIST = Path(server_faults.__file__).resolve()


@dataclass(frozen=True)
class Judge:
    """A check, rule or fault by name, and where it is (files, or file:line places)."""

    name: str
    where: tuple[str, ...]


@dataclass(frozen=True)
class MapEntry:
    id: str
    level: str
    title: str
    checks: tuple[Judge, ...]
    rules: tuple[Judge, ...]
    tests: tuple[str, ...]
    exploring: tuple[str, ...]
    budget: tuple[str, ...]
    faults: tuple[Judge, ...]
    also_broken_by: tuple[str, ...]


def requirement_map() -> list[MapEntry]:
    """One entry per requirement of the catalogue, in catalogue order."""
    rule_calls = _rule_calls()
    tests, exploring = _tests()
    budget = plan_for("budget").scenarios
    places = _fault_places()
    sequence = Judge(passive.judge_sequence.__name__, (_relative(_PASSIVE),))
    entries = []
    for requirement in catalogue():
        rid = requirement.id
        called = sorted(rule_calls.get(rid, {}).items())
        rules = [sequence] if rid in passive.JUDGES else []
        rules += [Judge(name, tuple(sorted(files))) for name, files in called]
        entries.append(
            MapEntry(
                rid,
                requirement.level,
                requirement.title,
                checks=tuple(
                    Judge(c.name, (_relative(Path(inspect.getfile(c.func))),))
                    for c in checks.CHECKS.values()
                    if c.requirement == rid
                ),
                rules=tuple(rules),
                tests=tuple(sorted(tests.get(rid, ()))),
                exploring=tuple(sorted(exploring.get(rid, set()) - tests.get(rid, set()))),
                budget=tuple(s.test for s in budget if rid in s.judges),
                faults=tuple(
                    Judge(f.name, places.get(f.name, ()))
                    for f in server_faults.FAULTS.values()
                    if f.requirement == rid
                ),
                also_broken_by=tuple(
                    f.name for f in server_faults.FAULTS.values() if rid in f.also
                ),
            )
        )
    return entries


def _relative(path: Path) -> str:
    """A package module as the docs name it: checks/events.py."""
    return path.resolve().relative_to(_PACKAGE).as_posix()


def _tests() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(tests judging each id, tests exploring it), by node id without parametrisation."""
    judging: dict[str, set[str]] = {}
    exploring: dict[str, set[str]] = {}
    for test in markers.marked_tests():
        for rid in test.requirement:
            judging.setdefault(rid, set()).add(test.nodeid)
        for rid in test.explores:
            exploring.setdefault(rid, set()).add(test.nodeid)
    for profile in ("budget", "ci"):
        for scenario in plan_for(profile).scenarios:
            for rid in scenario.judges:
                judging.setdefault(rid, set()).add(scenario.test.partition("[")[0])
    return judging, exploring


def _rule_functions() -> dict[str, int]:
    """The rules of checks/invariants.py by dotted name: the position of their
    `requirement` parameter (the id a caller asks them to judge)."""
    found = {}
    for name in invariants.__all__:
        function = getattr(invariants, name)
        if not inspect.isfunction(function):
            continue
        parameters = list(inspect.signature(function).parameters)
        if "requirement" in parameters:
            found[f"{invariants.__name__}.{name}"] = parameters.index("requirement")
    return found


def _judging_modules() -> list[tuple[str, Path]]:
    """(name as the map shows it, path) of every module that may call a rule."""
    modules = list(markers.suite_modules())
    for package in _JUDGING_PACKAGES:
        for path in sorted((_PACKAGE / package).glob("*.py")):
            if path.resolve() != _PASSIVE:
                modules.append((_relative(path), path))
    return modules


def _rule_calls() -> dict[str, dict[str, set[str]]]:
    """For each id, the invariants rules called with it as a literal, and in which files."""
    functions, ids = _rule_functions(), frozenset(catalogue().ids)
    found: dict[str, dict[str, set[str]]] = {}
    for name, path in _judging_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for call in markers.calls_naming_ids(tree, functions, ids):
            found.setdefault(call.requirement, {}).setdefault(call.function, set()).add(name)
    return found


def _fault_places() -> dict[str, tuple[str, ...]]:
    """Each fault's places in server/*.py: `server/books.py:118 (Books.reserve)`."""
    names = frozenset(server_faults.FAULTS)
    found: dict[str, list[str]] = {}
    for path in sorted(_FAULT_LIST.parent.glob("*.py")):
        if path.resolve() == _FAULT_LIST:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, within in _walk_with_scope(tree):
            if isinstance(node, ast.Constant) and node.value in names:
                where = f" ({within})" if within else ""
                found.setdefault(node.value, []).append(f"{_relative(path)}:{node.lineno}{where}")
    return {name: tuple(places) for name, places in found.items()}


def _walk_with_scope(tree: ast.AST, scope: str = "") -> Iterable[tuple[ast.AST, str]]:
    """Every node under `tree`, in source order, with the qualified name of the function
    or class it sits in ("" at module level)."""
    for child in ast.iter_child_nodes(tree):
        yield child, scope
        inner = scope
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            inner = f"{scope}.{child.name}" if scope else child.name
        yield from _walk_with_scope(child, inner)


def gaps(entries: Iterable[MapEntry]) -> list[str]:
    """What the map lacks: each id no check or rule judges, and each no fault breaks (a
    requirement the fault matrix cannot show the suite catches)."""
    missing = []
    for entry in entries:
        if not entry.checks and not entry.rules:
            missing.append(f"{entry.id} has no check and no multi-call rule")
        if not entry.faults:
            missing.append(f"{entry.id} has no fault in server/faults.py")
    return missing
