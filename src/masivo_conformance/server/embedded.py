"""The reference server on a loopback port in a background thread (tests, default target)."""

from __future__ import annotations

import logging
import os
import sys
from concurrent.futures import Executor
from types import TracebackType

from masivo_conformance.errors import TargetError
from masivo_conformance.server.app import PREFIX, create_app
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.protocol import GuardedHttpProtocol
from masivo_conformance.server.store import StoreLike
from masivo_conformance.server.threaded import ServerThread

__all__ = ["EmbeddedServer"]

if sys.platform != "win32":
    import resource

_MAX_HEADER_BYTES = 16 * 1024  # request line and headers; more is a 400
# Open files kept free beside the connections: the database and its WAL files, modules
# imported on a first request, and the connections asyncio accepts in one go before
# the cap gets to close idle ones.
_SPARE_FILES = 64
_log = logging.getLogger(__name__)


class EmbeddedServer:
    """`with EmbeddedServer() as server:` gives `base_url`, `api_key` and `brand_id`."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.base_url = ""
        self.api_key = ""
        self.brand_id = ""
        self._serving: ServerThread | None = None
        self._store: StoreLike | None = None
        self._workers: Executor | None = None

    def start(self) -> EmbeddedServer:
        if self._serving is not None:
            return self
        app = create_app(self.config)
        self._store, self._workers = app.state.store, app.state.workers
        self.api_key, self.brand_id = app.state.api_key, app.state.brand_id
        cap = connection_cap(self.config.max_connections)
        serving = ServerThread(
            app,
            self.config.host,
            self.config.port,
            "masivo-reference-server",
            reuse_port=self.config.reuse_port,
            http=GuardedHttpProtocol.configured(
                self.config.header_timeout, self.config.body_timeout, cap, _MAX_HEADER_BYTES
            ),
            timeout_keep_alive=self.config.keep_alive_timeout,
            # The protocol keeps at most `cap` connections open by closing idle ones;
            # one more means all of them are busy, and uvicorn then answers 503
            # instead of queueing without bound.
            limit_concurrency=cap + 1,
        )
        self._serving = serving
        try:
            serving.start()
        except OSError as exc:
            self.stop()
            raise TargetError(
                f"cannot listen on {self.config.host}:{self.config.port} ({exc.strerror})",
                "choose another port, or 0 for a free one",
            ) from exc
        except RuntimeError as exc:
            self.stop()
            raise TargetError(str(exc), "see the log above for the reason") from exc
        self.base_url = serving.origin + PREFIX
        return self

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
        if self._workers is not None:
            self._workers.shutdown(wait=True, cancel_futures=True)
        if self._store is not None:
            self._store.close()
        self._serving = self._store = self._workers = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def connection_cap(wanted: int) -> int:
    """`wanted`, or fewer if the process's open-file limit cannot hold that many
    connections beside the files already open: past it accept() fails (EMFILE) and
    nobody new gets in, where below it the longest-idle connection makes room."""
    if sys.platform == "win32":
        return wanted
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    try:
        in_use = len(os.listdir("/proc/self/fd" if sys.platform == "linux" else "/dev/fd"))
    except OSError:
        in_use = _SPARE_FILES  # a guess; the cap only needs to be below the limit
    fitting = max(1, soft - in_use - _SPARE_FILES)
    if fitting < wanted:  # not a warning: the server copes, and macOS defaults to 256
        _log.info(
            "the open-file limit (%d, see ulimit -n) leaves room for %d connections, "
            "not %d: the reference server keeps at most %d open",
            soft,
            fitting,
            wanted,
            fitting,
        )
    return min(wanted, fitting)
