"""`masivo-conformance serve`, the packaged seeds, and EmbeddedServer's lifecycle."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from importlib import resources

import httpx
import pytest

from masivo_conformance.server import FAULTS, EmbeddedServer, ServerConfig
from masivo_conformance.server.seed import VARIANT_SEED, load_seed

from .conftest import Api

SERVE = [sys.executable, "-m", "masivo_conformance", "serve"]


def test_list_faults_prints_name_requirements_and_what_it_does_per_line():
    done = subprocess.run([*SERVE, "--list-faults"], capture_output=True, text=True, check=True)
    shown = dict(line.split(None, 1) for line in done.stdout.splitlines())
    assert set(shown) == set(FAULTS)
    for fault in FAULTS.values():
        assert fault.description.strip(), f"{fault.name} has no description"
        breaks = ", ".join((fault.requirement, *fault.also))
        assert shown[fault.name].split() == [*breaks.split(), *fault.description.split()]


def test_unknown_fault_is_a_usage_error():
    done = subprocess.run([*SERVE, "--fault", "nope"], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "unknown fault(s): nope" in done.stderr


def _serve(*args: str, lines: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`serve ARGS` started, and the first `lines` lines of its banner ("key: value")."""
    process = subprocess.Popen([*SERVE, *args], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    printed = {}
    for _ in range(lines):
        key, _, value = process.stdout.readline().partition(":")
        printed[key] = value.strip()
    return process, printed


def _rest(process: subprocess.Popen[str]) -> str:
    """What `serve` printed after its banner, once it exited."""
    assert process.stdout is not None
    return process.stdout.read()


def test_serve_prints_where_it_listens_and_stops_on_sigterm(tmp_path):
    process, printed = _serve("--port", "0", "--db", str(tmp_path / "s.sqlite"), lines=3)
    answer = httpx.get(
        f"{printed['base URL']}/auth/authorize", headers={"x-api-key": printed["API key"]}
    )
    assert answer.status_code == 200
    assert printed["brand id"] == load_seed().brand_id
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert "stopped" in _rest(process)


def test_serve_with_two_workers_shares_a_file_and_stops_on_sigterm(tmp_path):
    """`serve --workers 2`: the banner names both, a token from one worker is good at the
    other (one secret in the shared store), and SIGTERM stops them all, exit 0."""
    process, printed = _serve(
        "--port", "0", "--workers", "2", "--db", str(tmp_path / "s.sqlite"), lines=4
    )
    assert printed["workers"] == f"2 processes sharing {tmp_path / 's.sqlite'}"
    token = httpx.get(
        f"{printed['base URL']}/auth/authorize", headers={"x-api-key": printed["API key"]}
    ).json()["data"]
    for _ in range(8):  # new connections: the kernel deals them to either worker
        answer = httpx.get(
            f"{printed['base URL']}/rewards",
            params={"from": 0, "to": 1},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert "stopped" in _rest(process)


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--workers", "2"], "--workers 2 needs --db: the workers share their state through it"),
        (["--workers", "0"], "--workers must be at least 1"),
        (
            ["--db", "postgresql://nobody:pw-not-shown@127.0.0.1:9/none"],
            "cannot use the PostgreSQL database postgresql://nobody@127.0.0.1:9/none (",
        ),
    ],
)
def test_serve_refuses_a_setup_it_cannot_run_in_one_line(flags, said):
    done = subprocess.run(
        [*SERVE, "--port", "0", *flags], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 2
    assert said in done.stderr
    assert "Traceback" not in done.stderr
    assert "pw-not-shown" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_serve_variant_starts_the_variant_configuration(tmp_path):
    process, printed = _serve(
        "--variant", "--port", "0", "--db", str(tmp_path / "v.sqlite"), lines=4
    )
    try:
        assert printed["variant"] == "on"
        assert printed["brand id"] == load_seed(VARIANT_SEED).brand_id
        base = printed["base URL"]
        refused = httpx.get(f"{base}/auth/authorize", headers={"x-api-key": "wrong"})
        assert refused.status_code == 403
        token = httpx.get(f"{base}/auth/authorize", headers={"x-api-key": printed["API key"]})
        created = httpx.post(
            f"{base}/customers",
            json={"id": "serve-variant"},
            headers={"Authorization": f"Bearer {token.json()['data']}"},
        )
        assert created.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_both_seeds_ship_inside_the_package():
    package = resources.files("masivo_conformance.server")
    for name in ("seed.yaml", "seed-variant.yaml"):
        assert package.joinpath(name).is_file()
    default, variant = load_seed(), load_seed(VARIANT_SEED)
    assert default.brand_id != variant.brand_id
    assert {r.id for r in default.rewards}.isdisjoint(r.id for r in variant.rewards)


def test_variant_seed_runs_its_own_business():
    variant = load_seed(VARIANT_SEED)
    points = next(r.id for r in variant.rewards if r.type == "POINTS")
    with EmbeddedServer(ServerConfig(seed_path=VARIANT_SEED)) as server:
        api = Api(server)
        assert server.brand_id == variant.brand_id
        customer_id = api.customer()
        api.event(customer_id, 10.7)
        assert api.total(customer_id, points) == 21
        order = {"value": 10, "redeem": [{"id": points, "amount": 20}]}
        result = api.preview(customer_id, order).json()["data"]["order"]["redemptions_result"]
        assert result["discount_value"] == 1.0
        api.close()


def test_embedded_server_starts_fast_and_stops_without_leaks():
    before = threading.active_count()
    started = time.perf_counter()
    server = EmbeddedServer().start()
    assert time.perf_counter() - started < 1.0
    port = int(server.base_url.split(":")[2].split("/")[0])
    assert httpx.get(f"{server.base_url}/rewards").status_code == 401
    server.stop()
    assert threading.active_count() == before
    again = EmbeddedServer(ServerConfig(port=port)).start()  # the port is free again
    again.stop()


def test_sigterm_lets_every_worker_finish_the_request_in_flight(tmp_path):
    """A request half sent when `serve --workers 2` gets SIGTERM is still answered (and
    the customer it makes is created) before the workers exit: graceful shutdown."""
    process, printed = _serve(
        "--port", "0", "--workers", "2", "--db", str(tmp_path / "s.sqlite"), lines=4
    )
    base = printed["base URL"]
    token = httpx.get(f"{base}/auth/authorize", headers={"x-api-key": printed["API key"]})
    body = b'{"id": "mc-test-in-flight", "name": "In flight", "email": "f@example.com"}'
    origin = httpx.URL(base)
    with socket.create_connection((origin.host, origin.port), timeout=10) as conn:
        conn.sendall(
            f"POST {origin.path}/customers HTTP/1.1\r\nHost: {origin.host}\r\n"
            f"Authorization: Bearer {token.json()['data']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.3)  # the request reached a worker, its body not all there
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the workers are stopping
        conn.sendall(body[10:])
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:200]
    assert process.wait(timeout=20) == 0
    assert "stopped" in _rest(process)
