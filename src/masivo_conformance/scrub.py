"""The one place that knows what a secret looks like, and how to remove it.

Cassettes are committed to repositories, so nothing secret may reach them: bearer
tokens, API keys, JWTs (the `authorize` response body is one) and personal data such as
emails or document numbers. Secrets are replaced by `REDACTED`, which is deliberately not
JWT-shaped, so a grep for tokens over the cassette folder stays empty. The vcrpy hooks
that apply `scrub_uri`, `scrub_headers` and `scrub_body` to what a cassette records are
recording/vcr_hooks.py's.

Every other artefact (reports, result.json, junit.xml, the streams, log records) passes
through `redact_text`, which knows the secrets this process registered (the API key,
every token a target issued) and redacts any other JWT-shaped text too, except the
tokens the suite forged itself (`is_forged`; suite/forged_tokens.py makes them): those
are evidence, shown as sent so that a reproducer repeats the request that showed a bug
(docs/decisions.md, "Secrets and forged tokens in artefacts").
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "DEFAULT_FIELDS",
    "FORGED_HEADER",
    "MESSAGE_LIMIT",
    "QUOTE_LIMIT",
    "REDACTED",
    "REPRODUCER_WITHHELD",
    "clear_secrets",
    "cut",
    "excerpt",
    "is_forged",
    "is_secret",
    "redact_reproducer",
    "redact_text",
    "register_secret",
    "register_token_answer",
    "scrub_body",
    "scrub_headers",
    "scrub_json",
    "scrub_uri",
]

REDACTED = "<redacted>"
#: A value quoted in a message (a body, a field of it, an id) keeps at most this many
#: characters, counted after redaction: a 5 MB string must not become 50 MB of reports.
QUOTE_LIMIT = 200
#: One failure message keeps at most this many characters, after redaction.
MESSAGE_LIMIT = 2000
#: What stands for a curl line whose text a later redaction would change (docs/decisions.md,
#: "Reproducers are built from redacted values"): a shell comment, so it runs nothing.
REPRODUCER_WITHHELD = (
    "# reproducer withheld: the request's text matches a secret of this run across shell "
    "quoting; the failure message above describes the request"
)
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
_BEARER = re.compile(r"\b(Bearer)\s+([A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE)
# Shorter values would redact ordinary words; real keys and tokens are far longer.
_MIN_SECRET_LENGTH = 6
# The JOSE header parameter every forged token carries. A header parameter, not a claim:
# forged tokens keep the real token's claims, so only the signature (or its absence) is
# wrong, and an unknown header parameter changes nothing for a verifier (RFC 7515 4.1.11).
FORGED_HEADER = ("masivo-conformance", "forged")

_lock = threading.Lock()
# Longest first, so a secret that contains another is removed whole.
_secrets: tuple[str, ...] = ()
_logging_redacted = False


def register_secret(value: str | None) -> None:
    """Redact `value` wherever it appears from now on (the run's API key, its token).

    A JWT's signature is registered as well: a token made from a real one (its claims
    edited, its signature kept) must not carry that signature into an artefact.
    """
    global _secrets  # noqa: PLW0603 - one registry per process is the point
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    values = {value}
    if _JWT.fullmatch(value) and value.count(".") == 2:
        signature = value.rsplit(".", 1)[1]
        if len(signature) >= _MIN_SECRET_LENGTH:
            values.add(signature)
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | values, key=len, reverse=True))
    _redact_logging()


def register_token_answer(body: Any) -> None:
    """Register the token in an `authorize` answer's parsed body (`{"data": token}`)."""
    token = body.get("data") if isinstance(body, dict) else None
    if isinstance(token, str):
        register_secret(token)


def is_secret(value: str) -> bool:
    """Whether `value` is exactly a registered secret (the run's key, a real token)."""
    return value in _secrets


def clear_secrets() -> None:
    """Forget every registered secret (tests use it to start clean)."""
    global _secrets  # noqa: PLW0603
    with _lock:
        _secrets = ()


