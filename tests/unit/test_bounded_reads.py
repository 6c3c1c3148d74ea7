"""Answers the suite reads only in part: endless bodies, gzip bombs, drips, stalls and
JSON nested beyond any parser, through both HTTP stacks (our httpx client, and the
requests session fuzzing.call hands to schemathesis), against raw servers on 127.0.0.1.
Each is cut at its bound and becomes a GEN-3 finding, never a crash or a hang."""

from __future__ import annotations

import gc
import socket
import struct
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import jwt
import pytest

from masivo_conformance import checks
from masivo_conformance.checks import limits
from masivo_conformance.checks.calls import NOT_JSON, Call
from masivo_conformance.checks.evidence import Evidence
from masivo_conformance.errors import TargetError
from masivo_conformance.suite import fuzzing
from masivo_conformance.suite.bounded import BoundedSession, breach_of
from masivo_conformance.suite.client import ApiClient, BudgetSpent, RequestBudget

PREFIX = "/api/storefront/v1"
MIB = 1024 * 1024
Serve = Callable[[socket.socket, threading.Event], None]


# -- raw servers: one function writes each whole answer, however it misbehaves -----------------


def _read_head(conn: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(65536)
        if not data:
            break
        head += data
    return head


@contextmanager
def raw_server(serve: Serve) -> Iterator[str]:
    """A server on a free loopback port whose every connection gets `serve(conn, stop)`
    once its request head is read; yields its base URL. Writes to a client that has gone
    away end that connection quietly."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                if _read_head(conn):
                    serve(conn, stop)
            except OSError:
                pass  # the client cut the answer short: that is the point

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue  # a look at `stop` now and then: close() does not wake accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}{PREFIX}"
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)


def _head(status: int = 200, **headers: str) -> bytes:
    fields = {"Content-Type": "application/json", **headers}
    lines = [f"HTTP/1.1 {status} X", *(f"{k.replace('_', '-')}: {v}" for k, v in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def endless_chunked(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(_head(Transfer_Encoding="chunked") + b"1\r\n[\r\n")
    filler = b"%x\r\n%s\r\n" % (MIB, b"0," * (MIB // 2))
    while not stop.is_set():
        conn.sendall(filler)


def _gzip_bomb(mib: int) -> bytes:
    """A gzip body that inflates to `mib` MiB of zeros, about 1/1000 of that on the wire:
    a fully flushed block of one MiB of zeros refers to nothing before it, so copies of
    it make a valid stream."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MIB)
    head = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    end = compressor.flush()[:-8]  # the last, empty block, without the trailer
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    return head + block * (mib - 1) + end + struct.pack("<II", crc, (mib * MIB) & 0xFFFFFFFF)


BOMB = _gzip_bomb(256)  # 256 KB that inflate to 256 MiB: each 64 KiB read is 64 MiB


def gzip_bomb(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(_head(Content_Encoding="gzip", Content_Length=str(len(BOMB))) + BOMB)


def answer(body: bytes, status: int = 200, **headers: str) -> Serve:
    def serve(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(_head(status, Content_Length=str(len(body)), **headers) + body)

    return serve


DEEP = b"[" * 100_000 + b"]" * 100_000


def drip(interval: float) -> Serve:
    """Headers at once, then a byte of a 1000-byte body every `interval` seconds: each
    read returns well within any read timeout, and the body never ends in time."""

    def serve(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(_head(Content_Length="1000"))
        while not stop.wait(interval):
            conn.sendall(b" ")

    return serve


def stall(conn: socket.socket, stop: threading.Event) -> None:
    """Headers and a little of the body, then nothing (the connection stays open)."""
    conn.sendall(_head(Content_Length="100") + b'{"da')
    stop.wait(30)


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Reads the request, and never answers."""
    stop.wait(30)


def redirect(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(_head(302, Location="http://127.0.0.1:9/elsewhere", Content_Length="0"))


# -- helpers -------------------------------------------------------------------------------------

TOKEN = jwt.encode({"sub": "store", "exp": 4_000_000_000}, "k" * 32, algorithm="HS256")


@contextmanager
def api(base_url: str, **options: Any) -> Iterator[ApiClient]:
    client = ApiClient(base_url, token=TOKEN, **options)
    try:
        yield client
    finally:
        client.close()


@contextmanager
def peak_allocation() -> Iterator[list[int]]:
    """The most memory Python held at once inside the block (tracemalloc), in bytes."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def fuzz_case(base_url: str) -> Any:
    schema = fuzzing.schema_for(base_url, TOKEN)
    return schema["/customers/{id}"]["GET"].Case(path_parameters={"id": "c-1"})


def _gen3_only(call: Call) -> str:
    """The one finding judge_call records on `call`, which must be GEN-3's alone."""
    evidence = Evidence()
    violated = checks.judge_call(call, evidence)
    assert violated == {"GEN-3"}
    assert set(evidence.tallies) == {"GEN-3"}, "a cut answer is judged by GEN-3 alone"
    (finding,) = evidence.tallies["GEN-3"].findings
    return finding.message


# -- too large -----------------------------------------------------------------------------------


@pytest.mark.parametrize("serve", [endless_chunked, gzip_bomb], ids=["endless", "gzip-bomb"])
def test_an_answer_larger_than_8_mib_is_cut_there_in_bounded_memory(serve: Serve) -> None:
    with raw_server(serve) as url, api(url) as client, peak_allocation() as peak:
        response = client.request("GET", "/customers/c-1")
    assert response.extensions[limits.BREACH_EXTENSION] == limits.TOO_LARGE
    assert len(response.content) == limits.MAX_BODY_BYTES
    # The 8 MiB kept and one copy of it; never the 256 MiB a bomb holds, nor the 64 MiB
    # that one 64 KiB read of it inflates to when it is decoded whole.
    assert peak[0] < 40 * MIB, f"{peak[0] / MIB:.0f} MiB held at once"
    call = Call.from_httpx(response)
    assert (call.breach, call.body) == (limits.TOO_LARGE, NOT_JSON)
    message = _gen3_only(call)
    assert "no usable answer: answer larger than 8 MiB after decompression" in message


@pytest.mark.parametrize("serve", [endless_chunked, gzip_bomb], ids=["endless", "gzip-bomb"])
def test_schemathesis_answers_larger_than_8_mib_are_cut_in_bounded_memory(serve: Serve) -> None:
    with raw_server(serve) as url:
        case = fuzz_case(url)
        with peak_allocation() as peak:
            response = fuzzing.call(case, RequestBudget())
    assert breach_of(response.request) == limits.TOO_LARGE
    assert len(response.content) == limits.MAX_BODY_BYTES
    assert peak[0] < 40 * MIB, f"{peak[0] / MIB:.0f} MiB held at once"
    evidence = Evidence()
    call = fuzzing.judge(case, response, evidence)
    assert call is not None
    assert call.breach == limits.TOO_LARGE
    assert set(evidence.tallies) == {"GEN-3"}, "nor do schemathesis's checks judge the cut body"


def test_cut_answers_are_freed_without_the_cycle_collector() -> None:
    """The suite's session makes the cycle collector rare (suite/session.py): an answer
    left in a reference cycle would hold its 8 MiB until then, run after run."""
    gc.disable()
    try:
        with raw_server(gzip_bomb) as url, api(url) as client, peak_allocation():
            for _ in range(8):
                Call.from_httpx(client.request("GET", "/customers/c-1"))
            held = tracemalloc.get_traced_memory()[0]
    finally:
        gc.enable()
    assert held < 16 * MIB, f"{held / MIB:.0f} MiB still held after 8 answers"


def test_an_answer_of_exactly_8_mib_is_read_whole() -> None:
    body = b'"' + b"x" * (limits.MAX_BODY_BYTES - 2) + b'"'
    with raw_server(answer(body)) as url, api(url) as client:
        response = client.request("GET", "/customers/c-1")
    assert limits.BREACH_EXTENSION not in response.extensions
    assert response.content == body


def _deflate(data: bytes, wbits: int) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return compressor.compress(data) + compressor.flush()


PLAIN = b'{"data": "' + b"abc" * 50_000 + b'"}'


@pytest.mark.parametrize(
    ("encoding", "sent", "read"),
    [
        ("gzip", _deflate(PLAIN, 31), PLAIN),
        ("x-gzip", _deflate(PLAIN, 31), PLAIN),
        ("deflate", _deflate(PLAIN, 15), PLAIN),  # RFC 9110: a zlib stream
        ("deflate", _deflate(PLAIN, -15), PLAIN),  # what some servers send: raw deflate
        ("gzip, gzip", _deflate(_deflate(PLAIN, 31), 31), PLAIN),
        ("identity", PLAIN, PLAIN),
        ("br", b"\x8b\x00\x80", b"\x8b\x00\x80"),  # not asked for: left as it came
    ],
)
def test_answers_are_decoded_as_their_content_encoding_says(
    encoding: str, sent: bytes, read: bytes
) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "gzip, deflate"
        headers = {"Content-Encoding": encoding}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(sent))

    with api("https://t.example" + PREFIX, transport=httpx.MockTransport(reply)) as client:
        response = client.request("GET", "/customers/c-1")
    assert response.content == read
    assert limits.BREACH_EXTENSION not in response.extensions


def test_a_body_that_is_not_what_its_encoding_says_is_a_decoding_error() -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Encoding": "gzip"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(b"not gzip"))

    with (
        api("https://t.example" + PREFIX, transport=httpx.MockTransport(reply)) as client,
        pytest.raises(httpx.DecodingError, match="cannot decode the gzip answer"),
    ):
        client.request("GET", "/customers/c-1")


# -- too deep ------------------------------------------------------------------------------------


def test_json_100000_levels_deep_is_a_breach_and_no_recursion_error() -> None:
    with raw_server(answer(DEEP)) as url, api(url) as client:
        response = client.request("GET", "/customers/c-1")
    assert response.extensions[limits.BREACH_EXTENSION] == limits.TOO_DEEP
    # Cut just past level 65: whatever parses it next fails at once, without recursing.
    assert response.content == b"[" * (limits.MAX_JSON_DEPTH + 1)
    with pytest.raises(ValueError, match="Expecting"):
        response.json()
    call = Call.from_httpx(response)
    assert (call.breach, call.body) == (limits.TOO_DEEP, NOT_JSON)
    assert "JSON nested deeper than 64 levels" in _gen3_only(call)


def test_schemathesis_json_100000_levels_deep_is_a_breach() -> None:
    with raw_server(answer(DEEP)) as url:
        case = fuzz_case(url)
        response = fuzzing.call(case)
    evidence = Evidence()
    call = fuzzing.judge(case, response, evidence)  # its checks would recurse into it whole
    assert call is not None
    assert call.breach == limits.TOO_DEEP
    assert set(evidence.tallies) == {"GEN-3"}


@pytest.mark.parametrize(
    ("text", "breach"),
    [
        ("[" * 65 + "]" * 65, limits.TOO_DEEP),
        ('{"a": ' * 65 + "1" + "}" * 65, limits.TOO_DEEP),
        ("[" * 64 + "]" * 64, ""),
        ('["[[[[' + "[" * 100 + '"]', ""),  # brackets inside a string nest nothing
        ("[" * 100_000, limits.TOO_DEEP),  # never closed: json.loads recurses all the same
    ],
)
def test_any_call_reads_its_json_to_64_levels(text: str, breach: str) -> None:
    """A body the suite did not read itself (a replayed cassette) is measured too."""
    call = Call.build("GET", f"http://t.example{PREFIX}/rewards", None, 200, {}, text, "")
    assert call is not None
    assert call.breach == breach
    assert (call.body is NOT_JSON) == bool(breach)


def test_the_cut_of_deep_json_skips_brackets_in_strings_and_escapes() -> None:
    start = b'[{"a": "\\"[[{\\\\", "b": '  # two levels; the string's brackets nest nothing
    body = start + b"[" * 70 + b"]" * 70 + b"}]"
    assert body[: limits.depth_cut(body) or 0] == start + b"[" * 63  # 2 + 63 = 65 levels


# -- too slow ------------------------------------------------------------------------------------


def test_a_drip_is_cut_at_the_timeout_whatever_each_read_takes() -> None:
    with raw_server(drip(0.1)) as url, api(url, timeout=1.0) as client:
        started = time.monotonic()
        response = client.request("GET", "/customers/c-1")
        took = time.monotonic() - started
    assert response.extensions[limits.BREACH_EXTENSION] == "answer not complete within 1 s"
    assert 1.0 <= took < 2.0
    assert 0 < len(response.content) < 20  # the bytes that came in time, about 10
    assert "answer not complete within 1 s" in _gen3_only(Call.from_httpx(response))


def test_schemathesis_drips_are_cut_at_the_timeout() -> None:
    with raw_server(drip(0.1)) as url:
        case = fuzz_case(url)
        started = time.monotonic()
        response = fuzzing.call(case, RequestBudget(timeout=1.0))
        took = time.monotonic() - started
    assert breach_of(response.request) == "answer not complete within 1 s"
    assert 1.0 <= took < 2.0


def test_an_answer_that_stalls_after_its_headers_is_cut_at_the_read_timeout() -> None:
    with raw_server(stall) as url, api(url, timeout=0.5) as client:
        response = client.request("GET", "/customers/c-1")
    assert response.extensions[limits.BREACH_EXTENSION] == "answer not complete within 0.5 s"
    assert response.content == b'{"da'


@pytest.mark.parametrize("stack", ["httpx", "requests"])
def test_a_drip_past_the_runs_deadline_ends_the_run_not_the_target(stack: str) -> None:
    """--max-time is the run's limit: reaching it mid-answer is BudgetSpent (the rest is
    not checked), not a finding on a target that was still within its --timeout."""
    budget = RequestBudget(max_time=0.8, deadline=time.monotonic() + 0.8, timeout=10.0)
    with raw_server(drip(0.1)) as url, api(url, budget=budget) as client:
        case = fuzz_case(url)
        send = (
            (lambda: client.request("GET", "/customers/c-1"))
            if stack == "httpx"
            else (lambda: fuzzing.call(case, budget))
        )
        started = time.monotonic()
        with pytest.raises(BudgetSpent, match=r"--max-time of 0\.8 s reached"):
            send()
        assert time.monotonic() - started < 1.5


def test_a_silent_server_past_the_runs_deadline_ends_the_run() -> None:
    """No header ever comes: the socket timeout is cut to the deadline, and its expiry is
    the run's end, not a target that stopped answering."""
    budget = RequestBudget(max_time=0.5, deadline=time.monotonic() + 0.5, timeout=10.0)
    with raw_server(silent) as url, api(url, budget=budget) as client:
        started = time.monotonic()
        with pytest.raises(BudgetSpent, match="--max-time"):
            client.request("GET", "/customers/c-1")
        assert time.monotonic() - started < 1.5


# -- needed steps ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("serve", "timeout", "said", "todo"),
    [
        (answer(b'{"data": ' + DEEP + b"}"), 10, "JSON nested deeper than 64", "at most 8 MiB"),
        (endless_chunked, 10, "answer larger than 8 MiB", "nested at most 64 levels"),
        (drip(0.1), 0.5, "answer not complete within 0.5 s", "raise --timeout"),
    ],
    ids=["deep", "endless", "drip"],
)
def test_authorize_without_a_usable_answer_is_one_target_error(
    serve: Serve, timeout: float, said: str, todo: str
) -> None:
    with raw_server(serve) as url:
        client = ApiClient(url, api_key="mk_test_key_abcdef123456", timeout=timeout)
        try:
            with pytest.raises(TargetError) as caught:
                client.token()
        finally:
            client.close()
    message = str(caught.value)
    assert message.startswith(f"authorize at {url}/auth/authorize gave no usable answer")
    assert said in message
    assert todo in caught.value.todo
    assert "\n" not in message


# -- redirects -----------------------------------------------------------------------------------


def test_schemathesis_answers_are_never_followed_to_a_redirect() -> None:
    with raw_server(redirect) as url:
        response = fuzzing.call(fuzz_case(url))
    assert response.status_code == 302  # the answer under test, not where it points


def test_the_bounded_session_keeps_no_cookie_and_sends_no_header_of_its_own() -> None:
    session = BoundedSession(timeout=1.0, budget=RequestBudget())
    assert dict(session.headers) == {}
    with raw_server(answer(b"{}", Set_Cookie="sid=1")) as url:
        session.request("GET", url + "/rewards")
    assert not session.cookies
    session.close()


# -- Retry-After and X-RateLimit-Remaining ---------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("0.5", 0.5),
        ("1000000000", 1e9),
        ("nan", 1.0),
        ("inf", 1.0),
        ("-5", 1.0),
        ("soon", 1.0),
        (None, 1.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: now
    ],
)
def test_retry_after_is_read_as_finite_seconds(header: str | None, seconds: float) -> None:
    from masivo_conformance.suite.budget import retry_after  # noqa: PLC0415

    assert retry_after(header) == seconds


def test_retry_after_as_a_future_date_is_the_seconds_until_then() -> None:
    from email.utils import formatdate  # noqa: PLC0415

    from masivo_conformance.suite.budget import retry_after  # noqa: PLC0415

    assert 8 <= retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10


def _limited(retry: str, after: int = 100) -> httpx.MockTransport:
    sent: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        if len(sent) <= after:
            return httpx.Response(429, headers={"Retry-After": retry}, json={"error": "slow"})
        return httpx.Response(200, json={"data": {}})

    return httpx.MockTransport(reply)


@pytest.mark.parametrize("retry", ["1000000000", "31"])
def test_a_retry_after_above_30_s_stops_the_run_at_once(retry: str) -> None:
    transport = _limited(retry)
    with api("https://t.example" + PREFIX, transport=transport) as client:
        started = time.monotonic()
        with pytest.raises(BudgetSpent) as caught:
            client.request("GET", "/customers/c-1")
    assert time.monotonic() - started < 1.0
    assert f"the target asks to wait {retry} s" in str(caught.value)
    assert "more than the 30 s the suite waits" in str(caught.value)


@pytest.mark.parametrize("retry", ["nan", "inf", "-5", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_an_unusable_retry_after_is_waited_briefly_and_retried(
    retry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    with api("https://t.example" + PREFIX, transport=_limited(retry, after=2)) as client:
        response = client.request("GET", "/customers/c-1")
    assert response.status_code == 200
    wait = 0.0 if retry.startswith("Wed") else 1.0  # a date in the past, or unusable: 1 s
    assert slept == [wait, wait]


def test_a_retry_after_past_the_runs_deadline_ends_the_run_without_waiting() -> None:
    budget = RequestBudget(max_time=5, deadline=time.monotonic() + 2)
    with api("https://t.example" + PREFIX, budget=budget, transport=_limited("10")) as client:
        started = time.monotonic()
        with pytest.raises(BudgetSpent, match="--max-time of 5 s reached"):
            client.request("GET", "/customers/c-1")
    assert time.monotonic() - started < 1.0


def test_schemathesis_429s_read_retry_after_from_their_own_headers() -> None:
    """schemathesis's answers keep header names in lower case and values in lists."""
    with (
        raw_server(answer(b"{}", 429, Retry_After="1000000000")) as url,
        pytest.raises(BudgetSpent, match="asks to wait 1000000000 s"),
    ):
        fuzzing.call(fuzz_case(url), RequestBudget())


@pytest.mark.parametrize("remaining", ["²", "٣", "1e3", " ", "-1", "", "x"])
def test_x_ratelimit_remaining_counts_only_ascii_digits(remaining: str) -> None:
    header = [(b"X-RateLimit-Remaining", remaining.encode())]  # as a server sends it: UTF-8
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, headers=header, json={"data": {}})
    )
    with api("https://t.example" + PREFIX, transport=transport) as client:
        assert client.request("GET", "/customers/c-1").status_code == 200
        assert client.budget.lowest_remaining is None
        client.budget.observe_remaining(" 7 ")
        assert client.budget.lowest_remaining == 7


# -- in-memory answers ---------------------------------------------------------------------------


def test_answers_built_in_memory_are_bounded_too() -> None:
    """A mock transport or a replayed cassette hands over a body already read."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=DEEP))
    with api("https://t.example" + PREFIX, transport=transport) as client:
        response = client.request("GET", "/customers/c-1")
    assert response.extensions[limits.BREACH_EXTENSION] == limits.TOO_DEEP
