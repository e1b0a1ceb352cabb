"""The cost-based choices: scans read in place, dynamic filters, estimates — never a different answer.

Every plan shape is checked two ways: that it is chosen where it should be (the plan and the
requests the sources received), and that the answer equals DuckDB's over the same tables with
statistics present, missing and wrong (hypothesis generates the queries and the statistics).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_query_planner import MemoryConnector, binding

from helpers import duckdb_reference
from meshfabric.connectors.base import ColumnStatistics, TableStatistics
from meshfabric.connectors.files import FilesConnector
from meshfabric.connectors.pushdown import KeyRef
from meshfabric.query import explain, optimizer, run_query
from meshfabric.query.catalog import ProductBinding, ProductColumn, StaticCatalog
from meshfabric.query.guard import guard
from meshfabric.query.planner import plan
from meshfabric.spec.models import OutputPort, SourceSpec
from meshfabric.types import from_arrow

N_CUSTOMERS = 400
N_ORDERS = 3_000

CUSTOMERS = pa.table({
    "id": pa.array(range(1, N_CUSTOMERS + 1), pa.int64()),
    "segment": pa.array(["BUILDING" if i % 5 == 0 else "OTHER" for i in range(N_CUSTOMERS)]),
    "nation": pa.array([i % 25 for i in range(N_CUSTOMERS)], pa.int32()),
})
ORDERS = pa.table({
    "id": pa.array(range(1, N_ORDERS + 1), pa.int64()),
    "customer_id": pa.array([(i * 7) % (N_CUSTOMERS + 50) + 1 if i % 97 else None for i in range(N_ORDERS)],
                            pa.int64()),
    "total": pa.array([float(i % 113) for i in range(N_ORDERS)]),
    "status": pa.array(["F" if i % 3 else "O" for i in range(N_ORDERS)]),
})
LINES = pa.table({
    "order_id": pa.array([(i % N_ORDERS) + 1 for i in range(6_000)], pa.int64()),
    "qty": pa.array([i % 50 for i in range(6_000)], pa.int32()),
    "mode": pa.array(["AIR" if i % 7 == 0 else "SHIP" for i in range(6_000)]),
})


class StatsCatalog(StaticCatalog):
    """A static catalog whose statistics are given (None: no statistics at all)."""

    def __init__(self, bindings: dict[str, ProductBinding], connectors: dict, stats: dict | None) -> None:
        super().__init__(bindings, connectors)
        self.given = stats

    def statistics(self, b: ProductBinding) -> TableStatistics | None:
        return None if self.given is None else self.given.get(b.fqn)


def exact_stats() -> dict[str, TableStatistics]:
    def of(table: pa.Table) -> TableStatistics:
        cols = {}
        for name in table.column_names:
            col = table.column(name)
            values = [v for v in col.to_pylist() if v is not None]
            cols[name] = ColumnStatistics(distinct=len(set(values)), null_fraction=col.null_count / len(table),
                                          min=min(values), max=max(values))
        return TableStatistics(len(table), columns=cols, exact=True)

    return {"crm.customer": of(CUSTOMERS), "sales.orders": of(ORDERS), "logistics.lines": of(LINES)}


def wrong_stats() -> dict[str, TableStatistics]:
    """Statistics that say the opposite of the truth: the big table small and keys unique."""
    return {
        "crm.customer": TableStatistics(10_000_000, columns={"id": ColumnStatistics(distinct=3)}),
        "sales.orders": TableStatistics(7, columns={"customer_id": ColumnStatistics(distinct=10_000_000)}),
        "logistics.lines": TableStatistics(1, columns={"order_id": ColumnStatistics(distinct=1, min=5, max=4)}),
    }


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lake")
    pq.write_table(LINES, folder / "lines.parquet", row_group_size=1000)
    return folder


def catalog_for(lake: Path, stats: dict | None, *, case_blind: tuple[str, ...] = ()) -> StatsCatalog:
    files = FilesConnector("lake", SourceSpec(kind="files", path=str(lake)), lake)
    lines_port = OutputPort(source="lake", path="lines.parquet")
    lines = ProductBinding("logistics", "lines", "lake", lines_port,
                           tuple(ProductColumn(f.name, from_arrow(f.type), f.nullable) for f in LINES.schema))
    return StatsCatalog(
        {"crm.customer": binding("crm", "customer", "crm", CUSTOMERS),
         "sales.orders": binding("sales", "orders", "shop", ORDERS),
         "logistics.lines": lines},
        {"crm": MemoryConnector("crm", {"customer": CUSTOMERS}, case_insensitive=case_blind),
         "shop": MemoryConnector("shop", {"orders": ORDERS}),
         "lake": files},
        stats,
    )


@pytest.fixture(scope="module")
def reference() -> duckdb.DuckDBPyConnection:
    return duckdb_reference({"crm.customer": CUSTOMERS, "sales.orders": ORDERS, "logistics.lines": LINES})


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tables are small: let a few thousand rows count as worth a wait for keys, over a
    link slow enough (100 kB/s, no round trip) that moving them costs more than waiting."""
    monkeypatch.setattr(optimizer, "MIN_CONSUMER_ROWS", 100.0)
    monkeypatch.setattr(optimizer, "DEFAULT_LINK", optimizer.Link(1e5, 0.0))
    monkeypatch.setattr(optimizer, "_OBSERVED", {})


