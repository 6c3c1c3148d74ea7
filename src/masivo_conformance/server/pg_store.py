"""PostgreSQL storage of the reference server: several processes on several machines
sharing one database (`serve --db postgresql://...`).

The tables are store.py's, in PostgreSQL's types, and the service's SQL is written once,
with SQLite's `?` placeholders, which `_Db` turns into psycopg's. Every transaction
first takes transaction-scoped advisory locks: the ledger's, shared, and its customer's
(or the ledger's alone, exclusive, for a brand-wide one). The changes of one customer,
from every process sharing the database, are serialised by the database itself, never
by a lock of one process, while different customers' run side by side. So the ledger's
rules hold whichever worker or machine answers: of concurrent reverses one applies
(REV-6), a second fulfil or reverse finds the first one's state (FUL-5, REV-4), balances
and reservations stay exact. A worker killed mid-change loses its connection, and
PostgreSQL rolls the change back and releases the locks (docs/decisions.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from masivo_conformance.errors import SettingsError
from masivo_conformance.server.store import SCHEMA, Db, Rows, kept_secret, shown_db

__all__ = ["PgStore"]

# Any numbers. The ledger's advisory lock: a brand-wide transaction takes it alone, a
# customer's shares it and takes its customer's lock, keyed (_CUSTOMER_LOCKS, hashtext of
# the id): a key space of its own, apart from single-number keys.
_LEDGER_LOCK = 0x6D617376
_CUSTOMER_LOCKS = 0x6D637573
# SQLite's schema in PostgreSQL's words: an INTEGER PRIMARY KEY is SQLite's row counter,
# REAL its 8-byte float; `balances` is read in insertion order (SQLite's hidden rowid).
_SCHEMA = (
    SCHEMA.replace("seq INTEGER PRIMARY KEY", "seq BIGSERIAL PRIMARY KEY")
    .replace(" REAL", " DOUBLE PRECISION")
    .replace(
        "CREATE TABLE IF NOT EXISTS balances (",
        "CREATE TABLE IF NOT EXISTS balances (rowid BIGSERIAL, ",
    )
)
# SQLite's round() takes a float; PostgreSQL's only a numeric. The service rounds totals.
_ROUND = (
    "CREATE OR REPLACE FUNCTION round(double precision, integer) RETURNS double precision "
    "AS 'SELECT round($1::numeric, $2)::double precision' LANGUAGE SQL IMMUTABLE"
)
_CONNECT_TIMEOUT_S = 10.0
_POOL_SIZE = 8  # the app's worker threads (app._WORKERS) and the health check


@lru_cache(maxsize=256)
def _placeholders(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled). The service's SQL has no
    `?` or `%` inside a string literal."""
    return sql.replace("%", "%%").replace("?", "%s")


# PostgreSQL's text holds no NUL character, which SQLite's does and a client may send in
# a customer id: every text value is stored with `\` as `\\` and NUL as `\0`, and read back
# the other way, so what a client sent is what it reads (and equal values stay equal).
_STORED = re.compile(r"\\(.)", re.DOTALL)


def _stored(value: Any) -> Any:
    if isinstance(value, bool):  # SQLite stores a bool as 0 or 1; INTEGER takes no bool
        return int(value)
    if isinstance(value, str) and ("\\" in value or "\x00" in value):
        return value.replace("\\", "\\\\").replace("\x00", "\\0")
    return value


def _read(value: Any) -> Any:
    if isinstance(value, str) and "\\" in value:
        return _STORED.sub(lambda m: "\x00" if m.group(1) == "0" else m.group(1), value)
    return value


class _Rows:
    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        return None if row is None else {k: _read(v) for k, v in row.items()}

    def fetchall(self) -> list[Any]:
        return [{k: _read(v) for k, v in row.items()} for row in self._cursor.fetchall()]


class _Db:
    """A transaction's connection as the service uses a SQLite one."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        values = [_stored(v) for v in parameters]
        return _Rows(self._conn.execute(_placeholders(sql), values))


def _unusable(url: str, exc: Exception) -> SettingsError:
    reason = re.sub(r"\s+", " ", str(exc)).strip()[:200]
    return SettingsError(
        f"cannot use the PostgreSQL database {shown_db(url)} ({reason})",
        "is the server running, and may this user create tables in that database?",
    )


class PgStore:
    remote = True  # a round trip per statement: the server runs transactions in threads

    def __init__(self, url: str) -> None:
        try:  # one connection first: a wrong URL is one line now, not a pool retrying
            psycopg.connect(url, connect_timeout=int(_CONNECT_TIMEOUT_S)).close()
        except psycopg.Error as exc:
            raise _unusable(url, exc) from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=_POOL_SIZE,
            kwargs={"row_factory": dict_row, "connect_timeout": int(_CONNECT_TIMEOUT_S)},
            open=False,
            name="masivo-reference",
        )
        try:
            self._pool.open(wait=True, timeout=_CONNECT_TIMEOUT_S)
            with self.transaction() as db:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute(_ROUND)
        except (psycopg.Error, PoolTimeout) as exc:
            self._pool.close()
            raise _unusable(url, exc) from None

    @contextmanager
    def transaction(self, customer: str | None = None) -> Iterator[Db]:
        """One atomic state change, serialised with every other process's change of the
        same customer and with every brand-wide one; rolled back if the body raises."""
        with self._pool.connection() as conn, conn.transaction():
            if customer is None:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LEDGER_LOCK,))
            else:
                conn.execute(
                    "SELECT pg_advisory_xact_lock_shared(%s), "
                    "pg_advisory_xact_lock(%s, hashtext(%s))",
                    (_LEDGER_LOCK, _CUSTOMER_LOCKS, _stored(customer)),
                )
            yield _Db(conn)

    @contextmanager
    def peek(self) -> Iterator[Db]:
        with self._pool.connection() as conn, conn.transaction():
            yield _Db(conn)

    def answers(self) -> bool:
        """Whether the database answers a query (the server's health, GET /healthz)."""
        try:
            with self._pool.connection(timeout=2.0) as conn:
                conn.execute("SELECT 1").fetchone()
        except (psycopg.Error, PoolTimeout):
            return False
        return True

    def secret(self) -> str:
        """The JWT signing secret (store.kept_secret), the same for every worker and
        machine sharing the database."""
        with self.transaction() as db:
            return kept_secret(db)

    def close(self) -> None:
        self._pool.close()
