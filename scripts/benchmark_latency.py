"""Benchmark of a run against a slow target (issue 20, "Benchmark"; nothing asserted).

A delay proxy (stdlib asyncio, on loopback, in this process) sits in front of a fresh
reference server (`EmbeddedServer`, also in this process) and adds D ms to every answer:
it reads a whole request (head and Content-Length or chunked body), sends it upstream on
a fresh connection, reads the whole answer, sleeps D ms and relays it; the client's
connection stays open unless HTTP/1.1 says otherwise. Then `masivo-conformance run
--base-url <proxy> --profile P --seed 1 -q` (a process of its own, with the settle time
a remote target gets, 1 s) runs through it, and the table gives per (profile, server
processing delay, D): requests and wall time of the whole command, the critical path
(the longest test of the run, from its junit.xml: the longest chain of dependent
requests and settle waits that scenario-level concurrency could not shorten) and the
sequential lower bound (requests x D).

Beside them, the budget profile's own requests (saved with `--save-traffic`) replayed
one at a time with one keep-alive httpx client through the same proxy: what a run with
no settle waits and no checking would cost.

Usage: .venv/bin/python scripts/benchmark_latency.py [--profiles budget,quick,ci]
           [--delays 0,20,80] [--ci-delays 0,80] [--processing-profiles budget]
Prints Markdown tables to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET  # our own run's junit.xml, not untrusted input
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer

PROCESSING_DELAY = 0.3  # seconds: the variant server's late effects (`serve --processing-delay`)
LIMIT = 1 << 20  # longest request or answer head the proxy reads


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes | None:
    """The raw body after a head (chunked bytes as sent); None: read to the end."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raw = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            raw += size_line
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    line = await reader.readuntil(b"\r\n")
                    raw += line
                    if line == b"\r\n":
                        return bytes(raw)
            raw += await reader.readexactly(size + 2)
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    return None


def _head(raw: bytes) -> tuple[str, dict[str, str]]:
    """The start line and the (lower-cased, last-wins) header fields of a head."""
    lines = raw.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            fields[name.strip().lower()] = value.strip()
    return lines[0], fields


class DelayProxy:
    """`with DelayProxy(upstream_host, upstream_port, delay_s) as origin:` relays every
    HTTP/1.1 exchange to the upstream and holds each answer `delay_s` before relaying."""

    def __init__(self, host: str, port: int, delay: float) -> None:
        self.upstream = (host, port)
        self.delay = delay
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Relay one request and its answer; True: keep the client's connection."""
        try:
            raw_head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return False
        start, fields = _head(raw_head)
        try:
            body = await _read_body(reader, fields) or b""
        except (ValueError, asyncio.IncompleteReadError):
            body, fields["connection"] = b"", "close"  # unparsable: relay what came, end
        up_reader, up_writer = await asyncio.open_connection(*self.upstream, limit=LIMIT)
        try:
            up_writer.write(raw_head + body)
            await up_writer.drain()
            answer_head = await up_reader.readuntil(b"\r\n\r\n")
            status_line, answer_fields = _head(answer_head)
            status = int(status_line.split()[1])
            until_eof = False
            if start.startswith("HEAD ") or status in (204, 304) or 100 <= status < 200:
                answer_body = b""
            else:
                found = await _read_body(up_reader, answer_fields)
                until_eof = found is None
                answer_body = await up_reader.read() if found is None else found
        except (asyncio.IncompleteReadError, ConnectionError, IndexError, ValueError):
            return False  # the server closed without a (whole) answer: so does the proxy
        finally:
            up_writer.close()
        await asyncio.sleep(self.delay)
        writer.write(answer_head + answer_body)
        await writer.drain()
        closing = "close" in (fields.get("connection", "") + answer_fields.get("connection", ""))
        return not (until_eof or closing or start.endswith("HTTP/1.0"))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the proxy is closing (`_close`)
        finally:
            writer.close()

    def __enter__(self) -> str:
        self.thread.start()
        started = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, limit=LIMIT), self.loop
        )
        self.server = started.result(timeout=10)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _close(self) -> None:
        if self.server is not None:
            self.server.close()
        current = asyncio.current_task()
        waiting = [task for task in asyncio.all_tasks() if task is not current]
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@contextlib.contextmanager
def proxied(processing_delay: float, delay_ms: int) -> Iterator[tuple[EmbeddedServer, str]]:
    """A fresh reference server and a delay proxy in front of it: (server, proxy base URL)."""
    with EmbeddedServer(ServerConfig(processing_delay=processing_delay)) as server:
        origin = urlsplit(server.base_url)
        assert origin.hostname is not None
        assert origin.port is not None
        with DelayProxy(origin.hostname, origin.port, delay_ms / 1000) as proxy:
            yield server, proxy + origin.path


