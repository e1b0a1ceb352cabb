"""TPC-H on the Spark engine: the federated answers Spark computes equal the DuckDB engine's.

The same three-source split as ``test_tpch_federated.py`` (customer, orders, nation, region in
PostgreSQL; part, supplier, partsupp in MariaDB with its case-insensitive default collation;
lineitem in Parquet), at SF0.1, run through a standalone Spark cluster on loopback (one master,
one worker) started by the ``spark_master`` fixture. Each query's plan is made once and executed
by both engines, so the comparison is of the executors alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from meshfabric.query.catalog import StaticCatalog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tpch

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.mariadb]

SCALE = float(os.environ.get("MF_TPCH_SCALE", "0.1"))
PREFIX = "spark_tpch_"


@pytest.fixture(scope="module")
def federated(pg_url: str, mysql_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticCatalog]:
    files = tpch.generate(SCALE, tmp_path_factory.mktemp(f"spark_tpch_sf{SCALE}"))
    with tpch.loaded_split(pg_url, mysql_url, files, tmp_path_factory.mktemp("spark_lake"), prefix=PREFIX) as catalog:
        yield catalog


def _plan(number: int, catalog: StaticCatalog) -> Any:
    from meshfabric.query.guard import guard
    from meshfabric.query.planner import plan

    return plan(guard(tpch.product_sql(number), catalog).expression, catalog)


@pytest.mark.parametrize("number", sorted(tpch.QUERIES))
def test_spark_answers_equal_the_duckdb_engine(number: int, federated: StaticCatalog, spark_engine: Any) -> None:
    from meshfabric.query.engine import execute
    from meshfabric.spark import execute_spark

    the_plan = _plan(number, federated)
    on_spark = execute_spark(the_plan, federated, spec=spark_engine)
    on_duckdb = execute(the_plan, federated)
    assert on_spark.num_rows == on_duckdb.num_rows
    tpch.assert_same_result(on_spark.arrow(), on_duckdb.arrow(), ordered=tpch.ordered(number))
    # the same result shape as the DuckDB engine: one stats entry per scan, same names and SQL
    assert [s.name for s in on_spark.stats.scans] == [s.name for s in on_duckdb.stats.scans]


def test_spark_sends_each_database_the_connectors_own_statement(federated: StaticCatalog, spark_engine: Any) -> None:
    from meshfabric.query.engine import execute
    from meshfabric.query.planner import source_statement
    from meshfabric.spark import execute_spark

    the_plan = _plan(3, federated)
    on_spark = {s.name: s for s in execute_spark(the_plan, federated, spec=spark_engine).stats.scans}
    on_duckdb = {s.name: s for s in execute(the_plan, federated).stats.scans}
    databases = [s for s in the_plan.scans if federated.connector(s.source).kind in ("postgres", "mysql")]
    assert databases
    for scan in databases:
        assert on_spark[scan.name].source_sql == source_statement(scan, federated)
        # the rows that crossed the wire, as Spark observed them, are the DuckDB engine's; a
        # scan with dynamic filters moves more on Spark, which does not wait for other scans' keys
        if scan.dynamic:
            assert on_spark[scan.name].rows >= on_duckdb[scan.name].rows > 0
        else:
            assert on_spark[scan.name].rows == on_duckdb[scan.name].rows > 0
    assert any("BUILDING" in (on_spark[s.name].source_sql or "") for s in databases)


def test_spark_pushes_nothing_of_its_own_into_case_insensitive_mariadb(
    mysql_url: str, tmp_path: Path, spark_engine: Any
) -> None:
    # Spark's JDBC source would push `brand < 'a'` into MariaDB, whose default collation orders
    # 'Brand#12' after 'a' (case-insensitively), and trust the rows it gets back
    import pymysql

    from meshfabric.connectors import get_connector, server_address
    from meshfabric.query import run_query
    from meshfabric.query.catalog import ProductBinding, ProductColumn
    from meshfabric.spark import run_query_spark
    from meshfabric.spec.models import OutputPort, SourceSpec
    from meshfabric.types import parse_type

    spec = SourceSpec(kind="mysql", url=mysql_url)
    addr = server_address(spec, default_port=3306)
    conn = pymysql.connect(host=addr.host, port=addr.port, user="root", password="", database=addr.database,
                           autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE spark_brands (id BIGINT, brand VARCHAR(20)) CHARACTER SET utf8mb4 "
                    "COLLATE utf8mb4_general_ci")
        cur.execute("INSERT INTO spark_brands VALUES (1, 'Brand#12'), (2, 'brand#12'), (3, 'BRAND#13')")
    conn.close()
    port = OutputPort(source="maria", table="spark_brands")
    binding = ProductBinding("supply", "brands", "maria", port,
                             (ProductColumn("id", parse_type("bigint")), ProductColumn("brand", parse_type("string"))))
    catalog = StaticCatalog({"supply.brands": binding}, {"maria": get_connector("maria", spec, tmp_path)})
    sql = "SELECT id FROM supply.brands WHERE brand < 'a' ORDER BY id"
    try:
        expected = run_query(sql, catalog).rows
        assert expected == [(1,), (3,)]  # binary order: upper case sorts before 'a'
        assert run_query_spark(sql, catalog, spec=spark_engine).rows == expected
    finally:
        catalog.connectors["maria"].close()


def test_big_database_tables_are_read_in_ranges_with_the_same_answer(
    federated: StaticCatalog, spark_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # at SF0.1 no table reaches the range threshold: lower it so orders (150k rows) is split
    from meshfabric.query.engine import execute
    from meshfabric.spark import execute_spark, reads

    monkeypatch.setattr(reads, "PARTITION_ROWS", 20_000)
    from meshfabric.query.guard import guard
    from meshfabric.query.planner import plan

    sql = "SELECT o_orderpriority, count(o_orderkey), sum(o_totalprice) FROM sales.orders GROUP BY 1 ORDER BY 1"
    the_plan = plan(guard(sql, federated).expression, federated)
    (orders,) = the_plan.scans
    column, low, high, parts = reads.partitioning(orders, federated, parallelism=1) or ("", 0, 0, 0)
    assert column == "o_orderkey" and parts >= 2 and low < high
    on_spark = execute_spark(the_plan, federated, spec=spark_engine)
    on_duckdb = execute(the_plan, federated)
    tpch.assert_same_result(on_spark.arrow(), on_duckdb.arrow(), ordered=True)
    rows = {s.name: s.rows for s in on_duckdb.stats.scans}
    assert next(s for s in on_spark.stats.scans if s.name == orders.name).rows == rows[orders.name] > 0
