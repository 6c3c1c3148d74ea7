"""Measure the reference server under hostile clients: big bodies, slow connections and
a low open-file limit.

Each part starts `masivo-conformance serve --port 0` (default settings) in a subprocess
on loopback and stops it at the end; every wait is bounded.

* bodies: a preview whose order.products is [1] * 200000 (about 600 KB, over the
  256 KiB limit) and bodies just under the limit that are costly to check, sent one
  after the other by one client while another client sends a GET every 20 ms. Prints
  the time to each answer, the GETs' latency meanwhile and the server's RSS before,
  after and at its peak (VmHWM).
* flood: --clients clients sending the costliest of those bodies back to back for
  --seconds, and the GETs' latency meanwhile.
* connections: how long the server keeps a connection that is idle (nothing sent, or
  after an answer), half-sent (headers never finished, or trickled a byte a second)
  or sending its body a byte a second. Gives up waiting after --patience seconds.
* fdlimit: the server under `ulimit -n 256` (setrlimit in the child), 300 idle
  connections held open (reopened when the server closes them), and normal requests
  from new connections meanwhile: their statuses and latency, and the bytes and
  tracebacks the server wrote to stderr.

    .venv/bin/python scripts/benchmark_server_hostile.py [bodies] [flood] [connections]
        [fdlimit]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

PREFIX = "/api/storefront/v1"
API_KEY = "mk_ref_4f1c2a9e7b3d4c58a6e0b1d2c3f4a5b6"  # the default seed's demo key
BRAND = "3b8fad47-98c2-4d11-886a-36729bdcc468"
REWARD = "701d6742-c510-430f-9494-c43068546752"
LIMIT = 256 * 1024


# `masivo-conformance serve --port 0`, under the open-file limit in argv[1] if not 0
# (set here, first thing, rather than in a preexec_fn, which is unsafe with threads).
LAUNCHER = """
import resource, runpy, sys
if int(sys.argv[1]):
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]),) * 2)
sys.argv = ["masivo-conformance", "serve", "--port", "0"]
runpy.run_module("masivo_conformance", run_name="__main__")
"""


class Server:
    """The reference server (`serve`, default settings) in a subprocess, its stderr
    going to `stderr`."""

    def __init__(self, stderr: TextIO, nofile: int | None = None) -> None:
        command = [sys.executable, "-c", LAUNCHER, str(nofile or 0)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert self.process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise SystemExit(f"the server exited with status {self.process.returncode}")
            if line.startswith("base URL:"):
                url = line.split(":", 1)[1].strip().removeprefix("http://")
                host, port = url.split("/", 1)[0].rsplit(":", 1)
                self.host, self.port = host, int(port)
                break
        else:
            self.process.kill()
            raise SystemExit("the server did not print its base URL within 30 s")
        self.token = self.authorize()

    def authorize(self) -> str:
        status, body = self.call("GET", "/auth/authorize", headers={"x-api-key": API_KEY})
        assert status == 200, body
        token: str = json.loads(body)["data"]
        return token

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        conn: http.client.HTTPConnection | None = None,
        chunked: bool = False,
    ) -> tuple[int, bytes]:
        own = conn is None
        conn = conn or self.connection()
        try:
            sent = {"Content-Type": "application/json", **(headers or {})}
            if getattr(self, "token", None):
                sent.setdefault("Authorization", f"Bearer {self.token}")
            if chunked and body is not None:  # no Content-Length: the size shows late
                pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)]
                conn.request(method, PREFIX + path, pieces, sent, encode_chunked=True)
            else:
                conn.request(method, PREFIX + path, body=body, headers=sent)
            answer = conn.getresponse()
            return answer.status, answer.read()
        finally:
            if own:
                conn.close()

    def status(self, field: str) -> float:
        """A memory figure of /proc/PID/status (VmRSS, VmHWM) in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def preview(products: list[Any], compact: bool = True) -> bytes:
    body = {"customer_id": "nobody", "brand_id": BRAND, "order": {"value": 1, "products": products}}
    return json.dumps(body, separators=(",", ":") if compact else None).encode()


