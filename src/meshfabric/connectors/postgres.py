"""PostgreSQL through ADBC: result sets arrive as Arrow over COPY BINARY, no Python rows.

Reading notes (measured on PostgreSQL 15, TPC-H lineitem SF 0.2, 1.2M rows, 2 cores):

* ADBC decodes binary NUMERIC into strings, slowly: the 4 decimal columns alone took 2.6 s.
  Asking PostgreSQL for ``numeric::text`` and casting the strings to ``decimal128`` in Arrow
  takes 1.1 s, so decimals are read that way and come back with their declared precision
  and scale. NUMERIC without precision, or wider than 38 digits, is read as double, like
  DuckDB's postgres scanner does.
* One connection decodes on one core (~400k rows/s for lineitem). Large plain tables are read
  in ctid ranges over several connections sharing one exported snapshot, which is what
  DuckDB's scanner does too; the result equals a single scan row for row.
* Types ADBC cannot carry faithfully (``char(n)`` padding, uuid, inet, money, enums...) are
  cast to text in the query; the mapping table is in docs/TYPES.md.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlglot import exp

from meshfabric.connectors import (
    TransientError,
    column_not_found,
    driver_message,
    rows_only,
    table_not_found,
)
from meshfabric.connectors.base import (
    ColumnInfo,
    PortSession,
    ScanRequest,
    ScanResult,
    TableInfo,
    TableStatistics,
    TableStats,
)
from meshfabric.connectors.pool import ConnectionPool
from meshfabric.connectors.pushdown import (
    ScanPlan,
    UnknownColumn,
    UnsupportedType,
    build_create_table,
    build_select,
    plan_scan,
    quote_ident,
    split_table_name,
    subquery_sql,
    table_ref,
)
from meshfabric.connectors.server import (
    KEEPALIVE_COUNT,
    KEEPALIVE_IDLE,
    KEEPALIVE_INTERVAL,
    TCP_USER_TIMEOUT_MS,
    ServerConnector,
    claim_socket,
    release_socket,
    shutdown_fd,
)
from meshfabric.types import LogicalType

if TYPE_CHECKING:
    import pyarrow as pa

    from meshfabric.spec.models import OutputPort

T = TypeVar("T")

#: Types ADBC returns as the Arrow type DuckDB would produce; everything else is cast to text.
_NATIVE = frozenset(
    {
        "bool",
        "int2",
        "int4",
        "int8",
        "float4",
        "float8",
        "text",
        "varchar",
        "date",
        "time",
        "timestamp",
        "timestamptz",
        "interval",
        "bytea",
    }
)
_LOGICAL = {
    "bool": "boolean",
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "float",
    "float8": "double",
    "date": "date",
    "time": "time",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "interval": "interval",
    "bytea": "binary",
    "uuid": "uuid",
    "json": "json",
    "jsonb": "json",
}
#: libpq messages that mean "try again": the server is away, restarting or overloaded
_TRANSIENT = (
    "connection refused",
    "could not connect",
    "timeout expired",
    "timed out",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "too many clients",
    "remaining connection slots",
    "server closed the connection unexpectedly",
    "could not receive data",
    "could not send data",
    "connection to server was lost",
    "no route to host",
)
#: integrity violations (SQLSTATE class 23) a write can run into: what broke, how to fix the rows
_CONSTRAINTS = {
    "23505": ("unique constraint", "leave out the rows whose keys the table already holds or that repeat within "
              "the batch, or write with mode 'replace'"),
    "23503": ("foreign key constraint", "write the rows they reference first, or fix the referencing values"),
    "23502": ("not-null constraint", "give the column a value in every row"),
    "23514": ("check constraint", "fix the values the check refuses"),
    "23P01": ("exclusion constraint", "leave out the rows that conflict with rows the table already holds"),
}
_TRANSIENT_SQLSTATE = ("08", "57P01", "57P02", "57P03", "53300", "40001", "40P01")
_AUTH = ("password authentication failed", "authentication failed", "no pg_hba.conf entry", "does not exist")

#: a table is read in parallel ctid ranges once it has this many 8 kB pages (~128 MB)
PARALLEL_MIN_PAGES = int(os.environ.get("MESHFABRIC_PG_PARALLEL_MIN_PAGES", "16384"))
_BYTE_ORDER_LOCALES = frozenset({"c", "posix"})


@dataclass(frozen=True)
class _Relation:
    schema: str
    name: str
    relkind: str
    oid: int
    pages: int
    tuples: float

    @property
    def info(self) -> TableInfo:
        return TableInfo(self.name, self.schema, "view" if self.relkind in ("v", "m") else "table")


@dataclass(frozen=True)
class _Column:
    info: ColumnInfo
    typname: str  # domain resolved; arrays start with '_'
    elem: str | None  # element type of an array
    typmod: int

    @property
    def read_as(self) -> exp.Expression | None:
        """The expression that reads this column, when the plain column does not do."""
        ref = exp.column(self.info.name, quoted=True)
        logical = self.info.type
        if self.elem is not None:
            if self.elem in _NATIVE:
                return None
            target = "DOUBLE PRECISION[]" if self.elem == "numeric" and logical.inner == "double" else "TEXT[]"
            return exp.Cast(this=ref, to=exp.DataType.build(target, dialect="postgres"))
        if self.typname == "numeric":
            target = "TEXT" if logical.name == "decimal" else "DOUBLE PRECISION"
            return exp.Cast(this=ref, to=exp.DataType.build(target, dialect="postgres"))
        if self.typname in _NATIVE:
            return None
        return exp.Cast(this=ref, to=exp.DataType.build("TEXT"))


def _numeric(typmod: int) -> LogicalType:
    """NUMERIC(p,s) as decimal when Arrow's decimal128 holds it, else double (as DuckDB does)."""
    if typmod < 4:
        return LogicalType("double")
    precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
    if precision > 38 or scale > precision:
        return LogicalType("double")
    return LogicalType("decimal", precision=precision, scale=scale)


