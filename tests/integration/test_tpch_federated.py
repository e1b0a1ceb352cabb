"""TPC-H across three sources: the federated answers equal DuckDB's over co-located files.

customer, orders, nation and region live in PostgreSQL (domain ``sales``); part, supplier and
partsupp in MariaDB with its default case-insensitive collation (domain ``supply``); lineitem
in a Parquet file (domain ``logistics``). Every query runs through ``run_query`` and is compared
with DuckDB running the original TPC-H text over the same Parquet files, side by side.

The scale defaults to 0.1 (600k lineitem rows); ``MF_TPCH_SCALE`` changes it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshfabric.query import explain, run_query
from meshfabric.query.catalog import StaticCatalog
from meshfabric.query.result import QueryResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tpch

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.mariadb]

SCALE = float(os.environ.get("MF_TPCH_SCALE", "0.1"))
PREFIX = "tpch_"


@pytest.fixture(scope="module")
def tpch_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tpch.generate(SCALE, tmp_path_factory.mktemp(f"tpch_sf{SCALE}"))


@pytest.fixture(scope="module")
def federated(
    pg_url: str, mysql_url: str, tpch_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StaticCatalog]:
    with tpch.loaded_split(pg_url, mysql_url, tpch_files, tmp_path_factory.mktemp("lake"), prefix=PREFIX) as catalog:
        yield catalog


@pytest.fixture(scope="module")
def baseline(tpch_files: dict[str, Path]) -> Iterator[Any]:
    conn = tpch.duckdb_baseline(tpch_files)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="module")
def lineitem_rows(tpch_files: dict[str, Path]) -> int:
    import pyarrow.parquet as pq

    return int(pq.read_metadata(tpch_files["lineitem"]).num_rows)


def run(number: int, catalog: StaticCatalog) -> QueryResult:
    return run_query(tpch.product_sql(number), catalog)


def scan_of(result: QueryResult, product: str) -> Any:
    found = [s for s in result.stats.scans if s.product == product]
    assert found, f"no scan of {product}"
    return found[0]


@pytest.mark.parametrize("number", sorted(tpch.QUERIES))
def test_query_matches_duckdb_over_colocated_files(number: int, federated: StaticCatalog, baseline: Any) -> None:
    result = run(number, federated)
    expected = baseline.execute(tpch.QUERIES[number]).to_arrow_table()
    assert result.num_rows == expected.num_rows
    tpch.assert_same_result(result.arrow(), expected, ordered=tpch.ordered(number))


@pytest.mark.parametrize("number", [12, 19, 6, 14])
def test_lineitem_filters_are_pushed_so_few_rows_move(
    number: int, federated: StaticCatalog, lineitem_rows: int
) -> None:
    lineitem = scan_of(run(number, federated), "logistics.lineitem")
    assert lineitem.pushed_filters, "nothing was pushed into the Parquet scan"
    assert lineitem.rows < lineitem_rows * 0.05, (lineitem.rows, lineitem_rows)


@pytest.fixture
def apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read every product on its own: Q3's customer-orders join is expected at ~0.6 of apart,
    at the pushdown threshold, so sampled statistics can tip it either way."""
    from meshfabric.query import joins

    monkeypatch.setattr(joins, "JOIN_WORTH", 0.0)


def test_projections_carry_only_the_columns_a_query_needs(federated: StaticCatalog, apart: None) -> None:
    result = run(3, federated)
    assert scan_of(result, "logistics.lineitem").columns == (
        "l_orderkey",
        "l_extendedprice",
        "l_discount",
        "l_shipdate",
    )
    assert scan_of(result, "sales.customer").columns == ("c_custkey", "c_mktsegment")
    assert scan_of(result, "sales.orders").columns == ("o_orderkey", "o_custkey", "o_orderdate", "o_shippriority")


