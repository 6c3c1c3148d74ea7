"""An ASGI app served by uvicorn on a loopback socket in a daemon thread.

Shared by the embedded reference server and the test targets, so each is only the app
it serves and the options it needs.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["ServerThread"]

_START_TIMEOUT = 10.0
# accept() errors after which asyncio stops accepting for a second and tries again.
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_WARN_EVERY = 60.0  # seconds between two warnings about them
_BATCH = 8  # connections accepted per turn of the event loop


class _LoopErrors:
    """The event loop's exception handler: a failed accept() for want of file
    descriptors is one warning line a minute instead of asyncio's traceback at every
    attempt; anything else goes to asyncio's default handler."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.logger = logging.getLogger("uvicorn.error")
        self.last = -_WARN_EVERY
        self.unreported = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not (isinstance(exc, OSError) and exc.errno in _OUT_OF_RESOURCES):
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self.last < _WARN_EVERY:
            self.unreported += 1
            return
        since = f" ({self.unreported} more since the last warning)" if self.unreported else ""
        self.logger.warning(
            "%s: %s: %s; new connections wait until some close%s",
            self.name,
            context.get("message", "out of resources"),
            exc.strerror,
            since,
        )
        self.last, self.unreported = now, 0


class _ListeningSocket(socket.socket):
    """A listening socket that keeps asyncio's accept loop (3.11) from taking more file
    descriptors than a server can spare.

    * At most `_BATCH` connections per turn of the event loop: asyncio accepts up to
      `backlog` (2048) at once, and each reaches the protocol (which closes idle ones
      past the server's cap) only two turns later, so a burst could use every
      descriptor first.
    * After an accept() fails for want of descriptors, the next call says "nothing to
      accept". asyncio's loop does not stop at such a failure: it goes on calling
      accept(), and each failure logs a traceback and schedules one more retry a
      second later, so the retries multiply. This ends the loop, leaving one retry.
    """

    _failed = False
    _accepted = 0

    def accept(self) -> tuple[socket.socket, Any]:
        if self._failed or self._accepted >= _BATCH:
            self._failed, self._accepted = False, 0
            raise BlockingIOError(errno.EAGAIN, "accept more on the next turn")
        try:
            accepted = super().accept()
        except OSError as exc:
            self._failed = exc.errno in _OUT_OF_RESOURCES
            self._accepted = 0
            raise
        self._accepted += 1
        return accepted


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, name: str) -> None:
        super().__init__(config)
        self.name = name

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().set_exception_handler(_LoopErrors(self.name))
        await super().serve(sockets)


class ServerThread:
    """`start()` binds and serves; `origin` is then `http://host:port`."""

    def __init__(
        self, app: Any, host: str, port: int, name: str, *, reuse_port: bool = False, **options: Any
    ) -> None:
        self.app, self.host, self.port, self.name = app, host, port, name
        self.reuse_port = reuse_port
        self.options = options
        self.origin = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve, or raise OSError (cannot bind) or RuntimeError (did not start)."""
        # Bind here, not in uvicorn, so port 0 resolves before the thread starts.
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP, and without it every keep-alive answer waits ~40 ms (Nagle
        # against delayed ACKs).
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = _ListeningSocket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.reuse_port:  # several processes on one port: the kernel shares connections
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        self.origin = f"http://{shown}:{port}"
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            # No proxy in front to trust: a client's X-Forwarded-For changes nothing here.
            proxy_headers=False,
            # asyncio's loop, even where uvloop is installed: the accept-error handling
            # above (_LoopErrors, _ListeningSocket) is written for asyncio's.
            loop="asyncio",
            # No WebSocket, even where a WebSocket library is installed: an upgraded
            # connection would leave the guarded HTTP protocol (server/protocol.py).
            ws="none",
            **self.options,
        )
        self._server = _Server(config, self.name)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"{self.name}:{port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not start on port {port}")
            time.sleep(0.005)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None