def plan_for(sql: str, catalog: StaticCatalog):
    return plan(guard(sql, catalog).expression, catalog)


def same(sql: str, catalog: StaticCatalog, reference: duckdb.DuckDBPyConnection) -> None:
    got = run_query(sql, catalog).arrow()
    want = reference.execute(sql).to_arrow_table()
    assert sorted(map(tuple, (r.values() for r in got.to_pylist()))) == \
        sorted(map(tuple, (r.values() for r in want.to_pylist()))), sql


# -- placement ---------------------------------------------------------------------------------------
def test_a_files_product_is_read_by_the_engine_where_it_lies(lake: Path, reference: duckdb.DuckDBPyConnection) -> None:
    catalog = catalog_for(lake, exact_stats())
    sql = "SELECT mode, sum(qty) AS q FROM logistics.lines WHERE qty > 10 GROUP BY mode"
    planned = plan_for(sql, catalog)
    assert [s.placement for s in planned.scans] == ["engine"]
    result = run_query(sql, catalog)
    assert result.stats.scans[0].placement == "engine"
    assert result.stats.scans[0].rows == 0  # nothing crossed into the engine
    assert "read_parquet" in (result.stats.scans[0].source_sql or "")
    same(sql, catalog, reference)


def test_explain_shows_the_reader_that_really_runs_for_a_csv_product(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("id,name\n1,Ada\n2,Bob\n")
    files = FilesConnector("lake", SourceSpec(kind="files", path=str(tmp_path)), tmp_path)
    port = OutputPort(source="lake", path="people.csv")
    columns = (ProductColumn("id", from_arrow(pa.int64())), ProductColumn("name", from_arrow(pa.string())))
    people = ProductBinding("hr", "people", "lake", port, columns)
    catalog = StaticCatalog({"hr.people": people}, {"lake": files})
    text = str(explain("SELECT name FROM hr.people WHERE id = 2", catalog))
    assert "read_csv" in text and "read_parquet" not in text
    assert run_query("SELECT name FROM hr.people WHERE id = 2", catalog).arrow().to_pylist() == [{"name": "Bob"}]


# -- dynamic filters ---------------------------------------------------------------------------------
JOIN = ("SELECT c.segment, count(*) AS n, sum(o.total) AS t FROM sales.orders o JOIN crm.customer c "
        "ON o.customer_id = c.id WHERE c.segment = 'BUILDING' AND c.nation < 5 GROUP BY c.segment")


def test_the_selective_side_sends_its_keys_to_the_other_source(
    lake: Path, reference: duckdb.DuckDBPyConnection, small: None
) -> None:
    catalog = catalog_for(lake, exact_stats())
    planned = plan_for(JOIN, catalog)
    orders = next(s for s in planned.scans if s.product == "sales.orders")
    customers = next(s for s in planned.scans if s.product == "crm.customer")
    assert [(d.column, d.producer, d.producer_column) for d in orders.dynamic] == [
        ("customer_id", customers.name, "id")]
    assert not customers.dynamic
    result = run_query(JOIN, catalog)
    shop = catalog.connectors["shop"]
    sent = shop.requests[-1].filters
    assert any(f.find(KeyRef) is not None for f in sent)
    moved = next(s for s in result.stats.scans if s.product == "sales.orders").rows
    assert moved < N_ORDERS / 10  # the orders of 16 customers, not all of them
    same(JOIN, catalog, reference)


def test_keys_are_taken_after_the_filters_only_the_engine_can_apply(
    lake: Path, reference: duckdb.DuckDBPyConnection, small: None
) -> None:
    """The customers' source compares segment case-blind, so 'BUILDING' stays in the engine: the
    keys sent to the orders are those of the customers that pass it there, not of every one read."""
    catalog = catalog_for(lake, exact_stats(), case_blind=("segment",))
    planned = plan_for(JOIN, catalog)
    customers = next(s for s in planned.scans if s.product == "crm.customer")
    assert [k.sql("duckdb") for k in customers.kept] == ["\"segment\" = 'BUILDING'"]
    result = run_query(JOIN, catalog)
    moved = next(s for s in result.stats.scans if s.product == "sales.orders").rows
    assert moved < N_ORDERS / 10
    same(JOIN, catalog, reference)


def test_keys_flow_along_a_chain_of_equalities(
    lake: Path, reference: duckdb.DuckDBPyConnection, small: None
) -> None:
    """lines (filtered, read in place) -> orders -> customers: each source gets the keys it can use."""
    catalog = catalog_for(lake, exact_stats())
    sql = ("SELECT c.nation, sum(l.qty) AS q FROM logistics.lines l, sales.orders o, crm.customer c "
           "WHERE l.order_id = o.id AND o.customer_id = c.id AND l.mode = 'AIR' AND l.qty > 45 GROUP BY c.nation")
    planned = plan_for(sql, catalog)
    by_product = {s.product: s for s in planned.scans}
    assert by_product["logistics.lines"].placement == "engine"
    assert by_product["sales.orders"].dynamic and by_product["sales.orders"].dynamic[0].producer == \
        by_product["logistics.lines"].name
    same(sql, catalog, reference)


def test_no_keys_cross_an_outer_join_into_the_preserved_side(lake: Path, small: None) -> None:
    catalog = catalog_for(lake, exact_stats())
    sql = ("SELECT c.id, count(o.id) FROM crm.customer c LEFT JOIN sales.orders o ON o.customer_id = c.id "
           "AND o.status = 'O' WHERE c.segment = 'BUILDING' GROUP BY c.id")
    planned = plan_for(sql, catalog)
    customers = next(s for s in planned.scans if s.product == "crm.customer")
    assert not customers.dynamic


def test_too_many_keys_become_a_range_and_none_become_an_empty_read(
    lake: Path, reference: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch, small: None
) -> None:
    # the statistics promise a couple of customers: the filter is planned (within MAX_KEYS), but
    # the scan returns more keys than the IN list may carry, and their range is sent instead
    stats = exact_stats()
    stats["crm.customer"] = TableStatistics(2, columns={"id": ColumnStatistics(distinct=2)})
    catalog = catalog_for(lake, stats)
    monkeypatch.setitem(optimizer.MAX_KEYS, "integer", 3)
    same(JOIN, catalog, reference)
    sent = catalog.connectors["shop"].requests[-1].filters
    assert any(f.sql("duckdb").startswith('"customer_id" BETWEEN') for f in sent)
    nobody = JOIN.replace("c.nation < 5", "c.nation > 99")
    same(nobody, catalog, reference)
    assert catalog.connectors["shop"].requests[-1].filters  # the source was still asked, with NULL keys


def test_a_source_taking_key_arrays_is_planned_for_and_sent_many_more_keys() -> None:
    """PostgreSQL takes integer keys as one array literal: a consumer there may wait for up to
    ARRAY_MAX_KEYS of them (sent whole), another source only for what an IN list carries."""
    from types import SimpleNamespace as S

    cols = [S(name="k", type=S(name="bigint"))]
    producer = S(name="a", instances=(0,), kept=(), binding=S(columns=cols))
    consumer = S(name="b", instances=(1,), kept=(), binding=S(columns=cols))
    stats = {"a": TableStatistics(400_000, columns={"k": ColumnStatistics(distinct=400_000)}),
             "b": TableStatistics(50_000_000, columns={"k": ColumnStatistics(distinct=50_000_000)})}
    args = ([producer, consumer], [((0, "k"), (1, "k"))], [], {"a": 400_000.0, "b": 50_000_000.0}, stats)
    assert not optimizer.plan_dynamic_filters(*args, consumers={"b"})  # 400,000 keys: a range at best
    planned = optimizer.plan_dynamic_filters(*args, consumers={"b"}, arrays={"b"})
    assert planned["b"][0].max_keys == optimizer.ARRAY_MAX_KEYS
    assert planned["b"][0].keep < 0.01
    from meshfabric.connectors.base import ColumnInfo
    from meshfabric.connectors.pushdown import KeyValues, key_filter, prepare_predicate
    from meshfabric.types import LogicalType

    keys = KeyValues("integer", tuple(range(400_000)))
    sent = prepare_predicate(key_filter("k", keys), {"k": ColumnInfo("k", "bigint", LogicalType("bigint"))}, "postgres")
    assert sent is not None and sent.sql("postgres").startswith('"k" = ANY(CAST(\'{0,1,2,')


# -- any statistics, the same answers ----------------------------------------------------------------
TABLES = {"c": "crm.customer", "o": "sales.orders", "l": "logistics.lines"}
JOINS = {("c", "o"): "o.customer_id = c.id", ("l", "o"): "l.order_id = o.id"}
PREDICATES = {
    "c": ["c.segment = 'BUILDING'", "c.nation < {n}", "c.id > {n}", "c.nation = {n}"],
    "o": ["o.status = 'O'", "o.total > {n}", "o.customer_id < {n}", "o.customer_id IS NULL"],
    "l": ["l.mode = 'AIR'", "l.qty > {n}", "l.order_id < {n}"],
}


@st.composite
def queries(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from([("c", "o"), ("l", "o"), ("c", "o", "l")]))
    joins = [j for pair, j in JOINS.items() if set(pair) <= set(shape)]
    kind = draw(st.sampled_from(["JOIN", "LEFT JOIN"])) if len(shape) == 2 else "JOIN"
    where = [draw(st.sampled_from(PREDICATES[a])).format(n=draw(st.integers(0, 400)))
             for a in shape if draw(st.booleans())]
    first, *rest = shape
    sql_from = f"{TABLES[first]} {first}"
    for alias in rest:
        before = set(shape[:shape.index(alias)])
        on = next(j for pair, j in JOINS.items() if alias in pair and (set(pair) - {alias}) <= before)
        sql_from += f" {kind} {TABLES[alias]} {alias} ON {on}"
    del joins
    group = draw(st.booleans())
    select = f"{first}.{'id' if first != 'l' else 'order_id'} AS k, count(*) AS n" if group else "*"
    sql = f"SELECT {select} FROM {sql_from}"
    if "o" in shape and draw(st.booleans()):
        # a correlated subquery over a product the outer query also reads (one merged scan)
        sub = draw(st.sampled_from([
            "EXISTS (SELECT 1 FROM sales.orders o2 WHERE o2.customer_id = o.customer_id AND o2.status = 'O')",
            "NOT EXISTS (SELECT 1 FROM logistics.lines l2 WHERE l2.order_id = o.id AND l2.qty > 48)",
            "o.total >= (SELECT avg(o3.total) FROM sales.orders o3 WHERE o3.customer_id = o.customer_id)",
            "o.customer_id IN (SELECT c2.id FROM crm.customer c2 WHERE c2.nation < 9)",
            "o.id IN (SELECT l3.order_id FROM logistics.lines l3 GROUP BY 1 HAVING sum(l3.qty) > 60)",
        ]))
        where.append(sub)
    if where:
        sql += " WHERE " + " AND ".join(where)
    if group:
        sql += " GROUP BY 1"
    return sql


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=queries(), which=st.sampled_from(["exact", "missing", "wrong"]), eager=st.booleans())
def test_generated_queries_give_duckdbs_answer_whatever_the_statistics(
    sql: str, which: str, eager: bool, lake: Path, reference: duckdb.DuckDBPyConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stats = {"exact": exact_stats(), "missing": None, "wrong": wrong_stats()}[which]
    if eager:  # every equality a dynamic filter, whatever it is expected to save
        monkeypatch.setattr(optimizer, "MIN_CONSUMER_ROWS", 0.0)
        monkeypatch.setattr(optimizer, "MAX_KEEP", 1.0)
        monkeypatch.setattr(optimizer, "WORTH", 1e12)
    else:
        monkeypatch.setattr(optimizer, "MIN_CONSUMER_ROWS", optimizer.MIN_CONSUMER_ROWS)
        monkeypatch.setattr(optimizer, "MAX_KEEP", optimizer.MAX_KEEP)
        monkeypatch.setattr(optimizer, "WORTH", optimizer.WORTH)
    same(sql, catalog_for(lake, stats), reference)


def test_a_correlated_subquery_and_its_outer_query_share_the_keys(
    lake: Path, reference: duckdb.DuckDBPyConnection, small: None
) -> None:
    """Q2's shape: orders read by the query and by its correlated subquery (one scan, two
    references) both take the selective customers' keys."""
    catalog = catalog_for(lake, exact_stats())
    sql = ("SELECT o.id FROM crm.customer c, sales.orders o WHERE o.customer_id = c.id AND c.nation = 3 "
           "AND o.total = (SELECT max(o2.total) FROM sales.orders o2 WHERE o2.customer_id = c.id)")
    planned = plan_for(sql, catalog)
    orders = [s for s in planned.scans if s.product == "sales.orders"]
    assert len(orders) == 1 and len(orders[0].instances) == 2
    assert [d.column for d in orders[0].dynamic] == ["customer_id"]
    same(sql, catalog, reference)


def test_an_in_subquery_over_files_gives_its_result_as_keys(
    lake: Path, reference: duckdb.DuckDBPyConnection, small: None
) -> None:
    """Q18's shape: the subquery runs first in the engine and only its orders are read."""
    catalog = catalog_for(lake, exact_stats())
    sql = ("SELECT c.nation, o.id FROM crm.customer c, sales.orders o WHERE c.id = o.customer_id AND o.id IN "
           "(SELECT order_id FROM logistics.lines GROUP BY order_id HAVING sum(qty) > 60)")
    planned = plan_for(sql, catalog)
    orders = next(s for s in planned.scans if s.product == "sales.orders")
    assert [d.subquery is not None for d in orders.dynamic] == [True]
    result = run_query(sql, catalog)
    moved = next(s for s in result.stats.scans if s.product == "sales.orders")
    want = reference.execute("SELECT count(*) FROM (SELECT order_id FROM logistics.lines GROUP BY order_id "
                             "HAVING sum(qty) > 60)").fetchone()[0]
    assert moved.rows == want < N_ORDERS
    same(sql, catalog, reference)


def test_a_slow_link_makes_a_smaller_reduction_worth_the_wait(lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same join, the same statistics: over a fast link reading all the orders is quicker than
    waiting for keys; once mesh.yaml says the link is slow, the orders' source gets the keys."""
    from meshfabric.spec.models import NetworkSpec

    monkeypatch.setattr(optimizer, "MIN_CONSUMER_ROWS", 100.0)
    monkeypatch.setattr(optimizer, "_OBSERVED", {})
    catalog = catalog_for(lake, exact_stats())
    orders_of = lambda: next(s for s in plan_for(JOIN, catalog).scans if s.product == "sales.orders")  # noqa: E731
    shop = catalog.connectors["shop"]
    shop.spec = shop.spec.model_copy(update={"network": NetworkSpec(bandwidth_mbps=10_000, latency_ms=20)})
    assert not orders_of().dynamic
    shop.spec = shop.spec.model_copy(update={"network": NetworkSpec(bandwidth_mbps=0.5, latency_ms=20)})
    assert [d.column for d in orders_of().dynamic] == ["customer_id"]


def test_estimates_follow_the_statistics() -> None:
    stats = exact_stats()["crm.customer"]
    from sqlglot import parse_one

    assert optimizer.selectivity(parse_one("id = 5"), stats) == pytest.approx(1 / N_CUSTOMERS)
    assert optimizer.selectivity(parse_one("id < 101"), stats) == pytest.approx(100 / (N_CUSTOMERS - 1), rel=0.02)
    assert optimizer.selectivity(parse_one("id = 5"), None) == optimizer.DEFAULT_EQ
    scan = dataclasses.replace(
        plan_for("SELECT id FROM crm.customer WHERE nation = 3", StatsCatalog(
            {"crm.customer": binding("crm", "customer", "crm", CUSTOMERS)},
            {"crm": MemoryConnector("crm", {"customer": CUSTOMERS})}, exact_stats())).scans[0])
    assert scan.estimated_rows == pytest.approx(N_CUSTOMERS / 25)


def test_keys_of_a_scan_serving_two_references_cover_both(
    lake: Path, reference: duckdb.DuckDBPyConnection, small: None
) -> None:
    """customer is read once for c1 and c2; only c1 has a filter the source cannot evaluate
    (a case-blind name): the keys customer gives orders must not be taken after c1's filter,
    or the second branch would lose its orders."""
    sql = ("SELECT o.id FROM sales.orders o JOIN crm.customer c1 ON c1.id = o.customer_id "
           "WHERE c1.segment = 'BUILDING' "
           "UNION ALL SELECT o2.id FROM sales.orders o2 JOIN crm.customer c2 ON c2.id = o2.customer_id")
    catalog = catalog_for(lake, exact_stats(), case_blind=("segment",))
    same(sql, catalog, reference)


def test_an_in_subquerys_result_is_read_not_run_again(
    lake: Path, reference: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys of ``x IN (SELECT ...)`` over files are the subquery's whole result: the engine
    query reads them instead of running the subquery a second time — with NULLs in it, in a
    conjunct, where IN over the distinct non-null values keeps exactly the same rows."""
    from meshfabric.query import engine

    seen: list[str] = []
    original = engine._with_answers

    def spy(conn, plan, answered):  # type: ignore[no-untyped-def]
        sql = original(conn, plan, answered)
        seen.append(sql)
        return sql

    monkeypatch.setattr(engine, "_with_answers", spy)
    sql = ("SELECT o.id, o.total FROM sales.orders o WHERE o.id IN (SELECT CASE WHEN l.qty > 40 THEN l.order_id END "
           "FROM logistics.lines l WHERE l.mode = 'AIR') AND o.status = 'O'")
    same(sql, catalog_for(lake, exact_stats()), reference)
    assert seen and "__mf_answer_" in seen[-1] and "logistics" not in seen[-1] and "lines" not in seen[-1]


def test_an_in_subquery_over_one_product_gives_its_keys_to_the_outer_scan(
    lake: Path, reference: duckdb.DuckDBPyConnection, small: None
) -> None:
    """``x IN (SELECT y FROM t WHERE ...)`` over a product read by its connector (TPC-H Q20's
    parts named 'forest%'): t is read first and x's scan takes its y values as keys."""
    sql = ("SELECT o.id, o.total FROM sales.orders o WHERE o.customer_id IN "
           "(SELECT c.id FROM crm.customer c WHERE c.segment = 'BUILDING' AND c.nation < 5)")
    catalog = catalog_for(lake, exact_stats())
    p = plan_for(sql, catalog)
    orders = next(s for s in p.scans if s.product == "sales.orders")
    assert [(d.column, d.producer_column) for d in orders.dynamic] == [("customer_id", "id")]
    same(sql, catalog, reference)
    result = run_query(sql, catalog)
    moved = next(s for s in result.stats.scans if s.product == "sales.orders")
    assert moved.rows < N_ORDERS / 5