def is_forged(token: str) -> bool:
    """Whether a JWT (whole, or cut after its payload) is one the suite forged
    (suite/forged_tokens.py).

    Told by its header alone, so a process that never saw it forged (the xdist
    controller, a report written from result.json) tells it the same way.
    """
    encoded = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return False
    name, value = FORGED_HEADER
    return isinstance(header, dict) and header.get(name) == value


def _bearer(match: re.Match[str]) -> str:
    return match[0] if is_forged(match[2]) else f"{match[1]} {REDACTED}"


def _jwt(match: re.Match[str]) -> str:
    return match[0] if is_forged(match[0]) else REDACTED


def redact_text(text: str) -> str:
    """`text` with registered secrets, bearer credentials and JWTs replaced; tokens the
    suite forged stay, once any registered secret inside them is gone."""
    for secret in _secrets:
        text = text.replace(secret, REDACTED)
    text = _BEARER.sub(_bearer, text)
    return _JWT.sub(_jwt, text)


def excerpt(text: str, limit: int = QUOTE_LIMIT) -> str:
    """`text` redacted whole, then cut to `limit` characters, saying how many were cut.

    Never the other way round: a cut made first could split a secret so that no longer
    matches, and the server chooses where its echo of the key falls.
    """
    return cut(redact_text(text), limit)


def cut(text: str, limit: int) -> str:
    """`text` (already redacted) cut to `limit` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def redact_reproducer(line: str) -> str:
    """A curl line as any later redaction must leave it: unchanged, or withheld whole.

    Reproducers are built from values redacted before they were quoted, so redacting the
    quoted text again finds nothing, except where a secret registered since (or a
    server's token chosen to match a piece of shell quoting) spans quotes: editing such
    text could turn data into commands, so the whole line gives way to a comment.
    """
    return line if redact_text(line) == line else REPRODUCER_WITHHELD


def _redact_logging() -> None:
    """From now on every log record of this process (our modules, the embedded server's
    uvicorn, libraries) is created redacted, whichever handler prints or captures it."""
    global _logging_redacted  # noqa: PLW0603 - installed once per process
    with _lock:
        if _logging_redacted:
            return
        _logging_redacted = True
    make_record = logging.getLogRecordFactory()

    def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record  # a broken format string: the handler reports it as usual
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text, so the traceback is printed as redacted here.
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(redacted_record)


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


def scrub_json(
    value: Any, fields: Iterable[str] = DEFAULT_FIELDS, *, reproducers: bool = False
) -> Any:
    """A copy of a JSON value with secrets redacted and members named in `fields` masked.

    With `reproducers`, a string member named `reproducer` is a curl line: left whole or
    withheld whole (`redact_reproducer`), never edited inside its quoting.
    """
    names = frozenset(name.lower() for name in fields)

    def member(key: str, item: Any) -> Any:
        if key.lower() in names:
            return _placeholder(item)
        if reproducers and key == "reproducer" and isinstance(item, str):
            return redact_reproducer(item)
        return walk(item)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: member(key, item) for key, item in node.items()}
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
    try:
        return json.dumps(scrubbed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a target's): escaped, still valid JSON
        return json.dumps(scrubbed, separators=(",", ":")).encode("utf-8")


def scrub_uri(uri: str, fields: Iterable[str] = DEFAULT_FIELDS) -> str:
    """A URI with secrets redacted from its path and query, and query parameters named in
    `fields` masked."""
    parts = urlsplit(uri)
    names = {name.lower() for name in fields}
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [
        (key, REDACTED if key.lower() in names else redact_text(value)) for key, value in pairs
    ]
    # Re-encoding an untouched query could change its spelling; keep it as sent.
    new_query = urlencode(query, safe="<>") if query != pairs else parts.query
    return urlunsplit(parts._replace(path=redact_text(parts.path), query=new_query))
