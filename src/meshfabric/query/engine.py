"""Run a plan: read every scan concurrently through its connector, join in a hardened DuckDB.

Sources are read by their own drivers into Arrow (one thread per scan; the drivers release the
GIL while they wait on the network). Each scan is loaded into a fresh in-memory DuckDB under its
internal name as soon as it arrives, while the other scans are still being read, and only when
all are there is the connection locked down: no file or network access, no extension installing
or autoloading, no Python-variable replacement scans, configuration frozen. The user's query —
already allowlisted by the guard — runs last, so even a construct the guard missed finds nothing
to read but the loaded scans.

How a scan is loaded decides the join order DuckDB picks. A registered Arrow table is a view
without statistics, so DuckDB's optimizer has row counts but no distinct counts or min/max and
joins many tables badly (TPC-H Q9 at SF1: 2.4–2.9 s over registered Arrow, 0.7 s over tables).
Copying into a DuckDB table computes those statistics, at ~0.1 s per million rows. With two
scans there is no join order to choose — DuckDB already builds on the smaller side from the row
counts Arrow gives — so only plans with :data:`MATERIALISE_MIN_SCANS` scans or more are copied.

A query may carry a time limit (a :class:`~meshfabric.connectors.base.Deadline`). When it
passes, the engine stops waiting and raises :class:`~meshfabric.errors.QueryTimeout`, and the
work is cancelled where it runs: the DuckDB statement (or a scan being copied into it) is
interrupted, every scan still reading is cancelled in its source by its connector (which also
gave the source the time left as a server-side limit), and scans not yet started never start.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from meshfabric.connectors.base import Cancelled, Deadline
from meshfabric.errors import QueryCancelled, QueryError, QueryTimeout, SourceError
from meshfabric.query.guard import check_sql, product_tables
from meshfabric.query.result import QueryResult, QueryStats, QueryStream, ScanStats

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    from sqlglot import exp

    from meshfabric.connectors.base import Connector, InPlaceRead, ScanResult
    from meshfabric.query.catalog import ProductCatalog
    from meshfabric.query.optimizer import DynamicFilter
    from meshfabric.query.planner import Plan, Scan

#: Scans in flight at once; more threads than this only queue on the same servers.
MAX_PARALLEL_SCANS = 16

#: Plans with at least this many scans copy each one into a DuckDB table (statistics for the
#: join order); smaller plans register the Arrow tables as they are, which costs nothing.
MATERIALISE_MIN_SCANS = 3

#: Applied after the scans are loaded and before user SQL runs. Order matters:
#: ``lock_configuration`` must come last or it would refuse the settings before it.
HARDENING = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET python_enable_replacements = false",
    # a statement read as a stream for longer than 2 s would draw DuckDB's progress bar on the
    # server's or the command's terminal
    "SET enable_progress_bar = false",
    "SET lock_configuration = true",
)

_SCAN_NAME = re.compile(r"__mf_scan_\d+")
_INCOMING = "__mf_incoming"


def execute(
    plan: Plan, catalog: ProductCatalog, *, planning_seconds: float = 0.0, deadline: Deadline | None = None
) -> QueryResult:
    """Run every scan of ``plan`` and then its engine query; return the result with stats.

    ``scan_seconds`` covers reading the sources and loading them into DuckDB (the two overlap);
    ``engine_seconds`` the hardening and the query itself. With a ``deadline`` (started here if
    it is not yet), everything stops when it passes and QueryTimeout says what was running.
    """
    out = _execute(plan, catalog, planning_seconds, deadline, None)
    assert isinstance(out, QueryResult)
    return out


def execute_stream(
    plan: Plan, catalog: ProductCatalog, *, planning_seconds: float = 0.0, deadline: Deadline | None = None,
    batch_rows: int | None = None,
) -> QueryStream:
    """:func:`execute`, with the engine's statement read as Arrow record batches of up to
    ``batch_rows`` rows (:data:`BATCH_ROWS`) as the consumer asks for them.

    Everything up to the first batch happens here, so a query that fails at once (a scan, the
    statement) raises here as :func:`execute` would. The session, the memory limit and the
    ``deadline`` stay with the returned stream until it is exhausted, fails or is closed; the
    deadline keeps interrupting the statement between and during batch reads."""
    out = _execute(plan, catalog, planning_seconds, deadline, batch_rows or BATCH_ROWS)
    assert isinstance(out, QueryStream)
    return out


#: rows per Arrow record batch of a streamed result (DuckDB's reader rounds to its vectors)
BATCH_ROWS = 65_536


def _execute(
    plan: Plan, catalog: ProductCatalog, planning_seconds: float, deadline: Deadline | None, batch_rows: int | None
) -> QueryResult | QueryStream:
    _recheck(plan.sql, {s.name for s in plan.scans})
    started = time.perf_counter()
    session = _Session(
        materialise=len(plan.scans) >= MATERIALISE_MIN_SCANS,
        secured={s.name: s for s in plan.scans if s.row_filter is not None or s.salt is not None},
        deadline=deadline,
    )
    in_engine = [s for s in plan.scans if s.placement == "engine"]
    remote = tuple(s for s in plan.scans if s.placement != "engine")
    if deadline is not None:
        if deadline.expired:
            raise _timeout(deadline, "the query was being planned")
        deadline.start()
    handed_over = False  # the session and the deadline belong to the stream once it is returned
    table: pa.Table | None = None
    opened: _OpenStream | None = None
    try:
        if in_engine:
            session.place(in_engine, catalog)
        # when this raises, run_scans has arranged to stop the deadline once its scans are over
        results = run_scans(remote, catalog, on_result=session.load, while_reading=session.open, deadline=deadline,
                            keys=session.key_filters)
        try:
            scanned = time.perf_counter()
            conn = session.open()
            spans = tracer()
            if spans is None:
                session.harden()
                if batch_rows is None:
                    table = _run(conn, plan, deadline, session.answered)
                else:
                    opened = _open_stream(conn, plan, deadline, session.answered, batch_rows)
            else:
                with spans.start_as_current_span(
                        "engine", attributes={"db.system": "duckdb", "db.system.name": "duckdb",
                                              "meshfabric.scans": len(plan.scans)}) as span:
                    session.harden()
                    if batch_rows is None:
                        table = _run(conn, plan, deadline, session.answered)
                        span.set_attribute("meshfabric.rows", table.num_rows)
                    else:  # the span covers the statement up to its first batch
                        opened = _open_stream(conn, plan, deadline, session.answered, batch_rows)
            handed_over = opened is not None
        finally:
            if deadline is not None and not handed_over:
                deadline.stop()
    finally:
        if not handed_over:
            session.close()
    finished = time.perf_counter()
    stats = QueryStats(
        scans=tuple(
            _scan_stats(scan, results[scan.name], session.admitted.get(scan.name)) if scan.name in results
            else _in_place_stats(scan, session.placed[scan.name])
            for scan in plan.scans
        ),
        planning_seconds=planning_seconds,
        scan_seconds=scanned - started,
        engine_seconds=finished - scanned,
    )
    out: QueryResult | QueryStream
    if opened is not None:
        out = opened.stream(stats, session, deadline, scanned)
    else:
        assert table is not None
        out = QueryResult(table, stats)
    # Arrow bytes each scan brought in (the query metrics record them per product and source;
    # ScanStats has no field for it yet)
    out.scan_bytes = {name: int(r.table.nbytes) for name, r in results.items()}  # type: ignore[union-attr]
    return out


def run_scans(
    scans: tuple[Scan, ...],
    catalog: ProductCatalog,
    *,
    on_result: Callable[[str, ScanResult], None] | None = None,
    while_reading: Callable[[], object] | None = None,
    deadline: Deadline | None = None,
    keys: Callable[[Scan, Mapping[str, ScanResult]], list[exp.Expression]] | None = None,
) -> dict[str, ScanResult]:
    """Read all scans concurrently; ``on_result(name, result)`` runs in the calling thread as
    each scan completes, while the others are still reading, and ``while_reading()`` once as
    soon as every scan without a dynamic filter is submitted.

    A scan with dynamic filters (``scan.dynamic``) is submitted once every producer among
    ``scans`` has finished (and been through ``on_result``), with the filters ``keys(scan,
    results)`` gives it added to its own; producers not among ``scans`` (read by the engine
    itself) are already there.

    The first failure (of a scan or of a callback) cancels the scans not yet started and is
    raised — a scan's as a SourceError naming its source; scans already running finish in the
    background. With a ``deadline``, each scan gets it (connectors cancel their statement when
    it passes) and once it passes QueryTimeout names the scans that had not finished; when this
    raises, ``deadline.stop()`` is called as soon as the scans left in the background are over.
    Hooks are called by the deadline's watcher: the caller starts it (:func:`execute` does).
    """
    if not scans:
        return {}
    connectors = {scan.name: catalog.connector(scan.source) for scan in scans}
    pool = ThreadPoolExecutor(max_workers=min(len(scans), MAX_PARALLEL_SCANS), thread_name_prefix="mf-scan")
    spans = tracer()
    parent = None
    if spans is not None:  # each scan's span is a child of the caller's current span (the query), across threads
        from opentelemetry import context

        parent = context.get_current()
    names = {scan.name for scan in scans}
    waiting = {scan.name: scan for scan in scans if any(d.producer in names for d in scan.dynamic)}
    futures: dict[Future[ScanResult], Scan] = {}
    results: dict[str, ScanResult] = {}

    def submit(scan: Scan) -> None:
        if scan.dynamic and keys is not None:
            extra = keys(scan, results)
            if extra:
                scan = replace(scan, filters=(*scan.filters, *extra))
        if spans is None:
            futures[pool.submit(_read, connectors[scan.name], scan, deadline)] = scan
        else:
            futures[pool.submit(_traced_read, spans, connectors[scan.name], scan, deadline, parent)] = scan

    finished = False
    try:
        for scan in sorted(scans, key=lambda s: bool(s.dynamic)):  # keys are computed before a submit
            if scan.name not in waiting:
                submit(scan)
        if while_reading is not None:
            while_reading()
        pending: set[Future[ScanResult]] = set(futures)
        handled: set[Future[ScanResult]] = set()
        while pending:
            done, pending = wait(
                pending, timeout=None if deadline is None else deadline.remaining(), return_when=FIRST_COMPLETED
            )
            # every failure among the finished ones first, in plan order: report it before loading
            failed = [f for f in futures if f in done and f.exception() is not None]
            if failed:
                error = failed[0].exception()
                assert error is not None
                if deadline is not None and (deadline.expired or isinstance(error, Cancelled)):
                    raise _timeout(deadline, _reading(s for f, s in futures.items() if f in failed or f in pending))
                raise _source_error(futures[failed[0]], error) from error
            if pending and deadline is not None and deadline.expired:
                raise _timeout(deadline, _reading(s for f, s in futures.items() if f in pending))
            for future in [f for f in futures if f in done]:
                scan = futures[future]
                results[scan.name] = future.result()
                _measure(connectors[scan.name], scan, results[scan.name])
                if on_result is not None:
                    try:
                        on_result(scan.name, results[scan.name])
                    except Exception:
                        if deadline is not None and deadline.expired:
                            raise _timeout(deadline, f"the engine was loading '{scan.product}'") from None
                        raise
            for name, scan in list(waiting.items()):
                if all(d.producer in results or d.producer not in names for d in scan.dynamic):
                    del waiting[name]
                    submit(scan)
            handled |= done
            pending = {f for f in futures if f not in handled}
        finished = True
        return {scan.name: results[scan.name] for scan in scans}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if deadline is not None and not finished:
            _stop_when_done(deadline, futures)


#: the engine's memory per query, as DuckDB writes it ("2GB", "512MB"); MESHFABRIC_QUERY_MEMORY
#: overrides it. None: DuckDB's default (80 % of the machine's memory) and no spilling folder.
MEMORY_LIMIT: str | None = None
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


def memory_limit() -> str | None:
    """The memory limit of a query's engine session, or None for DuckDB's default.

    >>> import os; os.environ["MESHFABRIC_QUERY_MEMORY"] = "512 mb"; memory_limit()
    '512MB'
    >>> del os.environ["MESHFABRIC_QUERY_MEMORY"]
    """
    import os

    text = os.environ.get("MESHFABRIC_QUERY_MEMORY") or MEMORY_LIMIT
    if not text:
        return None
    m = _MEMORY.match(text)
    if m is None:
        from meshfabric.errors import ConfigError

        raise ConfigError(f"MESHFABRIC_QUERY_MEMORY '{text}' is not a size", hint="write it like 2GB or 512MB")
    return f"{m.group(1)}{m.group(2).upper()}"


class _Spare:
    """One in-memory DuckDB started ahead of the next query: starting DuckDB takes 8–25 ms, on
    the path of a query whose data the engine reads in place. It is started after a query, on
    the thread that closes that query's session, and only in a process that has run more than
    one query (a one-off command does not pay for a spare it will never use). A spare is never
    used before a query takes it, so no query can meet another's state."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._taken = 0
        self._starting = False

    def take(self, *, query: bool = True) -> duckdb.DuckDBPyConnection:
        """The spare, or a new DuckDB; ``query``: taken for a query's engine session (counted
        to tell a process running several queries), else for a helper session of one."""
        import duckdb

        with self._lock:
            if self._starting:  # a spare on its way is nearer than a new start
                self._lock.wait(timeout=1.0)
            conn, self._conn = self._conn, None
            self._taken += int(query)
        return conn if conn is not None else duckdb.connect(":memory:")

    def refill(self) -> None:
        import duckdb

        with self._lock:
            if self._conn is not None or self._starting or self._taken < 2:
                return
            self._starting = True
        conn: duckdb.DuckDBPyConnection | None = None
        try:
            conn = duckdb.connect(":memory:")
        except Exception:  # the next query starts its own, and reports what is wrong
            conn = None
        with self._lock:
            self._starting = False
            if self._conn is None:
                self._conn, conn = conn, None
            self._lock.notify_all()
        if conn is not None:
            conn.close()


