"""A team's own recordings read as exchanges: vcrpy cassettes and HAR 1.2 files.

`read_traffic(paths)` takes files and folders (searched recursively for `*.yaml`,
`*.yml`, `*.json` and `*.har`) and returns every recorded request with its answer, in
recorded order, each with its origin (file and 1-based index). It judges nothing: which
exchanges are storefront operations is the judge's question (`checks.calls.Call.build`).

Every byte of these files is untrusted, and they hold real secrets (a HAR saved from
devtools carries cookies, bearer tokens and API keys). So:

* a file over `MAX_FILE_BYTES` is refused before it is read, and nothing in it is walked
  generically (only the members a recording has are read), so YAML aliases that expand
  exponentially are never expanded;
* YAML is read by a safe loader: `!!binary` bodies are bytes, `!!python/str` and
  `!!python/unicode` (Python 2-era vcrpy) are plain text, and every other `!!python/` tag
  is refused with one line (a full loader would run it);
* every credential found in any file (credential headers, cookies, secret-looking query
  parameters and JSON members, authorize's token) is registered with `scrub` as it is
  read, before the judge prints anything;
* a broken file is a `CassetteError`: one line naming the file and what is wrong, exit 2.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from masivo_conformance import scrub
from masivo_conformance.contract.routes import route_for
from masivo_conformance.errors import CassetteError

__all__ = [
    "CASSETTE_SUFFIXES",
    "HAR_SUFFIX",
    "MAX_FILE_BYTES",
    "Exchange",
    "Recording",
    "decompressed",
    "load_json",
    "load_yaml",
    "read_recording",
    "read_text",
    "read_traffic",
    "recording_files",
    "register_secrets",
]

#: A recording larger than this is refused: a day of devtools traffic with its images is
#: tens of MiB; ten times that would take gigabytes of memory once parsed.
MAX_FILE_BYTES = 100 * 1024 * 1024
#: Decompressed size at most of one recorded body (a gzip bomb stops here); the judge
#: cuts what it reads of an answer at checks/limits.py's bound anyway.
MAX_BODY_BYTES = 16 * 1024 * 1024
CASSETTE_SUFFIXES = (".yaml", ".yml", ".json")
HAR_SUFFIX = ".har"
_SUFFIXES = (*CASSETTE_SUFFIXES, HAR_SUFFIX)

_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key"})
_COOKIE_HEADERS = frozenset({"cookie", "set-cookie"})
# Names of query parameters and JSON members whose values are credentials.
_SECRET_NAME = re.compile(
    r"token|secret|password|passwd|api[_-]?key|apikey|authorization|session|cookie|jwt",
    re.IGNORECASE,
)
_PYTHON_TAG = "tag:yaml.org,2002:python/"


@dataclass(frozen=True)
class Exchange:
    """One recorded request and the answer the recording kept of it."""

    source: str  # the file, as the user named it or as found under a folder
    index: int  # 1-based position in the file
    method: str
    url: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes | None
    status: int
    response_headers: tuple[tuple[str, str], ...]
    # The answer's text (decompressed); None when the recorder kept no body (a HAR saved
    # without content, a cassette whose body was dropped): judged on status and headers.
    response_text: str | None
    # When it was sent and when its answer ended (epoch seconds), where the recorder kept
    # the times (a HAR does, a cassette does not): concurrent calls overlap.
    span: tuple[float, float] | None = None

    @property
    def origin(self) -> str:
        """`FILE#N`: where a finding points."""
        return f"{self.source}#{self.index}"


@dataclass(frozen=True)
class Recording:
    """One input file: its kind, what it holds, and what could not be an exchange."""

    path: Path
    kind: str  # "cassette" or "har"
    exchanges: tuple[Exchange, ...]
    # Entries that hold no answer (a HAR's status 0: blocked, cancelled), by reason.
    skipped: dict[str, int] = field(default_factory=dict)


# -- finding the files ------------------------------------------------------------------------


def recording_files(paths: Iterable[Path]) -> Iterator[tuple[Path, bool]]:
    """(file, named): each file given, and every recording-looking file under each folder
    given (`named` False: a file found in a folder that is no recording is skipped)."""
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in _SUFFIXES and p.is_file()
            )
            if not found:
                raise CassetteError(
                    f"{path} holds no recording (no *.yaml, *.yml, *.json or *.har file)",
                    "give the folder of your vcrpy cassettes or HAR files",
                )
            yield from ((p, False) for p in found)
        elif path.is_file():
            yield path, True
        else:
            raise CassetteError(f"{path} does not exist", "give a cassette, a HAR file or a folder")


def read_traffic(paths: Iterable[Path]) -> tuple[list[Recording], list[Path]]:
    """Every recording under `paths` and the files found in folders that are none (a
    config YAML beside the cassettes). A named file that is no recording is an error."""
    recordings, others = [], []
    for path, named in recording_files(paths):
        recording = read_recording(path, named=named)
        if recording is None:
            others.append(path)
        else:
            recordings.append(recording)
    if not recordings:
        raise CassetteError(
            "no recording among the inputs ("
            + ", ".join(str(p) for p in others[:3])
            + (" ..." if len(others) > 3 else "")
            + " hold no vcrpy `interactions` or HAR `log.entries`)",
            "give vcrpy cassettes or HAR files",
        )
    return recordings, others


def _refuse(path: Path, what: str, todo: str = "") -> CassetteError:
    return CassetteError(f"{path}: {what}", todo or "give an intact vcrpy cassette or HAR 1.2 file")


def read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _refuse(path, f"cannot be read ({exc.strerror})") from None
    if size > MAX_FILE_BYTES:
        raise _refuse(
            path,
            f"{size:,} bytes, over the {MAX_FILE_BYTES:,} a recording may have",
            "split it (one cassette per test, one HAR per page load)",
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(path, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise _refuse(path, f"cannot be read ({exc.strerror})") from None


def read_recording(path: Path, *, named: bool = True) -> Recording | None:
    """One file read; None for a file found in a folder that holds no recording."""
    text = read_text(path)
    if not text.strip():
        raise _refuse(path, "the file is empty")
    if path.suffix.lower() in (".yaml", ".yml"):
        document = load_yaml(path, text)
    else:
        document = load_json(path, text)
    if isinstance(document, dict) and isinstance(document.get("interactions"), list):
        return _cassette(path, document)
    log = document.get("log") if isinstance(document, dict) else None
    if isinstance(log, dict) and isinstance(log.get("entries"), list):
        return _har(path, log["entries"])
    if named or path.suffix.lower() == HAR_SUFFIX:
        raise _refuse(path, "neither a vcrpy cassette (`interactions`) nor a HAR (`log.entries`)")
    return None


# -- parsing --------------------------------------------------------------------------------


class _CassetteLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """yaml's safe loader, plus the two Python tags that only ever held text."""