def hostile_bodies() -> dict[str, bytes]:
    """The oversized body of issue 12 and three bodies just under the limit."""
    redeem = {"id": REWARD, "amount": 1}
    valid_heavy = [{"sku": "a", "value": 1, "redeem": [redeem] * 4} for _ in range(999)]
    bodies = {
        "600 KB [1]*200000": preview([1] * 200_000, compact=False),
        "600 KB [1]*200000, chunked": preview([1] * 200_000, compact=False),
        # 1000 products, each an array instead of an object: wrong-typed items.
        "250 KB wrong-typed items": preview([[0] * 123] * 1000),
        # 1000 products with 4 uuid-checked redeem items each, the last one wrong.
        "250 KB valid until the end": preview([*valid_heavy, "x"]),
        # 1000 products, each a 240-character string instead of an object.
        "250 KB wrong-typed strings": preview(["x" * 244] * 1000),
    }
    for name, raw in bodies.items():
        assert ("600" in name) == (len(raw) > LIMIT), (name, len(raw))
    return bodies


def measure_bodies(rounds: int) -> None:
    with tempfile.TemporaryFile("w+") as stderr:
        server = Server(stderr)
        try:
            _bodies(server, rounds)
        finally:
            server.stop()


def _bodies(server: Server, rounds: int) -> None:
    # Warm up (imports, schema compilation, first allocations) so growth is the bodies'.
    for _ in range(3):
        server.call("GET", "/rewards?from=0&to=0")
        server.call("PUT", "/events/redeem/preview", preview([{"sku": "a", "value": 1}]))
    rss_before, hwm_before = server.status("VmRSS"), server.status("VmHWM")
    stop = threading.Event()
    delays: list[float] = []

    def probe() -> None:
        conn = server.connection()
        while not stop.is_set():
            started = time.perf_counter()
            status, _ = server.call("GET", "/rewards?from=0&to=0", conn=conn)
            delays.append(time.perf_counter() - started)
            assert status == 200, status
            time.sleep(0.02)
        conn.close()

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.3)
    print(f"| body | bytes | status | answer s (median of {rounds}) | max s | details |")
    print("|---|---|---|---|---|---|")
    try:
        for name, raw in hostile_bodies().items():
            times, status, details = [], 0, ""
            conn = server.connection()
            for _ in range(rounds):
                started = time.perf_counter()
                status, answer = server.call(
                    "PUT", "/events/redeem/preview", raw, conn=conn, chunked="chunked" in name
                )
                times.append(time.perf_counter() - started)
                details = json.loads(answer).get("details", "")[:70]
                if status == 413:  # a fresh connection, as the body may be half read
                    conn.close()
                    conn = server.connection()
            conn.close()
            print(
                f"| {name} | {len(raw):,} | {status} | {statistics.median(times):.3f} "
                f"| {max(times):.3f} | {details} |"
            )
    finally:
        time.sleep(0.3)
        stop.set()
        prober.join()
    ordered = sorted(delays)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"\nconcurrent GET /rewards ({len(delays)} of them): median "
        f"{statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms"
    )
    print(
        f"server RSS: before {rss_before:.1f} MiB, after {server.status('VmRSS'):.1f} MiB, "
        f"peak (VmHWM) {server.status('VmHWM'):.1f} MiB (VmHWM before {hwm_before:.1f} MiB)"
    )


def measure_flood(clients: int, seconds: float) -> None:
    with tempfile.TemporaryFile("w+") as stderr:
        server = Server(stderr)
        try:
            _flood(server, clients, seconds)
        finally:
            server.stop()