_SPARE = _Spare()


def hardened_connection(tables: dict[str, pa.Table], *, materialise: bool = True) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB holding ``tables`` and nothing it could reach beyond them.

    Loading comes first: once external access is off and the configuration locked, the session
    can still read its own tables (and registered Arrow) but can no longer change either.
    """
    import duckdb

    conn = duckdb.connect(":memory:")
    try:
        for name, table in tables.items():
            load(conn, name, table, materialise)
        harden(conn)
    except BaseException:
        conn.close()
        raise
    return conn


class _Session:
    """The engine's DuckDB of one query: opened while the sources are read (starting DuckDB
    takes ~25 ms), loaded scan by scan, and closed off the caller's path (freeing millions of
    copied rows takes 40–90 ms, and the result no longer needs them)."""

    def __init__(
        self, *, materialise: bool, secured: dict[str, Scan] | None = None, deadline: Deadline | None = None
    ) -> None:
        self.materialise = materialise
        self.secured = secured or {}
        self.deadline = deadline
        #: rows each secured scan's row filter admitted (what its scan statistics may report)
        self.admitted: dict[str, int] = {}
        #: scans the engine reads where the data lies, by name
        self.placed: dict[str, InPlaceRead] = {}
        #: results of IN subqueries already run for their keys, by the planner's number of the
        #: IN conjunct: the engine query reads them instead of running the subquery again
        self.answered: dict[int, list[Any]] = {}
        self._hardened = False
        self._spill: str | None = None
        self._conn: duckdb.DuckDBPyConnection | None = None

    def open(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            self._conn = _SPARE.take()
            with _OPEN_LOCK:
                _OPEN[0] += 1
            limit = memory_limit()
            if limit is not None:
                # the query's memory; beyond it joins, aggregates and loaded scans spill to a
                # folder of this session's own (removed when it closes), never the working directory
                import tempfile

                self._spill = tempfile.mkdtemp(prefix="mf-spill-")
                quoted = self._spill.replace("'", "''")
                self._conn.execute(f"SET temp_directory = '{quoted}'")
                self._conn.execute(f"SET memory_limit = '{limit}'")
        return self._conn

    def load(self, name: str, result: ScanResult) -> None:
        scan = self.secured.get(name)
        conn = self.open()
        with _interruptible(conn, self.deadline):
            if scan is not None:
                self.admitted[name] = load_secured(conn, scan, result, materialise=self.materialise)
            else:
                load(conn, name, result.table, self.materialise)

    def place(self, scans: Iterable[Scan], catalog: ProductCatalog) -> None:
        """Make each scan readable in the engine where its data lies: a view over the connector's
        in-place statement. Only those files become readable once the session is hardened."""
        from meshfabric.query.guard import DIALECT

        conn = self.open()
        paths: list[str] = []
        spans = tracer()
        for scan in scans:
            connector = catalog.connector(scan.source)
            read = connector.read_in_place(scan.request())
            conn.execute(f'CREATE VIEW "{scan.name}" AS {read.sql}')
            self.placed[scan.name] = read
            paths.extend(read.paths)
            if spans is not None:  # a scan span like any other, saying it runs in the engine (no rows known)
                system = DB_SYSTEMS.get(connector.kind, connector.kind or "other_sql")
                spans.start_span("scan", attributes={
                    "db.system": system, "db.system.name": system, "db.namespace": scan.source,
                    "db.collection.name": scan.product, "meshfabric.product": scan.product,
                    "meshfabric.source": scan.source, "meshfabric.columns": len(scan.columns),
                    "meshfabric.placement": "engine", "db.query.text": sanitized_sql(read.shown or read.sql, system),
                }).end()
        if paths:
            from sqlglot import exp

            listed = exp.Array(expressions=[exp.Literal.string(p) for p in dict.fromkeys(paths)]).sql(DIALECT)
            conn.execute(f"SET allowed_paths = {listed}")

    def key_filters(self, scan: Scan, results: Mapping[str, ScanResult]) -> list[exp.Expression]:
        """The filters ``scan``'s dynamic filters give now that their producers are read: the
        producers' distinct keys as ``column IN (...)``, or their range when there are too many."""
        out = []
        for dynamic in scan.dynamic:
            if dynamic.subquery is not None:
                values = self._subquery_keys(dynamic.subquery, dynamic.max_keys)
                if values is not None and (not values or values[-1] is not None) and dynamic.in_tag is not None:
                    self.answered[dynamic.in_tag] = values  # the whole result, not a range
            elif dynamic.producer in results or dynamic.producer in self.placed:
                # the producer is in the session (loaded, or a view): its keys with the filters only
                # the engine can apply, in the hardened session (they are the user's expressions)
                self.harden()
                values = _distinct_engine(self.open(), dynamic.producer, dynamic.producer_column, dynamic.max_keys,
                                          self.deadline, dynamic.where)
            else:
                continue
            found = key_set_filter(dynamic, values)
            if found is not None:
                out.append(found)
        return out

    def _subquery_keys(self, sql: str, cap: int) -> list[Any] | None:
        """The distinct result of an uncorrelated IN subquery over scans read in place, run in a
        session of its own that holds only those views and is hardened like the engine's before
        the (guard-checked) text runs."""
        import duckdb

        conn = _SPARE.take(query=False)
        try:
            paths: list[str] = []
            for name, read in self.placed.items():
                conn.execute(f'CREATE VIEW "{name}" AS {read.sql}')
                paths.extend(read.paths)
            if paths:
                from sqlglot import exp

                from meshfabric.query.guard import DIALECT

                listed = exp.Array(expressions=[exp.Literal.string(p) for p in dict.fromkeys(paths)]).sql(DIALECT)
                conn.execute(f"SET allowed_paths = {listed}")
            harden(conn)
            with _interruptible(conn, self.deadline):
                rows = conn.execute(f"SELECT DISTINCT * FROM ({sql}) AS __mf_keys LIMIT {cap + 1}").fetchall()
            values = [r[0] for r in rows if r[0] is not None]
            if len(rows) > cap:
                return [min(values), max(values), None] if values else None
            return values
        except duckdb.Error:
            return None  # the final query reports what is wrong with it; keys only save work
        finally:
            conn.close()

    def harden(self) -> None:
        """Lock the session down (once). Scans still load afterwards; user expressions (a
        producer's kept filters, the query) only ever run after it."""
        if not self._hardened:
            harden(self.open())
            self._hardened = True

    def close(self) -> None:
        if self._conn is not None:
            conn, spill = self._conn, self._spill

            def close() -> None:
                try:
                    conn.close()
                finally:
                    with _OPEN_LOCK:
                        _OPEN[0] -= 1
                if spill is not None:
                    import shutil

                    shutil.rmtree(spill, ignore_errors=True)
                _SPARE.refill()

            # not a daemon: the interpreter waits for it at exit instead of cutting it short
            threading.Thread(target=close, name="mf-engine-close").start()
            self._conn = None


