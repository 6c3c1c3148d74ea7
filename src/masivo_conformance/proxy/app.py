"""The forwarding ASGI app: every request goes upstream unchanged, its answer streams back
unchanged, and a copy of the exchange (the answer cut at `checks.limits`'s bound) goes to
the judge once the answer has been sent.

Unchanged means: method, path (raw, with its escapes), query, body and headers, but the
hop-by-hop ones (RFC 9110 7.6.1: Connection and those it names, Keep-Alive, TE,
Transfer-Encoding, Upgrade, Proxy-*) and Host, which names the upstream; the answer's
status, headers (but hop-by-hop) and raw bytes (compressed as they came). No header is
added that the app did not send (httpx's defaults are not merged in), no cookie is kept
between requests and no redirect is followed: those are the app's.

The judge never stands in the way: the copy is handed over after the last byte went to
the app, `submit` only queues it, and a judge that fails is the judge's problem
(live.py). An upstream that cannot be reached (or sends nothing for `timeout` seconds
before its headers) is answered 502 (504) with a one-line JSON error, not judged.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from masivo_conformance.checks import limits
from masivo_conformance.proxy.upstream import Upstream
from masivo_conformance.recording.traffic import Exchange, decompressed
from masivo_conformance.scrub import excerpt

__all__ = ["HOP_BY_HOP", "METHODS", "Submit", "create_app"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: What the judge gets: the exchange, and the bound its answer broke ("" when none).
Submit = Callable[[Exchange, str], None]
# The raw bytes kept of an answer for the judge: one past the bound, so a longer answer
# is known to be longer (the app still gets all of it).
_KEPT = limits.MAX_BODY_BYTES + 1
_log = logging.getLogger("masivo_conformance.proxy")

RawHeaders = list[tuple[bytes, bytes]]


def _forwarded(raw: RawHeaders, *, drop: frozenset[str] = frozenset()) -> RawHeaders:
    """`raw` without hop-by-hop headers, those Connection names, and `drop`."""
    named = {
        token.strip().lower()
        for name, value in raw
        if name.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    return [
        (name, value)
        for name, value in raw
        if (lowered := name.decode("latin-1").lower()) not in HOP_BY_HOP
        and lowered not in named
        and lowered not in drop
    ]


def _text_pairs(raw: RawHeaders) -> tuple[tuple[str, str], ...]:
    return tuple((n.decode("latin-1"), v.decode("latin-1")) for n, v in raw)


def _error(status: int, what: str) -> Response:
    return JSONResponse({"error": "masivo-conformance proxy", "details": what}, status_code=status)


def create_app(upstream: Upstream, submit: Submit, *, timeout: float = 60.0) -> Starlette:
    """The proxy app; `submit` gets each exchange once its answer was sent."""
    state: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # No cookie jar use, no redirects: both are the app's. trust_env stays on, so a
        # team behind a corporate proxy (HTTPS_PROXY) reaches its upstream.
        async with httpx.AsyncClient(
            follow_redirects=False, timeout=httpx.Timeout(timeout)
        ) as client:
            state["client"] = client
            yield

    async def forward(request: Request) -> Response:
        client = state["client"]
        body = await request.body()
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        url = upstream.origin + raw_path.decode("latin-1")
        if query:
            url += "?" + query.decode("latin-1")
        headers = _forwarded(request.headers.raw, drop=frozenset({"host", "content-length"}))
        # httpx.Request, not client.build_request: that merges the client's default
        # headers (Accept, User-Agent, ...) and cookies into what the app sent.
        outgoing = httpx.Request(request.method, url, headers=headers, content=body)
        sent_at = time.time()  # the span shows calls made at once (REV-6)
        try:
            answer = await client.send(outgoing, stream=True)
        except httpx.TimeoutException:
            _log.warning("masivo-conformance proxy: %s %s: upstream timed out", request.method, url)
            return _error(504, f"the upstream sent nothing for {timeout:g} s")
        except httpx.HTTPError as exc:
            why = excerpt(f"{type(exc).__name__}: {exc}", 200)
            _log.warning("masivo-conformance proxy: %s %s: %s", request.method, url, why)
            return _error(502, f"the upstream cannot be reached ({why})")
        client.cookies.clear()  # send() fills the jar; nothing of one app's goes to another
        sent = _text_pairs(headers)

        async def relay() -> AsyncIterator[bytes]:
            kept = bytearray()
            complete = False
            try:
                async for chunk in answer.aiter_raw():
                    if len(kept) < _KEPT:
                        kept += chunk[: _KEPT - len(kept)]
                    yield chunk
                complete = True
            finally:
                with anyio.CancelScope(shield=True):
                    await answer.aclose()
                if complete:  # an answer the app stopped reading is not the upstream's
                    span = (sent_at, time.time())
                    _hand_over(submit, request.method, url, sent, body, answer, bytes(kept), span)

        forwarded = StreamingResponse(relay(), status_code=answer.status_code)
        forwarded.raw_headers = _forwarded(answer.headers.raw)
        return forwarded

    return Starlette(routes=[Route("/{path:path}", forward, methods=METHODS)], lifespan=lifespan)


def _hand_over(
    submit: Submit,
    method: str,
    url: str,
    request_headers: tuple[tuple[str, str], ...],
    body: bytes,
    answer: httpx.Response,
    kept: bytes,
    span: tuple[float, float],
) -> None:
    """The exchange to the judge; nothing it raises reaches the app's answer."""
    try:
        response_headers = _text_pairs(answer.headers.raw)
        breach = limits.TOO_LARGE if len(kept) >= _KEPT else ""
        plain = decompressed(kept[: limits.MAX_BODY_BYTES], response_headers)
        text = None if plain is None else plain.decode("utf-8", errors="replace")
        submit(
            Exchange(
                source="proxy",
                index=0,  # the judge gives it its place
                method=method,
                url=url,
                request_headers=request_headers,
                request_body=body or None,
                status=answer.status_code,
                response_headers=response_headers,
                response_text=text,
                span=span,
            ),
            breach,
        )
    except Exception as exc:  # the app's answer is sent; this is the judge's
        _log.warning(
            "masivo-conformance proxy: could not hand %s %s to the judge: %s",
            method,
            url,
            excerpt(type(exc).__name__, 80),
        )