def _flood(server: Server, clients: int, seconds: float) -> None:
    """`clients` clients sending the costliest body under the limit back to back."""
    raw = hostile_bodies()["250 KB valid until the end"]
    rss_before = server.status("VmRSS")
    stop = threading.Event()
    delays: list[float] = []
    answers: list[float] = []

    def probe() -> None:
        conn = server.connection()
        while not stop.is_set():
            started = time.perf_counter()
            server.call("GET", "/rewards?from=0&to=0", conn=conn)
            delays.append(time.perf_counter() - started)
            time.sleep(0.02)
        conn.close()

    def flood() -> None:
        conn = server.connection()
        while not stop.is_set():
            started = time.perf_counter()
            server.call("PUT", "/events/redeem/preview", raw, conn=conn)
            answers.append(time.perf_counter() - started)
        conn.close()

    threads = [threading.Thread(target=flood) for _ in range(clients)]
    threads.append(threading.Thread(target=probe))
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    ordered = sorted(delays)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{clients} clients sending the 250 KB body valid until the end for {seconds:.0f} s: "
        f"{len(answers)} answered (median {statistics.median(answers):.2f} s each); "
        f"concurrent GET /rewards ({len(delays)}): median "
        f"{statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"max {ordered[-1] * 1000:.1f} ms; RSS {rss_before:.1f} -> "
        f"{server.status('VmRSS'):.1f} MiB, peak {server.status('VmHWM'):.1f} MiB"
    )


def _closed_after(sock: socket.socket, started: float, patience: float) -> tuple[float | None, str]:
    """Seconds from `started` until the server closes `sock` (None past `patience`),
    and the status line of what it sent meanwhile."""
    sock.settimeout(max(0.01, started + patience - time.monotonic()))
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return None, ""
    except ConnectionResetError:
        pass
    return time.monotonic() - started, received.split(b"\r\n", 1)[0].decode("latin-1")


def measure_connections(patience: float) -> None:
    with tempfile.TemporaryFile("w+") as stderr:
        server = Server(stderr)
        try:
            _connections(server, patience)
        finally:
            server.stop()


