"""General checks: envelopes, server errors, schemas, rate-limit headers, tokens."""

from __future__ import annotations

import time
from typing import Any

import jwt

from masivo_conformance import contract
from masivo_conformance.checks import check, fail
from masivo_conformance.checks.calls import EVENT_OPERATIONS, NOT_JSON, Call, is_event
from masivo_conformance.checks.values import short

# -- general -------------------------------------------------------------------------------


@check("GEN-1")
def success_envelope(call: Call) -> bool:
    """A 2xx answer is application/json with the payload under a top-level `data`.

    Judged on `data` alone: other members beside it are allowed (section 3 asks for
    `data`, not for nothing else), and media types are compared as media types.
    """
    if not 200 <= call.status < 300:
        return False
    if call.media_type != "application/json":
        fail("GEN-1", call, f"content type {call.content_type!r}, expected application/json")
    if call.bare_event:
        fail("GEN-1", call, "the Event is at the top level; it belongs under 'data'")
    if not isinstance(call.body, dict) or "data" not in call.body:
        fail("GEN-1", call, f"body has no top-level 'data' member: {short(call.body)}")
    if call.operation in EVENT_OPERATIONS and not is_event(call.body["data"]):
        fail("GEN-1", call, f"'data' is not an Event: {short(call.body['data'])}")
    return True


def _json_media_type(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


@check("GEN-2")
def error_envelope(call: Call) -> bool:
    """A 4xx answer (but 429) is JSON {error: string, details: string}."""
    if not 400 <= call.status < 500 or call.status == 429:
        return False
    body = call.body
    if body is NOT_JSON or not isinstance(body, dict):
        fail("GEN-2", call, f"error body is not a JSON object: {short(call.text)}")
    if not _json_media_type(call.media_type):
        fail("GEN-2", call, f"error body sent as {call.content_type!r}, expected JSON")
    for member in ("error", "details"):
        if not isinstance(body.get(member), str):
            fail("GEN-2", call, f"error body lacks a string {member!r}: {short(body)}")
    return True


# A cut answer is quoted only when it is short: quoting redacts the whole text before
# cutting it (docs/decisions.md, "Redact, then cut"), which takes up to seconds on the
# 8 MiB of a large one, to show 160 characters of little use.
_QUOTED_BREACH = 4096


@check("GEN-3")
def no_server_error(call: Call) -> bool:
    """No 5xx, and an answer the suite can read whole (docs/decisions.md, "Bounded
    reads"): GEN-3 promises every request a usable answer, and a cut one is none."""
    if call.breach:
        read = f"{len(call.text):,} characters read"
        if len(call.text) <= _QUOTED_BREACH:
            read += f": {short(call.text)}"
        fail("GEN-3", call, f"no usable answer: {call.breach} ({read})")
    if call.status >= 500:
        fail("GEN-3", call, f"a server error (body {short(call.text)})")
    return True


@check("GEN-4")
def response_schema(call: Call) -> bool:
    """A 2xx JSON payload validates against the operation's response schema.

    The envelope is GEN-1's: a bare Event is judged as the payload it carries.
    """
    if not 200 <= call.status < 300 or call.body is NOT_JSON:
        return False
    name = call.operation.replace("_", "-") + ".response.schema.json"
    body = {"data": call.body} if call.bare_event else call.body
    violations = contract.validate(name, body)
    if violations:
        shown = "; ".join(str(v) for v in violations[:3])
        fail("GEN-4", call, f"body breaks {name}: {shown}")
    return True


@check("GEN-5")
def rate_limit_headers(call: Call) -> bool:
    wanted = ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"]
    if call.status == 429:
        wanted.append("retry-after")
    missing = [h for h in wanted if h not in call.headers]
    if missing:
        fail("GEN-5", call, f"missing headers {missing}")
    return True


# -- authentication ---------------------------------------------------------------------------


def _claims(call: Call) -> dict[str, Any] | None:
    token = call.data
    if not isinstance(token, str):
        return None
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    return claims


@check("AUTH-2")
def token_shape(call: Call) -> bool:
    """authorize's 200 carries a JWT whose numeric exp is in the future."""
    if call.operation != "authorize" or call.status != 200:
        return False
    claims = _claims(call)
    if claims is None:
        fail("AUTH-2", call, "'data' is not a decodable JWT")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        fail("AUTH-2", call, f"JWT has no numeric exp (claims {sorted(claims)})")
    elif exp <= time.time():
        fail("AUTH-2", call, f"JWT exp {exp} is not in the future")
    return True


@check("AUTH-3")
def token_lifetime(call: Call) -> bool:
    """The JWT lives at most an hour; judged only where both exp and iat are numbers."""
    if call.operation != "authorize" or call.status != 200:
        return False
    claims = _claims(call) or {}
    exp, iat = claims.get("exp"), claims.get("iat")
    if not (isinstance(exp, int | float) and isinstance(iat, int | float)):
        return False
    if exp - iat > 3600:
        fail("AUTH-3", call, f"JWT lives {exp - iat:.0f} s, more than one hour")
    return True
