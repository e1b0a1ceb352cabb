"""Contract changelogs and the consumer contracts a product schema change breaks, each with a
severity judged from the consumer's side: removed or weakened promises are errors."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CONFORMANCE
from meshfabric.contracts.changelog import (
    ContractBreak,
    breaking_for_consumers,
    contract_changes,
    fits,
    type_relation,
)
from meshfabric.contracts.generate import generate_contract
from meshfabric.contracts.odcs import Contract, dump_contract, load_contract
from meshfabric.types import parse_type

ODCS = CONFORMANCE / "odcs"
NOW = datetime(2025, 1, 15, tzinfo=UTC)

COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "type": "integer", "nullable": False, "primary_key": True, "classification": []},
    {"name": "amount", "type": "decimal(10,2)", "nullable": False, "classification": []},
    {"name": "email", "type": "string", "nullable": True, "classification": []},
    {"name": "placed_on", "type": "date", "nullable": False, "classification": []},
]


def product(columns: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "fqn": "sales.orders", "owner": "ana", "description": "Orders", "status": "published", "version": "1.0.0",
        "output": {"source": "shop", "table": "orders"}, "columns": columns if columns is not None else COLUMNS,
        **extra,
    }  # fmt: skip


def contract_for(consumer: str = "marketing", requirements: dict[str, float] | None = None, **kw: Any) -> Contract:
    return generate_contract(product(**kw), consumer, requirements, now=NOW)


def edited(contract: Contract, change: Any) -> Contract:
    doc = copy.deepcopy(contract.doc)
    change(doc)
    return Contract(doc)


def kinds(changes: list[Any]) -> dict[str, str]:
    return {f"{c.change} {getattr(c, 'path', None) or getattr(c, 'column', None)}": c.severity for c in changes}


# ---------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    ("promised", "actual", "relation"),
    [
        ("integer", "integer", "same"),
        ("bigint", "integer", "narrower"),
        ("integer", "bigint", "wider"),
        ("tinyint", "bigint", "wider"),
        ("float", "double", "wider"),
        ("timestamp", "date", "narrower"),
        ("decimal(10,2)", "decimal(12,2)", "wider"),
        ("decimal(12,2)", "decimal(10,2)", "narrower"),
        ("decimal(10,2)", "decimal(10,3)", "incompatible"),
        ("decimal", "decimal(10,2)", "narrower"),
        ("varchar(10)", "string", "same"),
        ("integer", "string", "incompatible"),
        ("double", "decimal(10,2)", "incompatible"),
        ("list<integer>", "list<bigint>", "incompatible"),
    ],
)
def test_type_relation(promised: str, actual: str, relation: str) -> None:
    assert type_relation(parse_type(promised), parse_type(actual)) == relation


@given(st.sampled_from(["tinyint", "smallint", "integer", "bigint", "float", "double", "date", "timestamp", "string"]))
def test_every_type_fits_itself(name: str) -> None:
    assert fits(parse_type(name), parse_type(name))


# ---------------------------------------------------------------------------- contract_changes


def test_no_change_no_entries() -> None:
    c = contract_for()
    assert contract_changes(c, c) == []
    assert contract_changes(c, Contract(copy.deepcopy(c.doc))) == []


@settings(max_examples=30, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "availability": st.floats(0, 1),
            "latency": st.integers(1, 10**6),
            "freshness": st.integers(1, 10**6),
        },
    )
)
def test_a_contract_never_differs_from_itself(requirements: dict[str, float]) -> None:
    c = contract_for(requirements=requirements)
    assert contract_changes(c, load_contract(dump_contract(c))) == []


def test_schema_changes_between_generated_versions() -> None:
    old = contract_for()
    new_columns = [
        {"name": "id", "type": "bigint", "nullable": False, "primary_key": True},  # widened
        {"name": "amount", "type": "string", "nullable": True},  # incompatible, nullable now
        {"name": "placed_on", "type": "date", "nullable": False, "classification": ["pii"]},  # classified
        {"name": "note", "type": "string", "nullable": True},  # added
    ]  # email removed
    new = generate_contract(product(new_columns, version="2.0.0"), "marketing", now=NOW)
    found = kinds(contract_changes(old, new))
    assert found == {
        "TYPE_WIDENED schema.orders.id": "warning",
        "TYPE_CHANGED schema.orders.amount": "error",
        "REQUIRED_RELAXED schema.orders.amount.required": "error",
        "PROPERTY_REMOVED schema.orders.email": "error",
        "CLASSIFICATION_CHANGED schema.orders.placed_on.classification": "warning",
        "PROPERTY_ADDED schema.orders.note": "info",
        "VERSION_CHANGED version": "info",
    }


def test_tightening_is_info() -> None:
    old = contract_for(columns=[{"name": "id", "type": "bigint", "nullable": True}])
    new = contract_for(
        columns=[{"name": "id", "type": "integer", "nullable": False, "primary_key": True}], version="1.1"
    )
    found = kinds(contract_changes(old, new))
    assert found == {
        "TYPE_NARROWED schema.orders.id": "info",
        "REQUIRED_TIGHTENED schema.orders.id.required": "info",
        "PRIMARYKEY_ADDED schema.orders.id.primaryKey": "info",
        "VERSION_CHANGED version": "info",
    }


def test_sla_weakened_is_an_error_and_strengthened_is_info() -> None:
    old = contract_for(requirements={"availability": 0.999, "freshness": 60_000})
    new = contract_for(requirements={"latency": 500, "freshness": 120_000}, version="1.1.0")
    found = kinds(contract_changes(old, new))
    assert found == {
        "SLA_WEAKENED slaProperties.availability": "error",
        "SLA_STRENGTHENED slaProperties.latency": "info",
        "SLA_WEAKENED slaProperties.freshness": "error",
        "VERSION_CHANGED version": "info",
    }
    removed = edited(old, lambda d: d["slaProperties"].pop())
    assert kinds(contract_changes(old, removed))["SLA_REMOVED slaProperties.freshness"] == "error"
    assert kinds(contract_changes(removed, old))["SLA_ADDED slaProperties.freshness"] == "info"


def test_sla_values_compare_in_measuring_units() -> None:
    old = contract_for()

    def in_seconds(doc: dict[str, Any]) -> None:
        doc["slaProperties"][1].update(value=1, unit="s")

    assert kinds(contract_changes(old, edited(old, in_seconds))) == {
        "SLA_REWRITTEN slaProperties.latency": "info",
        "VERSION_NOT_CHANGED version": "warning",
    }


def test_changed_content_without_a_new_version_is_a_warning() -> None:
    old = contract_for()
    new = edited(old, lambda d: d["schema"][0]["properties"][0].update(description="The order key"))
    assert kinds(contract_changes(old, new)) == {
        "DESCRIPTION_CHANGED schema.orders.id.description": "info",
        "VERSION_NOT_CHANGED version": "warning",
    }


def test_version_going_back_is_a_warning() -> None:
    old = contract_for(version="1.10.0")
    assert kinds(contract_changes(old, contract_for(version="1.9.0"))) == {"VERSION_DECREASED version": "warning"}


def test_quality_thresholds_compare_by_the_values_they_accept() -> None:
    full = load_contract(ODCS / "examples" / "all__full-example.odcs.yaml")

    def threshold(operator: str, value: Any) -> Contract:
        def change(doc: dict[str, Any]) -> None:
            rule = doc["schema"][0]["quality"][0]
            del rule["mustBeGreaterThan"]
            rule[operator] = value
            doc["version"] = "1.2.0"

        return edited(full, change)

    def verdict(new: Contract) -> tuple[str, str]:
        (change,) = [c for c in contract_changes(full, new) if c.path.startswith("quality.")]
        return change.change, change.severity

    # the rule is rowCount mustBeGreaterThan 1000000
    assert verdict(threshold("mustBeGreaterThan", 10)) == ("QUALITY_WEAKENED", "error")
    assert verdict(threshold("mustBeGreaterOrEqualTo", 1_000_000)) == ("QUALITY_WEAKENED", "error")
    assert verdict(threshold("mustBeGreaterThan", 2_000_000)) == ("QUALITY_STRENGTHENED", "info")
    assert verdict(threshold("mustBeBetween", [1_000_000, 5_000_000])) == ("QUALITY_STRENGTHENED", "info")
    assert verdict(threshold("mustBeLessThan", 10)) == ("QUALITY_CHANGED", "warning")
    # mustNotBeBetween includes its ends, so 1000000 itself is now accepted
    assert verdict(threshold("mustNotBeBetween", [-1e18, 1_000_000])) == ("QUALITY_WEAKENED", "error")
    assert verdict(threshold("mustNotBeBetween", [-1e18, 1_000_001])) == ("QUALITY_CHANGED", "warning")


def test_quality_rules_removed_and_added() -> None:
    full = load_contract(ODCS / "examples" / "all__full-example.odcs.yaml")
    without = edited(full, lambda d: d["schema"][0]["properties"][2].pop("quality"))
    assert kinds(contract_changes(full, without)) == {
        "QUALITY_REMOVED quality.tbl.rcvr_cntry_code.nullValues": "error",
        "VERSION_NOT_CHANGED version": "warning",
    }
    assert kinds(contract_changes(without, full))["QUALITY_ADDED quality.tbl.rcvr_cntry_code.nullValues"] == "info"


def test_identity_status_validity_and_other_fields() -> None:
    old = contract_for()
    renewed = generate_contract(product(status="deprecated", version="1.0.1"), "finance", now=datetime(2025, 6, 1))
    found = kinds(contract_changes(old, renewed))
    assert found["ID_CHANGED id"] == "warning"
    assert found["CONSUMER_CHANGED consumer"] == "warning"
    assert found["STATUS_CHANGED status"] == "warning"
    assert found["VALIDITY_START_LATER validity.validFrom"] == "info"
    assert found["VALIDITY_EXTENDED validity.validUntil"] == "info"
    assert found["FIELD_CHANGED name"] == "info"
    gap = generate_contract(product(), "marketing", now=datetime(2027, 1, 1, tzinfo=UTC))
    assert kinds(contract_changes(old, gap))["VALIDITY_GAP validity.validFrom"] == "warning"

    def shorten(doc: dict[str, Any]) -> None:
        doc["customProperties"][3]["value"] = "2025-06-01T00:00:00+00:00"
        doc["customProperties"][0]["value"] = "sales.returns"

    found = kinds(contract_changes(old, edited(old, shorten)))
    assert found["VALIDITY_SHORTENED validity.validUntil"] == "warning"
    assert found["PRODUCT_CHANGED product"] == "error"


def test_every_change_is_json_able() -> None:
    old, new = contract_for(), contract_for(columns=COLUMNS[:2], version="2.0.0")
    payload = json.dumps([c.to_dict() for c in contract_changes(old, new)])
    assert '"breaking": true' in payload


# ---------------------------------------------------------------------------- breaking_for_consumers


def column(base_name: str, **kw: Any) -> dict[str, Any]:
    base = next(c for c in COLUMNS if c["name"] == base_name)
    return {**base, **kw}


def test_removing_a_column_breaks_only_the_contracts_that_rely_on_it() -> None:
    marketing = contract_for("marketing")
    finance = generate_contract(product(COLUMNS[:2]), "finance", now=NOW)  # id and amount only
    new = [c for c in COLUMNS if c["name"] != "email"]
    (brk,) = breaking_for_consumers(COLUMNS, new, [marketing, finance])
    assert brk == ContractBreak(
        marketing.id, "marketing", "sales.orders", "email", "COLUMN_REMOVED", "error",
        "column 'email' the contract relies on was removed",
    )  # fmt: skip
    assert brk.breaking


def test_a_rename_with_an_alias_still_breaks_the_consumer() -> None:
    new = [column("id"), column("amount", name="total", aliases=["amount"]), column("email"), column("placed_on")]
    (brk,) = breaking_for_consumers(COLUMNS, new, [contract_for()])
    assert (brk.change, brk.severity, brk.column) == ("COLUMN_RENAMED", "error", "amount")
    assert "renamed to 'total'" in brk.reason


@pytest.mark.parametrize(
    ("name", "new_type", "change", "severity"),
    [
        ("id", "bigint", "TYPE_WIDENED", "warning"),
        ("id", "smallint", "TYPE_NARROWED", "info"),
        ("id", "string", "TYPE_CHANGED", "error"),
        ("amount", "decimal(18,2)", "TYPE_WIDENED", "warning"),
        ("amount", "decimal(10,4)", "TYPE_CHANGED", "error"),
        ("placed_on", "timestamp", "TYPE_WIDENED", "warning"),
    ],
)
def test_type_changes(name: str, new_type: str, change: str, severity: str) -> None:
    new = [column(c["name"], type=new_type) if c["name"] == name else c for c in COLUMNS]
    (brk,) = breaking_for_consumers(COLUMNS, new, [contract_for()])
    assert (brk.column, brk.change, brk.severity) == (name, change, severity)


def test_type_is_judged_against_what_the_contract_promised() -> None:
    """A contract made when `id` was bigint still holds when the product goes integer → bigint."""
    promised_bigint = contract_for(columns=[column("id", type="bigint")])
    new = [column("id", type="bigint")]
    assert breaking_for_consumers([column("id")], new, [promised_bigint]) == []


def test_nullable_where_the_contract_requires_a_value() -> None:
    new = [column("amount", nullable=True) if c["name"] == "amount" else c for c in COLUMNS]
    (brk,) = breaking_for_consumers(COLUMNS, new, [contract_for()])
    assert (brk.column, brk.change, brk.severity) == ("amount", "NULLABLE", "error")

    stale = contract_for()  # requires amount, but the old product already allowed nulls
    old = [column("amount", nullable=True) if c["name"] == "amount" else c for c in COLUMNS]
    (brk,) = breaking_for_consumers(old, old, [stale])
    assert (brk.change, brk.severity) == ("NULLABLE", "warning")


def test_primary_key_and_classification() -> None:
    new = [
        column("id", primary_key=False),
        column("amount"),
        column("email", classification=["pii"]),
        column("placed_on"),
    ]
    found = kinds(breaking_for_consumers(COLUMNS, new, [contract_for()]))
    assert found == {"PRIMARY_KEY_REMOVED id": "warning", "CLASSIFICATION_ADDED email": "warning"}
    classified = contract_for(columns=new)  # the contract already knows email is pii
    assert kinds(breaking_for_consumers(new, COLUMNS, [classified])) == {"CLASSIFICATION_REMOVED email": "info"}


def test_errors_come_first_per_contract() -> None:
    new = [column("id", primary_key=False), column("amount", type="string")]
    result = breaking_for_consumers(COLUMNS, new, [contract_for("a"), contract_for("b")])
    assert [b.consumer for b in result] == ["a"] * 4 + ["b"] * 4
    assert [b.severity for b in result[:4]] == ["error", "error", "error", "warning"]


def test_product_filter_and_retired_contracts() -> None:
    new = COLUMNS[:1]
    other = generate_contract(product(fqn="sales.returns"), "marketing", now=NOW)
    retired = edited(contract_for("finance"), lambda d: d.update(status="retired"))
    result = breaking_for_consumers(COLUMNS, new, [contract_for(), other, retired], product="sales.orders")
    assert {b.product for b in result} == {"sales.orders"} and {b.consumer for b in result} == {"marketing"}
    assert len(breaking_for_consumers(COLUMNS, new, [other])) == 3


def test_an_unchanged_schema_breaks_nothing() -> None:
    assert breaking_for_consumers(COLUMNS, copy.deepcopy(COLUMNS), [contract_for(), contract_for("finance")]) == []


def test_foreign_contract_properties_are_read_from_odcs_types() -> None:
    """Contracts not written by meshfabric promise types through ODCS logicalType/physicalType."""
    full = load_contract(ODCS / "examples" / "all__full-example.odcs.yaml")
    old = [{"name": "rcvr_id", "type": "string", "nullable": True}, {"name": "id", "type": "string"}]
    new = [{"name": "rcvr_id", "type": "bigint", "nullable": True}]
    found = kinds(breaking_for_consumers(old, new, [full]))
    assert found["TYPE_CHANGED rcvr_id"] == "error"  # varchar(18) promised
    assert found["COLUMN_REMOVED id"] == "error"
