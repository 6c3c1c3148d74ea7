"""Schemathesis glue: the contract's OpenAPI document as a schemathesis schema for one
target, generated requests pointed at the suite's own data, and every answer judged in
requirement ids (schemathesis's built-in checks, translated, plus our single-call checks).

Only the built-in checks that enforce something the contract says are switched on, each
tuned to the contract's own strictness; `BUILTIN_CHECKS` maps each to its requirement.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis.core.failures import Failure, FailureGroup

from masivo_conformance import checks, contract, scrub
from masivo_conformance.checks.calls import NOT_JSON, Call
from masivo_conformance.checks.evidence import ConformanceViolation, Evidence, Verdict
from masivo_conformance.checks.reproducers import curl_for_prepared
from masivo_conformance.contract.routes import operation_name
from masivo_conformance.suite.bounded import BoundedSession, breach_of
from masivo_conformance.suite.budget import MAX_429_RETRIES, RequestBudget
from masivo_conformance.suite.tailoring import Tailor

__all__ = [
    "BUILTIN_CHECKS",
    "REQUIREMENTS",
    "AuthProbe",
    "call",
    "judge",
    "links_machine",
    "must_refuse",
    "observed",
    "requirement_for",
    "schema_for",
]

# Built-in check -> the requirement it enforces. Left out on purpose:
# * positive_data_acceptance: a schema-valid request may be refused by a business rule
#   (unknown customer, reward or event, issued_at outside the 72 h window, a state
#   conflict, a brand the key does not own); no MUST asks a target to accept those.
# * unsupported_method: a 404 instead of a 405 for an undocumented method breaks nothing
#   the contract says.
# * status_code_conformance: the contract is strict on the class, not the number
#   (section 1); 5xx is GEN-3 and the 2xx/4xx bodies are judged by GEN-1/GEN-2/GEN-4.
# * response_headers_conformance: the rate-limit headers are a SHOULD (GEN-5), judged by
#   the suite's own check, never a fuzzing failure.
# * use_after_free, ensure_resource_availability, object_level_authorization,
#   allow_header_conformance, max_response_time: no requirement says these things.
BUILTIN_CHECKS: dict[str, str] = {
    "not_a_server_error": "GEN-3",
    "response_schema_conformance": "GEN-4",  # on a 4xx body: GEN-2
    "content_type_conformance": "GEN-1",  # on a 4xx: GEN-2
    "ignored_auth": "AUTH-1",
    "missing_required_header": "AUTH-2",  # authorize without x-api-key: 401 or 403
    "negative_data_rejection": "EMIT-2",  # on preview: PRV-6; only refusals a MUST requires
}

_CHECK_SETTINGS: dict[str, dict[str, Any]] = {
    # Any 4xx is a refusal (section 1); a 5xx is GEN-3's, not this check's.
    "negative_data_rejection": {"expected-statuses": ["4XX"]},
    # AUTH-2: a missing API key is answered 401 or 403, nothing else.
    "missing_required_header": {"expected-statuses": ["401", "403"]},
}

# Our single-call checks of MUST requirements (SHOULDs never fail a fuzz run).
_MUST_CHECKS = checks.must_checks()

# What a fuzz run may judge: the fuzz tests carry these in their `explores` marker, which
# selects them with --requirement; their verdicts come from what they observed.
REQUIREMENTS: tuple[str, ...] = tuple(
    dict.fromkeys(
        ["GEN-1", "GEN-2", "GEN-3", "GEN-4", "AUTH-1", "AUTH-2", "EMIT-2", "PRV-6"]
        + [checks.CHECKS[name].requirement for name in _MUST_CHECKS]
    )
)

# Members whose absence obliges a refusal (EMIT-2, PRV-6).
_REQUIRED = {
    "emit_event": ("EMIT-2", ("customer_id", "brand_id", "type")),
    "preview_order": ("PRV-6", ("customer_id", "brand_id", "order")),
}
_MESSAGE_LIMIT = 600
_RATE_LIMITED = "got `429 "  # how schemathesis's own probes say they were rate limited


def schema_for(base_url: str, token: str, *, exhaustive: bool = False) -> Any:
    """The contract's OpenAPI document as a schemathesis schema aimed at one target.

    `exhaustive` adds schemathesis's coverage phase: every boundary and every single
    violation the schemas define, some 2,400 requests (emit and preview make most of
    them), so it belongs to the deep profile; otherwise only the profile's examples run.
    """
    settings: dict[str, Any] = {"enabled": False}  # every check off, then the kept ones on
    for name in BUILTIN_CHECKS:
        settings[name] = {"enabled": True, **_CHECK_SETTINGS.get(name, {})}
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


def must_refuse(operation: str, request_json: Any) -> str | None:
    """The requirement that obliges a 4xx for this request body, or None.

    EMIT-2: emit without customer_id, brand_id or type, or with a documented field of the
    wrong JSON type. PRV-6: preview without customer_id, brand_id or order. Other schema
    violations (an empty string, a negative value, an unknown enum) oblige nothing.
    """
    if operation not in _REQUIRED or request_json is NOT_JSON:
        return None
    requirement, members = _REQUIRED[operation]
    if not isinstance(request_json, dict) or any(m not in request_json for m in members):
        return requirement
    if operation == "emit_event":
        name = "emit-event.request.schema.json"
        errors = contract.validator(name).iter_errors(request_json)
        if any(e.validator == "type" and _obliges(e.instance, e.absolute_path) for e in errors):
            return requirement
    return None


def _obliges(instance: Any, path: Any) -> bool:
    """A wrong type obliges a refusal, but a null for an optional member does not: many
    servers read null as "not given", and no requirement says otherwise."""
    return instance is not None or list(path) in [[m] for m in _REQUIRED["emit_event"][1]]


def requirement_for(check: str, failure: Failure, call: Call) -> str | None:
    """The requirement a schemathesis failure breaks, or None when it breaks none."""
    success, refusal = 200 <= call.status < 300, 400 <= call.status < 500 and call.status != 429
    if (call.status == 429 and check != "not_a_server_error") or _RATE_LIMITED in failure.message:
        # Rate limited (this answer, or the probe a check sent): it says nothing of what
        # was asked; GEN-5 judges the 429 itself.
        return None
    if check == "not_a_server_error":
        return "GEN-3"
    if check in ("response_schema_conformance", "content_type_conformance"):
        if (
            call.status >= 500  # GEN-3 already says it
            # GEN-2 asks for JSON, not for exactly application/json
            or (refusal and check == "content_type_conformance" and "json" in call.content_type)
            or call.bare_event  # the envelope is GEN-1's, said once by our own check
        ):
            return None
        return (
            ("GEN-4" if check == "response_schema_conformance" else "GEN-1")
            if success
            else ("GEN-2" if refusal else None)
        )
    if check == "negative_data_rejection":
        return None if call.status >= 500 else must_refuse(call.operation, call.request_json)
    if check in BUILTIN_CHECKS:
        return BUILTIN_CHECKS[check]
    raise LookupError(
        f"schemathesis check {check!r} ({type(failure).__name__}) has no requirement: "
        "map it in fuzzing.BUILTIN_CHECKS or leave it switched off"
    )


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


def _failures(case: Any, response: Any, kwargs: dict[str, Any]) -> list[tuple[str, Failure]]:
    """(check name, failure) for each kept built-in check that fails on this exchange.

    None on an answer cut at a bound (suite/bounded.py): GEN-3 says it, and the checks
    would read the cut body, or probe the target again with schemathesis's own session,
    which reads whatever comes whole."""
    if breach_of(response.request):
        return []
    try:
        case.validate_response(response, **kwargs)  # the schema's config runs the kept checks
    except FailureGroup as group:
        return [(_check_of(failure), failure) for failure in group.exceptions]
    return []


def _check_of(failure: Failure) -> str:
    """The kept check that reports this kind of failure (a kind may list several)."""
    kept = [name for name in type(failure).checks if name in BUILTIN_CHECKS]
    return kept[0] if kept else type(failure).__name__


def judge(case: Any, response: Any, evidence: Evidence, **kwargs: Any) -> Call | None:
    """Judge one exchange; record every verdict in `evidence` (nothing is raised, so the
    run goes on and one broken answer hides no other rule).

    `kwargs` go to schemathesis's `validate_response` (`transport_kwargs`, `recorder`).
    """
    call = observed(case, response)
    if call is None:
        return None
    violated = checks.judge_call(call, evidence, _MUST_CHECKS)
    where = f"{call.method} {call.url} answered {call.status}"
    for name, failure in _failures(case, response, kwargs):
        requirement = requirement_for(name, failure, call)
        # A requirement our own check already named is said once, in our words.
        if requirement is not None and requirement not in violated:
            violated.add(requirement)
            # Redacted whole, then cut: the message quotes what the target answered.
            detail = scrub.excerpt(" ".join(failure.message.split()), _MESSAGE_LIMIT)
            text = f"{where}: schemathesis {name}: {failure.title}: {detail}"
            evidence.violated(ConformanceViolation(requirement, text, call.reproducer))
    refusal = must_refuse(call.operation, call.request_json)
    refused = 400 <= call.status < 500 and call.status != 429  # 429 says nothing of the body
    if refusal is not None and refusal not in violated and refused:
        evidence.held(refusal)  # a request the contract says to refuse was refused
    return call


@dataclass
class AuthProbe:
    """AUTH-1 beyond schemathesis's ignored_auth, whose probes send tokens that are not
    JWTs at all: after an operation's first 2xx, the same request is sent once more with
    a JWT that carries our token's claims but another party's signature; it must be
    answered 401 or 403."""

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
        token = scrub.forge_jwt(self.token, iat=now, exp=now + 3600)
        forged = case.derive(headers={**headers, "Authorization": f"Bearer {token}"})
        answer = observed(forged, call(forged, self.budget))
        if answer is None:
            return
        self.evidence.expect(
            Verdict.of(
                "AUTH-1",
                answer.status in (401, 403),
                f"{answer.method} {answer.url} answered {answer.status} to a JWT signed by "
                "someone else (our token's claims, a foreign key); expected 401 or 403",
                answer.reproducer,
            )
        )


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
