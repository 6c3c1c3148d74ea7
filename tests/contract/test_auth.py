"""AUTH-1: every operation but authorize refuses a bad bearer token with 401 or 403."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import jwt
import pytest

from masivo_conformance.checks.invariants import status_among
from masivo_conformance.suite.storefront import Storefront


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims_of(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        claims = {}
    return claims


def _bad_tokens(real: str) -> dict[str, str | None]:
    """Tokens no target may accept; built from the real token's claims where one exists."""
    claims = _claims_of(real) or {"sub": "masivo-conformance"}
    now = int(time.time())
    foreign_key = secrets.token_hex(32)
    header, _payload, signature = ([*real.split("."), "", ""])[:3]
    tampered = {**claims, "exp": now + 86_400 * 365}
    return {
        "missing": None,
        "empty": "Bearer",
        "malformed": "Bearer not.a.jwt",
        "not-bearer": f"Basic {base64.b64encode(b'user:pass').decode()}",
        "foreign-signed": "Bearer "
        + jwt.encode({**claims, "exp": now + 3600}, foreign_key, algorithm="HS256"),
        "expired-foreign": "Bearer "
        + jwt.encode(
            {**claims, "exp": now - 3600, "iat": now - 7200}, foreign_key, algorithm="HS256"
        ),
        "alg-none": "Bearer "
        + f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({**claims, 'exp': now + 3600})}.",
        "tampered-claims": f"Bearer {header}.{_b64(tampered)}.{signature}",
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


@pytest.mark.requirement("AUTH-1")
@pytest.mark.writes
def test_bad_bearer_tokens_are_refused_everywhere(storefront: Storefront) -> None:
    customer = storefront.create_customer()
    real = storefront.client.token()
    unknown_event = storefront.ids.uuid()
    for label, authorization in _bad_tokens(real).items():
        headers = {} if authorization is None else {"Authorization": authorization}
        for method, path, body in _operations(customer, storefront.brand_id, unknown_event):
            call = storefront.call(
                method, path, json_body=body, headers=headers, auth=authorization is not None
            )
            storefront.evidence.expect(
                status_among(call, (401, 403), "AUTH-1", f"{method} {path} with a {label} token")
            )
