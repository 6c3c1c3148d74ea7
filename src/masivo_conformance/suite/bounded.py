"""Every answer read under the bounds of checks/limits.py, by both HTTP stacks the suite
uses: our httpx client (`BoundedClient`) and schemathesis's requests (`BoundedSession`,
which fuzzing.call hands to `case.call`).

Both stream the body and read it here (`read_within`): at most MAX_BODY_BYTES after
decompression (a gzip bomb is inflated a piece at a time, never whole), the whole answer
within the request's timeout, never past the run's --max-time, and JSON nested at most
MAX_JSON_DEPTH levels. An answer that breaks a bound is kept as far as it was read (cut)
and marked with its breach, which becomes `Call.breach` (GEN-3's to judge).

The clock is read between chunks: a drip's socket reads each return in time, so the cut
comes at the first chunk after the limit. A read that blocks instead ends at the socket
timeout, so the worst overshoot is one read timeout (at most --timeout, and never past
the run's deadline, which shortens the socket timeout of a request that starts near it).
The status line and headers are bounded by that read timeout alone.
"""

from __future__ import annotations

import time
import weakref
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import requests
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError

from masivo_conformance.checks.limits import (
    BREACH_EXTENSION,
    MAX_BODY_BYTES,
    TOO_DEEP,
    TOO_LARGE,
    depth_cut,
    too_slow,
)
from masivo_conformance.checks.reproducers import curl_for, curl_for_prepared
from masivo_conformance.suite.budget import RequestBudget
from masivo_conformance.suite.recent import recent_requests
from masivo_conformance.suite.saved_traffic import saved_traffic

__all__ = ["PROBE", "BoundedClient", "BoundedSession", "breach_of", "read_within"]

CHUNK = 64 * 1024  # the most one step of decompression may produce


def read_within(
    chunks: Iterable[bytes],
    *,
    started: float,
    timeout: float,
    budget: RequestBudget,
    stalled: tuple[type[BaseException], ...] = (),
) -> tuple[bytes, str]:
    """The body that `chunks` yield (decoded pieces, as they arrive), and its breach
    ("" when none): cut at MAX_BODY_BYTES, when `timeout` has passed since `started`
    (also when a read stalls: one of the `stalled` exceptions), or where its JSON nests
    too deep. Reaching the run's deadline first is BudgetSpent: the run's time, not the
    target's fault."""
    ends_at = started + timeout
    kept = bytearray()
    try:
        for chunk in chunks:
            room = MAX_BODY_BYTES - len(kept)
            kept += chunk[:room]
            if len(chunk) > room:
                return bytes(kept), TOO_LARGE
            limit = ends_at if budget.deadline is None else min(ends_at, budget.deadline)
            if time.monotonic() > limit:
                return bytes(kept), _late(budget, ends_at, timeout)
    except stalled:
        return bytes(kept), _late(budget, ends_at, timeout)
    if time.monotonic() > ends_at:
        return bytes(kept), too_slow(timeout)
    body = bytes(kept)
    cut = depth_cut(body)
    return (body, "") if cut is None else (body[:cut], TOO_DEEP)


def _late(budget: RequestBudget, ends_at: float, timeout: float) -> str:
    if budget.deadline is not None and budget.deadline < ends_at and budget.past_deadline():
        raise budget.out_of_time()
    return too_slow(timeout)


# -- httpx (the suite's own client) ---------------------------------------------------------


# A request's extension that marks it a probe of whether the target still answers: no
# suspect of an outage (with scenarios overlapping, each that met the outage probes, and
# the probes would push the request that caused it out of the suspects).
PROBE = "masivo_probe"


class BoundedClient(httpx.Client):
    """An httpx client whose every answer is read by `read_within`.

    It asks only for the encodings it decodes itself (gzip, deflate), a bounded piece at
    a time: httpx would inflate each network read whole (64 KiB of a bomb is 64 MiB).
    """

    def __init__(self, *, timeout: float, budget: RequestBudget, **options: Any) -> None:
        super().__init__(timeout=timeout, headers={"Accept-Encoding": "gzip, deflate"}, **options)
        self._total = timeout
        self._budget = budget

    def send(
        self, request: httpx.Request, *, stream: bool = False, **options: Any
    ) -> httpx.Response:
        started, sent_at = time.monotonic(), time.time()
        read_timeout = self._budget.read_timeout(self._total)
        if read_timeout < self._total:  # the run's deadline comes first
            request.extensions = {
                **request.extensions,
                "timeout": httpx.Timeout(read_timeout).as_dict(),
            }
        noted = None
        if not request.extensions.get(PROBE):
            noted = recent_requests().note(
                request.method, str(request.url), lambda: curl_for(request)
            )
        response = super().send(request, stream=True, **options)
        if noted is not None:
            recent_requests().answered(noted)
        if stream:
            return response  # whoever streams reads it (nothing in the suite does)
        try:
            if response.is_stream_consumed:  # built in memory (a mock, a replayed cassette)
                chunks: Iterable[bytes] = [response.content]
            else:
                encoding = response.headers.get("content-encoding", "")
                chunks = _decoded(response.iter_raw(), encoding)
            body, breach = read_within(
                chunks,
                started=started,
                timeout=self._total,
                budget=self._budget,
                stalled=(httpx.ReadTimeout,),
            )
        finally:
            response.close()
        response._content = body  # what httpx's own read() sets
        saved = saved_traffic()
        if saved.keeping:  # the headers are copied only for a session that keeps them
            saved.note(
                request.method,
                str(request.url),
                request.headers.multi_items(),
                request.content,
                response.status_code,
                response.headers.multi_items(),
                body,
                (sent_at, time.time()),
            )
        # The network stream refers back to the response: a cycle that would keep the
        # body (up to 8 MiB) until the collector runs, which the suite makes rare.
        response.stream = httpx.ByteStream(body)
        if breach:
            response.extensions[BREACH_EXTENSION] = breach
        return response


