"""Cassettes: how they are recorded (the vcrpy settings) and how they are read back.

pytest-recording owns the layout (`cassettes/<test module>/<test name>.yaml`); this
module supplies the `vcr_config` the plugin returns and a reader that turns a cassette
into plain interactions for the drift comparison, refusing broken files loudly.

A JSON body may hold a lone UTF-16 surrogate (`"\\ud800"`: valid JSON, not valid
Unicode), and so may a YAML string. Such text can be neither printed nor written as
UTF-8, so the reader replaces every surrogate with U+FFFD as it reads, and counts them
(`Cassette.replaced`): drift then compares, prints and writes well-formed text, and says
how many it replaced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from masivo_conformance import scrub
from masivo_conformance.contract.routes import route_for
from masivo_conformance.errors import CassetteError
from masivo_conformance.recording import vcr_hooks

__all__ = [
    "REPLACEMENT",
    "Cassette",
    "Interaction",
    "cassette_name",
    "iter_cassettes",
    "load_cassette",
    "path_template",
    "vcr_config",
    "well_formed",
]

#: What a lone surrogate is read as (U+FFFD REPLACEMENT CHARACTER).
REPLACEMENT = "\ufffd"
_SURROGATE = re.compile(r"[\ud800-\udfff]")

_RERECORD = "re-record it with `masivo-conformance record`"


def vcr_config(fields: Iterable[str] = scrub.DEFAULT_FIELDS) -> dict[str, Any]:
    """The dict a `vcr_config` fixture returns for recording and replaying the suite."""
    return {
        "before_record_request": vcr_hooks.before_record_request(fields),
        "before_record_response": vcr_hooks.before_record_response(fields),
        # Host and port differ between record and replay (replay uses a dummy host), and
        # bodies carry fresh ids and timestamps on every run, so neither can be matched.
        "match_on": ("method", "path", "query"),
        # Repeated identical requests (polling, before/after reads) must play back the
        # answers in the order they were recorded, once each.
        "allow_playback_repeats": False,
        "decode_compressed_response": True,
    }


@dataclass(frozen=True)
class Interaction:
    """One recorded request and its response, reduced to what drift compares."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    status: int
    content_type: str
    body: Any  # the parsed JSON document, or None when the body is empty or not JSON
    text: str = ""

    @property
    def request(self) -> str:
        """`METHOD /path/{template}`: what pairs it with the same step of another run."""
        return f"{self.method} {path_template(self.path)}"


@dataclass(frozen=True)
class Cassette:
    """The interactions of one cassette file, in recorded order."""

    name: str
    path: Path
    interactions: tuple[Interaction, ...]
    replaced: int = 0  # lone surrogates read as U+FFFD (see the module's docstring)


def well_formed(value: Any) -> tuple[Any, int]:
    """`value` (text, or JSON / YAML data: keys and strings) with every lone surrogate
    replaced by U+FFFD, and how many were replaced. Iterative: a document nested a
    hundred thousand deep must not exhaust the stack."""
    replaced = 0

    def clean(item: Any, todo: list[Any]) -> Any:
        nonlocal replaced
        if isinstance(item, str):
            text, count = _SURROGATE.subn(REPLACEMENT, item)
            replaced += count
            return text
        if isinstance(item, dict):
            copy: dict[Any, Any] = {}
            todo.append((item, copy))
            return copy
        if isinstance(item, list):
            copy_list: list[Any] = []
            todo.append((item, copy_list))
            return copy_list
        return item

    todo: list[Any] = []
    root = clean(value, todo)
    while todo:
        source, target = todo.pop()
        if isinstance(source, dict):
            for key, item in source.items():
                target[clean(key, todo)] = clean(item, todo)
        else:
            target.extend(clean(item, todo) for item in source)
    return root, replaced


def iter_cassettes(root: Path) -> Iterator[Path]:
    """Every cassette file under `root` in a stable order (load each with `load_cassette`)."""
    if not root.is_dir():
        raise CassetteError(
            f"no cassette folder at {root}",
            "record cassettes first with `masivo-conformance record`",
        )
    yield from sorted(path for path in root.rglob("*.yaml") if path.is_file())


