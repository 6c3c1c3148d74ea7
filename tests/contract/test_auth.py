"""AUTH-1: every operation but authorize refuses a bad bearer token with 401 or 403."""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import pytest

from masivo_conformance.checks.invariants import status_among
from masivo_conformance.suite.forged_tokens import forge_jwt
from masivo_conformance.suite.storefront import PlannedCall, Storefront


def _bad_tokens(real: str) -> dict[str, str | None]:
    """Tokens no target may accept; built from the real token's claims where one exists.

    The JWTs are forged (`forge_jwt`), so reports show them as sent and a reproducer
    sends the very token the target accepted.
    """
    now = int(time.time())
    foreign_key = secrets.token_hex(32)
    # The target's own signature under claims it never signed: the reproducer takes a
    # signature from the reader's token ($MASIVO_TOKEN), as the real one is secret.
    header, payload, _ = forge_jwt(real, exp=now + 86_400 * 365).split(".")
    signature = real.rsplit(".", 1)[1] if real.count(".") == 2 else ""
    return {
        "missing": None,
        "empty": "Bearer",
        "malformed": "Bearer not.a.jwt",
        "not-bearer": f"Basic {base64.b64encode(b'user:pass').decode()}",
        "foreign-signed": "Bearer " + forge_jwt(real, key=foreign_key, exp=now + 3600),
        "expired-foreign": "Bearer "
        + forge_jwt(real, key=foreign_key, exp=now - 3600, iat=now - 7200),
        "alg-none": "Bearer " + forge_jwt(real, algorithm="none", exp=now + 3600),
        "tampered-claims": f"Bearer {header}.{payload}.{signature}",
    }


def _operations(customer: str, brand: str, event: str) -> list[tuple[str, str, Any]]:
    return [
        ("POST", "/customers", {"id": f"{customer}-x", "name": "n", "email": "a@example.invalid"}),
        ("GET", f"/customers/{customer}", None),
        ("GET", "/rewards?from=0&to=5", None),
        ("GET", f"/transactions?event_id={event}", None),
        (
            "POST",
            "/behavior/events",
            {"customer_id": customer, "brand_id": brand, "type": "PURCHASE"},
        ),
        ("PATCH", f"/behavior/events/{event}/fulfill", None),
        ("POST", f"/behavior/events/{event}/reverse", {"reason": "auth test"}),
        (
            "PUT",
            "/events/redeem/preview",
            {"customer_id": customer, "brand_id": brand, "order": {"value": 10}},
        ),
    ]


def _with_token(
    method: str, path: str, body: Any, label: str, authorization: str | None
) -> tuple[str, PlannedCall]:
    """An operation sent with a bad token (`authorization`; None: no Authorization at
    all), and what it is, for the verdict's message."""
    headers = {} if authorization is None else {"Authorization": authorization}
    # What names the customer goes one after another (`PlannedCall.lane`): a target that
    # takes a bad token creates `-x` once (409 after) and shows its wallet to each.
    lane = (
        "customer"
        if "/customers" in path or (isinstance(body, dict) and "customer_id" in body)
        else ""
    )
    planned = PlannedCall(
        method, path, body, headers=headers, auth=authorization is not None, lane=lane
    )
    return f"{method} {path} with a {label} token", planned


@pytest.mark.requirement("AUTH-1")
@pytest.mark.writes
def test_bad_bearer_tokens_are_refused_everywhere(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    real = storefront.client.token()
    unknown_event = storefront.ids.uuid()
    asked = [
        _with_token(method, path, body, label, authorization)
        for label, authorization in _bad_tokens(real).items()
        for method, path, body in _operations(customer, storefront.brand_id, unknown_event)
    ]
    storefront.calls_at_once(
        [planned for _, planned in asked],
        judge=lambda n, call: storefront.evidence.expect(
            status_among(call, (401, 403), "AUTH-1", asked[n][0])
        ),
    )
