"""An answer tamperer: a hostile target made from an honest one.

`Tamperer` is an HTTP/1.1 proxy on 127.0.0.1 in front of a reference server. Every
request goes to the upstream first (so its state changes as usual); then the first
matching rule may rewrite the upstream's answer, or replace it with one a careful
server would never send: a byte every few seconds, a body that never ends, a gzip bomb.

    with EmbeddedServer() as upstream, Tamperer(upstream) as hostile:
        hostile.rule("authorize", json_patch(lambda body: {**body, "data": "x"}))
        hostile.rule(lambda ex: ex.status == 201, replace(status=500), times=1)
        run_cli("run", "--base-url", hostile.base_url, ...)
        hostile.hits  # [(method, path, operation), ...] of the answers it tampered with

It is a raw asyncio server, not an ASGI app: the streaming answers need control over
every write (framing, pacing, never finishing) that an ASGI server takes away, and
`stop()` must end them at once however far they got.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import dataclasses
import functools
import http
import json
import logging
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx

from masivo_conformance.contract.routes import route_for, routes
from masivo_conformance.proxy.app import HOP_BY_HOP

__all__ = [
    "Action",
    "Exchange",
    "Rewrite",
    "Tamperer",
    "add_headers",
    "deep_json",
    "drip",
    "endless_chunked",
    "gzip_bomb",
    "json_patch",
    "rate_limited",
    "replace",
]

_log = logging.getLogger(__name__)

_HOST = "127.0.0.1"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_UPSTREAM_TIMEOUT = 30.0
_MAX_HEAD = 64 * 1024  # request line and headers
_MAX_BODY = 16 * 1024 * 1024  # a request body; the suite sends a few KiB at most
# Headers of one hop only (RFC 9110 section 7.6.1), never forwarded either way: the
# validating proxy's own list.
_HOP_BY_HOP = HOP_BY_HOP
# Request headers the proxy sets itself: httpx writes Host and Content-Length for the
# upstream, and Accept-Encoding is forced to identity so rules see plain bodies.
_SET_BY_PROXY = frozenset({"host", "content-length", "accept-encoding"})
# Answer headers the proxy sets itself when it writes an answer: the framing, and the
# encoding (httpx has already decoded the upstream's body, should it have sent one).
_FRAMING = _HOP_BY_HOP | {"content-length", "content-encoding"}


# --- what a rule sees ----------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One request and the answer about to be sent for it (the upstream's, at first).

    `headers` are the answer's, lower-case names, without the framing ones
    (Content-Length, Transfer-Encoding, Connection, Content-Encoding): those are set
    when the answer is written, to match the body that is really sent.
    """

    method: str
    path: str  # as requested, with the query: /api/storefront/v1/rewards?limit=1
    operation: str | None  # the contract's operationId, None outside the contract
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON (a fresh copy each time), or None if it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


# --- actions -----------------------------------------------------------------------


class Action(abc.ABC):
    """What to answer for an exchange a rule matched. Subclass it for a new kind of
    misbehaviour; the factories below (json_patch, drip, ...) cover the usual ones."""

    @abc.abstractmethod
    async def send(self, exchange: Exchange, writer: asyncio.StreamWriter) -> bool:
        """Write a whole answer to `exchange`; True if the connection may then serve
        another request. Raise ConnectionError when the client has gone away."""


@dataclass(frozen=True)
class Rewrite(Action):
    """An ordinary, well-framed answer: the exchange as `fn` rewrites it."""

    fn: Callable[[Exchange], Exchange]

    async def send(self, exchange: Exchange, writer: asyncio.StreamWriter) -> bool:
        answer = self.fn(exchange)
        writer.write(_head(answer.status, answer.headers, _length(answer.body)) + answer.body)
        await writer.drain()
        return True


_PASS_THROUGH = Rewrite(lambda exchange: exchange)


