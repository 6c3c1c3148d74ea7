"""uvicorn's httptools protocol with changes for a server that clients probe on purpose:

* a request that is not HTTP gets the JSON error body of every other refusal
  (`{error, details}`, GEN-2) instead of uvicorn's text/plain line, and so does a
  request line with headers over `max_head_bytes` (httptools itself sets no limit: it
  would buffer an endless header line until the connection closes);
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

httptools (llhttp, in C) rather than h11: parsing a request and writing its answer cost
a third of the reference server's CPU per request in pure Python (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import json
import time

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = ["GuardedHttpProtocol"]


class _HeadTooLarge(Exception):
    """Raised inside the parser's callbacks: httptools turns it into a parse error."""


class GuardedHttpProtocol(HttpToolsProtocol):
    # Set per server by `configured`.
    header_timeout = 10.0
    body_timeout = 20.0
    max_connections = 256
    max_head_bytes = 16 * 1024

    @classmethod
    def configured(
        cls,
        header_timeout: float,
        body_timeout: float,
        max_connections: int,
        max_head_bytes: int,
    ) -> type[GuardedHttpProtocol]:
        """A subclass with this server's settings (uvicorn builds one per connection)."""
        settings = {
            "header_timeout": header_timeout,
            "body_timeout": body_timeout,
            "max_connections": max_connections,
            "max_head_bytes": max_head_bytes,
        }
        return type(cls.__name__, (cls,), settings)

    def connection_made(  # type: ignore[override]  # as uvicorn's: a TCP transport
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None
        self._idle_since: float = time.monotonic()
        # Where the parser is: in a request's head (or waiting for one), else in its body.
        self._in_head = True
        self._head_bytes = 0  # bytes received while in a head; at most one read over
        self._parsed_head = 0  # the request line's and headers' bytes parsed so far
        self._await_headers()
        self._make_room()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            if self._header_deadline is None:
                self._await_headers()  # the first bytes of the next request on this connection
            self._head_bytes += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._in_head and self._head_bytes > self.max_head_bytes:
            self.send_400_response(
                f"Invalid HTTP request received: the request line and headers are over "
                f"{self.max_head_bytes} bytes."
            )
        elif not self._in_head and self._body_deadline is None:
            self._body_deadline = self.loop.call_later(self.body_timeout, self._body_too_slow)

    # A head that came in one read is measured as it is parsed; one that is still
    # coming, by the bytes received (data_received).

    def on_message_begin(self) -> None:
        self._parsed_head = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._parsed_head += size
        if self._parsed_head > self.max_head_bytes:
            raise _HeadTooLarge  # httptools makes it a parse error: uvicorn answers 400

    def on_headers_complete(self) -> None:
        self._in_head, self._head_bytes = False, 0
        if self._header_deadline is not None:
            self._header_deadline.cancel()  # the request line and headers are in
            self._header_deadline = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        if self._body_deadline is not None:
            self._body_deadline.cancel()  # the body is in
            self._body_deadline = None
        super().on_message_complete()

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
        if self._in_head and not self.transport.is_closing():
            self.transport.close()

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        if self._in_head or self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            # The app is still waiting for the body: it now reads a disconnect, and
            # whatever it answers then goes nowhere, as the 408 takes its place.
            cycle.disconnected = True
            cycle.message_event.set()
            details = f"the body did not arrive within {self.body_timeout:g} seconds"
            self._send_error(408, "Request timeout", details)
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
            if c is not self and isinstance(c, GuardedHttpProtocol) and not c._busy()
        ]
        idle.sort(key=lambda c: c._idle_since)
        for connection in idle[:excess]:
            connection._shed()

    def _shed(self) -> None:
        # Out of the count now, not at connection_lost: a request read before that
        # would otherwise still see the cap reached and get a 503.
        self.connections.discard(self)
        self.transport.close()  # connection_lost tells the parser and the app

    def _send_error(self, status: int, error: str, details: str) -> None:
        """A JSON error answer written straight to the connection, which then closes."""
        body = json.dumps({"error": error, "details": details}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self._send_error(400, "Bad request", f"{msg} Send HTTP/1.1.")
