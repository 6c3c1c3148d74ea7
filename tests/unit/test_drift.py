"""Drift: structural differences between recorded and live answers, and their classes."""

from __future__ import annotations

import copy
import json
import os
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from masivo_conformance.recording.cassettes import Cassette, Interaction
from masivo_conformance.recording.changes import Classification
from masivo_conformance.recording.shapes import Hints, contract_hints, hints_from_registry
from masivo_conformance.recording.structure_diff import (
    Difference,
    DriftReport,
    compare_cassettes,
    compare_folders,
    compare_interactions,
    group_differences,
)

HINTS = Hints(
    enums={
        "status": frozenset({"PENDING", "RESOLVED", "REVERSED"}),
        "type": frozenset({"ACCUMULATION", "REDEMPTION", "REVERSAL"}),
    },
    nullable=frozenset({"resolved_at", "reversed_at", "expiration_date"}),
)


def timestamp() -> str:
    moment = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=random.randint(0, 10**7))
    return moment.isoformat().replace("+00:00", "Z")


def event_body() -> dict[str, Any]:
    """A fulfil/reverse-like answer with fresh volatile values on every call."""
    return {
        "data": {
            "id": str(uuid.uuid4()),
            "customer_id": f"mc-{uuid.uuid4().hex[:10]}",
            "type": "PURCHASE",
            "status": "RESOLVED",
            "fulfilled": True,
            "issued_at": timestamp(),
            "resolved_at": timestamp(),
            "reversed_at": None,
            "queue_message_id": uuid.uuid4().hex,
            "result": {
                "transactions": [
                    {
                        "id": str(uuid.uuid4()),
                        "type": "ACCUMULATION",
                        "amount": random.choice([10, 12.5]),
                        "created_at": timestamp(),
                    }
                ]
            },
        }
    }


def customer_body() -> dict[str, Any]:
    return {
        "data": {
            "customer": {"id": f"mc-{uuid.uuid4().hex[:10]}", "name": "Ana"},
            "wallet": {
                "id": str(uuid.uuid4()),
                "totals": [
                    {
                        "total": random.randint(0, 500),
                        "reward_id": str(uuid.uuid4()),
                        "expiration_date": None,
                    }
                ],
            },
        }
    }


def interaction(
    body: Any,
    *,
    method: str = "PATCH",
    path: str | None = None,
    status: int = 200,
    content_type: str = "application/json",
) -> Interaction:
    path = path or f"/behavior/events/{uuid.uuid4()}/fulfill"
    return Interaction(method, path, (), status, content_type, body, json.dumps(body))


def compare(recorded: Interaction, live: Interaction) -> list[Difference]:
    return compare_interactions(recorded, live, test="test_mod/test_case", hints=HINTS)


def kinds(differences: list[Difference]) -> set[tuple[str, str, str]]:
    return {(d.kind, d.path, d.classification) for d in differences}


def test_fresh_ids_timestamps_and_tokens_give_no_difference() -> None:
    for make in (event_body, customer_body):
        assert compare(interaction(make()), interaction(make())) == []
    token_answer = interaction({"data": "a.b.c"}, method="GET", path="/auth/authorize")
    other_token = interaction({"data": "x.y.z"}, method="GET", path="/auth/authorize")
    assert compare(token_answer, other_token) == []


def data(body: dict[str, Any]) -> dict[str, Any]:
    inner: dict[str, Any] = body["data"]
    return inner