def _logical(typname: str, typmod: int) -> LogicalType:
    if typname == "numeric":
        return _numeric(typmod)
    if typname in _LOGICAL:
        return LogicalType(_LOGICAL[typname])
    return LogicalType("string")  # text types, enums, money, inet, timetz...: read as text


def _collation_name(row_collation: str | None, db: dict[str, Any]) -> str | None:
    """The effective collation name; ``default`` becomes the database's own locale."""
    if row_collation != "default":
        return row_collation
    provider = db.get("datlocprovider") or "c"
    if provider == "c":
        return str(db.get("datcollate") or "default")
    locale = str(db.get("datlocale") or db.get("daticulocale") or "")
    if provider == "b" and locale.upper() in ("C", "C.UTF-8", "C.UTF8"):
        return "pg_c_utf8" if locale.upper() != "C" else "C"
    return f"{'icu' if provider == 'i' else 'builtin'}:{locale}"


#: string base types whose equality is byte-wise under a deterministic collation
_EXACT_STRINGS = frozenset({"text", "varchar", "name", "char"})


def _inexact_base(citext: bool | None, typname: str | None, category: str | None) -> bool:
    """Whether the type under a column's domains and arrays compares strings inexactly:
    citext ignores case, ``char(n)`` ignores trailing spaces, and any other string type
    (category S) defines its own equality, so it counts as insensitive too."""
    if citext or typname is None:
        return True
    return typname == "bpchar" or (category == "S" and typname not in _EXACT_STRINGS)


_RELATIONS_SQL = """
SELECT n.nspname, c.relname, c.relkind::text, c.oid::bigint, c.relpages::bigint, c.reltuples::float8,
       array_position(current_schemas(false), n.nspname::text)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND lower(c.relname) = lower($1)
"""

_LIST_SQL = """
SELECT n.nspname, c.relname, c.relkind::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY 1, 2
"""

