"""The reference server on a loopback port in a background thread (tests, default target)."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import Executor
from types import TracebackType

import uvicorn

from masivo_conformance.errors import TargetError
from masivo_conformance.server.app import PREFIX, create_app
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.protocol import GuardedH11Protocol
from masivo_conformance.server.store import Store

__all__ = ["EmbeddedServer"]

_START_TIMEOUT = 10.0
_MAX_HEADER_BYTES = 16 * 1024  # request line and headers; more is a 400


class EmbeddedServer:
    """`with EmbeddedServer() as server:` gives `base_url`, `api_key` and `brand_id`."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.base_url = ""
        self.api_key = ""
        self.brand_id = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._workers: Executor | None = None

    def start(self) -> EmbeddedServer:
        if self._server is not None:
            return self
        app = create_app(self.config)
        self._store, self._workers = app.state.store, app.state.workers
        self.api_key, self.brand_id = app.state.api_key, app.state.brand_id
        # Bind here, not in uvicorn, so port 0 resolves before the thread starts.
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP, and without it every keep-alive answer waits ~40 ms (Nagle
        # against delayed ACKs).
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError as exc:
            sock.close()
            self._workers.shutdown()
            self._store.close()
            raise TargetError(
                f"cannot listen on {self.config.host}:{self.config.port} ({exc.strerror})",
                "choose another port, or 0 for a free one",
            ) from exc
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        self.base_url = f"http://{shown}:{port}{PREFIX}"
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            http=GuardedH11Protocol.configured(self.config.header_timeout),
            timeout_keep_alive=self.config.keep_alive_timeout,
            # Past this many open connections or requests in flight uvicorn answers 503
            # instead of queueing without bound.
            limit_concurrency=self.config.max_connections,
            h11_max_incomplete_event_size=_MAX_HEADER_BYTES,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"masivo-reference-server:{port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise TargetError(
                    f"the embedded server did not start on port {port}",
                    "see the log above for the reason",
                )
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._workers is not None:
            self._workers.shutdown(wait=True, cancel_futures=True)
        if self._store is not None:
            self._store.close()
        self._server = self._thread = self._store = self._workers = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