def transaction(body: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = data(body)["result"]["transactions"][0]
    return first


BREAKING_CHANGES: dict[str, tuple[Callable[[dict[str, Any]], object], str, str]] = {
    "member removed": (
        lambda b: data(b).pop("customer_id"),
        "member-removed",
        "$.data.customer_id",
    ),
    "member type changed": (
        lambda b: data(b).update(fulfilled="yes"),
        "type-changed",
        "$.data.fulfilled",
    ),
    "enum value renamed": (
        lambda b: data(b).update(status="DONE"),
        "enum-value-removed",
        "$.data.status",
    ),
    "nested member removed in a transaction": (
        lambda b: transaction(b).pop("type"),
        "member-removed",
        "$.data.result.transactions[*].type",
    ),
    "timestamp into another string format": (
        lambda b: data(b).update(issued_at="01/02/2024 10:00"),
        "format-changed",
        "$.data.issued_at",
    ),
    "timestamp without its zone": (
        lambda b: transaction(b).update(created_at="2024-01-02T10:00:00"),
        "format-changed",
        "$.data.result.transactions[*].created_at",
    ),
    "timestamp into a number": (
        lambda b: data(b).update(resolved_at=1704189600),
        "type-changed",
        "$.data.resolved_at",
    ),
    "uuid id into a number": (lambda b: data(b).update(id=42), "type-changed", "$.data.id"),
    "object into an array": (lambda b: data(b).update(result=[]), "type-changed", "$.data.result"),
    "value into null where null is not allowed": (
        lambda b: data(b).update(type=None),
        "type-changed",
        "$.data.type",
    ),
}


@pytest.mark.parametrize("change", BREAKING_CHANGES, ids=list(BREAKING_CHANGES))
def test_body_change_is_breaking(change: str) -> None:
    mutate, kind, path = BREAKING_CHANGES[change]
    live_body = event_body()
    mutate(live_body)
    differences = compare(interaction(event_body()), interaction(live_body))
    assert (kind, path, "breaking") in kinds(differences)
    assert DriftReport(tuple(differences)).exit_code() == 1


def test_wallet_totals_turned_from_array_into_object_is_breaking() -> None:
    live_body = customer_body()
    wallet = data(live_body)["wallet"]
    wallet["totals"] = {total["reward_id"]: total["total"] for total in wallet["totals"]}
    recorded = interaction(customer_body(), method="GET", path="/customers/mc-1")
    differences = compare(recorded, interaction(live_body, method="GET", path="/customers/mc-2"))
    assert kinds(differences) == {("type-changed", "$.data.wallet.totals", "breaking")}
    assert "was an array, now an object" in differences[0].description


def test_status_class_change_is_breaking_and_ends_the_comparison() -> None:
    error = {"error": "not found", "details": "no such event"}
    differences = compare(interaction(event_body()), interaction(error, status=404))
    assert kinds(differences) == {("status-class-changed", "$", "breaking")}
    assert differences[0].request == "PATCH /behavior/events/{eventId}/fulfill"


def test_content_type_change_is_breaking() -> None:
    live = interaction(event_body(), content_type="text/html; charset=utf-8")
    differences = compare(interaction(event_body(), content_type="application/json"), live)
    assert kinds(differences) == {("content-type-changed", "$", "breaking")}


def test_content_type_parameters_do_not_count() -> None:
    live = interaction(event_body(), content_type="Application/JSON; charset=utf-8")
    assert compare(interaction(event_body()), live) == []


def test_body_that_is_no_longer_json_is_breaking() -> None:
    broken = Interaction("GET", "/rewards", (), 200, "application/json", None, '{"data": [')
    recorded = interaction({"data": []}, method="GET", path="/rewards")
    assert kinds(compare(recorded, broken)) == {("body-not-json", "$", "breaking")}


def test_renamed_enum_value_also_shows_the_new_value_as_additive() -> None:
    live_body = event_body()
    data(live_body)["status"] = "DONE"
    differences = compare(interaction(event_body()), interaction(live_body))
    assert kinds(differences) == {
        ("enum-value-removed", "$.data.status", "breaking"),
        ("enum-value-added", "$.data.status", "additive"),
    }
    added = next(d for d in differences if d.kind == "enum-value-added")
    assert "not one the contract declares" in added.description


def test_added_member_is_additive() -> None:
    live_body = event_body()
    transaction(live_body)["campaign_name"] = "Welcome"
    differences = compare(interaction(event_body()), interaction(live_body))
    assert kinds(differences) == {
        ("member-added", "$.data.result.transactions[*].campaign_name", "additive")
    }
    assert DriftReport(tuple(differences)).exit_code() == 0


def test_new_enum_value_is_additive() -> None:
    live_body = event_body()
    reversal = dict(transaction(live_body), type="REVERSAL", id=str(uuid.uuid4()))
    data(live_body)["result"]["transactions"].append(reversal)
    differences = compare(interaction(event_body()), interaction(live_body))
    assert kinds(differences) == {
        ("enum-value-added", "$.data.result.transactions[*].type", "additive")
    }
    assert "not one the contract declares" not in differences[0].description


def test_status_change_within_its_class_is_additive() -> None:
    differences = compare(interaction(event_body(), status=201), interaction(event_body()))
    assert kinds(differences) == {("status-changed", "$", "additive")}


def test_null_on_a_nullable_member_is_additive() -> None:
    live_body = event_body()
    data(live_body)["reversed_at"] = timestamp()
    data(live_body)["resolved_at"] = None
    differences = compare(interaction(event_body()), interaction(live_body))
    assert kinds(differences) == {
        ("nullability-changed", "$.data.reversed_at", "additive"),
        ("nullability-changed", "$.data.resolved_at", "additive"),
    }


def test_opaque_string_that_now_looks_like_a_uuid_is_additive() -> None:
    recorded = interaction({"data": {"brand_id": "brand-main"}})
    live = interaction({"data": {"brand_id": str(uuid.uuid4())}})
    assert kinds(compare(recorded, live)) == {("format-changed", "$.data.brand_id", "additive")}


def test_an_empty_array_on_one_side_is_not_compared_item_by_item() -> None:
    recorded = interaction({"data": [{"id": "r-1", "type": "ACCUMULATION"}]})
    assert compare(recorded, interaction({"data": []})) == []
    assert compare(interaction({"data": []}), recorded) == []


def test_array_items_are_compared_as_the_union_of_their_shapes() -> None:
    items = [{"id": 1, "note": "x"}, {"id": 2}]
    reordered = [{"id": 3}, {"id": 4, "note": "y"}, {"id": 5}]
    assert compare(interaction({"data": items}), interaction({"data": reordered})) == []
    gone = interaction({"data": [{"id": 6}]})
    assert kinds(compare(interaction({"data": items}), gone)) == {
        ("member-removed", "$.data[*].note", "breaking")
    }


def test_odd_member_names_get_bracketed_json_paths() -> None:
    differences = compare(interaction({"data": {"x-y": 1}}), interaction({"data": {}}))
    assert [d.path for d in differences] == ["$.data['x-y']"]


def test_default_hints_come_from_the_contract_schemas() -> None:
    live_body = event_body()
    data(live_body)["status"] = "FINISHED"
    differences = compare_interactions(interaction(event_body()), interaction(live_body))
    assert ("enum-value-removed", "$.data.status", "breaking") in kinds(differences)


# --- cassettes and folders -------------------------------------------------------


def scenario(customer: str, event: str) -> Cassette:
    steps = [
        interaction(event_body(), method="POST", path="/behavior/events", status=201),
        interaction(event_body(), path=f"/behavior/events/{event}/fulfill"),
        interaction(customer_body(), method="GET", path=f"/customers/{customer}"),
        interaction(event_body(), method="POST", path=f"/behavior/events/{event}/reverse"),
        interaction(customer_body(), method="GET", path=f"/customers/{customer}"),
    ]
    return Cassette("test_flows/test_reverse", Path("x.yaml"), tuple(steps))


def test_same_scenario_with_other_ids_pairs_up_with_no_difference() -> None:
    recorded = scenario("mc-1a2b3c4d5e", str(uuid.uuid4()))
    live = scenario("mc-9f8e7d6c5b", str(uuid.uuid4()))
    assert compare_cassettes(recorded, live, HINTS) == []


def test_missing_and_extra_live_interactions_are_differences() -> None:
    recorded = scenario("mc-1", "e-1")
    live = scenario("mc-2", "e-2")
    shorter = Cassette(live.name, live.path, live.interactions[:4])
    differences = compare_cassettes(recorded, shorter, HINTS)
    assert kinds(differences) == {("interaction-missing", "$", "breaking")}
    assert differences[0].request == "GET /customers/{id}"
    assert differences[0].test == "test_flows/test_reverse"
    longer = Cassette(live.name, live.path, (*live.interactions, live.interactions[2]))
    assert kinds(compare_cassettes(recorded, longer, HINTS)) == {
        ("interaction-added", "$", "additive")
    }


def test_a_nested_change_is_found_at_the_right_step() -> None:
    recorded, live = scenario("mc-1", "e-1"), scenario("mc-2", "e-2")
    changed = copy.deepcopy(live.interactions[4].body)
    data(changed)["wallet"].pop("totals")
    steps = (*live.interactions[:4], interaction(changed, method="GET", path="/customers/mc-2"))
    differences = compare_cassettes(recorded, Cassette(live.name, live.path, steps), HINTS)
    assert [(d.request, d.path, d.kind) for d in differences] == [
        ("GET /customers/{id}", "$.data.wallet.totals", "member-removed")
    ]


def write_cassette(path: Path, answers: list[tuple[str, str, int, Any]]) -> None:
    interactions = [
        {
            "request": {"method": method, "uri": f"http://h{uri}", "body": None, "headers": {}},
            "response": {
                "status": {"code": status, "message": ""},
                "headers": {"Content-Type": ["application/json"]},
                "body": {"string": json.dumps(body)},
            },
        }
        for method, uri, status, body in answers
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))


