"""Schemathesis over every operation of the contract, positive and negative data.

Each generated request goes to the session's target; its answer is judged by the kept
schemathesis checks (translated into requirement ids by `fuzzing.judge`) and by every
single-call MUST check of the suite. The number of examples per operation comes from
the active Hypothesis profile (quick, ci, deep).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis

from masivo_conformance import fuzzing
from masivo_conformance.client import ApiClient
from masivo_conformance.storefront import EventLog, Storefront
from masivo_conformance.target import Target


@pytest.fixture
def fuzz_schema(
    request: pytest.FixtureRequest, masivo_target: Target, masivo_client: ApiClient
) -> Any:
    exhaustive = request.config.getoption("--profile") == "deep"
    # schemathesis 4.32 renames its per-operation reports through `Node._nodeid`, which
    # pytest 9 no longer has: give it one, so the reports keep this test's node id.
    request.node._nodeid = request.node.nodeid
    return fuzzing.schema_for(
        masivo_target.base_url, masivo_client.token(), exhaustive=exhaustive
    )


@pytest.fixture
def tailor(storefront: Storefront) -> fuzzing.Tailor:
    return fuzzing.Tailor(storefront.brand_id, storefront.create_customer())


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@pytest.mark.requirement(*fuzzing.REQUIREMENTS)
@pytest.mark.writes
def test_generated_requests_keep_the_contract(
    case: Any, tailor: fuzzing.Tailor, masivo_events: EventLog
) -> None:
    _COUNT[(case.operation.label, case.meta.phase.name.value if case.meta else "?", str(case.meta.generation.mode) if case.meta else "?")] += 1
    tailor.apply(case)
    response = case.call()
    call = fuzzing.judge(case, response)
    if call is not None:
        masivo_events.saw(call)  # events it created are reversed at the end on a real target
import collections, atexit
_COUNT = collections.Counter()
atexit.register(lambda: print("\n".join(f"{k}: {v}" for k, v in sorted(_COUNT.items()))))
