"""Schemathesis glue: the contract's OpenAPI document as a schemathesis schema for one
target, generated requests pointed at the suite's own data and sent within the run's
budget, and every exchange handed to checks/fuzzed.py to be judged (as a `Call`, with
the built-in checks' failures as plain `BuiltinFailure`s).

Only the built-in checks that enforce something the contract says are switched on, as
strict as checks/fuzzed.py's `BUILTIN_CHECK_SETTINGS` tune them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.core.failures import Failure, FailureGroup

from masivo_conformance import contract
from masivo_conformance.checks import fuzzed
from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.checks.fuzzed import BuiltinFailure
from masivo_conformance.checks.reproducers import curl_for_prepared
from masivo_conformance.contract.routes import operation_name
from masivo_conformance.suite.bounded import BoundedSession, breach_of
from masivo_conformance.suite.budget import MAX_429_RETRIES, RequestBudget
from masivo_conformance.suite.forged_tokens import forge_jwt
from masivo_conformance.suite.tailoring import Tailor

__all__ = [
    "AuthProbe",
    "call",
    "judge",
    "links_machine",
    "observed",
    "schema_for",
]


def schema_for(base_url: str, token: str, *, exhaustive: bool = False) -> Any:
    """The contract's OpenAPI document as a schemathesis schema aimed at one target.

    `exhaustive` adds schemathesis's coverage phase: every boundary and every single
    violation the schemas define, some 2,400 requests (emit and preview make most of
    them), so it belongs to the deep profile; otherwise only the profile's examples run.
    """
    settings: dict[str, Any] = {"enabled": False}  # every check off, then the kept ones on
    for name in fuzzed.BUILTIN_CHECKS:
        settings[name] = {"enabled": True, **fuzzed.BUILTIN_CHECK_SETTINGS.get(name, {})}
    config = schemathesis.Config.from_dict(
        {
            "base-url": base_url,
            "auth": {"openapi": {"bearerAuth": {"bearer": token}}},
            "generation": {"mode": "all"},  # positive and negative
            "phases": {"coverage": {"enabled": exhaustive}},
            "checks": settings,
        }
    )
    return schemathesis.openapi.from_path(contract.openapi_path(), config=config)


def observed(case: Any, response: Any) -> Call | None:
    """A schemathesis exchange as a `Call` (None for a path outside the contract)."""
    request = response.request
    body = request.body.encode() if isinstance(request.body, str) else request.body
    headers = {name: ", ".join(values) for name, values in response.headers.items()}
    text = response.content.decode("utf-8", errors="replace")
    return Call.build(
        str(request.method),
        str(request.url),
        body,
        response.status_code,
        headers,
        text,
        lambda: _curl(response),  # built only if someone reads it (a violation)
        breach=breach_of(request),  # what fuzzing.call's session found reading the answer
    )


def _curl(response: Any) -> str:
    """The curl line of what schemathesis sent, built from the request itself (not from
    schemathesis's own line, whose credentials are filtered and whose text is quoted
    already): the run's key and token as variables, a forged or wrong one as sent."""
    return curl_for_prepared(response.request)


def call(case: Any, budget: RequestBudget | None = None, **kwargs: Any) -> Any:
    """Send a generated request, waiting out a 429 as the suite's own client does: a
    rate-limited answer judges nothing, and a state machine whose links depend on
    answers must see the same answers when Hypothesis runs a step again.

    Each request (retries included) is taken from the run's `budget`: --max-requests
    and --max-time cap fuzzing too, and a Retry-After is waited out within both. The
    answers are read by a session of ours (suite/bounded.py), under the bounds the
    suite's client reads its own with: schemathesis's would read any body whole, and
    for as long as it keeps coming.
    """
    budget = budget if budget is not None else RequestBudget()
    operation = operation_name(case.method, case.path)
    with BoundedSession(timeout=budget.timeout, budget=budget) as session:
        # Ours wins over a session or timeout in `kwargs`: no answer is read unbounded.
        kwargs = {**kwargs, "session": session, "timeout": budget.timeout}
        budget.take(operation)
        response = case.call(**kwargs)
        for _ in range(MAX_429_RETRIES):
            if response.status_code != 429:
                break
            budget.wait_to_retry(_header(response, "Retry-After"), f"{case.method} {case.path}")
            budget.take(operation)
            response = case.call(**kwargs)
    return response


