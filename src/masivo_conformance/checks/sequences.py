"""Sequence reproducers: a failure of a rule that takes several calls, as a script that
makes them again.

One curl line cannot show a multi-call failure (a second reverse of an event already
reversed answers 409 whatever the target does), so a test's calls up to a violation are
kept as data: each request as sent (the suite's customer and purchase ids marked for
fresh ones, the ids the target gave marked to be taken from its new answers) and what
the suite saw of each answer (`replayer.observed`). `script` writes them after the text
of `checks/replayer.py`, which replays them with Python's standard library alone.

The script is safe by construction: the data is one ASCII string literal that `json`
reads (`repr` of ASCII JSON), every value is sent only to the target it came from, and
nothing in it is executed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from masivo_conformance import scrub
from masivo_conformance.checks import replayer
from masivo_conformance.checks.calls import NOT_JSON, Call
from masivo_conformance.contract.routes import route_for

__all__ = ["MAX_STEPS", "script", "sequence"]

MAX_STEPS = 200  # a test's calls beyond this make no script a person would run
MAX_PAUSE_S = 30.0  # a longer wait in a test (a stall) is not repeated in full
_CUSTOMER_PREFIX = "mc-test-"  # suite/storefront.CUSTOMER_PREFIX (suite/ is above checks/)
_FRESH_CUSTOMER = _CUSTOMER_PREFIX + "repro-"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ID_LIMIT = 200  # longer "ids" in answers are not taken for ids


def _ids(value: Any, path: tuple[Any, ...] = (), depth: int = 0) -> Iterator[tuple[str, list[Any]]]:
    """(value, path) of every id in an answer: strings under `id` or `*_id`."""
    if depth > 8:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and (key == "id" or str(key).endswith("_id")):
                if 0 < len(item) <= _ID_LIMIT:
                    yield item, [*path, key]
            else:
                yield from _ids(item, (*path, key), depth + 1)
    elif isinstance(value, list):
        for n, item in enumerate(value[:50]):
            yield from _ids(item, (*path, n), depth + 1)


def _fresh(call: Call) -> list[list[str]]:
    """[old, prefix] of the names this request chose, which a replay must choose anew:
    the customer it creates, the purchase ids of its order."""
    found = []
    body = call.request_json
    if call.operation == "create_customer" and isinstance(body, dict):
        customer = body.get("id")
        if isinstance(customer, str) and customer.startswith(_CUSTOMER_PREFIX):
            found.append([customer, _FRESH_CUSTOMER])
    order = body.get("order") if isinstance(body, dict) else None
    purchase = order.get("purchase_id") if isinstance(order, dict) else None
    if isinstance(purchase, str) and purchase:
        found.append([purchase, purchase.split("-", 1)[0] + "-"])
    return found


def _base(call: Call) -> str:
    routed = route_for(call.method, urlsplit(call.url).path)
    parts = urlsplit(call.url)
    prefix = routed.prefix if routed is not None else ""
    return f"{parts.scheme}://{parts.netloc}{prefix}"


def _groups(spans: Sequence[tuple[float, float]]) -> list[int]:
    """A group number per call: calls whose times overlap were sent at once (a race the
    test made on purpose), and the script sends them at once too."""
    groups: list[int] = []
    end = float("-inf")
    for start, stop in spans:
        if groups and start < end:
            groups.append(groups[-1])
            end = max(end, stop)
        else:
            groups.append(len(groups) and groups[-1] + 1)
            end = stop
    return groups


def sequence(
    trail: Sequence[tuple[Call, float, float]], requirement: str, message: str
) -> dict[str, Any] | None:
    """The data of a script that repeats the calls of `trail` ((call, sent, answered)
    in the order answered) and tells whether `requirement` still fails as `message`
    says; None when there is nothing to repeat or too much."""
    if not trail or len(trail) > MAX_STEPS:
        return None
    ordered = sorted(trail, key=lambda t: t[1])
    calls = [call for call, _, _ in ordered]
    # The pause before each call, as the test made it (settle times): a target whose
    # effects come late shows them only to a replay that waits as long.
    pauses = [0.0] + [
        round(min(MAX_PAUSE_S, max(0.0, ordered[n][1] - max(t[2] for t in ordered[:n]))), 2)
        for n in range(1, len(ordered))
    ]
    base = _base(calls[0])
    if not all(call.url.startswith(base) for call in calls):
        return None  # another target's call: not one sequence
    fresh: dict[str, str] = {}
    for call in calls:
        for old, prefix in _fresh(call):
            fresh.setdefault(old, prefix)
    own = set(fresh) | {
        str(call.data["id"])
        for call in calls
        if call.operation == "emit_event"
        and isinstance(call.data, dict)
        and isinstance(call.data.get("id"), str)
    }
    given: dict[str, tuple[int, list[Any]]] = {}  # an id the target gave -> where
    bind: dict[str, tuple[int, list[Any]]] = {}
    steps: list[dict[str, Any]] = []
    groups = _groups(sorted((sent, answered) for _, sent, answered in trail))
    for n, (call, group, pause) in enumerate(zip(calls, groups, pauses, strict=True), start=1):
        body, headers = call.resend()
        path = call.url[len(base) :]
        sent = f"{path}\n{body or ''}"
        for old, origin in given.items():
            if old not in bind and old in sent:
                bind[old] = origin
        routed = route_for(call.method, urlsplit(call.url).path)
        steps.append(
            {
                "method": call.method,
                "path": path,
                "template": routed.route.template if routed is not None else "?",
                "headers": headers,
                "body": None if body is None else scrub.redact_text(body),
                "group": group,
                "pause": pause,
                "owns": call.operation == "emit_event",
                "seen": replayer.observed(call.status, call.headers, call.text, own),
            }
        )
        if call.body is not NOT_JSON:
            for value, found_at in _ids(call.body):
                if value not in fresh:
                    given.setdefault(value, (n, found_at))
    return {
        "requirement": requirement,
        "message": scrub.excerpt(message, scrub.QUOTE_LIMIT * 2),
        "base_url": scrub.redact_text(base),
        "fresh": [[old, prefix] for old, prefix in fresh.items()],
        "bind": [[old, at, where] for old, (at, where) in bind.items()],
        "steps": steps,
    }


@cache
def _replayer_text() -> str:
    return resources.files(replayer.__package__ or "").joinpath("replayer.py").read_text("utf-8")


def script(data: dict[str, Any], title: str = "") -> str:
    """A Python script (standard library only) that replays `data`: exit 1 when the
    failure reproduces, 0 when it does not, 2 when it cannot run."""
    literal = repr(json.dumps(data, ensure_ascii=True, sort_keys=True))
    heading = scrub.excerpt(f"{data['requirement']} {title}", 200)
    # One comment line: ASCII, and no control character (\r and \n would end it).
    heading = _CONTROL.sub("?", heading.encode("ascii", "backslashreplace").decode())
    return (
        "#!/usr/bin/env python3\n"
        f"# masivo-conformance sequence reproducer: {heading}\n"
        "# Run: python3 THIS_FILE (Python 3.10+, standard library only). Credentials come\n"
        "# from MASIVO_TOKEN, or MASIVO_API_KEY exchanged at authorize; none is written\n"
        "# here. MASIVO_BASE_URL points it at another target.\n"
        + _replayer_text()
        + "\n\nDATA = json.loads("
        + literal
        + ')\n\nif __name__ == "__main__":\n    sys.exit(main(DATA))\n'
    )
