"""The vcrpy hooks that keep secrets out of cassettes: every request and response vcrpy
records passes through them, redacted by scrub.py (its URI, headers and body).

They run on every interaction vcrpy records and again on every request it tries to
match during replay; they are idempotent, so a scrubbed cassette replays as recorded.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from masivo_conformance import scrub

__all__ = ["before_record_request", "before_record_response"]


def before_record_request(fields: Iterable[str] = scrub.DEFAULT_FIELDS) -> Callable[[Any], Any]:
    """A vcrpy `before_record_request` hook: a scrubbed copy of a `vcr.request.Request`."""
    names = tuple(fields)

    def hook(original: Any) -> Any:
        # vcrpy passes a copy, but the hook may be called directly: never touch the caller's.
        request = copy.deepcopy(original)
        request.uri = scrub.scrub_uri(request.uri, names)
        request.headers = scrub.scrub_headers(request.headers)
        request.body = scrub.scrub_body(request.body_bytes, names)
        return request

    return hook


def _set_content_length(headers: dict[str, Any], length: int) -> None:
    for name in headers:
        if name.lower() == "content-length":
            headers[name] = [str(length)]


def before_record_response(fields: Iterable[str] = scrub.DEFAULT_FIELDS) -> Callable[[Any], Any]:
    """A vcrpy `before_record_response` hook for the dict vcrpy stores.

    That dict is `{"status": {...}, "headers": {name: [values]}, "body": {"string": ...}}`
    with the body as bytes (httpx, requests) or text.
    """
    names = tuple(fields)

    def hook(response: dict[str, Any]) -> dict[str, Any]:
        scrubbed = dict(response)
        scrubbed["headers"] = scrub.scrub_headers(response.get("headers") or {})
        body = response.get("body")
        if isinstance(body, dict) and "string" in body:
            new = scrub.scrub_body(body["string"], names)
            scrubbed["body"] = {**body, "string": new}
            if new is not None:
                # A replayed httpx response must not announce more bytes than it has.
                _set_content_length(scrubbed["headers"], len(new))
        return scrubbed

    return hook
