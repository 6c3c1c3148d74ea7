"""schemathesis's state machine over the contract's OpenAPI links: create a customer,
then read it, emit for it and preview for it; emit an event, then fulfil or reverse it.

Every answer on the way is judged like the fuzz test's (`fuzzing.judge`). The machine is
built from the session target's schema at run time, so it runs inside the test with
`LinksStateMachine.run(...)`, schemathesis 4's way of running a machine outside its
own `TestCase`; scenarios and their length come from the active Hypothesis profile.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from masivo_conformance.checks import fuzzed
from masivo_conformance.suite import fuzzing
from masivo_conformance.suite.client import ApiClient
from masivo_conformance.suite.storefront import EventLog, Storefront
from masivo_conformance.suite.tailoring import Tailor
from masivo_conformance.suite.target import Target


@pytest.mark.explores(*fuzzed.REQUIREMENTS)
@pytest.mark.writes
def test_linked_operations_keep_the_contract(
    storefront: Storefront,
    masivo_target: Target,
    masivo_client: ApiClient,
    masivo_events: EventLog,
) -> None:
    schema = fuzzing.schema_for(masivo_target.base_url, masivo_client.token())
    links_state_machine = fuzzing.links_machine(
        schema,
        Tailor.prepare(storefront),
        fuzzing.AuthProbe(masivo_client.token(), storefront.evidence, masivo_client.budget),
        masivo_events.saw,
    )
    # The profile's max_examples scenarios of at most stateful_step_count steps; every
    # verdict is recorded as it is made, so the machine itself never fails on one.
    links_state_machine.run(settings=settings(settings.default, report_multiple_bugs=False))
