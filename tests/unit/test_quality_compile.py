"""The rule compiler, property-based: for random data and random rule sets the compiled SQL
parses in every dialect, and what it measures in SQLite and DuckDB equals a reference written
independently in DuckDB (FILTER clauses and window counts instead of the compiler's CASE/GROUP BY).
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshfabric.connectors.base import ColumnInfo
from meshfabric.connectors.sqlite import _regexp
from meshfabric.errors import ConfigError
from meshfabric.quality import compile as qc
from meshfabric.spec.quality_rules import (
    AcceptedValuesRule,
    AnyRule,
    CompletenessRule,
    LengthRule,
    RangeRule,
    RegexRule,
    StatisticRule,
    UniquenessRule,
)
from meshfabric.types import LogicalType

COLUMNS = [
    ColumnInfo("i", "INTEGER", LogicalType("bigint")),
    ColumnInfo("x", "REAL", LogicalType("double")),
    ColumnInfo("s", "TEXT", LogicalType("string")),
]
DIALECTS = ["postgres", "mysql", "sqlite", "duckdb"]
PATTERNS = ["^a", "b$", "^[a-z]+$", "A", "^.{2,3}$", "é", "^$"]

strings = st.one_of(st.none(), st.text(alphabet="aAbB é", max_size=5))
numbers = st.one_of(st.none(), st.integers(-40, 40).map(lambda v: v / 2))
ints = st.one_of(st.none(), st.integers(-5, 5))
rows_strategy = st.lists(st.tuples(ints, numbers, strings), min_size=0, max_size=25)


@st.composite
def rules_strategy(draw: st.DrawFn) -> list[AnyRule]:
    kinds = draw(st.lists(st.sampled_from(
        ["completeness", "accepted", "range", "regex", "length", "mean", "stddev", "min", "sum", "distinct",
         "quantile"]), min_size=1, max_size=8))
    rules: list[AnyRule] = []
    for n, kind in enumerate(kinds):
        name = f"r{n}"
        if kind == "completeness":
            rules.append(CompletenessRule(type="completeness", column=draw(st.sampled_from("ixs")), name=name,
                                          metric=name))
        elif kind == "accepted":
            values = draw(st.lists(st.text(alphabet="aAb ", max_size=3), min_size=1, max_size=3))
            rules.append(AcceptedValuesRule(type="accepted_values", column="s", values=values, name=name, metric=name))
        elif kind == "range":
            lo, hi = sorted(draw(st.lists(st.integers(-20, 20), min_size=2, max_size=2)))
            rules.append(RangeRule(type="range", column="x", min=lo, max=hi, inclusive=draw(st.booleans()),
                                   name=name, metric=name))
        elif kind == "regex":
            rules.append(RegexRule(type="regex", column="s", pattern=draw(st.sampled_from(PATTERNS)), name=name,
                                   metric=name))
        elif kind == "length":
            lo, hi = sorted(draw(st.lists(st.integers(0, 5), min_size=2, max_size=2)))
            rules.append(LengthRule(type="length", column="s", min=lo, max=hi, name=name, metric=name))
        elif kind == "distinct":
            rules.append(StatisticRule(type="statistic", column=draw(st.sampled_from("is")),
                                       statistic="distinct_count", min=0, name=name, metric=name))
        elif kind == "quantile":
            q = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
            rules.append(StatisticRule(type="statistic", column="x", statistic="quantile", quantile=q, max=1,
                                       name=name, metric=name))
        else:
            rules.append(StatisticRule(type="statistic", column="x", statistic=kind, max=1, name=name, metric=name))
    return rules


def reference(con: duckdb.DuckDBPyConnection, rule: AnyRule) -> Any:
    """What the rule must measure, asked of DuckDB in a different formulation."""

    def one(sql: str) -> Any:
        return con.execute(sql).fetchone()[0]

    if isinstance(rule, CompletenessRule):
        return {"nonnull": one(f"SELECT count(*) FILTER (WHERE {rule.column} IS NOT NULL) FROM t")}
    if isinstance(rule, AcceptedValuesRule):
        values = ", ".join("'" + v.replace("'", "''") + "'" for v in rule.values)  # type: ignore[union-attr]
        return {"checked": one("SELECT count(s) FROM t"),
                "failing": one(f"SELECT count(*) FILTER (WHERE s IS NOT NULL AND s NOT IN ({values})) FROM t")}
    if isinstance(rule, RangeRule):
        outside = (f"x < {rule.min} OR x > {rule.max}" if rule.inclusive else f"x <= {rule.min} OR x >= {rule.max}")
        return {"checked": one("SELECT count(x) FROM t"),
                "failing": one(f"SELECT count(*) FILTER (WHERE x IS NOT NULL AND ({outside})) FROM t")}
    if isinstance(rule, RegexRule):
        return {"checked": one("SELECT count(s) FROM t"), "failing": one(
            f"SELECT count(*) FILTER (WHERE s IS NOT NULL AND NOT regexp_matches(s, '{rule.pattern}')) FROM t")}
    if isinstance(rule, LengthRule):
        return {"checked": one("SELECT count(s) FROM t"), "failing": one(
            f"SELECT count(*) FILTER (WHERE s IS NOT NULL AND NOT length(s) BETWEEN {rule.min} AND {rule.max}) "
            "FROM t")}
    assert isinstance(rule, StatisticRule)
    sql = {"mean": "avg(x)", "stddev": "stddev_samp(x)", "min": "min(x)", "sum": "sum(x)",
           "distinct_count": f"count(DISTINCT {rule.column})", "quantile": f"quantile_cont(x, {rule.quantile})"}
    return {"value": one(f"SELECT {sql[rule.statistic]} FROM t")}


def load(rows: list[tuple[Any, ...]]) -> tuple[sqlite3.Connection, duckdb.DuckDBPyConnection]:
    lite = sqlite3.connect(":memory:")
    lite.create_function("regexp", 2, _regexp, deterministic=True)
    lite.execute("CREATE TABLE t (i INTEGER, x REAL, s TEXT)")
    lite.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    duck = duckdb.connect(":memory:")
    duck.execute("CREATE TABLE t (i BIGINT, x DOUBLE, s VARCHAR)")
    if rows:
        duck.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    return lite, duck


def close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def measured(rules: list[AnyRule], execute: Any, dialect: str, n: int) -> list[dict[str, Any]]:
    """Per rule, its roles as the compiled statements measure them (quantiles on SQLite via the
    two order statistics, stddev from sums, exactly like the runner)."""
    scan = qc.compile_scan(rules, COLUMNS, '"t"', dialect)
    values = scan.values(execute)
    out = []
    for i, rule in enumerate(rules):
        v = {role: value for (index, role), value in values.items() if index == i}
        assert not v.pop("nonfinite", 0)  # the rows hold no NaN nor infinity
        if isinstance(rule, StatisticRule) and "value" not in v:
            if rule.statistic == "stddev":  # sums of x - c around one of the values, as the runner reads them
                variance = qc.variance_from_shifted_sums(v["n"], v["sum"] or 0.0, v["sumsq"] or 0.0)
                v = {"value": None if variance is None else math.sqrt(variance)}
            else:
                count = v["n"]
                if count == 0:
                    v = {"value": None}
                else:
                    h = rule.q * (count - 1)  # type: ignore[operator]
                    k = math.floor(h)
                    pair = [r[0] for r in execute(qc.quantile_sql(rule, COLUMNS, '"t"', dialect, k))]
                    v = {"value": pair[0] + (h - k) * ((pair[1] if len(pair) > 1 else pair[0]) - pair[0])}
        out.append(v)
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_strategy, rules=rules_strategy())
def test_compiled_scan_equals_duckdb_reference(rows: list[tuple[Any, ...]], rules: list[AnyRule]) -> None:
    lite, duck = load(rows)
    try:
        expected = [reference(duck, r) for r in rules]
        for dialect, execute in (("sqlite", lambda sql: lite.execute(sql).fetchall()),
                                 ("duckdb", lambda sql: duck.execute(sql).fetchall())):
            got = measured(rules, execute, dialect, len(rows))
            for rule, want, have in zip(rules, expected, got, strict=True):
                assert set(want) == set(have), (dialect, rule)
                for role in want:
                    assert close(want[role], have[role]), (dialect, rule, role, want[role], have[role])
        # every statement parses in every dialect
        for dialect in DIALECTS:
            for sql in qc.compile_scan(rules, COLUMNS, qc.dialect(dialect).quote("t"), dialect).statements:
                sqlglot.parse_one(sql, read=dialect)
    finally:
        lite.close()
        duck.close()


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, column=st.sampled_from(["i", "s"]), second=st.booleans())
def test_duplicates_equal_a_window_count(rows: list[tuple[Any, ...]], column: str, second: bool) -> None:
    cols = [column, "x"] if second else [column]
    rule = UniquenessRule(type="uniqueness", columns=cols)
    lite, duck = load(rows)
    try:
        key = ", ".join(cols)
        not_null = " AND ".join(f"{c} IS NOT NULL" for c in cols)
        want_rows = duck.execute(f"SELECT count(*) FROM (SELECT count(*) OVER (PARTITION BY {key}) AS c FROM t "
                                 f"WHERE {not_null}) WHERE c > 1").fetchone()[0]
        want_values = duck.execute(f"SELECT count(*) FROM (SELECT DISTINCT {key} FROM (SELECT {key}, count(*) OVER "
                                   f"(PARTITION BY {key}) AS c FROM t WHERE {not_null}) WHERE c > 1)").fetchone()[0]
        for dialect, con in (("sqlite", lite), ("duckdb", duck)):
            got = con.execute(qc.duplicates_sql(rule, COLUMNS, '"t"', dialect, 5)).fetchall()
            values, dup_rows = (got[0][-2], got[0][-1]) if got else (0, 0)
            assert (values, dup_rows) == (want_values, want_rows), dialect
            # the sample: the most repeated values, most repeated first, each with its row count
            counts = [r[-3] for r in got]
            assert len(got) == min(5, want_values) and all(c > 1 for c in counts) and counts == sorted(counts)[::-1]
            assert all(len(r) == len(cols) + 3 for r in got)
        for dialect in DIALECTS:
            sql = qc.duplicates_sql(rule, COLUMNS, qc.dialect(dialect).quote("t"), dialect, 5)
            sqlglot.parse_one(sql, read=dialect)
    finally:
        lite.close()
        duck.close()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_statement_kind_parses_in_its_dialect(dialect: str) -> None:
    from meshfabric.spec.quality_rules import AnomalyRule, CustomSqlRule, FormatRule, ReferentialRule

    rel = qc.dialect(dialect).quote("t")
    rule = ReferentialRule(type="referential", column="i", reference="a.b", reference_column="i")
    statements = [
        qc.orphans_sql(rule, COLUMNS, rel, COLUMNS, qc.dialect(dialect).quote("u"), dialect),
        qc.orphans_sql(rule, COLUMNS, rel, COLUMNS, qc.dialect(dialect).quote("u"), dialect, sample=5),
        qc.custom_sql(CustomSqlRule(type="custom_sql", sql="SELECT * FROM {table} WHERE x < 0"), rel, dialect),
        qc.custom_sql(CustomSqlRule(type="custom_sql", sql="SELECT * FROM {table} AS o WHERE o.x < 0"), rel, dialect,
                      sample=5),
        qc.sample_sql(FormatRule(type="format", column="s", format="email"), COLUMNS, COLUMNS[:1], rel, dialect, 5),
        qc.anomaly_sample_sql(AnomalyRule(type="anomaly", columns=["x", "i"]), COLUMNS, [], rel, dialect,
                              random=True),
        qc.quantile_sql(StatisticRule(type="statistic", column="x", statistic="median", max=1), COLUMNS, rel,
                        dialect, 3),
    ]
    for sql in statements:
        assert sqlglot.parse_one(sql, read=dialect) is not None


def test_exact_string_comparisons_per_dialect() -> None:
    ci = ColumnInfo("s", "varchar(9) COLLATE utf8mb4_general_ci", LogicalType("string"), case_insensitive=True)
    rule = AcceptedValuesRule(type="accepted_values", column="s", values=["a"])
    assert "CAST(`_mf_t`.`s` AS BINARY) IN ('a')" in qc.dialect("mysql").sql(
        qc.failing_predicate(rule, [ci], qc.dialect("mysql")))  # type: ignore[arg-type]
    assert '"_mf_t"."s" COLLATE BINARY IN' in qc.dialect("sqlite").sql(
        qc.failing_predicate(rule, [ci], qc.dialect("sqlite")))  # type: ignore[arg-type]
    assert 'CAST("_mf_t"."s" AS TEXT) COLLATE "C" IN' in qc.dialect("postgres").sql(
        qc.failing_predicate(rule, [ci], qc.dialect("postgres")))  # type: ignore[arg-type]


def test_literals_follow_the_column_type() -> None:
    date = ColumnInfo("d", "date", LogicalType("date"))
    stamp = ColumnInfo("t", "timestamp", LogicalType("timestamp"))
    rule = RangeRule(type="range", column="d", min="2024-01-01")
    assert "CAST('2024-01-01' AS DATE)" in qc.dialect("postgres").sql(
        qc.failing_predicate(rule, [date], qc.dialect("postgres")))  # type: ignore[arg-type]
    assert ">= '2024-01-01 10:00:00'" in qc.dialect("sqlite").sql(qc.failing_predicate(
        RangeRule(type="range", column="t", min="2024-01-01T10:00:00"), [stamp], qc.dialect("sqlite")))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not a number"):
        qc.failing_predicate(RangeRule(type="range", column="x", min="ten"), COLUMNS[1:2], qc.dialect("duckdb"))
    with pytest.raises(ConfigError, match="did you mean 'x'"):
        qc.compile_scan([CompletenessRule(type="not_null", column="xx")], COLUMNS, '"t"', "duckdb")
    with pytest.raises(ConfigError, match="needs a numeric column"):
        qc.compile_scan([StatisticRule(type="statistic", column="s", statistic="mean", max=1)], COLUMNS, '"t"',
                        "duckdb")


def test_doctests_show_sql_in_and_out() -> None:
    import doctest

    from meshfabric.quality import scores
    from meshfabric.spec import quality_rules as rules

    for module in (qc, rules, scores):
        assert doctest.testmod(module).failed == 0, module.__name__


def test_driver_values_become_exact_numbers_times_and_json() -> None:
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from meshfabric.quality.run import _count, _instant, jsonable

    assert [_count(v) for v in (None, 7, 7.0, Decimal("12"), "12", "9007199254740993")] == [
        0, 7, 7, 12, 12, 9007199254740993]  # numeric text from PostgreSQL stays exact past 2**53
    stamp = datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert _instant(datetime(2024, 1, 1, 12)) == stamp  # naive is UTC
    assert _instant("2024-01-01 12:00:00") == stamp == _instant("2024-01-01T12:00:00Z")
    assert _instant(Decimal("1704110400.000000")) == stamp  # MariaDB UNIX_TIMESTAMP of a TIMESTAMP
    assert _instant(date(2024, 1, 1)) == datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ConfigError):
        _instant("yesterday")
    assert jsonable([Decimal("1.50"), Decimal("2"), b"C002", b"\xff", float("nan"), date(2024, 1, 2)]) == [
        1.5, 2, "C002", "ff", "nan", "2024-01-02"]