def load(conn: duckdb.DuckDBPyConnection, name: str, table: pa.Table, materialise: bool) -> None:
    """Make ``table`` readable as ``name``: copied into a DuckDB table, or registered as is.

    The copy goes through a registration that is dropped at once, so after loading the session
    holds plain tables and no view onto Python memory. Must run before :func:`harden`.
    """
    table = _registrable(table)
    if not materialise:
        conn.register(name, table)
        return
    conn.register(_INCOMING, table)
    try:
        conn.execute(f'CREATE TABLE "{name}" AS SELECT * FROM "{_INCOMING}"')
    finally:
        conn.unregister(_INCOMING)


def load_secured(conn: duckdb.DuckDBPyConnection, scan: Scan, result: ScanResult, *, materialise: bool) -> int:
    """Load a scan of a secured product so that it holds only the rows its row filter admits,
    plus the hash salt as a column (bound as a value, never SQL text). The user's query can then
    read nothing else: an expression that raises cannot be evaluated on a hidden row, because no
    hidden row is in the session. Returns the rows admitted.

    When the source evaluated every conjunct of the row filter itself (the connector reports
    what it pushed), the rows that arrived are already exactly the admitted ones and are loaded
    like any scan; otherwise they are filtered while being copied into the session's table. A
    filter that fails on a value is reported without the engine's message, which may quote it.
    """
    import duckdb
    import pyarrow as pa
    from sqlglot import exp

    from meshfabric.query.guard import DIALECT
    from meshfabric.query.planner import _operands_of
    from meshfabric.query.secure import SALT_COLUMN

    table = result.table
    needed = (
        {c.sql(dialect=DIALECT) for c in _operands_of(scan.row_filter, exp.And)}
        if scan.row_filter is not None
        else set()
    )
    pushed = {f.sql(dialect=DIALECT) for f in result.pushed_filters}
    if needed <= pushed:
        if scan.salt is not None:
            table = table.append_column(SALT_COLUMN, pa.array([scan.salt] * table.num_rows, pa.string()))
        load(conn, scan.name, table, materialise)
        return int(table.num_rows)
    conn.register(_INCOMING, _registrable(table))
    try:
        salt = ", CAST(? AS VARCHAR) AS " + SALT_COLUMN if scan.salt is not None else ""
        where = f" WHERE {scan.row_filter.sql(dialect=DIALECT)}" if scan.row_filter is not None else ""
        params = [scan.salt] if scan.salt is not None else []
        conn.execute(f'CREATE TABLE "{scan.name}" AS SELECT *{salt} FROM "{_INCOMING}"{where}', params)
        counted = conn.execute(f'SELECT count(*) FROM "{scan.name}"').fetchone()
    except duckdb.InterruptException:
        raise
    except duckdb.Error:
        raise QueryError(
            f"the row filter of the access policy on '{scan.product}' could not be evaluated "
            "(a value does not fit its expression; the value is not shown)",
            hint="ask a workspace admin to check the policy (`meshfabric policy test`)",
        ) from None
    finally:
        conn.unregister(_INCOMING)
    return int(counted[0]) if counted else 0


