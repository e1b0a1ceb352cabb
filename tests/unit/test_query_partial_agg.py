"""Partial aggregation below a cross-source join: one product grouped in its SQL source by the
columns the rest of the query reads of it, the engine joining and finishing the aggregation.
Chosen only where it is correct, expected to move at most half the rows and to take clearly less
time over the source's link; always DuckDB's answer to the type — hypothesis generates the
queries, with statistics exact, missing and wrong, and with the row rule lifted so every allowed
rewrite is exercised. The tables here are tiny, so on the default loopback link the statement's
round trip is all a scan costs: the time rule is lifted in every test but the one about it.

The SQL source is a real SQLite database file and the other product a Parquet file read by the
engine (the fixtures of test_query_joins); tests/integration/test_partial_agg_servers.py does
the same over PostgreSQL and MariaDB.
"""
# ruff: noqa: F811 - the fixtures are imported from test_query_joins and named as parameters

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_query_joins import (  # noqa: F401
    catalog_for,
    exact_stats,
    planned,
    reference,
    rows,
    workspace,
    wrong_stats,
)

from helpers import grouped_select, same_typed
from meshfabric.connectors.base import ColumnStatistics, TableStatistics
from meshfabric.connectors.sqlite import SQLiteConnector
from meshfabric.query import optimizer, partial, run_query
from meshfabric.query.secure import SecuredView
from meshfabric.spec.models import NetworkSpec, SourceSpec

#: orders grouped per customer (~330 customers for 2,000 orders) joined to lines by quantity
CHOSEN = ("SELECT l.l_mode AS mode, count(*) AS n, count(o.o_customer) AS named, sum(o.o_id) AS s, "
          "min(o.o_status) AS lo, max(o.o_id) AS hi FROM sales.orders o JOIN logistics.lines l "
          "ON l.l_qty = o.o_customer WHERE o.o_status = 'F' GROUP BY l.l_mode")


def worth(value: float) -> Any:
    """PARTIAL_WORTH set to ``value`` for the duration (hypothesis runs many examples per test)."""
    return mock.patch.object(partial, "PARTIAL_WORTH", value)


@pytest.fixture(autouse=True)
def any_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """The time rule lifted: a few thousand rows cost one round trip on loopback either way."""
    monkeypatch.setattr(partial, "PARTIAL_TIME_WORTH", 1e12)


def partial_scans(sql: str, catalog) -> list:
    return [s for s in planned(sql, catalog).scans if s.aggregated and any("partial" in w for w in s.why)]


