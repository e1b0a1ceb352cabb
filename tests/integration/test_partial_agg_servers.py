"""Partial aggregation below a cross-source join over the real servers: orders in PostgreSQL,
customers in MariaDB, lines in Parquet. A product grouped in its server and joined in the engine
gives DuckDB's answer over the same data co-located, values and types, with statistics read from
the sources, missing or wrong — and with the cost rule lifted, so every rewrite the rules allow
is exercised. The time rule (grouping in the source against moving the rows over its link) is
lifted: on loopback a few thousand rows cost one round trip either way (test_query_partial_agg
tests it). The databases are created for this module and dropped after it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import duckdb_reference, grouped_select, my_exec, pg_database, pg_exec, same_typed
from meshfabric.connectors import get_connector
from meshfabric.connectors.base import ColumnStatistics, TableStatistics
from meshfabric.query import partial, run_query
from meshfabric.query.catalog import ProductBinding, ProductColumn, StaticCatalog
from meshfabric.query.guard import guard
from meshfabric.query.planner import plan, with_source_sql
from meshfabric.query.secure import SecuredView
from meshfabric.spec.models import OutputPort, SourceSpec

pytestmark = [pytest.mark.postgres, pytest.mark.mariadb]

N_ORDERS, N_CUSTOMERS, N_LINES = 3_000, 400, 4_000

ORDERS = pa.table({
    "o_id": pa.array(range(1, N_ORDERS + 1), pa.int64()),
    "o_customer": pa.array([(i * 7) % (N_CUSTOMERS + 20) + 1 if i % 53 else None for i in range(N_ORDERS)],
                           pa.int64()),
    "o_total": pa.array([Decimal(f"{(i * 37) % 100_000}.{i % 100:02d}") for i in range(N_ORDERS)],
                        pa.decimal128(12, 2)),
    "o_price": pa.array([(i % 97) / 7 for i in range(N_ORDERS)], pa.float64()),
    "o_status": pa.array(["F" if i % 3 else "O" for i in range(N_ORDERS)]),
    "o_qty": pa.array([i % 40 for i in range(N_ORDERS)], pa.int32()),
})
CUSTOMERS = pa.table({
    "c_id": pa.array(range(1, N_CUSTOMERS + 1), pa.int32()),
    "c_nation": pa.array([i % 25 for i in range(N_CUSTOMERS)], pa.int32()),
    "c_segment": pa.array(["BUILDING" if i % 5 == 0 else "MACHINERY" if i % 3 else "Machinery"
                           for i in range(N_CUSTOMERS)]),
    "c_code": pa.array([["AA", "aa", "BB"][i % 3] for i in range(N_CUSTOMERS)]),
    "c_balance": pa.array([Decimal(f"{i * 13 % 9000}.{i % 10}0") for i in range(N_CUSTOMERS)],
                          pa.decimal128(10, 2)),
})
LINES = pa.table({
    "l_order": pa.array([(i % N_ORDERS) + 1 for i in range(N_LINES)], pa.int64()),
    "l_qty": pa.array([i % 50 for i in range(N_LINES)], pa.int32()),
    "l_mode": pa.array(["AIR" if i % 7 == 0 else "SHIP" for i in range(N_LINES)]),
    "l_customer": pa.array([(i * 3) % N_CUSTOMERS + 1 for i in range(N_LINES)], pa.int32()),
})
TABLES = {"sales.orders": ORDERS, "crm.customer": CUSTOMERS, "logistics.lines": LINES}


@pytest.fixture(scope="module")
def world(pg_url: str, mysql_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("partial")
    pq.write_table(LINES, root / "lines.parquet", row_group_size=1000)
    maria = f"mf_partial_{uuid.uuid4().hex[:10]}"
    with pg_database("mf_partial") as pg:
        pg_exec(pg, "CREATE TABLE orders (o_id BIGINT PRIMARY KEY, o_customer BIGINT, o_total NUMERIC(12, 2), "
                    "o_price DOUBLE PRECISION, o_status TEXT, o_qty INTEGER)")
        import psycopg

        with psycopg.connect(pg, autocommit=True) as conn, conn.cursor() as cur:
            with cur.copy("COPY orders FROM STDIN") as copy:
                for r in ORDERS.to_pylist():
                    copy.write_row(tuple(r.values()))
            cur.execute("ANALYZE orders")
        my_exec(None, f"CREATE DATABASE `{maria}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
        try:
            my_exec(maria, "CREATE TABLE customer (c_id INT PRIMARY KEY, c_nation INT, "
                           "c_segment VARCHAR(20) COLLATE utf8mb4_bin, c_code VARCHAR(4), c_balance DECIMAL(10, 2))")
            values = ", ".join(
                f"({r['c_id']}, {r['c_nation']}, '{r['c_segment']}', '{r['c_code']}', {r['c_balance']})"
                for r in CUSTOMERS.to_pylist())
            my_exec(maria, f"INSERT INTO customer VALUES {values}", "ANALYZE TABLE customer PERSISTENT FOR ALL")
            connectors = {
                "pg": get_connector("pg", SourceSpec(kind="postgres", url=pg), root),
                "maria": get_connector("maria", SourceSpec(kind="mysql", url=f"mysql://root@127.0.0.1:3306/{maria}"),
                                       root),
                "lake": get_connector("lake", SourceSpec(kind="files", path=str(root)), root),
            }
            ports = {"sales.orders": OutputPort(source="pg", table="orders"),
                     "crm.customer": OutputPort(source="maria", table="customer"),
                     "logistics.lines": OutputPort(source="lake", path="lines.parquet")}
            bindings = {}
            for fqn, port in ports.items():
                domain, name = fqn.split(".")
                columns = tuple(ProductColumn(c.name, c.type, c.nullable)
                                for c in connectors[port.source].columns(port))
                bindings[fqn] = ProductBinding(domain, name, port.source, port, columns)
            stats = StaticCatalog(bindings, connectors).load_statistics()
            assert stats["sales.orders"] is not None and stats["crm.customer"] is not None
            yield {"bindings": bindings, "connectors": connectors, "stats": stats}
        finally:
            my_exec(None, f"DROP DATABASE IF EXISTS `{maria}`")


@pytest.fixture(autouse=True)
def any_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partial, "PARTIAL_TIME_WORTH", 1e12)


class Catalog(StaticCatalog):
    """The sources' own statistics ("source"), none, or the ones given."""

    def __init__(self, world: dict[str, Any], stats: str) -> None:
        super().__init__(world["bindings"], world["connectors"])
        self.mode = stats
        self.measured = world["stats"]

    def statistics(self, b: ProductBinding) -> TableStatistics | None:
        if self.mode == "source":
            return self.measured.get(b.fqn)
        if self.mode == "missing":
            return None
        return {"sales.orders": TableStatistics(10, columns={"o_id": ColumnStatistics(distinct=2),
                                                             "o_customer": ColumnStatistics(distinct=1)}),
                "crm.customer": TableStatistics(5_000_000, columns={"c_id": ColumnStatistics(distinct=3)})}.get(b.fqn)


