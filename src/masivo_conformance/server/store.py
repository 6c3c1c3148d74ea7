"""SQLite storage of the reference server: customers, events, wallet lines, transactions.

One connection, guarded by a lock; every state change runs inside `transaction()`
(BEGIN IMMEDIATE ... COMMIT), so two requests can never interleave inside one change
and a crash mid-change leaves nothing half written. A file database survives restarts,
and serves several processes (`serve --workers`): BEGIN IMMEDIATE takes SQLite's write
lock before the change reads anything, so changes of two processes never interleave
either. The processes first queue on an flock of `<file>-lock`: SQLite's own wait for
its lock polls, sleeping 1 ms and more at each try, where the kernel hands an flock over
the moment it is let go (docs/decisions.md). `open_store` gives this store or the
PostgreSQL one (pg_store.py), whose transactions hand out the same `Db`: the service and
the books are written once.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol
from urllib.parse import urlsplit

from masivo_conformance.errors import SettingsError

__all__ = [
    "SCHEMA",
    "Db",
    "Row",
    "Rows",
    "Store",
    "StoreLike",
    "dumps",
    "insert",
    "inserted",
    "kept_secret",
    "open_store",
    "shown_db",
    "update",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY, internal_id TEXT NOT NULL, wallet_id TEXT NOT NULL,
    body TEXT NOT NULL, registration_date TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, customer_id TEXT NOT NULL,
    brand_id TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL,
    fulfilled INTEGER NOT NULL, reserve REAL NOT NULL, status TEXT NOT NULL,
    queue_message_id TEXT NOT NULL, failure TEXT, due_at REAL,
    issued_at TEXT NOT NULL, processing_at TEXT, resolved_at TEXT,
    cancelled_at TEXT, expired_at TEXT, reversed_at TEXT, reason TEXT);
CREATE INDEX IF NOT EXISTS events_due ON events (due_at) WHERE due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS lines (
    seq INTEGER PRIMARY KEY, customer_id TEXT NOT NULL, event_id TEXT,
    kind TEXT NOT NULL, active INTEGER NOT NULL, amount REAL NOT NULL,
    reward_id TEXT NOT NULL, campaign_id TEXT, brand_id TEXT,
    issued_at TEXT, expiration_date TEXT, reservation_expires_at TEXT);
CREATE INDEX IF NOT EXISTS lines_customer ON lines (customer_id, active);
CREATE INDEX IF NOT EXISTS lines_event ON lines (event_id);
CREATE TABLE IF NOT EXISTS balances (
    customer_id TEXT NOT NULL, reward_id TEXT NOT NULL, total REAL NOT NULL,
    PRIMARY KEY (customer_id, reward_id));
CREATE TABLE IF NOT EXISTS transactions (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, customer_id TEXT NOT NULL,
    event_id TEXT, brand_id TEXT, campaign_id TEXT, campaign_name TEXT,
    reward_id TEXT, reward_type TEXT, amount REAL NOT NULL, type TEXT NOT NULL,
    event_type TEXT, details TEXT, line TEXT, channel_id TEXT, store_id TEXT,
    created_at TEXT NOT NULL, issued_at TEXT);
CREATE INDEX IF NOT EXISTS transactions_event ON transactions (event_id);
"""

Row = dict[str, Any]