def harden(conn: duckdb.DuckDBPyConnection) -> None:
    """Lock the session down (see :data:`HARDENING`); nothing can be loaded into it afterwards."""
    conn.execute(";\n".join(HARDENING))  # one call: each is a round through the Python API


def _run(conn: duckdb.DuckDBPyConnection, plan: Plan, deadline: Deadline | None = None,
         answered: Mapping[int, list[Any]] | None = None) -> pa.Table:
    import duckdb

    sql = _with_answers(conn, plan, answered) if answered else plan.sql
    try:
        with _interruptible(conn, deadline):
            if deadline is not None:
                deadline.check()
            return conn.execute(sql).to_arrow_table()
    except (duckdb.Error, Cancelled) as exc:
        raise _engine_error(exc, plan, deadline) from None


def _engine_error(exc: BaseException, plan: Plan, deadline: Deadline | None) -> QueryError:
    """What a failure of the engine's statement is reported as: the time limit or cancellation
    when it passed, else the engine's first line with scans named as the products they read."""
    if deadline is not None and deadline.expired:
        return _timeout(deadline, "the engine was running the query")
    names = {s.name: s.product for s in plan.scans}
    message = _SCAN_NAME.sub(lambda m: names.get(m.group(0), m.group(0)), str(exc))
    return QueryError(f"the query failed: {_first_line(message)}")


