"""A fixed-window request limiter for the whole server, with the X-RateLimit-* headers.

One window for all clients: the reference server stands in for one account's DEV
limiter, which counts the account's requests, not a client's.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HEALTH_PATH", "RateLimit"]


#: Outside the storefront API: whether the server and its store answer (server/app.py).
HEALTH_PATH = "/healthz"


class RateLimit:
    """`every`: also refuse every Nth request (0 = never), as a busy shared limiter does
    now and then; that 429 asks to retry at once (Retry-After: 0)."""

    def __init__(
        self, app: ASGIApp, limit: int, window: int, *, headers: bool = True, every: int = 0
    ) -> None:
        self.app = app
        self.limit = limit
        self.window = window
        self.headers = headers
        self.every = every
        self._started = time.monotonic()
        self._count = 0
        self._served = 0

    def _tick(self) -> tuple[bool, int, int]:
        """(allowed, remaining, seconds to reset) for one more request."""
        now = time.monotonic()
        if now - self._started >= self.window:
            self._started, self._count = now, 0
        self._count += 1
        reset = max(1, math.ceil(self._started + self.window - now))
        return self._count <= self.limit, max(0, self.limit - self._count), reset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == HEALTH_PATH:
            # A health probe is the operator's, not a client's: it spends no quota.
            await self.app(scope, receive, send)
            return
        allowed, remaining, reset = self._tick()
        extra: list[tuple[bytes, bytes]] = []
        if self.headers:
            extra = [
                (b"x-ratelimit-limit", str(self.limit).encode()),
                (b"x-ratelimit-remaining", str(remaining).encode()),
                (b"x-ratelimit-reset", str(reset).encode()),
            ]
        if not allowed:
            await _too_many(send, [*extra, (b"retry-after", str(reset).encode())], reset)
            return
        self._served += 1
        if self.every and self._served % self.every == 0:
            await _too_many(send, [*extra, (b"retry-after", b"0")], 0)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _too_many(send: Send, headers: list[tuple[bytes, bytes]], reset: int) -> None:
    body: dict[str, Any] = {
        "error": "Too many requests",
        "details": f"rate limit reached: retry in {reset} s",
    }
    content = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(content)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})