def test_compare_folders_pairs_cassettes_by_name(tmp_path: Path) -> None:
    recorded, live = tmp_path / "recorded", tmp_path / "live"
    rewards = [("GET", "/v1/rewards?from=0", 200, {"data": [{"id": "r", "type": "POINTS"}]})]
    write_cassette(recorded / "test_m" / "test_same.yaml", rewards)
    write_cassette(live / "test_m" / "test_same.yaml", rewards)
    write_cassette(recorded / "test_m" / "test_gone.yaml", rewards)
    write_cassette(live / "test_m" / "test_new.yaml", rewards)
    changed = [("GET", "/v1/rewards?from=0", 200, {"data": {"id": "r"}})]
    write_cassette(recorded / "test_n" / "test_changed.yaml", rewards)
    write_cassette(live / "test_n" / "test_changed.yaml", changed)

    report = compare_folders(recorded, live, base_path="/v1", hints=HINTS)
    assert {(d.test, d.kind, d.classification) for d in report.differences} == {
        ("test_m/test_gone", "cassette-missing", "breaking"),
        ("test_m/test_new", "cassette-added", "additive"),
        ("test_n/test_changed", "type-changed", "breaking"),
    }
    assert next(d.request for d in report.breaking if d.kind == "type-changed") == "GET /rewards"


