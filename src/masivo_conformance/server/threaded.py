"""An ASGI app served by uvicorn on a loopback socket in a daemon thread.

Shared by the embedded reference server and the test targets, so each is only the app
it serves and the options it needs.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

__all__ = ["ServerThread"]

_START_TIMEOUT = 10.0


class ServerThread:
    """`start()` binds and serves; `origin` is then `http://host:port`."""

    def __init__(self, app: Any, host: str, port: int, name: str, **options: Any) -> None:
        self.app, self.host, self.port, self.name = app, host, port, name
        self.options = options
        self.origin = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Serve, or raise OSError (cannot bind) or RuntimeError (did not start)."""
        # Bind here, not in uvicorn, so port 0 resolves before the thread starts.
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP, and without it every keep-alive answer waits ~40 ms (Nagle
        # against delayed ACKs).
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
            **self.options,
        )
        self._server = uvicorn.Server(config)
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
