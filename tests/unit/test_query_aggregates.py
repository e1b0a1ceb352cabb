"""Grouped SELECTs run whole in their source: chosen where every part means the same there as
in DuckDB, refused otherwise, and always DuckDB's answer to the type — hypothesis generates
the queries. The source is a real SQLite database file (see test_query_joins)."""
# ruff: noqa: F811 - the fixtures are imported from test_query_joins and named as parameters

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_query_joins import catalog_for, exact_stats, planned, reference, rows, workspace  # noqa: F401

from helpers import grouped_select, same_typed
from meshfabric.query import run_query
from meshfabric.query.secure import SecuredView


def test_a_grouped_query_over_one_product_moves_only_its_groups(
    workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    sql = ("SELECT c_nation, count(*) AS n, count(c_name) AS named, sum(c_id) AS total, min(c_id) AS lo "
           "FROM crm.customer WHERE c_segment = 'BUILDING' GROUP BY c_nation")
    catalog = catalog_for(workspace, exact_stats())
    p = planned(sql, catalog)
    (scan,) = p.scans
    assert scan.aggregated and scan.product == "crm.customer"
    statement = scan.binding.port.sql or ""
    assert "GROUP BY" in statement and "COUNT(*)" in statement and "'BUILDING'" in statement
    assert "aggregated in the source: crm.customer" in str(p)
    same_typed(sql, catalog, reference)
    result = run_query(sql, catalog)
    assert result.stats.scans[0].rows == 5  # one row per nation of the segment moved, not 60 customers


def test_a_derived_table_joining_two_products_is_counted_in_the_source(
    workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    # TPC-H Q13's shape: a left join counted per customer, renamed by position, grouped again
    sql = ("SELECT cnt, count(*) AS customers FROM (SELECT c.c_id, count(o.o_id) FROM crm.customer c "
           "LEFT JOIN sales.orders o ON c.c_id = o.o_customer AND o.o_status = 'O' GROUP BY c.c_id) "
           "AS per (c_id, cnt) GROUP BY cnt ORDER BY cnt")
    catalog = catalog_for(workspace, None)
    p = planned(sql, catalog)
    (scan,) = p.scans
    assert scan.aggregated and scan.product == "crm.customer + sales.orders"
    assert "LEFT JOIN" in (scan.binding.port.sql or "")
    same_typed(sql, catalog, reference)


def test_order_and_limit_stay_in_the_engine_over_the_pushed_groups(
    workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    sql = ("SELECT o_status, count(*) AS n, sum(o_customer) AS s FROM sales.orders GROUP BY o_status "
           "ORDER BY count(*) DESC, 1 LIMIT 1")
    catalog = catalog_for(workspace, exact_stats())
    (scan,) = planned(sql, catalog).scans
    assert scan.aggregated and "ORDER BY" not in (scan.binding.port.sql or "")
    same_typed(sql, catalog, reference)


@pytest.mark.parametrize("sql", [
    "SELECT c_nation, avg(c_id) AS a FROM crm.customer GROUP BY c_nation",  # a rounding of its own
    "SELECT o_status, sum(o_total) AS t FROM sales.orders GROUP BY o_status",  # floating-point sum
    "SELECT c_name, count(*) AS n FROM crm.customer GROUP BY c_name",  # NOCASE: 'a' and 'A' one group
    "SELECT max(c_name) AS m FROM crm.customer",  # NOCASE order
    "SELECT c_nation, count(*) AS n FROM crm.customer GROUP BY c_nation HAVING count(*) > 11",
    "SELECT c_nation, count(*) FROM crm.customer GROUP BY c_nation",  # DuckDB's own name for count(*)
    "SELECT count(DISTINCT c_segment) AS d, count(*) OVER () AS w FROM crm.customer",
    "SELECT l.l_mode, count(*) AS n FROM logistics.lines l JOIN sales.orders o ON o.o_id = l.l_order GROUP BY 1",
    "SELECT c_nation, count(*) AS n FROM crm.customer WHERE c_id IN (SELECT o_customer FROM sales.orders) "
    "GROUP BY c_nation",
])
def test_what_could_differ_in_the_source_stays_in_the_engine(
    sql: str, workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    catalog = catalog_for(workspace, exact_stats())
    assert not any(s.aggregated for s in planned(sql, catalog).scans), sql
    got = run_query(sql, catalog).arrow()
    want = reference.execute(sql).to_arrow_table()
    assert rows(got) == rows(want)


def test_a_secured_product_is_aggregated_in_the_engine_over_its_policy(workspace: Path) -> None:
    catalog = catalog_for(workspace, exact_stats())
    view = SecuredView(tuple((c, None) for c in ("c_id", "c_segment", "c_nation", "c_name")),
                       sqlglot.parse_one("c_nation < 5"))
    sql = "SELECT c_nation, count(*) AS n FROM crm.customer GROUP BY c_nation"
    result = run_query(sql, catalog, views=lambda bindings: {"crm.customer": view})
    assert sorted(r["c_nation"] for r in result.arrow().to_pylist()) == [0, 1, 2, 3, 4]
    assert not any(" + " in s.product for s in result.stats.scans)
    assert result.stats.scans[0].rows == 60  # the policy's rows, aggregated by the engine


AGGREGATES = ["count(*)", "count(o.o_customer)", "sum(o.o_customer)", "min(o.o_id)", "max(o.o_total)",
              "count(DISTINCT o.o_status)", "sum(c.c_nation)", "min(c.c_segment)"]
GROUPS = ["o.o_status", "c.c_nation", "c.c_segment", "o.o_customer"]
WHERE = ["o.o_total > {n}", "o.o_status = 'O'", "c.c_nation < {n}", "o.o_customer IS NULL", "c.c_segment <> 'OTHER'"]


@st.composite
def grouped(draw: st.DrawFn) -> str:
    left = draw(st.booleans())
    join = ("crm.customer c LEFT JOIN sales.orders o ON o.o_customer = c.c_id" if left
            else draw(st.sampled_from(["crm.customer c JOIN sales.orders o ON o.o_customer = c.c_id",
                                       "crm.customer c, sales.orders o"])))
    where = [draw(st.sampled_from(WHERE)).format(n=draw(st.integers(0, 60))) for _ in range(draw(st.integers(0, 2)))]
    if join.endswith(" o"):
        where.append("o.o_customer = c.c_id")
    groups = draw(st.lists(st.sampled_from(GROUPS), min_size=0, max_size=2, unique=True))
    aggregates = draw(st.lists(st.sampled_from(AGGREGATES), min_size=1, max_size=3, unique=True))
    sql = grouped_select(groups, aggregates, join, where)
    if draw(st.booleans()):
        sql = f"SELECT count(*) AS groups, max(a0) AS top FROM ({sql}) AS inner_query"
    return sql


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=grouped(), stats=st.booleans())
def test_generated_aggregates_give_duckdbs_answer_and_types(
    sql: str, stats: bool, workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    same_typed(sql, catalog_for(workspace, exact_stats() if stats else None), reference)
