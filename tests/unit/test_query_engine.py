"""The engine end to end over in-memory sources: same answers as DuckDB, hardened, concurrent.

The reference for every result is DuckDB itself running the very same SQL over the very same
tables (created in schemas named like the domains), so any difference is the federation's doing.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from test_query_planner import CUSTOMERS, ORDERS, MemoryConnector, memory_catalog

from helpers import duckdb_reference
from meshfabric.connectors.base import ScanRequest, ScanResult
from meshfabric.errors import QueryError, SourceError
from meshfabric.query import engine, explain, run_query
from meshfabric.query.engine import HARDENING, hardened_connection, run_scans
from meshfabric.query.guard import guard
from meshfabric.query.planner import plan

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tpch import assert_same_result


@pytest.fixture(scope="module")
def reference() -> duckdb.DuckDBPyConnection:
    return duckdb_reference({"sales.orders": ORDERS, "crm.customer": CUSTOMERS})


SAME_AS_DUCKDB = [
    "SELECT id, amount FROM sales.orders WHERE amount > 10 AND status = 'open'",
    "SELECT c.name, sum(o.amount) AS total FROM sales.orders o JOIN crm.customer c ON o.customer_id = c.id "
    "WHERE c.region = 'EU' GROUP BY c.name",
    # the outer-join trap: a WHERE on the null-supplying side must not reach its source
    "SELECT c.id FROM crm.customer c LEFT JOIN sales.orders o ON o.customer_id = c.id WHERE o.id IS NULL",
    "SELECT c.id, count(o.id) AS n FROM crm.customer c LEFT JOIN sales.orders o "
    "ON o.customer_id = c.id AND o.amount > 10 GROUP BY c.id",
    "SELECT c.id, o.id FROM sales.orders o RIGHT JOIN crm.customer c ON o.customer_id = c.id AND o.amount > 20 "
    "WHERE coalesce(o.amount, 0) < 50",
    "SELECT c.id, o.id FROM sales.orders o FULL JOIN crm.customer c ON o.customer_id = c.id WHERE o.id IS NULL",
    "SELECT c.id FROM crm.customer c ANTI JOIN sales.orders o ON o.customer_id = c.id AND o.amount > 20",
    "SELECT c.id FROM crm.customer c SEMI JOIN sales.orders o ON o.customer_id = c.id AND o.status = 'open'",
    # case matters in DuckDB even where the source would fold it
    "SELECT name FROM crm.customer WHERE region = 'us' OR name = 'Ada'",
    "SELECT o.id FROM sales.orders o, crm.customer c WHERE o.customer_id = c.id AND "
    "((o.amount < 10 AND c.region = 'EU') OR (o.amount > 50 AND c.id = 30))",
    "WITH big AS (SELECT * FROM sales.orders WHERE amount > 10) SELECT status, count(*) FROM big GROUP BY status",
    "SELECT * FROM (SELECT id, row_number() OVER (ORDER BY amount DESC) AS rn FROM sales.orders) t WHERE id > 2",
    "SELECT id FROM sales.orders o WHERE amount > (SELECT avg(amount) FROM sales.orders i "
    "WHERE i.customer_id = o.customer_id)",
    "SELECT c.name, x.total FROM crm.customer c, LATERAL (SELECT sum(amount) AS total FROM sales.orders o "
    "WHERE o.customer_id = c.id) x",
    "SELECT id FROM sales.orders EXCEPT SELECT id FROM crm.customer",
    "SELECT * EXCLUDE (status) FROM sales.orders",
    "SELECT a, c FROM sales.orders AS o(a, b, c) WHERE b = 10",
    "SELECT sales.orders.id FROM sales.orders",
    "SELECT count(*) FROM sales.orders",
    "SELECT count(*) FROM sales.orders a, sales.orders b WHERE a.amount > 10 AND b.amount > 10",
    "SELECT status, count(*) FILTER (WHERE amount > 10) FROM sales.orders GROUP BY ROLLUP (status)",
    "SELECT 1 + 1 AS two",
    "SELECT * FROM (SELECT DISTINCT ON (customer_id) customer_id, amount FROM sales.orders "
    "ORDER BY customer_id, amount DESC) t WHERE amount < 30",
    "SELECT id, status, name FROM sales.orders JOIN crm.customer USING (id)",
    "SELECT c.id, o.id, c2.name FROM crm.customer c LEFT JOIN (sales.orders o JOIN crm.customer c2 "
    "ON o.customer_id = c2.id AND c2.region = 'EU') ON o.customer_id = c.id AND o.amount > 10",
    "FROM sales.orders SELECT status, sum(amount) AS total GROUP BY ALL ORDER BY ALL",
    "(SELECT id FROM sales.orders WHERE amount > 1) ORDER BY id DESC LIMIT 2",
    "(SELECT id FROM sales.orders) UNION ALL (SELECT id FROM crm.customer) ORDER BY 1 LIMIT 3",
    "SELECT status, amount, sum(amount) OVER (PARTITION BY status ORDER BY id) FROM sales.orders "
    "QUALIFY row_number() OVER (PARTITION BY status ORDER BY id) = 1",
]


@pytest.fixture(params=["registered", "materialised"])
def loading(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once with scans registered as Arrow and once copied into DuckDB tables."""
    monkeypatch.setattr(engine, "MATERIALISE_MIN_SCANS", 99 if request.param == "registered" else 1)
    return str(request.param)


