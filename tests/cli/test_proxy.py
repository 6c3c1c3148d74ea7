"""`masivo-conformance proxy`: a team's live traffic judged as it passes (issue 23).

A plain httpx client plays the team's app (the story of `judge_traffic.py`, with its
cookies, API key and token), pointed at the proxy in front of a reference server: with
faults on, their requirements fail (one line each as they pass, and in the reports);
against a correct server nothing does; forwarding is transparent; a judge that breaks
breaks no answer; no secret reaches a cassette, a report or a line; the cassettes it
writes get the same verdicts from `judge`. One run is a process of its own, stopped by
SIGTERM, and one is a team's pytest session with `--masivo-judge-proxy`.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from masivo_conformance import cli, scrub
from masivo_conformance.proxy.live import LiveJudge
from masivo_conformance.proxy.running import Proxy
from masivo_conformance.proxy.upstream import parse_upstream
from masivo_conformance.reporting.judging import Judgement, TrafficJudge
from masivo_conformance.server.config import ServerConfig
from masivo_conformance.server.embedded import EmbeddedServer
from masivo_conformance.server.threaded import ServerThread
from masivo_conformance.suite.payloads import purchase
from tests.cli.judge_traffic import Story, tell

FAULTS = frozenset({"lowercase_status", "double_reverse_accepted"})
SHOWN_BY_THE_TOKEN = {"AUTH-2", "AUTH-3"}  # the cassettes keep no token (redacted)


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    scrub.clear_secrets()


@contextlib.contextmanager
def pointed_at(server: EmbeddedServer, url: str) -> Iterator[EmbeddedServer]:
    """The server as the team's app sees it: its base URL is the proxy's."""
    upstream, server.base_url = server.base_url, url
    try:
        yield server
    finally:
        server.base_url = upstream


@dataclass
class Session:
    """One story told through an in-process proxy, and what the proxy made of it."""

    story: Story
    judgement: Judgement
    lines: list[str]
    errors: list[str]
    cassettes: Path
    reports: Path
    statuses: dict[str, str] = field(default_factory=dict)


def through_proxy(tmp: Path, faults: frozenset[str]) -> Session:
    story, lines, errors = Story(), list[str](), list[str]()
    with EmbeddedServer(ServerConfig(faults=faults)) as server:
        upstream = parse_upstream(server.base_url)
        judge = LiveJudge(
            upstream.url,
            cassettes=tmp / "cassettes",
            report_dir=tmp / "reports",
            on_violation=lines.append,
            on_error=errors.append,
        )
        with Proxy(upstream, port=0, judge=judge) as proxy:
            assert proxy.base_url.endswith("/api/storefront/v1")
            with pointed_at(server, proxy.base_url):
                tell(server, story)
        judgement = proxy.stop()
    result = json.loads((tmp / "reports" / "result.json").read_text())
    statuses = {row["id"]: row["status"] for row in result["requirements"]}
    return Session(story, judgement, lines, errors, tmp / "cassettes", tmp / "reports", statuses)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return through_proxy(tmp_path_factory.mktemp("faulty"), FAULTS)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return through_proxy(tmp_path_factory.mktemp("clean"), frozenset())


def test_each_fault_fails_its_requirement_one_line_per_violation(faulty: Session) -> None:
    assert {r for r, s in faulty.statuses.items() if s == "fail"} == {"GEN-4", "REV-4"}
    assert faulty.judgement.result.exit_code() == 1
    assert all("\n" not in line for line in faulty.lines)
    rev4 = [line for line in faulty.lines if line.startswith("masivo: REV-4 (MUST) violated at")]
    assert len(rev4) == 1, faulty.lines
    assert "second reverse of an event reversed" in rev4[0]
    assert any(line.startswith("masivo: GEN-4 (MUST) violated at") for line in faulty.lines)
    # The line names the exchange by its place in the cassette the proxy wrote.
    assert str(faulty.cassettes / "proxy-") in rev4[0]
    assert faulty.errors == []


def test_a_correct_server_shows_no_violation(clean: Session) -> None:
    assert clean.lines == []
    assert clean.errors == []
    assert "fail" not in clean.statuses.values()
    assert clean.judgement.result.exit_code() == 0
    # The multi-call rules were judged on each customer's window, and held.
    for requirement in ("REV-1", "REV-2", "FUL-1", "FUL-4", "PRV-2", "GEN-4", "EMIT-2"):
        assert clean.statuses[requirement] == "pass", requirement


@pytest.mark.parametrize("which", ["faulty", "clean"])
def test_judge_reads_the_cassettes_with_the_same_verdicts(
    which: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    session: Session = request.getfixturevalue(which)
    code = cli.main(["judge", str(session.cassettes), "--report-dir", str(tmp_path), "-q"])
    capsys.readouterr()
    assert code == session.judgement.result.exit_code()
    rows = json.loads((tmp_path / "result.json").read_text())["requirements"]
    judged = {row["id"]: row["status"] for row in rows}
    differ = {r for r in judged if judged[r] != session.statuses[r]}
    assert differ <= SHOWN_BY_THE_TOKEN, {r: (session.statuses[r], judged[r]) for r in differ}


def test_no_secret_reaches_a_cassette_a_report_or_a_line(faulty: Session) -> None:
    written = [p for p in (*faulty.cassettes.rglob("*"), *faulty.reports.rglob("*")) if p.is_file()]
    assert any(p.suffix == ".yaml" for p in written)
    texts = [*faulty.lines, *(p.read_text() for p in written)]
    for secret in faulty.story.secrets:
        assert len(secret) >= 8
        assert not any(secret in text for text in texts), secret[:12]
    assert "ana@example.com" not in "".join(texts)  # personal data masked too


# -- transparency -------------------------------------------------------------------------


async def _echo(request: Request) -> Response:
    """What the upstream received, and an answer with hop-by-hop and repeated headers."""
    seen = {
        "method": request.method,
        "path": request.scope["raw_path"].decode(),
        "query": request.scope["query_string"].decode(),
        "headers": [[k.decode(), v.decode()] for k, v in request.headers.raw],
        "body": (await request.body()).decode(),
    }
    answer = Response(json.dumps(seen), status_code=207, media_type="application/json")
    answer.raw_headers += [
        (b"x-kept", b"yes"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"keep-alive", b"timeout=5"),
        (b"x-named-by-connection", b"gone"),
        (b"connection", b"x-named-by-connection"),
    ]
    return answer


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    serving = ServerThread(
        Starlette(routes=[Route("/{path:path}", _echo, methods=methods)]),
        "127.0.0.1",
        0,
        "echo",
    )
    serving.start()
    yield serving.origin + "/api/storefront/v1"
    serving.stop()


def _headers(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k not in ("date", "server")]


def test_forwarding_is_transparent_but_for_hop_by_hop_headers(echo: str) -> None:
    upstream = parse_upstream(echo)
    with (
        Proxy(upstream, port=0, judge=LiveJudge(upstream.url, on_violation=print)) as proxy,
        httpx.Client() as client,
    ):
        sent: dict[str, Any] = {
            "method": "PATCH",
            "url": "/behavior/events/e%2F1/fulfill?a=1&b=%20x&a=2",
            "headers": {
                "x-api-key": "k-123456789",
                "x-custom": "1",
                "connection": "x-hop",
                "x-hop": "dropped",
                "te": "trailers",
            },
            "content": b'{"reason": "r"}',
        }
        direct = client.request(
            sent["method"], echo + sent["url"], headers=sent["headers"], content=sent["content"]
        )
        client.cookies.clear()  # the echo's set-cookie, which the second request must not send
        proxied = client.request(
            sent["method"],
            proxy.base_url + sent["url"],
            headers=sent["headers"],
            content=sent["content"],
        )
    assert proxied.status_code == direct.status_code == 207
    seen, seen_direct = proxied.json(), direct.json()
    for key in ("method", "path", "query", "body"):
        assert seen[key] == seen_direct[key], key
    assert seen["path"] == "/api/storefront/v1/behavior/events/e%2F1/fulfill"
    assert seen["query"] == "a=1&b=%20x&a=2"
    received = dict(seen["headers"])
    assert received["x-api-key"] == "k-123456789"
    assert received["x-custom"] == "1"
    assert received["host"] == echo.split("/")[2]  # the upstream's, not the proxy's
    assert "x-hop" not in received
    assert "te" not in received
    # No header the app did not send (httpx's own defaults are the app's client's).
    hop_by_hop = {"connection", "x-hop", "te"}
    assert {k for k, _ in seen["headers"]} == {k for k, _ in seen_direct["headers"]} - hop_by_hop
    answered = _headers(proxied)
    assert ("x-kept", "yes") in answered
    assert [v for k, v in answered if k == "set-cookie"] == ["a=1", "b=2"]
    dropped = {"keep-alive", "connection", "x-named-by-connection"}
    assert not dropped & {k for k, _ in answered}
    # The rest as the upstream sent it, in its order (the echoed bodies differ in length:
    # the upstream saw the hop-by-hop headers only when called directly).
    assert [h for h in _headers(direct) if h[0] not in {*dropped, "content-length"}] == [
        h for h in answered if h[0] != "content-length"
    ]


def test_a_storefront_answer_is_passed_byte_for_byte() -> None:
    with EmbeddedServer() as server, httpx.Client() as client:
        upstream = parse_upstream(server.base_url)
        with Proxy(upstream, port=0, judge=LiveJudge(upstream.url)) as proxy:
            token = client.get(
                proxy.base_url + "/auth/authorize", headers={"x-api-key": server.api_key}
            ).json()["data"]
            auth = {"authorization": f"Bearer {token}"}
            for base in (server.base_url, proxy.base_url):
                client.post(base + "/customers", json={"id": "c-" + base[-30:-20]}, headers=auth)
            pairs = [
                [client.get(base + "/rewards?from=0&to=5", headers=auth) for base in bases]
                for bases in [(server.base_url, proxy.base_url)] * 2
            ]
            missing = [
                client.get(base + "/customers/nobody", headers=auth)
                for base in (server.base_url, proxy.base_url)
            ]
    for direct, proxied in [*pairs, missing]:
        assert proxied.status_code == direct.status_code
        assert proxied.content == direct.content
        assert [h for h in _headers(proxied) if not h[0].startswith("x-ratelimit-remaining")] == [
            h for h in _headers(direct) if not h[0].startswith("x-ratelimit-remaining")
        ]
    assert missing[0].status_code == 404


def test_a_judge_that_fails_breaks_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: TrafficJudge, *_: object) -> list[Any]:
        raise RuntimeError("the judge broke")

    monkeypatch.setattr(TrafficJudge, "add", broken)
    errors: list[str] = []
    with EmbeddedServer() as server, httpx.Client() as client:
        upstream = parse_upstream(server.base_url)
        judge = LiveJudge(upstream.url, on_error=errors.append)
        with Proxy(upstream, port=0, judge=judge) as proxy:
            answers = [
                client.get(
                    proxy.base_url + "/auth/authorize", headers={"x-api-key": server.api_key}
                )
                for _ in range(3)
            ]
            judge.drain()
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(a.json()["data"].count(".") == 2 for a in answers)  # tokens, whole
    assert judge.errors == 3
    assert len(errors) == 3
    assert errors[0].startswith("masivo-conformance proxy: could not judge GET ")
    assert "RuntimeError: the judge broke" in errors[0]
    assert all(answer.json()["data"] not in " ".join(errors) for answer in answers)


# -- a process of its own -------------------------------------------------------------------


def _lines(stream: Any) -> tuple[queue.Queue[str], threading.Thread]:
    """The lines of `stream` as they come (read on a thread: a pipe read blocks)."""
    found: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            found.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return found, reader


def _until(found: queue.Queue[str], wanted: str, seen: list[str], timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = found.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if wanted in line:
            return line
    raise AssertionError(f"no line with {wanted!r}: {seen}")


def test_the_command_prints_at_once_reports_every_s_and_on_sigterm(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    with EmbeddedServer(ServerConfig(faults=frozenset({"lowercase_status"}))) as server:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "masivo_conformance",
                "proxy",
                "--upstream",
                server.base_url,
                "--port",
                "0",
                "--report-dir",
                str(reports),
                "--report-every",
                "0.3",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            out: list[str] = []
            lines, reader = _lines(process.stdout)
            base = _until(lines, "your base URL:", out).split(": ", 1)[1].strip()
            with httpx.Client(base_url=base) as client:
                token = client.get("/auth/authorize", headers={"x-api-key": server.api_key}).json()[
                    "data"
                ]
                client.headers["authorization"] = f"Bearer {token}"
                client.post("/customers", json={"id": "cu-proc"})
                emitted = client.post("/behavior/events", json=purchase("cu-proc", server.brand_id))
                assert emitted.json()["data"]["status"] == "resolved"  # the fault, forwarded
                # At once: the line comes while the proxy runs, before anything stops it.
                line = _until(lines, "masivo: GEN-4 (MUST) violated at proxy#3", out)
                assert "'resolved' is not one of" in line
                # --report-every: result.json is written while it runs.
                deadline = time.monotonic() + 10
                while not (reports / "result.json").is_file() and time.monotonic() < deadline:
                    time.sleep(0.05)
                periodic = json.loads((reports / "result.json").read_text())
                assert {r["id"]: r["status"] for r in periodic["requirements"]}["GEN-4"] == "fail"
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=20)
            reader.join(timeout=10)
            rest = "".join(lines.get() for _ in range(lines.qsize()))
            err = process.stderr.read() if process.stderr else ""
        finally:
            if process.poll() is None:
                process.kill()
    assert code == 1, (out, rest, err)
    assert "GEN-4   MUST   fail" in rest
    assert f"wrote {reports / 'result.json'}" in rest
    final = json.loads((reports / "result.json").read_text())
    assert final["request_count"] == 3
    assert token not in "".join(out) + rest + err + (reports / "report.html").read_text()
    assert "Traceback" not in err


def test_a_bad_upstream_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["proxy", "--upstream", "app.masivo.ai/api"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is not an http(s) URL" in err


# -- a team's pytest session ------------------------------------------------------------------

TEAM_TEST = """
import httpx