def test_string_equality_is_pushed_into_postgresql(federated: StaticCatalog, apart: None) -> None:
    customer = scan_of(run(3, federated), "sales.customer")
    assert customer.pushed_filters == ("\"c_mktsegment\" = 'BUILDING'",)
    assert customer.source_sql is not None and "BUILDING" in customer.source_sql
    assert customer.rows < 150_000 * SCALE * 0.3


@pytest.mark.parametrize(("number", "products", "aggregated"), [
    (5, "sales.customer + sales.orders + sales.nation + sales.region", False),
    (8, "sales.orders + sales.customer + sales.nation + sales.region", False),
    (10, "sales.customer + sales.orders + sales.nation", False),
    (13, "sales.customer + sales.orders", True),  # the derived table counts orders in PostgreSQL
])
def test_joins_and_groups_of_one_source_run_in_that_source(
    number: int, products: str, aggregated: bool, federated: StaticCatalog
) -> None:
    plan = explain(tpch.product_sql(number), federated)
    assert products in {s.product for s in plan.scans}, [s.product for s in plan.scans]
    pushed = next(s for s in plan.scans if s.product == products)
    assert pushed.aggregated == aggregated
    statement = (pushed.binding.port.sql or "").replace("`", '"')
    assert " AS \"t1\"" in statement and ("GROUP BY" in statement) == aggregated
    if aggregated:  # only the groups move: one count per customer
        scan = scan_of(run(number, federated), products)
        assert scan.rows == 150_000 * SCALE


def test_q22_finds_customers_without_orders_in_postgresql(federated: StaticCatalog) -> None:
    """The country code (a substring) and the NOT EXISTS over orders are both evaluated in
    PostgreSQL: no order row moves."""
    result = run(22, federated)
    scans = {s.product: s for s in result.stats.scans}
    assert set(scans) == {"sales.customer", "sales.customer + sales.orders"}, set(scans)
    both = scans["sales.customer + sales.orders"]
    assert both.source_sql is not None and "NOT EXISTS" in both.source_sql and "SUBSTRING" in both.source_sql
    assert any("SUBSTRING" in f for f in scans["sales.customer"].pushed_filters)
    assert both.rows < 150_000 * SCALE * 0.15


def test_string_predicates_reach_case_insensitive_mariadb_as_bytes(federated: StaticCatalog) -> None:
    part = scan_of(run(19, federated), "supply.part")
    # p_brand = 'Brand#12' would also match 'brand#12' under MariaDB's default collation: the
    # column's bytes are compared instead
    assert any("p_brand" in f for f in part.pushed_filters) and any("p_size" in f for f in part.pushed_filters)
    assert part.source_sql is not None and "CAST(`p_brand` AS BINARY)" in part.source_sql
    assert not part.kept_filters


def test_q19_pushes_the_disjunction_implied_for_each_table(federated: StaticCatalog) -> None:
    plan = explain(tpch.product_sql(19), federated)
    lineitem = next(s for s in plan.scans if s.product == "logistics.lineitem")
    (pushed,) = lineitem.filters
    text = pushed.sql(dialect="duckdb")
    assert text.count(" OR ") == 2 and "l_shipinstruct" in text and "l_quantity" in text


def test_explain_prints_each_source_and_what_it_is_sent(federated: StaticCatalog) -> None:
    text = str(explain(tpch.product_sql(5), federated))
    for product in ("sales.customer", "sales.orders", "logistics.lineitem", "supply.supplier", "sales.region"):
        assert product in text
    assert "(source 'sales_pg')" in text and "(source 'supply_maria')" in text and "(source 'lake')" in text
    # the four PostgreSQL products are joined there, the region's filter inside the statement
    assert "joined in the source: sales.customer, sales.orders, sales.nation, sales.region" in text
    assert '"t3"."r_name" = \'ASIA\'' in text and '"public"."tpch_region" AS "t3"' in text
    assert "source SQL: SELECT `s_suppkey`, `s_nationkey` FROM `tpch_supplier`" in text
    assert "read_parquet('lineitem.parquet')" in text, text
