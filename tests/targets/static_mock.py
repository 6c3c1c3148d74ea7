"""A static mock of the storefront API, like Prism in static mode.

Every operation of CONTRACT.md section 2 answers with ONE fixed, schema-valid example,
whatever the request: no authentication, no body checks, no ids looked up, no state.
It never answers 4xx for a bad body, an unknown id or a missing or bad token: that is
the point of it. A conformance run against it must fail the behavioural requirements
(EMIT-2, FUL-3, AUTH-1, ...) while every single answer is valid by the schemas.

The answers are built once, when the app is created (the JWT and the timestamps are
relative to that moment), then served byte for byte the same until it stops.

    with StaticMock() as mock:
        httpx.get(f"{mock.base_url}/rewards")  # 200, always the same list
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from masivo_conformance.server.threaded import ServerThread

__all__ = [
    "API_KEY",
    "BRAND_ID",
    "CUSTOMER_ID",
    "EVENT_ID",
    "JWT_SECRET",
    "OPERATIONS",
    "PREFIX",
    "RATE_LIMIT_HEADERS",
    "REWARD_ID",
    "Operation",
    "StaticMock",
    "create_app",
    "static_answers",
]

PREFIX = "/api/storefront/v1"  # as the real API and the reference server
JWT_SECRET = "static-mock-secret-not-for-anything-real"  # HS256 key of the fixed token
API_KEY = "static-mock-any-key"  # never checked: any string (or none) is accepted
BRAND_ID = "brand-static"
CUSTOMER_ID = "mc-test-static"
REWARD_ID = "5a7d0c1e-2b3f-4c5d-8e6f-7a8b9c0d1e2f"
EVENT_ID = "e0c1d2b3-a4f5-4e6d-9c7b-8a9f0e1d2c3b"
TRANSACTION_ID = "7f8e9d0c-1b2a-4394-a5b6-c7d8e9f0a1b2"
CAMPAIGN_ID = "c4a3b2d1-e0f9-4a8b-9c7d-6e5f4a3b2c1d"
WALLET_ID = "0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9"
OWNER_ID = "9e8d7c6b-5a49-4382-b716-05f4e3d2c1b0"
TOKEN_LIFETIME = 3600
POINTS = 120
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "1000",
    "X-RateLimit-Remaining": "999",
    "X-RateLimit-Reset": "60",
}


@dataclass(frozen=True)
class Operation:
    """One operation of the contract: where it lives, what the mock answers, which schema."""

    name: str  # operationId in schemas/openapi.yaml
    method: str
    path: str  # the OpenAPI path template (Starlette reads the same {param} syntax)
    status: int
    schema: str  # response schema file of its success answer


OPERATIONS: tuple[Operation, ...] = (
    Operation("authorize", "GET", "/auth/authorize", 200, "authorize.response.schema.json"),
    Operation("create_customer", "POST", "/customers", 201, "create-customer.response.schema.json"),
    Operation("get_customer", "GET", "/customers/{id}", 200, "get-customer.response.schema.json"),
    Operation("list_rewards", "GET", "/rewards", 200, "list-rewards.response.schema.json"),
    Operation(
        "list_transactions", "GET", "/transactions", 200, "list-transactions.response.schema.json"
    ),
    Operation("emit_event", "POST", "/behavior/events", 201, "emit-event.response.schema.json"),
    Operation(
        "fulfill_event",
        "PATCH",
        "/behavior/events/{eventId}/fulfill",
        200,
        "fulfill-event.response.schema.json",
    ),
    Operation(
        "reverse_event",
        "POST",
        "/behavior/events/{eventId}/reverse",
        200,
        "reverse-event.response.schema.json",
    ),
    Operation(
        "preview_order", "PUT", "/events/redeem/preview", 200, "preview-order.response.schema.json"
    ),
)


def _stamp(moment: datetime) -> str:
    """RFC 3339, UTC, whole seconds: 2026-03-25T10:00:00Z."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _token(now: datetime) -> str:
    issued = int(now.timestamp())
    claims = {"sub": BRAND_ID, "iat": issued, "exp": issued + TOKEN_LIFETIME}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def static_answers(now: datetime | None = None) -> dict[str, dict[str, Any]]:
    """The fixed body of every operation, by operation name, as of `now` (default: now)."""
    now = now or datetime.now(UTC)
    issued_at = _stamp(now - timedelta(minutes=1))
    resolved_at = _stamp(now)
    reversed_at = _stamp(now + timedelta(seconds=1))
    expires = _stamp(now + timedelta(days=365))

    reward: dict[str, Any] = {
        "id": REWARD_ID,
        "brand_id": BRAND_ID,
        "name": "Static points",
        "description": "One point per currency unit spent",
        "type": "POINTS",
        "conditions": [],
        "attributes": {"conversion_factor": 0.1},
        "platforms": ["web"],
    }
    line: dict[str, Any] = {
        "amount": POINTS,
        "reward_id": REWARD_ID,
        "campaign_id": CAMPAIGN_ID,
        "brand_id": BRAND_ID,
        "issued_at": resolved_at,
        "expiration_date": expires,
        "reservation_expires_at": None,
    }
    transaction: dict[str, Any] = {
        "id": TRANSACTION_ID,
        "brand_id": BRAND_ID,
        "event_id": EVENT_ID,
        "campaign_id": CAMPAIGN_ID,
        "channel_id": "online",
        "store_id": "store-static",
        "funded_by": "MARKETING",
        "event_type": "PURCHASE",
        "reward_type": "POINTS",
        "reward_id": REWARD_ID,
        "amount": POINTS,
        "cost": 0,
        "details": "Accumulated by campaign Static",
        "type": "ACCUMULATION",
        "receiver_id": CUSTOMER_ID,
        "sender_id": None,
        "created_at": resolved_at,
        "issued_at": issued_at,
        "attributes": {"line": line, "campaign_name": "Static"},
        "metadata": {},
    }
    customer: dict[str, Any] = {
        "id": CUSTOMER_ID,
        "status": "ACTIVE",
        "name": "Static Customer",
        "email": "static@example.com",
        "gender": None,
        "dob": None,
        "registration_date": issued_at,
        "tier_id": None,
        "tags": [],
        "consent": None,
        "metrics": {},
        "metadata": {},
    }
    wallet: dict[str, Any] = {
        "id": WALLET_ID,
        "owner_id": OWNER_ID,
        "lines": [line],
        "totals": [
            {"total": POINTS, "reward_id": REWARD_ID, "expiration_date": expires, "reward": reward}
        ],
    }
    order: dict[str, Any] = {
        "purchase_id": "order-static",
        "channel_id": "online",
        "store_id": "store-static",
        "value": float(POINTS),
        "payment_method": "CREDIT",
        "products": [{"sku": "SKU-STATIC", "amount": 1, "value": float(POINTS)}],
    }
    event: dict[str, Any] = {
        "id": EVENT_ID,
        "customer_id": CUSTOMER_ID,
        "type": "PURCHASE",
        "data": {"brand_id": BRAND_ID, "order": order},
        "fulfilled": True,
        "reserve": 1,
        "queue_message_id": None,
        "rewarding_campaigns": [CAMPAIGN_ID],
        "status": "RESOLVED",
        "result": {
            "wallet": wallet,
            "customer": customer,
            "gift_card": [],
            "accumulations": [line],
            "redemptions": [],
            "transactions": [transaction],
            "customer_by_tier": [],
        },
        "issued_at": issued_at,
        "processing_at": resolved_at,
        "resolved_at": resolved_at,
        "cancelled_at": None,
        "expired_at": None,
        "reversed_at": None,
    }
    # 10 points at 0.1 currency each take 1.00 off the order's 120.00.
    redeemed_points, discount = 10, 1.0
    preview_order = {
        **order,
        "redeem": [{"id": REWARD_ID, "amount": redeemed_points}],
        "redemptions_result": {
            "redeemed": [
                {"id": REWARD_ID, "amount": redeemed_points, "reward": reward, "error": None}
            ],
            "amount": redeemed_points,
            "discount_value": discount,
            "discount_percent": round(discount / POINTS, 4),
            "value": POINTS - discount,
            "action": "UPDATE",
        },
    }
    return {
        "authorize": {"data": _token(now)},
        "create_customer": {"data": customer},
        "get_customer": {"data": {"customer": customer, "wallet": wallet}},
        "list_rewards": {"data": [reward]},
        "list_transactions": {"data": [transaction]},
        "emit_event": {"data": event},
        "fulfill_event": {"data": event},
        "reverse_event": {"data": {**event, "status": "REVERSED", "reversed_at": reversed_at}},
        "preview_order": {
            "data": {"customer_id": CUSTOMER_ID, "brand_id": BRAND_ID, "order": preview_order}
        },
    }


