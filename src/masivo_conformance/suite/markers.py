"""The suite's tests read as source: which requirement ids their `requirement` and
`explores` markers name, and which calls of a module name an id as a literal.

Read as syntax, not collected: collecting imports every test module (hypothesis,
schemathesis, the suite plugin) and runs a pytest session inside whoever asked, about
2 s; the markers are plain decorators (or, for a state machine's TestCase, a mark
applied by a call) whose arguments are literal ids or a name the module imports
(`*fuzzed.REQUIREMENTS`), which is imported to be read. tests/unit/test_requirement_map.py
holds this reading to what pytest collects, so a marker written some new way fails there
instead of going missing here.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masivo_conformance.errors import MasivoError
from masivo_conformance.suite.runner import suite_path

__all__ = [
    "MarkedTest",
    "SourceCall",
    "calls_naming_ids",
    "imported_names",
    "marked_tests",
    "read_marked_tests",
    "suite_modules",
]

_FOLDERS = ("contract", "stateful")  # the suite: what `run` runs (suite/runner.py)
_MARKS = ("requirement", "explores")


@dataclass(frozen=True)
class MarkedTest:
    """One test as pytest names it, without its parametrisation: its node id (relative
    to the suite root, as suite/run_plan.py names tests) and the ids of each marker."""

    nodeid: str
    requirement: tuple[str, ...]
    explores: tuple[str, ...]


@dataclass(frozen=True)
class SourceCall:
    """A call of `function` that passes the literal requirement id `requirement`."""

    function: str
    requirement: str
    line: int


def suite_modules() -> list[tuple[str, Path]]:
    """(node id prefix, path) of each test module of the suite, in collection order."""
    root = suite_path().parent
    return [
        (path.relative_to(root).as_posix(), path)
        for folder in _FOLDERS
        for path in sorted(suite_path(folder).glob("test_*.py"))
    ]


def marked_tests() -> list[MarkedTest]:
    """Every test of the suite that carries a `requirement` or `explores` marker."""
    return [test for name, path in suite_modules() for test in read_marked_tests(name, path)]


def imported_names(tree: ast.Module) -> dict[str, str]:
    """The dotted name each top-level import binds: `from a import b as c` binds c to a.b."""
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def read_marked_tests(name: str, path: Path) -> list[MarkedTest]:
    """The marked tests of one module; `name` is its node id prefix."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    reader = _MarkReader(name, imported_names(tree))
    module = reader.marks(_pytestmark(tree))
    found: list[MarkedTest] = []
    for node in tree.body:
        for test, marks in reader.tests(node):
            ids = {kind: module[kind] + marks[kind] for kind in _MARKS}
            if any(ids.values()):
                found.append(MarkedTest(f"{name}::{test}", ids["requirement"], ids["explores"]))
    return found


def calls_naming_ids(
    tree: ast.Module, functions: Mapping[str, int], ids: frozenset[str]
) -> list[SourceCall]:
    """The calls in `tree` of the functions named in `functions` (dotted, as
    `imported_names` binds them; the value is the position of the requirement argument,
    which may also be passed as `requirement=`) that pass one of `ids` as a literal."""
    imports = imported_names(tree)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = _dotted(node.func, imports)
        if function not in functions:
            continue
        position = functions[function]
        given = [kw.value for kw in node.keywords if kw.arg == "requirement"]
        given += node.args[position : position + 1]
        for arg in given:
            if isinstance(arg, ast.Constant) and arg.value in ids:
                found.append(SourceCall(function.rpartition(".")[2], arg.value, node.lineno))
    return found


def _dotted(expr: ast.expr, imports: Mapping[str, str]) -> str:
    """The dotted name an expression refers to through the module's imports, or ""."""
    if isinstance(expr, ast.Name):
        return imports.get(expr.id, "")
    if isinstance(expr, ast.Attribute):
        base = _dotted(expr.value, imports)
        return f"{base}.{expr.attr}" if base else ""
    return ""


def _load(dotted: str) -> Any:
    """The object a dotted name names: a module, or an attribute of one."""
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError:
        module, _, attribute = dotted.rpartition(".")
        return getattr(_load(module), attribute)


def _pytestmark(tree: ast.Module) -> list[ast.expr]:
    """The marks of a module-level `pytestmark = mark` or `= [marks]`."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            value = node.value
            return list(value.elts) if isinstance(value, ast.List | ast.Tuple) else [value]
    return []


def _mark_name(expr: ast.expr) -> str:
    """ "requirement" for `pytest.mark.requirement(...)` (and so on), else ""."""
    if not isinstance(expr, ast.Call):
        return ""
    func = expr.func
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Attribute)
        and func.value.attr == "mark"
        and isinstance(func.value.value, ast.Name)
        and func.value.value.id == "pytest"
    ):
        return func.attr
    return ""


class _MarkReader:
    def __init__(self, module: str, imports: Mapping[str, str]) -> None:
        self.module, self.imports = module, imports

    def tests(self, node: ast.stmt) -> Iterator[tuple[str, dict[str, tuple[str, ...]]]]:
        """(name as in a node id, marks) of each test a top-level statement defines."""
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
            "test"
        ):
            yield node.name, self.marks(node.decorator_list)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            outer = self.marks(node.decorator_list)
            for item in node.body:
                for method, marks in self.tests(item):
                    yield f"{node.name}::{method}", {k: outer[k] + marks[k] for k in _MARKS}
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id.startswith("Test")
        ):
            # A state machine's TestCase, marked by applying marks to it:
            # `TestX = pytest.mark.explores(...)(pytest.mark.writes(Machine.TestCase))`.
            applied: list[ast.expr] = []
            value = node.value
            while isinstance(value, ast.Call) and _mark_name(value.func) and value.args:
                applied.append(value.func)
                value = value.args[0]
            yield node.targets[0].id, self.marks(applied)

    def marks(self, decorators: list[ast.expr]) -> dict[str, tuple[str, ...]]:
        found: dict[str, tuple[str, ...]] = dict.fromkeys(_MARKS, ())
        for decorator in decorators:
            kind = _mark_name(decorator)
            if kind in _MARKS and isinstance(decorator, ast.Call):
                found[kind] += tuple(i for arg in decorator.args for i in self.ids(arg))
        return found

    def ids(self, arg: ast.expr) -> tuple[str, ...]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return (arg.value,)
        if isinstance(arg, ast.Starred):
            dotted = _dotted(arg.value, self.imports)
            if dotted:
                return tuple(str(i) for i in _load(dotted))
        raise MasivoError(
            f"{self.module}:{arg.lineno}: a marker argument that is neither a literal id nor "
            f"*an imported name ({ast.unparse(arg)})",
            "write the ids as literals, or teach suite/markers.py to read this form",
        )
