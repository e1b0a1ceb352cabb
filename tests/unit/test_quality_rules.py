"""Quality rule models: defaults, validation, durations and scores."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from meshfabric.quality.scores import rule_score, score_run
from meshfabric.spec.models import ProductSpec
from meshfabric.spec.quality_rules import (
    FORMATS,
    parse_duration,
    parse_rules,
)


def product(quality: list[dict], columns: list[str] | None = None) -> ProductSpec:
    return ProductSpec.model_validate({
        "domain": "sales", "name": "orders", "owner": "o", "output": {"source": "s", "table": "t"},
        "schema": [{"name": c, "type": "string"} for c in (columns or [])], "quality": quality,
    })


def test_defaults_per_rule_type() -> None:
    spec = product([
        {"type": "not_null", "column": "id"},
        {"type": "uniqueness", "columns": ["a", "b"]},
        {"type": "freshness", "column": "at", "max_age": "36h"},
        {"type": "anomaly", "columns": ["x"]},
        {"type": "statistic", "column": "x", "statistic": "quantile", "quantile": 0.95, "max": 1},
        {"type": "custom_sql", "sql": "SELECT * FROM {table} WHERE x < 0", "name": "negatives"},
    ])
    rules = spec.quality or []
    assert [r.label for r in rules] == ["not_null_id", "uniqueness_a_b", "freshness_at", "anomaly_x",
                                        "quantile_0.95_x", "negatives"]
    assert [r.effective_dimension for r in rules] == ["completeness", "uniqueness", "timeliness", "accuracy",
                                                      "accuracy", "validity"]
    assert [r.severity for r in rules] == ["error", "error", "error", "warning", "error", "error"]
    assert [r.metric_name for r in rules] == ["not_null", "uniqueness", "freshness", "anomaly", "quantile_0.95",
                                              "negatives"]
    assert rules[1].series_column == "a,b" and rules[2].max_age_seconds == 36 * 3600
    assert parse_rules(spec.to_doc()["quality"]) == rules  # the stored form reads back the same


def test_spec_without_rules_stores_nothing_new() -> None:
    spec = product([])
    assert spec.quality == [] and "quality" in spec.to_doc()
    bare = ProductSpec.model_validate({"domain": "sales", "name": "o", "owner": "o",
                                       "output": {"source": "s", "table": "t"}})
    assert "quality" not in bare.to_doc()  # catalogs applied before rules existed see no change


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"type": "uniqueness"}, "exactly one of 'column' or 'columns'"),
        ({"type": "range", "column": "a"}, "needs 'min', 'max' or both"),
        ({"type": "length", "column": "a", "min": 5, "max": 2}, "greater than 'max'"),
        ({"type": "custom_sql", "sql": "SELECT 1"}, "{table}"),
        ({"type": "custom_sql", "sql": "SELECT 1 FROM {table}", "returns": "metric"}, "needs 'min', 'max'"),
        ({"type": "statistic", "column": "a", "statistic": "quantile", "max": 1}, "'quantile' (0..1)"),
        ({"type": "referential", "column": "a", "reference": "orders"}, "domain.product"),
        ({"type": "referential", "columns": ["a", "b"], "reference": "s.o", "reference_column": "x"}, "same number"),
        ({"type": "anomaly", "columns": ["a"], "contamination": 0.9}, "contamination"),
        ({"type": "format", "column": "a", "format": "emial"}, "'email'"),
        ({"type": "not_null", "column": "a", "name": "has space"}, "may use letters"),
        ({"type": "custom_sql", "sql": "SELECT count(*) FROM {table}", "returns": "metric", "min": 0,
          "metric": "row_count"}, "written by every run"),
        ({"type": "range", "column": "a", "min": 0, "metric": "score.validity"}, "written by every run"),
        ({"type": "range", "column": "a", "min": 0, "metric": "profile.max"}, "written by every run"),
    ],
)
def test_invalid_rules_are_refused(rule: dict, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        product([rule])
    assert message in str(caught.value)
    assert all(e["loc"][:2] == ("quality", 0) for e in caught.value.errors())


def test_columns_are_checked_against_the_declared_schema() -> None:
    with pytest.raises(ValidationError) as caught:
        product([{"type": "uniqueness", "columns": ["id", "emial"]}], ["id", "email"])
    [error] = caught.value.errors()
    assert error["loc"] == ("quality", 0, "columns") and "did you mean 'email'?" in error["msg"]
    assert product([{"type": "not_null", "column": "ID"}], ["id"]).quality  # names are case-blind


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1.5h", 5400), ("7d", 604800), ("2w", 1209600), ("250ms", 0.25),
     ("P1D", 86400), ("PT15M", 900), ("P1DT12H", 129600), ("P2W", 1209600)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "soon", "P1Y", "P1M", "PT", "5 fortnights", "-3h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_named_formats_match_what_they_name() -> None:
    import re

    good = {"email": "a.b+c@example.co", "uuid": "123e4567-e89b-12d3-a456-426614174000",
            "url": "https://example.com:8080/a?b=c", "iso_date": "2024-02-29", "iso_datetime": "2024-02-29T23:59:59Z",
            "ipv4": "192.168.0.255", "phone_e164": "+351912345678", "country_code": "PT", "currency_code": "EUR"}
    bad = {"email": "a@b", "uuid": "123e4567e89b12d3a456426614174000", "url": "ftp://x", "iso_date": "2024-13-01",
           "iso_datetime": "2024-01-01 25:00", "ipv4": "256.1.1.1", "phone_e164": "0912", "country_code": "pt",
           "currency_code": "EU"}
    assert set(good) == set(FORMATS)
    for name, pattern in FORMATS.items():
        assert "\\" not in pattern  # no dialect's string escaping can change it
        assert re.search(pattern, good[name]) and not re.search(pattern, bad[name]), name


# -- scores ----------------------------------------------------------------------------------


class R:
    def __init__(self, dimension: str, severity: str, passed: bool, failing: int | None, total: int | None) -> None:
        self.dimension, self.severity, self.passed = dimension, severity, passed
        self.failing_rows, self.total_rows = failing, total


def test_score_formula() -> None:
    results = [R("validity", "error", False, 25, 100), R("validity", "warning", True, 0, 0),
               R("timeliness", "error", False, None, None), R("uniqueness", "warning", True, None, None)]
    s = score_run(results)
    assert s.dimensions == {"timeliness": 0.0, "uniqueness": 1.0, "validity": pytest.approx((2 * 0.75 + 1) / 3)}
    assert s.overall == pytest.approx((0 + 1 + (2.5 / 3)) / 3)
    assert score_run([]).overall is None


@given(st.lists(st.tuples(st.sampled_from(["validity", "completeness", "accuracy"]),
                          st.sampled_from(["error", "warning"]), st.booleans(),
                          st.integers(0, 10**6), st.integers(0, 10**6)), max_size=20))
def test_scores_stay_in_unit_interval(items: list[tuple[str, str, bool, int, int]]) -> None:
    results = [R(d, s, p, f, t) for d, s, p, f, t in items]
    scores = score_run(results)
    assert all(0.0 <= rule_score(r) <= 1.0 for r in results)
    assert all(0.0 <= v <= 1.0 for v in scores.dimensions.values())
    assert scores.overall is None or 0.0 <= scores.overall <= 1.0

