"""Generating a product's contract with a consumer domain: ODCS schema from the product's columns,
SLA defaults that consumer requirements only ever make stricter, one-year validity, a stable id."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshfabric.catalog.read import ProductInfo
from meshfabric.contracts.generate import (
    DEFAULT_SLA,
    contract_id,
    generate_contract,
    service_levels,
)
from meshfabric.contracts.odcs import dump_contract, load_contract, validate_odcs
from meshfabric.errors import MeshfabricError
from meshfabric.types import BASE_TYPES

NOW = datetime(2025, 3, 10, 8, 30, 15, 123456, tzinfo=UTC)

COLUMNS: list[dict[str, Any]] = [
    {"name": "order_id", "type": "bigint", "nullable": False, "description": "Order key", "classification": [],
     "primary_key": True},
    {"name": "line_no", "type": "smallint", "nullable": False, "description": "", "classification": [],
     "primary_key": True},
    {"name": "amount", "type": "decimal(12,2)", "nullable": True, "description": "", "classification": ["finance"]},
    {"name": "email", "type": "string", "nullable": True, "description": "Buyer", "classification": ["pii", "contact"]},
    {"name": "placed_at", "type": "timestamptz", "nullable": False, "description": "", "classification": []},
    {"name": "tags", "type": "list<string>", "nullable": True, "description": "", "classification": []},
]  # fmt: skip


def product(**overrides: Any) -> ProductInfo:
    fields: dict[str, Any] = {
        "domain": "sales",
        "name": "orders",
        "owner": "ana@example.com",
        "description": "Every order placed in the web shop.",
        "tags": ["sales", "gold"],
        "status": "published",
        "version": "2.1.0",
        "revision": 3,
        "source": "shop",
        "output": {"source": "shop", "table": "public.orders"},
        "columns": COLUMNS,
        "file": "products/orders.yaml",
        "created_at": NOW,
        "updated_at": NOW,
    }
    fields.update(overrides)
    return ProductInfo(**fields)


def sla_values(contract: Any) -> dict[str, float]:
    return {s.name: s.value for s in contract.sla_properties}


# ---------------------------------------------------------------------------- the document


def test_generated_contract_validates_and_round_trips() -> None:
    contract = generate_contract(product(), "marketing", now=NOW)
    assert validate_odcs(contract.doc) == []
    assert load_contract(dump_contract(contract)).doc == contract.doc


def test_fundamentals_come_from_the_product() -> None:
    contract = generate_contract(product(), "marketing", now=NOW)
    assert contract.doc["apiVersion"] == "v3.1.0" and contract.doc["kind"] == "DataContract"
    assert contract.version == "2.1.0"
    assert contract.status == "active"
    assert contract.domain == "sales"
    assert contract.product_fqn == "sales.orders"
    assert contract.consumer_domain == "marketing"
    assert contract.doc["tags"] == ["sales", "gold"]
    assert contract.doc["description"]["purpose"] == "Every order placed in the web shop."
    assert contract.doc["team"]["members"] == [{"username": "ana@example.com", "role": "owner"}]
    (obj,) = contract.schema_objects
    assert (obj.name, obj.physical_name, obj.physical_type) == ("orders", "public.orders", "table")


def test_meshfabric_fields_live_in_prefixed_custom_properties() -> None:
    contract = generate_contract(product(), "marketing", now=NOW)
    names = [p["property"] for p in contract.doc["customProperties"]]
    assert names == ["meshfabric.product", "meshfabric.consumerDomain", "meshfabric.validFrom", "meshfabric.validUntil"]


def test_product_may_be_given_as_its_dict() -> None:
    info = product()
    assert (
        generate_contract(info.to_dict(), "marketing", now=NOW).doc == generate_contract(info, "marketing", now=NOW).doc
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [("draft", "proposed"), ("published", "active"), ("deprecated", "deprecated")],
)
def test_status_follows_the_product_lifecycle(status: str, expected: str) -> None:
    assert generate_contract(product(status=status), "marketing", now=NOW).status == expected


def test_a_retired_product_cannot_be_contracted() -> None:
    with pytest.raises(MeshfabricError, match="retired"):
        generate_contract(product(status="retired"), "marketing", now=NOW)


def test_a_consumer_is_required() -> None:
    with pytest.raises(MeshfabricError, match="consumer"):
        generate_contract(product(), "  ", now=NOW)


def test_id_is_deterministic_per_product_and_consumer() -> None:
    a = generate_contract(product(), "marketing", now=NOW)
    b = generate_contract(product(version="3.0.0"), "marketing", now=NOW + timedelta(days=30))
    c = generate_contract(product(), "finance", now=NOW)
    assert a.id == b.id == contract_id("sales.orders", "marketing")
    assert a.id != c.id
    assert len(a.id) == 36 and a.id[14] == "5"  # a version-5 UUID


# ---------------------------------------------------------------------------- validity


def test_valid_for_one_year_from_now() -> None:
    contract = generate_contract(product(), "marketing", now=NOW)
    assert contract.valid_from == NOW.replace(microsecond=0)
    assert contract.valid_until == datetime(2026, 3, 10, 8, 30, 15, tzinfo=UTC)
    assert contract.doc["contractCreatedTs"] == "2025-03-10T08:30:15+00:00"
    assert contract.in_force(NOW)


def test_a_contract_made_on_29_february_ends_on_28_february() -> None:
    contract = generate_contract(product(), "marketing", now=datetime(2024, 2, 29, tzinfo=UTC))
    assert contract.valid_until == datetime(2025, 2, 28, tzinfo=UTC)


def test_naive_now_is_utc_and_other_zones_are_converted() -> None:
    naive = generate_contract(product(), "marketing", now=datetime(2025, 1, 1, 12))
    assert naive.valid_from == datetime(2025, 1, 1, 12, tzinfo=UTC)
    cet = generate_contract(product(), "marketing", now=datetime(2025, 1, 1, 13, tzinfo=timezone(timedelta(hours=1))))
    assert cet.doc["customProperties"][2]["value"] == "2025-01-01T12:00:00+00:00"


def test_default_now_is_the_current_time() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    contract = generate_contract(product(), "marketing")
    assert contract.valid_from is not None and before <= contract.valid_from <= datetime.now(UTC)


# ---------------------------------------------------------------------------- schema


def test_columns_become_properties() -> None:
    obj = generate_contract(product(), "marketing", now=NOW).schema_objects[0]
    props = {p.name: p for p in obj.properties}
    assert list(props) == [c["name"] for c in COLUMNS]
    order_id, line_no = props["order_id"], props["line_no"]
    assert (order_id.logical_type, order_id.physical_type, order_id.logical_type_options) == (
        "integer",
        "bigint",
        {"format": "i64"},
    )
    assert (order_id.required, order_id.primary_key, order_id.primary_key_position) == (True, True, 1)
    assert (line_no.primary_key, line_no.primary_key_position) == (True, 2)
    assert order_id.description == "Order key"
    assert (props["amount"].logical_type, props["amount"].physical_type) == ("number", "decimal(12,2)")
    assert props["amount"].required is False and props["amount"].primary_key is False
    assert props["email"].classification == "pii,contact"
    assert props["placed_at"].logical_type_options == {"timezone": True}
    tags = props["tags"]
    assert tags.logical_type == "array" and tags.items is not None and tags.items.logical_type == "string"


@pytest.mark.parametrize(
    ("type_text", "logical", "options"),
    [
        ("boolean", "boolean", {}),
        ("tinyint", "integer", {"format": "i8"}),
        ("integer", "integer", {"format": "i32"}),
        ("float", "number", {"format": "f32"}),
        ("double", "number", {"format": "f64"}),
        ("uuid", "string", {"format": "uuid"}),
        ("binary", "string", {"format": "binary"}),
        ("date", "date", {}),
        ("time", "time", {}),
        ("timestamp", "timestamp", {"timezone": False}),
        ("interval", "string", {}),
        ("json", "object", {}),
        ("map", "object", {}),
    ],
)
def test_type_mapping(type_text: str, logical: str, options: dict[str, Any]) -> None:
    cols = [{"name": "c", "type": type_text, "nullable": True}]
    contract = generate_contract(product(columns=cols), "marketing", now=NOW)
    (prop,) = contract.schema_objects[0].properties
    assert (prop.logical_type, prop.physical_type, dict(prop.logical_type_options)) == (logical, type_text, options)
    assert validate_odcs(contract.doc) == []


def test_an_unknown_type_is_kept_as_the_physical_type() -> None:
    contract = generate_contract(product(columns=[{"name": "g", "type": "geometry"}]), "marketing", now=NOW)
    (prop,) = contract.schema_objects[0].properties
    assert (prop.logical_type, prop.physical_type) == (None, "geometry")
    assert validate_odcs(contract.doc) == []


@pytest.mark.parametrize(
    ("output", "physical"),
    [({"path": "orders/*.parquet"}, ("orders/*.parquet", "file")), ({"sql": "select 1"}, (None, "view"))],
)
def test_output_port_kind_gives_the_physical_type(output: dict[str, str], physical: tuple[Any, str]) -> None:
    obj = generate_contract(product(output={"source": "s", **output}), "marketing", now=NOW).schema_objects[0]
    assert (obj.physical_name, obj.physical_type) == physical


def test_a_product_without_columns_or_description_still_validates() -> None:
    contract = generate_contract(product(columns=[], description="", tags=[], owner=""), "marketing", now=NOW)
    assert validate_odcs(contract.doc) == []
    assert "purpose" not in contract.doc["description"] and "team" not in contract.doc and "tags" not in contract.doc


# ---------------------------------------------------------------------------- SLA


def test_defaults() -> None:
    contract = generate_contract(product(), "marketing", now=NOW)
    assert sla_values(contract) == {"availability": 0.99, "latency": 1000, "completeness": 0.95, "accuracy": 0.99}
    assert contract.sla("latency").unit == "ms"  # type: ignore[union-attr]
    assert all(s.description for s in contract.sla_properties)


def test_requirements_raise_the_defaults() -> None:
    wanted = {"availability": 0.999, "completeness": 0.99, "accuracy": 0.995, "latency": 250, "freshness": 3_600_000}
    assert sla_values(generate_contract(product(), "marketing", wanted, now=NOW)) == wanted


def test_requirements_never_lower_the_defaults() -> None:
    weaker = {"availability": 0.5, "completeness": 0.0, "accuracy": 0.9, "latency": 60_000}
    assert sla_values(generate_contract(product(), "marketing", weaker, now=NOW)) == DEFAULT_SLA


def test_latency_is_raised_by_lowering_it() -> None:
    """For latency a stricter promise is a smaller number of milliseconds."""
    assert service_levels({"latency": 10})["latency"] == 10
    assert service_levels({"latency": 10_000})["latency"] == 1000


def test_freshness_only_when_asked_for() -> None:
    assert "freshness" not in service_levels()
    contract = generate_contract(product(), "marketing", {"freshness": 900_000}, now=NOW)
    freshness = contract.sla("freshness")
    assert freshness is not None and (freshness.value, freshness.unit) == (900_000, "ms")


def test_invalid_requirements_are_refused_with_every_problem() -> None:
    bad = {"availabilty": 0.999, "accuracy": 99.9, "latency": -5, "completeness": float("nan"), "freshness": True}
    with pytest.raises(MeshfabricError) as info:
        generate_contract(product(), "marketing", bad, now=NOW)  # type: ignore[arg-type]
    message = str(info.value)
    assert "unknown requirement 'availabilty'" in message
    assert "'accuracy' is a ratio between 0 and 1" in message
    assert "'latency' is a duration in milliseconds and must be positive" in message
    assert "'completeness' must be a finite number" in message
    assert "'freshness' must be a finite number" in message


ratios = st.floats(min_value=0, max_value=1, allow_nan=False)
millis = st.floats(min_value=1e-3, max_value=1e9, allow_nan=False) | st.integers(min_value=1, max_value=10**9)
requirements = st.fixed_dictionaries(
    {},
    optional={
        "availability": ratios,
        "completeness": ratios,
        "accuracy": ratios,
        "latency": millis,
        "freshness": millis,
    },
)


@settings(max_examples=150, deadline=None)
@given(requirements)
def test_generated_sla_is_at_least_as_strict_as_defaults_and_requirements(wanted: dict[str, float]) -> None:
    sla = sla_values(generate_contract(product(), "marketing", wanted, now=NOW))
    for key in ("availability", "completeness", "accuracy"):
        assert sla[key] >= DEFAULT_SLA[key]
        assert sla[key] >= wanted.get(key, -math.inf)
        assert sla[key] in (DEFAULT_SLA[key], wanted.get(key))  # raised to the requirement, nothing invented
    assert sla["latency"] <= DEFAULT_SLA["latency"]
    assert sla["latency"] <= wanted.get("latency", math.inf)
    if "freshness" in wanted:
        assert sla["freshness"] == wanted["freshness"]
    else:
        assert "freshness" not in sla


column_types = st.sampled_from(
    [*BASE_TYPES, "decimal(10,2)", "decimal(38,0)", "list<integer>", "list<list<string>>", "varchar(20)"]
)
columns = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
            "type": column_types,
            "nullable": st.booleans(),
            "primary_key": st.booleans(),
            "description": st.text(max_size=20),
            "classification": st.lists(st.sampled_from(["pii", "finance", "internal"]), max_size=2, unique=True),
        }
    ),
    max_size=6,
    unique_by=lambda c: c["name"],
)


@settings(max_examples=60, deadline=None)
@given(columns, requirements, st.sampled_from(["draft", "published", "deprecated"]))
def test_every_generated_contract_validates(cols: list[dict[str, Any]], wanted: dict[str, float], status: str) -> None:
    contract = generate_contract(product(columns=cols, status=status), "marketing", wanted, now=NOW)
    assert validate_odcs(contract.doc) == []
    assert load_contract(dump_contract(contract)).doc == contract.doc
