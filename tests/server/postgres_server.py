"""A throwaway PostgreSQL server for the tests: PostgreSQL 16's binaries from the
`pgserver` wheel (pip, no system package), a cluster made by initdb in a temporary
folder, listening only on a unix socket in that folder (no TCP port, so every xdist
worker starts its own without clashing), stopped and deleted at the end.

Only pgserver's binaries are used, not its `get_server()`: as root (CI) it creates a
system user with useradd and widens the permissions of every folder above its data and
its install, it gives pg_ctl 10 s and then polls for readiness without a bound, and a
start that times out leaves the server running. Here, PostgreSQL refusing root is met by
running initdb and postgres as `nobody` (in every Debian-like base system, so no user is
created), from a copy of the binaries inside the temporary folder, which that user owns:
nothing outside the folder changes, wherever the checkout is (a folder under /root is
closed to other users). docs/decisions.md, "A real PostgreSQL in the tests", says why
pgserver and not Debian's package.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

__all__ = [
    "START_TIMEOUT_S",
    "PostgresStartError",
    "create_database",
    "drop_database",
    "postgres_server",
]

START_TIMEOUT_S = 60.0  # initdb and start-up together, about a second on an idle machine
_STOP_TIMEOUT_S = 30.0
_PORT = 5432  # names the socket file only: the server opens no TCP port
_UNPRIVILEGED = "nobody"
_SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes, the last one a NUL
# A cluster thrown away after the session: durability is not what its tests look at, and
# flushing to disk on a busy 2-core machine costs seconds.
_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
_PROBLEM = re.compile(r"\b(?:PANIC|FATAL|ERROR|error):.*")


class PostgresStartError(RuntimeError):
    """The test PostgreSQL did not start; the message is one line naming what failed."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the test PostgreSQL did not start: {what}")


@contextmanager
def postgres_server(
    settings: Mapping[str, str] | None = None, start_timeout: float = START_TIMEOUT_S
) -> Iterator[str]:
    """Start a PostgreSQL server (extra `settings` as postgres -c options), yield the URL
    of its `postgres` database, then stop it and delete its data. A server that does not
    accept a connection within `start_timeout` seconds is a PostgresStartError."""
    folder = Path(tempfile.mkdtemp(prefix="mc-pg-"))
    try:
        process = _start(folder, {**_SETTINGS, **(settings or {})}, start_timeout)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        yield _url(folder)
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """Create database `name` on the server of `url`; its URL."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(url, name)


def drop_database(url: str, name: str) -> None:
    """Drop database `name`, closing what is still connected to it (a pool a test left)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _start(folder: Path, settings: Mapping[str, str], timeout: float) -> subprocess.Popen[bytes]:
    """A cluster made in `folder` and its server started there (as `nobody` when this
    process is root): the server's process, once it accepts a connection."""
    deadline = time.monotonic() + timeout
    socket = folder / f".s.PGSQL.{_PORT}"
    if len(os.fsencode(socket)) > _SOCKET_PATH_MAX:
        raise PostgresStartError(f"its socket path is over 107 bytes (a shorter TMPDIR): {socket}")
    package = _package()
    account = _account()
    if account is not None:
        package = _copy(package, folder / "site-packages")
        for path in [folder, *folder.rglob("*")]:
            os.lchown(path, account.pw_uid, account.pw_gid)
    # As root, `nobody` with its group and no other: root's groups would stay otherwise.
    uid: int | None = account.pw_uid if account else None
    gid: int | None = account.pw_gid if account else None
    groups: list[int] | None = [] if account else None
    binaries = package / "pginstall" / "bin"
    data = folder / "data"
    log = folder / "postgres.log"
    initdb: list[str | Path] = [binaries / "initdb", "-D", data, "-U", "postgres", "-A", "trust"]
    initdb += ["-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"]
    postgres: list[str | Path] = [binaries / "postgres", "-D", data, "-p", str(_PORT)]
    postgres += ["-k", folder, "-h", ""]  # its socket in the folder, no TCP address
    postgres += [part for item in settings.items() for part in ("-c", "=".join(item))]
    env = _environment()
    with log.open("ab") as out:
        # Both run as the data folder's owner, output into the log.
        owner: dict[str, Any] = {
            "stdin": subprocess.DEVNULL,
            "stdout": out,
            "stderr": subprocess.STDOUT,
            "env": env,
            "user": uid,
            "group": gid,
            "extra_groups": groups,
        }
        try:
            subprocess.run(
                initdb, **owner, timeout=max(deadline - time.monotonic(), 0.0), check=True
            )
        except subprocess.TimeoutExpired:
            raise PostgresStartError(f"initdb did not finish within {timeout:g} s") from None
        except subprocess.CalledProcessError as exc:
            raise PostgresStartError(
                f"initdb exited with {exc.returncode}: {_cause(log)}"
            ) from None
        except OSError as exc:  # not run at all: a folder above closed to `nobody`, say
            raise PostgresStartError(f"initdb could not be run: {exc}") from None
        process = subprocess.Popen(postgres, **owner)
    try:
        _wait_until_ready(process, _url(folder), log, deadline, timeout)
    except BaseException:
        _stop(process)
        raise
    return process