def _endpoint(status: int, body: dict[str, Any]) -> Any:
    content = json.dumps(body).encode()

    async def answer(request: Request) -> Response:  # the request is ignored: static
        return Response(
            content, status_code=status, media_type="application/json", headers=RATE_LIMIT_HEADERS
        )

    return answer


def create_app(now: datetime | None = None) -> Starlette:
    """The mock as an ASGI app; its answers are fixed as of `now` (default: now)."""
    answers = static_answers(now)
    routes = [
        Route(op.path, _endpoint(op.status, answers[op.name]), methods=[op.method])
        for op in OPERATIONS
    ]
    app = Starlette(routes=[Mount(PREFIX, routes=routes)])
    app.state.answers = answers
    return app


class StaticMock:
    """`with StaticMock() as mock:` serves the static mock on a free loopback port.

    Gives `base_url` (with the API prefix), `api_key` (any string: never checked),
    `brand_id` (the fixed brand of its reward) and `answers` (the body of each operation),
    so it can stand where an `EmbeddedServer` is used (e.g. `cli_runs.target_args`).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.base_url = ""
        self.api_key = API_KEY
        self.brand_id = BRAND_ID
        self.answers: dict[str, dict[str, Any]] = {}
        self._serving: ServerThread | None = None

    @property
    def token(self) -> str:
        """The fixed JWT that authorize hands out."""
        return str(self.answers["authorize"]["data"])

    def start(self) -> StaticMock:
        if self._serving is not None:
            return self
        app = create_app()
        self.answers = app.state.answers
        self._serving = ServerThread(app, self.host, 0, "masivo-static-mock")
        self._serving.start()
        self.base_url = self._serving.origin + PREFIX
        return self

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
        self._serving = None

    def __enter__(self) -> StaticMock:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