#: sessions of queries not yet closed (their DuckDB connections are open): :func:`open_sessions`
_OPEN = [0]
_OPEN_LOCK = threading.Lock()


def open_sessions() -> int:
    """Engine sessions (DuckDB connections of queries) open in this process right now: those
    of queries running, of streams not yet ended, and of sessions still being closed."""
    with _OPEN_LOCK:
        return _OPEN[0]


class _OpenStream:
    """The engine's statement of a streamed query, its first batch already read: what
    :func:`execute_stream` turns into a :class:`QueryStream` once the stats are known."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, reader: pa.RecordBatchReader,
                 first: pa.RecordBatch | None, exits: ExitStack, plan: Plan, deadline: Deadline | None) -> None:
        self.conn, self.reader, self.first, self.exits = conn, reader, first, exits
        self.plan, self.deadline = plan, deadline

    def stream(self, stats: QueryStats, session: _Session, deadline: Deadline | None, scanned: float) -> QueryStream:
        # nothing here refers to the stream itself: one its consumer drops is collected (and
        # closed) at once, not at the next garbage collection
        def batches() -> Iterator[pa.RecordBatch]:
            if self.first is None:
                return
            yield self.first
            self.first = None
            while True:
                batch = _next_batch(self.reader, self.plan, deadline)
                if batch is None:
                    return
                yield batch

        def close(stream: QueryStream) -> None:
            # the statement first (a read still running in another thread ends), then the session
            try:
                if not stream.exhausted:
                    self.conn.interrupt()
                self.reader.close()
            except Exception:  # closing must release the session whatever the reader says
                pass
            finally:
                self.exits.close()
                if deadline is not None:
                    deadline.stop()
                session.close()
                stream.finished(time.perf_counter() - scanned)

        cancel = self.conn.interrupt if deadline is None else (lambda: deadline.cancel("the stream was cancelled"))
        return QueryStream(self.reader.schema, batches(), stats, close=close, cancel=cancel)


def _open_stream(conn: duckdb.DuckDBPyConnection, plan: Plan, deadline: Deadline | None,
                 answered: Mapping[int, list[Any]] | None, batch_rows: int) -> _OpenStream:
    """Start the engine's statement as a record batch reader and read its first batch: an
    error at once is raised here, before anything is returned to stream."""
    import duckdb

    sql = _with_answers(conn, plan, answered) if answered else plan.sql
    exits = ExitStack()
    try:
        if deadline is not None:
            exits.enter_context(deadline.cancels(conn.interrupt))  # until the stream is closed
        try:
            if deadline is not None:
                deadline.check()
            result = conn.execute(sql)
            reader = (result.to_arrow_reader(batch_rows) if hasattr(result, "to_arrow_reader")
                      else result.fetch_record_batch(batch_rows))
        except (duckdb.Error, Cancelled) as exc:
            raise _engine_error(exc, plan, deadline) from None
        try:
            first = _next_batch(reader, plan, deadline)
        except BaseException:
            reader.close()
            raise
    except BaseException:
        exits.close()
        raise
    return _OpenStream(conn, reader, first, exits, plan, deadline)


def _next_batch(reader: pa.RecordBatchReader, plan: Plan, deadline: Deadline | None) -> pa.RecordBatch | None:
    """The next batch of the engine's statement, None at its end; a failure while reading
    (the statement interrupted by the time limit or a cancellation, an error in a row) is
    reported as :func:`_run` reports it."""
    import duckdb
    import pyarrow as pa

    try:
        if deadline is not None:
            deadline.check()
        return reader.read_next_batch()
    except StopIteration:
        return None
    except (duckdb.Error, Cancelled, pa.ArrowException) as exc:
        raise _engine_error(exc, plan, deadline) from None


def _with_answers(conn: duckdb.DuckDBPyConnection, plan: Plan, answered: Mapping[int, list[Any]]) -> str:
    """The engine query with each ``x IN (subquery)`` conjunct whose result was already computed
    for keys reading that result (a table of the session) instead of running the subquery again
    (TPC-H Q18 aggregates 6M lineitems once, not twice). Only conjuncts: there ``IN`` over the
    distinct non-null values keeps exactly the rows ``IN`` over the subquery keeps."""
    import pyarrow as pa
    from sqlglot import exp

    from meshfabric.query.guard import DIALECT
    from meshfabric.query.planner import _IN_TAG

    query = plan.query.copy()
    replaced = False
    for node in list(query.find_all(exp.In)):
        number = node.meta.get(_IN_TAG)
        if number not in answered or node.args.get("query") is None:
            continue
        name = f"__mf_answer_{number}"
        try:
            load(conn, name, pa.table({"k": pa.array(answered[number])}), materialise=True)
        except Exception:  # a value Arrow cannot type alike: the subquery simply runs again
            continue
        node.set("query", exp.select("k").from_(name).subquery())
        replaced = True
    return query.sql(dialect=DIALECT) if replaced else plan.sql


@contextmanager
def _interruptible(conn: duckdb.DuckDBPyConnection, deadline: Deadline | None) -> Iterator[None]:
    """Interrupt the statement ``conn`` runs inside the block when ``deadline`` passes."""
    if deadline is None:
        yield
        return
    with deadline.cancels(conn.interrupt):
        yield


def _read(connector: Connector, scan: Scan, deadline: Deadline | None = None) -> ScanResult:
    request = scan.request()
    if deadline is not None:
        deadline.check()  # queued behind other scans until the limit passed: never started
        request.deadline = deadline
    return connector.scan(request)


#: connector kinds as OpenTelemetry's ``db.system`` values (a files source is read by DuckDB)
DB_SYSTEMS = {"postgres": "postgresql", "mysql": "mysql", "sqlite": "sqlite", "duckdb": "duckdb", "files": "duckdb"}


def tracer() -> Any:
    """The OpenTelemetry tracer meshfabric's spans are made with, or None when the process
    exports none: OpenTelemetry not loaded (one dictionary lookup), or loaded (FastAPI imports
    it) with no SDK provider set. Only the API is used here; ``observe.tracing`` configures."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return None
    cached = _TRACERS.get(id(provider))
    if cached is None or cached[0] is not provider:
        cached = _TRACERS[id(provider)] = (provider, provider.get_tracer("meshfabric"))
    return cached[1]


