"""How the answers to generated requests are judged, in requirement ids: which of
schemathesis's built-in checks enforce something the contract says (and how strictly),
what their failures mean on a given answer, the refusals a MUST demands of a generated
body, and AUTH-1 on a token signed by someone else.

The glue (suite/fuzzing.py) runs schemathesis and sends; it hands over each exchange as
a `Call` and each built-in check's failure as a `BuiltinFailure`, so nothing here reads
a type of the fuzzing library.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from masivo_conformance import checks, contract, scrub
from masivo_conformance.checks.calls import NOT_JSON, Call
from masivo_conformance.checks.evidence import ConformanceViolation, Evidence, Verdict

__all__ = [
    "BUILTIN_CHECKS",
    "BUILTIN_CHECK_SETTINGS",
    "REQUIREMENTS",
    "BuiltinFailure",
    "foreign_signature_refused",
    "judge_answer",
    "must_refuse",
    "requirement_for",
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

# What a kept check is told to accept, in schemathesis's settings, so that it is as
# strict as the contract and no stricter.
BUILTIN_CHECK_SETTINGS: dict[str, dict[str, Any]] = {
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


@dataclass(frozen=True)
class BuiltinFailure:
    """What one of schemathesis's built-in checks reported on an exchange."""

    check: str  # a name of BUILTIN_CHECKS, or the failure's kind when no kept check has it
    title: str
    message: str  # it quotes what the target answered: redacted before it is shown


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


def requirement_for(failure: BuiltinFailure, call: Call) -> str | None:
    """The requirement a built-in check's failure breaks, or None when it breaks none."""
    check = failure.check
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
        f"schemathesis check {check!r} has no requirement: "
        "map it in checks/fuzzed.py's BUILTIN_CHECKS or leave it switched off"
    )


def judge_answer(call: Call, failures: Iterable[BuiltinFailure], evidence: Evidence) -> None:
    """Judge the answer to a generated request: our single-call MUST checks, then the
    built-in checks' `failures` in requirement ids, then the refusal a MUST demanded.

    Every verdict goes to `evidence` and nothing is raised, so the run goes on and one
    broken answer hides no other rule.
    """
    violated = checks.judge_call(call, evidence, _MUST_CHECKS)
    where = f"{call.method} {call.url} answered {call.status}"
    for failure in failures:
        requirement = requirement_for(failure, call)
        # A requirement our own check already named is said once, in our words.
        if requirement is not None and requirement not in violated:
            violated.add(requirement)
            # Redacted whole, then cut: the message quotes what the target answered.
            detail = scrub.excerpt(" ".join(failure.message.split()), _MESSAGE_LIMIT)
            text = f"{where}: schemathesis {failure.check}: {failure.title}: {detail}"
            evidence.violated(ConformanceViolation(requirement, text, call.reproducer))
    refusal = must_refuse(call.operation, call.request_json)
    refused = 400 <= call.status < 500 and call.status != 429  # 429 says nothing of the body
    if refusal is not None and refusal not in violated and refused:
        evidence.held(refusal)  # a request the contract says to refuse was refused


def foreign_signature_refused(answer: Call) -> Verdict:
    """AUTH-1 on the answer to a request whose bearer JWT carries our token's claims but
    another party's signature: it must be 401 or 403."""
    return Verdict.of(
        "AUTH-1",
        answer.status in (401, 403),
        f"{answer.method} {answer.url} answered {answer.status} to a JWT signed by "
        "someone else (our token's claims, a foreign key); expected 401 or 403",
        answer.reproducer,
    )
