"""The proxy's judge keeps bounded state on a session without end (proxy/windows.py,
`TrafficJudge(kept=...)`), and still judges what a window shows. No server: calls and
exchanges are made by hand."""

from __future__ import annotations

import json
import uuid
from typing import Any

from masivo_conformance.checks.calls import Call
from masivo_conformance.proxy.windows import CustomerWindows
from masivo_conformance.recording.traffic import Exchange
from masivo_conformance.reporting.judging import TrafficJudge

BASE = "http://upstream.test/api/storefront/v1"


def _call(method: str, path: str, status: int, answer: Any, request: Any = None) -> Call:
    call = Call.build(
        method,
        BASE + path,
        None if request is None else json.dumps(request).encode(),
        status,
        {"content-type": "application/json"},
        json.dumps(answer),
        "curl ...",
    )
    assert call is not None
    return call


def _event(customer: str, event_id: str, status: str = "RESOLVED") -> dict[str, Any]:
    return {
        "id": event_id,
        "customer_id": customer,
        "type": "PURCHASE",
        "status": status,
        "fulfilled": True,
    }


def _story(customer: str) -> list[Call]:
    """An emit, a reverse, a read, a second reverse answered 200 (REV-4 broken)."""
    event_id = str(uuid.uuid4())
    reverse = f"/behavior/events/{event_id}/reverse"
    return [
        _call(
            "POST",
            "/behavior/events",
            201,
            {"data": _event(customer, event_id)},
            {"customer_id": customer, "brand_id": "b", "type": "PURCHASE"},
        ),
        _call(
            "POST", reverse, 200, {"data": _event(customer, event_id, "REVERSED")}, {"reason": "r"}
        ),
        _call("GET", f"/customers/{customer}", 200, {"data": {"id": customer, "wallet": []}}),
        _call(
            "POST", reverse, 200, {"data": _event(customer, event_id, "REVERSED")}, {"reason": "r"}
        ),
    ]


def test_windows_stay_within_their_bounds_however_many_customers() -> None:
    windows = CustomerWindows(calls=3, customers=10)
    for n in range(300):
        for call in _story(f"c-{n}"):
            windows.verdicts(call, f"proxy#{n}")
    assert windows.kept_customers == 10
    assert windows.kept_calls <= 3 * 10
    assert windows.kept_events <= 10 * 16
    assert windows.evicted_customers == 290
    assert windows.kept_bytes <= 10 * 3 * 4096


def test_a_window_judges_what_it_shows_and_forgets_what_left_it() -> None:
    windows = CustomerWindows(calls=4)
    found = [v for call in _story("ana") for _, v in windows.verdicts(call, "x")]
    assert [v.requirement for v in found if v.violation is not None] == ["REV-4"]
    # With a window of two calls, the first reverse has left when the second comes.
    short = CustomerWindows(calls=2)
    found = [v for call in _story("bob") for _, v in short.verdicts(call, "x")]
    assert "REV-4" not in {v.requirement for v in found}


def test_a_byte_budget_drops_the_least_recent_customers() -> None:
    windows = CustomerWindows(calls=64, customers=1000, max_bytes=20_000)
    for n in range(50):
        for call in _story(f"c-{n}"):
            windows.verdicts(call, "x")
    assert windows.kept_bytes <= 20_000
    assert 0 < windows.kept_customers < 50


def _exchange(n: int, call_status: int = 201) -> Exchange:
    customer = f"c-{n}"
    return Exchange(
        source="proxy",
        index=n,
        method="POST",
        url=BASE + "/behavior/events",
        request_headers=(("content-type", "application/json"),),
        # No brand_id: a client finding, and the server must refuse it (EMIT-2).
        request_body=json.dumps({"customer_id": customer, "type": "PURCHASE"}).encode(),
        status=call_status,
        response_headers=(("content-type", "application/json"),),
        response_text=json.dumps({"data": _event(customer, str(uuid.uuid4()))}),
    )


def test_a_live_judge_keeps_counts_and_the_first_findings_only() -> None:
    judge = TrafficJudge(sequences=CustomerWindows(calls=4, customers=5).verdicts, kept=3)
    for n in range(200):
        judge.add(_exchange(n))
    judgement = judge.judgement(live=("proxy", "proxy"))
    emit2 = next(r for r in judgement.result.requirements if r.id == "EMIT-2")
    assert emit2.status == "fail"
    assert emit2.violated == 200
    assert emit2.tests == 200
    assert len(emit2.findings) == 3
    assert [f.test for f in emit2.findings] == ["proxy#0", "proxy#1", "proxy#2"]
    assert len(judgement.client) == 3
    assert judge.client_count == 200
    assert "the first 3 are listed" in " ".join(judgement.result.notes)
    assert judgement.coverage.files == [
        {"file": "proxy", "kind": "proxy", "exchanges": 200, "judged": 200, "skipped": {}}
    ]
