"""The EMIT-2 defects derived from the request schemas (suite/defects.py): which members
they reach, and that each defective body breaks the schema exactly where it says."""

from __future__ import annotations

import copy

import pytest

from masivo_conformance import contract
from masivo_conformance.checks import fuzzed
from masivo_conformance.suite.defects import EMIT_SCHEMA, Defect, covering, emit_defects
from masivo_conformance.suite.payloads import purchase

DEFECTS = emit_defects()
BY_MEMBER = {d.member: d for d in DEFECTS if not d.missing}
VALID = purchase("mc-test-defects", "brand-1", value=500.0)


def test_the_valid_body_is_valid() -> None:
    assert contract.validate(EMIT_SCHEMA, VALID) == []


def test_every_required_member_is_left_out_once() -> None:
    assert [d.label for d in DEFECTS if d.missing] == ["no customer_id", "no brand_id", "no type"]


@pytest.mark.parametrize(
    ("member", "documented", "label"),
    [
        ("metadata", "object", "metadata as a string"),
        ("fulfilled", "boolean", "fulfilled as a string"),
        ("customer_id", "string", "customer_id as an array"),
        ("order.products", "array", "order.products as an object"),
        ("order.products[0]", "object", "order.products[0] as a string"),
        ("order.products[0].sku", "string", "order.products[0].sku as a number"),
        ("order.products[0].amount", "number", "order.products[0].amount as a string"),
        ("order.products[0].redeem[0].id", "string", "order.products[0].redeem[0].id as a number"),
        ("order.shipping.value", "number", "order.shipping.value as a string"),
        ("order.shipping.tags", "object", "order.shipping.tags as a string"),
        ("order.redeem[0].amount", "number", "order.redeem[0].amount as a string"),
        ("product.discounted_value", "number", "product.discounted_value as a string"),
        ("redeem", "array", "redeem as an object"),
        ("issued_at", "string", "issued_at as a number"),
    ],
)
def test_typed_members_are_found_at_every_level(member: str, documented: str, label: str) -> None:
    defect = BY_MEMBER[member]
    assert defect.documented == documented
    assert defect.label == label


def test_untyped_and_read_only_members_are_left_alone() -> None:
    # payment_method is an enum without a type; redemptions_result is set by the server
    assert not [m for m in BY_MEMBER if m.endswith(("payment_method", "redemptions_result"))]


@pytest.mark.parametrize("defect", DEFECTS, ids=lambda d: d.label)
def test_each_body_breaks_the_schema_once_where_the_defect_is(defect: Defect) -> None:
    before = copy.deepcopy(VALID)
    body = defect.apply(VALID)
    assert before == VALID  # applied to a copy
    errors = list(contract.validator(EMIT_SCHEMA).iter_errors(body))
    assert len(errors) == 1, [e.message for e in errors]
    if defect.missing:
        assert errors[0].validator == "required"
    else:
        assert errors[0].validator == "type"
        assert tuple(errors[0].absolute_path) == defect.path
        assert errors[0].instance is not None  # a null for an optional member obliges nothing
    assert fuzzed.must_refuse("emit_event", body) == "EMIT-2"


def test_customer_id_is_never_sent_as_another_customers_id() -> None:
    assert BY_MEMBER["customer_id"].apply(VALID)["customer_id"] == ["mc-test-defects"]


def test_the_budget_subset_covers_every_documented_type_at_every_level() -> None:
    subset = covering(DEFECTS)
    wrong = [d for d in DEFECTS if not d.missing]
    assert {(d.level, d.documented) for d in subset if not d.missing} == {
        (d.level, d.documented) for d in wrong
    }
    assert len({(d.level, d.documented) for d in wrong}) == len(subset) - 3
    assert "metadata" in {d.member for d in subset}
    assert {d.level for d in subset} >= {"", "order", "order.products[0]", "order.shipping"}
