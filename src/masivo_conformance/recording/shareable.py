"""A shareable copy of a recording (`judge --scrub-to DIR`): the same format and file
name, with every secret replaced by `scrub.REDACTED`.

Replaced: credential and cookie headers whole (Authorization, Proxy-Authorization,
X-Api-Key, Cookie, Set-Cookie), HAR cookie lists, query parameters named like secrets,
members of JSON bodies named email, phone or document_number (`scrub.DEFAULT_FIELDS`),
and, in every other string of the file, the secrets `recording.traffic` registered
while reading all the inputs, bearer credentials and JWTs (`scrub.redact_text`). A body
recorded compressed (a cassette without vcrpy's decode_compressed_response) is written
decompressed, its Content-Encoding header dropped: compressed bytes cannot be searched
for secrets.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from masivo_conformance import scrub
from masivo_conformance.errors import CassetteError
from masivo_conformance.recording.traffic import (
    MAX_BODY_BYTES,
    Recording,
    decompressed,
    dump_yaml,
    load_json,
    load_yaml,
    read_text,
)

__all__ = ["copy_paths", "scrubbed", "write_shareable"]

_SECRET_NAME = re.compile(
    r"token|secret|password|passwd|api[_-]?key|apikey|authorization|session|cookie|jwt",
    re.IGNORECASE,
)
_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"}
)


def copy_paths(recordings: list[Recording], roots: list[Path], target: Path) -> dict[Path, Path]:
    """Where each recording's copy goes: `target` / its path under the folder it was
    found in (or its name, for a file given itself). Two inputs that would land on one
    file, or a copy that would overwrite an input, stop the command first."""
    inputs = {r.path.resolve() for r in recordings}
    places: dict[Path, Path] = {}
    for recording in recordings:
        root = next((r for r in roots if r.is_dir() and recording.path.is_relative_to(r)), None)
        relative = recording.path.relative_to(root) if root else Path(recording.path.name)
        place = target / relative
        if place in places.values():
            raise CassetteError(
                f"--scrub-to: two inputs would both be written to {place}",
                "judge them in two runs, or give their folder instead",
            )
        if place.resolve() in inputs:
            raise CassetteError(
                f"--scrub-to {target} would overwrite the input {recording.path}",
                "give a folder outside the inputs",
            )
        places[recording.path] = place
    return places


def write_shareable(recording: Recording, place: Path) -> Path:
    """Write the redacted copy of one recording to `place`."""
    text = read_text(recording.path)
    suffix = recording.path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        document = load_yaml(recording.path, text)
    else:
        document = load_json(recording.path, text)
    document = scrubbed(recording.kind, document)
    if recording.kind == "har":
        out = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    elif suffix in (".yaml", ".yml"):
        out = dump_yaml(document)
    else:
        out = json.dumps(document, indent=4) + "\n"
    place.parent.mkdir(parents=True, exist_ok=True)
    place.write_text(out, encoding="utf-8")
    return place


def scrubbed(kind: str, document: Any) -> Any:
    """A HAR document (`kind` "har") or a vcrpy cassette's, every secret redacted."""
    if kind == "har":
        _har(document)
    else:
        for item in document["interactions"]:
            _interaction(item)
    return _strings(document)


def _strings(document: Any) -> Any:
    """Every remaining string redacted (`scrub.redact_text`), bytes left to the bodies'
    own pass (they were scrubbed as bodies, or are binary)."""
    return scrub.scrub_json(document, fields=())


def _uri(uri: str) -> str:
    parts = urlsplit(uri)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, scrub.REDACTED if _SECRET_NAME.search(k) else v) for k, v in pairs]
    new_query = urlencode(query, safe="<>") if query != pairs else parts.query
    return scrub.redact_text(urlunsplit(parts._replace(query=new_query)))


def _body(raw: Any) -> Any:
    """A body as recorded (text or bytes), scrubbed; the same type back."""
    if raw is None or not isinstance(raw, str | bytes):
        return raw
    cleaned = scrub.scrub_body(raw)
    if isinstance(raw, str):
        return (cleaned or b"").decode("utf-8", errors="replace")
    return cleaned


# -- cassettes ---------------------------------------------------------------------------------


