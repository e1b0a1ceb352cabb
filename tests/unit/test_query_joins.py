"""Joins pushed into one source: chosen where products of one SQL source are inner-joined,
never where it could change an answer (outer joins, secured products, collations), and always
DuckDB's answer — hypothesis generates the queries, with statistics exact, missing and wrong.

The source is a real SQLite database file (its connector joins in SQLite); a third product lives
in Parquet, read by the engine.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_query_optimizer import StatsCatalog

from helpers import duckdb_reference
from meshfabric.connectors.base import ColumnStatistics, TableStatistics
from meshfabric.connectors.files import FilesConnector
from meshfabric.connectors.sqlite import SQLiteConnector
from meshfabric.query import joins, optimizer, run_query
from meshfabric.query.catalog import ProductBinding, ProductColumn
from meshfabric.query.guard import guard
from meshfabric.query.planner import plan
from meshfabric.query.secure import SecuredView
from meshfabric.spec.models import OutputPort, SourceSpec
from meshfabric.types import from_arrow

N_CUSTOMERS, N_ORDERS, N_LINES = 300, 2_000, 5_000

CUSTOMERS = pa.table({
    "c_id": pa.array(range(1, N_CUSTOMERS + 1), pa.int64()),
    "c_segment": pa.array(["BUILDING" if i % 5 == 0 else "OTHER" for i in range(N_CUSTOMERS)]),
    "c_nation": pa.array([i % 25 for i in range(N_CUSTOMERS)], pa.int64()),
    "c_name": pa.array([f"Customer{i % 40}" for i in range(N_CUSTOMERS)]),
})
ORDERS = pa.table({
    "o_id": pa.array(range(1, N_ORDERS + 1), pa.int64()),
    "o_customer": pa.array([(i * 7) % (N_CUSTOMERS + 30) + 1 if i % 97 else None for i in range(N_ORDERS)],
                           pa.int64()),
    "o_total": pa.array([float(i % 113) for i in range(N_ORDERS)]),
    "o_status": pa.array(["F" if i % 3 else "O" for i in range(N_ORDERS)]),
})
NATIONS = pa.table({
    "n_id": pa.array(range(25), pa.int64()),
    "n_name": pa.array([f"N{i}" for i in range(25)]),
    "n_region": pa.array([i % 5 for i in range(25)], pa.int64()),
})
LINES = pa.table({
    "l_order": pa.array([(i % N_ORDERS) + 1 for i in range(N_LINES)], pa.int64()),
    "l_qty": pa.array([i % 50 for i in range(N_LINES)], pa.int64()),
    "l_mode": pa.array(["AIR" if i % 7 == 0 else "SHIP" for i in range(N_LINES)]),
})
TABLES = {"crm.customer": CUSTOMERS, "sales.orders": ORDERS, "geo.nation": NATIONS, "logistics.lines": LINES}


def _sqlite_type(t: pa.DataType) -> str:
    return "INTEGER" if pa.types.is_integer(t) else "REAL" if pa.types.is_floating(t) else "TEXT"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("joins")
    conn = sqlite3.connect(root / "shop.db")
    for fqn in ("crm.customer", "sales.orders", "geo.nation"):
        table = TABLES[fqn]
        name = fqn.split(".")[1]
        cols = ", ".join(f'"{f.name}" {_sqlite_type(f.type)}' + (" COLLATE NOCASE" if f.name == "c_name" else "")
                         for f in table.schema)
        conn.execute(f'CREATE TABLE "{name}" ({cols})')
        conn.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" * table.num_columns)})',
                         [tuple(r.values()) for r in table.to_pylist()])
    conn.commit()
    conn.close()
    pq.write_table(LINES, root / "lines.parquet", row_group_size=1000)
    return root


def exact_stats() -> dict[str, TableStatistics]:
    def of(table: pa.Table) -> TableStatistics:
        cols = {}
        for name in table.column_names:
            values = [v for v in table.column(name).to_pylist() if v is not None]
            cols[name] = ColumnStatistics(distinct=len(set(values)), min=min(values), max=max(values))
        return TableStatistics(len(table), columns=cols, exact=True)

    return {fqn: of(t) for fqn, t in TABLES.items()}


def wrong_stats() -> dict[str, TableStatistics]:
    return {"crm.customer": TableStatistics(10_000_000, columns={"c_id": ColumnStatistics(distinct=2)}),
            "sales.orders": TableStatistics(3, columns={"o_customer": ColumnStatistics(distinct=10_000_000)}),
            "geo.nation": TableStatistics(1_000_000_000)}


def catalog_for(root: Path, stats: dict | None) -> StatsCatalog:
    shop = SQLiteConnector("shop", SourceSpec(kind="sqlite", path="shop.db"), root)
    lake = FilesConnector("lake", SourceSpec(kind="files", path=str(root)), root)
    bindings = {}
    for fqn, table in TABLES.items():
        domain, name = fqn.split(".")
        port = (OutputPort(source="lake", path="lines.parquet") if fqn == "logistics.lines"
                else OutputPort(source="shop", table=name))
        columns = tuple(ProductColumn(f.name, from_arrow(f.type), f.nullable) for f in table.schema)
        bindings[fqn] = ProductBinding(domain, name, port.source, port, columns)
    return StatsCatalog(bindings, {"shop": shop, "lake": lake}, stats)


@pytest.fixture(scope="module")
def reference() -> duckdb.DuckDBPyConnection:
    return duckdb_reference(TABLES)


@pytest.fixture
def always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Push every join that may be pushed, whatever it is expected to cost."""
    monkeypatch.setattr(joins, "JOIN_WORTH", 1e12)


