"""Reading a team's recordings (recording/traffic.py) and the rules judged on them
(checks/passive.py, checks/recorded.py), without a server."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from masivo_conformance import scrub
from masivo_conformance.checks.calls import Call
from masivo_conformance.checks.passive import NOT_AT_REST, judge_sequence
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
    verdicts = judge_sequence([_emit("RESOLVED"), first, again])
    assert [(i, v.requirement, v.held) for i, v in verdicts] == [
        (1, "REV-1", True),
        (2, "REV-4", False),
    ]
    assert judge_sequence([first]) == []  # an event the recording never saw: no premise


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