def cassette_name(path: Path, root: Path | None = None) -> str:
    """`<test module>/<test name>`, the name pytest-recording gave the file (a byte of a
    file name that is not UTF-8 is read as U+FFFD, so the name can be printed)."""
    if root is not None and path.is_relative_to(root):
        name = path.relative_to(root).with_suffix("").as_posix()
    else:
        name = f"{path.parent.name}/{path.stem}"
    return str(well_formed(name)[0])


def _corrupt(path: Path, reason: str) -> CassetteError:
    return CassetteError(f"cassette {path} is corrupt ({reason})", _RERECORD)


def load_cassette(path: Path, root: Path | None = None, base_path: str = "") -> Cassette:
    """Read one cassette; `base_path` (the target URL's path) is cut from request paths."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CassetteError(f"cassette {path} does not exist", _RERECORD) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(path, f"cannot be read: {exc}") from exc
    if not text.strip():
        raise _corrupt(path, "the file is empty")
    # vcrpy's own safe loader, so we accept exactly what replay would accept; imported
    # here, as the commands that read cassettes need it and a plain run does not.
    from vcr.serializers import yamlserializer  # noqa: PLC0415

    try:
        data = yamlserializer.deserialize(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise _corrupt(path, f"not valid YAML{where}; the file may be truncated") from exc
    if not isinstance(data, dict) or not isinstance(data.get("interactions"), list):
        raise _corrupt(path, "not a vcrpy cassette: no `interactions` list")
    # vcrpy writes keys sorted, so `version` is the last line: without it the file was cut.
    if "version" not in data:
        raise _corrupt(path, "truncated: the closing `version` line is missing")
    found, replaced = well_formed(data["interactions"])
    interactions = []
    for index, item in enumerate(found, start=1):
        interaction, in_body = _interaction(path, index, item, base_path)
        interactions.append(interaction)
        replaced += in_body
    return Cassette(cassette_name(path, root), path, tuple(interactions), replaced)


def _interaction(path: Path, index: int, item: Any, base_path: str) -> tuple[Interaction, int]:
    """One interaction, and the lone surrogates its parsed body held (as U+FFFD now)."""
    try:
        request, response = item["request"], item["response"]
        method, uri = str(request["method"]).upper(), str(request["uri"])
        status = response["status"]["code"]
        headers = response["headers"]
        body = response["body"]["string"]
    except (KeyError, TypeError) as exc:
        raise _corrupt(path, f"interaction {index} lacks {exc}") from exc
    if not isinstance(status, int) or not isinstance(headers, dict):
        raise _corrupt(path, f"interaction {index} has a malformed status or headers")
    parts = urlsplit(uri)
    request_path = parts.path
    prefix = base_path.rstrip("/")
    if prefix and (request_path == prefix or request_path.startswith(prefix + "/")):
        request_path = request_path[len(prefix) :] or "/"
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    # `\ud800` in the JSON text parses to a lone surrogate (the YAML was cleaned above).
    document, replaced = well_formed(_json_or_none(text))
    interaction = Interaction(
        method=method,
        path=request_path,
        query=tuple(sorted(parse_qsl(parts.query, keep_blank_values=True))),
        status=status,
        content_type=_header(headers, "content-type"),
        body=document,
        text=text,
    )
    return interaction, replaced


def _header(headers: dict[str, Any], name: str) -> str:
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value[0] if isinstance(value, list) and value else value)
    return ""


def _json_or_none(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        # Nested deeper than the parser's recursion limit (a hostile target's answer):
        # not a document drift can compare, shown as "not JSON" rather than a traceback.
        return None


_UUID_SEGMENT = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _looks_like_id(segment: str) -> bool:
    # Suite-made ids carry a prefix and random hex; literal segments ("v1") are short.
    has_digit = any(c.isdigit() for c in segment)
    has_letter = any(c.isalpha() for c in segment)
    return bool(
        _UUID_SEGMENT.match(segment)
        or segment.isdigit()
        or (len(segment) >= 8 and has_digit and has_letter)
    )


def path_template(path: str) -> str:
    """`/behavior/events/<uuid>/reverse` -> `/behavior/events/{eventId}/reverse`: the
    route table's template, or ids masked by their look for a path outside the contract."""
    routed = route_for(None, path)
    if routed is not None:
        return routed.template_path
    segments = path.strip("/").split("/")
    return "/" + "/".join("{id}" if _looks_like_id(s) else s for s in segments)