def planned(sql: str, catalog: StatsCatalog):
    return plan(guard(sql, catalog).expression, catalog)


def rows(table: pa.Table) -> list[tuple]:
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


def same(sql: str, catalog: StatsCatalog, reference: duckdb.DuckDBPyConnection, **kw: object) -> None:
    got = run_query(sql, catalog, **kw).arrow()  # type: ignore[arg-type]
    want = reference.execute(sql).to_arrow_table()
    assert rows(got) == rows(want), sql


def test_products_of_one_source_are_joined_there(workspace: Path, reference: duckdb.DuckDBPyConnection,
                                                 always: None) -> None:
    sql = ("SELECT c.c_name, sum(o.o_total) AS t FROM crm.customer c JOIN sales.orders o ON o.o_customer = c.c_id "
           "JOIN logistics.lines l ON l.l_order = o.o_id WHERE c.c_segment = 'BUILDING' GROUP BY 1")
    catalog = catalog_for(workspace, exact_stats())
    p = planned(sql, catalog)
    joined = [s for s in p.scans if s.joined]
    assert len(joined) == 1 and joined[0].joined == ("crm.customer", "sales.orders")
    statement = joined[0].binding.port.sql or ""
    assert '"t0"."c_id" = "t1"."o_customer"' in statement and "'BUILDING'" in statement
    assert {s.product for s in p.scans} == {"crm.customer + sales.orders", "logistics.lines"}
    # the engine reads the joined scan once, under the first member's alias
    assert f"FROM {joined[0].name} AS c JOIN" in p.sql and " AS o " not in p.sql
    assert "joined in the source: crm.customer, sales.orders" in str(p)
    assert [s["joined"] for s in p.as_dict()["scans"] if s["joined"]] == [["crm.customer", "sales.orders"]]
    same(sql, catalog, reference)
    result = run_query(sql, catalog)
    assert [s.product for s in result.stats.scans if s.source == "shop"] == ["crm.customer + sales.orders"]


def test_an_equality_implied_through_another_source_joins_two_products(
    workspace: Path, reference: duckdb.DuckDBPyConnection, always: None
) -> None:
    # orders = lines.order and lines.order = ... : o and c are related only through the chain
    sql = ("SELECT count(*) FROM sales.orders o, logistics.lines l, crm.customer c "
           "WHERE o.o_id = l.l_order AND l.l_order = c.c_id AND c.c_nation < 5")
    catalog = catalog_for(workspace, None)
    p = planned(sql, catalog)
    joined = [s for s in p.scans if s.joined]
    assert joined and '"t0"."o_id" = "t1"."c_id"' in (joined[0].binding.port.sql or "")
    same(sql, catalog, reference)


@pytest.mark.parametrize("sql", [
    # an outer join null-supplies a member: joining them in the source would drop those rows
    "SELECT c.c_id, o.o_id FROM crm.customer c LEFT JOIN sales.orders o ON o.o_customer = c.c_id",
    # a member after an outer join
    "SELECT c.c_id, o.o_id FROM crm.customer c LEFT JOIN logistics.lines l ON l.l_order = c.c_id "
    "JOIN sales.orders o ON o.o_customer = c.c_id",
    # no equality between them: a cross product would move more rows, never fewer
    "SELECT count(*) FROM crm.customer c, geo.nation n WHERE c.c_nation < 3 AND n.n_region = 1",
    # SELECT * keeps the members' column order apart
    "SELECT * FROM geo.nation n JOIN crm.customer c ON c.c_nation = n.n_id",
    # the name column compares case-blind in SQLite (COLLATE NOCASE): DuckDB's equality differs
    "SELECT n.n_id FROM crm.customer c JOIN geo.nation n ON n.n_name = c.c_name",
])
def test_joins_that_could_change_an_answer_stay_in_the_engine(
    sql: str, workspace: Path, reference: duckdb.DuckDBPyConnection, always: None
) -> None:
    catalog = catalog_for(workspace, exact_stats())
    assert not [s for s in planned(sql, catalog).scans if s.joined], sql
    same(sql, catalog, reference)


