"""The query time limit: run_query(timeout=) stops the engine's statement, cancels the scans still
running in their sources, never starts the others, and leaves every source usable.

Timing assertions are upper bounds meant for a loaded 2-core machine: a 0.5 s limit must stop
the work well within 15 s, where without cancellation it would run forever (or for minutes).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import duckdb
import pytest
from test_query_planner import MemoryConnector, memory_catalog

from helpers import product_catalog
from meshfabric.connectors import get_connector
from meshfabric.connectors.base import Cancelled, ColumnInfo, Deadline, ScanRequest
from meshfabric.connectors.duckdb import scan_relation
from meshfabric.connectors.pool import ConnectionPool
from meshfabric.errors import QueryError, QueryTimeout, SourceError
from meshfabric.query import engine, explain, run_query
from meshfabric.query.catalog import StaticCatalog
from meshfabric.query.guard import guard
from meshfabric.query.planner import plan
from meshfabric.spec.models import OutputPort, SourceSpec
from meshfabric.types import LogicalType

LIMIT = 0.5
#: generous for a loaded 2-core machine; the work itself would never end
STOPS_WITHIN = 15.0
FOREVER = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"


def timed_out(sql: str, catalog: StaticCatalog, timeout: float = LIMIT) -> tuple[QueryTimeout, float]:
    # planning counts against the limit too: plan once untimed, so that on a loaded machine the
    # first planning of a process (imports, the planner's column cache) does not eat the limit
    explain(sql, catalog)
    start = time.perf_counter()
    with pytest.raises(QueryTimeout) as info:
        run_query(sql, catalog, timeout=timeout)
    return info.value, time.perf_counter() - start


def wait_until(condition: object, within: float = STOPS_WITHIN) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(condition())  # type: ignore[operator]


def scan_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("mf-scan")]


# -- the engine ------------------------------------------------------------------------------


def test_an_unbounded_recursive_cte_is_interrupted_and_says_how_to_raise_the_limit() -> None:
    error, took = timed_out(FOREVER, memory_catalog())
    assert took < STOPS_WITHIN
    assert isinstance(error, QueryError) and error.exit_code == QueryError.exit_code
    assert error.seconds == LIMIT
    text = str(error)
    assert "time limit of 0.5 s" in text and "the engine was running the query" in text
    assert "access.query_timeout" in text


def test_a_recursive_cte_over_a_product_is_interrupted_and_the_catalog_still_answers() -> None:
    catalog = memory_catalog()
    sql = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT r.n + 1 FROM r, sales.orders o) SELECT count(*) FROM r"
    for loading in (99, 1):  # registered Arrow, then copied into tables
        engine.MATERIALISE_MIN_SCANS, saved = loading, engine.MATERIALISE_MIN_SCANS
        try:
            _, took = timed_out(sql, catalog)
        finally:
            engine.MATERIALISE_MIN_SCANS = saved
        assert took < STOPS_WITHIN
    assert run_query("SELECT count(*) FROM sales.orders", catalog, timeout=30).rows == [(6,)]


def test_a_query_within_its_limit_is_unaffected() -> None:
    sql = "SELECT id FROM sales.orders WHERE amount > 10 ORDER BY id"
    before = {t for t in threading.enumerate() if t.name == "mf-deadline"}
    result = run_query(sql, memory_catalog(), timeout=60)
    assert result.rows == run_query(sql, memory_catalog()).rows == [(2,), (3,), (4,), (6,)]
    # the watcher ends with the query instead of waiting for the limit
    assert wait_until(lambda: not {t for t in threading.enumerate() if t.name == "mf-deadline"} - before, within=10)


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_a_limit_must_be_positive(timeout: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        run_query("SELECT 1", memory_catalog(), timeout=timeout)


# -- scans -----------------------------------------------------------------------------------


def test_a_slow_scan_is_cancelled_through_its_hook_and_named() -> None:
    cancelled = threading.Event()

    def slow(request: ScanRequest) -> None:
        with request.cancels(cancelled.set):
            cancelled.wait(60)
        request.check()

    catalog = memory_catalog(before_scan={"shop": slow})
    error, took = timed_out("SELECT o.id FROM sales.orders o JOIN crm.customer c ON o.customer_id = c.id", catalog)
    # the watcher thread fires the hook; the caller may get its error a moment before it runs
    assert took < STOPS_WITHIN and wait_until(cancelled.is_set)
    assert "reading 'sales.orders' from source 'shop'" in str(error)
    assert "crm.customer" not in str(error)  # it had finished
    assert wait_until(lambda: not scan_threads())


def test_scans_not_started_when_the_limit_passes_never_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "MAX_PARALLEL_SCANS", 1)
    release = threading.Event()

    def stuck(request: ScanRequest) -> None:
        release.wait(30)  # ignores the deadline, like a connector without cancel hooks

    catalog = memory_catalog(before_scan={"shop": stuck})
    try:
        error, took = timed_out("SELECT o.id FROM sales.orders o JOIN crm.customer c ON o.customer_id = c.id", catalog)
        assert took < STOPS_WITHIN
        assert "'sales.orders' from source 'shop' and 'crm.customer' from source 'crm'" in str(error)
    finally:
        release.set()
    assert wait_until(lambda: not scan_threads())
    crm = catalog.connector("crm")
    assert isinstance(crm, MemoryConnector) and crm.requests == []


def test_a_scan_queued_until_after_the_limit_is_not_started() -> None:
    deadline = Deadline(0.05)
    time.sleep(0.1)
    catalog = memory_catalog()
    scans = plan(guard("SELECT id FROM sales.orders", catalog).expression, catalog).scans
    with pytest.raises(QueryTimeout):
        engine.run_scans(scans, catalog, deadline=deadline)
    shop = catalog.connector("shop")
    assert isinstance(shop, MemoryConnector) and shop.requests == []


def test_a_limit_that_passed_while_planning_runs_nothing() -> None:
    catalog = memory_catalog()
    the_plan = plan(guard("SELECT id FROM sales.orders", catalog).expression, catalog)
    deadline = Deadline(30)
    deadline.expire()
    with pytest.raises(QueryTimeout, match="while the query was being planned"):
        engine.execute(the_plan, catalog, deadline=deadline)
    shop = catalog.connector("shop")
    assert isinstance(shop, MemoryConnector) and shop.requests == []


def test_a_sqlite_scan_is_interrupted_in_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "data" / "slow.sqlite"
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (n INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(10)])
        conn.execute(
            "CREATE VIEW forever AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r"
        )
    connector = get_connector("lite", SourceSpec(kind="sqlite", path="data/slow.sqlite"), tmp_path)
    catalog = product_catalog(
        connector,
        {"x.forever": OutputPort(source="lite", table="forever"), "x.t": OutputPort(source="lite", table="t")},
    )
    for sql in ("SELECT count(*) FROM x.forever", "SELECT max(n) FROM x.forever"):
        error, took = timed_out(sql, catalog)
        assert took < STOPS_WITHIN and "reading 'x.forever' from source 'lite'" in str(error)
        assert wait_until(lambda: not scan_threads()), "the SQLite statement kept running"
    assert run_query("SELECT sum(n) FROM x.t", catalog, timeout=30).rows == [(45,)]


def test_a_duckdb_database_scan_is_interrupted_in_duckdb(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    with duckdb.connect(str(tmp_path / "data" / "slow.duckdb")) as con:
        con.execute("CREATE TABLE t AS SELECT range AS n FROM range(10)")
        con.execute(
            "CREATE VIEW forever AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r"
        )
    connector = get_connector("db", SourceSpec(kind="duckdb", path="data/slow.duckdb"), tmp_path)
    catalog = product_catalog(
        connector, {"x.forever": OutputPort(source="db", table="forever"), "x.t": OutputPort(source="db", table="t")}
    )
    error, took = timed_out("SELECT count(*) FROM x.forever", catalog)
    assert took < STOPS_WITHIN and "reading 'x.forever' from source 'db'" in str(error)
    assert wait_until(lambda: not scan_threads()), "the DuckDB statement kept running"
    assert run_query("SELECT sum(n) FROM x.t", catalog, timeout=30).rows == [(45,)]


def test_a_files_read_is_interrupted_and_its_pooled_reader_still_reads(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "t.csv").write_text("n\n" + "\n".join(str(i) for i in range(10)) + "\n")
    connector = get_connector("lake", SourceSpec(kind="files", path="lake"), tmp_path)
    port = OutputPort(source="lake", path="t.csv")
    assert connector.scan(ScanRequest(port, columns=[])).rows == 10

    expired = Deadline(30)
    expired.expire()
    with pytest.raises(Cancelled):  # a read whose limit has passed never starts
        connector.scan(ScanRequest(port, columns=["n"], deadline=expired))

    # the reader's statement as the files connector runs it, over a relation that never ends
    endless = "(WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r) AS s"
    deadline = Deadline(LIMIT).start()
    request = ScanRequest(port, columns=["n"], deadline=deadline)
    start = time.perf_counter()
    try:
        with pytest.raises(SourceError, match=r"(?i)interrupt"), connector._duckdb() as con:  # type: ignore[attr-defined]
            scan_relation(connector, con, request, endless, [ColumnInfo("n", "BIGINT", LogicalType("bigint"))], start)
    finally:
        deadline.stop()
    assert time.perf_counter() - start < STOPS_WITHIN
    result = connector.scan(ScanRequest(port, columns=["n"], deadline=Deadline(30)))
    assert sorted(result.table.column("n").to_pylist()) == list(range(10))


# -- the pieces --------------------------------------------------------------------------------


def test_a_hook_called_before_its_statement_started_is_called_again() -> None:
    deadline = Deadline(0.05).start()
    calls: list[float] = []
    with deadline.cancels(lambda: calls.append(time.monotonic())) as cancel:
        assert wait_until(lambda: len(calls) >= 3, within=10)
    assert cancel.fired
    n = len(calls)
    time.sleep(0.3)
    assert len(calls) == n  # never after the registration ended
    deadline.stop()


def test_a_hook_registered_after_the_limit_is_called_at_once() -> None:
    deadline = Deadline(30)
    deadline.expire()
    called = threading.Event()
    with deadline.cancels(called.set) as cancel:
        assert called.is_set() and cancel.fired
    with pytest.raises(Cancelled):
        deadline.check()
    assert deadline.remaining() == 0


def test_mysql_statements_carry_the_time_left_and_a_marker() -> None:
    from meshfabric.connectors.mysql import _limited

    port = OutputPort(source="my", table="t")
    sql = "SELECT `n` FROM `t` WHERE `n` > 1"
    assert _limited(ScanRequest(port), "abc", True, sql) == sql  # no limit: sent as planned
    request = ScanRequest(port, deadline=Deadline(20))
    maria = _limited(request, "abc", True, sql)
    assert maria.startswith("SET STATEMENT max_statement_time=") and maria.endswith(f"FOR {sql} /* mf-scan:abc */")
    assert 19 < float(maria.split("=")[1].split()[0]) <= 20
    mysql = _limited(request, "abc", False, sql)
    assert mysql.startswith("SELECT /*+ MAX_EXECUTION_TIME(")
    assert mysql.endswith(") */ `n` FROM `t` WHERE `n` > 1 /* mf-scan:abc */")
    assert 19_000 < int(mysql.split("(")[1].split(")")[0]) <= 20_000
    expired = Deadline(20)
    expired.expire()
    with pytest.raises(Cancelled):
        _limited(ScanRequest(port, deadline=expired), "abc", True, sql)


def test_a_spoiled_connection_is_closed_instead_of_pooled() -> None:
    closed: list[int] = []
    counter = iter(range(100))
    pool: ConnectionPool[int] = ConnectionPool(lambda: next(counter), closed.append)
    with pool.connection() as first:
        pool.spoil(first)
    assert closed == [first] and pool.idle == 0
    with pool.connection() as second:
        pass
    assert second != first and pool.idle == 1 and closed == [first]
    with pool.connection() as again:
        assert again == second
