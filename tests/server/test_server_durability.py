"""State written with a db file survives a restart; concurrent calls never double-apply."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time

import httpx
import pytest

from masivo_conformance.server import EmbeddedServer, ServerConfig
from masivo_conformance.server.store import Store

from .conftest import POINTS, Api


@pytest.fixture(params=["file", "postgres"])
def durable_db(request, tmp_path):
    """A store that outlives its server: a SQLite file, or a PostgreSQL database."""
    if request.param == "file":
        return str(tmp_path / "state.sqlite")
    return request.getfixturevalue("postgres_db")


def test_events_wallets_transactions_and_tokens_survive_a_restart(durable_db):
    config = ServerConfig(db_path=durable_db)
    with EmbeddedServer(config) as first:
        api = Api(first)
        customer_id = api.customer()
        kept = api.event(customer_id, 70)
        gone = api.event(customer_id, 20, redeem=[{"id": POINTS, "amount": 30}])
        assert api.reverse(gone["id"]).status_code == 200
        standby = api.event(customer_id, 5, fulfilled=False)
        wallet = api.wallet(customer_id)
        transactions = {e: api.transactions(e) for e in (kept["id"], gone["id"])}
        token = api.http.headers["Authorization"]
        api.close()
    with EmbeddedServer(config) as second:
        again = httpx.Client(base_url=second.base_url, headers={"Authorization": token})
        assert again.get(f"/customers/{customer_id}").json()["data"]["wallet"] == wallet
        for event_id, before in transactions.items():
            listed = again.get("/transactions", params={"event_id": event_id})
            assert listed.json()["data"] == before
        assert (
            again.post(
                f"/behavior/events/{gone['id']}/reverse", json={"reason": "again"}
            ).status_code
            == 409
        )
        fulfilled = again.patch(f"/behavior/events/{standby['id']}/fulfill")
        assert fulfilled.json()["data"]["status"] == "RESOLVED"
        again.close()


def _race(api: Api, calls: int, request: str, event_id: str) -> list[int]:
    """`calls` real concurrent requests over loopback, released together by a barrier."""
    barrier = threading.Barrier(calls)
    codes: list[int] = []
    headers = {"Authorization": api.http.headers["Authorization"]}

    def one() -> None:
        with httpx.Client(base_url=api.server.base_url, headers=headers, timeout=30) as client:
            client.get("/rewards", params={"from": 0, "to": 0})  # connect before the race
            barrier.wait()
            if request == "reverse":
                response = client.post(
                    f"/behavior/events/{event_id}/reverse", json={"reason": "race"}
                )
            else:
                response = client.patch(f"/behavior/events/{event_id}/fulfill")
            codes.append(response.status_code)

    threads = [threading.Thread(target=one) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


@pytest.fixture(params=["memory", "file", "postgres"])
def any_db(request):
    """Every store: in memory, a SQLite file (make_api's default), PostgreSQL."""
    if request.param == "memory":
        return {"db_path": None}
    if request.param == "postgres":
        return {"db_path": request.getfixturevalue("postgres_db")}
    return {}


def test_twenty_concurrent_reverses_apply_exactly_once(make_api, any_db):
    api = make_api(**any_db)
    customer_id = api.customer()
    api.event(customer_id, 50)
    event = api.event(customer_id, 40, redeem=[{"id": POINTS, "amount": 25}])
    assert api.total(customer_id) == 65
    codes = _race(api, 20, "reverse", event["id"])
    assert sorted(codes) == [200] + [409] * 19
    assert api.total(customer_id) == 50
    kinds = [t["type"] for t in api.transactions(event["id"])]
    assert kinds.count("REVERSAL") == 2  # one per transaction of the event


def test_twenty_concurrent_fulfils_apply_exactly_once(make_api, any_db):
    api = make_api(**any_db)
    customer_id = api.customer()
    api.event(customer_id, 50)
    standby = api.event(customer_id, 40, fulfilled=False, redeem=[{"id": POINTS, "amount": 25}])
    codes = _race(api, 20, "fulfil", standby["id"])
    assert sorted(codes) == [200] + [409] * 19
    assert api.total(customer_id) == 65
    assert [t["type"] for t in api.transactions(standby["id"])] == ["REDEMPTION", "ACCUMULATION"]


def test_a_database_file_from_before_the_reason_column_gets_it(tmp_path):
    path = str(tmp_path / "old.sqlite")
    Store(path).close()
    with sqlite3.connect(path) as old:
        old.execute("ALTER TABLE events DROP COLUMN reason")  # as files made before it
    store = Store(path)
    with store.transaction() as db:
        columns = {c["name"] for c in db.execute("PRAGMA table_info(events)").fetchall()}
    store.close()
    assert "reason" in columns


def test_processes_sharing_a_file_queue_on_its_lock_file(tmp_path):
    """Two stores on one file (two workers' connections): the second's transaction starts
    only once the first has committed, by waiting on `<file>-lock` (owner-only, like the
    database), and sees what the first wrote; no "database is locked" error."""
    path = str(tmp_path / "shared.sqlite3")
    first, second = Store(path), Store(path)
    # SQLite's own wait off: only the queue can make the second wait instead of failing.
    second._conn.execute("PRAGMA busy_timeout=0")
    order: list[str] = []
    inside = threading.Event()

    def late_writer() -> None:
        inside.wait(5)
        with second.transaction() as db:
            order.append("second")
            order.append(str(db.execute("SELECT value FROM meta WHERE key = 'q'").fetchone()))

    thread = threading.Thread(target=late_writer)
    thread.start()
    try:
        with first.transaction() as db:
            inside.set()
            time.sleep(0.2)  # the second is waiting meanwhile
            db.execute("INSERT INTO meta VALUES ('q', 'first')")
            order.append("first")
        thread.join(5)
    finally:
        first.close()
        second.close()
    assert order == ["first", "second", "{'value': 'first'}"]
    assert stat.S_IMODE(os.stat(f"{path}-lock").st_mode) == 0o600
