"""The one place that knows what a secret looks like, and the vcrpy hooks that remove them.

Cassettes are committed to repositories, so nothing secret may reach them: bearer
tokens, API keys, JWTs (the `authorize` response body is one) and personal data such as
emails or document numbers. Secrets are replaced by `REDACTED`, which is deliberately not
JWT-shaped, so a grep for tokens over the cassette folder stays empty.

The hooks run on every interaction vcrpy records and again on every request it tries to
match during replay; they are idempotent, so a scrubbed cassette replays as recorded.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_FIELDS",
    "REDACTED",
    "before_record_request",
    "before_record_response",
    "clear_secrets",
    "redact_text",
    "register_secret",
    "scrub_body",
    "scrub_headers",
    "scrub_json",
]

REDACTED = "<redacted>"
DEFAULT_FIELDS: tuple[str, ...] = ("email", "document_number", "phone")

# Whole header values that are credentials whatever they look like.
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"}
)
# Two or three base64url segments after the `eyJ` that every JSON header encodes to;
# two segments already count, so a token cut short still never reaches a cassette.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)?")
# RFC 6750 b64token characters only, so a closing quote in a JSON text survives.
# Eight characters at least: a credential is never shorter, and prose such as
# "bearer token enforced" must survive.
_BEARER = re.compile(r"\b(Bearer)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
# Shorter values would redact ordinary words; real keys and tokens are far longer.
_MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def register_secret(value: str | None) -> None:
    """Redact `value` wherever it appears from now on (the run's API key, its token)."""
    global _secrets  # noqa: PLW0603 - one registry per process is the point
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets = _secrets | {value}


def clear_secrets() -> None:
    """Forget every registered secret (tests use it to start clean)."""
    global _secrets  # noqa: PLW0603
    with _lock:
        _secrets = frozenset()


def redact_text(text: str) -> str:
    """`text` with registered secrets, bearer credentials and JWTs replaced."""
    # Longest first, so a secret that contains another is removed whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _BEARER.sub(rf"\1 {REDACTED}", text)
    return _JWT.sub(REDACTED, text)


def _redact_value(value: str) -> str:
    return REDACTED if value else value


def scrub_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `headers` (values strings or lists of strings) without credentials."""
    scrubbed: dict[str, Any] = {}
    for name, value in headers.items():
        secret = name.lower() in _SECRET_HEADERS
        clean = _redact_value if secret else redact_text
        if isinstance(value, list | tuple):
            scrubbed[name] = [clean(str(item)) for item in value]
        else:
            scrubbed[name] = clean(str(value))
    return scrubbed


def _placeholder(value: Any) -> Any:
    """A stand-in of the same JSON type, so drift sees the shape it would see live."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return 0
    if isinstance(value, list):
        return [_placeholder(item) for item in value]
    if isinstance(value, dict):
        return {key: _placeholder(item) for key, item in value.items()}
    return REDACTED


def scrub_json(value: Any, fields: Iterable[str] = DEFAULT_FIELDS) -> Any:
    """A copy of a JSON value with secrets redacted and members named in `fields` masked."""
    names = frozenset(name.lower() for name in fields)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: _placeholder(item) if key.lower() in names else walk(item)
                for key, item in node.items()
            }
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, str):
            return redact_text(node)
        return node

    return walk(value)


def scrub_body(body: bytes | str | None, fields: Iterable[str] = DEFAULT_FIELDS) -> bytes | None:
    """A body as recorded: JSON walked member by member, other text redacted as text."""
    if body is None:
        return None
    raw = body.encode("utf-8") if isinstance(body, str) else body
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # binary: no text secret can be in it in a form we could match
    try:
        document = json.loads(text)
    except ValueError:
        return redact_text(text).encode("utf-8")
    scrubbed = scrub_json(document, fields)
    if scrubbed == document:
        return raw  # keep the server's exact bytes when there was nothing to remove
    return json.dumps(scrubbed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _scrub_uri(uri: str, fields: Iterable[str]) -> str:
    parts = urlsplit(uri)
    names = {name.lower() for name in fields}
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [
        (key, REDACTED if key.lower() in names else redact_text(value)) for key, value in pairs
    ]
    # Re-encoding an untouched query could change its spelling; keep it as sent.
    new_query = urlencode(query, safe="<>") if query != pairs else parts.query
    return urlunsplit(parts._replace(path=redact_text(parts.path), query=new_query))


def before_record_request(fields: Iterable[str] = DEFAULT_FIELDS) -> Callable[[Any], Any]:
    """A vcrpy `before_record_request` hook: a scrubbed copy of a `vcr.request.Request`."""
    names = tuple(fields)

    def hook(original: Any) -> Any:
        # vcrpy passes a copy, but the hook may be called directly: never touch the caller's.
        request = copy.deepcopy(original)
        request.uri = _scrub_uri(request.uri, names)
        request.headers = scrub_headers(request.headers)
        request.body = scrub_body(request.body_bytes, names)
        return request

    return hook


def _set_content_length(headers: dict[str, Any], length: int) -> None:
    for name in headers:
        if name.lower() == "content-length":
            headers[name] = [str(length)]


def before_record_response(fields: Iterable[str] = DEFAULT_FIELDS) -> Callable[[Any], Any]:
    """A vcrpy `before_record_response` hook for the dict vcrpy stores.

    That dict is `{"status": {...}, "headers": {name: [values]}, "body": {"string": ...}}`
    with the body as bytes (httpx, requests) or text.
    """
    names = tuple(fields)

    def hook(response: dict[str, Any]) -> dict[str, Any]:
        scrubbed = dict(response)
        scrubbed["headers"] = scrub_headers(response.get("headers") or {})
        body = response.get("body")
        if isinstance(body, dict) and "string" in body:
            new = scrub_body(body["string"], names)
            scrubbed["body"] = {**body, "string": new}
            if new is not None:
                # A replayed httpx response must not announce more bytes than it has.
                _set_content_length(scrubbed["headers"], len(new))
        return scrubbed

    return hook