# --- the report --------------------------------------------------------------------


def sample_report() -> DriftReport:
    return DriftReport(
        (
            Difference("m/test_b", "GET /rewards", "$.data", "member-added", "additive", "new x"),
            Difference(
                "m/test_a",
                "GET /rewards",
                "$.data.id",
                "member-removed",
                "breaking",
                "member `id` is gone",
            ),
            Difference(
                "m/test_b",
                "GET /rewards",
                "$",
                "status-class-changed",
                "breaking",
                "status 200 became 500",
            ),
        )
    )


def test_report_json_lists_breaking_and_additive_with_counts() -> None:
    document = json.loads(sample_report().to_json())
    assert document["summary"] == {"breaking": 2, "additive": 1, "groups": 3}
    assert [(g["classification"], g["kind"], g["count"]) for g in document["groups"]] == [
        ("breaking", "status-class-changed", 1),
        ("breaking", "member-removed", 1),
        ("additive", "member-added", 1),
    ]
    assert [d["test"] for d in document["breaking"]] == ["m/test_a", "m/test_b"]
    assert document["additive"][0] == {
        "test": "m/test_b",
        "request": "GET /rewards",
        "path": "$.data",
        "kind": "member-added",
        "classification": "additive",
        "description": "new x",
    }


def drifted(test: str, request: str, path: str, kind: str, text: str = "") -> Difference:
    classification: Classification = "additive" if kind.endswith("added") else "breaking"
    return Difference(test, request, path, kind, classification, text or kind)


