"""The reference server as a Starlette app: routes of CONTRACT.md section 2.

`create_app(config)` builds one independent server (its own database, seed and
faults); the handlers are in handlers.py.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from masivo_conformance.server.auth import Authenticator
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.faults import check_fault_names
from masivo_conformance.server.handlers import Handlers
from masivo_conformance.server.ratelimit import HEALTH_PATH, RateLimit
from masivo_conformance.server.render import Renderer
from masivo_conformance.server.seed import load_seed
from masivo_conformance.server.service import Service
from masivo_conformance.server.store import open_store

__all__ = ["PREFIX", "create_app"]

PREFIX = "/api/storefront/v1"
_WORKERS = 8


def _routes(api: Handlers) -> list[Route]:
    """The operations, under PREFIX (written out rather than mounted: a Mount costs every
    request a second routing pass, and the reference server answers nothing else there)."""
    e = api.endpoint
    return [
        Route(PREFIX + path, endpoint, methods=[method])
        for method, path, endpoint in (
            # A checkout's calls first: the router tries the routes in this order.
            ("PUT", "/events/redeem/preview", e(api.preview)),
            ("POST", "/behavior/events", e(api.emit)),
            ("PATCH", "/behavior/events/{event_id}/fulfill", e(api.fulfil)),
            ("POST", "/behavior/events/{event_id}/reverse", e(api.reverse)),
            ("GET", "/customers/{id:path}", e(api.get_customer)),
            ("POST", "/customers", e(api.create_customer)),
            ("GET", "/auth/authorize", e(api.authorize, public=True)),
            ("GET", "/rewards", e(api.list_rewards)),
            ("GET", "/transactions", e(api.list_transactions)),
        )
    ]


def create_app(config: ServerConfig | None = None) -> Starlette:
    """A new reference server; `app.state` holds `store`, `workers` (an executor to shut
    down after the server stops), `api_key` and `brand_id`."""
    config = config or ServerConfig()
    faults = check_fault_names(config.faults)
    seed = load_seed(config.seed_path)
    store = open_store(config.db_path)
    api_key = config.api_key or seed.api_key
    auth = Authenticator(store.secret(), api_key, seed.brand_id, faults)
    render = Renderer(config)
    # Bodies over 4 KiB and PostgreSQL's transactions (Handlers.off_loop, .stored): one
    # thread per pooled connection (pg_store._POOL_SIZE). Whoever runs the app shuts it down.
    workers = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="masivo-reference")
    api = Handlers(config, Service(store, seed, config), auth, render, workers)

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

    async def healthz(request: Request) -> Response:
        """200 when the store answers a query, 503 when it does not: what a load balancer
        or a team's test harness polls before it sends traffic (not rate limited)."""
        loop = asyncio.get_running_loop()
        healthy = await loop.run_in_executor(workers, store.answers)
        return JSONResponse({"status": "ok" if healthy else "unavailable"}, 200 if healthy else 503)

    app = Starlette(
        # No slash redirects: a 307 to another path would answer a malformed request
        # with something that is neither a success nor a refusal.
        routes=[
            Route(HEALTH_PATH, healthz, methods=["GET"]),
            *_routes(api),
        ],
        middleware=[
            Middleware(
                RateLimit,
                limit=config.rate_limit,
                window=config.rate_window,
                headers="no_rate_limit_headers" not in faults,
                every=config.throttle_every,
            )
        ],
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )
    app.router.redirect_slashes = False
    app.state.store = store
    app.state.workers = workers
    app.state.api_key = api_key
    app.state.brand_id = seed.brand_id
    return app