@pytest.fixture(scope="module")
def reference() -> duckdb.DuckDBPyConnection:
    return duckdb_reference(TABLES)


def worth(value: float) -> Any:
    """PARTIAL_WORTH set to ``value`` for the duration (hypothesis runs many examples per test)."""
    return mock.patch.object(partial, "PARTIAL_WORTH", value)


def rows(table: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


def partial_scans(sql: str, catalog: StaticCatalog) -> list[Any]:
    planned = plan(guard(sql, catalog).expression, catalog)
    return [s for s in planned.scans if any("partial aggregation" in w for w in s.why)]


@pytest.mark.parametrize("sql, source, grouped_by", [
    ("SELECT l.l_mode AS mode, count(*) AS n, sum(o.o_total) AS total, sum(o.o_qty) AS q, min(o.o_qty) AS lo "
     "FROM sales.orders o JOIN logistics.lines l ON l.l_qty = o.o_customer WHERE o.o_status = 'F' GROUP BY 1",
     "pg", '"t0"."o_customer"'),
    ("SELECT l.l_mode AS mode, count(*) AS n, sum(c.c_balance) AS b, max(c.c_id) AS hi FROM crm.customer c "
     "JOIN logistics.lines l ON l.l_qty = c.c_nation GROUP BY 1", "maria", "`t0`.`c_nation`"),
])
def test_each_server_groups_its_product_below_the_join(
    sql: str, source: str, grouped_by: str, world: dict[str, Any], reference: duckdb.DuckDBPyConnection
) -> None:
    catalog = Catalog(world, "source")
    planned = with_source_sql(plan(guard(sql, catalog).expression, catalog), catalog)
    (scan,) = [s for s in planned.scans if s.source == source]
    assert scan.aggregated and any("partial aggregation" in w for w in scan.why)
    shown = planned.source_sql[scan.name]
    assert f"GROUP BY {grouped_by}" in shown, shown
    assert "partial aggregation in the source below a cross-source join" in str(planned)
    same_typed(sql, catalog, reference)
    result = run_query(sql, catalog)
    moved = next(s.rows for s in result.stats.scans if s.source == source)
    assert moved <= 25 if source == "maria" else moved <= N_CUSTOMERS + 20


def test_a_case_blind_key_float_sum_and_secured_product_stay_unrewritten(
    world: dict[str, Any], reference: duckdb.DuckDBPyConnection
) -> None:
    catalog = Catalog(world, "source")
    with worth(1e12):
        for sql in [
            # c_code compares case-blind in MariaDB (utf8mb4_general_ci): 'AA' and 'aa' one group
            "SELECT l.l_mode AS m, count(*) AS n FROM crm.customer c JOIN logistics.lines l "
            "ON l.l_customer = c.c_nation GROUP BY 1, c.c_code",
            "SELECT l.l_mode AS m, sum(o.o_price) AS p FROM sales.orders o JOIN logistics.lines l "
            "ON l.l_qty = o.o_customer GROUP BY 1",
        ]:
            assert not partial_scans(sql, catalog), sql
            got, want = run_query(sql, catalog).arrow(), reference.execute(sql).to_arrow_table()
            assert got.schema.types == want.schema.types
            if "o_price" not in sql:  # a float sum's last digits depend on the order of the rows
                assert rows(got) == rows(want)
    view = SecuredView(tuple((c, None) for c in ORDERS.column_names), sqlglot.parse_one("o_customer < 200"))
    sql = ("SELECT l.l_mode AS m, count(*) AS n, sum(o.o_total) AS t FROM sales.orders o JOIN logistics.lines l "
           "ON l.l_qty = o.o_customer GROUP BY 1")
    views = lambda bindings: {"sales.orders": view}  # noqa: E731
    result = run_query(sql, catalog, views=views)
    assert not any(s.source == "pg" and s.rows < 1000 for s in result.stats.scans)
    want = reference.execute(sql.replace("sales.orders o", "(SELECT * FROM sales.orders WHERE o_customer < 200) o"))
    assert rows(result.arrow()) == rows(want.to_arrow_table())


def test_masked_and_row_filtered_customers_get_the_answer_without_the_rewrite(
    world: dict[str, Any]
) -> None:
    catalog = Catalog(world, "source")
    customers = SecuredView((("c_id", None), ("c_nation", None), ("c_segment", sqlglot.parse_one("'***'")),
                             ("c_code", None), ("c_balance", None)), sqlglot.parse_one("c_nation < 12"))
    sql = ("SELECT c.c_segment AS seg, count(*) AS n, sum(o.o_total) AS t, max(o.o_qty) AS st "
           "FROM sales.orders o JOIN crm.customer c ON c.c_id = o.o_customer GROUP BY 1")
    views = lambda bindings: {"crm.customer": customers}  # noqa: E731
    result = run_query(sql, catalog, views=views)
    assert any(s.source == "pg" and s.rows <= N_CUSTOMERS + 20 for s in result.stats.scans)
    with worth(0.0):
        unpushed = run_query(sql, catalog, views=views)
    got, want = result.arrow(), unpushed.arrow()
    assert got.schema == want.schema and rows(got) == rows(want)
    assert {r["seg"] for r in got.to_pylist()} == {"***"}


SIDES = {
    "o": {"fqn": "sales.orders", "keys": ["o_customer", "o_qty"], "aggs": [
        "count(*)", "count(o.o_customer)", "sum(o.o_total)", "sum(o.o_qty)", "min(o.o_total)", "max(o.o_status)",
        "sum(o.o_id)", "count(DISTINCT o.{key})"],
        "filters": ["o.o_status = 'O'", "o.o_total > {n}00", "o.o_qty < {n}"]},
    "c": {"fqn": "crm.customer", "keys": ["c_nation", "c_id"], "aggs": [
        "count(*)", "sum(c.c_balance)", "min(c.c_segment)", "max(c.c_balance)", "sum(c.c_id)", "count(c.c_code)"],
        "filters": ["c.c_segment = 'BUILDING'", "c.c_id < {n}0", "c.c_balance > {n}"]},
}


@st.composite
def grouped_joins(draw: st.DrawFn) -> str:
    m = draw(st.sampled_from(sorted(SIDES)))
    side = SIDES[m]
    key = draw(st.sampled_from(side["keys"]))
    other_key = draw(st.sampled_from(["l.l_qty", "l.l_customer"]))
    kind = draw(st.sampled_from(["JOIN", "LEFT JOIN", "CROSS"]))
    on = f"{other_key} = {m}.{key}"
    if kind == "CROSS":
        source, where = f"{side['fqn']} {m}, logistics.lines l", [on]
    else:
        source, where = f"{side['fqn']} {m} {kind} logistics.lines l ON {on}", []
    third = draw(st.booleans())
    if third:  # the other server's product joined too: one of the two is grouped, or neither
        if m == "o":
            source += " JOIN crm.customer c ON c.c_id = l.l_customer"
        else:
            source += " JOIN sales.orders o ON o.o_id = l.l_order"
    n = draw(st.integers(0, 40))
    where += [f.format(n=n) for f in draw(st.lists(st.sampled_from(side["filters"]), max_size=2, unique=True))]
    if draw(st.booleans()):
        where.append(draw(st.sampled_from(["l.l_mode = 'AIR'", f"l.l_qty < {n}"])))
    groups = draw(st.lists(st.sampled_from(["l.l_mode", f"{m}.{key}",
                                            "c.c_segment" if third or m == "c" else "l.l_qty"]),
                           max_size=2, unique=True))
    aggs = [a.format(key=key) for a in draw(st.lists(st.sampled_from(side["aggs"]), min_size=1, max_size=3,
                                                     unique=True))]
    return grouped_select(groups, aggs, source, where, "count(*) > 2" if draw(st.booleans()) else None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=grouped_joins(), stats=st.sampled_from(["source", "missing", "wrong"]), force=st.booleans())
def test_generated_grouped_joins_across_servers_give_duckdbs_answer(
    sql: str, stats: str, force: bool, world: dict[str, Any], reference: duckdb.DuckDBPyConnection
) -> None:
    with worth(1e12 if force else partial.PARTIAL_WORTH):
        same_typed(sql, Catalog(world, stats), reference)


def test_the_generator_reaches_the_rewrite_on_both_servers(world: dict[str, Any]) -> None:
    catalog = Catalog(world, "source")
    with worth(1e12):
        for sql, source in [
            ("SELECT l.l_mode AS g0, sum(o.o_total) AS a0 FROM sales.orders o JOIN logistics.lines l "
             "ON l.l_qty = o.o_qty JOIN crm.customer c ON c.c_id = l.l_customer GROUP BY l.l_mode", "pg"),
            ("SELECT c.c_nation AS g0, count(*) AS a0 FROM crm.customer c LEFT JOIN logistics.lines l "
             "ON l.l_customer = c.c_id GROUP BY c.c_nation", "maria"),
        ]:
            assert [s.source for s in partial_scans(sql, catalog)] == [source], sql


def test_the_module_cleans_up(world: dict[str, Any], tmp_path: Path) -> None:
    assert world["connectors"]["pg"].name == "pg"
