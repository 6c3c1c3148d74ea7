"""Benchmark what the judging proxy adds to each request, on loopback.

Starts `masivo-conformance serve` and, in front of it, `masivo-conformance proxy` (each
a process of its own, on free ports), then sends the same mix of requests (GET
/customers/{id}, POST /behavior/events, PUT /events/redeem/preview) with one keep-alive
httpx client, alternately straight to the server and through the proxy, one at a time.
Prints p50 and p99 latency of each route both ways, side by side, the machine's load
(`uptime`) before and after, and what the proxy judged. Bounded: it always ends.

    .venv/bin/python scripts/benchmark_proxy.py [--requests 900] [--cassettes]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from masivo_conformance.suite.payloads import preview_request, purchase

ROUTES = ("GET /customers/{id}", "POST /behavior/events", "PUT /events/redeem/preview")


def _started(command: list[str], marker: str) -> tuple[subprocess.Popen[str], str]:
    """A process and the value its banner prints after `marker`."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(marker):
            return process, line.split(":", 1)[1].strip()
    raise SystemExit(f"{command[3]} did not start")


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    return out


def _send(client: httpx.Client, route: str, url: str, customer: str, brand: str) -> httpx.Response:
    if route.startswith("GET"):
        return client.get(f"{url}/customers/{customer}")
    if route.startswith("POST"):
        return client.post(f"{url}/behavior/events", json=purchase(customer, brand, value=10.0))
    return client.put(f"{url}/events/redeem/preview", json=preview_request(customer, brand))


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=900, help="per way (default 900)")
    parser.add_argument("--cassettes", action="store_true", help="the proxy records too")
    args = parser.parse_args()
    command = [sys.executable, "-m", "masivo_conformance"]
    print("load before:", _uptime())
    server, base = _started([*command, "serve", "--port", "0"], "base URL:")
    key = next(
        line.split(":", 1)[1].strip() for line in server.stdout or [] if line.startswith("API key:")
    )
    brand = next(
        line.split(":", 1)[1].strip()
        for line in server.stdout or []
        if line.startswith("brand id:")
    )
    folder = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    extra = ["--cassettes", str(folder / "cassettes")] if args.cassettes else []
    proxy, proxied = _started(
        [*command, "proxy", "--upstream", base, "--port", "0", *extra], "your base URL:"
    )
    timings: dict[tuple[str, str], list[float]] = {(r, w): [] for r in ROUTES for w in "dp"}
    try:
        with httpx.Client(timeout=30) as client:
            token = client.get(base + "/auth/authorize", headers={"x-api-key": key}).json()["data"]
            client.headers["authorization"] = f"Bearer {token}"
            for way, url in (("d", base), ("p", proxied)):
                client.post(url + "/customers", json={"id": f"bench-{way}"})
            rounds = max(1, args.requests // len(ROUTES))
            for n in range(rounds + 10):  # the first 10 rounds warm up, not counted
                for way, url in (
                    (("d", base), ("p", proxied)) if n % 2 else (("p", proxied), ("d", base))
                ):
                    customer = f"bench-{way}"
                    for route in ROUTES:
                        started = time.perf_counter()
                        answer = _send(client, route, url, customer, brand)
                        elapsed = time.perf_counter() - started
                        assert answer.status_code < 500, answer.status_code
                        if n >= 10:
                            timings[(route, way)].append(elapsed * 1000)
    finally:
        judged = _stop(proxy)
        _stop(server)
    print("load after: ", _uptime())
    print(
        f"\n{'route':<28} {'n':>5} {'direct p50':>11} {'proxy p50':>10} {'direct p99':>11} "
        f"{'proxy p99':>10} {'added p50':>10}"
    )
    for route in ROUTES:
        direct, through = timings[(route, "d")], timings[(route, "p")]
        print(
            f"{route:<28} {len(direct):>5} {statistics.median(direct):>9.2f}ms "
            f"{statistics.median(through):>8.2f}ms {_percentile(direct, 0.99):>9.2f}ms "
            f"{_percentile(through, 0.99):>8.2f}ms "
            f"{statistics.median(through) - statistics.median(direct):>8.2f}ms"
        )
    matrix = [line for line in judged.splitlines() if line[:4].isupper() and "-" in line[:6]]
    failed = [line.split()[0] for line in matrix if line.split()[2:3] == ["fail"]]
    print(f"\nthe proxy judged {len(matrix)} requirements; failed: {', '.join(failed) or 'none'}")


if __name__ == "__main__":
    main()
