"""What the suite does to spend less CPU per request must not change what it judges:
the compiled validator agrees with python-jsonschema, and a reproducer built late is the
one that would have been built at once."""

from __future__ import annotations

import copy
import gc
import json
import re
from pathlib import Path
from typing import Any

import pytest

from masivo_conformance import contract
from masivo_conformance.checks.calls import Call
from masivo_conformance.contract import schemas
from masivo_conformance.suite import runner
from masivo_conformance.suite.session import SuiteOptions
from masivo_conformance.suite.settings import Settings

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAYLOADS = sorted(p.name for p in (FIXTURES / "payloads").glob("*.json"))
UUID = "5d8c2a10-3f4e-4c7b-8a9d-0e1f2a3b4c5d"


def load(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


def python_only(name: str, instance: Any) -> list[schemas.SchemaViolation]:
    """What `validate` answered before it had a fast path: python-jsonschema alone."""
    errors = sorted(
        schemas.validator(name).iter_errors(instance), key=lambda e: -len(e.absolute_path)
    )
    return [schemas.SchemaViolation(e.json_path, e.message) for e in errors]


def test_every_format_of_the_contract_is_checked_by_python_jsonschema() -> None:
    # A format the fast path left to jsonschema_rs could be read more leniently there,
    # and an answer would pass that python-jsonschema refuses.
    used = set()
    for path in contract.schemas_dir().glob("*.schema.json"):
        used |= set(re.findall(r'"format":\s*"([^"]+)"', path.read_text(encoding="utf-8")))
    assert used == set(schemas._FORMATS)


def transaction(**members: Any) -> dict[str, Any]:
    return {"id": UUID, "type": "ACCUMULATION", "amount": 5, **members}


CASES: list[tuple[str, Any]] = [
    *[(name.removesuffix(".json") + ".schema.json", load(f"payloads/{name}")) for name in PAYLOADS],
    ("transaction.schema.json", transaction(created_at="2026-11-26T10:00:00Z")),
    # jsonschema_rs reads a leap second on any day as a date-time; python-jsonschema not.
    ("transaction.schema.json", transaction(created_at="2026-12-31T23:59:60Z")),
    ("transaction.schema.json", transaction(created_at="2026-11-26 10:00")),
    ("transaction.schema.json", transaction(created_at=1764150000)),
    # python-jsonschema reads non-ASCII digits in a uuid; jsonschema_rs does not.
    ("transaction.schema.json", transaction(id="\uff13" + UUID[1:])),
    ("transaction.schema.json", transaction(id="not-a-uuid")),
    ("transaction.schema.json", transaction(type="accumulation")),
    ("transaction.schema.json", transaction(amount=float("nan"))),  # not JSON to Rust
    ("transaction.schema.json", transaction(details="\ud800")),  # a lone surrogate
    ("list-transactions.response.schema.json", {"data": [transaction()] * 50}),
    ("list-transactions.response.schema.json", {"data": [transaction(), {"type": "X"}]}),
    ("error.schema.json", {"error": "Bad request"}),
]


@pytest.mark.parametrize(("name", "instance"), CASES)
def test_validate_answers_what_python_jsonschema_alone_answers(name: str, instance: Any) -> None:
    assert contract.validate(name, instance) == python_only(name, instance)


def test_the_fast_path_decides_only_valid_answers() -> None:
    # The cases above hold both kinds; a fast path that said "valid" to everything would
    # pass them only if python-jsonschema did too, so check that it really refuses.
    bad = transaction(created_at="2026-12-31T23:59:60Z")
    assert not schemas._fast_validator("transaction.schema.json").is_valid(bad)
    assert schemas._fast_validator("transaction.schema.json").is_valid(transaction())


def test_a_mutated_payload_gets_python_jsonschemas_messages() -> None:
    body = copy.deepcopy(load("payloads/emit-event.request.json"))
    body["issued_at"] = "yesterday"
    body.pop("type")
    violations = contract.validate("emit-event.request.schema.json", body)
    assert violations == python_only("emit-event.request.schema.json", body)
    assert {v.path for v in violations} == {"$", "$.issued_at"}


def test_a_reproducer_is_built_when_read_and_once() -> None:
    built: list[str] = []

    def reproduce() -> str:
        built.append("curl")
        return "curl -sS https://target.example/customers/c-1"

    call = Call.build(
        "GET", "https://target.example/customers/c-1", None, 200, {}, '{"data": {}}', reproduce
    )
    assert call is not None
    assert built == []  # judging an answer that holds reads no reproducer
    assert call.reproducer == call.reproducer == "curl -sS https://target.example/customers/c-1"
    assert built == ["curl"]


def test_a_reproducer_given_as_text_is_kept() -> None:
    call = Call.build("GET", "https://target.example/rewards", None, 200, {}, "{}", "curl x")
    assert call is not None
    assert call.reproducer == "curl x"


def test_a_session_collects_garbage_less_often_and_restores_the_collector(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        "import gc\n"
        "from masivo_conformance.suite import session\n"
        "def test_x():\n"
        "    assert gc.get_threshold() == session._GC_THRESHOLDS\n"
        "    assert gc.get_freeze_count() > 0\n"
    )
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        result = pytester.runpytest_inprocess("-p", "masivo_conformance.suite.session")
        result.assert_outcomes(passed=1)
        assert gc.get_threshold() == (700, 10, 10)
        assert gc.get_freeze_count() == 0  # a session of plain pytest unfreezes the heap
    finally:
        gc.set_threshold(*before)


def test_the_runner_unfreezes_the_heap_after_pytests_own_end_of_run_collections(
    pytester: pytest.Pytester,
) -> None:
    """`run_pytest` keeps the heap frozen through pytest's end-of-run collections (its
    session does not thaw), and unfreezes it once pytest.main has returned."""
    test = pytester.makepyfile(
        "import gc\n"
        "import pytest\n"
        "@pytest.mark.requirement('GEN-1')\n"
        "def test_x():\n"
        "    assert gc.get_freeze_count() > 0\n"
    )
    seen = pytester.path / "frozen-at-unconfigure"
    pytester.makeconftest(
        "import gc\n"
        "import pytest\n"
        "@pytest.hookimpl(trylast=True)\n"
        "def pytest_unconfigure():\n"
        f"    open({str(seen)!r}, 'w').write(str(gc.get_freeze_count()))\n"
    )
    options = SuiteOptions(Settings())
    run = runner.run_pytest([test], ["-p", "no:cacheprovider"], options, quiet=True)
    assert [o.outcome for o in run.outcomes] == ["passed"]
    assert int(seen.read_text()) > 0  # still frozen when pytest collects at its end
    assert gc.get_freeze_count() == 0