def _python_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


for _tag in ("python/str", "python/unicode"):
    _CassetteLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _python_text)


def dump_yaml(document: Any) -> str:
    """A cassette's YAML, written by libyaml where it is built in (the pure-Python
    emitter takes seconds for a run's traffic)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(document, Dumper=dumper, allow_unicode=True, sort_keys=False)


def load_yaml(path: Path, text: str) -> Any:
    """A YAML document read safely, or one line saying why not."""
    try:
        return yaml.load(text, Loader=_CassetteLoader)  # noqa: S506 - a safe loader (above)
    except yaml.constructor.ConstructorError as exc:
        tag = str(getattr(exc, "problem", "") or "")
        where = _line(exc)
        if _PYTHON_TAG in tag or "python/" in tag:
            shown = re.sub(r"^.*tag '?tag:yaml.org,2002:", "!!", tag).rstrip("'")
            raise _refuse(
                path,
                f"holds the Python YAML tag {shown[:80]}{where}, which is never loaded "
                "(a full YAML loader would run it)",
                "re-record the cassette with a current vcrpy, or remove the tag",
            ) from None
        raise _refuse(path, f"holds a YAML tag that is not loaded{where}") from None
    except yaml.YAMLError as exc:
        raise _refuse(path, f"not valid YAML{_line(exc)}; the file may be truncated") from None
    except RecursionError:
        raise _refuse(path, "nested too deeply to be a recording") from None


def _line(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}" if mark is not None else ""


def load_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _refuse(
            path, f"not valid JSON (line {exc.lineno}: {exc.msg}); the file may be truncated"
        ) from None
    except RecursionError:
        raise _refuse(path, "nested too deeply to be a recording") from None


# -- vcrpy cassettes ------------------------------------------------------------------------


def _header_pairs(raw: Any) -> tuple[tuple[str, str], ...]:
    """vcrpy headers ({name: [values]} or {name: value}) as (name, value) pairs; values
    that are neither text nor lists of text are no header (never walked)."""
    if not isinstance(raw, dict):
        return ()
    pairs = []
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        pairs += [(str(name), item) for item in values if isinstance(item, str)]
    return tuple(pairs)


def _bytes(value: Any) -> bytes | None:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", errors="surrogatepass")
    return None


def _cassette(path: Path, document: dict[str, Any]) -> Recording:
    exchanges = []
    for index, item in enumerate(document["interactions"], start=1):
        try:
            request, response = item["request"], item["response"]
            method, uri = request["method"], request["uri"]
            status = response["status"]["code"]
        except (KeyError, TypeError) as exc:
            raise _refuse(path, f"interaction {index} lacks {exc}") from None
        if not isinstance(method, str) or not isinstance(uri, str):
            raise _refuse(path, f"interaction {index} has no text method or uri")
        if isinstance(status, str) and status.isdigit():
            status = int(status)
        if not isinstance(status, int) or isinstance(status, bool):
            raise _refuse(path, f"interaction {index} has a status code that is no number")
        headers = _header_pairs(response.get("headers"))
        body = response.get("body")
        raw = body.get("string") if isinstance(body, dict) else None
        exchanges.append(
            _exchange(
                path,
                index,
                method,
                uri,
                _header_pairs(request.get("headers")),
                _bytes(request.get("body")),
                status,
                headers,
                _bytes(raw),
            )
        )
    return Recording(path, "cassette", tuple(exchanges))


# -- HAR ------------------------------------------------------------------------------------


def _har_headers(raw: Any) -> tuple[tuple[str, str], ...]:
    """HAR headers ([{name, value}]); HTTP/2 pseudo-headers (`:authority`) are no header."""
    if not isinstance(raw, list):
        return ()
    return tuple(
        (h["name"], h["value"])
        for h in raw
        if isinstance(h, dict)
        and isinstance(h.get("name"), str)
        and isinstance(h.get("value"), str)
        and not h["name"].startswith(":")
    )


def _har_cookies(raw: Any) -> None:
    for cookie in raw if isinstance(raw, list) else ():
        if isinstance(cookie, dict) and isinstance(cookie.get("value"), str):
            _register_likely(cookie["value"])


def _har_content(content: Any) -> bytes | None:
    """The answer's body as recorded, or None when the HAR kept none (no `text`, or an
    attachment kept beside it, as Playwright's `_file`)."""
    if not isinstance(content, dict):
        return None
    text = content.get("text")
    if not isinstance(text, str):
        return b"" if content.get("size") == 0 and "_file" not in content else None
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
    return text.encode("utf-8", errors="surrogatepass")