def test_groups_gather_one_change_seen_in_many_scenarios_and_steps() -> None:
    totals = "$.data.wallet.totals"
    differences = [
        drifted("m/test_a", "GET /customers/{id}", totals, "member-removed", "gone"),
        drifted("m/test_a", "GET /customers/{id}", totals, "member-removed", "gone"),
        drifted("m/test_b", "GET /customers/{id}", totals, "member-removed", "gone"),
        drifted("m/test_c", "POST /behavior/events", totals, "member-removed", "gone too"),
        drifted("m/test_b", "GET /rewards", "$.data[*].x", "member-added"),
        drifted("m/test_c", "GET /rewards", "$.data[*].status", "enum-value-removed"),
        drifted("m/test_a", "GET /rewards", "$.data[*].status", "enum-value-removed"),
        # Same path, another kind: another change.
        drifted("m/test_a", "GET /customers/{id}", totals, "type-changed"),
    ]
    groups = group_differences(differences)
    assert [(g.classification, g.path, g.kind, g.count) for g in groups] == [
        ("breaking", totals, "member-removed", 4),
        ("breaking", "$.data[*].status", "enum-value-removed", 2),
        ("breaking", totals, "type-changed", 1),
        ("additive", "$.data[*].x", "member-added", 1),
    ]
    removed = groups[0]
    assert removed.scenarios == ("m/test_a", "m/test_b", "m/test_c")
    assert removed.requests == ("GET /customers/{id}", "POST /behavior/events")
    assert removed.descriptions == ("gone", "gone too")
    assert groups[1].scenarios == ("m/test_a", "m/test_c")
    assert sum(g.count for g in groups) == len(differences)
    assert DriftReport(tuple(differences)).groups == groups


def test_a_drift_report_knows_its_scenarios() -> None:
    assert sample_report().tests == ["m/test_a", "m/test_b"]
    assert DriftReport(()).groups == []


def test_report_exit_codes() -> None:
    assert sample_report().exit_code() == 1
    additive_only = DriftReport(tuple(sample_report().additive))
    assert additive_only.exit_code() == 0
    assert DriftReport(()).exit_code() == 0


# --- hints from schemas ------------------------------------------------------------


def test_hints_follow_refs_from_response_schemas_only() -> None:
    schemas = {
        "thing.response.schema.json": {
            "$id": "thing.response.schema.json",
            "type": "object",
            "properties": {"data": {"$ref": "thing.schema.json"}},
        },
        "thing.schema.json": {
            "$id": "thing.schema.json",
            "type": "object",
            "properties": {
                "state": {"$ref": "#/$defs/state"},
                "closed_at": {"type": ["string", "null"], "format": "date-time"},
                "owner": {"anyOf": [{"$ref": "thing.response.schema.json"}, {"type": "null"}]},
                "tags": {"type": "array", "items": {"enum": ["A", "B"]}},
            },
            "$defs": {"state": {"enum": ["OPEN", "CLOSED", None]}},
        },
        "thing.request.schema.json": {
            "$id": "thing.request.schema.json",
            "properties": {"mode": {"enum": ["X"]}},
        },
    }
    registry: Registry[Any] = Registry().with_resources(
        (uri, Resource.from_contents(contents, DRAFT202012)) for uri, contents in schemas.items()
    )
    hints = hints_from_registry(registry)
    assert dict(hints.enums) == {"state": {"OPEN", "CLOSED"}, "tags": {"A", "B"}}
    assert hints.nullable == {"state", "closed_at", "owner"}


