"""Evaluating a contract against measured metrics: SLA properties and ODCS quality operators,
`mustBeBetween` exclusive at both ends, missing measurements reported instead of passed."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import CONFORMANCE
from meshfabric.contracts.compliance import Evaluation, Interval, Violation, allowed_values, evaluate, satisfies
from meshfabric.contracts.generate import generate_contract
from meshfabric.contracts.odcs import Contract, load_contract

ODCS = CONFORMANCE / "odcs"
AT = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def contract(quality: list[dict[str, Any]] | None = None, sla: list[dict[str, Any]] | None = None) -> Contract:
    doc: dict[str, Any] = {
        "apiVersion": "v3.1.0", "kind": "DataContract", "id": "c-1", "version": "1.0.0", "status": "active",
        "schema": [{"name": "orders", "properties": [{"name": "id", "quality": quality or []}]}],
    }  # fmt: skip
    if sla is not None:
        doc["slaProperties"] = sla
    return Contract(doc)


def one_rule(operator: str, threshold: Any) -> Contract:
    return contract([{"metric": "nullValues", operator: threshold}])


def verdict(operator: str, threshold: Any, actual: float) -> bool:
    """True when compliant."""
    result = evaluate(one_rule(operator, threshold), {"orders.id.nullValues": actual}, measured_at=AT)
    assert not result.missing
    return not result


# ---------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("operator", "threshold", "actual", "ok"),
    [
        ("mustBe", 0, 0, True),
        ("mustBe", 0, 0.0, True),
        ("mustBe", 0, 1, False),
        ("mustNotBe", 3, 3, False),
        ("mustNotBe", 3, 2.5, True),
        ("mustBeGreaterThan", 10, 10, False),
        ("mustBeGreaterThan", 10, 10.001, True),
        ("mustBeGreaterOrEqualTo", 10, 10, True),
        ("mustBeGreaterOrEqualTo", 10, 9.999, False),
        ("mustBeLessThan", 5, 5, False),
        ("mustBeLessThan", 5, 4.999, True),
        ("mustBeLessOrEqualTo", 5, 5, True),
        ("mustBeLessOrEqualTo", 5, 5.001, False),
    ],
)
def test_comparison_operators(operator: str, threshold: float, actual: float, ok: bool) -> None:
    assert verdict(operator, threshold, actual) is ok


@pytest.mark.parametrize(
    ("actual", "ok"),
    [(-1, False), (0, False), (0.0001, True), (50, True), (99.9999, True), (100, False), (101, False)],
)
def test_must_be_between_is_exclusive_at_both_ends(actual: float, ok: bool) -> None:
    """ODCS: `mustBeBetween: [0, 100]` is the same as `mustBeGreaterThan: 0` + `mustBeLessThan: 100`."""
    assert verdict("mustBeBetween", [0, 100], actual) is ok


@pytest.mark.parametrize(
    ("actual", "ok"),
    [(-1, True), (0, True), (0.0001, False), (50, False), (99.9999, False), (100, True), (101, True)],
)
def test_must_not_be_between_is_the_exact_complement(actual: float, ok: bool) -> None:
    assert verdict("mustNotBeBetween", [0, 100], actual) is ok


@given(st.floats(allow_nan=False, allow_infinity=True), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_between_and_not_between_never_agree(actual: float, a: float, b: float) -> None:
    bounds = [a, b]
    assert satisfies("mustBeBetween", bounds, actual) != satisfies("mustNotBeBetween", bounds, actual)


@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6))
def test_between_equals_greater_than_and_less_than(actual: float, a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    expected = satisfies("mustBeGreaterThan", lo, actual) and satisfies("mustBeLessThan", hi, actual)
    assert satisfies("mustBeBetween", [a, b], actual) is expected


def test_between_bounds_are_read_smallest_first() -> None:
    assert verdict("mustBeBetween", [100, 0], 50) is True
    assert verdict("mustBeBetween", [100, 0], 100) is False


def test_nan_meets_no_threshold() -> None:
    for operator, threshold in (("mustNotBe", 1), ("mustBeLessThan", 1), ("mustNotBeBetween", [0, 1])):
        assert not satisfies(operator, threshold, math.nan)


def test_boolean_thresholds_compare_as_one_and_zero() -> None:
    assert verdict("mustBe", True, 1) is True
    assert verdict("mustBe", False, 1) is False


def test_non_numeric_thresholds_are_not_evaluated() -> None:
    result = evaluate(one_rule("mustBe", "green"), {"orders.id.nullValues": 1}, measured_at=AT)
    assert not result and not result.missing
    (skipped,) = result.not_evaluated
    assert "not a numeric threshold" in skipped.reason
    with pytest.raises(ValueError, match="cannot evaluate"):
        satisfies("mustBe", "green", 1)


def test_interval_containment() -> None:
    assert Interval(0, 1).within(Interval(0, 1, True, True))
    assert not Interval(0, 1, True, False).within(Interval(0, 1))
    assert allowed_values("mustBeBetween", [1]) is None
    assert allowed_values("mustBeRoughly", 1) is None


# ---------------------------------------------------------------------------- violations


def test_a_violation_carries_metric_actual_threshold_operator_and_time() -> None:
    c = contract([{"metric": "nullValues", "mustBeBetween": [0, 10], "severity": "warning"}])
    (violation,) = evaluate(c, {"orders.id.nullValues": 10}, measured_at=AT)
    assert violation == Violation("c-1", "orders.id.nullValues", 10.0, (0, 10), "mustBeBetween", AT, "quality",
                                  "orders.id", "warning")  # fmt: skip
    assert "orders.id.nullValues on orders.id is 10.0" in violation.message
    assert json.loads(json.dumps(violation.to_dict()))["threshold"] == [0, 10]


def test_evaluation_is_the_list_of_violations() -> None:
    result = evaluate(one_rule("mustBe", 0), {"orders.id.nullValues": 2}, measured_at=AT)
    assert isinstance(result, Evaluation) and isinstance(result, list)
    assert result.violations == list(result) and len(result) == 1
    assert result.checked == 1 and not result.compliant


def test_naive_measured_at_is_utc() -> None:
    (violation,) = evaluate(one_rule("mustBe", 0), {"orders.id.nullValues": 2}, measured_at=datetime(2025, 6, 1))
    assert violation.measured_at == datetime(2025, 6, 1, tzinfo=UTC)


def test_a_measurement_that_is_not_a_number_is_a_violation() -> None:
    (violation,) = evaluate(one_rule("mustBeLessThan", 5), {"orders.id.nullValues": None}, measured_at=AT)  # type: ignore[dict-item]
    assert math.isnan(violation.actual)


def test_metric_names_match_case_insensitively_and_by_rule_id() -> None:
    c = contract([{"id": "ids_present", "metric": "nullValues", "mustBe": 0}])
    assert len(evaluate(c, {"IDS_PRESENT": 1}, measured_at=AT)) == 1
    assert len(evaluate(c, {"orders.id.nullValues": 1}, measured_at=AT)) == 1  # the measurement's own name


# ---------------------------------------------------------------------------- missing and not evaluated


def test_missing_metrics_are_reported_not_passed() -> None:
    c = contract(
        [{"metric": "nullValues", "mustBe": 0}],
        [{"property": "availability", "value": 0.99}, {"property": "latency", "value": 2, "unit": "s"}],
    )
    result = evaluate(c, {"availability": 0.999}, measured_at=AT)
    assert list(result) == []
    assert not result.compliant
    assert {(m.metric, m.operator, m.threshold, m.source) for m in result.missing} == {
        ("latency", "mustBeLessOrEqualTo", 2000.0, "sla"),
        ("orders.id.nullValues", "mustBe", 0, "quality"),
    }
    assert result.checked == 1


def test_text_custom_and_date_promises_are_listed_as_not_evaluated() -> None:
    c = contract(
        [
            {"type": "text", "description": "Emails were verified."},
            {"type": "custom", "engine": "soda", "implementation": "x"},
        ],
        [
            {"property": "generalAvailability", "value": "2022-05-12T09:30:10-08:00"},
            {"property": "myScore", "value": 3},
            {"property": "latency", "value": 4},
        ],
    )
    result = evaluate(c, {}, measured_at=AT)
    assert not result and not result.missing and result.compliant
    reasons = [n.reason for n in result.not_evaluated]
    assert any("not a measurable service level" in r for r in reasons)
    assert any("does not know whether a higher myScore is better" in r for r in reasons)
    assert any("a duration needs a unit" in r for r in reasons)
    assert any("text rule" in r for r in reasons) and any(
        "custom rule runs in its own engine (soda)" in r for r in reasons
    )


# ---------------------------------------------------------------------------- SLA


def test_generated_contract_sla() -> None:
    product = {
        "fqn": "sales.orders", "owner": "ana", "status": "published", "version": "1.0.0",
        "columns": [{"name": "id", "type": "bigint", "nullable": False}],
    }  # fmt: skip
    c = generate_contract(product, "marketing", {"freshness": 60_000}, now=AT)
    healthy = {"availability": 0.99, "latency": 1000, "completeness": 0.95, "accuracy": 0.99, "freshness": 60_000}
    result = evaluate(c, healthy, measured_at=AT)
    assert result.compliant and result.checked == 5  # every bound is inclusive for SLA properties
    bad = {"availability": 0.98, "latency": 1001, "completeness": 0.96, "accuracy": 0.99, "freshness": 61_000}
    result = evaluate(c, bad, measured_at=AT)
    assert {(v.metric, v.operator, v.threshold) for v in result} == {
        ("availability", "mustBeGreaterOrEqualTo", 0.99),
        ("latency", "mustBeLessOrEqualTo", 1000.0),
        ("freshness", "mustBeLessOrEqualTo", 60_000.0),
    }
    assert all(v.source == "sla" and v.contract_id == c.id for v in result)
    assert result.in_force


def test_sla_units_are_converted_to_the_measuring_unit() -> None:
    c = contract(
        sla=[
            {"property": "ly", "value": 4, "unit": "d"},
            {"property": "availability", "value": 99.5, "unit": "percent"},
            {"property": "retention", "value": 3, "unit": "y"},
        ]
    )
    day = 86_400_000
    result = evaluate(c, {"latency": 4 * day + 1, "availability": 0.995, "retention": 2 * 365 * day}, measured_at=AT)
    assert {(v.metric, v.threshold) for v in result} == {("latency", 4 * day), ("retention", 3 * 365 * day)}


def test_sla_id_names_the_measurement_when_properties_repeat() -> None:
    c = contract(
        sla=[
            {"id": "orders_latency", "property": "latency", "value": 1, "unit": "h", "element": "orders.a"},
            {"property": "latency", "value": 2, "unit": "h", "element": "orders.b"},
        ]
    )
    result = evaluate(c, {"orders_latency": 7_200_000, "latency": 7_200_000}, measured_at=AT)
    assert [(v.metric, v.element) for v in result] == [("orders_latency", "orders.a")]


def test_full_example_quality_rules() -> None:
    full = load_contract(ODCS / "examples" / "all__full-example.odcs.yaml")
    metrics = {"tbl.rowCount": 1_000_000, "tbl.rcvr_cntry_code.nullValues": 0}
    result = evaluate(full, metrics, measured_at=AT)
    assert [(v.metric, v.operator) for v in result] == [("tbl.rowCount", "mustBeGreaterThan")]
    assert "tbl.rcvr_cntry_code.nullValues" not in {m.metric for m in result.missing}


def test_in_force_reflects_the_validity_period() -> None:
    product = {"fqn": "sales.orders", "status": "published", "version": "1.0.0", "columns": []}
    c = generate_contract(product, "marketing", now=datetime(2020, 1, 1, tzinfo=UTC))
    assert not evaluate(c, {}, measured_at=AT).in_force