def json_patch(fn: Callable[[Any], Any]) -> Action:
    """`fn(parsed body)` (None when the body is no JSON) gives the new JSON body; status,
    headers and content type stay. `fn` may change its argument and return it."""

    def patch(exchange: Exchange) -> Exchange:
        return dataclasses.replace(exchange, body=json.dumps(fn(exchange.json)).encode())

    return Rewrite(patch)


def replace(
    status: int | None = None,
    body: bytes | str | None = None,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Action:
    """Override what is given: `headers` replaces all the answer's headers (then
    `content_type`, if given, sets Content-Type); a str body is sent as UTF-8."""

    def swap(exchange: Exchange) -> Exchange:
        new_headers = exchange.headers if headers is None else _lower(headers)
        if content_type is not None:
            new_headers = {**new_headers, "content-type": content_type}
        return dataclasses.replace(
            exchange,
            status=exchange.status if status is None else status,
            body=exchange.body if body is None else _bytes(body),
            headers=new_headers,
        )

    return Rewrite(swap)


def add_headers(headers: Mapping[str, str] | None = None, **named: str) -> Action:
    """Add or override answer headers, from a dict (exact names) or keywords, where `_`
    stands for `-` (`Retry_After="nan"`). Values are sent as UTF-8, unchecked: a CR LF
    in one starts a header of its own, which a hostile test may want."""
    extra = {**_lower(headers or {}), **_lower({k.replace("_", "-"): v for k, v in named.items()})}
    return Rewrite(lambda ex: dataclasses.replace(ex, headers={**ex.headers, **extra}))


def rate_limited(retry_after: str = "1000000000") -> Action:
    """A 429 with exactly this Retry-After text: a client that believes it sleeps forever
    (the request was still forwarded, so the upstream did the work)."""
    body = json.dumps({"error": "rate_limited", "details": "slow down"}).encode()

    def refuse(exchange: Exchange) -> Exchange:
        headers = {**exchange.headers, "retry-after": retry_after}
        return dataclasses.replace(exchange, status=429, headers=_json_type(headers), body=body)

    return Rewrite(refuse)


def deep_json(levels: int = 100_000) -> Action:
    """A 200 whose `data` is `levels` nested arrays: valid JSON that a recursive parser
    (or a recursive walk of its result) cannot get through."""
    body = b'{"data": ' + b"[" * levels + b"]" * levels + b"}"

    def deepen(exchange: Exchange) -> Exchange:
        headers = _json_type(exchange.headers)
        return dataclasses.replace(exchange, status=200, headers=headers, body=body)

    return Rewrite(deepen)


@dataclass(frozen=True)
class _Drip(Action):
    interval: float
    body: bytes | None

    async def send(self, exchange: Exchange, writer: asyncio.StreamWriter) -> bool:
        body = exchange.body if self.body is None else self.body
        writer.write(_head(exchange.status, exchange.headers, _length(body)))
        await writer.drain()
        for i in range(len(body)):
            await asyncio.sleep(self.interval)
            writer.write(body[i : i + 1])
            await writer.drain()  # raises ConnectionError once the client has gone
        return True


def drip(interval: float = 5.0, body: bytes | str | None = None) -> Action:
    """Status and headers at once (Content-Length of the whole body), then the body (the
    upstream's by default) one byte every `interval` seconds, each byte after a wait: a
    client without a total deadline waits len(body) * interval seconds."""
    return _Drip(interval, None if body is None else _bytes(body))


@dataclass(frozen=True)
class _EndlessChunked(Action):
    chunk_size: int

    async def send(self, exchange: Exchange, writer: asyncio.StreamWriter) -> bool:
        chunked = {"transfer-encoding": "chunked"}
        writer.write(_head(exchange.status, _json_type(exchange.headers), chunked))
        writer.write(_chunk(b"["))
        filler = _chunk(b"0," * (self.chunk_size // 2))
        while True:
            writer.write(filler)
            await writer.drain()
            # drain() does not yield while the socket takes everything: let stop() in.
            await asyncio.sleep(0)


def endless_chunked(chunk_size: int = 65536) -> Action:
    """A chunked JSON body `[0,0,0,...` that never ends, sent as fast as the client
    reads it (the upstream's status and headers): a client that reads a body whole
    before looking at it fills its memory."""
    if chunk_size < 2:
        raise ValueError("chunk_size must be at least 2 (one '0,')")
    return _EndlessChunked(chunk_size)


@dataclass(frozen=True)
class _GzipBomb(Action):
    decompressed: int

    async def send(self, exchange: Exchange, writer: asyncio.StreamWriter) -> bool:
        headers = {**_json_type(exchange.headers), "content-encoding": "gzip"}
        size, parts = _gzip_of_spaces(self.decompressed)
        writer.write(_head(exchange.status, headers, {"content-length": str(size)}))
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0)  # as in _EndlessChunked: stop() must get a turn
        return True


def gzip_bomb(decompressed: int = 10 * 1024**3) -> Action:
    """A valid gzip body (Content-Encoding: gzip, Content-Length of the compressed size,
    about 1/1000 of `decompressed`) that inflates to `decompressed` spaces: a client
    that decodes without a size limit fills its memory. Never held whole on this side."""
    if decompressed < 0:
        raise ValueError("decompressed must be >= 0")
    return _GzipBomb(decompressed)


# --- the gzip bomb's bytes ---------------------------------------------------------

_BOMB_BLOCK = 1 << 20  # spaces per deflate block
_BOMB_BATCH = 64  # blocks per write (about 66 KB compressed, 64 MiB inflated)
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no time
_FINAL_EMPTY_BLOCK = b"\x03\x00"  # a last, empty, fixed-Huffman deflate block


def _deflated_spaces(count: int) -> bytes:
    """`count` spaces as raw deflate, ending with a full flush: the output is
    byte-aligned and refers to nothing before it, so copies of it can be concatenated
    into a valid stream of as many times the spaces."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(b" " * count) + compressor.flush(zlib.Z_FULL_FLUSH)


@functools.cache
def _bomb_block() -> bytes:
    return _deflated_spaces(_BOMB_BLOCK)


def _gzip_of_spaces(decompressed: int) -> tuple[int, Iterator[bytes]]:
    """The compressed size, and the parts of a gzip member of `decompressed` spaces."""
    block = _bomb_block()
    blocks, rest = divmod(decompressed, _BOMB_BLOCK)
    crc = zlib.crc32(b" " * rest, _crc32_of_repeats(zlib.crc32(b" " * _BOMB_BLOCK), blocks))
    trailer = struct.pack("<II", crc, decompressed & 0xFFFFFFFF)
    tail = (_deflated_spaces(rest) if rest else b"") + _FINAL_EMPTY_BLOCK + trailer
    size = len(_GZIP_HEADER) + blocks * len(block) + len(tail)

    def parts() -> Iterator[bytes]:
        yield _GZIP_HEADER
        full, last = divmod(blocks, _BOMB_BATCH)
        batch = block * _BOMB_BATCH
        for _ in range(full):
            yield batch
        yield block * last + tail

    return size, parts()


# CRC-32 of a repeated block without reading the repeats: zlib's crc32_combine (which
# Python's zlib module does not expose), by polynomial arithmetic modulo the CRC's.
_CRC_POLY = 0xEDB88320


def _multiply_mod_p(a: int, b: int) -> int:
    """a * b modulo the CRC polynomial (bit-reflected, as zlib's multmodp)."""
    product, mask = 0, 1 << 31
    while mask:
        if a & mask:
            product ^= b
        mask >>= 1
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1
    return product


def _x_to_2_to_the(n: int) -> list[int]:
    """x^(2^k) modulo the polynomial for k < n (zlib's x2n_table)."""
    table, power = [], 1 << 30  # x^1
    for _ in range(n):
        table.append(power)
        power = _multiply_mod_p(power, power)
    return table


_X2N = _x_to_2_to_the(64)


def _crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B from crc(A), crc(B) and len(B)."""
    shift, bit, k = 1 << 31, length2 * 8, 0  # x^0, times x^(8 * len(B))
    while bit:
        if bit & 1:
            shift = _multiply_mod_p(_X2N[k], shift)
        bit >>= 1
        k += 1
    return _multiply_mod_p(shift, crc1) ^ crc2


def _crc32_of_repeats(block_crc: int, count: int) -> int:
    """The CRC-32 of `count` copies of a `_BOMB_BLOCK`-byte block, by doubling."""
    crc, power_crc, power_length = 0, block_crc, _BOMB_BLOCK
    while count:
        if count & 1:
            crc = _crc32_combine(crc, power_crc, power_length)
        power_crc = _crc32_combine(power_crc, power_crc, power_length)
        power_length *= 2
        count >>= 1
    return crc


# --- HTTP/1.1 on the wire ----------------------------------------------------------


class _BadRequest(Exception):
    """Not a request this proxy serves: the connection is closed without an answer."""


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def keep_alive(self) -> bool:
        tokens = _tokens(self.header("connection"))
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens

    def forwarded_headers(self) -> list[tuple[str, str]]:
        """The end-to-end headers, plus Accept-Encoding: identity."""
        dropped = _HOP_BY_HOP | _SET_BY_PROXY | _tokens(self.header("connection"))
        kept = [(k, v) for k, v in self.headers if k.lower() not in dropped]
        return [*kept, ("accept-encoding", "identity")]


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """The next request on the connection, or None if the client closed it cleanly."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _BadRequest("connection closed inside a request head") from exc
        return None
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(f"not an HTTP/1.x request line: {lines[0][:100]!r}")
    headers = [_header_field(line) for line in lines[1:]]
    request = _Request(parts[0], parts[1], parts[2], headers, b"")
    return dataclasses.replace(request, body=await _read_body(reader, request))


def _header_field(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(":")
    if not colon or not name or name != name.strip():
        raise _BadRequest(f"not a header field: {line[:100]!r}")
    return name, value.strip()


async def _read_body(reader: asyncio.StreamReader, request: _Request) -> bytes:
    if "chunked" in _tokens(request.header("transfer-encoding")):
        return await _read_chunked(reader)
    length = request.header("content-length") or "0"
    if not length.isdigit() or int(length) > _MAX_BODY:
        raise _BadRequest(f"unusable Content-Length: {length[:40]!r}")
    return await reader.readexactly(int(length))


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_field = (await reader.readuntil(b"\r\n")).split(b";")[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError as exc:
            raise _BadRequest(f"bad chunk size: {size_field[:40]!r}") from exc
        if size == 0:
            break
        if len(body) + size > _MAX_BODY:
            raise _BadRequest("request body too large")
        chunk = await reader.readexactly(size + 2)  # the data and its CR LF
        body += chunk[:-2]
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, ignored
        pass
    return bytes(body)


def _head(status: int, headers: Mapping[str, str], framing: Mapping[str, str]) -> bytes:
    """Status line and headers; `framing` (lower-case names) wins over `headers`."""
    fields = {**{k: v for k, v in headers.items() if k.lower() not in framing}, **framing}
    lines = [f"HTTP/1.1 {status} {_reason(status)}", *(f"{k}: {v}" for k, v in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""  # allowed: the reason phrase may be empty


def _length(body: bytes) -> dict[str, str]:
    return {"content-length": str(len(body))}


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _tokens(value: str | None) -> set[str]:
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _json_type(headers: Mapping[str, str]) -> dict[str, str]:
    return {**headers, "content-type": "application/json"}


def _bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


# --- the proxy -----------------------------------------------------------------------


class _Target(Protocol):
    """What a Tamperer needs of its upstream (an EmbeddedServer, a StaticMock, ...)."""

    base_url: str
    api_key: str
    brand_id: str


@dataclass
class _Rule:
    when: Callable[[Exchange], bool]
    action: Action
    times: int | None  # left to apply; None: always


@dataclass
class _Running:
    """What stop() needs of a started proxy: its thread, loop and stop signal."""

    thread: threading.Thread
    loop: asyncio.AbstractEventLoop | None = None
    stopping: asyncio.Event | None = None
    connections: set[asyncio.Task[None]] = field(default_factory=set)


class Tamperer:
    """`with Tamperer(upstream) as hostile:` a proxy at `hostile.base_url` (same path
    prefix as the upstream), with the upstream's `api_key` and `brand_id`."""

    def __init__(self, upstream: _Target) -> None:
        self.upstream = upstream
        parts = urlsplit(upstream.base_url)
        self._upstream_origin = f"{parts.scheme}://{parts.netloc}"
        self._prefix = parts.path.rstrip("/")
        self.base_url = ""
        self.api_key = upstream.api_key
        self.brand_id = upstream.brand_id
        self._lock = threading.RLock()  # a predicate may read `hits`
        self._rules: list[_Rule] = []
        self._translations: list[tuple[str, str]] = []
        self._hits: list[tuple[str, str, str | None]] = []
        self._errors: list[Exception] = []
        self._running: _Running | None = None

    # -- rules (any thread) --

    def rule(
        self,
        when: str | Callable[[Exchange], bool],
        action: Action,
        times: int | None = None,
    ) -> None:
        """Apply `action` to answers `when` matches: an operationId of the contract
        (checked now: a typo would silently match nothing) or a predicate. Rules are
        tried in the order they were added; the first one that matches and has `times`
        left applies, and uses one up (None: no limit)."""
        if times is not None and times < 1:
            raise ValueError("times must be None or at least 1")
        predicate = _operation_is(when) if isinstance(when, str) else when
        with self._lock:
            self._rules.append(_Rule(predicate, action, times))

    def translate(self, handed_out: str, real: str) -> None:
        """Forward `real` wherever a request carries `handed_out` (in its target, plain
        or percent-encoded, its header values and its body): the target hands out
        values of its choosing (a token, an id) and the upstream still sees its own."""
        with self._lock:
            self._translations.append((handed_out, real))
            self._translations.append((quote(handed_out, safe=""), quote(real, safe="")))

    def _translated(self, text: str) -> str:
        with self._lock:
            pairs = list(self._translations)
        for handed_out, real in pairs:
            text = text.replace(handed_out, real)
        return text

    @property
    def hits(self) -> list[tuple[str, str, str | None]]:
        """(method, path with query, operation) of each answer a rule applied to, in order."""
        with self._lock:
            return list(self._hits)

    @property
    def errors(self) -> list[Exception]:
        """Exceptions raised by rules' predicates or actions (each closed a connection)."""
        with self._lock:
            return list(self._errors)

    def _choose(self, exchange: Exchange) -> Action:
        with self._lock:
            for rule in self._rules:
                if rule.times != 0 and rule.when(exchange):
                    rule.times = None if rule.times is None else rule.times - 1
                    self._hits.append((exchange.method, exchange.path, exchange.operation))
                    return rule.action
        return _PASS_THROUGH

    # -- life cycle (the caller's thread) --

    def start(self) -> Tamperer:
        """Listen on 127.0.0.1 (a free port) and serve from a thread of its own."""
        if self._running is not None:
            return self
        # IPPROTO_TCP: asyncio sets TCP_NODELAY only then (see server/threaded.py).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.bind((_HOST, 0))
        except OSError:
            sock.close()
            raise
        port = sock.getsockname()[1]
        ready = threading.Event()
        thread = threading.Thread(
            target=asyncio.run,
            args=(self._main(sock, ready),),
            name=f"tamperer:{port}",
            daemon=True,
        )
        self._running = _Running(thread)
        thread.start()
        if not ready.wait(_START_TIMEOUT) or self._running.loop is None:
            self.stop()
            raise RuntimeError(f"the tamperer did not start on port {port}")
        self.base_url = f"http://{_HOST}:{port}{self._prefix}"
        return self

    def stop(self) -> None:
        """Stop at once: streaming answers are cut, connections aborted."""
        running, self._running = self._running, None
        if running is None:
            return
        if running.loop is not None and running.stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                running.loop.call_soon_threadsafe(running.stopping.set)
        running.thread.join(_STOP_TIMEOUT)

    def __enter__(self) -> Tamperer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the event loop's thread --

    async def _main(self, sock: socket.socket, ready: threading.Event) -> None:
        running = self._running
        assert running is not None
        running.loop, running.stopping = asyncio.get_running_loop(), asyncio.Event()
        timeout = httpx.Timeout(_UPSTREAM_TIMEOUT)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as c:
            serve = functools.partial(self._serve, c, running.connections)
            server = await asyncio.start_server(serve, sock=sock, limit=_MAX_HEAD)
            ready.set()
            try:
                await running.stopping.wait()
            finally:
                server.close()
                await _cancel(running.connections)
                await server.wait_closed()

    async def _serve(
        self,
        client: httpx.AsyncClient,
        connections: set[asyncio.Task[None]],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """One client connection: requests in turn until either side closes it."""
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        clean = False
        try:
            clean = await self._converse(client, reader, writer)
        except asyncio.CancelledError:
            pass  # stop(): end quietly (asyncio 3.11 logs a cancelled connection task)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away, or its request head is too long: just close
        except _BadRequest as exc:
            _log.info("tamperer: %s", exc)
        except Exception as exc:  # a rule's or action's bug: told to the test, not lost
            _log.exception("tamperer: a rule or action failed")
            with self._lock:
                self._errors.append(exc)
        finally:
            connections.discard(task)
            if clean:
                writer.close()
            else:
                _cut(writer)

    async def _converse(
        self,
        client: httpx.AsyncClient,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Serve requests until the connection ends; True if it ended cleanly."""
        while True:
            request = await _read_request(reader)
            if request is None:
                return True
            exchange = await self._forward(client, request)
            again = await self._choose(exchange).send(exchange, writer)
            if not (again and request.keep_alive):
                return True

    async def _forward(self, client: httpx.AsyncClient, request: _Request) -> Exchange:
        """The upstream's answer to `request`, or a 502 if there is none."""
        target = _origin_form(request.target)
        forwarded = [(k, self._translated(v)) for k, v in request.forwarded_headers()]
        sent = self._translated(request.body.decode("utf-8", "surrogateescape"))
        try:
            answer = await client.request(
                request.method,
                self._upstream_origin + self._translated(target),
                headers=forwarded,
                content=sent.encode("utf-8", "surrogateescape") or None,
            )
            status, body = answer.status_code, answer.content
            headers = {k.lower(): v for k, v in answer.headers.items()}
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            status, body = 502, f"tamperer: no answer from upstream: {exc!r}".encode()
            headers = {"content-type": "text/plain; charset=utf-8"}
        routed = route_for(request.method, target.partition("?")[0])
        return Exchange(
            method=request.method,
            path=target,
            operation=None if routed is None else routed.operation,
            status=status,
            headers={k: v for k, v in headers.items() if k not in _FRAMING},
            body=body,
        )


def _operation_is(name: str) -> Callable[[Exchange], bool]:
    known = {route.operation for route in routes()}
    if name not in known:
        raise ValueError(f"unknown operation {name!r}; the contract has {sorted(known)}")
    return lambda exchange: exchange.operation == name


def _origin_form(target: str) -> str:
    """The path and query of a request target (origin form, or absolute form)."""
    if target.startswith("/"):
        return target
    parts = urlsplit(target)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _cut(writer: asyncio.StreamWriter) -> None:
    """Close a connection with a reset, now: close() would first send what is buffered
    (for a cut stream, maybe never), and a plain close lets the client read on through
    what its kernel already holds (megabytes of a bomb) before it sees the end."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _cancel(tasks: set[asyncio.Task[None]]) -> None:
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
