"""The route table: one answer to "which operation is this request" for every layer."""

from __future__ import annotations

import pytest

from masivo_conformance.contract.routes import EVENT_OPERATIONS, route_for, routes

EVENT_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def test_the_table_holds_every_operation_of_the_openapi_document() -> None:
    assert {r.operation for r in routes()} == {
        "authorize",
        "create_customer",
        "get_customer",
        "list_rewards",
        "list_transactions",
        "emit_event",
        "fulfill_event",
        "reverse_event",
        "preview_order",
    }
    assert {r.operation for r in routes()} >= EVENT_OPERATIONS


@pytest.mark.parametrize(
    ("method", "path", "operation", "params", "prefix"),
    [
        (
            "PATCH",
            f"/x/behavior/events/{EVENT_ID}/fulfill",
            "fulfill_event",
            {"eventId": EVENT_ID},
            "/x",
        ),
        (
            "post",
            f"/behavior/events/{EVENT_ID}/reverse/",
            "reverse_event",
            {"eventId": EVENT_ID},
            "",
        ),
        ("POST", "/api/storefront/v1/behavior/events", "emit_event", {}, "/api/storefront/v1"),
        (
            "GET",
            "/api/storefront/v1/customers/abc",
            "get_customer",
            {"id": "abc"},
            "/api/storefront/v1",
        ),
        ("POST", "/customers", "create_customer", {}, ""),
        ("PUT", "/events/redeem/preview", "preview_order", {}, ""),
    ],
)
def test_a_request_is_routed_by_its_path_tail(
    method: str, path: str, operation: str, params: dict[str, str], prefix: str
) -> None:
    routed = route_for(method, path)
    assert routed is not None
    assert (routed.operation, routed.params, routed.prefix) == (operation, params, prefix)


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "/customers/abc"), ("GET", "/customersx/abc"), ("GET", "/nothing/here")],
)
def test_a_request_outside_the_contract_has_no_route(method: str, path: str) -> None:
    assert route_for(method, path) is None


def test_without_a_method_the_template_is_still_found() -> None:
    routed = route_for(None, f"/v1/behavior/events/{EVENT_ID}/reverse")
    assert routed is not None
    assert routed.template_path == "/v1/behavior/events/{eventId}/reverse"
