"""The query time limit against real servers: a slow scan is cancelled in PostgreSQL and MariaDB
themselves (no statement left running there), and the connector's pool answers the next query.

Each test creates and drops its own schema (PostgreSQL) or database (MariaDB). Timing bounds are
generous for a loaded 2-core machine: a 0.5 s limit against statements that would run for
minutes, checked against an upper bound of 15 s and against the server's own list of statements.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import my_exec, pg_exec, product_catalog
from meshfabric.connectors import get_connector
from meshfabric.connectors.base import CancelToken, Connector, Deadline, ScanRequest
from meshfabric.errors import QueryCancelled, QueryTimeout, SourceError
from meshfabric.query import explain, run_query
from meshfabric.query.catalog import StaticCatalog
from meshfabric.spec.models import OutputPort, SourceSpec

LIMIT = 0.5
STOPS_WITHIN = 15.0


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def wait_until(condition: Callable[[], bool], within: float = STOPS_WITHIN) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def timed_out(sql: str, catalog: StaticCatalog) -> tuple[QueryTimeout, float]:
    # planning counts against the limit too: plan once untimed, so that on a loaded machine the
    # first planning of a process (imports, the planner's column cache) does not eat the limit
    explain(sql, catalog)
    start = time.perf_counter()
    with pytest.raises(QueryTimeout) as info:
        run_query(sql, catalog, timeout=LIMIT)
    return info.value, time.perf_counter() - start


def scan_threads_done() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith(("mf-scan", "mf-pg"))]


# -- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture
def pg(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, str, StaticCatalog]]:
    """A schema of its own with a small table, a view that sleeps and a huge product, as products."""
    schema = unique("mf_timeout")
    pg_exec(pg_url, f"CREATE SCHEMA {schema}")
    connector = get_connector("pg", SourceSpec(kind="postgres", url=pg_url), tmp_path)
    try:
        yield from _pg_products(pg_url, schema, connector)
    finally:
        connector.close()
        pg_exec(pg_url, f"DROP SCHEMA {schema} CASCADE")


def _pg_products(pg_url: str, schema: str, connector: Connector) -> Iterator[tuple[str, str, StaticCatalog]]:
    pg_exec(
        pg_url,
        f"CREATE TABLE {schema}.small AS SELECT g AS n FROM generate_series(1, 10) g",
        f"ANALYZE {schema}.small",
        # 100 rows, half a second each: 50 s unless cancelled
        f"CREATE VIEW {schema}.sleepy AS SELECT g AS n FROM generate_series(1, 100) g, LATERAL pg_sleep(0.5) s",
        # a product of two series: 10^12 rows
        f"CREATE VIEW {schema}.huge AS SELECT a.g * b.g AS n "
        f"FROM generate_series(1, 1000000) AS a(g), generate_series(1, 1000000) AS b(g)",
    )
    catalog = product_catalog(
        connector, {f"x.{t}": OutputPort(source="pg", table=f"{schema}.{t}") for t in ("small", "sleepy", "huge")}
    )
    yield pg_url, schema, catalog


def pg_running(url: str, schema: str) -> list[Any]:
    """Statements of this test still active in the server (any connection but this one)."""
    return pg_exec(
        url,
        "SELECT pid, state, query FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
        f"AND query LIKE '%{schema}%' AND state NOT LIKE 'idle%'",
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT n FROM x.sleepy",
        "SELECT count(*) FROM x.sleepy",
        "SELECT count(*) FROM x.huge",
        "SELECT s.n, h.n FROM x.small s JOIN x.huge h ON s.n = h.n",
    ],
)
def test_a_slow_postgres_scan_is_cancelled_in_the_server(pg: tuple[str, str, StaticCatalog], sql: str) -> None:
    url, schema, catalog = pg
    assert run_query("SELECT sum(n) FROM x.small", catalog, timeout=30).rows == [(55,)]
    error, took = timed_out(sql, catalog)
    assert took < STOPS_WITHIN
    assert "from source 'pg'" in str(error) and "time limit of 0.5 s" in str(error)
    assert wait_until(lambda: not pg_running(url, schema)), pg_running(url, schema)
    assert wait_until(scan_threads_done)
    # the pool hands out a working connection, not the cancelled one in an aborted transaction
    for _ in range(3):
        assert run_query("SELECT sum(n) FROM x.small", catalog, timeout=30).rows == [(55,)]
    assert not pg_exec(
        url,
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'meshfabric' "
        "AND datname = current_database() AND state LIKE 'idle in transaction%'",
    )


@pytest.mark.postgres
@pytest.mark.parametrize("parallel", [False, True], ids=["one-connection", "parallel-ranges"])
def test_a_postgres_scan_waiting_on_a_lock_is_cancelled(
    pg: tuple[str, str, StaticCatalog], parallel: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan that never ends on its own: another session holds the table locked. Read over one
    connection, or in ctid ranges over several sharing a snapshot: every statement is cancelled."""
    import psycopg

    from meshfabric.connectors import postgres

    url, schema, catalog = pg
    if parallel:
        monkeypatch.setattr(postgres, "PARALLEL_MIN_PAGES", 1)
        monkeypatch.setattr(postgres.os, "cpu_count", lambda: 3)
    with psycopg.connect(url) as locker:
        locker.execute(f"LOCK TABLE {schema}.small IN ACCESS EXCLUSIVE MODE")
        error, took = timed_out("SELECT n FROM x.small", catalog)
        assert took < STOPS_WITHIN and "reading 'x.small' from source 'pg'" in str(error)
        assert wait_until(lambda: not pg_running(url, schema)), pg_running(url, schema)
        assert wait_until(scan_threads_done)
        locker.rollback()
    result = run_query("SELECT n FROM x.small ORDER BY n", catalog, timeout=30)
    assert result.rows == [(n,) for n in range(1, 11)]


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["token", "ctrl-c"])
def test_a_cancelled_query_stops_its_postgres_statements(pg: tuple[str, str, StaticCatalog], how: str) -> None:
    """Cancelled from another thread (the REST API when its client goes away) or by Ctrl-C in
    the calling thread: the statement stops in PostgreSQL long before the query's own limit,
    the error says it was cancelled, and the pool answers the next query."""
    import os
    import signal

    url, schema, catalog = pg
    explain("SELECT count(*) FROM x.huge", catalog)
    token = CancelToken()
    fire = ((lambda: token.cancel("the client disconnected")) if how == "token"
            else lambda: os.kill(os.getpid(), signal.SIGINT))  # what Ctrl-C sends
    timer = threading.Timer(0.7, fire)
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(QueryCancelled) as info:
            run_query("SELECT count(*) FROM x.huge", catalog, timeout=120, cancel=token)
    finally:
        timer.cancel()
    assert time.perf_counter() - start < STOPS_WITHIN
    reason = "the client disconnected" if how == "token" else "interrupted"
    assert f"cancelled ({reason})" in str(info.value) and info.value.exit_code == 130
    assert wait_until(lambda: not pg_running(url, schema)), pg_running(url, schema)
    assert wait_until(scan_threads_done)
    assert run_query("SELECT sum(n) FROM x.small", catalog, timeout=30).rows == [(55,)]