def _connections(server: Server, patience: float) -> None:
    head = f"PUT {PREFIX}/events/redeem/preview HTTP/1.1\r\nHost: x\r\n"
    auth = f"Authorization: Bearer {server.token}\r\n"

    def idle(sock: socket.socket) -> None:
        pass

    def after_answer(sock: socket.socket) -> None:
        sock.sendall(f"GET {PREFIX}/rewards?from=0&to=0 HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:  # the whole answer, so what comes later is new
            body += sock.recv(65536)

    def half_sent(sock: socket.socket) -> None:
        sock.sendall(head.encode())

    def trickle(data: bytes, every: float = 1.0) -> Callable[[socket.socket], None]:
        def send(sock: socket.socket) -> None:
            def drip() -> None:
                try:
                    for byte in data:
                        sock.send(bytes([byte]))
                        time.sleep(every)
                except OSError:
                    pass  # closed by the server

            threading.Thread(target=drip, daemon=True).start()

        return send

    slow_body = (head + auth + "Content-Length: 1000\r\n\r\n").encode()

    def body_trickled(sock: socket.socket) -> None:
        sock.sendall(slow_body)
        trickle(b"x" * 1000)(sock)

    cases: dict[str, Callable[[socket.socket], None]] = {
        "idle, nothing sent": idle,
        "idle keep-alive, after an answer": after_answer,
        "half-sent headers, then nothing": half_sent,
        "headers trickled a byte per second": trickle(head.encode() * 10),
        "body a byte per second (headers complete)": body_trickled,
    }
    results: dict[str, tuple[float | None, str]] = {}

    def run(name: str, action: Callable[[socket.socket], None]) -> None:
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            started = time.monotonic()
            action(sock)
            results[name] = _closed_after(sock, started, patience)

    threads = [threading.Thread(target=run, args=item) for item in cases.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("| connection | closed by the server after | answer before closing |")
    print("|---|---|---|")
    for name in cases:
        after, answer = results.get(name, (None, ""))
        shown = f"{after:.1f} s" if after is not None else f"still open at {patience:.0f} s"
        print(f"| {name} | {shown} | {answer or 'none'} |")


def measure_fd_limit(nofile: int, idle: int, hold: float, keep: str | None) -> None:
    with open(keep, "w+") if keep else tempfile.TemporaryFile("w+") as stderr:
        server = Server(stderr, nofile=nofile)
        try:
            _fd_limit(server, idle, hold)
        finally:
            server.stop()
            stderr.seek(0)
            log = stderr.read()
    lines = log.splitlines()
    print(
        f"server stderr: {len(log.encode()):,} bytes, {len(lines)} lines, "
        f"{log.count('Traceback')} tracebacks, "
        f"{sum('Too many open files' in line for line in lines)} lines naming EMFILE"
    )
    for line in dict.fromkeys(lines[:400]):  # distinct lines, first ones
        if "Traceback" in line or "open files" in line or "WARNING" in line.upper():
            print("   ", line[:160])


def _fd_limit(server: Server, idle: int, hold: float) -> None:
    held: list[socket.socket] = []
    stop = threading.Event()
    reopened = 0

    def attacker() -> None:
        nonlocal reopened
        for _ in range(idle):
            held.append(socket.create_connection((server.host, server.port), timeout=5))
        while not stop.wait(0.2):  # reopen what the server closed, to keep `idle` open
            for i, sock in enumerate(held):
                sock.setblocking(False)
                try:
                    closed = sock.recv(1) == b""
                except BlockingIOError:
                    closed = False
                except OSError:
                    closed = True
                if closed:
                    sock.close()
                    try:
                        held[i] = socket.create_connection((server.host, server.port), timeout=5)
                        reopened += 1
                    except OSError:
                        pass

    thread = threading.Thread(target=attacker)
    thread.start()
    while len(held) < idle and thread.is_alive():
        time.sleep(0.05)
    time.sleep(0.5)
    results: list[tuple[int, float]] = []
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            status, _ = server.call("GET", "/rewards?from=0&to=0", conn=server.connection(10))
        except OSError as exc:
            status = -(exc.errno or 1)
        results.append((status, time.perf_counter() - started))
        time.sleep(0.2)
    stop.set()
    thread.join()
    for sock in held:
        sock.close()
    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    latencies = sorted(t for _, t in results)
    print(
        f"{idle} idle connections held for {hold:.0f} s ({reopened} reopened after the server "
        f"closed them); {len(results)} normal GETs on new connections: statuses {statuses}, "
        f"latency median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "parts",
        nargs="*",
        default=["bodies", "flood", "connections", "fdlimit"],
        help="what to run",
    )
    parser.add_argument("--rounds", type=int, default=5, help="sends of each hostile body")
    parser.add_argument("--clients", type=int, default=4, help="clients of the flood part")
    parser.add_argument("--seconds", type=float, default=5, help="length of the flood")
    parser.add_argument("--patience", type=float, default=90, help="seconds to wait for a close")
    parser.add_argument("--nofile", type=int, default=256, help="the server's open-file limit")
    parser.add_argument("--idle", type=int, default=300, help="idle connections to hold")
    parser.add_argument("--hold", type=float, default=15, help="seconds to hold them")
    parser.add_argument("--log", metavar="PATH", help="keep the fdlimit server's stderr here")
    args = parser.parse_args()
    if "bodies" in args.parts:
        print("## bodies\n")
        measure_bodies(args.rounds)
    if "flood" in args.parts:
        print(f"\n## {args.clients} clients at once\n")
        measure_flood(args.clients, args.seconds)
    if "connections" in args.parts:
        print("\n## connections (default timeouts)\n")
        measure_connections(args.patience)
    if "fdlimit" in args.parts:
        print(f"\n## {args.idle} idle connections, server under ulimit -n {args.nofile}\n")
        measure_fd_limit(args.nofile, args.idle, args.hold, args.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
