"""Sequence reproducers (checks/sequences.py, checks/replayer.py): a script of standard
library only, whose data no value can turn into code, and whose comparison ignores what
differs between two replays (ids, times) but not what a fault changes."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

from masivo_conformance.checks import replayer, sequences

HOSTILE = "x'''\"\"\"\\\n\r\x1b[31m${HOME}$(touch pwned)`id`; import os #\u2028"


def _data(text: str) -> dict[str, Any]:
    step = {
        "method": "GET",
        "path": f"/customers/{text}",
        "template": text,
        "headers": [["X-Note", text, ""]],
        "body": text,
        "group": 0,
        "pause": 0.0,
        "owns": False,
        "seen": {"status": 200, "body": {text: text}},
    }
    return {
        "requirement": "REV-2",
        "message": text,
        "base_url": "http://127.0.0.1:9",
        "fresh": [[text, "mc-test-repro-"]],
        "bind": [[text, 1, ["data", text]]],
        "steps": [step],
    }


def test_the_replayer_needs_only_the_standard_library() -> None:
    tree = ast.parse(Path(replayer.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        str(node.module).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_no_value_in_the_data_becomes_code(tmp_path: Path) -> None:
    """Quotes, newlines, escapes and shell syntax in every field stay data: the script
    parses, and what it would replay is exactly the data given."""
    data = _data(HOSTILE)
    text = sequences.script(data, title=HOSTILE)
    tree = ast.parse(text)  # a newline in the title would have broken out of the comment
    assigned = [n for n in tree.body if isinstance(n, ast.Assign)]
    assert [t.id for n in assigned for t in n.targets if isinstance(t, ast.Name)][-1] == "DATA"
    assert text.isascii()
    namespace: dict[str, Any] = {"__name__": "not_main"}
    exec(compile(text, "reproducer", "exec"), namespace)  # noqa: S102 (our own script, to read DATA)
    assert namespace["DATA"] == data
    assert not (tmp_path / "pwned").exists()


def test_without_credentials_it_says_so_in_one_line_and_exits_2(tmp_path: Path) -> None:
    data = _data("c-1")
    data["steps"][0]["headers"] = [["Authorization", "Bearer $MASIVO_TOKEN", "token"]]
    script = tmp_path / "r.py"
    script.write_text(sequences.script(data), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-I", str(script)],
        env={},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout.strip().splitlines() == [
        "set MASIVO_TOKEN, or MASIVO_API_KEY to get a token from authorize"
    ]


def test_what_differs_between_two_replays_is_compared_by_kind() -> None:
    """Ids, times and texts differ on every replay; statuses, amounts and types do not."""
    one = '{"data": {"id": "4f1c2a9e-7b3d-4c58-a6e0-b1d2c3f4a5b6", "status": "RESOLVED",'
    two = '{"data": {"id": "0b6a1f7e-2c3d-4e5f-8a9b-0c1d2e3f4a5b", "status": "RESOLVED",'
    tail_one = ' "issued_at": "2026-12-04T10:00:00Z", "amount": 120, "note": "a b"}}'
    tail_two = ' "issued_at": "2026-12-05T11:30:00.5+01:00", "amount": 120, "note": "c d"}}'
    first = replayer.observed(201, {}, one + tail_one)
    assert first == replayer.observed(201, {}, two + tail_two)
    for changed in (
        one.replace("RESOLVED", "resolved") + tail_one,  # an enum's case
        one + tail_one.replace("120", "240"),  # an amount
        one + tail_one.replace('"2026-12-04T10:00:00Z"', '"2026-12-04T10:00:00"'),  # no offset
        one + tail_one.replace('"2026-12-04T10:00:00Z"', "1796405629"),  # epoch seconds
        one + tail_one.replace("120", '"120"'),  # a number as a string
    ):
        assert replayer.observed(201, {}, changed) != first, changed
    assert replayer.observed(200, {}, one + tail_one) != first  # the status