def test_the_big_side_is_grouped_in_its_source_and_only_its_groups_move(
    workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    catalog = catalog_for(workspace, exact_stats())
    p = planned(CHOSEN, catalog)
    (scan,) = [s for s in p.scans if s.source == "shop"]
    assert scan.aggregated and scan.product == "sales.orders"
    statement = scan.binding.port.sql or ""
    assert statement.endswith('GROUP BY "t0"."o_customer"') and "'F'" in statement
    assert 'COUNT(*) AS "mf_partial_0"' in statement and 'SUM("t0"."o_id")' in statement
    text = str(p)
    assert "aggregated in the source: sales.orders" in text
    assert "partial aggregation in the source below a cross-source join: grouped by o_customer" in text
    # the engine sums the partials, cast to DuckDB's types; the pushed condition left the engine
    assert "CAST(COALESCE(SUM(CAST(o.mf_partial_0 AS BIGINT)), 0) AS BIGINT)" in p.sql and "o_status = 'F'" not in p.sql
    assert any("partial aggregation" in w for s in p.as_dict()["scans"] for w in s["why"])  # type: ignore[union-attr]
    same_typed(CHOSEN, catalog, reference)
    result = run_query(CHOSEN, catalog)
    moved = next(s.rows for s in result.stats.scans if s.source == "shop")
    assert moved == len(reference.execute(
        "SELECT DISTINCT o_customer FROM sales.orders WHERE o_status = 'F'").fetchall())  # not 1,333 orders


def test_a_derived_table_keeps_its_place(workspace: Path, reference: duckdb.DuckDBPyConnection) -> None:
    sql = f"SELECT mode, n, s FROM ({CHOSEN}) AS per WHERE n > 2 ORDER BY mode"
    catalog = catalog_for(workspace, exact_stats())
    assert partial_scans(sql, catalog)
    same_typed(sql, catalog, reference)


def test_a_grouped_select_over_a_rewritten_derived_table_is_rewritten_too(
    workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    inner = ("SELECT l.l_mode AS m, l.l_qty AS q, count(*) AS n FROM sales.orders o JOIN logistics.lines l "
             "ON l.l_qty = o.o_customer GROUP BY 1, 2")
    sql = (f"SELECT x.m AS m, max(x.n) AS top, count(*) AS k, sum(c.c_id) AS s FROM ({inner}) AS x "
           "JOIN crm.customer c ON c.c_nation = x.q GROUP BY 1 ORDER BY 1")
    catalog = catalog_for(workspace, exact_stats())
    assert sorted(s.product for s in partial_scans(sql, catalog)) == ["crm.customer", "sales.orders"]
    same_typed(sql, catalog, reference)


def test_the_partial_groups_still_take_keys(
    workspace: Path, reference: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(optimizer, "MIN_CONSUMER_ROWS", 10.0)
    monkeypatch.setattr(optimizer, "WORTH", 1e12)  # whatever earlier scans measured of the link
    sql = ("SELECT l.l_mode AS m, count(*) AS n, sum(o.o_id) AS s FROM sales.orders o JOIN logistics.lines l "
           "ON l.l_qty = o.o_customer WHERE l.l_qty = 3 AND l.l_mode = 'AIR' GROUP BY 1")
    catalog = catalog_for(workspace, exact_stats())
    (scan,) = partial_scans(sql, catalog)
    assert [(d.column, d.producer_column) for d in scan.dynamic] == [("o_customer", "l_qty")]
    same_typed(sql, catalog, reference)
    assert next(s.rows for s in run_query(sql, catalog).stats.scans if s.source == "shop") == 1


@pytest.mark.parametrize("sql", [
    # a floating-point sum: its rounding depends on the order of the rows
    "SELECT l.l_mode AS m, sum(o.o_total) AS t FROM sales.orders o JOIN logistics.lines l ON l.l_qty = o.o_customer "
    "GROUP BY 1",
    # count(DISTINCT) of a column that is not a key does not decompose
    "SELECT l.l_mode AS m, count(DISTINCT o.o_status) AS d FROM sales.orders o JOIN logistics.lines l "
    "ON l.l_qty = o.o_customer GROUP BY 1",
    # avg has a rounding of its own
    "SELECT l.l_mode AS m, avg(o.o_id) AS a FROM sales.orders o JOIN logistics.lines l ON l.l_qty = o.o_customer "
    "GROUP BY 1",
    # the orders on the null-supplied side of an outer join
    "SELECT l.l_mode AS m, count(o.o_id) AS n FROM logistics.lines l LEFT JOIN sales.orders o "
    "ON l.l_qty = o.o_customer GROUP BY 1",
    # a duplicate-sensitive aggregate of the other product
    "SELECT o.o_status AS st, sum(l.l_qty) AS q FROM sales.orders o JOIN logistics.lines l ON l.l_qty = o.o_customer "
    "GROUP BY 1",
    # an aggregate of an expression
    "SELECT l.l_mode AS m, sum(o.o_id + 1) AS s FROM sales.orders o JOIN logistics.lines l ON l.l_qty = o.o_customer "
    "GROUP BY 1",
    # no fewer groups than rows: orders joined by their own key
    "SELECT l.l_mode AS m, count(*) AS n, sum(o.o_customer) AS s FROM sales.orders o JOIN logistics.lines l "
    "ON l.l_order = o.o_id GROUP BY 1",
    # NOCASE grouping key: 'a' and 'A' would be one group in SQLite
    "SELECT l.l_mode AS m, count(*) AS n FROM crm.customer c JOIN logistics.lines l ON l.l_mode = c.c_name GROUP BY 1",
    # DuckDB names an unaliased expression after its text
    "SELECT l.l_mode, count(*) FROM sales.orders o JOIN logistics.lines l ON l.l_qty = o.o_customer GROUP BY 1",
    # a subquery in the SELECT
    "SELECT l.l_mode AS m, count(*) AS n FROM sales.orders o JOIN logistics.lines l ON l.l_qty = o.o_customer "
    "WHERE o.o_id IN (SELECT l_order FROM logistics.lines) GROUP BY 1",
])
def test_what_could_differ_or_save_nothing_is_not_decomposed(
    sql: str, workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    catalog = catalog_for(workspace, exact_stats())
    assert not partial_scans(sql, catalog), sql
    got = run_query(sql, catalog).arrow()
    want = reference.execute(sql).to_arrow_table()
    assert rows(got) == rows(want) and got.schema.types == want.schema.types


def test_the_time_rule_follows_the_link(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partial, "PARTIAL_TIME_WORTH", 0.6)
    sql = ("SELECT l.l_mode AS mode, count(*) AS n, max(o.o_id) AS hi FROM sales.orders o JOIN logistics.lines l "
           "ON l.l_qty = o.o_customer WHERE o.o_total > 10 GROUP BY 1")
    catalog = catalog_for(workspace, exact_stats())
    assert not partial_scans(sql, catalog)  # loopback: the statement's round trip is all either costs
    slow = SourceSpec(kind="sqlite", path="shop.db", network=NetworkSpec(bandwidth_mbps=1, latency_ms=5))
    catalog.connectors["shop"] = SQLiteConnector("shop", slow, workspace)
    (scan,) = partial_scans(sql, catalog)  # 1 Mbit/s: ~330 groups of 40 bytes against ~1,800 rows of 24
    assert any(" s against ~" in w for w in scan.why)


def test_a_volatile_condition_stays_in_the_engine(workspace: Path, reference: duckdb.DuckDBPyConnection) -> None:
    sql = ("SELECT l.l_mode AS m, count(*) AS n FROM sales.orders o JOIN logistics.lines l ON l.l_qty = o.o_customer "
           "WHERE o.o_id < year(current_date) GROUP BY 1")
    catalog = catalog_for(workspace, exact_stats())
    with worth(1e12):
        (scan,) = partial_scans(sql, catalog)
    statement = scan.binding.port.sql or ""
    assert "CURRENT" not in statement.upper() and '"t0"."o_id"' in statement  # grouped by it instead
    with worth(1e12):
        same_typed(sql, catalog, reference)


@pytest.mark.parametrize("where", ["o.o_id < 0", "o.o_customer IS NULL"])
def test_partials_over_no_rows_or_only_nulls_keep_their_types(
    where: str, workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    """SQLite types a sum over no rows as nothing at all: the engine reads each partial as its type."""
    sql = ("SELECT l.l_mode AS m, count(*) AS n, sum(o.o_id) AS s, max(o.o_id) AS hi, count(o.o_status) AS k "
           f"FROM sales.orders o LEFT JOIN logistics.lines l ON l.l_qty = o.o_customer WHERE {where} GROUP BY 1")
    catalog = catalog_for(workspace, exact_stats())
    with worth(1e12):
        assert partial_scans(sql, catalog)
        same_typed(sql, catalog, reference)
        same_typed(f"SELECT count(*) AS groups, sum(s) AS total FROM ({sql}) AS g", catalog, reference)


def test_without_statistics_groups_are_not_expected_fewer(workspace: Path) -> None:
    assert not partial_scans(CHOSEN, catalog_for(workspace, None))


def test_wrong_statistics_change_the_plan_not_the_answer(
    workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    # the statistics claim two order ids: grouping by them looks cheap, and is not
    sql = ("SELECT l.l_mode AS m, count(*) AS n, sum(o.o_customer) AS s FROM sales.orders o JOIN logistics.lines l "
           "ON l.l_order = o.o_id GROUP BY 1")
    lying = exact_stats()
    lying["sales.orders"] = TableStatistics(2_000, columns={"o_id": ColumnStatistics(distinct=2)})
    catalog = catalog_for(workspace, lying)
    assert partial_scans(sql, catalog)
    same_typed(sql, catalog, reference)


def test_a_secured_product_is_never_aggregated_in_its_source(workspace: Path) -> None:
    catalog = catalog_for(workspace, exact_stats())
    view = SecuredView(tuple((c, None) for c in ("o_id", "o_customer", "o_total", "o_status")),
                       sqlglot.parse_one("o_customer < 100"))
    result = run_query(CHOSEN, catalog, views=lambda bindings: {"sales.orders": view})
    assert not any(s.product == "sales.orders" and s.rows < 100 for s in result.stats.scans)
    with worth(0.0):
        unpushed = run_query(CHOSEN, catalog, views=lambda bindings: {"sales.orders": view})
    assert rows(result.arrow()) == rows(unpushed.arrow())


@pytest.mark.parametrize("mask", [None, "'***'"])
def test_a_principal_restricted_on_the_other_product_gets_the_same_answer(
    mask: str | None, workspace: Path
) -> None:
    """Masked and row-filtered lines (the other product): the orders are still grouped in their
    source, and the answer is the one the engine gives without the rewrite."""
    catalog = catalog_for(workspace, exact_stats())
    lines = SecuredView((("l_order", None), ("l_qty", None),
                         ("l_mode", sqlglot.parse_one(mask) if mask else None)),
                        sqlglot.parse_one("l_qty < 30"))
    views = lambda bindings: {"logistics.lines": lines}  # noqa: E731
    result = run_query(CHOSEN, catalog, views=views)
    assert any(s.product == "sales.orders" and s.rows < 400 for s in result.stats.scans)
    with worth(0.0):
        unpushed = run_query(CHOSEN, catalog, views=views)
    assert not any(s.product == "sales.orders" and s.rows < 400 for s in unpushed.stats.scans)
    got, want = result.arrow(), unpushed.arrow()
    assert got.schema == want.schema and rows(got) == rows(want)
    if mask:
        assert {r["mode"] for r in got.to_pylist()} == {"***"}


M_AGGREGATES = ["count(*)", "count({m}.{nullable})", "sum({m}.{int})", "min({m}.{int})", "max({m}.{text})",
                "sum({m}.{float})", "count(DISTINCT l.l_mode)", "max(l.l_qty)", "count(DISTINCT {m}.{key})",
                "avg({m}.{int})"]
PRODUCTS = {
    "o": {"fqn": "sales.orders", "keys": ["o_customer", "o_status"], "int": "o_id", "nullable": "o_customer",
          "text": "o_status", "float": "o_total", "filters": ["o.o_status = 'O'", "o.o_id > {n}0",
                                                              "o.o_customer IS NOT NULL"]},
    "c": {"fqn": "crm.customer", "keys": ["c_nation", "c_segment"], "int": "c_id", "nullable": "c_nation",
          "text": "c_segment", "float": "c_id", "filters": ["c.c_segment = 'BUILDING'", "c.c_id < {n}"]},
}


@st.composite
def grouped_joins(draw: st.DrawFn) -> str:
    m = draw(st.sampled_from(sorted(PRODUCTS)))
    p = PRODUCTS[m]
    key = draw(st.sampled_from(p["keys"]))
    other = draw(st.sampled_from(["l.l_qty", "l.l_order"])) if key != "o_status" and key != "c_segment" \
        else "l.l_mode"
    on = f"{other} = {m}.{key}"
    join = draw(st.sampled_from(["JOIN", "LEFT JOIN", "RIGHTSIDE", "COMMA"]))
    if join == "COMMA":
        source, conditions = f"{p['fqn']} {m}, logistics.lines l", [on]
    elif join == "RIGHTSIDE":  # the product null-supplied: never decomposed, still DuckDB's answer
        source, conditions = f"logistics.lines l LEFT JOIN {p['fqn']} {m} ON {on}", []
    else:
        source, conditions = f"{p['fqn']} {m} {join} logistics.lines l ON {on}", []
    n = draw(st.integers(0, 60))
    conditions += [f.format(n=n) for f in draw(st.lists(st.sampled_from(p["filters"]), max_size=2, unique=True))]
    if draw(st.booleans()):
        conditions.append(draw(st.sampled_from(["l.l_mode = 'AIR'", f"l.l_qty < {n}", "l.l_order > 100"])))
    groups = draw(st.lists(st.sampled_from(["l.l_mode", "l.l_qty", f"{m}.{p['text']}", f"{m}.{key}"]),
                           min_size=0, max_size=2, unique=True))
    fills = {"m": m, **{k: v for k, v in p.items() if isinstance(v, str)}, "key": key}
    aggregates = [a.format(**fills) for a in draw(st.lists(st.sampled_from(M_AGGREGATES), min_size=1, max_size=3,
                                                           unique=True))]
    sql = grouped_select(groups, aggregates, source, conditions, "count(*) > 1" if draw(st.booleans()) else None)
    if draw(st.booleans()):
        sql = f"SELECT count(*) AS groups, max(a0) AS top FROM ({sql}) AS inner_query"
    return sql


def wrong() -> dict[str, TableStatistics]:
    found = wrong_stats()
    found["sales.orders"] = TableStatistics(5, columns={"o_customer": ColumnStatistics(distinct=1),
                                                        "o_status": ColumnStatistics(distinct=1)})
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=grouped_joins(), stats=st.sampled_from(["exact", "missing", "wrong"]), force=st.booleans())
def test_generated_grouped_joins_give_duckdbs_answer_and_types(
    sql: str, stats: str, force: bool, workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    given_stats = {"exact": exact_stats(), "missing": None, "wrong": wrong()}[stats]
    with worth(1e12 if force else partial.PARTIAL_WORTH):
        same_typed(sql, catalog_for(workspace, given_stats), reference)


def test_the_generator_reaches_the_rewrite(workspace: Path) -> None:
    """The property test above is not vacuous: forced, the rewrite applies to these shapes."""
    catalog = catalog_for(workspace, exact_stats())
    with worth(1e12):
        for sql in [CHOSEN,
                    "SELECT c.c_segment AS g0, count(*) AS a0 FROM crm.customer c, logistics.lines l "
                    "WHERE l.l_qty = c.c_nation GROUP BY c.c_segment HAVING count(*) > 1",
                    "SELECT count(*) AS a0, max(l.l_qty) AS a1 FROM crm.customer c LEFT JOIN logistics.lines l "
                    "ON l.l_order = c.c_nation WHERE c.c_id < 7"]:
            assert partial_scans(sql, catalog), sql


@pytest.mark.parametrize("where", ["(o.status = 'F' AND o.id > 5)", "((o.status = 'F') AND (o.id > 5)) AND c.n < 3",
                                   "c.n < 3 AND ((o.id > 5))"])
def test_conditions_of_the_product_leave_the_engine_whatever_their_parentheses(where: str) -> None:
    from meshfabric.types import LogicalType

    types = {"custkey": LogicalType("bigint"), "status": LogicalType("string"), "id": LogicalType("bigint")}
    q = sqlglot.parse_one("SELECT c.segment, count(*) AS n FROM s0 AS o JOIN s1 AS c ON o.custkey = c.custkey "
                          f"AND (o.id < 9) WHERE {where} GROUP BY 1", read="duckdb")
    found = partial.decompose(q, "o", {"o": set(types), "c": {"custkey", "segment", "n"}}, types,
                              exact=lambda c, o: True, pushable=lambda c: True)
    assert found is not None and found.keys == ("custkey",)
    engine = found.engine.sql(dialect="duckdb")
    assert "o.id" not in engine and "o.status" not in engine and engine.count("c.n < 3") == ("c.n" in where)