_TRACERS: dict[int, tuple[Any, Any]] = {}


def _traced_read(spans: Any, connector: Connector, scan: Scan, deadline: Deadline | None,
                 parent: object) -> ScanResult:
    """:func:`_read` inside a ``scan`` span (OpenTelemetry's database client conventions): the
    source SQL with every literal replaced by ``?`` — never a value — and the rows it returned."""
    from opentelemetry.trace import SpanKind

    system = DB_SYSTEMS.get(connector.kind, connector.kind or "other_sql")
    attributes = {"db.system": system, "db.system.name": system, "db.namespace": scan.source,
                  "db.collection.name": scan.product, "meshfabric.product": scan.product,
                  "meshfabric.source": scan.source, "meshfabric.columns": len(scan.columns)}
    with spans.start_as_current_span("scan", context=parent, kind=SpanKind.CLIENT, attributes=attributes) as span:
        result = _read(connector, scan, deadline)
        if result.source_sql:
            span.set_attribute("db.query.text", sanitized_sql(result.source_sql, system))
        span.set_attribute("db.response.returned_rows", result.rows)
        span.set_attribute("meshfabric.rows", result.rows)
        span.set_attribute("meshfabric.pushed_filters", len(result.pushed_filters))
        return result


#: a quoted identifier (kept), else a string or number literal (replaced); standard SQL strings
#: double a quote to escape it, MySQL's also take backslash escapes and may be double-quoted;
#: an unterminated string hides everything after its quote
_KEEP_OR_LITERAL = re.compile(
    r"""("(?:[^"]|"")*"|`(?:[^`]|``)*`)|'(?:[^']|'')*'|'[\s\S]*|(?<![\w.])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?\b"""
    r"""|(?<![\w.])\.\d+\b""")
