"""uvicorn's h11 protocol with changes for a server that clients probe on purpose:

* a request that is not HTTP gets the JSON error body of every other refusal
  (`{error, details}`, GEN-2) instead of uvicorn's text/plain line;
* a request line and headers must be complete within `header_timeout` seconds of the
  connection opening or of the request's first byte, and its body within
  `body_timeout` seconds of the headers (else a JSON 408, or a plain close once the
  answer is out). uvicorn only times out idle keep-alive connections, so a client
  trickling a header or body byte by byte, or connecting and never sending one, would
  hold a place under the connection cap forever;
* past `max_connections` open connections, opening one more closes the connection
  that has been idle (no request being answered) the longest, instead of letting idle
  connections lock everyone else out. With every connection busy, uvicorn's
  `limit_concurrency` answers 503.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["GuardedH11Protocol"]


class GuardedH11Protocol(H11Protocol):
    # Set per server by `configured`.
    header_timeout = 10.0
    body_timeout = 20.0
    max_connections = 256

    @classmethod
    def configured(
        cls, header_timeout: float, body_timeout: float, max_connections: int
    ) -> type[GuardedH11Protocol]:
        """A subclass with this server's settings (uvicorn builds one per connection)."""
        settings = {
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            "max_connections": max_connections,
        }
        return type(cls.__name__, (cls,), settings)

    def connection_made(  # type: ignore[override]  # as uvicorn's: a TCP transport
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._idle_since: float = time.monotonic()
        self._await_headers()
        self._make_room()

    def data_received(self, data: bytes) -> None:
        if self._header_deadline is None and self.conn.their_state is h11.IDLE:
            self._await_headers()  # the first bytes of the next request on this connection
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if self._header_deadline is not None and state is not h11.IDLE:
            self._header_deadline.cancel()  # the request line and headers are in
            self._header_deadline = None
        if state is h11.SEND_BODY and self._body_deadline is None:
            self._body_deadline = self.loop.call_later(self.body_timeout, self._body_too_slow)
        elif state is not h11.SEND_BODY and self._body_deadline is not None:
            self._body_deadline.cancel()  # the body is in
            self._body_deadline = None

    def on_response_complete(self) -> None:
        self._idle_since = time.monotonic()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        for deadline in (self._header_deadline, self._body_deadline):
            if deadline is not None:
                deadline.cancel()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        if self.conn.their_state is not h11.SEND_BODY or self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            # The app is still waiting for the body: it now reads a disconnect, and
            # whatever it answers then goes nowhere, as the 408 takes its place.
            cycle.disconnected = True
            cycle.message_event.set()
            details = f"the body did not arrive within {self.body_timeout:g} seconds"
            self._send_error(408, b"Request Timeout", "Request timeout", details)
        self.transport.close()

    def _busy(self) -> bool:
        """A request of this connection is being answered."""
        return self.cycle is not None and not self.cycle.response_complete

    def _make_room(self) -> None:
        """Close the longest-idle connections while more than `max_connections` are open.
        Only connections with no answer in progress go: an idle keep-alive connection,
        one that never finished its headers, one still sending a body already refused."""
        if len(self.connections) <= self.max_connections:
            return
        open_now = [c for c in self.connections if not c.transport.is_closing()]
        excess = len(open_now) - self.max_connections
        if excess <= 0:
            return
        idle = [
            c
            for c in open_now
            if c is not self and isinstance(c, GuardedH11Protocol) and not c._busy()
        ]
        idle.sort(key=lambda c: c._idle_since)
        for connection in idle[:excess]:
            connection._shed()

    def _shed(self) -> None:
        # Out of the count now, not at connection_lost: a request read before that
        # would otherwise still see the cap reached and get a 503.
        self.connections.discard(self)
        self.transport.close()  # connection_lost tells h11 and the app

    def _send_error(self, status: int, reason: bytes, error: str, details: str) -> None:
        """A JSON error answer written straight to the connection, which then closes."""
        body = json.dumps({"error": error, "details": details}).encode()
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        events: list[Any] = [
            h11.Response(status_code=status, headers=headers, reason=reason),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ]
        for event in events:
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self._send_error(400, b"Bad Request", "Bad request", f"{msg} Send HTTP/1.1.")
