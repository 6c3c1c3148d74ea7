"""The JSON Schemas of the contract: well-formed, linked, and as strict as the docs."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from masivo_conformance import contract

FIXTURES = Path(__file__).parents[1] / "fixtures"
SCHEMA_FILES = sorted(p.name for p in contract.schemas_dir().glob("*.schema.json"))

#: Docs fixture -> the schema its whole body must match.
DOCS_BODIES = {
    "fulfill-event.response.json": "fulfill-event.response.schema.json",
    "reverse-event.request.json": "reverse-event.request.schema.json",
    "reverse-event.response.json": "reverse-event.response.schema.json",
    "preview-order.request.json": "preview-order.request.schema.json",
    "preview-order.response.json": "preview-order.response.schema.json",
}

#: Hand-written fixtures in tests/fixtures/payloads are named after their schema.
PAYLOADS = sorted(p.name for p in (FIXTURES / "payloads").glob("*.json"))


def load(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


def iter_refs(node: Any) -> Iterator[str]:
    """Every `$ref` value anywhere in a JSON/YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from iter_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)


def unresolved_refs(registry: Registry[Any], base: str) -> list[str]:
    """The `$ref`s of resource `base` that cannot be looked up from it."""
    resolver = registry.resolver(base_uri=base)
    broken = []
    for ref in iter_refs(registry.contents(base)):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            broken.append(ref)
    return broken


def with_openapi(registry: Registry[Any]) -> Registry[Any]:
    """The schema registry plus openapi.yaml, so its `./x.schema.json` and `#/...` resolve."""
    document = yaml.safe_load(contract.openapi_path().read_text(encoding="utf-8"))
    resource: Resource[Any] = DRAFT202012.create_resource(document)
    extended: Registry[Any] = registry.with_resource("openapi.yaml", resource)
    return extended


# -- well-formed and linked ------------------------------------------------------------


def test_schema_folder_holds_every_contract_schema() -> None:
    concepts = [
        "event",
        "order",
        "line",
        "transaction",
        "gift-card",
        "reward",
        "redeem-item",
        "redemptions-result",
        "product",
        "shipping",
        "customer",
        "wallet",
        "error",
    ]
    operations = [
        "authorize",
        "create-customer",
        "get-customer",
        "list-rewards",
        "list-transactions",
        "emit-event",
        "fulfill-event",
        "reverse-event",
        "preview-order",
    ]
    requests = ["create-customer", "emit-event", "reverse-event", "preview-order"]
    expected = {f"{c}.schema.json" for c in concepts}
    expected |= {f"{o}.response.schema.json" for o in operations}
    expected |= {f"{r}.request.schema.json" for r in requests}
    assert expected <= set(SCHEMA_FILES), sorted(expected - set(SCHEMA_FILES))


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_is_valid_2020_12_with_id_equal_to_file_name(name: str) -> None:
    contents = json.loads((contract.schemas_dir() / name).read_text(encoding="utf-8"))
    assert contents["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert contents["$id"] == name
    Draft202012Validator.check_schema(contents)


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_refs_all_resolve(name: str) -> None:
    assert unresolved_refs(contract.registry(), name) == []


def test_openapi_refs_all_resolve() -> None:
    registry = with_openapi(contract.registry())
    refs = list(iter_refs(registry.contents("openapi.yaml")))
    assert any(ref.startswith("./") for ref in refs), "bodies must be refs to schema files"
    assert unresolved_refs(registry, "openapi.yaml") == []


def test_ref_walk_reports_a_dangling_ref() -> None:
    # The walker itself must be able to fail, or the two tests above prove nothing.
    broken = Resource.from_contents(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "broken.schema.json",
            "properties": {
                "a": {"$ref": "missing.schema.json"},
                "b": {"$ref": "event.schema.json"},
            },
        },
        DRAFT202012,
    )
    registry = contract.registry().with_resource("broken.schema.json", broken)
    assert unresolved_refs(registry, "broken.schema.json") == ["missing.schema.json"]


# -- documented examples and hand-written payloads are valid -----------------------------


@pytest.mark.parametrize(("fixture", "schema_name"), sorted(DOCS_BODIES.items()))
def test_docs_example_validates(fixture: str, schema_name: str) -> None:
    assert contract.validate(schema_name, load(f"docs/{fixture}")) == []


@pytest.mark.parametrize("fixture", ["fulfill-event.response.json", "reverse-event.response.json"])
def test_docs_event_validates_as_event(fixture: str) -> None:
    assert contract.validate("event.schema.json", load(f"docs/{fixture}")["data"]) == []