def test_a_secured_product_is_never_joined_in_the_source(workspace: Path, always: None) -> None:
    """The policy's mask and row filter apply to a product before any of its rows meet another's:
    a secured product is read alone through its policy, so a pushed join can never see raw values."""
    catalog = catalog_for(workspace, exact_stats())
    masked = SecuredView(
        (("c_id", None), ("c_segment", None), ("c_nation", None), ("c_name", sqlglot.parse_one("'***'"))),
        sqlglot.parse_one("c_nation < 10"),
    )
    sql = ("SELECT c.c_name, o.o_id FROM crm.customer c JOIN sales.orders o ON o.o_customer = c.c_id "
           "WHERE c.c_name LIKE 'Customer1%'")
    result = run_query(sql, catalog, views=lambda bindings: {"crm.customer": masked})
    assert result.arrow().num_rows == 0  # the predicate saw the masked value, never the name
    assert all(" + " not in s.product for s in result.stats.scans)
    plain = run_query(sql, catalog)
    assert plain.arrow().num_rows > 0
    assert any(" + " in s.product for s in plain.stats.scans)


def test_the_joined_scan_still_takes_keys_from_a_selective_scan(
    workspace: Path, reference: duckdb.DuckDBPyConnection, always: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(optimizer, "MIN_CONSUMER_ROWS", 10.0)
    monkeypatch.setattr(optimizer, "WORTH", 1e12)
    sql = ("SELECT o.o_id, c.c_name FROM sales.orders o JOIN crm.customer c ON o.o_customer = c.c_id "
           "JOIN logistics.lines l ON l.l_order = o.o_id WHERE l.l_qty = 7 AND l.l_mode = 'AIR'")
    catalog = catalog_for(workspace, exact_stats())
    p = planned(sql, catalog)
    joined = next(s for s in p.scans if s.joined)
    assert [d.column for d in joined.dynamic] == ["o_id"]
    same(sql, catalog, reference)


def test_a_join_that_moves_more_than_its_parts_is_not_pushed(workspace: Path) -> None:
    # every order of a segment joined to every nation of a region: a many-to-many product
    sql = ("SELECT count(*) FROM sales.orders o JOIN crm.customer c ON o.o_customer = c.c_id "
           "JOIN geo.nation n ON n.n_region = c.c_nation")
    fan_out = exact_stats()
    fan_out["geo.nation"] = TableStatistics(25, columns={"n_region": ColumnStatistics(distinct=1)})
    fan_out["crm.customer"] = TableStatistics(300, columns={"c_nation": ColumnStatistics(distinct=1),
                                                            "c_id": ColumnStatistics(distinct=300)})
    p = planned(sql, catalog_for(workspace, fan_out))
    assert all(len(s.joined) < 3 for s in p.scans)


@pytest.mark.parametrize("negated", [False, True])
def test_exists_over_a_product_of_the_same_source_is_answered_there(
    negated: bool, workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    word = "NOT EXISTS" if negated else "EXISTS"
    sql = (f"SELECT c.c_id, c.c_segment FROM crm.customer c WHERE c.c_nation < 20 AND {word} "
           "(SELECT * FROM sales.orders o WHERE o.o_customer = c.c_id AND o.o_status = 'O' AND o.o_total > 50)")
    catalog = catalog_for(workspace, exact_stats())
    p = planned(sql, catalog)
    assert [s.product for s in p.scans] == ["crm.customer + sales.orders"]
    statement = p.scans[0].binding.port.sql or ""
    assert f'{word}(SELECT 1 FROM "orders" AS "e0" WHERE "e0"."o_customer" = "t0"."c_id"' in statement
    assert "'O'" in statement and '"t0"."c_nation" < 20' in statement
    assert "EXISTS" not in p.sql  # the engine no longer reads the orders at all
    assert any(f"{word} over sales.orders evaluated in the source" in w for w in p.scans[0].why)
    same(sql, catalog, reference)
    # uncorrelated columns of the outer side and unqualified names resolve as DuckDB resolves them
    same(f"SELECT c_id FROM crm.customer WHERE {word} (SELECT 1 FROM sales.orders WHERE o_customer = c_id)",
         catalog, reference)


@pytest.mark.parametrize("sql", [
    # an aggregate without GROUP BY always returns a row
    "SELECT c.c_id FROM crm.customer c WHERE NOT EXISTS "
    "(SELECT count(*) FROM sales.orders o WHERE o.o_customer = c.c_id)",
    # SQLite's LIKE is case-blind: the filter stays in the engine, so the anti-join must too
    "SELECT c.c_id FROM crm.customer c WHERE NOT EXISTS "
    "(SELECT 1 FROM sales.orders o WHERE o.o_customer = c.c_id AND o.o_status LIKE 'o')",
    # the name compares case-blind in SQLite (COLLATE NOCASE)
    "SELECT n.n_id FROM geo.nation n WHERE EXISTS (SELECT 1 FROM crm.customer c WHERE c.c_name = n.n_name)",
    # correlated to two references of the outer query
    "SELECT c.c_id FROM crm.customer c JOIN geo.nation n ON n.n_id = c.c_nation WHERE NOT EXISTS "
    "(SELECT 1 FROM sales.orders o WHERE o.o_customer = c.c_id AND o.o_id = n.n_id)",
    # the outer reference is null-supplied by an outer join
    "SELECT n.n_id, c.c_id FROM geo.nation n LEFT JOIN crm.customer c ON c.c_nation = n.n_id "
    "WHERE NOT EXISTS (SELECT 1 FROM sales.orders o WHERE o.o_customer = c.c_id)",
    # not a conjunct: one side of an OR
    "SELECT c.c_id FROM crm.customer c WHERE c.c_nation = 1 OR NOT EXISTS "
    "(SELECT 1 FROM sales.orders o WHERE o.o_customer = c.c_id)",
    # the inner product lives in another source
    "SELECT o.o_id FROM sales.orders o WHERE NOT EXISTS (SELECT 1 FROM logistics.lines l WHERE l.l_order = o.o_id)",
    # a subquery that limits its rows
    "SELECT c.c_id FROM crm.customer c WHERE EXISTS "
    "(SELECT 1 FROM sales.orders o WHERE o.o_customer = c.c_id LIMIT 0)",
])
def test_exists_that_could_change_an_answer_stays_in_the_engine(
    sql: str, workspace: Path, reference: duckdb.DuckDBPyConnection
) -> None:
    catalog = catalog_for(workspace, exact_stats())
    assert "EXISTS" in planned(sql, catalog).sql, sql
    same(sql, catalog, reference)


@pytest.mark.parametrize("secured", ["crm.customer", "sales.orders"])
def test_exists_over_or_from_a_secured_product_stays_in_the_engine(secured: str, workspace: Path) -> None:
    """The policy applies to a product before its rows meet another's: an EXISTS pushed into the
    source would test the hidden orders (or filter the hidden customers) too."""
    catalog = catalog_for(workspace, exact_stats())
    hide = SecuredView(tuple((c, None) for c in TABLES[secured].column_names),
                       sqlglot.parse_one("o_status = 'F'" if secured == "sales.orders" else "c_nation < 5"))
    sql = ("SELECT c.c_id FROM crm.customer c WHERE EXISTS "
           "(SELECT 1 FROM sales.orders o WHERE o.o_customer = c.c_id AND o.o_total > 100)")
    result = run_query(sql, catalog, views=lambda bindings: {secured: hide})
    assert all(" + " not in s.product for s in result.stats.scans)
    conn = duckdb.connect()
    conn.register("customer", CUSTOMERS.filter(pa.compute.less(CUSTOMERS["c_nation"], 5))
                  if secured == "crm.customer" else CUSTOMERS)
    conn.register("orders", ORDERS.filter(pa.compute.equal(ORDERS["o_status"], "F"))
                  if secured == "sales.orders" else ORDERS)
    want = conn.execute(sql.replace("crm.customer", "customer").replace("sales.orders", "orders")).to_arrow_table()
    assert rows(result.arrow()) == rows(want)


JOIN_ON = {("c", "o"): "o.o_customer = c.c_id", ("c", "n"): "c.c_nation = n.n_id",
           ("o", "l"): "l.l_order = o.o_id"}
NAMES = {"c": "crm.customer", "o": "sales.orders", "n": "geo.nation", "l": "logistics.lines"}
FILTERS = {"c": ["c.c_segment = 'BUILDING'", "c.c_nation < {n}", "c.c_name = 'Customer{n}'"],
           "o": ["o.o_status = 'O'", "o.o_total > {n}", "o.o_customer IS NULL", "o.o_customer < {n}"],
           "n": ["n.n_region = {n}", "n.n_name LIKE 'N1%'"],
           "l": ["l.l_mode = 'AIR'", "l.l_qty > {n}"]}


@st.composite
def queries(draw: st.DrawFn) -> str:
    shape = draw(st.sampled_from([("c", "o"), ("n", "c", "o"), ("c", "o", "l"), ("n", "c", "o", "l"), ("o", "c", "n")]))
    comma = draw(st.booleans())
    where = [draw(st.sampled_from(FILTERS[a])).format(n=draw(st.integers(0, 40))) for a in shape if draw(st.booleans())]
    first, *rest = shape
    sql_from = f"{NAMES[first]} {first}"
    for alias in rest:
        before = set(shape[:shape.index(alias)])
        on = next(j for pair, j in JOIN_ON.items() if alias in pair and (set(pair) - {alias}) <= before)
        if comma:
            sql_from += f", {NAMES[alias]} {alias}"
            where.insert(0, on)
        else:
            sql_from += f" JOIN {NAMES[alias]} {alias} ON {on}"
    group = draw(st.booleans())
    key = {"c": "c.c_id", "o": "o.o_id", "n": "n.n_id", "l": "l.l_order"}[draw(st.sampled_from(shape))]
    select = f"{key} AS k, count(*) AS cnt" if group else f"{key} AS k, " + ", ".join(
        {"c": "c.c_name", "o": "o.o_total", "n": "n.n_name", "l": "l.l_qty"}[a] for a in shape)
    if "c" in shape and draw(st.booleans()):
        where.append(draw(st.sampled_from([
            "NOT EXISTS (SELECT 1 FROM sales.orders o4 WHERE o4.o_customer = c.c_id AND o4.o_status = 'O')",
            "EXISTS (SELECT * FROM sales.orders o4 WHERE c.c_id = o4.o_customer AND o4.o_total > {n})",
            "NOT EXISTS (SELECT 1 FROM geo.nation n4 WHERE n4.n_id = c.c_nation AND n4.n_region = {n})",
        ])).format(n=draw(st.integers(0, 120))))
    if "o" in shape and draw(st.booleans()):
        where.append(draw(st.sampled_from([
            "EXISTS (SELECT 1 FROM logistics.lines l2 WHERE l2.l_order = o.o_id AND l2.l_qty > 45)",
            "o.o_total >= (SELECT avg(o3.o_total) FROM sales.orders o3 WHERE o3.o_customer = o.o_customer)",
            "o.o_customer IN (SELECT c2.c_id FROM crm.customer c2 WHERE c2.c_nation < 9)",
        ])))
    sql = f"SELECT {select} FROM {sql_from}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if group:
        sql += " GROUP BY 1"
    return sql


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sql=queries(), which=st.sampled_from(["exact", "missing", "wrong"]), push=st.booleans())
def test_generated_joins_give_duckdbs_answer_whatever_the_statistics(
    sql: str, which: str, push: bool, workspace: Path, reference: duckdb.DuckDBPyConnection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stats = {"exact": exact_stats(), "missing": None, "wrong": wrong_stats()}[which]
    monkeypatch.setattr(joins, "JOIN_WORTH", 1e12 if push else joins.JOIN_WORTH)
    same(sql, catalog_for(workspace, stats), reference)


def test_rows_moved_by_a_joined_scan_count_for_each_of_its_products() -> None:
    """The per-product movement metrics: a join pushed into the source moved its rows for every
    product it read, not for a product named 'a + b'."""
    from meshfabric.access.enforce import _movement
    from meshfabric.query.result import QueryResult, QueryStats, ScanStats

    scans = (ScanStats("__mf_scan_3", "crm.customer + sales.orders", "shop", ("c_id",), "SELECT ...", 40, 0.01),
             ScanStats("__mf_scan_0", "logistics.lines", "lake", ("l_order",), None, 7, 0.01))
    result = QueryResult(pa.table({"x": [1]}), QueryStats(scans, 0.0, 0.0, 0.0))
    rows = {p["series"]: p["value"] for p in _movement(result) if p["metric"] == "query.rows_moved"}
    assert rows == {"crm.customer/query.rows_moved/shop": 40, "sales.orders/query.rows_moved/shop": 40,
                    "logistics.lines/query.rows_moved/lake": 7}
