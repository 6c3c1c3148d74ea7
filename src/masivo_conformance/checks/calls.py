"""One observed request/response pair, independent of the HTTP library that made it.

Checks judge `Call`s, so the same check runs on our client's traffic (httpx) and on
schemathesis's (requests-based) without knowing either.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import httpx

from masivo_conformance import scrub
from masivo_conformance.contract.routes import EVENT_OPERATIONS, route_for

__all__ = ["EVENT_OPERATIONS", "NOT_JSON", "Call", "curl_for", "header_argument", "is_event"]


class _NotJson:
    def __repr__(self) -> str:
        return "<not JSON>"


NOT_JSON: Any = _NotJson()


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
    # What makes the curl line that repeats the request: most answers hold and nobody
    # reads theirs, so it is built on first use (see `reproducer`).
    reproduce: Callable[[], str] = field(default=str, repr=False, compare=False)  # str(): ""
    path_params: dict[str, str] = field(default_factory=dict)

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
    ) -> Call | None:
        routed = route_for(method, urlsplit(url).path)
        if routed is None:
            return None
        lowered = {k.lower(): v for k, v in headers.items()}
        body = _parse(text)
        if routed.operation == "authorize" and 200 <= status < 300:
            # Whoever asked (our client, a test, schemathesis), what was issued is secret.
            scrub.register_token_answer(body)
        request_json: Any = None
        if request_body:
            try:
                request_json = json.loads(request_body)
            except ValueError:
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
        )
        if call is None:
            raise ValueError(f"{request.method} {request.url} is not a storefront operation")
        return call


# Credential headers and the variable that stands for the run's own value in a reproducer.
_VARIABLES = {"authorization": "MASIVO_TOKEN", "x-api-key": "MASIVO_API_KEY"}
# Headers worth repeating; httpx adds the others (host, accept, user-agent...) itself.
_REPEATED = frozenset({*_VARIABLES, "content-type"})
_SHELL_SAFE = re.compile(r"[A-Za-z0-9._-]+")  # base64url and dots: nothing to escape


def _with_variables(value: str, variable: str) -> str | None:
    """`value` as the inside of a double-quoted shell word, the run's own secrets
    replaced by `variable`; None when it holds no secret of the run (shown as sent)."""
    if scrub.is_secret(value):
        return f"${variable}"
    scheme, _, credential = value.partition(" ")
    if credential and scrub.is_secret(credential):
        return f"{scheme} ${variable}"
    segments = credential.split(".")
    if len(segments) == 3 and scrub.is_secret(segments[2]) and _SHELL_SAFE.fullmatch(credential):
        # A real token's signature under other claims: any token of the target signs
        # the same way, so the reader's own token lends its signature.
        return f"{scheme} {segments[0]}.{segments[1]}.${{{variable}##*.}}"
    return None


def header_argument(name: str, value: str) -> str:
    """The shell word after curl's -H that sends `name: value` again.

    The run's real key and tokens become $MASIVO_API_KEY and $MASIVO_TOKEN; anything
    else is shown as sent (a forged token, a wrong key), or running the line would not
    show what the target did with it. An empty value uses curl's `name;` form.
    """
    variable = _VARIABLES.get(name.lower())
    shown = None if variable is None else _with_variables(value, variable)
    if shown is not None:
        return f'"{name}: {shown}"'
    return shlex.quote(f"{name}: {value}" if value else f"{name};")


def curl_for(request: httpx.Request) -> str:
    """A shell line that repeats `request`, with the run's credentials as variables."""
    parts = ["curl", "-sS", "-X", request.method, shlex.quote(str(request.url))]
    encoding = request.headers.encoding
    for raw_name, raw_value in request.headers.raw:  # as spelled, not lower-cased
        name = raw_name.decode(encoding)
        if name.lower() in _REPEATED:
            parts += ["-H", header_argument(name, raw_value.decode(encoding))]
    body = request.content
    if body:
        parts += ["--data-raw", shlex.quote(body.decode("utf-8", errors="replace"))]
    return " ".join(parts)
