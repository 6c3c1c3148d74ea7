"""Exchanges written out as a HAR 1.2 file and as a vcrpy cassette, redacted as
`judge --scrub-to` redacts a team's recordings (recording/shareable.py): what
`run --save-traffic DIR` leaves, for `judge`, a browser's devtools or a team's vcrpy.

Both files are built from the same exchanges, so `judge` gives one verdict for either,
but for what only times show: each HAR entry keeps when its request was sent and how
long its answer took (two calls made at once overlap); a cassette has no place for
times. Bodies are written as the suite read them: decoded (a Content-Encoding header
goes, its bytes were undone) and within the suite's bounds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from masivo_conformance import __version__
from masivo_conformance.recording.shareable import scrubbed
from masivo_conformance.recording.traffic import Exchange, dump_yaml

__all__ = ["as_cassette", "as_har", "write_exchanges"]

# Headers that describe the bytes on the wire, not the decoded body written here.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _kept(headers: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() not in _WIRE_HEADERS]


def _media_type(headers: tuple[tuple[str, str], ...]) -> str:
    return next((v for n, v in headers if n.lower() == "content-type"), "")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _har_entry(exchange: Exchange) -> dict[str, Any]:
    request_text = (exchange.request_body or b"").decode("utf-8", errors="replace")
    answer = exchange.response_text
    request: dict[str, Any] = {
        "method": exchange.method,
        "url": exchange.url,
        "httpVersion": "HTTP/1.1",
        "headers": [{"name": n, "value": v} for n, v in _kept(exchange.request_headers)],
        "queryString": [
            {"name": n, "value": v}
            for n, v in parse_qsl(urlsplit(exchange.url).query, keep_blank_values=True)
        ],
        "cookies": [],
        "headersSize": -1,
        "bodySize": len(exchange.request_body or b""),
    }
    if exchange.request_body is not None:
        request["postData"] = {
            "mimeType": _media_type(exchange.request_headers),
            "text": request_text,
        }
    content: dict[str, Any] = {"size": 0, "mimeType": _media_type(exchange.response_headers)}
    if answer is not None:
        content.update(size=len(answer.encode("utf-8")), text=answer)
    sent, answered = exchange.span or (time.time(), time.time())
    took = round((answered - sent) * 1000, 3)
    return {
        "startedDateTime": datetime.fromtimestamp(sent, UTC).isoformat(timespec="microseconds"),
        "time": took,
        "request": request,
        "response": {
            "status": exchange.status,
            "statusText": _reason(exchange.status),
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": n, "value": v} for n, v in _kept(exchange.response_headers)],
            "cookies": [],
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": content["size"],
        },
        "cache": {},
        "timings": {"send": 0, "wait": took, "receive": 0},
    }


def as_har(exchanges: Sequence[Exchange], comment: str = "") -> dict[str, Any]:
    """A HAR 1.2 document of `exchanges`, in their order (not yet redacted); `comment`
    says what the file does not hold, in HAR's own field for it."""
    log: dict[str, Any] = {
        "version": "1.2",
        "creator": {"name": "masivo-conformance", "version": __version__},
        "entries": [_har_entry(e) for e in exchanges],
    }
    if comment:
        log["comment"] = comment
    return {"log": log}


def _vcr_headers(headers: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for name, value in _kept(headers):
        grouped.setdefault(name, []).append(value)
    return grouped


def as_cassette(exchanges: Sequence[Exchange]) -> dict[str, Any]:
    """A vcrpy cassette (format version 1) of `exchanges` (not yet redacted)."""
    return {
        "interactions": [
            {
                "request": {
                    "method": e.method,
                    "uri": e.url,
                    "headers": _vcr_headers(e.request_headers),
                    "body": None
                    if e.request_body is None
                    else e.request_body.decode("utf-8", errors="replace"),
                },
                "response": {
                    "status": {"code": e.status, "message": _reason(e.status)},
                    "headers": _vcr_headers(e.response_headers),
                    "body": {"string": e.response_text or ""},
                },
            }
            for e in exchanges
        ],
        "version": 1,
    }


def write_exchanges(
    exchanges: Sequence[Exchange], folder: Path, stem: str, comment: str = ""
) -> list[Path]:
    """`folder/stem.har` and `folder/stem.yaml`, both redacted; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    har = folder / f"{stem}.har"
    document = scrubbed("har", as_har(exchanges, comment))
    har.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    cassette = folder / f"{stem}.yaml"
    cassette.write_text(dump_yaml(scrubbed("cassette", as_cassette(exchanges))), encoding="utf-8")
    return [har, cassette]