@pytest.mark.postgres
def test_no_limit_leaves_postgres_scans_alone(pg: tuple[str, str, StaticCatalog]) -> None:
    _, _, catalog = pg
    assert run_query("SELECT count(*) FROM x.small", catalog).rows == [(10,)]
    assert run_query("SELECT max(n) FROM x.small", catalog, timeout=None).rows == [(10,)]


# -- MariaDB -------------------------------------------------------------------------------------


@pytest.fixture
def maria(mysql_url: str, tmp_path: Path) -> Iterator[tuple[str, StaticCatalog]]:
    """A database of its own with a small table and a view that sleeps, as products."""
    database = unique("mf_timeout")
    my_exec(None, f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    try:
        yield from _maria_products(mysql_url, database, tmp_path)
    finally:
        my_exec(None, f"DROP DATABASE IF EXISTS `{database}`")


def _maria_products(mysql_url: str, database: str, tmp_path: Path) -> Iterator[tuple[str, StaticCatalog]]:
    my_exec(
        None,
        f"CREATE TABLE `{database}`.small (n INT)",
        f"INSERT INTO `{database}`.small VALUES (1), (2), (3), (4), (5), (6), (7), (8), (9), (10)",
        # 100 rows, half a second each: 50 s unless stopped
        f"CREATE VIEW `{database}`.sleepy AS WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r "
        "WHERE n < 100) SELECT n FROM r WHERE SLEEP(0.5) = 0",
    )
    url = mysql_url.rsplit("/", 1)[0] + "/" + database
    connector = get_connector("my", SourceSpec(kind="mysql", url=url), tmp_path)
    try:
        ports = {f"x.{t}": OutputPort(source="my", table=t) for t in ("small", "sleepy")}
        yield database, product_catalog(connector, ports)
    finally:
        connector.close()


def my_running(database: str) -> list[Any]:
    return my_exec(
        None,
        "SELECT ID, COMMAND, INFO FROM information_schema.PROCESSLIST "
        f"WHERE ID <> CONNECTION_ID() AND INFO LIKE '%sleepy%' AND (DB = '{database}' OR INFO LIKE '%{database}%')",
    )


@pytest.mark.mariadb
@pytest.mark.parametrize("sql", ["SELECT n FROM x.sleepy", "SELECT count(*) FROM x.sleepy"], ids=["rows", "count"])
def test_a_slow_mariadb_scan_is_cancelled_in_the_server(maria: tuple[str, StaticCatalog], sql: str) -> None:
    database, catalog = maria
    assert run_query("SELECT sum(n) FROM x.small", catalog, timeout=30).rows == [(55,)]
    error, took = timed_out(sql, catalog)
    assert took < STOPS_WITHIN
    assert "reading 'x.sleepy' from source 'my'" in str(error)
    assert wait_until(lambda: not my_running(database)), my_running(database)
    assert wait_until(scan_threads_done)
    for _ in range(3):
        assert run_query("SELECT sum(n) FROM x.small", catalog, timeout=30).rows == [(55,)]


@pytest.mark.mariadb
def test_the_server_side_limit_alone_stops_a_mariadb_statement(maria: tuple[str, StaticCatalog]) -> None:
    """Without the watcher's KILL QUERY, max_statement_time ends the read in the server."""
    database, catalog = maria
    connector = catalog.connector("my")
    port = OutputPort(source="my", table="sleepy")
    start = time.perf_counter()
    with pytest.raises(SourceError) as info:
        connector.scan(ScanRequest(port, columns=["n"], deadline=Deadline(LIMIT)))  # watcher never started
    assert time.perf_counter() - start < STOPS_WITHIN
    assert "max_statement_time" in str(info.value) or "interrupted" in str(info.value).lower()
    assert wait_until(lambda: not my_running(database)), my_running(database)
