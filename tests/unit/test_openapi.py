"""The OpenAPI document: valid 3.1, the nine operations, and links schemathesis can follow."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate as validate_openapi
from schemathesis.specs.openapi.stateful import collect_transitions

from masivo_conformance import contract

#: operationId -> (method, path, success code as CONTRACT.md section 2 documents it)
OPERATIONS = {
    "authorize": ("GET", "/auth/authorize", "200"),
    "create_customer": ("POST", "/customers", "2XX"),
    "get_customer": ("GET", "/customers/{id}", "200"),
    "list_rewards": ("GET", "/rewards", "200"),
    "list_transactions": ("GET", "/transactions", "200"),
    "emit_event": ("POST", "/behavior/events", "2XX"),
    "fulfill_event": ("PATCH", "/behavior/events/{eventId}/fulfill", "200"),
    "reverse_event": ("POST", "/behavior/events/{eventId}/reverse", "2XX"),
    "preview_order": ("PUT", "/events/redeem/preview", "200"),
}
WITH_BODY = {"create_customer", "emit_event", "reverse_event", "preview_order"}


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(contract.openapi_path().read_text(encoding="utf-8"))
    return loaded


def operation(operation_id: str) -> dict[str, Any]:
    method, path, _ = OPERATIONS[operation_id]
    found: dict[str, Any] = document()["paths"][path][method.lower()]
    return found


def test_document_is_valid_openapi_3_1() -> None:
    spec = document()
    validate_openapi(spec, base_uri=contract.openapi_path().as_uri())
    assert spec["openapi"] == "3.1.0"
    assert spec["servers"] == [{"url": "https://app.masivo.ai/api/storefront/v1"}]
    assert spec["security"] == [{"bearerAuth": []}]
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_operation_is_where_the_contract_says(operation_id: str) -> None:
    assert operation(operation_id)["operationId"] == operation_id


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_operation_answers_are_refs_to_schema_files(operation_id: str) -> None:
    responses = operation(operation_id)["responses"]
    success = OPERATIONS[operation_id][2]
    file_name = operation_id.replace("_", "-") + ".response.schema.json"
    body = responses[success]["content"]["application/json"]["schema"]
    assert body == {"$ref": f"./{file_name}"}
    assert set(responses) == {success, "4XX", "429"}
    assert responses["4XX"] == {"$ref": "#/components/responses/Error"}
    assert responses["429"] == {"$ref": "#/components/responses/TooManyRequests"}
    assert set(responses[success]["headers"]) == {
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
    }


@pytest.mark.parametrize("operation_id", sorted(WITH_BODY))
def test_request_body_is_a_ref_to_its_schema_file(operation_id: str) -> None:
    body = operation(operation_id)["requestBody"]
    file_name = operation_id.replace("_", "-") + ".request.schema.json"
    assert body["required"] is True
    assert body["content"] == {"application/json": {"schema": {"$ref": f"./{file_name}"}}}


def test_error_and_rate_limit_answers() -> None:
    responses = document()["components"]["responses"]
    assert responses["Error"]["content"]["application/json"]["schema"] == {
        "$ref": "./error.schema.json"
    }
    retry_after = responses["TooManyRequests"]["headers"]["Retry-After"]
    assert retry_after == {"$ref": "#/components/headers/Retry-After"}
    # GEN-5 is a SHOULD: no header may be required, or schemathesis would make it a MUST.
    for header in document()["components"]["headers"].values():
        assert not header.get("required", False)


def test_authorize_takes_the_api_key_and_no_bearer() -> None:
    authorize = operation("authorize")
    assert authorize["security"] == []
    assert authorize["parameters"] == [
        {
            "name": "x-api-key",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
        }
    ]
    others = [operation(o) for o in OPERATIONS if o != "authorize"]
    assert all("security" not in o for o in others), "the others use the global bearer"


def test_list_rewards_requires_the_record_window() -> None:
    parameters = {p["name"]: p for p in operation("list_rewards")["parameters"]}
    assert set(parameters) == {"from", "to", "brand_id", "type"}
    for name in ("from", "to"):
        assert parameters[name]["required"] is True
        assert parameters[name]["schema"] == {"type": "integer", "minimum": 0}


def test_list_transactions_filters() -> None:
    parameters = {p["name"]: p for p in operation("list_transactions")["parameters"]}
    assert set(parameters) == {"event_id", "type", "brand_id", "reward_id", "date"}
    assert not any(p.get("required", False) for p in parameters.values())
    assert "REVERSAL" in parameters["type"]["schema"]["enum"]


def load_with_schemathesis() -> Any:
    return schemathesis.openapi.from_path(str(contract.openapi_path()))


def test_schemathesis_loads_all_nine_operations() -> None:
    schema = load_with_schemathesis()
    loaded = [result.ok() for result in schema.get_all_operations()]
    found = {op.definition.raw["operationId"]: (op.method.upper(), op.path) for op in loaded}
    assert found == {k: (m, p) for k, (m, p, _) in OPERATIONS.items()}


def test_schemathesis_sees_the_declared_links() -> None:
    schema = load_with_schemathesis()
    operations = [result.ok() for result in schema.get_all_operations()]
    links = {
        (link.source.definition.raw["operationId"], link.name): (
            link.target.definition.raw["operationId"],
            {p.name: p.expression for p in link.parameters},
            link.body,
        )
        for entry in collect_transitions(operations).operations.values()
        for link in entry.outgoing
    }
    created = {"customer_id": "$request.body#/id"}
    event_id = {"eventId": "$response.body#/data/id"}
    assert links[("create_customer", "GetCreatedCustomer")][:2] == (
        "get_customer",
        {"id": "$request.body#/id"},
    )
    assert links[("create_customer", "EmitForCreatedCustomer")][::2] == ("emit_event", created)
    assert links[("create_customer", "PreviewForCreatedCustomer")][::2] == (
        "preview_order",
        created,
    )
    assert links[("emit_event", "FulfillEmittedEvent")][:2] == ("fulfill_event", event_id)
    assert links[("emit_event", "ReverseEmittedEvent")][:2] == ("reverse_event", event_id)
    assert len(links) == 5


@pytest.mark.parametrize("operation_id", ["emit_event", "preview_order", "create_customer"])
def test_schemathesis_generates_bodies_our_schemas_accept(operation_id: str) -> None:
    # Proves schemathesis follows the file refs (and the refs inside the files).
    api_operation = load_with_schemathesis().find_operation_by_id(operation_id)
    schema_name = operation_id.replace("_", "-") + ".request.schema.json"
    seen: list[object] = []

    @given(case=api_operation.as_strategy())
    @settings(max_examples=5, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case: Any) -> None:
        seen.append(case.body)
        assert contract.validate(schema_name, case.body) == []

    check()
    assert seen
