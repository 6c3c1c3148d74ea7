"""Replay a failing test's calls against a target and tell whether the failure reproduces.

Standard library only: the text of this module is the body of every sequence reproducer
the reports write (`checks/sequences.py` appends the data), so the person who runs one
needs Python and nothing else; the suite imports `observed` from here, so the suite and
the script read answers the same way.

A reproducer repeats the calls in order with a fresh customer and fresh purchase ids,
takes the ids later calls use from the answers it gets (as the test did), and compares
every answer with the one the suite judged: status, media type, rate-limit headers and
the body's shape (numbers, booleans, word-like values such as statuses, and the kind of
every id, time and text). When every answer comes back as the suite saw it, the failure
reproduces (exit 1); when one differs, it does not, and the script says where (exit 0).

The target is untrusted: answers are read up to 8 MiB, redirects are not followed, a value
the target chose is only ever sent back to it (percent-encoded in a path) or printed as
escaped ASCII, and credentials come from MASIVO_TOKEN or MASIVO_API_KEY, never from the
file.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

READ_LIMIT = 8 * 1024 * 1024
# Answers longer than this are compared by their length class alone: the suite does not
# keep megabytes of every call for a reproducer it may never write.
OBSERVED_LIMIT = 256 * 1024
TIMEOUT_S = 30.0
_MAX_DEPTH = 32
_MAX_ITEMS = 200
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_OFFSET_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)\Z")
_NAIVE_TIME = re.compile(r"\d{4}-\d\d-\d\d([Tt ]\d\d:\d\d(:\d\d(\.\d+)?)?)?\Z")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}\Z")  # statuses, types, actions
_JWT_PART = re.compile(r"[A-Za-z0-9_-]{1,4096}\Z")
_TOKEN_ANSWER = re.compile(r'"data"\s*:\s*"([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"')


def _is_id_key(key: str) -> bool:
    return key == "id" or key.endswith("_id")


def _kind(value: str) -> str:
    if _UUID.match(value):
        return "<uuid>"
    if _OFFSET_TIME.match(value):
        return "<time with offset>"
    if _NAIVE_TIME.match(value):
        return "<time without offset>"
    return "<text>" if value else ""


def _is_time_key(key: str) -> bool:
    return key.endswith(("_at", "_date", "date"))


def _jwt_life(value: str) -> str | None:
    """A JWT's lifetime (exp - iat, in seconds) as a kind, or None when `value` is none."""
    parts = value.split(".")
    if len(parts) != 3 or not all(_JWT_PART.match(p) for p in parts):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        life = float(claims["exp"]) - float(claims["iat"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return "<jwt>"
    return f"<jwt living {life:.0f} s>"


def shape(value: Any, key: str = "", depth: int = 0) -> Any:  # noqa: PLR0911 (one per kind)
    """`value` as a reproducer compares it: numbers, booleans, nulls, keys and word-like
    strings kept; ids, times and free text replaced by their kind (they differ between
    two runs of the same calls on the same target)."""
    if depth > _MAX_DEPTH:
        return "<deeper>"
    if isinstance(value, dict):
        items = sorted(value.items())[:_MAX_ITEMS]
        return {str(k)[:80]: shape(v, str(k), depth + 1) for k, v in items}
    if isinstance(value, list):
        return [shape(v, key, depth + 1) for v in value[:_MAX_ITEMS]]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return "<number>" if _is_time_key(key) else round(float(value), 6)
    if isinstance(value, str):
        if _is_id_key(key):
            return "<uuid>" if _UUID.match(value) else "<id>"
        return value if _WORD.match(value) else (_jwt_life(value) or _kind(value))
    return "<other>"


def _mine(value: Any, own: set[str]) -> Any:
    """A listing's items that name one of `own` (the test's customers and events): a
    brand-wide list also holds what others did meanwhile, which no replay repeats."""
    if not own or not isinstance(value, dict) or not isinstance(value.get("data"), list):
        return value
    items = [
        item
        for item in value["data"]
        if not isinstance(item, dict) or own & {v for v in item.values() if isinstance(v, str)}
    ]
    return {**value, "data": items}


def observed(
    status: int, headers: dict[str, str], text: str, own: set[str] | None = None
) -> dict[str, Any]:
    """What a reproducer compares of one answer (`headers` with lower-case names);
    listed items that name none of `own` are left out (see `_mine`)."""
    try:
        if len(text) > OBSERVED_LIMIT:
            body: Any = f"<over {OBSERVED_LIMIT // 1024} KiB>"
        else:
            body = shape(_mine(json.loads(text), own or set())) if text else "<empty>"
    except (ValueError, RecursionError):
        body = "<not JSON>"
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return {
        "status": status,
        "media_type": media if len(media) <= 80 else "<long>",
        "rate_limit_headers": any(name.startswith("x-ratelimit-") for name in headers),
        "body": body,
    }


# -- the script ------------------------------------------------------------------------------


def _say(text: str) -> None:
    """Print escaped ASCII only: nothing a target sent reaches the terminal raw."""
    print(text.encode("ascii", "backslashreplace").decode("ascii").replace("\x1b", "?"))


def _differences(then: Any, now: Any, where: str = "$") -> list[str]:
    """Where two observed answers differ, leaf by leaf ("$.body.data.status: ...")."""
    if isinstance(then, dict) and isinstance(now, dict):
        found = []
        for key in sorted(set(then) | set(now)):
            if key not in now:
                found.append(f"{where}.{key}: the suite saw it, now it is missing")
            elif key not in then:
                found.append(f"{where}.{key}: new, the suite saw no such member")
            else:
                found += _differences(then[key], now[key], f"{where}.{key}")
        return found
    if isinstance(then, list) and isinstance(now, list) and len(then) == len(now):
        return [
            d
            for n, (a, b) in enumerate(zip(then, now, strict=True))
            for d in _differences(a, b, f"{where}[{n}]")
        ]
    if then == now:
        return []
    return [f"{where}: the suite saw {_shown(then)}, now {_shown(now)}"]


def _shown(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, ensure_ascii=True, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + "..."


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is an answer to compare, never a place to send credentials


_OPENER = urllib.request.build_opener(_NoRedirects)


def _send(
    method: str, url: str, headers: dict[str, str], body: bytes | None
) -> tuple[int, dict[str, str], str]:
    # The base URL is the run's own (http or https); a target's ids only fill its path.
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310
    try:
        response = _OPENER.open(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as answer:
        response = answer
    with response:
        raw = response.read(READ_LIMIT + 1)[:READ_LIMIT]
        got = {k.lower(): v for k, v in response.headers.items()}
        return response.status, got, raw.decode("utf-8", errors="replace")


def _token(base: str, key: str) -> str:
    token = os.environ.get("MASIVO_TOKEN", "")
    if token or not key:
        return token
    status, _, text = _send("GET", base + "/auth/authorize", {"x-api-key": key}, None)
    found = _TOKEN_ANSWER.search(text)
    if status != 200 or found is None:
        _say(f"authorize with MASIVO_API_KEY answered HTTP {status} and no token")
        sys.exit(2)
    return found.group(1)


def _header(value: str, credential: str, token: str, key: str) -> str:
    if credential == "token":
        return value.replace("${MASIVO_TOKEN#*.*.}", token.split(".", 2)[-1]).replace(
            "$MASIVO_TOKEN", token
        )
    if credential == "key":
        return value.replace("$MASIVO_API_KEY", key)
    return value


def _renamed_body(body: str, names: dict[str, str], fresh: dict[str, str]) -> bytes:
    """The body as the test sent it, byte for byte but for the names: the suite's own
    fresh names (customer ids, also inside an email) wherever they occur, and every
    other old name only as a whole JSON string."""
    for old, new in names.items():
        if old in fresh:
            body = body.replace(old, new)
        else:
            body = body.replace(json.dumps(old), json.dumps(new))
    return body.encode()


def _renamed_path(path: str, names: dict[str, str]) -> str:
    """Whole path segments and query values that are old names, replaced and encoded."""
    where, _, query = path.partition("?")
    segments = [
        urllib.parse.quote(names[part], safe="") if part in names else raw
        for raw in where.split("/")
        for part in [urllib.parse.unquote(raw)]
    ]
    pairs = [(k, names.get(v, v)) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True)]
    tail = "?" + urllib.parse.urlencode(pairs) if query else ""
    return "/".join(segments) + tail


def _at(value: Any, path: list[Any]) -> Any:
    for part in path:
        if isinstance(value, dict) and isinstance(part, str):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            return None
    return value


def _credentials(data: dict[str, Any], base: str) -> tuple[str, str]:
    """(token, key) for the steps that need them; exit 2 with one line when missing."""
    key = os.environ.get("MASIVO_API_KEY", "")
    steps = data["steps"]
    if not key and any(h[2] == "key" for step in steps for h in step["headers"]):
        _say("set MASIVO_API_KEY: this sequence sends the API key (MASIVO_TOKEN is not enough)")
        sys.exit(2)
    token = _token(base, key)
    if not token and any(h[2] == "token" for step in steps for h in step["headers"]):
        _say("set MASIVO_TOKEN, or MASIVO_API_KEY to get a token from authorize")
        sys.exit(2)
    return token, key


def main(data: dict[str, Any]) -> int:
    """Replay `data` (checks/sequences.py writes it); 1 when the failure reproduces."""
    base = (os.environ.get("MASIVO_BASE_URL") or data["base_url"]).rstrip("/")
    token, key = _credentials(data, base)
    fresh = {old: f"{prefix}{secrets.token_hex(6)}" for old, prefix in data["fresh"]}
    names = dict(fresh)  # old value -> the one this replay uses
    own = set(fresh.values())  # the customers and events this replay made
    _say(f"replaying {len(data['steps'])} call(s) against {base}")

    def send(step: dict[str, Any]) -> tuple[int, dict[str, str], str]:
        headers = {name: _header(value, cred, token, key) for name, value, cred in step["headers"]}
        body = step["body"]
        sent = _renamed_body(body, names, fresh) if body is not None else None
        return _send(step["method"], base + _renamed_path(step["path"], names), headers, sent)

    differ = []
    numbered = list(enumerate(data["steps"], start=1))
    groups = [
        [s for s in numbered if s[1]["group"] == g]
        for g in sorted({s["group"] for s in data["steps"]})
    ]
    for group in groups:
        time.sleep(min(30.0, float(group[0][1].get("pause", 0.0))))  # as the test waited
        if len(group) == 1:
            answers = [send(group[0][1])]
        else:  # sent at once in the test (a race): sent at once again
            with ThreadPoolExecutor(len(group)) as pool:
                answers = list(pool.map(send, [step for _, step in group]))
        seen, now = [], []
        for (n, step), (status, got, text) in zip(group, answers, strict=True):
            answer: Any = None
            with contextlib.suppress(ValueError, RecursionError):
                answer = json.loads(text)
            for old, at, where in data["bind"]:
                if at == n and isinstance(_at(answer, where), str):
                    names[old] = _at(answer, where)
            if step["owns"] and isinstance(_at(answer, ["data", "id"]), str):
                own.add(_at(answer, ["data", "id"]))
            seen.append(step["seen"])
            now.append(observed(status, got, text, own))
        if len(group) > 1:  # which of a race won is the target's choice: compare as sets
            seen = sorted(seen, key=lambda v: _shown(v, 10**9))
            now = sorted(now, key=lambda v: _shown(v, 10**9))
        differ += [
            (n, step, a, b) for (n, step), a, b in zip(group, seen, now, strict=True) if a != b
        ]
    if not differ:
        _say(f"REPRODUCED: all {len(data['steps'])} answers came back as when the suite judged")
        _say(f"{data['requirement']} broken; the suite found: {data['message']}")
        return 1
    _say(f"NOT REPRODUCED: {len(differ)} answer(s) differ from the run that failed, first:")
    for n, step, then, came in differ[:3]:
        _say(f"  step {n} {step['method']} {step['template']}")
        for line in _differences(then, came)[:4]:
            _say(f"    {line}")
    return 0
