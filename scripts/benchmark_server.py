"""Benchmark the reference server over loopback: emit, reverse and preview.

Starts `masivo-conformance serve` in a subprocess on a free loopback port, drives it
with 1 and 8 concurrent keep-alive clients (a minimal asyncio HTTP/1.1 client, so the
client costs little of the machine's CPU), prints requests/s and p50/p99 latency per
operation and the server's peak memory (VmHWM), then stops the server. Request counts
are bounded, so it always ends by itself.

    .venv/bin/python scripts/benchmark_server.py [--requests 2000] [--db PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
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


async def measure(
    address: tuple[str, int, str, str], clients: int, total: int, make: Request
) -> dict[str, Any]:
    """`total` requests spread over `clients` connections; latencies in milliseconds."""
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

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "requests": total,
        "errors": errors,
        "rps": total / elapsed,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "results": results,
    }


def start_server(db: str | None) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "masivo_conformance", "serve", "--port", "0"]
    if db:
        command += ["--db", db]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("base URL:"):
            return process, line.split(":", 1)[1].strip()
    process.kill()
    raise SystemExit("the server did not print its base URL within 30 s")


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(base_url: str, api_key: str, per_run: int) -> list[dict[str, Any]]:
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
        emitted = await measure(address, clients, per_run, emit)
        ids = [answer["data"]["id"] for answer in emitted["results"]]

        def reverse(i: int, ids: list[str] = ids) -> tuple[str, str, Any]:
            return "POST", f"/behavior/events/{ids[i]}/reverse", {"reason": "benchmark"}

        reversed_ = await measure(address, clients, per_run, reverse)
        previewed = await measure(address, clients, per_run, preview)
        for name, row in (("emit", emitted), ("reverse", reversed_), ("preview", previewed)):
            row.pop("results")
            rows.append({"operation": name, **row})
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
        "--db", help="SQLite file for the server ('temp' = a scratch file; default: in memory)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        db = str(Path(scratch) / "bench.sqlite") if args.db == "temp" else args.db
        process, base_url = start_server(db)
        api_key = "mk_ref_4f1c2a9e7b3d4c58a6e0b1d2c3f4a5b6"  # the default seed's demo key
        try:
            rows = asyncio.run(run(base_url, api_key, args.requests))
            memory = peak_memory_mib(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=10)
    if args.json:
        print(json.dumps({"rows": rows, "peak_memory_mib": memory, "cpus": os.cpu_count()}))
        return 0
    print(
        f"reference server, {'SQLite file' if db else 'in-memory SQLite'}, "
        f"{os.cpu_count()} CPUs, {args.requests} requests per row\n"
    )
    print("| operation | clients | requests/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['operation']} | {row['clients']} | {row['rps']:.0f} | {row['p50']:.2f} "
            f"| {row['p99']:.2f} | {row['errors']} |"
        )
    print(f"\npeak server memory (VmHWM): {memory:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
