"""`masivo-conformance judge` on a HAR a real tool wrote, not the project (issue 23).

mitmproxy's `mitmdump --mode reverse:URL --set hardump=FILE` stands in front of a
reference server, a team's flow goes through it with plain httpx, and mitmdump writes
the HAR when it is stopped (SIGTERM runs its `done` hook; SIGKILL would write nothing).
The judge then reads mitmproxy's own HAR: a faulty server's recording fails that fault's
requirement, a clean one shows no violation, and the API key and bearer token the HAR
holds reach no output and no report file.

mitmdump lives in its own venv (mitmproxy pins h11<=0.14, the project needs 0.16), which
`make venv` / `make test` build from constraints-mitmproxy.txt (docs/decisions.md).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from masivo_conformance import cli, scrub
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer
from tests.cli.judge_traffic import checkout

REPO = Path(__file__).resolve().parents[2]
MITMDUMP = REPO / ".venv" / "tools" / "mitmproxy" / "bin" / "mitmdump"
CONSTRAINTS = REPO / "constraints-mitmproxy.txt"
START_TIMEOUT = 30.0  # seconds for mitmdump to listen (it starts in about 0.5 s)
STOP_TIMEOUT = 15.0  # seconds for it to write the HAR and exit once asked to
_LISTENING = re.compile(r"listening at 127\.0\.0\.1:(\d+)")


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """judge registers the recording's secrets in this process; other tests start clean."""
    yield
    scrub.clear_secrets()


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.is_file() else "(no output)"


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM (mitmdump then writes its HAR and exits), SIGKILL if it does not."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)
        raise


@contextmanager
def mitmdump(upstream: str, har: Path, workdir: Path) -> Iterator[str]:
    """mitmdump as a reverse proxy to `upstream` on a free loopback port, writing `har`
    when the block ends; yields the proxy's origin (http://127.0.0.1:PORT)."""
    if not MITMDUMP.is_file():
        pytest.fail(f"{MITMDUMP} is missing: run `make venv` to install mitmproxy", pytrace=False)
    log = workdir / "mitmdump.log"
    command = [
        str(MITMDUMP),
        "--mode",
        f"reverse:{upstream}",
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        "0",  # a free port, read back from its "listening at" line: no race for it
        "--set",
        f"hardump={har}",
        "--set",
        f"confdir={workdir / 'mitmproxy-conf'}",  # its CA files, not in ~/.mitmproxy
        "--set",
        "flow_detail=0",  # no line per flow in its log
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        port = None
        while port is None:
            found = _LISTENING.search(log.read_text(errors="replace"))
            if found:
                port = found.group(1)
            elif process.poll() is not None:
                pytest.fail(f"mitmdump exited {process.returncode}: {_log_tail(log)}")
            elif time.monotonic() > deadline:
                pytest.fail(f"mitmdump did not listen in {START_TIMEOUT} s: {_log_tail(log)}")
            else:
                time.sleep(0.05)  # polling its log
        yield f"http://127.0.0.1:{port}"
        code = _stop(process)
        assert code == 0, f"mitmdump exited {code}: {_log_tail(log)}"
    finally:
        if process.poll() is None:
            _stop(process)


@dataclass
class Flow:
    token: str
    api_key: str
    calls: int


def drive(base_url: str, api_key: str, brand: str) -> Flow:
    """A team's flow through the proxy: authorize, a customer, purchases, a preview, a
    reverse and a second one, with wallet reads between the writes."""
    calls = 0

    def count(_: httpx.Response) -> None:
        nonlocal calls
        calls += 1

    hooks: dict[str, list[Callable[[httpx.Response], Any]]] = {"response": [count]}
    with httpx.Client(
        base_url=base_url, timeout=10.0, trust_env=False, event_hooks=hooks
    ) as client:
        token, customer, _ = checkout(client, api_key, brand, "mitm")
        client.get(f"/customers/{customer}")
    return Flow(token, api_key, calls)


def record(server: EmbeddedServer, workdir: Path) -> tuple[Path, Flow]:
    """The flow against `server` through mitmdump; the HAR mitmdump wrote."""
    har = workdir / "mitmdump.har"
    parts = urlsplit(server.base_url)
    with mitmdump(f"{parts.scheme}://{parts.netloc}", har, workdir) as proxy:
        flow = drive(proxy + parts.path, server.api_key, server.brand_id)
    assert har.is_file(), "mitmdump wrote no HAR on SIGTERM"
    return har, flow


def _pinned_version() -> str:
    found = re.search(r"^mitmproxy==(\S+)$", CONSTRAINTS.read_text(), re.MULTILINE)
    assert found, f"{CONSTRAINTS.name} pins no mitmproxy"
    return found.group(1)


def judged(
    har: Path, flow: Flow, report_dir: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, dict[str, str]]:
    """judge's exit code, its output and result.json's statuses, after checking that the
    HAR is mitmproxy's own, holds the secrets, and that no output or report shows them."""
    document = json.loads(har.read_text())
    assert document["log"]["creator"]["name"] == "mitmproxy"
    assert document["log"]["creator"]["version"] == _pinned_version()
    assert len(document["log"]["entries"]) == flow.calls
    text = har.read_text()
    assert flow.api_key in text
    assert flow.token in text  # the proof the next checks can fail

    code = cli.main(["judge", str(har), "--report-dir", str(report_dir)])
    captured = capsys.readouterr()
    out = captured.out + captured.err
    # Every entry read and judged: the reader took mitmproxy's HAR as it is.
    assert f"{har} (har): {flow.calls} judged of {flow.calls}; skipped: none" in out, out
    written = [p for p in report_dir.rglob("*") if p.is_file()]
    assert {"result.json", "report.html", "summary.md", "junit.xml", "traffic.json"} <= {
        p.name for p in written
    }
    for secret in (flow.api_key, flow.token):
        assert secret not in out
        for path in written:
            assert secret not in path.read_text(errors="replace"), path.name
    result = json.loads((report_dir / "result.json").read_text())
    return code, out, {row["id"]: row["status"] for row in result["requirements"]}


def test_a_clean_servers_mitmproxy_har_shows_no_violation(
    start_server: Callable[[ServerConfig], EmbeddedServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    har, flow = record(start_server(ServerConfig()), tmp_path)
    code, out, statuses = judged(har, flow, tmp_path / "report", capsys)
    assert code == 0, out
    assert "fail" not in statuses.values()
    # Judged, not merely unjudged: single calls and the sequences this flow shows.
    for requirement in ("GEN-1", "GEN-4", "AUTH-2", "EMIT-1", "REV-1", "REV-2", "REV-4", "PRV-2"):
        assert statuses[requirement] == "pass", (requirement, out)


@pytest.mark.parametrize(
    ("fault", "requirement"),
    [
        ("lowercase_status", "GEN-4"),  # seen on one answer
        ("double_reverse_accepted", "REV-4"),  # seen on a sequence
    ],
)
def test_a_faulty_servers_mitmproxy_har_fails_that_faults_requirement(
    fault: str,
    requirement: str,
    start_server: Callable[[ServerConfig], EmbeddedServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    har, flow = record(start_server(ServerConfig(faults=frozenset({fault}))), tmp_path)
    code, out, statuses = judged(har, flow, tmp_path / "report", capsys)
    assert code == 1, out
    assert {r for r, status in statuses.items() if status == "fail"} == {requirement}, out
    assert f"{requirement} (MUST) fail in {har}#" in out
