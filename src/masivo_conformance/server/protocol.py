"""uvicorn's h11 protocol with two changes for a server that clients probe on purpose:

* a request that is not HTTP gets the JSON error body of every other refusal
  (`{error, details}`, GEN-2) instead of uvicorn's text/plain line;
* a request line and headers must be complete within `header_timeout` seconds of the
  connection opening or of the request's first byte. uvicorn only times out idle
  keep-alive connections, so a client trickling a header byte by byte, or connecting
  and never sending one, would hold a place under the connection cap forever.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["GuardedH11Protocol"]


class GuardedH11Protocol(H11Protocol):
    header_timeout = 10.0  # set per server by `configured`

    @classmethod
    def configured(cls, header_timeout: float) -> type[GuardedH11Protocol]:
        """A subclass with this server's timeout (uvicorn builds one per connection)."""
        return type(cls.__name__, (cls,), {"header_timeout": header_timeout})

    def connection_made(  # type: ignore[override]  # as uvicorn's: a TCP transport
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._await_headers()

    def data_received(self, data: bytes) -> None:
        if self._header_deadline is None and self.conn.their_state is h11.IDLE:
            self._await_headers()  # the first bytes of the next request on this connection
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self._header_deadline is not None and self.conn.their_state is not h11.IDLE:
            self._header_deadline.cancel()  # the request line and headers are in
            self._header_deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({"error": "Bad request", "details": f"{msg} Send HTTP/1.1."}).encode()
        headers: list[tuple[bytes, bytes]] = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        events: list[Any] = [
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ]
        for event in events:
            self.transport.write(self.conn.send(event))
        self.transport.close()
