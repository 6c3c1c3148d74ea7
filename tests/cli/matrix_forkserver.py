"""Whole `masivo-conformance` runs in fresh processes without paying Python's start-up each
time: a fork server for the fault matrix and the other CLI tests.

A run in a new interpreter spends about 3 s (more under load) importing pytest, its
plugins, Hypothesis and schemathesis before it sends a request; the fault matrix makes
over 60 runs. The fork server imports all of that once, then forks a child per run: the
child starts from that pristine, already-imported state (nothing one run changes reaches
the next, as with a subprocess), runs `cli.main(argv)` with its stdout and stderr going to
files, and exits with the command's exit code. Forking is safe because the server has
started no thread (it checks).

Protocol, one JSON line each way over the server's stdin and stdout:
request `{"argv": [...], "env": {...}, "out": path, "err": path}`, answer
`{"exit_code": n}`. The client is `ForkServer`; the server is this module's `__main__`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import json
import os
import pkgutil
import select
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["Finished", "ForkServer"]

_PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Finished:
    exit_code: int
    stdout: str
    stderr: str


class ForkServer:
    """The client: starts the server lazily, sends one run at a time, restarts it after a
    timeout (which kills the server and the run it was waiting for)."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._process: subprocess.Popen[str] | None = None
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by close())

    def run(self, argv: list[str], env: dict[str, str], timeout: float) -> Finished:
        """Run `masivo-conformance ARGV` with `env` added."""
        requests, answers = self._started()
        with tempfile.TemporaryDirectory(prefix="masivo-run-") as tmp:
            out, err = Path(tmp, "stdout"), Path(tmp, "stderr")
            request = {"argv": argv, "env": env, "out": str(out), "err": str(err)}
            requests.write(json.dumps(request) + "\n")
            requests.flush()
            ready, _, _ = select.select([answers], [], [], timeout)
            if not ready:
                self.close()  # kills the run too
                raise subprocess.TimeoutExpired(argv, timeout, _text(out), _text(err))
            line = answers.readline()
            if not line:
                self._log.seek(0)
                log = self._log.read()[-3000:]
                self.close()
                raise RuntimeError(f"the fork server died: {log}")
            return Finished(int(json.loads(line)["exit_code"]), _text(out), _text(err))

    def _started(self) -> tuple[IO[str], IO[str]]:
        """The server's stdin and stdout, started if it is not running."""
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.cli.matrix_forkserver"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                text=True,
                cwd=_PROJECT,
                env=self._env,
                # Its own process group: a timeout kills the server and its children.
                start_new_session=True,
            )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        return self._process.stdin, self._process.stdout

    def close(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
            self._process = None


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _preload() -> None:
    """Import what every run imports: this package (all of it, so a module moved between
    packages needs no edit here) and every pytest plugin that pytest would load from its
    entry points (hypothesis, schemathesis, xdist, ...)."""
    import masivo_conformance  # noqa: PLC0415

    for module in pkgutil.walk_packages(masivo_conformance.__path__, "masivo_conformance."):
        if not module.name.endswith("__main__"):  # that one runs the command
            importlib.import_module(module.name)
    for entry_point in importlib.metadata.entry_points(group="pytest11"):
        importlib.import_module(entry_point.value.split(":")[0])


def _child(request: dict[str, Any]) -> int:
    """In the forked child: one `masivo-conformance` run, as `python -m` would run it."""
    from masivo_conformance import cli  # noqa: PLC0415

    os.environ.update(request["env"])
    for fd, path in ((1, request["out"]), (2, request["err"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    stdin = os.open(os.devnull, os.O_RDONLY)  # the requests are the server's, not the run's
    os.dup2(stdin, 0)
    os.close(stdin)
    try:
        code: Any = cli.main(request["argv"])
    except SystemExit as exc:  # argparse's usage errors, as the interpreter reports them
        code = exc.code
    except BaseException:  # what the interpreter does with an uncaught error
        traceback.print_exc()
        code = 1
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return 0 if code is None else int(code)


def _serve(requests: IO[str], answers: IO[str]) -> None:
    _preload()
    if threading.active_count() != 1:  # a forked child would lack the other threads
        raise RuntimeError(f"fork server has threads: {threading.enumerate()}")
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request)
            finally:
                os._exit(code)  # no atexit or finalizers of the parent's state
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"exit_code": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()


if __name__ == "__main__":
    _serve(sys.stdin, sys.stdout)
