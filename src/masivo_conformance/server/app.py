"""The reference server as a Starlette app: routes of CONTRACT.md section 2.

`create_app(config)` builds one independent server (its own database, seed and
faults). Handlers are coroutines that run the (fast, synchronous) SQLite work inline:
that serialises state changes on the event loop on top of the store's own lock and
BEGIN IMMEDIATE transactions.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router

from masivo_conformance.server import bodies
from masivo_conformance.server.auth import Authenticator
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.faults import check_fault_names
from masivo_conformance.server.ledger import Conflict, issued_at_problem
from masivo_conformance.server.preview import unknown_reward_ids
from masivo_conformance.server.ratelimit import RateLimit
from masivo_conformance.server.render import Renderer
from masivo_conformance.server.seed import load_seed
from masivo_conformance.server.service import Exists, NotFound, Service
from masivo_conformance.server.store import Store

__all__ = ["PREFIX", "create_app"]

PREFIX = "/api/storefront/v1"
_REWARD_TYPES = ("POINTS", "DISCOUNT", "GIFT_CARD", "PRODUCT")
_TRANSACTION_TYPES = (
    "ACCUMULATION",
    "REDEMPTION",
    "EXPIRATION",
    "MIGRATION",
    "TRANSFER",
    "REVERSAL",
)
_LONG_ID = 200  # crash_on_long_customer_id: the length its regression chokes on

Handler = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    def __init__(self, status: int, error: str, details: str) -> None:
        super().__init__(details)
        self.status, self.error, self.details = status, error, details


def _now() -> datetime:
    return datetime.now(UTC)


class _Api:
    """The route handlers of one app instance."""

    def __init__(
        self, config: ServerConfig, service: Service, auth: Authenticator, render: Renderer
    ) -> None:
        self.config = config
        self.service = service
        self.seed = service.seed
        self.auth = auth
        self.render = render
        self.faults = service.faults

    # -- plumbing ---------------------------------------------------------------------

    def endpoint(self, handler: Handler, *, public: bool = False) -> Handler:
        """Authentication, then the handler; domain errors become {error, details}."""

        async def run(request: Request) -> Response:
            try:
                if not public:
                    problem = self.auth.token_problem(request.headers.get("authorization"))
                    if problem:
                        raise ApiError(401, "Unauthorized", problem)
                return await handler(request)
            except Exception as exc:  # the last line of defence of GEN-3 is in _as_error
                return self.render.error(*self._as_error(exc))

        return run

    def _as_error(self, exc: Exception) -> tuple[int, str, str]:
        """(status, error, details) of an exception; unexpected ones are a 500."""
        if isinstance(exc, ApiError):
            return exc.status, exc.error, exc.details
        if isinstance(exc, bodies.Invalid):
            return self.config.validation_status, "Validation failed", str(exc)
        known: dict[type[Exception], tuple[int, str]] = {
            NotFound: (404, "Not found"),
            Conflict: (409, "Conflict"),
            Exists: (409, "Conflict"),
            bodies.BadBody: (400, "Bad request"),
        }
        for kind, (status, error) in known.items():
            if isinstance(exc, kind):
                return status, error, str(exc)
        return 500, "Internal server error", type(exc).__name__

    async def body(
        self,
        request: Request,
        schema_file: str,
        *,
        empty_is: Any = None,
        ignore: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > bodies.MAX_BODY_BYTES:
                raise ApiError(
                    413, "Payload too large", f"bodies are limited to {bodies.MAX_BODY_BYTES} bytes"
                )
        if not raw.strip() and empty_is is not None:
            return dict(empty_is)
        if not raw.strip():
            raise bodies.BadBody("the body is empty: send a JSON object")
        value = bodies.parse(raw)
        found = bodies.problems(schema_file, value, ignore)
        if found:
            raise bodies.Invalid("; ".join(found[:3]))
        return dict(value)

    def check_brand(self, body: dict[str, Any]) -> None:
        if "brand_id" in body and body["brand_id"] != self.seed.brand_id:
            raise NotFound(f"brand {body['brand_id']!r} does not exist: use {self.seed.brand_id}")

    # -- operations --------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        if not self.auth.key_is_valid(request.headers.get("x-api-key")):
            raise ApiError(
                401, "Unauthorized", "missing or wrong x-api-key header: send the account's API key"
            )
        return self.render.json(200, {"data": self.auth.issue()})

    async def create_customer(self, request: Request) -> Response:
        body = await self.body(request, "create-customer.request.schema.json")
        return self.render.json(201, {"data": self.service.create_customer(body, _now())})

    async def get_customer(self, request: Request) -> Response:
        found = self.service.get_customer(request.path_params["id"], _now())
        found["wallet"] = self.render.wallet(found["wallet"])
        return self.render.json(200, {"data": found})

    async def list_rewards(self, request: Request) -> Response:
        query = request.query_params
        start, end = _index(query.get("from"), "from"), _index(query.get("to"), "to")
        kind = _choice(query.get("type"), "type", _REWARD_TYPES)
        rewards = [
            r.as_json()
            for r in self.seed.rewards
            if (kind is None or r.type == kind) and query.get("brand_id") in (None, r.brand_id)
        ]
        return self.render.json(200, {"data": rewards[start : end + 1]})

    async def list_transactions(self, request: Request) -> Response:
        query = request.query_params
        filters = {k: query[k] for k in ("event_id", "type", "brand_id", "reward_id") if k in query}
        _choice(filters.get("type"), "type", _TRANSACTION_TYPES)
        _uuid_param(filters.get("reward_id"), "reward_id")
        event_id = filters.get("event_id")
        if not ("non_uuid_event_id" in self.faults and (event_id or "").startswith("evt_")):
            _uuid_param(event_id, "event_id")
        found = self.service.list_transactions(filters, _now())
        return self.render.json(200, {"data": [self.render.transaction(t) for t in found]})

    async def emit(self, request: Request) -> Response:
        ignore = frozenset(
            {"'brand_id' is a required property"}
            if "emit_accepts_missing_brand" in self.faults
            else ()
        )
        body = await self.body(request, "emit-event.request.schema.json", ignore=ignore)
        if "crash_on_long_customer_id" in self.faults and len(body["customer_id"]) > _LONG_ID:
            raise RuntimeError("customer_id does not fit the legacy column")
        if "issued_at" in body and "emit_accepts_stale_issued_at" not in self.faults:
            problem = issued_at_problem(body["issued_at"], _now())
            if problem:
                raise bodies.Invalid(f"$.issued_at: {problem}")
        self.check_brand(body)
        event = self.render.event(self.service.emit(body, _now()))
        if "emit_bare_event" in self.faults:
            return self.render.json(self.config.emit_status, event)
        return self.render.json(self.config.emit_status, {"data": event})

    async def fulfil(self, request: Request) -> Response:
        event = self.render.event(self.service.fulfil(request.path_params["event_id"], _now()))
        if "fulfil_answers_unfulfilled" in self.faults:
            event["fulfilled"] = False
        media = "text/plain" if "text_plain_success" in self.faults else "application/json"
        return self.render.json(200, {"data": event}, media_type=media)

    async def reverse(self, request: Request) -> Response:
        body = await self.body(request, "reverse-event.request.schema.json", empty_is={})
        if "reason" not in body and "reverse_without_reason_accepted" not in self.faults:
            raise bodies.Invalid("$: 'reason' is required: say why the event is reversed")
        ref, reason = request.path_params["event_id"], body.get("reason")
        decided = None
        if "reverse_not_atomic" in self.faults:
            decided = self.service.reverse_decision(ref, _now())
            await asyncio.sleep(0.05)  # "some work" between the check and the write
        event = self.service.reverse(ref, reason, _now(), decided)
        return self.render.json(200, {"data": self.render.event(event)})

    async def preview(self, request: Request) -> Response:
        ignore = frozenset(
            {"'order' is a required property"}
            if "preview_accepts_missing_order" in self.faults
            else ()
        )
        body = await self.body(request, "preview-order.request.schema.json", ignore=ignore)
        self.check_brand(body)
        unknown = unknown_reward_ids(self.seed, body.get("order") or {})
        if unknown and "preview_rejects_unknown_reward" in self.faults:
            raise bodies.Invalid(f"unknown reward id {unknown[0]}")
        order = self.service.preview(body, _now())
        brand_id = "" if "preview_drops_brand_id" in self.faults else body["brand_id"]
        data = {"customer_id": body["customer_id"], "brand_id": brand_id, "order": order}
        return self.render.json(200, {"data": data})


def _index(raw: str | None, name: str) -> int:
    if raw is None or not raw.isdigit() or not raw.isascii():
        raise bodies.Invalid(f"query parameter {name!r} must be an integer >= 0, got {raw!r}")
    return int(raw[:18])  # 18 digits: far past any list, and never a huge int


def _choice(raw: str | None, name: str, allowed: tuple[str, ...]) -> str | None:
    if raw is not None and raw not in allowed:
        raise bodies.Invalid(f"query parameter {name!r} must be one of {', '.join(allowed)}")
    return raw


def _uuid_param(raw: str | None, name: str) -> None:
    if raw is None:
        return
    try:
        uuid.UUID(raw)
    except ValueError as exc:
        raise bodies.Invalid(f"query parameter {name!r} must be a uuid, got {raw[:80]!r}") from exc


def create_app(config: ServerConfig | None = None) -> Starlette:
    """A new reference server; `app.state` holds `store`, `api_key` and `brand_id`."""
    config = config or ServerConfig()
    faults = check_fault_names(config.faults)
    seed = load_seed(config.seed_path)
    store = Store(config.db_path)
    auth = Authenticator(store.secret(), config.api_key or seed.api_key, seed.brand_id, faults)
    service = Service(store, seed, faults, config.processing_delay)
    render = Renderer(faults, config.extra_members)
    api = _Api(config, service, auth, render)
    e = api.endpoint
    routes = [
        Route("/auth/authorize", e(api.authorize, public=True), methods=["GET"]),
        Route("/customers", e(api.create_customer), methods=["POST"]),
        Route("/customers/{id:path}", e(api.get_customer), methods=["GET"]),
        Route("/rewards", e(api.list_rewards), methods=["GET"]),
        Route("/transactions", e(api.list_transactions), methods=["GET"]),
        Route("/behavior/events", e(api.emit), methods=["POST"]),
        Route("/behavior/events/{event_id}/fulfill", e(api.fulfil), methods=["PATCH"]),
        Route("/behavior/events/{event_id}/reverse", e(api.reverse), methods=["POST"]),
        Route("/events/redeem/preview", e(api.preview), methods=["PUT"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        details = exc.detail if isinstance(exc, HTTPException) else type(exc).__name__
        response = render.error(
            status,
            "Not found" if status == 404 else "Request refused",
            f"{request.method} {request.url.path}: {details}",
        )
        if isinstance(exc, HTTPException) and exc.headers:
            response.headers.update(exc.headers)  # e.g. Allow on a 405
        return response

    app = Starlette(
        # No slash redirects: a 307 to another path would answer a malformed request
        # with something that is neither a success nor a refusal.
        routes=[Mount(PREFIX, app=Router(routes, redirect_slashes=False))],
        middleware=[
            Middleware(
                RateLimit,
                limit=config.rate_limit,
                window=config.rate_window,
                headers="no_rate_limit_headers" not in faults,
            )
        ],
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )
    app.router.redirect_slashes = False
    app.state.store = store
    app.state.api_key = config.api_key or seed.api_key
    app.state.brand_id = seed.brand_id
    return app