def _har(path: Path, entries: list[Any]) -> Recording:
    exchanges: list[Exchange] = []
    skipped: dict[str, int] = {}
    for index, entry in enumerate(entries, start=1):
        try:
            request, response = entry["request"], entry["response"]
            method, url, status = request["method"], request["url"], response["status"]
        except (KeyError, TypeError) as exc:
            raise _refuse(path, f"entry {index} lacks {exc}") from None
        if not isinstance(method, str) or not isinstance(url, str):
            raise _refuse(path, f"entry {index} has no text method or url")
        if not isinstance(status, int) or isinstance(status, bool):
            raise _refuse(path, f"entry {index} has a status that is no number")
        _har_cookies(request.get("cookies"))
        _har_cookies(response.get("cookies"))
        post = request.get("postData")
        body = post.get("text") if isinstance(post, dict) else None
        exchange = _exchange(
            path,
            index,
            method,
            url,
            _har_headers(request.get("headers")),
            _bytes(body),
            status,
            _har_headers(response.get("headers")),
            _har_content(response.get("content")),
            decoded=True,  # HAR content is the decoded answer, whatever the encoding header
        )
        if status <= 0:
            reason = "no answer recorded (status 0: blocked, cancelled or failed)"
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        exchanges.append(replace(exchange, span=_har_span(entry)))
    return Recording(path, "har", tuple(exchanges), skipped)


def _har_span(entry: dict[str, Any]) -> tuple[float, float] | None:
    """(sent, answered) of a HAR entry: its startedDateTime and total time (ms)."""
    started, took = entry.get("startedDateTime"), entry.get("time")
    if not isinstance(started, str) or not isinstance(took, int | float) or took < 0:
        return None
    try:
        moment = datetime.fromisoformat(started)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp(), moment.timestamp() + float(took) / 1000