@pytest.mark.parametrize("sql", SAME_AS_DUCKDB)
def test_results_match_duckdb_running_the_same_sql(
    sql: str, reference: duckdb.DuckDBPyConnection, loading: str
) -> None:
    result = run_query(sql, memory_catalog())
    expected = reference.execute(sql).to_arrow_table()
    assert result.columns == expected.column_names
    assert_same_result(result.arrow(), expected, ordered=False)


def test_ordered_limited_results_match_too(reference: duckdb.DuckDBPyConnection) -> None:
    sql = "SELECT id, amount FROM sales.orders ORDER BY amount DESC LIMIT 3"
    assert_same_result(run_query(sql, memory_catalog()).arrow(), reference.execute(sql).to_arrow_table(), ordered=True)


def test_hardened_session_reads_registered_tables_and_nothing_else(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    conn = hardened_connection({"__mf_scan_0": pa.table({"x": [1, 2, 3]})})
    try:
        assert conn.execute("SELECT sum(x) FROM __mf_scan_0").fetchone() == (6,)
        for attempt in (
            f"SELECT * FROM read_csv_auto('{secret}')",
            f"SELECT * FROM '{secret}'",
            f"ATTACH '{tmp_path / 'x.db'}' AS x",
            "INSTALL httpfs",
            "LOAD httpfs",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
            f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
        ):
            with pytest.raises(duckdb.Error):
                conn.execute(attempt)
        assert not (tmp_path / "out.csv").exists()
    finally:
        conn.close()


def test_materialised_scans_are_tables_in_a_session_hardened_after_the_copy(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    conn = hardened_connection({"__mf_scan_0": pa.table({"x": [1, 2, 3]}), "__mf_scan_1": pa.table({})})
    try:
        tables = conn.execute("SELECT table_name, estimated_size FROM duckdb_tables() ORDER BY 1").fetchall()
        assert tables == [("__mf_scan_0", 3), ("__mf_scan_1", 0)]
        assert conn.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone() == (0,)
        assert conn.execute("SELECT max(x) FROM __mf_scan_0").fetchone() == (3,)
        for attempt in (
            "SELECT * FROM __mf_incoming",  # the Arrow the copy read from is gone
            f"SELECT * FROM read_csv_auto('{secret}')",
            f"SELECT * FROM '{secret}'",
            "INSTALL httpfs",
            "SET enable_external_access = true",
            f"COPY __mf_scan_0 TO '{tmp_path / 'out.csv'}'",
        ):
            with pytest.raises(duckdb.Error):
                conn.execute(attempt)
        assert not (tmp_path / "out.csv").exists()
    finally:
        conn.close()


def test_with_the_guard_bypassed_a_materialised_engine_still_cannot_read_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second wall on its own: the query DuckDB runs is swapped for one the guard refuses."""
    import sqlglot

    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    catalog = memory_catalog()
    the_plan = plan(
        guard("SELECT o.id FROM sales.orders o JOIN crm.customer c ON o.customer_id = c.id", catalog).expression,
        catalog,
    )
    monkeypatch.setattr(engine, "MATERIALISE_MIN_SCANS", 1)
    monkeypatch.setattr(engine, "_recheck", lambda sql, internal: None)
    for text in (f"SELECT * FROM read_csv_auto('{secret}')", f"SELECT * FROM '{secret}'"):
        bypassed = dataclasses.replace(the_plan, query=sqlglot.parse_one(text, dialect="duckdb"))
        with pytest.raises(QueryError) as info:
            engine.execute(bypassed, catalog)
        assert "hunter2" not in str(info.value)


def test_each_scan_is_loaded_while_the_others_are_still_reading() -> None:
    loaded = threading.Event()

    def after_the_other_is_loaded(_: ScanRequest) -> None:
        assert loaded.wait(timeout=10), "the finished scan was not loaded before all scans ended"

    catalog = memory_catalog(before_scan={"shop": after_the_other_is_loaded})
    the_plan = plan(
        guard("SELECT o.id FROM sales.orders o JOIN crm.customer c ON o.customer_id = c.id", catalog).expression,
        catalog,
    )
    order: list[str] = []

    def on_result(name: str, result: ScanResult) -> None:
        order.append(next(s.product for s in the_plan.scans if s.name == name))
        loaded.set()

    results = run_scans(the_plan.scans, catalog, on_result=on_result)
    assert order == ["crm.customer", "sales.orders"] and set(results) == {s.name for s in the_plan.scans}


def test_hardening_ends_by_locking_the_configuration() -> None:
    assert HARDENING[-1] == "SET lock_configuration = true"


def test_python_variables_are_not_visible_to_queries() -> None:
    leaked = pa.table({"secret": [42]})  # DuckDB's replacement scans would find this by name
    conn = hardened_connection({})
    try:
        with pytest.raises(duckdb.Error):
            conn.execute("SELECT * FROM leaked")
    finally:
        conn.close()
    assert leaked.num_rows == 1


def test_a_failing_source_is_named_and_the_others_are_not_waited_for() -> None:
    release = threading.Event()

    def slow(_: ScanRequest) -> None:
        release.wait(timeout=10)

    def broken(_: ScanRequest) -> None:
        raise SourceError("crm", "connection refused", hint="check the server")

    catalog = memory_catalog(before_scan={"shop": slow, "crm": broken})
    start = time.perf_counter()
    try:
        with pytest.raises(SourceError) as info:
            run_query("SELECT o.id FROM sales.orders o JOIN crm.customer c ON o.customer_id = c.id", catalog)
        assert time.perf_counter() - start < 8  # not the 10 s the slow scan would take
    finally:
        release.set()
    assert info.value.source == "crm"
    assert "connection refused" in str(info.value)


def test_an_unexpected_connector_error_becomes_a_source_error_naming_source_and_product() -> None:
    def crash(_: ScanRequest) -> None:
        raise RuntimeError("driver exploded")

    with pytest.raises(SourceError) as info:
        run_query("SELECT name FROM crm.customer", memory_catalog(before_scan={"crm": crash}))
    assert info.value.source == "crm"
    assert "crm.customer" in str(info.value) and "driver exploded" in str(info.value)


def test_scans_run_concurrently() -> None:
    # each scan waits until the other one is in flight too; run one after the other they never meet
    barrier = threading.Barrier(2, timeout=5)

    def meet(_: ScanRequest) -> None:
        barrier.wait()

    catalog = memory_catalog(before_scan={"shop": meet, "crm": meet})
    result = run_query("SELECT count(*) FROM sales.orders o JOIN crm.customer c ON o.customer_id = c.id", catalog)
    assert result.rows == [(5,)]


def test_stats_say_what_each_source_was_asked_and_moved() -> None:
    catalog = memory_catalog()
    result = run_query(
        "SELECT o.id, c.name FROM sales.orders o JOIN crm.customer c ON o.customer_id = c.id "
        "WHERE o.amount > 20 AND c.region = 'EU'",
        catalog,
    )
    by_product = {s.product: s for s in result.stats.scans}
    orders, customers = by_product["sales.orders"], by_product["crm.customer"]
    assert orders.source == "shop" and orders.rows == 3 and orders.pushed_filters == ('"amount" > 20',)
    assert orders.columns == ("id", "customer_id", "amount")
    assert orders.source_sql is not None and "WHERE" in orders.source_sql
    assert customers.rows == 4 and customers.pushed_filters == ()
    assert customers.kept_filters == ("\"region\" = 'EU'",)
    assert result.stats.rows_moved == 7
    assert result.stats.total_seconds >= result.stats.engine_seconds > 0
    assert result.scan_stats()[0]["product"] == "sales.orders"


def test_result_converts_to_arrow_pandas_polars_and_rows() -> None:
    result = run_query("SELECT id, status FROM sales.orders WHERE id <= 2 ORDER BY id", memory_catalog())
    assert result.columns == ["id", "status"]
    assert result.rows == [(1, "open"), (2, "shipped")]
    assert len(result) == result.num_rows == 2
    assert result.arrow().num_rows == 2
    assert result.to_pandas()["status"].tolist() == ["open", "shipped"]
    assert result.to_polars()["id"].to_list() == [1, 2]
    assert "2 rows x 2 columns" in repr(result)


def test_limit_argument_caps_rows_and_reaches_a_plain_scan() -> None:
    catalog = memory_catalog()
    result = run_query("SELECT id FROM sales.orders", catalog, limit=2)
    assert result.num_rows == 2
    assert result.stats.scans[0].limit == 2 and result.stats.rows_moved == 2
    assert run_query("SELECT id FROM sales.orders ORDER BY id DESC", catalog, limit=1).rows == [(6,)]


def test_count_only_scan_carries_rows_without_columns() -> None:
    catalog = memory_catalog()
    result = run_query("SELECT count(*) FROM sales.orders WHERE amount > 10", catalog)
    assert result.rows == [(4,)]
    shop = catalog.connector("shop")
    assert isinstance(shop, MemoryConnector) and shop.requests[-1].columns == ["amount"]
    assert run_query("SELECT count(*) FROM sales.orders", catalog).rows == [(6,)]
    assert shop.requests[-1].columns == []


def test_engine_failures_are_query_errors() -> None:
    with pytest.raises(QueryError, match="the query failed"):
        run_query("SELECT CAST(status AS INTEGER) FROM sales.orders", memory_catalog())


def test_refused_sql_never_reaches_a_source() -> None:
    catalog = memory_catalog()
    with pytest.raises(QueryError):
        run_query("SELECT * FROM sales.orders, read_csv_auto('/etc/passwd')", catalog)
    shop = catalog.connector("shop")
    assert isinstance(shop, MemoryConnector) and shop.requests == []


def test_explain_shows_sources_filters_and_engine_sql_without_scanning() -> None:
    catalog = memory_catalog()
    text = str(explain("SELECT o.id FROM sales.orders o WHERE o.amount > 20 AND o.status = 'open'", catalog))
    assert "sales.orders  (source 'shop')" in text
    assert 'pushed:  "amount" > 20' in text and "pushed:  \"status\" = 'open'" in text
    assert "__mf_scan_0 AS o" in text
    assert 'source SQL: SELECT "id", "amount", "status" FROM "orders" WHERE' in text, text
    shop = catalog.connector("shop")
    assert isinstance(shop, MemoryConnector) and shop.requests == []


def test_importing_the_query_package_loads_neither_duckdb_nor_pyarrow() -> None:
    code = "import sys, meshfabric.query; print('duckdb' in sys.modules, 'pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_a_query_over_its_memory_limit_spills_to_its_own_folder_and_still_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """MESHFABRIC_QUERY_MEMORY caps the engine's session; a GROUP BY bigger than the cap spills to
    a folder of the session's own, which is gone once the query is over."""
    import tempfile

    from test_query_planner import MemoryConnector, binding

    from meshfabric.query.catalog import StaticCatalog

    rows = 3_000_000  # one group per row: DuckDB's hash table (~100 MB) fits 64 MB only by spilling
    big = pa.table({"k": pa.array(range(rows), pa.int64()), "v": pa.array(range(rows), pa.int64())})
    catalog = StaticCatalog({"d.big": binding("d", "big", "mem", big)}, {"mem": MemoryConnector("mem", {"big": big})})
    monkeypatch.setenv("MESHFABRIC_QUERY_MEMORY", "64MB")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = run_query("SELECT count(*) AS n, sum(s) AS total FROM (SELECT k, sum(v) AS s FROM d.big GROUP BY k)",
                       catalog)
    assert result.rows == [(rows, rows * (rows - 1) // 2)]
    for _ in range(100):  # the session closes in the background
        if not list(tmp_path.glob("mf-spill-*")):
            break
        time.sleep(0.05)
    assert not list(tmp_path.glob("mf-spill-*"))


def test_a_memory_limit_that_is_not_a_size_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from meshfabric.errors import ConfigError

    monkeypatch.setenv("MESHFABRIC_QUERY_MEMORY", "lots")
    with pytest.raises(ConfigError, match="not a size"):
        run_query("SELECT count(*) FROM sales.orders", memory_catalog())
