"""The tests' throwaway PostgreSQL (postgres_server.py, the `postgres_url`, `postgres_db`
and `make_postgres_db` fixtures): a URL psycopg connects to, a fresh database per test,
real row locks between connections, no root, nothing left behind, and one line naming
what failed when it does not start."""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import psycopg.errors
import pytest

from .postgres_server import PostgresStartError, postgres_server

TABLES = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"


@pytest.fixture
def short_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder where postgres_server makes its own (tempfile's default for this test),
    to see what it leaves: short, as the server's socket path must be."""
    folder = Path(tempfile.mkdtemp(prefix="mc-t-"))
    folder.chmod(0o755)  # as /tmp is to the server's user (`nobody`, as root)
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    shutil.rmtree(folder)  # empty when the test passed: each one checks


def _database(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def test_a_url_psycopg_connects_to_runs_select_1(postgres_url: str, postgres_db: str) -> None:
    for url in (postgres_url, postgres_db):
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.execute("SELECT current_database()").fetchone() == (_database(url),)
            # The unix socket only: no TCP address to clash with another worker's server.
            assert conn.execute("SHOW listen_addresses").fetchone() == ("",)
    assert _database(postgres_url) == "postgres"
    assert _database(postgres_db).startswith("test_")


def test_each_database_is_fresh_and_separate(
    postgres_db: str, make_postgres_db: Callable[[], str]
) -> None:
    other = make_postgres_db()
    assert _database(other) != _database(postgres_db)
    with psycopg.connect(postgres_db) as first, psycopg.connect(other) as second:
        assert first.execute(TABLES).fetchone() == (0,)
        assert second.execute(TABLES).fetchone() == (0,)
        first.execute("CREATE TABLE kept (id int PRIMARY KEY)")
        first.execute("INSERT INTO kept VALUES (1)")
        first.commit()
        assert first.execute("SELECT to_regclass('public.kept') IS NOT NULL").fetchone() == (True,)
        assert second.execute("SELECT to_regclass('public.kept') IS NOT NULL").fetchone() == (
            False,
        )
        assert second.execute(TABLES).fetchone() == (0,)


def test_a_locked_row_refuses_a_second_lock_without_waiting(postgres_db: str) -> None:
    with psycopg.connect(postgres_db, autocommit=True) as setup:
        setup.execute("CREATE TABLE rows (id int PRIMARY KEY, value int)")
        setup.execute("INSERT INTO rows VALUES (1, 10), (2, 20)")
    lock = "SELECT value FROM rows WHERE id = %s FOR UPDATE NOWAIT"
    with psycopg.connect(postgres_db) as holder, psycopg.connect(postgres_db) as other:
        # Not autocommit: the lock lasts until the holder's transaction ends.
        assert holder.execute("SELECT value FROM rows WHERE id = 1 FOR UPDATE").fetchone() == (10,)
        with pytest.raises(psycopg.errors.LockNotAvailable):
            other.execute(lock, (1,))
        other.rollback()
        assert other.execute(lock, (2,)).fetchone() == (20,)  # a row lock, not a table's
        other.rollback()
        holder.commit()
        assert other.execute(lock, (1,)).fetchone() == (10,)  # released with the commit


def test_the_server_runs_as_an_unprivileged_user(postgres_url: str) -> None:
    # PostgreSQL refuses root: as root (CI) the server runs as `nobody`.
    expected = pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.geteuid()
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT pg_backend_pid(), current_setting('data_directory')").fetchone()
        assert row is not None
        pid, data = row
        # While connected: the backend process ends with its connection.
        assert Path(f"/proc/{pid}").stat().st_uid == expected
    assert Path(data).stat().st_uid == expected
    assert Path(data).stat().st_mode & 0o777 == 0o700


def test_a_server_stops_and_leaves_nothing_behind(short_tmp: Path) -> None:
    with postgres_server() as url:
        folder = Path(parse_qs(urlsplit(url).query)["host"][0])
        assert folder.parent == short_tmp
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        postmaster = int((folder / "data" / "postmaster.pid").read_text().split()[0])
    assert list(short_tmp.iterdir()) == []
    with pytest.raises(ProcessLookupError):
        os.kill(postmaster, 0)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


@pytest.mark.parametrize(
    ("settings", "timeout", "said"),
    [
        (
            {"shared_buffers": "plenty"},
            60.0,
            'postgres exited with 1: FATAL: invalid value for parameter "shared_buffers"',
        ),
        ({}, 0.01, "initdb did not finish within 0.01 s"),
    ],
    ids=["a bad setting", "too slow"],
)
def test_a_server_that_does_not_start_is_one_line_naming_why(
    short_tmp: Path, settings: dict[str, str], timeout: float, said: str
) -> None:
    with pytest.raises(PostgresStartError) as failed, postgres_server(settings, timeout):
        pytest.fail("the server started")
    message = str(failed.value)
    assert message.startswith(f"the test PostgreSQL did not start: {said}")
    assert "\n" not in message
    assert list(short_tmp.iterdir()) == []  # the half-made cluster is gone too


def test_a_socket_path_too_long_is_said_before_anything_starts(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = short_tmp / ("d" * 100)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    with (
        pytest.raises(PostgresStartError, match="socket path is over 107 bytes"),
        postgres_server(),
    ):
        pytest.fail("the server started")
    assert list(deep.iterdir()) == []
    deep.rmdir()