def test_contract_hints_know_the_event_status_enum_and_nullable_timestamps() -> None:
    hints = contract_hints()
    assert {"PENDING", "RESOLVED", "REVERSED", "CANCELLED"} <= hints.enums["status"]
    assert {"ACCUMULATION", "REVERSAL"} <= hints.enums["type"]
    assert {"resolved_at", "reversed_at"} <= hints.nullable
    assert "customer_id" not in hints.enums


# --- text that is not valid Unicode ------------------------------------------------------


def test_lone_surrogates_are_read_as_replacement_characters_and_counted(
    tmp_path: Path,
) -> None:
    """`"\\ud800"` is valid JSON but no UTF-8 text: printing or writing it would end drift
    with a UnicodeEncodeError (exit 1, read as breaking drift). It is read as U+FFFD."""
    from masivo_conformance.reporting import report  # noqa: PLC0415 - the reports, only here

    recorded, live = tmp_path / "recorded", tmp_path / "live"
    lone = {"data": [{"id": "r", "type": "POINTS", "name": "\ud800", "x\udc00": 1}]}
    write_cassette(recorded / "test_m" / "test_a.yaml", [("GET", "/v1/rewards", 200, lone)])
    well = {"data": [{"id": "r", "type": "POINTS", "name": "ok"}]}
    write_cassette(live / "test_m" / "test_a.yaml", [("GET", "/v1/rewards", 200, well)])
    assert "\\ud800" in (recorded / "test_m" / "test_a.yaml").read_text()  # as JSON escapes

    drift = compare_folders(recorded, live, base_path="/v1", hints=HINTS)

    assert drift.replaced == 2
    assert [(d.path, d.kind) for d in drift.differences] == [
        ("$.data[*]['x\ufffd']", "member-removed")
    ]
    assert "2 lone surrogate(s)" in drift.notes[0]
    document = json.loads(report.drift_json(drift))
    assert document["notes"] == drift.notes
    for text in (
        report.render_drift_text(drift),
        report.render_drift_markdown(drift),
        report.render_drift_html(drift),
    ):
        text.encode("utf-8")  # strict, as stdout and write_text(encoding="utf-8") are
    written = report.write_drift_reports(drift, tmp_path / "reports")
    assert len(written) == 3
    assert drift.exit_code() == 1  # for the member that is gone, not for a crash


def test_a_cassette_file_name_that_is_not_utf8_is_named_printably(tmp_path: Path) -> None:
    recorded, live = tmp_path / "recorded", tmp_path / "live"
    rewards: list[tuple[str, str, int, Any]] = [("GET", "/v1/rewards", 200, {"data": []})]
    odd = os.fsdecode(b"test_\xff.yaml")  # a surrogate escape in the str of the path
    write_cassette(recorded / "test_m" / odd, rewards)
    (live / "test_m").mkdir(parents=True)
    drift = compare_folders(recorded, live, base_path="/v1", hints=HINTS)
    assert [d.test for d in drift.differences] == ["test_m/test_\ufffd"]
    assert json.loads(drift.to_json())["breaking"][0]["test"] == "test_m/test_\ufffd"


def test_an_answer_nested_beyond_the_parser_is_not_json_rather_than_a_traceback(
    tmp_path: Path,
) -> None:
    recorded, live = tmp_path / "recorded", tmp_path / "live"
    write_cassette(recorded / "test_m" / "test_a.yaml", [("GET", "/v1/rewards", 200, {"data": []})])
    path = live / "test_m" / "test_a.yaml"
    write_cassette(path, [("GET", "/v1/rewards", 200, "PLACEHOLDER")])
    deep = "[" * 100_000 + "]" * 100_000  # valid JSON that json.loads cannot recurse through
    path.write_text(path.read_text().replace("'\"PLACEHOLDER\"'", f"'{deep}'"))
    drift = compare_folders(recorded, live, base_path="/v1", hints=HINTS)
    assert [d.kind for d in drift.differences] == ["body-not-json"]
