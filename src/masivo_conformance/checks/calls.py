"""One observed request/response pair, independent of the HTTP library that made it.

Checks judge `Call`s, so the same check runs on our client's traffic (httpx) and on
schemathesis's (requests-based) without knowing either.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import httpx

from masivo_conformance import scrub
from masivo_conformance.checks import limits
from masivo_conformance.checks.reproducers import curl_for, header_argument, replayed_headers
from masivo_conformance.contract.routes import EVENT_OPERATIONS, route_for

__all__ = [
    "EVENT_OPERATIONS",
    "NOT_JSON",
    "Call",
    "answered_at",
    "can_be_event_id",
    "curl_for",
    "header_argument",
    "is_event",
]


class _NotJson:
    def __repr__(self) -> str:
        return "<not JSON>"


NOT_JSON: Any = _NotJson()


def _parse(text: str) -> tuple[Any, str]:
    """The body as JSON whatever its content type says: GEN-1 and GEN-2 judge the
    content type, and the rules about the payload still get an answer to read.

    With the breach it makes ("" when none): JSON nested deeper than the suite reads
    (checks/limits.py) is no usable JSON, and json.loads would not survive it.
    """
    try:
        return limits.loads(text), ""
    except limits.TooDeep:
        return NOT_JSON, limits.TOO_DEEP
    except ValueError:
        return NOT_JSON, ""


def _resend(request: httpx.Request) -> tuple[str | None, list[list[str]]]:
    encoding = request.headers.encoding
    headers = [(k.decode(encoding), v.decode(encoding)) for k, v in request.headers.raw]
    body = request.content.decode("utf-8", errors="replace") if request.content else None
    return body, replayed_headers(headers)


def is_event(value: Any) -> bool:
    """Whether a value has the members every Event has (event.schema.json's required)."""
    return isinstance(value, dict) and all(
        member in value for member in ("id", "customer_id", "type", "status")
    )


@dataclass(frozen=True)
class Call:
    operation: str
    method: str
    url: str
    request_json: Any
    status: int
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or NOT_JSON
    text: str
    # What makes the curl line that repeats the request: most answers hold and nobody
    # reads theirs, so it is built on first use (see `reproducer`).
    reproduce: Callable[[], str] = field(default=str, repr=False, compare=False)  # str(): ""
    path_params: dict[str, str] = field(default_factory=dict)
    # The bound of checks/limits.py the answer broke ("" when none): too large, too slow,
    # too deep. `text` is then what was read (cut) and `body` NOT_JSON; GEN-3 judges it.
    breach: str = ""
    # The request as a sequence reproducer sends it again (checks/sequences.py): body
    # text and [name, value, credential] headers, built on first use like `reproduce`.
    resend: Callable[[], tuple[str | None, list[list[str]]]] = field(
        default=lambda: (None, []), repr=False, compare=False
    )
    # The names of the headers the request carried, lower case ((): not known).
    sent_headers: frozenset[str] = frozenset()

    @cached_property
    def reproducer(self) -> str:
        """A curl line that repeats the request, with the run's credentials as variables."""
        return self.reproduce()

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def media_type(self) -> str:
        """The content type without parameters, lower case (media types are case-blind)."""
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def bare_event(self) -> bool:
        """An Event answered at the top level instead of under `data` (GEN-1's to judge)."""
        return (
            self.operation in EVENT_OPERATIONS
            and is_event(self.body)
            and not (isinstance(self.body, dict) and is_event(self.body.get("data")))
        )

    @property
    def data(self) -> Any:
        """The payload: `data` of the envelope, or a bare Event itself.

        Rules about the payload read it here, so an envelope fault (GEN-1) does not
        hide what the payload says about the other rules.
        """
        if self.bare_event:
            return self.body
        return self.body.get("data") if isinstance(self.body, dict) else None

    @classmethod
    def build(
        cls,
        method: str,
        url: str,
        request_body: bytes | None,
        status: int,
        headers: dict[str, str],
        text: str,
        reproducer: str | Callable[[], str],
        breach: str = "",
        resend: Callable[[], tuple[str | None, list[list[str]]]] | None = None,
        sent_headers: Iterable[str] = (),
    ) -> Call | None:
        """The call, or None for a path outside the contract. `breach` is what the HTTP
        stack found while reading the answer (suite/bounded.py); too deep a body is
        found here too, whoever read it (a replayed cassette, a test's own answer)."""
        routed = route_for(method, urlsplit(url).path)
        if routed is None:
            return None
        lowered = {k.lower(): v for k, v in headers.items()}
        body, too_deep = (NOT_JSON, "") if breach else _parse(text)
        breach = breach or too_deep
        if routed.operation == "authorize" and 200 <= status < 300:
            # Whoever asked (our client, a test, schemathesis), what was issued is secret.
            scrub.register_token_answer(body)
        request_json: Any = None
        if request_body:
            try:
                request_json = json.loads(request_body)
            except (ValueError, RecursionError):  # RecursionError: nested beyond Python's limit
                request_json = NOT_JSON
        return cls(
            operation=routed.operation,
            method=method.upper(),
            url=url,
            request_json=request_json,
            status=status,
            headers=lowered,
            body=body,
            text=text,
            reproduce=reproducer if callable(reproducer) else lambda: reproducer,
            path_params=routed.params,
            breach=breach,
            resend=resend or (lambda: (None, [])),
            sent_headers=frozenset(name.lower() for name in sent_headers),
        )

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> Call:
        request = response.request
        call = cls.build(
            request.method,
            str(request.url),
            request.content,
            response.status_code,
            dict(response.headers),
            response.text,
            lambda: curl_for(request),
            breach=response.extensions.get(limits.BREACH_EXTENSION, ""),
            resend=lambda: _resend(request),
            sent_headers=request.headers.keys(),
        )
        if call is None:
            raise ValueError(f"{request.method} {request.url} is not a storefront operation")
        return call


def answered_at(call: Call) -> datetime | None:
    """When the answer was given, by its Date header (None without a readable one)."""
    try:
        moment = parsedate_to_datetime(call.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else None


def can_be_event_id(value: str) -> bool:
    """Event ids are uuids (schemas/event.schema.json): an answer for any other id
    answers an event that cannot exist, FUL-3's or REV-5's to judge."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