@pytest.mark.parametrize(
    "order",
    [
        load("docs/preview-order.request.json")["order"],
        load("docs/preview-order.response.json")["data"]["order"],
        load("payloads/emit-event.request.json")["order"],
    ],
    ids=["preview-request", "preview-response", "emit-request"],
)
def test_order_examples_validate_as_order(order: Any) -> None:
    assert contract.validate("order.schema.json", order) == []


@pytest.mark.parametrize("fixture", PAYLOADS)
def test_payload_fixture_validates(fixture: str) -> None:
    schema_name = fixture.removesuffix(".json") + ".schema.json"
    assert contract.validate(schema_name, load(f"payloads/{fixture}")) == []


def test_event_tolerates_unknown_members_and_empty_result() -> None:
    # A new response field is not a break; result is {} until the event is processed.
    event = {
        "id": "5d8c2a10-3f4e-4c7b-8a9d-0e1f2a3b4c5d",
        "customer_id": "c-1",
        "type": "MY_CUSTOM_TYPE",
        "status": "RESOLVED",
        "result": {},
        "brand_new_field": {"x": 1},
        "reversed_at": None,
    }
    assert contract.validate("event.schema.json", event) == []


def test_format_checking_really_runs() -> None:
    # Without jsonschema's format extras a bad date-time or uuid passes silently.
    checker = contract.validator("event.schema.json").format_checker
    assert checker is not None
    assert {"date-time", "uuid"} <= set(checker.checkers), "install jsonschema[format]"
    event = load("docs/fulfill-event.response.json")["data"]
    event["issued_at"] = "2023-11-07 05:31"
    assert [v.path for v in contract.validate("event.schema.json", event)] == ["$.issued_at"]


def test_bare_event_at_top_level_is_not_an_emit_answer() -> None:
    # GEN-1: the event must be wrapped in data; its own `data` member is not an Event.
    bare = load("docs/fulfill-event.response.json")["data"]
    violations = contract.validate("emit-event.response.schema.json", bare)
    assert {v.path for v in violations} == {"$.data"}
    assert any("'id' is a required property" in v.message for v in violations)


# -- one defect each, named by its path --------------------------------------------------

DELETE = object()


def mutate(document: Any, path: tuple[str | int, ...], value: object) -> Any:
    """A deep copy of `document` with the member at `path` replaced (or removed by DELETE)."""
    result = copy.deepcopy(document)
    parent = result
    for step in path[:-1]:
        parent = parent[step]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return result


FUL = ("docs/fulfill-event.response.json", "fulfill-event.response.schema.json")
PRV = ("docs/preview-order.response.json", "preview-order.response.schema.json")
PRQ = ("docs/preview-order.request.json", "preview-order.request.schema.json")
CUS = ("payloads/get-customer.response.json", "get-customer.response.schema.json")
EMT = ("payloads/emit-event.request.json", "emit-event.request.schema.json")
RWD = ("payloads/list-rewards.response.json", "list-rewards.response.schema.json")
TRX = ("payloads/list-transactions.response.json", "list-transactions.response.schema.json")
ERR = ("payloads/error.json", "error.schema.json")
TX0 = ("data", "result", "transactions", 0)
ORD = ("data", "order")
ORR = ("data", "order", "redemptions_result")