def _decoded(pieces: Iterable[bytes], content_encoding: str) -> Iterator[bytes]:
    """`pieces` decoded as their Content-Encoding says (last applied, first undone); an
    encoding we did not ask for stops the decoding, as it came."""
    for coding in reversed([c.strip().lower() for c in content_encoding.split(",")]):
        if coding in ("gzip", "x-gzip", "deflate"):
            pieces = _inflated(pieces, coding)
        elif coding not in ("", "identity"):
            break
    return iter(pieces)


def _inflated(pieces: Iterable[bytes], coding: str) -> Iterator[bytes]:
    """zlib inflation, CHUNK bytes of output at a time (the rest waits in its input)."""
    # gzip (or a zlib stream, which some servers send as gzip); deflate is a zlib stream,
    # or a raw one from servers that read RFC 1951 instead of RFC 9110 (httpx takes both).
    deflate = coding == "deflate"
    inflater = zlib.decompressobj(zlib.MAX_WBITS if deflate else 32 + zlib.MAX_WBITS)
    first = True
    try:
        for piece in pieces:
            data = piece
            while data:
                try:
                    out = inflater.decompress(data, CHUNK)
                except zlib.error:
                    if not (deflate and first):
                        raise
                    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                    out = inflater.decompress(data, CHUNK)
                first = False
                data = inflater.unconsumed_tail
                if out:
                    yield out
        yield inflater.flush()
    except zlib.error as exc:
        raise httpx.DecodingError(f"cannot decode the {coding} answer: {exc}") from None


# -- requests (schemathesis's stack) -------------------------------------------------------

# The breach of each answer BoundedSession read, by its request: schemathesis copies the
# answer into a Response of its own (with __slots__), which keeps only that request.
_BREACHES: weakref.WeakKeyDictionary[requests.PreparedRequest, str] = weakref.WeakKeyDictionary()


def breach_of(request: Any) -> str:
    """The breach of the answer to `request` (a requests.PreparedRequest), "" if none."""
    try:
        return _BREACHES.get(request, "")
    except TypeError:  # not weakly referable: no request of ours
        return ""


class BoundedSession(requests.Session):
    """A requests session whose every answer is read by `read_within`, for schemathesis's
    `case.call(session=...)`, which sends with `session.request(..., stream=True)` and
    then reads `response.content`: the content is already here, read under the bounds.

    Like the suite's client it follows no redirect (a redirect is the answer under test),
    and like schemathesis's own per-call session it has no default headers and keeps no
    cookie from one request to the next.
    """

    def __init__(self, *, timeout: float, budget: RequestBudget) -> None:
        super().__init__()
        # schemathesis adds a session's headers to every request it sends: none here,
        # so requests go out as they do with schemathesis's own session.
        self.headers.clear()
        self._total = timeout
        self._budget = budget

    def send(self, request: requests.PreparedRequest, **options: Any) -> requests.Response:
        noted = recent_requests().note(
            str(request.method), str(request.url), lambda: curl_for_prepared(request)
        )
        response = super().send(request, **options)
        recent_requests().answered(noted)
        return response

    def request(  # type: ignore[override]
        self, method: str, url: str | bytes, **options: Any
    ) -> requests.Response:
        started, sent_at = time.monotonic(), time.time()
        options.update(
            stream=True, allow_redirects=False, timeout=self._budget.read_timeout(self._total)
        )
        try:
            response = super().request(method, url, **options)
        except requests.exceptions.Timeout:
            if self._budget.past_deadline():
                raise self._budget.out_of_time() from None
            raise
        try:
            body, breach = read_within(
                _read1(response.raw),
                started=started,
                timeout=self._total,
                budget=self._budget,
                stalled=(ReadTimeoutError,),
            )
        finally:
            response.close()
            self.cookies.clear()
        response._content = body  # what requests' own `content` sets, as schemathesis does
        sent = response.request
        if sent is not None and saved_traffic().keeping:
            raw = sent.body
            content = raw.encode() if isinstance(raw, str) else raw
            saved_traffic().note(
                str(sent.method),
                str(sent.url),
                [
                    (k, v if isinstance(v, str) else v.decode("latin-1"))
                    for k, v in sent.headers.items()
                ],
                content if isinstance(content, bytes) else None,
                response.status_code,
                list(response.headers.items()),
                body,
                (sent_at, time.time()),
            )
        if breach and response.request is not None:
            _BREACHES[response.request] = breach
        return response


def _read1(raw: Any) -> Iterator[bytes]:
    """The body one socket read at a time (a drip's byte comes back at once), decoded by
    urllib3 at most CHUNK bytes a step; its errors as requests' iter_content raises them."""
    try:
        while chunk := raw.read1(CHUNK, decode_content=True):
            yield chunk
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