def _wait_until_ready(
    process: subprocess.Popen[bytes], url: str, log: Path, deadline: float, timeout: float
) -> None:
    # A connection is the proof: the socket file appears before the server accepts one.
    while True:
        code = process.poll()
        if code is not None:
            raise PostgresStartError(f"postgres exited with {code}: {_cause(log)}")
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise PostgresStartError(
                f"postgres accepted no connection within {timeout:g} s: {_cause(log)}"
            )
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # SIGINT is PostgreSQL's fast shutdown: it ends the connections a test left open, where
    # SIGTERM (smart shutdown) would wait for them.
    process.send_signal(signal.SIGINT)
    try:
        process.wait(_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _package() -> Path:
    # find_spec, not an import: importing pgserver sets up its lock file in the user's
    # runtime folder and warns when XDG_RUNTIME_DIR is unset (CI).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresStartError("pgserver is not installed (the dev extra: make installs it)")
    return Path(spec.submodule_search_locations[0])


def _account() -> pwd.struct_passwd | None:
    """Whom the server runs as: None for this process's own user; `nobody` for root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_UNPRIVILEGED)
    except KeyError:
        raise PostgresStartError(
            f"PostgreSQL refuses root, and there is no user {_UNPRIVILEGED!r} to run it as"
        ) from None


def _copy(package: Path, target: Path) -> Path:
    """pgserver's binaries, libraries and data files, laid out as installed: the binaries
    find their libpq in `$ORIGIN/../../../pgserver.libs`. Headers and static libraries,
    for building extensions, are left out. About 0.05 s."""
    shutil.copytree(
        package / "pginstall",
        target / "pgserver" / "pginstall",
        symlinks=True,
        ignore=shutil.ignore_patterns("include", "*.a"),
    )
    shutil.copytree(package.parent / "pgserver.libs", target / "pgserver.libs", symlinks=True)
    return target / "pgserver"


def _environment() -> dict[str, str]:
    # A shell's PG* variables (PGPORT, PGOPTIONS, ...) would change what initdb and the
    # server do; the C locale keeps their messages in English, as _cause reads them.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _cause(log: Path) -> str:
    """The log's last error line, else its last line: why initdb or postgres stopped."""
    lines = [" ".join(line.split()) for line in log.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    for line in reversed(lines):
        found = _PROBLEM.search(line)
        if found:
            return found.group()
    return lines[-1] if lines else "nothing in its log"


def _url(folder: Path) -> str:
    # libpq's URL for a unix socket: its folder as the `host` parameter (in the authority
    # part a path would have to be percent-encoded); the port names the socket file.
    return f"postgresql://postgres@/postgres?host={quote(str(folder), safe='/')}&port={_PORT}"


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