def _header(response: Any, name: str) -> str | None:
    """A header of schemathesis's answer, whose names are lower case and whose values
    are lists (a plain mapping of strings is read too)."""
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            return ", ".join(value) if isinstance(value, list) else str(value)
    return None


def _failures(case: Any, response: Any, kwargs: dict[str, Any]) -> Iterator[BuiltinFailure]:
    """What each kept built-in check that fails on this exchange reported.

    A generator: the kept checks run (and ignored_auth sends its probes) only when
    `fuzzed.judge_answer` reads it, after our own checks have judged the answer, so a
    probe that cannot be sent loses none of their verdicts.

    Nothing on an answer cut at a bound (suite/bounded.py): GEN-3 says it, and the checks
    would read the cut body, or probe the target again with schemathesis's own session,
    which reads whatever comes whole."""
    if breach_of(response.request):
        return
    try:
        case.validate_response(response, **kwargs)  # the schema's config runs the kept checks
    except FailureGroup as group:
        for failure in group.exceptions:
            yield BuiltinFailure(_check_of(failure), failure.title, failure.message)


def _check_of(failure: Failure) -> str:
    """The kept check that reports this kind of failure (a kind may list several)."""
    kept = [name for name in type(failure).checks if name in fuzzed.BUILTIN_CHECKS]
    return kept[0] if kept else type(failure).__name__


def judge(case: Any, response: Any, evidence: Evidence, **kwargs: Any) -> Call | None:
    """Judge one exchange (checks/fuzzed.py); every verdict goes to `evidence`.

    `kwargs` go to schemathesis's `validate_response` (`transport_kwargs`, `recorder`).
    """
    call = observed(case, response)
    if call is None:
        return None
    fuzzed.judge_answer(call, _failures(case, response, kwargs), evidence)
    return call


@dataclass
class AuthProbe:
    """AUTH-1 beyond schemathesis's ignored_auth, whose probes send tokens that are not
    JWTs at all: after an operation's first 2xx, the same request is sent once more with
    a JWT that carries our token's claims but another party's signature, and its answer
    is judged by `fuzzed.foreign_signature_refused`."""

    # Not in the repr: Hypothesis prints fixtures' reprs in its reports, and those reach
    # junit.xml and the terminal.
    token: str = field(repr=False)
    evidence: Evidence = field(repr=False)
    budget: RequestBudget | None = field(default=None, repr=False)
    probed: set[str] = field(default_factory=set)

    def __call__(self, case: Any, response: Any) -> None:
        label = case.operation.label
        headers = dict(case.headers or {})
        if label in self.probed or not 200 <= response.status_code < 300:
            return
        if not any(name.lower() == "authorization" for name in headers):
            return  # an operation without bearer auth (authorize)
        self.probed.add(label)
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        now = int(time.time())
        token = forge_jwt(self.token, iat=now, exp=now + 3600)
        forged = case.derive(headers={**headers, "Authorization": f"Bearer {token}"})
        answer = observed(forged, call(forged, self.budget))
        if answer is None:
            return
        self.evidence.expect(fuzzed.foreign_signature_refused(answer))


def links_machine(
    schema: Any, tailor: Tailor, probe: AuthProbe, seen: Callable[[Call], None]
) -> Any:
    """schemathesis's state machine over the OpenAPI links, judging like the fuzz test.

    `seen` gets every judged call (the suite's event log, for cleanup on a real target).
    Verdicts go to the probe's evidence as they are made; nothing is raised, so
    Hypothesis never replays a scenario against a server whose state has moved on.
    """

    class LinksStateMachine(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            tailor.apply(case)

        def call(self, case: Any, **kwargs: Any) -> Any:
            return call(case, probe.budget, **kwargs)

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            call = judge(
                case,
                response,
                probe.evidence,
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )
            if call is not None:
                tailor.note(call)
                seen(call)
            probe(case, response)

    return LinksStateMachine
