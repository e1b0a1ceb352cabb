"""Run a plan: read every scan concurrently through its connector, join in a hardened DuckDB.

Sources are read by their own drivers into Arrow (one thread per scan; the drivers release the
GIL while they wait on the network). Each Arrow table is registered in a fresh in-memory DuckDB
connection under the scan's internal name, and only then is the connection locked down: no file
or network access, no extension installing or autoloading, no Python-variable replacement scans,
configuration frozen. The user's query — already allowlisted by the guard — runs last, so even a
construct the guard missed finds nothing to read but the registered scans.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from meshfabric.errors import QueryError, SourceError
from meshfabric.query.guard import check_sql, product_tables
from meshfabric.query.result import QueryResult, QueryStats, ScanStats

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from meshfabric.connectors.base import Connector, ScanResult
    from meshfabric.query.catalog import ProductCatalog
    from meshfabric.query.planner import Plan, Scan

#: Scans in flight at once; more threads than this only queue on the same servers.
MAX_PARALLEL_SCANS = 16

#: Applied after the scans are registered and before user SQL runs. Order matters:
#: ``lock_configuration`` must come last or it would refuse the settings before it.
HARDENING = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET python_enable_replacements = false",
    "SET lock_configuration = true",
)

_SCAN_NAME = re.compile(r"__mf_scan_\d+")


def execute(plan: Plan, catalog: ProductCatalog, *, planning_seconds: float = 0.0) -> QueryResult:
    """Run every scan of ``plan`` and then its engine query; return the result with stats."""
    started = time.perf_counter()
    results = run_scans(plan.scans, catalog)
    scanned = time.perf_counter()
    table = run_engine(plan, {name: r.table for name, r in results.items()})
    finished = time.perf_counter()
    stats = QueryStats(
        scans=tuple(_scan_stats(scan, results[scan.name]) for scan in plan.scans),
        planning_seconds=planning_seconds,
        scan_seconds=scanned - started,
        engine_seconds=finished - scanned,
    )
    return QueryResult(table, stats)


def run_scans(scans: tuple[Scan, ...], catalog: ProductCatalog) -> dict[str, ScanResult]:
    """Read all scans concurrently. The first failure cancels the scans not yet started and is
    raised as a SourceError naming its source; scans already running finish in the background.
    """
    if not scans:
        return {}
    connectors = {scan.name: catalog.connector(scan.source) for scan in scans}
    pool = ThreadPoolExecutor(max_workers=min(len(scans), MAX_PARALLEL_SCANS), thread_name_prefix="mf-scan")
    futures: dict[Future[ScanResult], Scan] = {pool.submit(_read, connectors[scan.name], scan): scan for scan in scans}
    try:
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f in done and f.exception() is not None]
        if failed:
            for future in pending:
                future.cancel()
            first = failed[0]
            error = first.exception()
            assert error is not None
            raise _source_error(futures[first], error) from error
        return {futures[f].name: f.result() for f in futures}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def run_engine(plan: Plan, tables: dict[str, pa.Table]) -> pa.Table:
    """Register the scanned tables, harden the session, run the plan's query, return Arrow."""
    import duckdb

    sql = plan.sql
    _recheck(sql, set(tables))
    names = {s.name: s.product for s in plan.scans}
    conn = hardened_connection(tables)
    try:
        return conn.execute(sql).to_arrow_table()
    except duckdb.Error as exc:
        message = _SCAN_NAME.sub(lambda m: names.get(m.group(0), m.group(0)), str(exc))
        raise QueryError(f"the query failed: {_first_line(message)}") from None
    finally:
        conn.close()


def hardened_connection(tables: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB holding ``tables`` and nothing it could reach beyond them.

    Registration comes first: once external access is off and the configuration locked, the
    session can still scan the registered Arrow tables but can no longer change either.
    """
    import duckdb

    conn = duckdb.connect(":memory:")
    try:
        for name, table in tables.items():
            conn.register(name, _registrable(table))
        for statement in HARDENING:
            conn.execute(statement)
    except BaseException:
        conn.close()
        raise
    return conn


def _read(connector: Connector, scan: Scan) -> ScanResult:
    return connector.scan(scan.request())


def _recheck(sql: str, internal: set[str]) -> None:
    """Run the guard again on the exact text DuckDB will get; only scans may be read."""
    checked = check_sql(sql, internal=internal | {"__mf_limited"})
    for table in product_tables(checked):
        if table.args.get("db") or table.name.lower() not in internal:
            raise QueryError(f"internal error: the engine query still names '{table.sql()}'")


def _registrable(table: pa.Table) -> pa.Table:
    """DuckDB cannot register a table without columns; a count-only scan gets a null column."""
    if table.num_columns:
        return table
    import pyarrow as pa

    return pa.table({"__mf_rows": pa.nulls(table.num_rows, pa.bool_())})


def _source_error(scan: Scan, error: BaseException) -> SourceError:
    if isinstance(error, SourceError):
        return error
    detail = _first_line(str(error)) or type(error).__name__
    if len(detail) > 200:
        detail = detail[:199] + "…"
    return SourceError(
        scan.source,
        f"reading product '{scan.product}' failed: {type(error).__name__}: {detail}",
        hint="check the source with `meshfabric sources test " + scan.source + "`",
    )


def _scan_stats(scan: Scan, result: ScanResult) -> ScanStats:
    from meshfabric.query.guard import DIALECT

    return ScanStats(
        name=scan.name,
        product=scan.product,
        source=scan.source,
        columns=scan.columns,
        source_sql=result.source_sql,
        rows=result.rows,
        seconds=result.seconds,
        pushed_filters=tuple(f.sql(dialect=DIALECT) for f in result.pushed_filters),
        kept_filters=tuple(f.sql(dialect=DIALECT) for f in scan.kept),
        limit=scan.limit,
    )


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""
