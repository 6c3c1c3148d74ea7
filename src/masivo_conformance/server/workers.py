"""Several processes serving one reference server: `serve --workers N`.

Each worker is a process of its own running the embedded server (server/embedded.py) on
the same port with SO_REUSEPORT, so the kernel spreads the connections over them, and
with the same store: a SQLite file or a PostgreSQL database (store.py, pg_store.py),
whose own transactions keep the ledger's rules across processes. A worker that dies is
started again; on SIGINT or SIGTERM every worker stops its listener and finishes the
requests in flight (uvicorn's graceful shutdown) before it exits.

Workers are spawned, not forked: the supervisor may have threads (a test's), and a
fork copies none of them but every lock they held.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import threading
from dataclasses import replace
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from masivo_conformance.errors import SettingsError, TargetError
from masivo_conformance.server.app import PREFIX
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.seed import load_seed

__all__ = ["WorkerPool"]

_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0


def _serve(config: ServerConfig, ready: Any) -> None:
    """One worker: serve until SIGTERM or SIGINT, then finish what is in flight."""
    from masivo_conformance.server.embedded import EmbeddedServer  # noqa: PLC0415

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        server = EmbeddedServer(config).start()
    except Exception as exc:  # the supervisor says it in one line
        ready.put(str(exc))
        return
    ready.put("")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()


class WorkerPool:
    """`count` worker processes on one port; once started, `base_url`, `api_key` and
    `brand_id`, as an EmbeddedServer gives them."""

    def __init__(self, config: ServerConfig, count: int) -> None:
        if config.db_path is None:
            raise SettingsError(
                f"--workers {count} needs --db: the workers share their state through it",
                "give a SQLite file (--db state.sqlite3) or a PostgreSQL URL "
                "(--db postgresql://user@host/db)",
            )
        self.count = count
        self.base_url = ""
        seed = load_seed(config.seed_path)  # what every worker serves: a bad seed fails here
        self.api_key, self.brand_id = config.api_key or seed.api_key, seed.brand_id
        self._context = multiprocessing.get_context("spawn")
        self._config = config
        self._workers: list[BaseProcess] = []
        self._stopping = False

    def start(self) -> WorkerPool:
        # The port, chosen once: a socket bound (not listening) with SO_REUSEPORT holds it
        # while the workers bind it too, and is closed once they listen.
        family = socket.AF_INET6 if ":" in self._config.host else socket.AF_INET
        holder = socket.socket(family, socket.SOCK_STREAM)
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            holder.bind((self._config.host, self._config.port))
        except OSError as exc:
            holder.close()
            raise TargetError(
                f"cannot listen on {self._config.host}:{self._config.port} ({exc.strerror})",
                "choose another port, or 0 for a free one",
            ) from exc
        port = holder.getsockname()[1]
        self._config = replace(self._config, port=port, reuse_port=True)
        try:
            for _ in range(self.count):
                self._workers.append(self._spawn())
        except BaseException:
            self.stop()
            raise
        finally:
            holder.close()
        shown = f"[{self._config.host}]" if family == socket.AF_INET6 else self._config.host
        self.base_url = f"http://{shown}:{port}{PREFIX}"
        return self

    def _spawn(self) -> BaseProcess:
        ready = self._context.Queue()
        worker = self._context.Process(
            target=_serve, args=(self._config, ready), name="masivo-reference-worker"
        )
        worker.start()
        try:
            problem = ready.get(timeout=_START_TIMEOUT_S)
        except Exception:  # queue.Empty: no word within the timeout
            problem = f"a worker did not start within {_START_TIMEOUT_S:g} s"
        if problem:
            worker.kill()
            raise TargetError(problem, "see the message above; fix it and start again")
        return worker

    @property
    def config(self) -> ServerConfig:
        """What every worker serves, its port chosen."""
        return self._config

    @property
    def pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.pid is not None]

    def replace_dead(self) -> int:
        """Start a new worker for each one that died; how many were started."""
        if self._stopping:
            return 0
        started = 0
        for n, worker in enumerate(self._workers):
            if not worker.is_alive():
                worker.join()
                self._workers[n] = self._spawn()
                started += 1
        return started

    def stop(self) -> None:
        """Every worker finishes its requests in flight and exits (killed if it will not)."""
        self._stopping = True
        for worker in self._workers:
            if worker.is_alive() and worker.pid is not None:
                worker.terminate()  # SIGTERM: the graceful path of `_serve`
        for worker in self._workers:
            worker.join(_STOP_TIMEOUT_S)
            if worker.is_alive():
                worker.kill()
                worker.join()
        self._workers = []