_COLUMNS_SQL = """
SELECT a.attname,
       format_type(t.oid, CASE WHEN a_t.typtype = 'd' THEN a_t.typtypmod ELSE a.atttypmod END),
       t.typname, e.typname,
       CASE WHEN a_t.typtype = 'd' THEN a_t.typtypmod ELSE a.atttypmod END,
       a.attnotnull, co.collname, co.collisdeterministic,
       a_t.typname,
       b.citext, b.typname, b.typcategory::text
FROM pg_attribute a
-- the type under every domain and array level: citext hides under domains of domains and arrays
CROSS JOIN LATERAL (
    WITH RECURSIVE chain(oid, depth) AS (
        SELECT a.atttypid, 0
        UNION ALL
        SELECT CASE WHEN ct.typtype = 'd' THEN ct.typbasetype ELSE ct.typelem END, chain.depth + 1
        FROM chain JOIN pg_type ct ON ct.oid = chain.oid
        WHERE chain.depth < 64 AND (ct.typtype = 'd' OR (ct.typcategory = 'A' AND ct.typelem <> 0))
    )
    SELECT bool_or(bt.typname = 'citext') AS citext,
           (array_agg(bt.typname::text ORDER BY chain.depth DESC))[1] AS typname,
           (array_agg(bt.typcategory ORDER BY chain.depth DESC))[1] AS typcategory
    FROM chain JOIN pg_type bt ON bt.oid = chain.oid
) b
JOIN pg_type a_t ON a_t.oid = a.atttypid
JOIN pg_type t ON t.oid = CASE WHEN a_t.typtype = 'd' THEN a_t.typbasetype ELSE a.atttypid END
LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

_DATABASE_SQL = "SELECT (to_jsonb(d) - 'datacl')::text FROM pg_database d WHERE d.datname = current_database()"


class PostgresConnector(ServerConnector):
    """A PostgreSQL database. Each operation takes a connection of its own from the connector's
    pool (threads never share one) and rolls back before giving it back."""

    pushes_joins = True
    kind = "postgres"
    dialect = "postgres"

    default_port = 5432

    def _new_pool(self) -> ConnectionPool[Any]:
        connect = partial(_connect, self._uri(), self._address.host, self._address.port)
        return ConnectionPool(connect, _close, reset=_rollback, alive=_alive)

    def _sever(self, conn: Any) -> None:
        fd = _SOCKETS.get(id(conn))
        if fd is not None:
            shutdown_fd(fd)

    def _driver_errors(self) -> tuple[type[BaseException], ...]:
        import adbc_driver_manager

        return (adbc_driver_manager.Error,)

    # -- connections ---------------------------------------------------------------------------

    def _uri(self) -> str:
        # libpq keepalives notice a peer that is gone even mid-statement; settings the source's
        # url gives (?keepalives_idle=...) win
        given = {k for k, _ in self._address.params}
        keepalive = {
            "keepalives": "1",
            "keepalives_idle": str(KEEPALIVE_IDLE),
            "keepalives_interval": str(KEEPALIVE_INTERVAL),
            "keepalives_count": str(KEEPALIVE_COUNT),
            "tcp_user_timeout": str(TCP_USER_TIMEOUT_MS),
        }
        extra = {k: v for k, v in keepalive.items() if k not in given}
        return self._address.url("postgresql", {**extra, "connect_timeout": "10", "application_name": "meshfabric"})

    def _classify(self, exc: BaseException) -> BaseException:
        """A driver error as TransientError (retry) or SourceError (report), never with secrets."""
        message = driver_message(exc, self._address.password)
        lower = str(exc).lower()
        sqlstate = str(getattr(exc, "sqlstate", "") or "")
        addr = self._address
        if "failed to connect" in lower or "connection to server" in lower:
            if 'database "' in lower and "does not exist" in lower:
                return self.error(
                    f"database '{addr.database}' does not exist on {addr.host}:{addr.port}",
                    hint="check 'database' (or the path of 'url') in the source",
                )
            if any(word in lower for word in _AUTH) and not any(t in lower for t in _TRANSIENT):
                return self.error(
                    f"authentication failed for user '{addr.user or '(default)'}' on {addr.host}:{addr.port}",
                    hint="check 'user' and 'password' of the source (or the ${ENV} variables they name)",
                )
            if "could not translate host name" in lower:
                return self.error(f"unknown host '{addr.host}'", hint="check 'host' (or the host in 'url')")
        if any(t in lower for t in _TRANSIENT) or sqlstate.startswith(_TRANSIENT_SQLSTATE):
            return TransientError(f"cannot reach PostgreSQL at {addr.host}:{addr.port}: {message}")
        return self.error(f"PostgreSQL error: {message}")

    @staticmethod
    def _rows(conn: Any, sql: str, params: Sequence[Any] | None = None, *, copy: bool = True) -> list[tuple[Any, ...]]:
        cur = conn.cursor()
        try:
            if not copy:
                cur.adbc_statement.set_options(**{"adbc.postgresql.use_copy": "false"})
            cur.execute(sql, parameters=params)
            return list(cur.fetchall())
        finally:
            cur.close()

    @classmethod
    def _isolated_rows(cls, conn: Any, sql: str) -> list[tuple[Any, ...]]:
        """``_rows`` where a statement PostgreSQL refuses (a quality rule's cast failing on some
        value) fails only itself: the aborted transaction is rolled back and a new read-only one
        begun, so the session's next statements still run. (The ADBC driver refuses every
        statement after an error until a rollback, a savepoint's included.)"""
        try:
            return cls._rows(conn, sql)
        except Exception as failed:
            try:
                conn.rollback()
                cls._exec(conn, "SET TRANSACTION READ ONLY")
            except Exception:
                raise failed from None  # the connection itself is gone: report why the statement failed
            raise

    @staticmethod
    def _exec(conn: Any, sql: str) -> None:
        cur = conn.cursor()
        try:
            cur.execute(sql)
        finally:
            cur.close()

    # -- catalog -------------------------------------------------------------------------------

    def test(self) -> None:
        self._run(lambda conn: self._rows(conn, "SELECT 1"))

    def list_tables(self) -> list[TableInfo]:
        rows = self._run(lambda conn: self._rows(conn, _LIST_SQL))
        return [TableInfo(name, schema, "view" if kind in ("v", "m") else "table") for schema, name, kind in rows]

    def _resolve(self, conn: Any, table: str) -> _Relation:
        """The relation a port's ``table`` names: exact spelling first, then case-blind,
        unqualified names preferring the search path."""
        try:
            schema, name, quoted = split_table_name(table, "postgres")
        except ValueError as exc:
            raise self.error(str(exc)) from None
        rows = self._rows(conn, _RELATIONS_SQL, (name,))
        candidates = [r for r in rows if schema is None or r[0] == schema or r[0].lower() == schema.lower()]
        exact = [r for r in candidates if r[1] == name]
        pool = exact or ([] if quoted else candidates)
        if schema is not None:
            exact_schema = [r for r in pool if r[0] == schema]
            pool = exact_schema or pool
        if len(pool) > 1:
            in_path = sorted((r for r in pool if r[6] is not None), key=lambda r: r[6])
            pool = in_path[:1] if in_path else pool
        if len(pool) != 1:
            names = [f"{s}.{n}" if schema else n for s, n, _ in self._rows(conn, _LIST_SQL)]
            if len(pool) > 1:
                raise self.error(
                    f"table '{table}' is ambiguous in source '{self.name}'",
                    hint="qualify it with its schema: " + ", ".join(f"{r[0]}.{r[1]}" for r in pool),
                )
            raise table_not_found(self, table, names)
        s, n, kind, oid, pages, tuples, _ = pool[0]
        return _Relation(s, n, kind, int(oid), int(pages), float(tuples))

    def _database(self, conn: Any) -> dict[str, Any]:
        raw = self._rows(conn, _DATABASE_SQL)[0][0]
        return dict(json.loads(raw))

    def _columns_of(self, conn: Any, oid: int) -> list[_Column]:
        db = self._database(conn)
        out = []
        rows = self._rows(conn, _COLUMNS_SQL, (oid,))
        for name, native, typname, elem, typmod, notnull, collname, deterministic, declared, *base in rows:
            typmod = int(typmod)
            if elem is not None:
                inner = _logical(elem, typmod)
                logical = LogicalType("list", inner=str(inner))
            else:
                logical = _logical(typname, typmod)
            collation = _collation_name(collname, db)
            if collation is not None:
                native = f'{native} COLLATE "{collation}"'
            insensitive = deterministic is False or "citext" in (typname, declared) or _inexact_base(*base)
            info = ColumnInfo(name, native, logical, nullable=not notnull, case_insensitive=insensitive)
            out.append(_Column(info, typname, elem, typmod))
        return out

    def _describe(self, conn: Any, port: OutputPort) -> tuple[TableInfo | None, list[_Column], _Relation | None]:
        """The relation a port reads and its columns. A ``sql`` port is described through a
        temporary view (rolled back), which gives the collation of every column."""
        if port.table:
            rel = self._resolve(conn, port.table)
            return rel.info, self._columns_of(conn, rel.oid), rel
        if not port.sql:
            raise self.error("a postgres output port needs 'table' or 'sql'")
        try:
            sql = subquery_sql(port.sql, "postgres")
        except ValueError as exc:
            raise self.error(str(exc)) from None
        import adbc_driver_manager

        view = f"mf_port_{uuid.uuid4().hex[:12]}"
        try:
            self._exec(conn, f"CREATE TEMPORARY VIEW {quote_ident(view, 'postgres')} AS {sql}")
            oid = self._rows(conn, "SELECT to_regclass($1)::oid::bigint", (f'pg_temp."{view}"',))[0][0]
            return None, self._columns_of(conn, int(oid)), None
        except adbc_driver_manager.Error as exc:
            if str(getattr(exc, "sqlstate", "") or "") not in ("25006", "42501"):
                problem = self._classify(exc)
                if isinstance(problem, TransientError):
                    raise problem from None
                raise self.error(
                    f"the output port's sql failed: {driver_message(exc, self._address.password)}",
                    hint="run the query in psql to see the whole error",
                ) from None
        finally:
            conn.rollback()
        # A standby or a role without TEMP: describe the result instead, collations unknown.
        return None, self._columns_from_result(conn, sql), None

    def _columns_from_result(self, conn: Any, sql: str) -> list[_Column]:
        cur = conn.cursor()
        try:
            cur.execute(f"SELECT * FROM ({sql}) AS {quote_ident('_mf_src', 'postgres')} LIMIT 0")
            schema = cur.fetch_arrow_table().schema
        finally:
            cur.close()
            conn.rollback()
        out = []
        for field in schema:
            typname, typmod = _field_type(field)
            elem = None
            if typname.startswith("_") and hasattr(field.type, "value_field"):
                elem = _field_type(field.type.value_field)[0]
                logical = LogicalType("list", inner=str(_logical(elem, typmod)))
            else:
                logical = _logical(typname, typmod)
            info = ColumnInfo(field.name, typname, logical, case_insensitive=logical.name == "string")
            out.append(_Column(info, typname, elem, typmod))
        return out

    def columns(self, port: OutputPort) -> list[ColumnInfo]:
        return [c.info for c in self._run(lambda conn: self._describe(conn, port)[1])]

    def run_on_port(self, port: OutputPort, fn: Callable[[PortSession], T]) -> T:
        def run(conn: Any) -> T:
            info, cols, _ = self._describe(conn, port)
            if info is not None:
                relation = table_ref(info, self.dialect).sql(self.dialect)
            else:
                relation = f"({subquery_sql(port.sql or '', self.dialect)}) AS {quote_ident('_mf_src', self.dialect)}"
            self._exec(conn, "SET TRANSACTION READ ONLY")
            columns = [c.info for c in cols]
            return fn(PortSession(relation, columns, self.dialect, lambda sql: self._isolated_rows(conn, sql)))

        return self._run(run)

    # -- reading -------------------------------------------------------------------------------

    def scan(self, request: ScanRequest) -> ScanResult:
        started = time.perf_counter()

        def run(conn: Any) -> tuple[Any, pa.Table, dict[str, _Column]]:
            request.check()
            with request.cancels(partial(_cancel, self._pool, conn)):
                _time_limit(conn, request)
                return read(conn)

        def read(conn: Any) -> tuple[Any, pa.Table, dict[str, _Column]]:
            relation, cols, rel = self._describe(conn, request.port)
            by_name = {c.info.name: c for c in cols}
            select = {c.info.name: expr for c in cols if (expr := c.read_as) is not None}
            try:
                plan = plan_scan(
                    request, {c.info.name: c.info for c in cols}, self.dialect, relation=relation, select=select
                )
            except UnknownColumn as exc:
                raise column_not_found(self, exc.name, request.port.table or "sql", exc.available) from None
            if request.port.sql:
                self._exec(conn, "SET TRANSACTION READ ONLY")
            parts = self._ranges(rel) if rel is not None and not plan.count_only and request.limit is None else []
            if rel is not None and len(parts) > 1:
                table, used = self._parallel(conn, request.port, plan, rel.info, select, parts, request)
                split[:] = [used] if used > 1 else []
            else:
                _time_limit(conn, request)  # the time left now, for the statement that takes it
                cur = conn.cursor()
                cur.execute(plan.sql)
                table = cur.fetch_arrow_table()
                cur.close()
            return plan, table, by_name

        split: list[int] = []  # the ctid ranges the rows were read in, when more than one
        plan, table, by_name = self._run(run, limit=request.remaining())
        if plan.count_only:
            out = rows_only(int(table.column(0)[0].as_py()))
        else:
            out = self._arrow(table, plan.columns, by_name)
        sql = plan.sql + (f" /* read in {split[0]} ctid ranges on one snapshot */" if split else "")
        return ScanResult(out, sql, plan.pushed, time.perf_counter() - started)

    def _ranges(self, rel: _Relation) -> list[tuple[int, int | None]]:
        """Block ranges for a parallel read of a large plain table (TID range scans, PG 14+)."""
        workers = min(os.cpu_count() or 1, 8)
        if rel.relkind != "r" or workers < 2 or rel.pages < PARALLEL_MIN_PAGES:
            return []
        step = -(-rel.pages // workers)
        bounds = [i * step for i in range(workers)]
        return [(lo, bounds[i + 1] if i + 1 < len(bounds) else None) for i, lo in enumerate(bounds)]

    def _parallel(
        self,
        conn: Any,
        port: OutputPort,
        plan: ScanPlan,
        relation: TableInfo,
        select: dict[str, exp.Expression],
        parts: list[tuple[int, int | None]],
        request: ScanRequest,
    ) -> tuple[pa.Table, int]:
        """Read ``sql`` in ctid ranges over several connections that share one snapshot, so the
        union is exactly what one connection would have read; and how many ranges (1: the
        server is older than 14 and the statement ran whole)."""
        import pyarrow as pa

        if int(self._rows(conn, "SELECT current_setting('server_version_num')::int")[0][0]) < 140000:
            conn.rollback()
            _time_limit(conn, request)
            cur = conn.cursor()
            cur.execute(plan.sql)
            return cur.fetch_arrow_table(), 1
        conn.rollback()
        self._exec(conn, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = self._rows(conn, "SELECT pg_export_snapshot()")[0][0]

        def part(bounds: tuple[int, int | None]) -> pa.Table:
            lo, hi = bounds
            ctid = exp.column("ctid")
            cond: list[exp.Expression] = [exp.GTE(this=ctid, expression=exp.Literal.string(f"({lo},0)"))]
            if hi is not None:
                cond.append(exp.LT(this=ctid.copy(), expression=exp.Literal.string(f"({hi},0)")))
            sql = build_select(
                port, plan.columns, [*plan.prepared, *cond], None, "postgres", relation=relation, select=select
            )
            with self._connection() as worker, request.cancels(partial(_cancel, self._pool, worker)):
                request.check()
                self._exec(worker, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                self._exec(worker, f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                _time_limit(worker, request)
                cur = worker.cursor()
                cur.execute(sql)
                return cur.fetch_arrow_table()

        with ThreadPoolExecutor(len(parts), thread_name_prefix="mf-pg") as pool:
            tables = list(pool.map(part, parts))
        conn.rollback()
        return pa.concat_tables(tables), len(parts)

    def _arrow(self, table: pa.Table, names: list[str], by_name: dict[str, _Column]) -> pa.Table:
        """Give each column the Arrow type its logical type promises (decimals from text...)."""
        import pyarrow as pa

        arrays = []
        for i, name in enumerate(names):
            col = by_name[name]
            arr = _plain(table.column(i))
            target = _arrow_type(col.info.type)
            if target is not None and arr.type != target:
                try:
                    arr = arr.cast(target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise self.error(
                        f"column '{name}' holds a value that does not fit {col.info.type}: {str(exc)[:200]}",
                        hint="NaN and Infinity cannot become decimals; cast the column in a sql output port",
                    ) from None
            arrays.append(arr)
        return pa.table(arrays, names=names)

    # -- writing -------------------------------------------------------------------------------

    def write(self, table: str, data: pa.Table, mode: Literal["append", "replace", "create"] = "append") -> int:
        """Write in one transaction (replace's DROP and CREATE included): all rows or none."""
        import adbc_driver_manager
        import pyarrow as pa

        if mode not in ("append", "replace", "create"):
            raise self.error(f"unknown write mode '{mode}'", hint="use append, replace or create")
        try:
            schema, name, _ = split_table_name(table, "postgres")
        except ValueError as exc:
            raise self.error(str(exc)) from None
        target = TableInfo(name, schema)
        data = _writable(data)

        def run(conn: Any) -> int:
            oid = self._rows(
                conn, "SELECT to_regclass($1)::oid::bigint", (table_ref(target, "postgres").sql("postgres"),)
            )[0][0]
            if oid is not None and mode == "create":
                raise self.error(f"table '{table}' already exists", hint="write with mode 'append' or 'replace'")
            try:
                ddl = build_create_table(target, data.schema, "postgres")
            except UnsupportedType as exc:
                raise self.error(str(exc)) from None
            frame = data
            if oid is not None and mode == "replace":
                self._exec(conn, f"DROP TABLE {table_ref(target, 'postgres').sql('postgres')}")
                oid = None
            if oid is None:
                self._exec(conn, ddl)
            else:
                frame = self._conform(data, self._columns_of(conn, int(oid)), table)
            cur = conn.cursor()
            try:
                if frame.num_rows:
                    cur.adbc_ingest(name, frame, mode="append", db_schema_name=schema)
            except adbc_driver_manager.IntegrityError as exc:
                # the pool rolls the transaction back: the DDL above and every row go with it
                raise self._constraint_error(exc, table) from None
            finally:
                cur.close()
            conn.commit()
            return int(frame.num_rows)

        try:
            return self._run(run)
        except pa.ArrowInvalid as exc:
            raise self.error(f"cannot write to '{table}': {str(exc)[:200]}") from None

    def _constraint_error(self, exc: Exception, table: str) -> Exception:
        """A constraint the rows break, named with the key and batch row PostgreSQL reports
        (``Key (id)=(1) already exists``, ``COPY t, line 2``) instead of libpq's COPY error."""
        details = {
            bytes(k).decode(): bytes(v).decode(errors="replace") for k, v in (getattr(exc, "details", None) or [])
        }
        sqlstate = str(getattr(exc, "sqlstate", "") or details.get("PG_DIAG_SQLSTATE", ""))
        kind, hint = _CONSTRAINTS.get(sqlstate, ("a constraint", "check the rows against the table's constraints"))
        constraint = details.get("PG_DIAG_CONSTRAINT_NAME")
        what = f"{kind} '{constraint}'" if constraint else kind
        message = f"the rows break {what} of table '{table}'"
        detail = details.get("PG_DIAG_MESSAGE_DETAIL") or details.get("PG_DIAG_MESSAGE_PRIMARY")
        if detail:
            message += f": {detail.rstrip('.')}"
        line = re.search(r"\bline (\d+)", details.get("PG_DIAG_CONTEXT", ""))
        if line:
            message += f" (row {line.group(1)} of the batch)"
        return self.error(message + "; nothing was written", hint=hint)

    def _conform(self, data: pa.Table, cols: list[_Column], table: str) -> pa.Table:
        """Cast data to the existing table's column types: COPY BINARY needs exact types."""
        import pyarrow as pa

        by_name = {c.info.name: c for c in cols}
        arrays, names = [], []
        for field, arr in zip(data.schema, data.columns, strict=True):
            col = by_name.get(field.name)
            if col is None:
                raise column_not_found(self, field.name, table, list(by_name))
            target = _ingest_type(col)
            if target is not None and arr.type != target:
                try:
                    arr = arr.cast(target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise self.error(
                        f"column '{field.name}' ({field.type}) cannot be written as {col.info.native_type}: "
                        f"{str(exc)[:160]}"
                    ) from None
            arrays.append(arr)
            names.append(field.name)
        return pa.table(arrays, names=names)

    # -- statistics ----------------------------------------------------------------------------

    def stats(self, port: OutputPort) -> TableStats:
        def run(conn: Any) -> TableStats:
            if port.table:
                rel = self._resolve(conn, port.table)
                ref = table_ref(rel.info, "postgres").sql("postgres")
                size = self._rows(
                    conn,
                    "SELECT CASE WHEN $2 = 'p' THEN (SELECT sum(pg_total_relation_size(relid))::bigint "
                    "FROM pg_partition_tree($1::oid)) ELSE pg_total_relation_size($1::oid) END",
                    (rel.oid, rel.relkind),
                )[0][0]
                if rel.relkind in ("r", "m") and rel.tuples >= 1:
                    return TableStats(int(rel.tuples), int(size) if size is not None else None, exact=False)
                if rel.relkind in ("r", "m") and (size or 0) < 64 * 1024 * 1024:
                    # never analysed: count small tables instead of guessing
                    count = self._rows(conn, f"SELECT count(*) FROM {ref}")[0][0]
                    return TableStats(int(count), int(size) if size is not None else None, exact=True)
                return TableStats(self._estimate(conn, f"SELECT * FROM {ref}"), int(size) if size else None)
            try:
                sql = subquery_sql(port.sql or "", "postgres")
            except ValueError as exc:
                raise self.error(str(exc)) from None
            return TableStats(self._estimate(conn, sql), None)

        return self._run(run)

    def _estimate(self, conn: Any, sql: str) -> int | None:
        raw = self._rows(conn, f"EXPLAIN (FORMAT JSON) {sql}", copy=False)[0][0]
        plan = json.loads(raw) if isinstance(raw, str) else raw
        try:
            return int(plan[0]["Plan"]["Plan Rows"])
        except (KeyError, IndexError, TypeError, ValueError):
            return None

    def statistics(self, port: OutputPort, *, analyze: str = "never") -> TableStatistics:
        """Planner statistics PostgreSQL already keeps: rows from ``pg_class`` (``reltuples``
        scaled to the table's current size, as the planner does), per column ``pg_stats``
        (``n_distinct`` — negative is a share of the rows —, ``null_frac``, ``avg_width``, the
        histogram bounds, and min/max as the extremes of the histogram and most common values:
        a sample's, so hints). A table never analysed (``reltuples = -1``) is analysed only
        when ``analyze`` allows it, else it gets the row count of :meth:`stats`. A ``sql`` port
        or a view gets EXPLAIN's row estimate."""
        from meshfabric.connectors.statistics import guarded

        return guarded(self, port, lambda: self._run(partial(self._statistics, port, analyze)),
                       origin="postgres pg_stats")

    def _statistics(self, port: OutputPort, analyze: str, conn: Any) -> TableStatistics:
        from meshfabric.connectors.statistics import bounds, coerce, column, now, parse_pg_array

        if not port.table:
            try:
                sql = subquery_sql(port.sql or "", "postgres")
            except ValueError as exc:
                raise self.error(str(exc)) from None
            return TableStatistics(self._estimate(conn, sql), None, taken_at=now(), origin="postgres EXPLAIN")
        rel = self._resolve(conn, port.table)
        ref = table_ref(rel.info, "postgres").sql("postgres")
        if rel.relkind in ("v", "f"):
            return TableStatistics(self._estimate(conn, f"SELECT * FROM {ref}"), None, taken_at=now(),
                                   origin="postgres EXPLAIN")
        if rel.relkind in ("r", "m", "p") and (analyze == "always" or (analyze == "missing" and rel.tuples < 0)):
            self._exec(conn, f"ANALYZE {ref}")
            conn.commit()
            rel = self._resolve(conn, port.table)
        tuples, pages, current, size = self._rows(conn, _TUPLES_SQL, (rel.oid,))[0]
        tuples, pages = float(tuples if tuples is not None else -1), int(pages or 0)
        size = int(size) if size is not None else None
        if tuples < 0:
            count = self._estimate(conn, f"SELECT * FROM {ref}")
            if rel.relkind in ("r", "m") and (size or 0) < 64 * 1024 * 1024:
                count = int(self._rows(conn, f"SELECT count(*) FROM {ref}")[0][0])
                return TableStatistics(count, size, exact=True, taken_at=now(),
                                       origin="postgres count (never analysed)")
            return TableStatistics(count, size, taken_at=now(), origin="postgres EXPLAIN (never analysed)")
        rows = tuples
        if pages > 0 and current is not None and int(current) > 0:
            rows = tuples / pages * int(current)  # the planner's density scaling
        row_count = round(rows)
        types = {c.info.name: c.info.type for c in self._columns_of(conn, rel.oid)}
        stats_rows = self._rows(conn, _PG_STATS_SQL, (rel.schema, rel.name, rel.relkind == "p"), copy=False)
        columns = {}
        for name, null_frac, avg_width, n_distinct, hist_text, mcv_text in stats_rows:
            logical = types.get(name)
            if logical is None:
                continue
            distinct = None
            if n_distinct is not None:
                n = float(n_distinct)
                distinct = n if n >= 0 else -n * rows
            hist = [coerce(v, logical) for v in _pg_array(parse_pg_array, hist_text)]
            mcv = [coerce(v, logical) for v in _pg_array(parse_pg_array, mcv_text)]
            low, high = bounds([*hist, *mcv])
            columns[name] = column(
                distinct=distinct,
                null_fraction=float(null_frac) if null_frac is not None else None,
                low=low,
                high=high,
                histogram=[v for v in hist if v is not None] or None,
                avg_width=float(avg_width) if avg_width is not None else None,
            )
        return TableStatistics(row_count, size, columns, exact=False, taken_at=now(), origin="postgres pg_stats")


#: reltuples/relpages as ANALYZE left them, the relation's current pages and its size
#: (a partitioned table: its leaf partitions' sums)
_TUPLES_SQL = """
SELECT CASE WHEN c.relkind = 'p' THEN (SELECT CASE WHEN bool_or(l.reltuples >= 0)
                                                  THEN sum(greatest(l.reltuples, 0)) ELSE -1 END
                                       FROM pg_partition_tree(c.oid) t JOIN pg_class l ON l.oid = t.relid
                                       WHERE t.isleaf)::float8
            ELSE c.reltuples::float8 END,
       CASE WHEN c.relkind = 'p' THEN 0 ELSE c.relpages::bigint END,
       CASE WHEN c.relkind = 'p' THEN 0
            ELSE (pg_relation_size(c.oid) / current_setting('block_size')::int)::bigint END,
       CASE WHEN c.relkind = 'p' THEN (SELECT sum(pg_total_relation_size(relid))::bigint
                                       FROM pg_partition_tree(c.oid))
            ELSE pg_total_relation_size(c.oid) END
FROM pg_class c WHERE c.oid = $1::oid
"""

#: the planner's per-column statistics (arrays as text: ADBC has no type for anyarray)
_PG_STATS_SQL = """
SELECT attname::text, null_frac::float8, avg_width::float8, n_distinct::float8,
       histogram_bounds::text, most_common_vals::text
FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND inherited = $3
"""


def _pg_array(parse: Callable[[str | None], list[str | None]], text: str | None) -> list[str | None]:
    try:
        return parse(text)
    except ValueError:
        return []


#: the socket descriptor of each open connection (by id), which a silent peer's is shut down by
_SOCKETS: dict[int, int] = {}


def _connect(uri: str, host: str, port: int) -> Any:
    import adbc_driver_postgresql.dbapi as adbc

    conn = adbc.connect(uri)
    fd = claim_socket(host, port, partial(_client_port, conn))
    if fd is not None:
        _SOCKETS[id(conn)] = fd
    return conn


def _client_port(conn: Any) -> int | None:
    cur = conn.cursor()
    try:
        cur.execute("SELECT inet_client_port()")
        port = cur.fetchall()[0][0]
    finally:
        cur.close()
    conn.rollback()
    return int(port) if port is not None else None


def _close(conn: Any) -> None:
    try:
        conn.close()
    finally:
        release_socket(_SOCKETS.pop(id(conn), None))


def _rollback(conn: Any) -> None:
    """End whatever transaction an operation left open: an idle pooled session must not hold a
    snapshot (it would hold back vacuum) nor carry a READ ONLY or snapshot setting onwards."""
    conn.rollback()


def _time_limit(conn: Any, request: ScanRequest) -> None:
    """Let the server end the scan's statements itself when the query's time limit passes:
    ``statement_timeout`` for the rest of the transaction (the rollback that returns the
    connection to the pool ends it), set to the time left."""
    remaining = request.remaining()
    if remaining is None:
        return
    request.check()
    cur = conn.cursor()
    try:
        cur.execute(f"SET LOCAL statement_timeout = {max(1, math.ceil(remaining * 1000))}")
    finally:
        cur.close()


def _cancel(pool: ConnectionPool[Any], conn: Any) -> None:
    """Cancel the statement ``conn`` runs (a cancel request on a connection of its own, which
    the server may act on after the statement ended: the connection is closed, not pooled)."""
    pool.spoil(conn)
    conn.adbc_cancel()


def _alive(conn: Any) -> bool:
    cur = conn.cursor()
    try:
        cur.execute("SELECT 1")
        cur.fetchall()
    finally:
        cur.close()
    conn.rollback()
    return True


def _field_type(field: pa.Field) -> tuple[str, int]:
    """PostgreSQL type name and typmod ADBC records in a result field's metadata."""
    meta = field.metadata or {}
    typname = meta.get(b"POSTGRESQL:type", b"text").decode()
    try:
        typmod = int(meta.get(b"POSTGRESQL:typmod", b"-1"))
    except ValueError:
        typmod = -1
    return typname, typmod


def _plain(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    """Extension arrays (ADBC's opaque numeric, arrow.json) as their storage arrays."""
    import pyarrow as pa

    if isinstance(arr.type, pa.BaseExtensionType):
        return pa.chunked_array([c.storage for c in arr.chunks], type=arr.type.storage_type)
    return arr


def _arrow_type(logical: LogicalType) -> pa.DataType | None:
    """The Arrow type a column is converted to after reading, when the driver's differs."""
    import pyarrow as pa

    if logical.name == "decimal" and logical.precision is not None:
        return pa.decimal128(logical.precision, logical.scale or 0)
    if logical.name == "list" and logical.inner:
        from meshfabric.types import parse_type

        inner = parse_type(logical.inner)
        if inner.name == "decimal" and inner.precision is not None:
            return pa.list_(pa.decimal128(inner.precision, inner.scale or 0))
    return None


def _ingest_type(col: _Column) -> pa.DataType | None:
    """The Arrow type ADBC must be given to COPY into an existing column of this type."""
    import pyarrow as pa

    simple = {
        "bool": pa.bool_(),
        "int2": pa.int16(),
        "int4": pa.int32(),
        "int8": pa.int64(),
        "float4": pa.float32(),
        "float8": pa.float64(),
        "text": pa.string(),
        "varchar": pa.string(),
        "bpchar": pa.string(),
        "date": pa.date32(),
        "time": pa.time64("us"),
        "timestamp": pa.timestamp("us"),
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "bytea": pa.binary(),
    }
    if col.typname == "numeric":
        p, s = ((col.typmod - 4) >> 16) & 0xFFFF, (col.typmod - 4) & 0xFFFF
        return pa.decimal128(p, s) if col.typmod >= 4 and p <= 38 else pa.decimal128(38, 10)
    return simple.get(col.typname)


def _writable(data: pa.Table) -> pa.Table:
    """Data in types ADBC's COPY writer takes: no dictionaries, views or large offsets."""
    import pyarrow as pa
    import pyarrow.types as t

    arrays = []
    for arr in data.columns:
        typ = arr.type
        if t.is_dictionary(typ):
            arr = arr.cast(typ.value_type)
            typ = arr.type
        if t.is_large_string(typ) or getattr(t, "is_string_view", lambda _: False)(typ):
            arr = arr.cast(pa.string())
        elif t.is_large_binary(typ) or getattr(t, "is_binary_view", lambda _: False)(typ):
            arr = arr.cast(pa.binary())
        arrays.append(arr)
    return pa.table(arrays, names=data.column_names)
