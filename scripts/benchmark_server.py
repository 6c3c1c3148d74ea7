"""Benchmark the reference server over loopback: emit, reverse and preview.

Starts `masivo-conformance serve` in a subprocess on a free loopback port, drives it
with 1 and 8 concurrent keep-alive clients (a minimal asyncio HTTP/1.1 client, so the
client costs little of the machine's CPU), prints requests/s and p50/p99 latency per
operation, the server's CPU time per request and its peak memory (VmHWM), then stops
the server. Request counts are bounded, so it always ends by itself.

The same client then drives a bare uvicorn + Starlette JSON endpoint
(scripts/benchmark_server_bare.py: parse the body, answer a small JSON object) on the
same machine, so the reference server's cost shows as a ratio that other work on the
machine affects far less than the raw figures. Each server runs --repeat times, the
two alternating; the table gives the median run and the best.

    .venv/bin/python scripts/benchmark_server.py [--requests 2000] [--db PATH]
        [--repeat 3] [--no-bare] [--bare-http httptools|h11]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CONCURRENCY = (1, 8)
CUSTOMERS = 64
POINTS_REWARD = "701d6742-c510-430f-9494-c43068546752"  # the default seed's POINTS reward


class Connection:
    """One keep-alive HTTP/1.1 connection; requests on it are sequential."""

    def __init__(self, host: str, port: int, prefix: str, token: str) -> None:
        self.host, self.port, self.prefix, self.token = host, port, prefix, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def call(
        self, method: str, path: str, body: Any = None, extra: str = ""
    ) -> tuple[int, Any]:
        assert self.reader is not None
        assert self.writer is not None
        payload = b"" if body is None else json.dumps(body).encode()
        auth = f"Authorization: Bearer {self.token}\r\n" if self.token else extra
        head = (
            f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self.reader.readexactly(length)
        return int(status_line.split()[1]), json.loads(data) if data else None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


Request = Callable[[int], tuple[str, str, Any]]


def family(pid: int) -> list[int]:
    """`pid` and its live descendants (`serve --workers`: the workers are children)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found += family(int(child))
    return found


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process `pid` and its live descendants so far."""
    total = 0.0
    for member in family(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def measure(
    address: tuple[str, int, str, str], clients: int, total: int, make: Request, pid: int
) -> dict[str, Any]:
    """`total` requests spread over `clients` connections; latencies in milliseconds,
    and the server's CPU time per request (which other work on the machine affects
    far less than requests/s)."""
    connections = [Connection(*address) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in connections))
    latencies: list[float] = []
    results: list[Any] = [None] * total
    next_index = iter(range(total))
    errors = 0

    async def worker(connection: Connection) -> None:
        nonlocal errors
        for index in next_index:
            method, path, body = make(index)
            started = time.perf_counter()
            status, answer = await connection.call(method, path, body)
            latencies.append((time.perf_counter() - started) * 1000)
            results[index] = answer
            errors += status >= 400

    started, cpu = time.perf_counter(), cpu_seconds(pid)
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu
    for connection in connections:
        connection.close()
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "requests": total,
        "errors": errors,
        "rps": total / elapsed,
        "cpu_ms": cpu * 1000 / total,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "results": results,
    }


def start_server(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise SystemExit(f"{command[1:3]} exited with status {process.returncode}")
        if line.startswith("base URL:"):
            return process, line.split(":", 1)[1].strip()
    process.kill()
    raise SystemExit("the server did not print its base URL within 30 s")


def ours(db: str | None, workers: int = 1) -> list[str]:
    command = [sys.executable, "-m", "masivo_conformance", "serve", "--port", "0"]
    command += ["--workers", str(workers)] if workers > 1 else []
    return [*command, "--db", db] if db else command


BARE = [sys.executable, str(Path(__file__).with_name("benchmark_server_bare.py"))]


def peak_memory_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of `pid` and its workers, summed."""
    total = 0.0
    for member in family(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


async def run(base_url: str, api_key: str, per_run: int, pid: int) -> list[dict[str, Any]]:
    rest = base_url.removeprefix("http://")
    hostport, _, prefix = rest.partition("/")
    host, port = hostport.rsplit(":", 1)
    setup = Connection(host, int(port), "/" + prefix, "")
    await setup.open()
    _, answer = await setup.call("GET", "/auth/authorize", extra=f"x-api-key: {api_key}\r\n")
    token = answer["data"]
    setup.token = token
    brand = "3b8fad47-98c2-4d11-886a-36729bdcc468"
    run_id = uuid.uuid4().hex[:8]
    customers = [f"bench-{run_id}-{i}" for i in range(CUSTOMERS)]
    for customer in customers:
        await setup.call("POST", "/customers", {"id": customer})
        await setup.call(
            "POST",
            "/behavior/events",
            {
                "customer_id": customer,
                "brand_id": brand,
                "type": "PURCHASE",
                "order": {"value": 10_000},
            },
        )
    setup.close()
    address = (host, int(port), "/" + prefix, token)

    def emit(i: int) -> tuple[str, str, Any]:
        return (
            "POST",
            "/behavior/events",
            {
                "customer_id": customers[i % CUSTOMERS],
                "brand_id": brand,
                "type": "PURCHASE",
                "order": {
                    "purchase_id": f"{run_id}-{i}",
                    "value": 25.5,
                    "redeem": [{"id": POINTS_REWARD, "amount": 5}],
                    "products": [{"sku": "sku-1", "amount": 1, "value": 25.5}],
                },
            },
        )

    def preview(i: int) -> tuple[str, str, Any]:
        return (
            "PUT",
            "/events/redeem/preview",
            {
                "customer_id": customers[i % CUSTOMERS],
                "brand_id": brand,
                "order": {
                    "value": 40,
                    "redeem": [{"id": POINTS_REWARD, "amount": 20}],
                    "products": [
                        {"sku": "a", "value": 30, "redeem": [{"id": POINTS_REWARD, "amount": 10}]},
                        {"sku": "b", "value": 10},
                    ],
                    "shipping": {"value": 5, "redeem": [{"id": POINTS_REWARD, "amount": 5}]},
                },
            },
        )

    rows = []
    for clients in CONCURRENCY:
        emitted = await measure(address, clients, per_run, emit, pid)
        ids = [answer["data"]["id"] for answer in emitted["results"]]

        def reverse(i: int, ids: list[str] = ids) -> tuple[str, str, Any]:
            return "POST", f"/behavior/events/{ids[i]}/reverse", {"reason": "benchmark"}

        reversed_ = await measure(address, clients, per_run, reverse, pid)
        previewed = await measure(address, clients, per_run, preview, pid)
        for name, row in (("emit", emitted), ("reverse", reversed_), ("preview", previewed)):
            row.pop("results")
            rows.append({"operation": name, **row})
    return rows


def bench(command: list[str], per_run: int) -> tuple[list[dict[str, Any]], float]:
    """One server started, measured and stopped: its rows and peak memory (MiB)."""
    process, base_url = start_server(command)
    api_key = "mk_ref_4f1c2a9e7b3d4c58a6e0b1d2c3f4a5b6"  # the default seed's demo key
    try:
        rows = asyncio.run(run(base_url, api_key, per_run, process.pid))
        return rows, peak_memory_mib(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _store_name(db: str | None) -> str:
    if db is None:
        return "in-memory SQLite"
    if db == "postgres" or db.startswith("postgresql://"):
        # Its backends are processes of their own: CPU ms counts the serve processes only.
        return "PostgreSQL (its own CPU not counted)"
    return "SQLite file"


@contextlib.contextmanager
def _postgres(db: str | None) -> Iterator[Callable[[str], str] | None]:
    """With --db postgres: a throwaway PostgreSQL server (tests/server/postgres_server.py)
    and a function that creates a database on it and gives its URL."""
    if db != "postgres":
        yield None
        return
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from tests.server.postgres_server import create_database, postgres_server  # noqa: PLC0415

    with postgres_server() as url:
        yield lambda name: create_database(url, name)


def summary(runs: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per (operation, clients): the run with the median requests/s, with the best and
    every run's figure beside it."""
    rows = []
    for i, first in enumerate(runs[0]):
        ranked = sorted((run[i] for run in runs), key=lambda row: row["rps"])
        rows.append(
            {
                **ranked[(len(ranked) - 1) // 2],  # the lower median for an even count
                "best": ranked[-1]["rps"],
                "all": [row["rps"] for row in (run[i] for run in runs)],
                "errors": sum(row["errors"] for row in ranked),
                "operation": first["operation"],
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests",
        type=int,
        default=2000,
        help="requests per operation and concurrency level (bounded run)",
    )
    parser.add_argument(
        "--db",
        help="SQLite file for the server ('temp' = a scratch file; 'postgres' = a fresh "
        "database on a throwaway PostgreSQL server; a postgresql:// URL; default: in memory)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="serve --workers N (needs --db with N > 1)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each server")
    parser.add_argument(
        "--no-bare", action="store_true", help="skip the bare uvicorn + Starlette yardstick"
    )
    parser.add_argument(
        "--bare-http",
        choices=("httptools", "h11"),
        default="httptools",
        help="the yardstick's HTTP parser (default: the reference server's, httptools)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    ours_runs: list[list[dict[str, Any]]] = []
    bare_runs: list[list[dict[str, Any]]] = []
    memory: list[float] = []
    with tempfile.TemporaryDirectory() as scratch, _postgres(args.db) as postgres:
        for attempt in range(args.repeat):
            # A fresh file or database per run, so every run starts from the same state.
            db = str(Path(scratch) / f"bench-{attempt}.sqlite") if args.db == "temp" else args.db
            if postgres is not None:
                db = postgres(f"bench{attempt}")
            rows, peak = bench(ours(db, args.workers), args.requests)
            ours_runs.append(rows)
            memory.append(peak)
            if not args.no_bare:
                bare_runs.append(bench([*BARE, args.bare_http], args.requests)[0])
    ours_rows = summary(ours_runs)
    bare_rows = summary(bare_runs) if bare_runs else []
    for row, bare in zip(ours_rows, bare_rows, strict=False):
        row["bare_rps"], row["ratio"] = bare["rps"], row["rps"] / bare["rps"]
        row["bare_all"], row["bare_cpu_ms"] = bare["all"], bare["cpu_ms"]
    if args.json:
        print(json.dumps({"rows": ours_rows, "peak_memory_mib": memory, "cpus": os.cpu_count()}))
        return 0
    print(
        f"reference server, {_store_name(args.db)}, {args.workers} worker(s), "
        f"{os.cpu_count()} CPUs, {args.requests} requests per row, median of "
        f"{args.repeat} runs (all runs in brackets)"
        + ("" if args.no_bare else f"; bare = uvicorn ({args.bare_http}) + Starlette JSON endpoint")
        + "\n"
    )
    bare_head = "" if args.no_bare else " bare requests/s | ours / bare | bare CPU ms |"
    print(
        "| operation | clients | requests/s | best | p50 ms | p99 ms | CPU ms | errors |"
        + bare_head
    )
    print("|---|---|---|---|---|---|---|---|" + ("" if args.no_bare else "---|---|---|"))
    for row in ours_rows:
        runs = ", ".join(f"{rps:.0f}" for rps in row["all"])
        line = (
            f"| {row['operation']} | {row['clients']} | {row['rps']:.0f} ({runs}) "
            f"| {row['best']:.0f} | {row['p50']:.2f} | {row['p99']:.2f} "
            f"| {row['cpu_ms']:.2f} | {row['errors']} |"
        )
        if "bare_rps" in row:
            bare_runs_shown = ", ".join(f"{rps:.0f}" for rps in row["bare_all"])
            line += (
                f" {row['bare_rps']:.0f} ({bare_runs_shown}) | {row['ratio']:.2f} "
                f"| {row['bare_cpu_ms']:.2f} |"
            )
        print(line)
    shown = ", ".join(f"{peak:.1f}" for peak in memory)
    print(f"\npeak server memory (VmHWM): {statistics.median(memory):.1f} MiB ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