class Rows(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Db(Protocol):
    """What a transaction hands out: `execute` with `?` placeholders, rows as dicts."""

    def execute(self, sql: str, parameters: Any = (), /) -> Rows: ...


class StoreLike(Protocol):
    """A store of the reference server (this one, or pg_store.PgStore).

    `remote`: its transactions wait on a network round trip (PostgreSQL), so the server
    runs them in worker threads. SQLite's are CPU and local file work, cheaper run where
    they are asked for than handed to a thread and back (docs/benchmarks.md)."""

    remote: bool

    def transaction(self, customer: str | None = None) -> AbstractContextManager[Db]:
        """One atomic change of `customer`'s, or of the whole ledger (None): serialised
        with every change of the same customer, and with every brand-wide one."""
        ...

    def peek(self) -> AbstractContextManager[Db]:
        """A read that waits for no change: what it reads may change before the next
        transaction, so only what never changes may be read here (an event's customer)."""
        ...

    def answers(self) -> bool: ...
    def secret(self) -> str: ...
    def close(self) -> None: ...


def shown_db(db: str | None) -> str:
    """`--db` as a message may show it: a URL without its password."""
    if db is None or "://" not in db:
        return db or "memory"
    parts = urlsplit(db)
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{parts.hostname or 'localhost'}{port}{parts.path}"


def open_store(db: str | None) -> StoreLike:
    """The store `db` names: a postgresql:// URL, a SQLite file, or None (in memory)."""
    if db is not None and db.startswith(("postgresql://", "postgres://")):
        # Imported here: psycopg and its pool load only when a PostgreSQL store is asked for.
        from masivo_conformance.server.pg_store import PgStore  # noqa: PLC0415

        store: StoreLike = PgStore(db)
        return store
    return Store(db)


def _row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> Row:
    return {col[0]: value for col, value in zip(cursor.description, values, strict=True)}


class Store:
    remote = False

    def __init__(self, db_path: str | None = None) -> None:
        self._queue: int | None = None  # the fd of `<file>-lock`, for a file database
        if db_path:
            _create_private(db_path)
            self._queue = _open_queue(db_path)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                db_path or ":memory:", check_same_thread=False, isolation_level=None
            )
            self._conn.row_factory = _row
            if db_path:
                # WAL + NORMAL: a commit survives the process dying; only an OS crash can
                # lose the last commits, which is fine for a test double.
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            with self.transaction() as db:
                for statement in filter(str.strip, SCHEMA.split(";")):
                    db.execute(statement)
                _add_missing_columns(db)
        except sqlite3.Error as exc:
            if not db_path:
                raise
            if hasattr(self, "_conn"):
                self._conn.close()
            self._close_queue()
            raise SettingsError(
                f"cannot open the database file {db_path} ({exc})",
                "is it a SQLite file, in a folder that exists and is writable?",
            ) from None

    @contextmanager
    def transaction(self, customer: str | None = None) -> Iterator[Db]:
        """One atomic state change; rolled back if the body raises. SQLite has one writer
        at a time: every change is serialised, whoever's customer it changes."""
        with self._lock, self._queued():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def peek(self) -> Iterator[Db]:
        with self._lock:
            yield self._conn  # outside BEGIN: SQLite reads in a transaction of its own

    @contextmanager
    def _queued(self) -> Iterator[None]:
        """This process's turn among those sharing the file (none in memory)."""
        if self._queue is None:
            yield
            return
        fcntl.flock(self._queue, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._queue, fcntl.LOCK_UN)

    def answers(self) -> bool:
        """Whether the database answers a query (the server's health, GET /healthz)."""
        try:
            with self._lock:
                self._conn.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._close_queue()

    def _close_queue(self) -> None:
        if self._queue is not None:
            os.close(self._queue)
            self._queue = None

    def secret(self) -> str:
        """The JWT signing secret, made once and kept in the database (survives restarts)."""
        with self.transaction() as db:
            return kept_secret(db)


def kept_secret(db: Db) -> str:
    """The JWT signing secret kept in `db`'s meta table, made there the first time: every
    process sharing the store signs and verifies with the same one."""
    row = db.execute("SELECT value FROM meta WHERE key = 'jwt_secret'").fetchone()
    if row:
        return str(row["value"])
    value = secrets.token_urlsafe(32)
    db.execute("INSERT INTO meta VALUES ('jwt_secret', ?)", (value,))
    return value


def _create_private(path: str) -> None:
    """Create the database file readable by its owner only (it holds the JWT secret);
    SQLite gives its -wal and -shm files the same mode. An existing file is kept as is."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return
    except OSError as exc:
        raise SettingsError(
            f"cannot create the database file {path} ({exc.strerror})",
            "does the folder exist and is it writable?",
        ) from exc


def _open_queue(db_path: str) -> int:
    """The lock file the processes sharing `db_path` queue on, readable by its owner only
    like the database (it holds nothing)."""
    path = f"{db_path}-lock"
    try:
        return os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError as exc:
        raise SettingsError(
            f"cannot create the lock file {path} ({exc.strerror})",
            "is the database's folder writable?",
        ) from exc


# Columns added after a release, for database files made before them: (table, column, type).
_LATER_COLUMNS = (("events", "reason", "TEXT"),)


def _add_missing_columns(db: Db) -> None:
    for table, column, kind in _LATER_COLUMNS:
        present = {c["name"] for c in db.execute(f"PRAGMA table_info({table})").fetchall()}
        if column not in present:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _insert_sql(table: str, row: Row) -> str:
    marks = ", ".join("?" for _ in row)
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})"  # noqa: S608 (own names)


def insert(db: Db, table: str, row: Row) -> None:
    db.execute(_insert_sql(table, row), tuple(row.values()))


def inserted(db: Db, table: str, row: Row) -> Row:
    """Insert `row`; the row as stored, with the columns it left to their defaults."""
    sql = _insert_sql(table, row) + " RETURNING *"
    stored: Row = db.execute(sql, tuple(row.values())).fetchall()[0]
    return stored


def update(db: Db, table: str, key: str, key_value: Any, changes: Row) -> None:
    sets = ", ".join(f"{column} = ?" for column in changes)
    db.execute(
        f"UPDATE {table} SET {sets} WHERE {key} = ?",  # noqa: S608 (own names)
        (*changes.values(), key_value),
    )


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