_MYSQL_KEEP_OR_LITERAL = re.compile(
    r"""(`(?:[^`]|``)*`)|'(?:[^'\\]|\\[\s\S]|'')*'|"(?:[^"\\]|\\[\s\S]|"")*"|['"][\s\S]*"""
    r"""|(?<![\w.])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?\b|(?<![\w.])\.\d+\b""")


def sanitized_sql(sql: str, system: str = "duckdb") -> str:
    """``sql`` with every string and number literal replaced by ``?`` (pushed filters and row
    filters put literals into source SQL: a span must not carry them). Quoted identifiers stay;
    a string left open hides the rest of the text. A regular expression, not a tokenizer: it
    costs microseconds on the query path."""
    pattern = _MYSQL_KEEP_OR_LITERAL if system in ("mysql", "mariadb") else _KEEP_OR_LITERAL
    return pattern.sub(lambda m: m.group(1) or "?", sql)


def _timeout(deadline: Deadline, running: str) -> QueryTimeout | QueryCancelled:
    if deadline.cancelled is not None:
        return QueryCancelled(deadline.cancelled, running)
    return QueryTimeout(deadline.seconds, running)


def _reading(scans: Iterable[Scan]) -> str:
    """What was still being read: "reading 'a.b' from source 'x' and 'c.d' from source 'y'"."""
    parts = [f"'{s.product}' from source '{s.source}'" for s in scans]
    if not parts:
        return "the scans were being loaded"
    return "reading " + (", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0])


def _stop_when_done(deadline: Deadline, futures: Iterable[Future[ScanResult]]) -> None:
    """Stop ``deadline`` (its watcher) once every scan left running in the background is over."""
    running = [f for f in futures if not f.done()]
    if not running:
        deadline.stop()
        return
    lock, left = threading.Lock(), [len(running)]

    def one_done(_: Future[ScanResult]) -> None:
        with lock:
            left[0] -= 1
            last = left[0] == 0
        if last:
            deadline.stop()

    for future in running:
        future.add_done_callback(one_done)


def _recheck(sql: str, internal: set[str]) -> None:
    """Run the guard again on the exact text DuckDB will get; only scans may be read."""
    from meshfabric.query.secure import SALT_COLUMN

    checked = check_sql(sql, internal=internal | {"__mf_limited", SALT_COLUMN})
    for table in product_tables(checked):
        if table.args.get("db") or table.name.lower() not in internal:
            raise QueryError(f"internal error: the engine query still names '{table.sql()}'")


def _registrable(table: pa.Table) -> pa.Table:
    """DuckDB cannot hold a table without columns; a count-only scan gets a null column."""
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


def _measure(connector: Connector, scan: Scan, result: ScanResult) -> None:
    """Tell the optimizer how fast this source delivered (its measured link). Only plain reads
    measure it: a filtered, joined or grouped scan's time is mostly the source's own work over
    rows that never cross the link."""
    from meshfabric.query.optimizer import observe_scan

    if scan.filters or scan.dynamic or scan.joined or scan.aggregated or scan.row_filter is not None:
        return
    try:
        observe_scan(connector, int(result.table.nbytes), result.seconds, result.rows)
    except (AttributeError, TypeError, ValueError):
        return  # a connector without a spec (a test double) is simply not measured


def _distinct_engine(conn: duckdb.DuckDBPyConnection, scan: str, column: str, cap: int,
                     deadline: Deadline | None, where: str | None = None) -> list[Any] | None:
    """The distinct non-null values of a producer's column in the engine's session (a loaded
    scan, or the view of one read in place), after ``where`` — the filters about it only the
    engine could apply; more than ``cap``: [min, max, None]; None when they cannot be computed
    (the query itself will then report what is wrong)."""
    import duckdb

    col = '"' + column.replace('"', '""') + '"'
    condition = f"{col} IS NOT NULL" + (f" AND ({where})" if where else "")
    try:
        with _interruptible(conn, deadline):
            rows = conn.execute(f'SELECT DISTINCT {col} FROM "{scan}" WHERE {condition} LIMIT {cap + 1}').fetchall()
            if len(rows) <= cap:
                return [r[0] for r in rows]
            low, high = conn.execute(f'SELECT min({col}), max({col}) FROM "{scan}" WHERE {condition}').fetchone() \
                or (None, None)
    except duckdb.InterruptException:
        raise
    except duckdb.Error:
        return None
    return [low, high, None]


def key_set_filter(dynamic: DynamicFilter, values: list[Any] | None) -> exp.Expression | None:
    """``column IN (<keys>)`` for a listed key set; ``column BETWEEN low AND high`` for one too
    big to list (marked by a trailing None after its bounds); None when there is nothing to send.

    >>> from meshfabric.query.optimizer import DynamicFilter
    >>> d = DynamicFilter("k", "__mf_scan_0", "id", "integer")
    >>> print(key_set_filter(d, [3, 1]).sql("duckdb"))
    "k" IN (KEY_REF('2 keys of __mf_scan_0.id'))
    >>> print(key_set_filter(d, [1, 9, None]).sql("duckdb"))
    "k" BETWEEN 1 AND 9
    """
    import datetime as dt

    from sqlglot import exp

    from meshfabric.connectors.pushdown import KeyValues, key_filter

    if values is None:
        return None
    if values and values[-1] is None:
        low, high = values[0], values[1]
        if low is None or high is None:
            return None
        literal = {
            "integer": lambda v: exp.Literal.number(int(v)),
            "string": lambda v: exp.Literal.string(str(v)),
            "date": lambda v: exp.Cast(this=exp.Literal.string(v.isoformat()), to=exp.DataType.build("DATE")),
        }[dynamic.kind]
        return exp.Between(this=exp.column(dynamic.column, quoted=True), low=literal(low), high=literal(high))
    if dynamic.kind == "date" and not all(isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in values):
        return None
    if dynamic.kind == "integer" and not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return None
    if dynamic.kind == "string" and not all(isinstance(v, str) for v in values):
        return None
    origin = f"{dynamic.producer}.{dynamic.producer_column}"
    return key_filter(dynamic.column, KeyValues(dynamic.kind, tuple(values), origin))


#: a parenthesised list longer than this in a source statement is shown abbreviated in statistics
_LONG_LIST = re.compile(r"IN \(((?:[^()']|'(?:[^']|'')*'){400,}?)\)")


def _abbreviated(sql: str | None) -> str | None:
    """A source statement with long key lists (dynamic filters) shown as their size."""
    if sql is None or len(sql) < 400:
        return sql
    return _LONG_LIST.sub(lambda m: f"IN (<{m.group(1).count(',') + 1:,} keys>)", sql)


def _in_place_stats(scan: Scan, read: InPlaceRead) -> ScanStats:
    from meshfabric.query.guard import DIALECT

    return ScanStats(
        name=scan.name,
        product=scan.product,
        source=scan.source,
        columns=scan.columns,
        source_sql=read.sql,
        rows=0,
        seconds=0.0,
        pushed_filters=tuple(f.sql(dialect=DIALECT) for f in read.pushed),
        kept_filters=tuple(f.sql(dialect=DIALECT) for f in scan.kept),
        limit=scan.limit,
        placement="engine",
    )


def _scan_stats(scan: Scan, result: ScanResult, admitted: int | None = None) -> ScanStats:
    from meshfabric.query.guard import DIALECT

    return ScanStats(
        name=scan.name,
        product=scan.product,
        source=scan.source,
        columns=scan.columns,
        source_sql=_abbreviated(result.source_sql),
        rows=result.rows,
        seconds=result.seconds,
        pushed_filters=tuple(f.sql(dialect=DIALECT) for f in result.pushed_filters),
        kept_filters=tuple(f.sql(dialect=DIALECT) for f in scan.kept),
        limit=scan.limit,
        admitted_rows=admitted,
    )


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""