# (case id, (fixture, schema), path to change, new value, json_path the violation names)
# fmt: off
DEFECTS: list[tuple[str, tuple[str, str], tuple[str | int, ...], object, str]] = [
    ("status-lower-case", FUL, ("data", "status"), "pending", "$.data.status"),
    ("status-unknown", FUL, ("data", "status"), "DONE", "$.data.status"),
    ("issued-at-not-rfc3339", FUL, ("data", "issued_at"), "2023-11-07 05:31", "$.data.issued_at"),
    ("resolved-at-words", FUL, ("data", "resolved_at"), "yesterday", "$.data.resolved_at"),
    ("event-id-not-uuid", FUL, ("data", "id"), "evt-1", "$.data.id"),
    ("event-id-missing", FUL, ("data", "id"), DELETE, "$.data"),
    ("status-missing", FUL, ("data", "status"), DELETE, "$.data"),
    ("fulfilled-as-string", FUL, ("data", "fulfilled"), "true", "$.data.fulfilled"),
    ("reserve-as-string", FUL, ("data", "reserve"), "1", "$.data.reserve"),
    ("type-as-number", FUL, ("data", "type"), 42, "$.data.type"),
    ("campaigns-placeholder", FUL, ("data", "rewarding_campaigns"), "<array>",
     "$.data.rewarding_campaigns"),
    ("transaction-type-unknown", FUL, (*TX0, "type"), "REFUND",
     "$.data.result.transactions[0].type"),
    ("reward-type-lower-case", FUL, (*TX0, "reward_type"), "points",
     "$.data.result.transactions[0].reward_type"),
    ("transaction-amount-string", FUL, (*TX0, "amount"), "123",
     "$.data.result.transactions[0].amount"),
    ("line-date-bad", FUL, (*TX0, "attributes", "line", "expiration_date"), "never",
     "$.data.result.transactions[0].attributes.line.expiration_date"),
    ("accumulation-reward-not-uuid", FUL, ("data", "result", "accumulations", 0, "reward_id"),
     "abc", "$.data.result.accumulations[0].reward_id"),
    ("gift-card-date-us-style", FUL, ("data", "result", "gift_card", 0, "rewarded_at"),
     "11/07/2023", "$.data.result.gift_card[0].rewarded_at"),
    ("result-not-object", FUL, ("data", "result"), [], "$.data.result"),
    ("discount-percent-above-one", PRV, (*ORR, "discount_percent"), 1.5,
     "$.data.order.redemptions_result.discount_percent"),
    ("discount-value-negative", PRV, (*ORR, "discount_value"), -1,
     "$.data.order.redemptions_result.discount_value"),
    ("action-delete", PRV, (*ORR, "action"), "DELETE", "$.data.order.redemptions_result.action"),
    ("shipping-action-lower", PRV, (*ORD, "shipping", "redemptions_result", "action"), "update",
     "$.data.order.shipping.redemptions_result.action"),
    ("products-not-array", PRV, (*ORD, "products"), {"sku": "A"}, "$.data.order.products"),
    ("redeem-amount-string", PRV, (*ORD, "products", 0, "redeem", 0, "amount"), "1",
     "$.data.order.products[0].redeem[0].amount"),
    ("redeemed-id-not-uuid", PRV, (*ORD, "products", 0, "redemptions_result", "redeemed", 0, "id"),
     "reward-1", "$.data.order.products[0].redemptions_result.redeemed[0].id"),
    ("payment-method-lower", PRV, (*ORD, "payment_method"), "credit",
     "$.data.order.payment_method"),
    ("preview-brand-missing", PRV, ("data", "brand_id"), DELETE, "$.data"),
    ("preview-request-order-missing", PRQ, ("order",), DELETE, "$"),
    ("preview-request-customer-empty", PRQ, ("customer_id",), "", "$.customer_id"),
    ("preview-request-redeem-id", PRQ, ("order", "redeem", 0, "id"), "x", "$.order.redeem[0].id"),
    ("wallet-totals-object", CUS, ("data", "wallet", "totals"), {"reward-id-1": 450},
     "$.data.wallet.totals"),
    ("wallet-total-string", CUS, ("data", "wallet", "totals", 0, "total"), "20",
     "$.data.wallet.totals[0].total"),
    ("customer-status-lower", CUS, ("data", "customer", "status"), "active",
     "$.data.customer.status"),
    ("customer-gender-unknown", CUS, ("data", "customer", "gender"), "OTHER",
     "$.data.customer.gender"),
    ("wallet-missing", CUS, ("data", "wallet"), DELETE, "$.data"),
    ("emit-type-missing", EMT, ("type",), DELETE, "$"),
    ("emit-issued-at-date-only", EMT, ("issued_at",), "2026-03-25", "$.issued_at"),
    ("emit-fulfilled-string", EMT, ("fulfilled",), "yes", "$.fulfilled"),
    ("emit-reserve-negative", EMT, ("reserve",), -1, "$.reserve"),
    ("reward-type-unknown", RWD, ("data", 0, "type"), "COUPON", "$.data[0].type"),
    ("condition-primitive-unknown", RWD, ("data", 0, "conditions", 0, 0, "primitive"), "date",
     "$.data[0].conditions[0][0].primitive"),
    ("listed-transaction-type-lower", TRX, ("data", 1, "type"), "reversal", "$.data[1].type"),
    ("error-details-missing", ERR, ("details",), DELETE, "$"),
    ("error-as-number", ERR, ("error",), 500, "$.error"),
]
# fmt: on


@pytest.mark.parametrize(
    ("target", "path", "value", "expected_path"),
    [pytest.param(t, p, v, e, id=case_id) for case_id, t, p, v, e in DEFECTS],
)
def test_single_defect_is_rejected_at_its_path(
    target: tuple[str, str], path: tuple[str | int, ...], value: object, expected_path: str
) -> None:
    fixture, schema_name = target
    document = load(fixture)
    assert contract.validate(schema_name, document) == [], "the base fixture must be valid"
    violations = contract.validate(schema_name, mutate(document, path, value))
    assert [v.path for v in violations] == [expected_path], violations