def _vcr_headers(headers: Any) -> Any:
    if not isinstance(headers, dict):
        return headers
    return {
        name: ([scrub.REDACTED for _ in value] if isinstance(value, list) else scrub.REDACTED)
        if str(name).lower() in _SECRET_HEADERS
        else value
        for name, value in headers.items()
    }


def _decoded(response: dict[str, Any]) -> None:
    """A compressed body written decoded, its Content-Encoding dropped (module doc)."""
    headers = response.get("headers")
    body = response.get("body")
    if not isinstance(headers, dict) or not isinstance(body, dict):
        return
    encoding = next((k for k in headers if str(k).lower() == "content-encoding"), None)
    raw = body.get("string")
    if encoding is None or not isinstance(raw, bytes | str) or not raw:
        return
    value = headers[encoding]
    pairs = tuple((encoding, v) for v in (value if isinstance(value, list) else [value]))
    data = raw.encode("latin-1", "replace") if isinstance(raw, str) else raw
    plain = decompressed(data, pairs)
    if plain is None or len(plain) > MAX_BODY_BYTES:
        body["string"] = ""  # undecodable: nothing of it is shared
    else:
        body["string"] = plain
    del headers[encoding]


def _interaction(item: Any) -> None:
    if not isinstance(item, dict):
        return
    request, response = item.get("request"), item.get("response")
    if isinstance(request, dict):
        if isinstance(request.get("uri"), str):
            request["uri"] = _uri(request["uri"])
        request["headers"] = _vcr_headers(request.get("headers"))
        request["body"] = _body(request.get("body"))
    if isinstance(response, dict):
        _decoded(response)
        response["headers"] = _vcr_headers(response.get("headers"))
        body = response.get("body")
        if isinstance(body, dict) and "string" in body:
            body["string"] = _body(body["string"])
            _fix_length(response)


def _fix_length(response: dict[str, Any]) -> None:
    headers, body = response.get("headers"), response.get("body")
    if not isinstance(headers, dict) or not isinstance(body, dict):
        return
    raw = body.get("string")
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw or b"")
    for name in headers:
        if str(name).lower() == "content-length":
            headers[name] = [str(size)] if isinstance(headers[name], list) else str(size)


# -- HAR --------------------------------------------------------------------------------------


def _har_pairs(pairs: Any, *, secret: bool = False) -> None:
    """HAR [{name, value}] lists: credential headers (or every value, `secret`) replaced."""
    for pair in pairs if isinstance(pairs, list) else ():
        if not isinstance(pair, dict) or not isinstance(pair.get("value"), str):
            continue
        name = str(pair.get("name", "")).lower()
        if secret or name in _SECRET_HEADERS or _SECRET_NAME.search(name):
            pair["value"] = scrub.REDACTED


def _har_content(content: Any) -> None:
    if not isinstance(content, dict) or not isinstance(content.get("text"), str):
        return
    if content.get("encoding") == "base64":
        try:
            raw = base64.b64decode(content["text"], validate=True)
        except ValueError:
            content["text"] = ""
            return
        content["text"] = base64.b64encode(scrub.scrub_body(raw) or b"").decode("ascii")
    else:
        content["text"] = _body(content["text"])
    if isinstance(content.get("size"), int) and content.get("encoding") != "base64":
        content["size"] = len(content["text"].encode("utf-8"))


def _har(document: Any) -> None:
    log = document.get("log") if isinstance(document, dict) else None
    for entry in log.get("entries", []) if isinstance(log, dict) else []:
        if not isinstance(entry, dict):
            continue
        request, response = entry.get("request"), entry.get("response")
        if isinstance(request, dict):
            if isinstance(request.get("url"), str):
                request["url"] = _uri(request["url"])
            _har_pairs(request.get("headers"))
            _har_pairs(request.get("cookies"), secret=True)
            _har_pairs(request.get("queryString"))
            post = request.get("postData")
            if isinstance(post, dict):
                if isinstance(post.get("text"), str):
                    post["text"] = _body(post["text"])
                _har_pairs(post.get("params"))
        if isinstance(response, dict):
            _har_pairs(response.get("headers"))
            _har_pairs(response.get("cookies"), secret=True)
            _har_content(response.get("content"))