def test_our_checkout(masivo_judged_url):
    import os
    with httpx.Client(base_url=masivo_judged_url) as http:
        key = {"x-api-key": os.environ["SHOP_KEY"]}
        token = http.get("/auth/authorize", headers=key).json()["data"]
        http.headers["authorization"] = f"Bearer {token}"
        http.post("/customers", json={"id": "team-1"})
        event = {"customer_id": "team-1", "brand_id": os.environ["SHOP_BRAND"], "type": "PURCHASE",
                 "order": {"purchase_id": "p-1", "value": 10.0, "payment_method": "CREDIT",
                           "products": [{"sku": "S", "amount": 1, "value": 10.0}]}}
        answer = http.post("/behavior/events", json=event)
        assert answer.json()["data"]["status"].upper() == "RESOLVED"  # our code copes
"""


def test_the_pytest_option_judges_a_teams_session(tmp_path: Path) -> None:
    (tmp_path / "test_team.py").write_text(TEAM_TEST)
    reports = tmp_path / "judged"
    with EmbeddedServer(ServerConfig(faults=frozenset({"lowercase_status"}))) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MASIVO_", "PYTEST_"))}
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-q",
                "--masivo-judge-proxy",
                server.base_url,
                "--masivo-judge-report",
                str(reports),
            ],
            cwd=tmp_path,
            env={**env, "SHOP_KEY": server.api_key, "SHOP_BRAND": server.brand_id},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    out = run.stdout
    assert "1 passed" in out, out[-3000:]
    assert run.returncode == 1, out[-3000:]  # the test passed; the traffic broke a MUST
    summary = out[out.index("masivo: the traffic with") :]
    assert "GEN-4   MUST   fail" in summary
    assert "masivo: GEN-4 (MUST) violated at proxy#3" in summary
    assert "violated MUST requirement(s) GEN-4: the session fails" in summary
    result = json.loads((reports / "result.json").read_text())
    assert {r["id"]: r["status"] for r in result["requirements"]}["GEN-4"] == "fail"
    assert server.api_key not in out + run.stderr