def run_once(
    processing_delay: float,
    delay_ms: int,
    profile: str,
    traffic: Path | None = None,
    concurrency: int = 1,
) -> dict[str, Any]:
    """One `run` through the proxy: wall seconds, result.json, the longest test."""
    with (
        proxied(processing_delay, delay_ms) as (server, base_url),
        tempfile.TemporaryDirectory() as tmp,
    ):
        command = [
            sys.executable,
            "-m",
            "masivo_conformance",
            "run",
            "--base-url",
            base_url,
            "--api-key",
            server.api_key,
            "--brand-id",
            server.brand_id,
            "--profile",
            profile,
            "--seed",
            "1",
            "--concurrency",
            str(concurrency),
            "-q",
            "--report-dir",
            tmp,
        ]
        if traffic is not None:
            command += ["--save-traffic", str(traffic)]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=900)
        wall = time.monotonic() - started
        result_path = Path(tmp) / "result.json"
        if not result_path.exists():
            sys.exit(f"the {profile} run wrote no result: {done.stderr.strip()[-600:]}")
        result = json.loads(result_path.read_text())
        cases = ET.parse(Path(tmp) / "junit.xml").getroot().iter("testcase")
        longest = max(cases, key=lambda case: float(case.get("time", "0")))
        failed = [r["id"] for r in result["requirements"] if r["status"] == "fail"]
        return {
            "wall": wall,
            "requests": result["request_count"],
            "verdict": "conformant" if not failed else "FAILED " + ",".join(failed),
            "longest": (float(longest.get("time", "0")), longest.get("name", "")),
        }


def replay(har: Path, delay_ms: int) -> tuple[int, float]:
    """The HAR's requests sent one at a time through a delay proxy to a fresh server:
    (requests, wall seconds). Redacted credentials are replaced by valid ones."""
    entries = json.loads(har.read_text())["log"]["entries"]
    with proxied(0.0, delay_ms) as (server, base_url), httpx.Client(timeout=30) as client:
        origin = urlsplit(base_url)
        token = httpx.get(
            server.base_url + "/auth/authorize", headers={"x-api-key": server.api_key}
        ).json()["data"]
        dropped = {"host", "content-length", "connection", "accept-encoding", "transfer-encoding"}
        started = time.monotonic()
        for entry in entries:
            request = entry["request"]
            headers = {}
            for field in request["headers"]:
                name, value = field["name"].lower(), field["value"]
                if name in dropped:
                    continue
                if value == "<redacted>":
                    value = server.api_key if name == "x-api-key" else f"Bearer {token}"
                headers[name] = value
            url = urlsplit(request["url"])._replace(scheme=origin.scheme, netloc=origin.netloc)
            body = (request.get("postData") or {}).get("text", "").encode()
            client.request(request["method"], url.geturl(), headers=headers, content=body or None)
        return len(entries), time.monotonic() - started


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", default="budget,quick,ci")
    parser.add_argument("--delays", default="0,20,80", help="ms added per answer")
    parser.add_argument("--ci-delays", default="0,80", help="ms added per answer, for ci")
    parser.add_argument(
        "--processing-profiles",
        default="budget",
        help=f"profiles also run with the server's processing delay on ({PROCESSING_DELAY} s)",
    )
    parser.add_argument(
        "--concurrencies", default="1,4", help="values of run --concurrency (4: the default)"
    )
    parser.add_argument("--skip-replay", action="store_true")
    args = parser.parse_args()
    delays = [int(d) for d in args.delays.split(",")]
    with_processing = set(filter(None, args.processing_profiles.split(",")))
    began = time.monotonic()
    print(f"load at start: `{_uptime()}`; {os.cpu_count()} CPUs\n")
    print(
        "| profile | server processing delay | added per answer | concurrency | requests | "
        "wall s | critical path s (longest test) | requests x D s | verdict |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    concurrencies = [int(c) for c in args.concurrencies.split(",")]
    for profile in args.profiles.split(","):
        profile_delays = [int(d) for d in args.ci_delays.split(",")] if profile == "ci" else delays
        processing = [0.0, PROCESSING_DELAY] if profile in with_processing else [0.0]
        for processing_delay in processing:
            for delay_ms in profile_delays:
                for concurrency in concurrencies:
                    row = run_once(processing_delay, delay_ms, profile, concurrency=concurrency)
                    longest_s, longest_name = row["longest"]
                    print(
                        f"| {profile} | {'on, ' if processing_delay else 'off'}"
                        f"{f'{processing_delay:g} s' if processing_delay else ''} | "
                        f"{delay_ms} ms | {concurrency} | {row['requests']} | "
                        f"{row['wall']:.1f} | {longest_s:.2f} (`{longest_name}`) | "
                        f"{row['requests'] * delay_ms / 1000:.1f} | {row['verdict']} |",
                        flush=True,
                    )
    if not args.skip_replay:
        print("\n| budget's own requests replayed one at a time | added per answer | wall s |")
        print("|---|---|---|")
        with tempfile.TemporaryDirectory() as tmp:
            run_once(0.0, 0, "budget", traffic=Path(tmp))
            for delay_ms in delays:
                sent, wall = replay(Path(tmp) / "traffic-main.har", delay_ms)
                print(f"| {sent} requests | {delay_ms} ms | {wall:.1f} |", flush=True)
    print(f"\nload at end: `{_uptime()}`; benchmark took {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
