"""One observed request/response pair, independent of the HTTP library that made it.

Checks judge `Call`s, so the same check runs on our client's traffic (httpx) and on
schemathesis's (requests-based) without knowing either.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["EVENT_OPERATIONS", "NOT_JSON", "Call", "curl_for", "is_event", "operation_for"]

EVENT_OPERATIONS = frozenset({"emit_event", "fulfill_event", "reverse_event"})


class _NotJson:
    def __repr__(self) -> str:
        return "<not JSON>"


NOT_JSON: Any = _NotJson()

# (method, path pattern relative to the base URL, operation id); longest paths first.
_OPERATIONS = [
    ("PATCH", r"/behavior/events/(?P<eventId>[^/]+)/fulfill", "fulfill_event"),
    ("POST", r"/behavior/events/(?P<eventId>[^/]+)/reverse", "reverse_event"),
    ("POST", r"/behavior/events", "emit_event"),
    ("PUT", r"/events/redeem/preview", "preview_order"),
    ("GET", r"/auth/authorize", "authorize"),
    ("GET", r"/customers/(?P<id>[^/]+)", "get_customer"),
    ("POST", r"/customers", "create_customer"),
    ("GET", r"/rewards", "list_rewards"),
    ("GET", r"/transactions", "list_transactions"),
]


def operation_for(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The operation id and path parameters of a request, from the path's tail."""
    for op_method, pattern, operation in _OPERATIONS:
        if method.upper() != op_method:
            continue
        match = re.search(pattern + r"/?$", path)
        if match:
            return operation, match.groupdict()
    return None


def _parse(text: str) -> Any:
    """The body as JSON whatever its content type says: GEN-1 and GEN-2 judge the
    content type, and the rules about the payload still get an answer to read."""
    try:
        return json.loads(text)
    except ValueError:
        return NOT_JSON


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
    reproducer: str = ""
    path_params: dict[str, str] = field(default_factory=dict)

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
        reproducer: str,
    ) -> Call | None:
        found = operation_for(method, urlsplit(url).path)
        if found is None:
            return None
        lowered = {k.lower(): v for k, v in headers.items()}
        request_json: Any = None
        if request_body:
            try:
                request_json = json.loads(request_body)
            except ValueError:
                request_json = NOT_JSON
        return cls(
            operation=found[0],
            method=method.upper(),
            url=url,
            request_json=request_json,
            status=status,
            headers=lowered,
            body=_parse(text),
            text=text,
            reproducer=reproducer,
            path_params=found[1],
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
            curl_for(request),
        )
        if call is None:
            raise ValueError(f"{request.method} {request.url} is not a storefront operation")
        return call


def curl_for(request: httpx.Request) -> str:
    """A shell line that repeats `request`; credentials come from environment variables."""
    parts = ["curl", "-sS", "-X", request.method, shlex.quote(str(request.url))]
    for name, value in request.headers.items():
        lowered = name.lower()
        if lowered == "authorization":
            parts += ["-H", '"Authorization: Bearer $MASIVO_TOKEN"']
        elif lowered == "x-api-key":
            parts += ["-H", '"x-api-key: $MASIVO_API_KEY"']
        elif lowered == "content-type":
            parts += ["-H", shlex.quote(f"{name}: {value}")]
    body = request.content
    if body:
        parts += ["--data-raw", shlex.quote(body.decode("utf-8", errors="replace"))]
    return " ".join(parts)
