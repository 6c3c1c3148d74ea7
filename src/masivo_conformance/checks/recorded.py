"""Single-call judgements that only recorded traffic needs: the team's own requests.

A live run sends requests the suite made, so they are valid unless a test breaks one on
purpose. A recording holds whatever the team's code sent: a request that breaks the
contract's request schema is the *client's* finding (`request_problem`), shown apart and
charged to no requirement of the server. Some of those requests oblige the server to
refuse them (`refusals`): EMIT-2 (an emit missing customer_id, brand_id or type, or with
a documented member of the wrong JSON type), PRV-6 (a preview without customer_id,
brand_id or order) and REV-7 (a reverse without a reason, a SHOULD). A 5xx to them is
GEN-3's, judged on every answer, and not charged again.

`token_when_issued` judges AUTH-2 on a recorded authorize: the token's exp must lie after
the moment the answer was given (its Date header), not after now: a recorded token has
expired since. A token the recorder replaced (`<redacted>`, `FILTERED`: no JWT shape) is
no evidence either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from masivo_conformance import contract, scrub
from masivo_conformance.checks.calls import NOT_JSON, Call, answered_at
from masivo_conformance.checks.evidence import Verdict
from masivo_conformance.checks.invariants import is_4xx, status_among

__all__ = [
    "EMIT_REQUIRED",
    "REQUEST_SCHEMAS",
    "UNKEPT_AUTHORIZE",
    "RequestProblem",
    "refusals",
    "request_problem",
    "token_when_issued",
]

#: The request schema of each operation that takes a body (schemas/).
REQUEST_SCHEMAS = {
    "emit_event": "emit-event.request.schema.json",
    "preview_order": "preview-order.request.schema.json",
    "create_customer": "create-customer.request.schema.json",
    "reverse_event": "reverse-event.request.schema.json",
}
_BODY_REQUIRED = frozenset({"emit_event", "preview_order", "create_customer"})
# The members whose absence obliges a refusal (the statements of EMIT-2 and PRV-6).
EMIT_REQUIRED = frozenset({"customer_id", "brand_id", "type"})
_PREVIEW_REQUIRED = frozenset({"customer_id", "brand_id", "order"})
_SHOWN = 3  # schema problems quoted per request
UNKEPT_AUTHORIZE = (
    "the recorded authorize answers hold no token (the recorder replaced it): a token "
    "can only be judged where the recording kept it"
)


@dataclass(frozen=True)
class RequestProblem:
    """How one request breaks its operation's request schema."""

    schema: str
    problems: tuple[str, ...]  # "$.brand_id: 'brand_id' is a required property"
    missing: frozenset[str]  # top-level members the schema requires and the body lacks
    wrong_type: bool  # a member (or the body) of the wrong JSON type

    @property
    def message(self) -> str:
        shown = "; ".join(self.problems[:_SHOWN])
        more = f" (and {len(self.problems) - _SHOWN} more)" if len(self.problems) > _SHOWN else ""
        return f"the request breaks {self.schema}: {shown}{more}"


def request_problem(call: Call) -> RequestProblem | None:
    """How the request of `call` breaks its schema, or None (valid, or no schema)."""
    name = REQUEST_SCHEMAS.get(call.operation)
    if name is None:
        return None
    body = call.request_json
    if body is None:
        if call.operation not in _BODY_REQUIRED:
            return None
        return RequestProblem(
            name, ("no request body; a JSON object is required",), frozenset(), True
        )
    if body is NOT_JSON:
        return RequestProblem(name, ("the request body is not JSON",), frozenset(), True)
    # Most requests are valid: the slow walk over the errors only for those that are not.
    errors = (
        []
        if contract.is_valid(name, body)
        else sorted(
            contract.validator(name).iter_errors(body),
            key=lambda e: (len(e.absolute_path), e.message),
        )
    )
    if not errors:
        return None
    missing = frozenset(
        _missing_member(e.message)
        for e in errors
        if e.validator == "required" and not e.absolute_path
    )
    return RequestProblem(
        name,
        tuple(short_problem(e.json_path, e.message) for e in errors),
        missing,
        any(e.validator == "type" for e in errors),
    )


def short_problem(path: str, message: str) -> str:
    """One schema problem as a message quotes it (redacted and cut: it quotes the body)."""
    return f"{scrub.excerpt(path, 80)}: {scrub.excerpt(message, 160)}"


def _missing_member(message: str) -> str:
    # jsonschema says "'brand_id' is a required property".
    return message.split("'")[1] if message.count("'") >= 2 else message


def refusals(call: Call, problem: RequestProblem | None) -> list[Verdict]:
    """The refusals the server owed this request, each judged on its status."""
    if call.status >= 500:
        return []  # GEN-3's, judged on every answer
    verdicts = []
    if call.operation == "emit_event" and problem is not None:
        missing = problem.missing & EMIT_REQUIRED
        if missing or problem.wrong_type:
            what = (
                f"without {', '.join(sorted(missing))}" if missing else "a member of the wrong type"
            )
            verdicts.append(is_4xx(call, "EMIT-2", f"emit {what}"))
    if call.operation == "preview_order" and problem is not None:
        missing = problem.missing & _PREVIEW_REQUIRED
        if missing:
            verdicts.append(is_4xx(call, "PRV-6", f"preview without {', '.join(sorted(missing))}"))
    if call.operation == "authorize" and 400 <= call.status < 500 and call.status != 429:
        # Refused: the key was missing or wrong, which AUTH-2 answers with 401 or 403.
        verdicts.append(
            status_among(call, (401, 403), "AUTH-2", "authorize refused (a missing or wrong key)")
        )
    if call.operation == "reverse_event" and not _has_reason(call.request_json):
        verdicts.append(is_4xx(call, "REV-7", "reverse without a reason"))
    return verdicts


def _has_reason(body: Any) -> bool:
    return isinstance(body, dict) and "reason" in body


def token_when_issued(call: Call) -> Verdict | None:
    """AUTH-2 on a recorded authorize 200: a JWT with a numeric exp after the answer's
    Date (without a Date, its shape alone). None when the call is no such answer."""
    if call.operation != "authorize" or call.status != 200:
        return None
    token = call.data
    if isinstance(token, str) and token.count(".") != 2:
        return Verdict.moot("AUTH-2", UNKEPT_AUTHORIZE)
    where = f"{call.method} {call.url} answered {call.status}"
    try:
        claims: dict[str, Any] = jwt.decode(str(token), options={"verify_signature": False})
    except jwt.PyJWTError:
        return Verdict.of(
            "AUTH-2", False, f"{where}: 'data' is not a decodable JWT", call.reproducer
        )
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        return Verdict.of(
            "AUTH-2",
            False,
            f"{where}: JWT has no numeric exp (claims {sorted(claims)})",
            call.reproducer,
        )
    issued = answered_at(call)
    late = issued is not None and exp <= issued.timestamp()
    return Verdict.of(
        "AUTH-2",
        not late,
        f"{where}: JWT exp {exp} is not after the answer's Date ({call.headers.get('date')})",
        call.reproducer,
    )
