"""A running proxy: the forwarding app (app.py) served by uvicorn on a thread, and its
judge (live.py). `masivo-conformance proxy` and the pytest plugin both start one:

    with Proxy(upstream, port=0, judge=LiveJudge(upstream.url, report_dir=...)) as proxy:
        ...  # the app's base URL is proxy.base_url
    proxy.judgement   # the verdicts, once stopped (reports written)

The socket is bound before the thread starts, so a port in use is one `SettingsError`
line, and port 0 gives a free one.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from masivo_conformance.errors import SettingsError, TargetError
from masivo_conformance.proxy.app import create_app
from masivo_conformance.proxy.live import LiveJudge
from masivo_conformance.proxy.upstream import Upstream
from masivo_conformance.reporting.judging import Judgement

__all__ = ["Proxy"]

_START_TIMEOUT = 10.0


class Proxy:
    """`start()` serves; `base_url` is then the app's base URL; `stop()` judges what
    is left, writes the reports and returns the `Judgement`."""

    def __init__(
        self,
        upstream: Upstream,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        timeout: float = 60.0,
        judge: LiveJudge | None = None,
    ) -> None:
        self.upstream, self.host, self.port, self.timeout = upstream, host, port, timeout
        self.judge = judge or LiveJudge(upstream.url)
        self.origin = ""
        self.judgement: Judgement | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.origin + self.upstream.base_path

    def start(self) -> Proxy:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say TCP; without it
        # every keep-alive answer waits ~40 ms (Nagle against delayed ACKs).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            self.judge.close()
            raise SettingsError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror})",
                "choose another --port (0: any free port) or --host",
            ) from None
        host, port = sock.getsockname()[:2]
        self.origin = f"http://{f'[{host}]' if family == socket.AF_INET6 else host}:{port}"
        app = create_app(self.upstream, self.judge.submit, timeout=self.timeout)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
            # The upstream's Date and Server pass through; uvicorn's would be a second pair.
            server_header=False,
            date_header=False,
        )
        # On a thread of its own uvicorn leaves the process's signals alone: they are the
        # command's (it writes the reports on SIGTERM).
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="masivo-proxy", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise TargetError(f"the proxy did not start on port {port}", "see the log above")
            time.sleep(0.005)
        return self

    def stop(self) -> Judgement:
        """Stop serving (answers under way end first), judge what is queued, write the
        reports; the verdicts."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None
        if self.judgement is None:
            self.judgement = self.judge.close()
        return self.judgement

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