# -- one exchange ---------------------------------------------------------------------------


def decompressed(body: bytes, headers: tuple[tuple[str, str], ...]) -> bytes | None:
    """The body as the server meant it: a cassette recorded without decoding keeps gzip
    or deflate bytes. None when it cannot be decoded within MAX_BODY_BYTES."""
    encoding = next((v for n, v in headers if n.lower() == "content-encoding"), "").lower()
    if not body or encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return None  # br, zstd: not read here; judged on status and headers
    wbits = 47 if "gzip" in encoding else 15  # 47: gzip or zlib header, found by zlib
    try:
        decoder = zlib.decompressobj(wbits)
        out = decoder.decompress(body, MAX_BODY_BYTES + 1)
    except zlib.error:
        try:  # raw deflate, as some servers send it
            decoder = zlib.decompressobj(-15)
            out = decoder.decompress(body, MAX_BODY_BYTES + 1)
        except zlib.error:
            return None
    return None if len(out) > MAX_BODY_BYTES else out


def _exchange(
    path: Path,
    index: int,
    method: str,
    url: str,
    request_headers: tuple[tuple[str, str], ...],
    request_body: bytes | None,
    status: int,
    response_headers: tuple[tuple[str, str], ...],
    response_body: bytes | None,
    *,
    decoded: bool = False,
) -> Exchange:
    if response_body is not None and not decoded:
        response_body = decompressed(response_body, response_headers)
    text = None if response_body is None else response_body.decode("utf-8", errors="replace")
    request_text = (
        request_body.decode("utf-8", errors="replace") if request_body is not None else None
    )
    register_secrets(url, request_headers, request_text)
    register_secrets("", response_headers, text, method=method, answered=url, status=status)
    return Exchange(
        source=str(path),
        index=index,
        method=method.upper(),
        url=url,
        request_headers=request_headers,
        request_body=request_body or None,
        status=status,
        response_headers=response_headers,
        response_text=text,
    )


# -- secrets ----------------------------------------------------------------------------------


def register_secrets(
    url: str,
    headers: Iterable[tuple[str, str]],
    body: str | None,
    *,
    method: str = "",
    answered: str = "",
    status: int = 0,
) -> None:
    """Register with `scrub` every credential of one request or answer: credential
    headers (and the credential after their scheme), cookie values, query parameters and
    JSON members named like secrets, and the token an authorize answer issues."""
    for name, value in headers:
        lowered = name.lower()
        if lowered in _CREDENTIAL_HEADERS:
            # The credential after its scheme ("Bearer <jwt>"), not the whole value: a
            # reproducer then sends "Bearer $MASIVO_TOKEN" (checks/reproducers.py).
            scheme, _, credential = value.strip().partition(" ")
            scrub.register_secret(credential.strip() or scheme)
        elif lowered in _COOKIE_HEADERS:
            _register_cookies(value, set_cookie=lowered == "set-cookie")
    for key, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if _SECRET_NAME.search(key):
            _register_likely(value)
    if body:
        document = _json_or_none(body)
        _register_members(document)
        routed = route_for(method, urlsplit(answered).path) if answered else None
        if routed is not None and routed.operation == "authorize" and 200 <= status < 300:
            scrub.register_token_answer(document)


def _register_cookies(value: str, *, set_cookie: bool) -> None:
    scrub.register_secret(value)
    pairs = value.split(";")[:1] if set_cookie else value.split(";")
    for pair in pairs:
        _, _, cookie = pair.partition("=")
        _register_likely(cookie.strip().strip('"'))


def _register_likely(value: str) -> None:
    """Register a value found under a secret-looking name when it looks like a credential:
    `"token_type": "Bearer"` or a cookie `consent=granted` are words, and redacting every
    "Bearer" would withhold every reproducer (scrub.redact_reproducer)."""
    if len(value) >= 16 or (len(value) >= 8 and not value.isalpha()):
        scrub.register_secret(value)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _register_members(document: Any) -> None:
    """Every string under a member named like a secret, at any depth (iterative)."""
    todo = [document]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and _SECRET_NAME.search(key) and isinstance(value, str):
                    _register_likely(value)
                elif isinstance(value, dict | list):
                    todo.append(value)
        elif isinstance(node, list):
            todo.extend(item for item in node if isinstance(item, dict | list))
