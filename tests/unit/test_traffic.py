"""Reading a team's recordings (recording/traffic.py) and the rules judged on them
(checks/passive.py, checks/recorded.py), without a server."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from masivo_conformance import scrub
from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.passive import ANY_REPEAT, NOT_AT_REST, UNTIMED, judge_sequence
from masivo_conformance.checks.recorded import refusals, request_problem
from masivo_conformance.recording.traffic import read_recording, read_traffic
from masivo_conformance.reporting.judging import judge_traffic

BASE = "https://shop.example/api/storefront/v1"
EVENT = "6d2f8e1a-0c4b-4e7d-9a3f-5b1c2d3e4f50"


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    yield
    scrub.clear_secrets()


def _interaction(method: str, path: str, status: int, body: Any, **response: Any) -> dict[str, Any]:
    return {
        "request": {"method": method, "uri": BASE + path, "body": None, "headers": {}},
        "response": {
            "status": {"code": status, "message": "OK"},
            "headers": {"Content-Type": ["application/json"], **response.get("headers", {})},
            "body": {"string": body},
        },
    }


def test_a_yaml_cassette_with_binary_gzip_bodies_and_python2_text_tags_is_read(
    tmp_path: Path,
) -> None:
    body = gzip.compress(json.dumps({"data": []}).encode())
    document = {
        "interactions": [
            _interaction(
                "GET", "/rewards?from=0&to=9", 200, body, headers={"Content-Encoding": ["gzip"]}
            ),
        ],
        "version": 1,
    }
    text = yaml.safe_dump(document).replace("method: GET", "method: !!python/unicode 'GET'")
    path = tmp_path / "c.yml"
    path.write_text(text)
    recording = read_recording(path)
    assert recording is not None
    (exchange,) = recording.exchanges
    assert exchange.method == "GET"
    assert exchange.response_text == '{"data": []}'  # decompressed
    assert exchange.origin == f"{path}#1"


def test_a_json_cassette_and_a_har_without_bodies_or_answers_are_read(tmp_path: Path) -> None:
    cassette = tmp_path / "c.json"
    cassette.write_text(
        json.dumps({"interactions": [_interaction("GET", "/customers/c1", 500, "")], "version": 1})
    )
    har = tmp_path / "t.har"
    entry = {
        "request": {
            "method": "GET",
            "url": BASE + "/customers/c1",
            "headers": [],
            "cookies": [{"name": "sid", "value": "cookie-value-123456"}],
        },
        "response": {"status": 200, "headers": [], "content": {"size": 120, "mimeType": "x"}},
    }
    blocked = {**entry, "response": {"status": 0, "headers": [], "content": {}}}
    har.write_text(json.dumps({"log": {"entries": [entry, blocked]}}))
    (tmp_path / "settings.yaml").write_text("retries: 3\n")  # beside them: no recording
    recordings, others = read_traffic([tmp_path])
    assert [r.kind for r in recordings] == ["cassette", "har"]
    assert others == [tmp_path / "settings.yaml"]
    (kept,) = recordings[1].exchanges
    assert kept.response_text is None  # not recorded: judged on status and headers
    assert sum(recordings[1].skipped.values()) == 1
    assert scrub.redact_text("sid=cookie-value-123456") == f"sid={scrub.REDACTED}"
    judgement = judge_traffic(recordings)
    assert judgement.coverage.without_body == 1
    statuses = {r.id: r.status for r in judgement.result.requirements}
    assert statuses["GEN-3"] == "fail"  # the cassette's 500
    assert statuses["GEN-1"] == "not checked"  # the HAR's 200 had no body to judge


def _call(method: str, path: str, status: int, answer: Any, request: Any = None) -> Call:
    body = json.dumps(request).encode() if request is not None else None
    call = Call.build(
        method,
        BASE + path,
        body,
        status,
        {"content-type": "application/json"},
        json.dumps(answer),
        "curl ...",
    )
    assert call is not None
    return call


def _wallet(customer: str, points: float) -> Call:
    totals = [{"reward_id": "points", "total": points}] if points else []
    return _call("GET", f"/customers/{customer}", 200, {"data": {"wallet": {"totals": totals}}})


def _event(status: str, fulfilled: bool = True) -> dict[str, Any]:
    return {
        "data": {
            "id": EVENT,
            "customer_id": "c1",
            "type": "PURCHASE",
            "status": status,
            "fulfilled": fulfilled,
        }
    }


def _emit(status: str = "PENDING") -> Call:
    sent = {"customer_id": "c1", "brand_id": "b", "type": "PURCHASE"}
    return _call("POST", "/behavior/events", 201, _event(status), sent)


def _preview() -> Call:
    sent = {"customer_id": "c1", "brand_id": "b", "order": {"value": 1}}
    return _call("PUT", "/events/redeem/preview", 200, {"data": {}}, sent)


def test_a_wallet_changed_after_an_unsettled_write_is_not_the_previews() -> None:
    """An emit answered PENDING may land between the reads: no violation, a reason."""
    calls = [_emit("PENDING"), _wallet("c1", 0), _preview(), _wallet("c1", 50)]
    ((index, verdict),) = judge_sequence(calls)
    assert (index, verdict.requirement, verdict.held, verdict.unjudged) == (
        3,
        "PRV-2",
        True,
        NOT_AT_REST,
    )
    # Settled before the first read (RESOLVED): the change is the preview's.
    calls[0] = _emit("RESOLVED")
    ((_, verdict),) = judge_sequence(calls)
    assert verdict.violation is not None
    assert "call 3" in verdict.violation.detail


def test_a_second_reverse_is_judged_only_after_a_first_one_ended_the_event() -> None:
    reverse = f"/behavior/events/{EVENT}/reverse"
    first = _call("POST", reverse, 200, _event("REVERSED"), {"reason": "x"})
    again = _call("POST", reverse, 200, _event("REVERSED"), {"reason": "x"})
    calls = [_emit("RESOLVED"), first, again]
    one_after_the_other = [(0.0, 0.1), (1.0, 1.1), (2.0, 2.1)]
    verdicts = judge_sequence(calls, spans=one_after_the_other)
    assert [(i, v.requirement, v.held) for i, v in verdicts] == [
        (1, "REV-1", True),
        (2, "REV-4", False),
    ]
    assert judge_sequence([first]) == []  # an event the recording never saw: no premise


def test_a_reverse_sent_while_another_was_in_flight_is_rev6s_and_untimed_ones_are_moot() -> None:
    reverse = f"/behavior/events/{EVENT}/reverse"
    first = _call("POST", reverse, 200, _event("REVERSED"), {"reason": "x"})
    again = _call("POST", reverse, 200, _event("REVERSED"), {"reason": "x"})
    refused = _call("POST", reverse, 409, {"error": "Conflict"}, {"reason": "x"})
    at_once = [(0.0, 0.1), (1.0, 1.3), (1.1, 1.4)]
    ((_, concurrent),) = [
        v
        for v in judge_sequence([_emit("RESOLVED"), first, again], spans=at_once)
        if v[1].requirement != "REV-1"
    ]
    assert (concurrent.requirement, concurrent.held) == ("REV-6", False)
    ((_, atomic),) = [
        v
        for v in judge_sequence([_emit("RESOLVED"), first, refused], spans=at_once)
        if v[1].requirement != "REV-1"
    ]
    assert (atomic.requirement, atomic.held) == ("REV-6", True)
    # A cassette keeps no times: two reverses answered back to back may have been sent at
    # once, so neither REV-4 nor REV-6 is charged.
    ((_, untimed),) = [
        v for v in judge_sequence([_emit("RESOLVED"), first, again]) if v[1].requirement != "REV-1"
    ]
    assert (untimed.requirement, untimed.judged, untimed.unjudged) == ("REV-4", False, UNTIMED)
    # Overlapping scenarios put other customers' calls between them: still untimed. A call
    # of the same customer between them shows they were sent one after the other: REV-4.
    others, own = _wallet("c2", 5), _wallet("c1", 0)

    def rev4(calls: list[Call]) -> list[tuple[bool, bool]]:
        return [(v.judged, v.held) for _, v in judge_sequence(calls) if v.requirement == "REV-4"]

    assert rev4([_emit("RESOLVED"), first, others, refused, again]) == [(False, True)] * 2
    assert rev4([_emit("RESOLVED"), first, own, again]) == [(True, False)]


def test_a_request_missing_brand_id_obliges_a_refusal_and_is_the_clients() -> None:
    sent = {"customer_id": "c1", "type": "PURCHASE"}
    accepted = _call("POST", "/behavior/events", 201, _event("RESOLVED"), sent)
    problem = request_problem(accepted)
    assert problem is not None
    assert "'brand_id' is a required property" in problem.message
    ((verdict),) = refusals(accepted, problem)
    assert (verdict.requirement, verdict.held) == ("EMIT-2", False)
    crashed = _call("POST", "/behavior/events", 500, {}, sent)
    assert refusals(crashed, request_problem(crashed)) == []  # GEN-3's, not again EMIT-2's


def test_a_refused_reverse_is_no_rev1_failure_when_it_lacked_a_reason_or_lost_a_race() -> None:
    reverse = f"/behavior/events/{EVENT}/reverse"
    conflict = {"error": "Conflict", "details": "already reversed"}
    lost = _call("POST", reverse, 409, conflict, {"reason": "x"})
    won = _call("POST", reverse, 200, _event("REVERSED"), {"reason": "x"})
    verdicts = judge_sequence([_emit("RESOLVED"), lost, won])
    assert [(v.requirement, v.held, bool(v.unjudged)) for _, v in verdicts] == [
        ("REV-1", True, True),  # recorded in the order the answers came: not judged
        ("REV-1", True, False),
    ]
    no_reason = _call("POST", reverse, 422, {"error": "x", "details": "y"}, {})
    assert judge_sequence([_emit("RESOLVED"), no_reason]) == []  # REV-7's, not REV-1's


def test_the_suites_own_cassettes_judge_conformant() -> None:
    """`record`'s cassettes of the reference server (cassettes/): real traffic of a
    correct server, concurrent reverses and refused requests included."""
    recordings, _ = read_traffic([Path(__file__).parents[2] / "cassettes"])
    result = judge_traffic(recordings).result
    assert result.exit_code() == 0
    assert not [r.id for r in result.requirements if r.status == "fail"]
    assert {r.id for r in result.requirements if r.status == "pass"} >= {
        "REV-1",
        "REV-2",
        "REV-4",
        "FUL-1",
        "FUL-4",
        "PRV-2",
    }


# -- what a recording shows of EMIT-1, EMIT-3, FUL-3, FUL-5 and REV-2 (issue 23) ------------

DATE = "Fri, 04 Dec 2026 12:00:00 GMT"


def _dated(call: Call) -> Call:
    return dataclasses.replace(call, headers={**call.headers, "date": DATE})


def _sent_emit(status: int, answer: Any, customer: str = "c1", **extra: Any) -> Call:
    sent = {"customer_id": customer, "brand_id": "b", "type": "PURCHASE", **extra}
    return _dated(_call("POST", "/behavior/events", status, answer, sent))


def _judged(calls: list[Call], requirement: str) -> list[tuple[bool, bool]]:
    """(judged, held) of each verdict of `requirement`."""
    return [(v.judged, v.held) for _, v in judge_sequence(calls) if v.requirement == requirement]


def test_a_refused_emit_is_emit1s_only_where_the_recording_shows_it_valid() -> None:
    refused = _sent_emit(422, {"error": "Unprocessable"}, issued_at="2026-12-04T11:59:00Z")
    accepted = _sent_emit(201, _event("RESOLVED"))
    assert _judged([accepted, refused], "EMIT-1") == [(True, False)]
    # Its customer never accepted in the recording: it may not exist there.
    assert (
        _judged(
            [
                accepted,
                dataclasses.replace(
                    refused, request_json={**refused.request_json, "customer_id": "c2"}
                ),
            ],
            "EMIT-1",
        )
        == []
    )
    # It redeems (the wallet may be short), or holds a number a server may bound.
    redeeming = _sent_emit(422, {"error": "x"}, redeem=[{"id": EVENT, "amount": 5}])
    huge = _sent_emit(422, {"error": "x"}, order={"value": 1e15})
    assert _judged([accepted, redeeming, huge], "EMIT-1") == []


def test_an_emit_issued_outside_the_window_of_the_answers_date_must_be_refused() -> None:
    stale = _sent_emit(201, _event("RESOLVED"), issued_at="2026-12-01T00:00:00Z")  # 84 h
    future = _sent_emit(201, _event("RESOLVED"), issued_at="2026-12-04T13:00:00Z")
    refused = _sent_emit(422, {"error": "x"}, issued_at="2026-12-04T13:00:00Z")
    fresh = _sent_emit(201, _event("RESOLVED"), issued_at="2026-12-04T11:00:00Z")
    assert _judged([stale, future, refused, fresh], "EMIT-3") == [
        (True, False),
        (True, False),
        (True, True),
    ]


def test_an_id_no_event_can_have_must_be_unknown_unless_the_recording_gave_it() -> None:
    bogus = _call("PATCH", "/behavior/events/%00%FF/fulfill", 200, _event("RESOLVED"))
    assert _judged([bogus], "FUL-3") == [(True, False)]
    given = {"data": {**_event("RESOLVED")["data"], "id": "evt_1"}}
    emitted = _call("POST", "/behavior/events", 201, given, {"customer_id": "c1"})
    own = _call("PATCH", "/behavior/events/evt_1/fulfill", 200, given)
    assert _judged([emitted, own], "FUL-3") == []


def test_a_second_fulfil_changes_no_wallet() -> None:
    fulfil = _call("PATCH", f"/behavior/events/{EVENT}/fulfill", 200, _event("RESOLVED"))
    settled = _emit("RESOLVED")
    calls = [settled, _wallet("c1", 50), fulfil, _wallet("c1", 100)]
    assert _judged(calls, "FUL-5") == [(True, False)]
    # Equal wallets are evidence once an amount was seen to move (the emit's 50 points).
    unchanged = [_wallet("c1", 0), settled, _wallet("c1", 50), fulfil, _wallet("c1", 50)]
    assert _judged(unchanged, "FUL-5") == [(True, True)]
    assert _judged(unchanged[1:], "FUL-5") == [(False, True)]  # nothing seen to move


def test_a_reversed_event_lists_a_reversal_wherever_it_listed_a_transaction() -> None:
    listing = f"/transactions?event_id={EVENT}"
    earned = _call("GET", listing, 200, {"data": [{"type": "ACCUMULATION", "event_id": EVENT}]})
    reverse = _call(
        "POST", f"/behavior/events/{EVENT}/reverse", 200, _event("REVERSED"), {"reason": "x"}
    )
    unlisted = _call("GET", listing, 200, {"data": [{"type": "ACCUMULATION", "event_id": EVENT}]})
    listed = _call(
        "GET",
        listing,
        200,
        {"data": [{"type": "ACCUMULATION", "event_id": EVENT}, {"type": "REVERSAL"}]},
    )
    assert _judged([_emit("RESOLVED"), earned, reverse, unlisted], "REV-2") == [(True, False)]
    assert _judged([_emit("RESOLVED"), earned, reverse, listed], "REV-2") == [(True, True)]


def test_what_follows_an_accepted_fulfil_of_a_reversed_event_is_charged_there_only() -> None:
    reverse = _call(
        "POST", f"/behavior/events/{EVENT}/reverse", 200, _event("REVERSED"), {"reason": "x"}
    )
    revived = _call("PATCH", f"/behavior/events/{EVENT}/fulfill", 200, _event("RESOLVED"))
    calls = [_emit("RESOLVED"), reverse, _wallet("c1", 0), revived, reverse]
    verdicts = [(v.requirement, v.held) for _, v in judge_sequence(calls)]
    assert ("FUL-4", False) in verdicts
    assert not [r for r, _ in verdicts if r == "REV-4"]


def test_two_reverses_accepted_at_once_are_rev4s_when_any_repeat_is_accepted() -> None:
    reverse = f"/behavior/events/{EVENT}/reverse"
    accepted = _call("POST", reverse, 200, _event("REVERSED"), {"reason": "x"})
    at_once_then_alone = [(0.0, 0.1), (1.0, 1.3), (1.1, 1.4), (2.0, 2.1)]
    calls = [_emit("RESOLVED"), accepted, accepted, accepted]
    verdicts = {v.requirement: v for _, v in judge_sequence(calls, spans=at_once_then_alone)}
    assert verdicts["REV-4"].held is False
    assert (verdicts["REV-6"].judged, verdicts["REV-6"].unjudged) == (False, ANY_REPEAT)


def test_a_replay_compares_no_issued_at_with_recorded_dates() -> None:
    stale = _sent_emit(201, _event("RESOLVED"), issued_at="2026-12-01T00:00:00Z")
    assert _judged([stale], "EMIT-3") == [(True, False)]
    assert [v for _, v in judge_sequence([stale], clock=False) if v.requirement == "EMIT-3"] == []


def test_a_refusal_of_a_request_with_invented_headers_is_no_rules_answer() -> None:
    """schemathesis adds headers it invents (names such as "07`1gvm"); a server may
    refuse such a request at the door (the reference server's parser: 400 "Invalid HTTP
    request"), before any rule is asked. Refused, it is judged by no rule, as a 401 is
    not; the same refusal of a plain request, or of a team's request with headers of its
    own (tracing), is FUL-1's violation."""
    sent = {"customer_id": "c1", "brand_id": "b", "type": "PURCHASE", "fulfilled": False}
    standby = _call("POST", "/behavior/events", 201, _event("PENDING", fulfilled=False), sent)
    refusal = {"error": "Bad request", "details": "Invalid HTTP request received."}
    plain = _call("PATCH", f"/behavior/events/{EVENT}/fulfill", 400, refusal)
    fuzzed = dataclasses.replace(
        plain, sent_headers=frozenset({"authorization", "07`1gvm", "x-schemathesis-testcaseid"})
    )
    assert _judged([standby, plain], "FUL-1") == [(True, False)]
    assert _judged([standby, fuzzed], "FUL-1") == []
    marked = dataclasses.replace(plain, sent_headers=frozenset({"x-schemathesis-testcaseid"}))
    assert _judged([standby, marked], "FUL-1") == [(True, False)]  # schemathesis's own mark
    team = dataclasses.replace(plain, sent_headers=frozenset({"authorization", "traceparent"}))
    assert _judged([standby, team], "FUL-1") == [(True, False)]
