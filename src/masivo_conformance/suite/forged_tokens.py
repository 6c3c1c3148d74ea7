"""Bearer tokens no target may accept, for the requests that probe AUTH-1.

Here, in suite/, because forging is how those requests are made, not how their answers
are judged: the AUTH-1 probe of the fuzz run (suite/fuzzing.py) and the suite's AUTH-1
test (tests/contract/test_auth.py) send them, and the checks judge only the status that
comes back. What makes a token recognisably forged (`scrub.FORGED_HEADER`) stays with
redaction, which must tell such a token from a real one in every process, including one
that never forged anything (the xdist controller, a report written from result.json).
"""

from __future__ import annotations

import secrets
from typing import Any

import jwt

from masivo_conformance import scrub

__all__ = ["forge_jwt"]


def forge_jwt(
    model: str | None, *, key: str | None = None, algorithm: str = "HS256", **claims: Any
) -> str:
    """A JWT no target may accept, marked as the suite's own (`scrub.is_forged`).

    It carries the claims of `model` (a real token, read without verifying it) with
    `claims` over them, so only the signature tells it from a real one. Signed with
    `key`, by default a fresh random one nobody holds; `algorithm` "none" leaves it
    unsigned.
    """
    try:
        copied: dict[str, Any] = jwt.decode(model or "", options={"verify_signature": False})
    except jwt.PyJWTError:
        copied = {"sub": "masivo-conformance"}
    signing_key = None if algorithm == "none" else (key or secrets.token_hex(32))
    name, value = scrub.FORGED_HEADER
    return jwt.encode({**copied, **claims}, signing_key, algorithm=algorithm, headers={name: value})
