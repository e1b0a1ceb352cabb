"""SQLite files through the standard library.

SQLite stores values, not column types: a column's declared type only gives it an *affinity*,
and any cell may hold any storage class. The logical type is taken from the declared type
(INT → bigint, DECIMAL(p,s) → decimal, DATE → date, ...) the way DuckDB's sqlite extension
does, and every value is checked while building Arrow, so a stray string in an INTEGER column
is reported instead of silently becoming NULL. Reads open the file with ``mode=ro``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

from meshfabric.connectors import TransientError, call_with_retries, column_not_found, rows_only, table_not_found
from meshfabric.connectors.base import (
    ColumnInfo,
    ColumnStatistics,
    Connector,
    PortSession,
    ScanRequest,
    ScanResult,
    TableInfo,
    TableStatistics,
    TableStats,
)
from meshfabric.connectors.pushdown import (
    UnknownColumn,
    UnsupportedType,
    build_create_table,
    plan_scan,
    quote_ident,
    split_table_name,
    subquery_sql,
    table_ref,
)
from meshfabric.types import LogicalType

if TYPE_CHECKING:
    import pyarrow as pa

    from meshfabric.spec.models import OutputPort, SourceSpec

T = TypeVar("T")
FETCH_ROWS = 65536
_DECIMAL_RE = re.compile(r"^(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", re.IGNORECASE)


def declared_logical(declared: str) -> LogicalType | None:
    """The logical type of a declared SQLite column type; None for an untyped column.

    Follows SQLite's affinity rules (so ``POINT`` is an integer, as SQLite says) with the
    type names DuckDB's sqlite extension also recognises for dates and timestamps.
    """
    text = declared.strip().upper()
    if not text:
        return None
    if "BOOL" in text:
        return LogicalType("boolean")
    if "INT" in text:
        return LogicalType("bigint")
    if any(word in text for word in ("CHAR", "CLOB", "TEXT")):
        return LogicalType("string")
    if "BLOB" in text:
        return LogicalType("binary")
    if any(word in text for word in ("REAL", "FLOA", "DOUB")):
        return LogicalType("double")
    if text.startswith(("DATETIME", "TIMESTAMP")):
        return LogicalType("timestamp")
    if text.startswith("DATE"):
        return LogicalType("date")
    if text.startswith("UUID"):
        return LogicalType("uuid")
    if text.startswith("JSON"):
        return LogicalType("json")
    m = _DECIMAL_RE.match(text)
    if m and int(m.group(1)) <= 38:
        return LogicalType("decimal", precision=int(m.group(1)), scale=int(m.group(2) or 0))
    return LogicalType("double")  # NUMERIC affinity: integers and reals


def _from_storage(classes: set[str]) -> LogicalType:
    """The logical type of an untyped column from the storage classes its values use."""
    if classes <= {"integer"}:
        return LogicalType("bigint")
    if classes <= {"integer", "real"}:
        return LogicalType("double")
    if classes <= {"blob"}:
        return LogicalType("binary")
    return LogicalType("string")


# The file lock SQLite takes is per process; writers in threads of one process wait here
# instead of failing with "database is locked" after the busy timeout.
_WRITE_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _write_lock(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(path, threading.Lock())


@dataclass(frozen=True)
class _Relation:
    info: TableInfo
    ddl: str | None


class SQLiteConnector(Connector):
    """A SQLite database file; ``path`` is relative to the workspace folder."""

    pushes_joins = True
    kind = "sqlite"
    dialect = "sqlite"

    def __init__(self, name: str, spec: SourceSpec, root: Path) -> None:
        super().__init__(name, spec, root)
        path = Path(spec.path or "").expanduser()
        self.path = (path if path.is_absolute() else Path(root) / path).resolve()

    # -- connections ---------------------------------------------------------------------------

    def _missing(self) -> Exception:
        return self.error(
            f"database file '{self.spec.path}' not found",
            hint=f"check 'path' of the source; relative paths start at the workspace folder {self.root}",
        )

    @contextmanager
    def _connection(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        if not write and not self.path.is_file():
            raise self._missing()
        try:
            if write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            else:
                uri = f"file:{quote(str(self.path))}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)
        except sqlite3.Error as exc:
            raise self.error(f"cannot open '{self.spec.path}': {exc}") from None
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise TransientError(f"database file '{self.spec.path}' is locked: {exc}") from None
            raise self.error(f"SQLite error: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise self.error(
                f"SQLite error: {exc}", hint=f"check that '{self.spec.path}' is a SQLite database"
            ) from None
        finally:
            conn.close()

    def _run(self, fn: Callable[[sqlite3.Connection], T], write: bool = False) -> T:
        def once() -> T:
            with self._connection(write) as conn:
                return fn(conn)

        return call_with_retries(self, once)

    # -- catalog -------------------------------------------------------------------------------

    def test(self) -> None:
        self._run(lambda conn: conn.execute("SELECT count(*) FROM sqlite_master").fetchall())

    def list_tables(self) -> list[TableInfo]:
        rows = self._run(
            lambda conn: conn.execute(
                "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
            ).fetchall()
        )
        return [TableInfo(name, None, "view" if kind == "view" else "table") for name, kind in rows]

    def _resolve(self, conn: sqlite3.Connection, table: str) -> _Relation:
        try:
            schema, name, _ = split_table_name(table, "sqlite")
        except ValueError as exc:
            raise self.error(str(exc)) from None
        if schema not in (None, "main"):
            raise table_not_found(self, table, [])
        rows = conn.execute(
            "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') AND lower(name) = lower(?)",
            (name,),
        ).fetchall()
        exact = [r for r in rows if r[0] == name]
        pool = exact or rows
        if len(pool) != 1:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")]
            raise table_not_found(self, table, names)
        n, kind, ddl = pool[0]
        return _Relation(TableInfo(n, None, "view" if kind == "view" else "table"), ddl if kind == "table" else None)

    def _columns_of(
        self, conn: sqlite3.Connection, pragma: str, relation_sql: str, ddl: str | None
    ) -> list[ColumnInfo]:
        """Columns from ``PRAGMA table_xinfo``; each column's collation asked of SQLite itself
        (:func:`column_collations`). A column counts as case-sensitive only when SQLite
        compares it with BINARY; NOCASE, RTRIM, custom collations and anything that cannot be
        determined count as insensitive, so its string filters stay in DuckDB."""
        rows = [r for r in conn.execute(pragma).fetchall() if r[6] != 1]
        collations = column_collations(conn, relation_sql, [r[1] for r in rows], ddl)
        out = []
        untyped = []
        for _cid, name, declared, notnull, _default, _pk, _hidden in rows:
            logical = declared_logical(declared or "")
            if logical is None:
                untyped.append(name)
                logical = LogicalType("string")
            insensitive = collations.get(name) != "BINARY"
            out.append(ColumnInfo(name, declared or "", logical, nullable=not notnull, case_insensitive=insensitive))
        if untyped:
            guessed = self._storage_classes(conn, relation_sql, untyped)
            out = [
                ColumnInfo(c.name, c.native_type, guessed[c.name], c.nullable, c.case_insensitive)
                if c.name in guessed
                else c
                for c in out
            ]
        return out

    @staticmethod
    def _storage_classes(conn: sqlite3.Connection, relation_sql: str, names: list[str]) -> dict[str, LogicalType]:
        """Type untyped columns (expressions in views and queries) by sampling their values."""
        out = {}
        for name in names:
            col = quote_ident(name, "sqlite")
            rows = conn.execute(
                f"SELECT DISTINCT typeof({col}) FROM (SELECT {col} FROM {relation_sql} LIMIT 1000) "
                f"WHERE {col} IS NOT NULL"
            ).fetchall()
            out[name] = _from_storage({r[0] for r in rows}) if rows else LogicalType("string")
        return out

    def _describe(self, conn: sqlite3.Connection, port: OutputPort) -> tuple[TableInfo | str, list[ColumnInfo]]:
        if port.table:
            rel = self._resolve(conn, port.table)
            ref = table_ref(rel.info, "sqlite").sql("sqlite")
            pragma = f"PRAGMA main.table_xinfo({quote_ident(rel.info.name, 'sqlite')})"
            return rel.info, self._columns_of(conn, pragma, ref, rel.ddl)
        if not port.sql:
            raise self.error("a sqlite output port needs 'table' or 'sql'")
        try:
            sql = subquery_sql(port.sql, "sqlite")
        except ValueError as exc:
            raise self.error(str(exc)) from None
        relation = f"({sql}) AS {quote_ident('_mf_src', 'sqlite')}"
        view = quote_ident(f"mf_port_{threading.get_ident()}_{time.monotonic_ns()}", "sqlite")
        try:
            conn.execute(f"CREATE TEMP VIEW {view} AS {sql}")
            return relation, self._columns_of(conn, f"PRAGMA temp.table_xinfo({view})", relation, None)
        except sqlite3.OperationalError as exc:
            raise self.error(f"the output port's sql failed: {exc}") from None
        finally:
            conn.execute(f"DROP VIEW IF EXISTS temp.{view}")

    def columns(self, port: OutputPort) -> list[ColumnInfo]:
        return self._run(lambda conn: self._describe(conn, port)[1])

    def run_on_port(self, port: OutputPort, fn: Callable[[PortSession], T]) -> T:
        def run(conn: sqlite3.Connection) -> T:
            relation, cols = self._describe(conn, port)
            text = relation if isinstance(relation, str) else table_ref(relation, self.dialect).sql(self.dialect)
            # SQLite parses `x REGEXP p` but ships no regexp(); this one is Python's re.search
            conn.create_function("regexp", 2, _regexp, deterministic=True)
            return fn(PortSession(text, cols, self.dialect, lambda sql: conn.execute(sql).fetchall()))

        return self._run(run)

    # -- reading -------------------------------------------------------------------------------

    def scan(self, request: ScanRequest) -> ScanResult:
        started = time.perf_counter()

        def run(conn: sqlite3.Connection) -> tuple[Any, pa.Table]:
            request.check()
            # interrupt() may come from another thread; the connection is closed after the scan
            with request.cancels(conn.interrupt):
                return read(conn)

        def read(conn: sqlite3.Connection) -> tuple[Any, pa.Table]:
            relation, cols = self._describe(conn, request.port)
            infos = {c.name: c for c in cols}
            try:
                plan = plan_scan(request, infos, self.dialect, relation=relation)
            except UnknownColumn as exc:
                raise column_not_found(self, exc.name, request.port.table or "sql", exc.available) from None
            cur = conn.execute(plan.sql)
            if plan.count_only:
                return plan, rows_only(int(cur.fetchone()[0]))
            return plan, self._arrow(cur, [infos[n] for n in plan.columns])

        plan, table = self._run(run)
        return ScanResult(table, plan.sql, plan.pushed, time.perf_counter() - started)

    def _arrow(self, cur: sqlite3.Cursor, cols: list[ColumnInfo]) -> pa.Table:
        import pyarrow as pa

        names = [c.name for c in cols]
        converters = [_converter(c) for c in cols]
        chunks: list[list[pa.Array]] = [[] for _ in cols]
        while True:
            rows = cur.fetchmany(FETCH_ROWS)
            if not rows:
                break
            for i, values in enumerate(zip(*rows, strict=True)):
                try:
                    chunks[i].append(converters[i](list(values)))
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
                    raise self.error(
                        f"column '{cols[i].name}' declared {cols[i].native_type or 'without a type'} holds a value "
                        f"that is not {cols[i].type}: {str(exc)[:160]}",
                        hint="fix the data, or read the column through a sql output port with CAST",
                    ) from None
        arrays = [
            pa.chunked_array(parts, type=_arrow_type(c.type)) if parts else pa.chunked_array([], _arrow_type(c.type))
            for parts, c in zip(chunks, cols, strict=True)
        ]
        return pa.table(arrays, names=names)

    # -- writing -------------------------------------------------------------------------------

    def write(self, table: str, data: pa.Table, mode: Literal["append", "replace", "create"] = "append") -> int:
        if mode not in ("append", "replace", "create"):
            raise self.error(f"unknown write mode '{mode}'", hint="use append, replace or create")
        try:
            _, name, _ = split_table_name(table, "sqlite")
            ddl = build_create_table(TableInfo(name), data.schema, "sqlite")
        except (ValueError, UnsupportedType) as exc:
            raise self.error(str(exc)) from None
        ref = table_ref(TableInfo(name), "sqlite").sql("sqlite")
        cols = ", ".join(quote_ident(n, "sqlite") for n in data.column_names)
        insert = f"INSERT INTO {ref} ({cols}) VALUES ({', '.join('?' * data.num_columns)})"

        def run(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                exists = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
                ).fetchone()
                if exists and mode == "create":
                    raise self.error(f"table '{table}' already exists", hint="write with mode 'append' or 'replace'")
                if exists and mode == "replace":
                    conn.execute(f"DROP TABLE {ref}")
                if not exists or mode == "replace":
                    conn.execute(ddl)
                for batch in data.to_batches(FETCH_ROWS):
                    columns = [[_sqlite_value(v) for v in c.to_pylist()] for c in batch.columns]
                    conn.executemany(insert, zip(*columns, strict=True))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return int(data.num_rows)

        with _write_lock(self.path):
            return self._run(run, write=True)

    # -- statistics ----------------------------------------------------------------------------

    def stats(self, port: OutputPort) -> TableStats:
        """An exact count: SQLite counts a b-tree quickly and keeps no usable estimate."""

        def run(conn: sqlite3.Connection) -> TableStats:
            relation, _ = self._describe(conn, port)
            source = table_ref(relation, "sqlite").sql("sqlite") if isinstance(relation, TableInfo) else relation
            count = int(conn.execute(f"SELECT count(*) FROM {source}").fetchone()[0])
            size = None
            if isinstance(relation, TableInfo) and relation.kind == "table":
                try:
                    row = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name = ?", (relation.name,)).fetchone()
                    size = int(row[0]) if row and row[0] is not None else None
                except sqlite3.OperationalError:
                    size = None  # SQLite built without the dbstat table
            return TableStats(count, size, exact=True)

        return self._run(run)

    def statistics(self, port: OutputPort, *, analyze: str = "never") -> TableStatistics:
        """The exact row count (:meth:`stats`), and per column: for a table of at most
        :data:`~meshfabric.connectors.statistics.SMALL_ROWS` rows one aggregate statement
        (non-null and distinct counts, min, max: as cheap as the count); for larger ones what
        ``sqlite_stat1`` says of each index (distinct count of its first column = rows / the
        average rows per key; all rows for a one-column unique index or an INTEGER PRIMARY KEY)
        and min/max of those columns by index seeks. A view or ``sql`` port gets nothing (SQLite
        keeps no estimate, and counting one runs it). ``ANALYZE`` (which writes the database
        file) runs only when ``analyze`` is ``always`` (``stats refresh --analyze``)."""
        from meshfabric.connectors.statistics import guarded

        if analyze == "always" and port.table:
            def analyse(conn: sqlite3.Connection) -> None:
                rel = self._resolve(conn, port.table or "")
                if rel.info.kind == "table":
                    conn.execute(f"ANALYZE main.{quote_ident(rel.info.name, 'sqlite')}")

            self._run(analyse, write=True)
        return guarded(self, port, lambda: self._run(functools.partial(self._statistics, port)), origin="sqlite")

    def _statistics(self, port: OutputPort, conn: sqlite3.Connection) -> TableStatistics:
        from meshfabric.connectors.statistics import SMALL_ROWS, aggregate_columns, aggregate_sql, now

        relation, cols = self._describe(conn, port)
        if not isinstance(relation, TableInfo) or relation.kind != "table":
            # a view or query has no estimate in SQLite, and counting it runs it (maybe forever)
            return TableStatistics(None, None, taken_at=now(), origin="sqlite view (no estimate)")
        basic = self.stats(port)
        rows = basic.row_count or 0
        ref = table_ref(relation, "sqlite").sql("sqlite")
        if rows <= SMALL_ROWS:
            sql = aggregate_sql(ref, cols, "sqlite")
            _, columns = aggregate_columns(conn.execute(sql).fetchone(), cols) if sql else (0, {})
            return TableStatistics(basic.row_count, basic.size_bytes, columns, exact=True, taken_at=now(),
                                   origin="sqlite aggregate (small table)")
        return TableStatistics(basic.row_count, basic.size_bytes, self._index_statistics(conn, relation, cols, rows),
                               exact=True, taken_at=now(), origin="sqlite sqlite_stat1")

    @staticmethod
    def _index_statistics(
        conn: sqlite3.Connection, relation: TableInfo, cols: list[ColumnInfo], rows: int
    ) -> dict[str, ColumnStatistics]:
        from meshfabric.connectors.statistics import coerce, column

        by_name = {c.name.lower(): c for c in cols}
        name = quote_ident(relation.name, "sqlite")
        ref = table_ref(relation, "sqlite").sql("sqlite")
        distinct: dict[str, float] = {}
        pk = [r for r in conn.execute(f"PRAGMA main.table_xinfo({name})").fetchall() if r[5]]
        if len(pk) == 1 and str(pk[0][2] or "").upper() == "INTEGER":
            distinct[str(pk[0][1])] = float(rows)  # the rowid itself
        stat1: dict[str, list[int]] = {}
        try:
            for idx, stat in conn.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = ?", (relation.name,)):
                numbers = [int(p) for p in str(stat or "").split() if p.isdigit()]
                if idx and len(numbers) >= 2:
                    stat1[str(idx)] = numbers
        except sqlite3.OperationalError:
            pass  # never analysed: no sqlite_stat1 table
        for _seq, idx, unique, _origin, partial_ in conn.execute(f"PRAGMA main.index_list({name})").fetchall():
            if partial_:
                continue
            parts = conn.execute(f"PRAGMA main.index_info({quote_ident(idx, 'sqlite')})").fetchall()
            if not parts or parts[0][2] is None:
                continue
            first = str(parts[0][2])
            if unique and len(parts) == 1:
                value: float | None = float(rows)
            elif idx in stat1:
                numbers = stat1[idx]
                value = numbers[0] / max(1, numbers[1]) if numbers[0] else None
            else:
                value = None
            if value is not None:
                distinct[first] = max(distinct.get(first, 0.0), value)
            else:
                distinct.setdefault(first, -1.0)  # indexed: min/max by seeks, distinct unknown
        out: dict[str, ColumnStatistics] = {}
        for col_name, value in distinct.items():
            col = by_name.get(col_name.lower())
            if col is None:
                continue
            quoted = quote_ident(col.name, "sqlite")
            low = conn.execute(f"SELECT min({quoted}) FROM {ref}").fetchone()[0]  # one index seek each
            high = conn.execute(f"SELECT max({quoted}) FROM {ref}").fetchone()[0]
            out[col.name] = column(distinct=value if value >= 0 else None, low=coerce(low, col.type),
                                   high=coerce(high, col.type))
        return out


_COLLSEQ = re.compile(r"^(\w+)-(?:8|16LE|16BE|16)$")
_COMPARE_OPS = frozenset({"Eq", "Ne", "Lt", "Le", "Gt", "Ge"})
_MISSING_COLLATION = re.compile(r"no such collation sequence: (.+)$")


def column_collations(
    conn: sqlite3.Connection, relation_sql: str, names: list[str], ddl: str | None = None
) -> dict[str, str | None]:
    """Column name → the collation SQLite compares it with (upper case), None when unknown.

    SQLite keeps a column's collation only inside its CREATE TABLE text and has no pragma for
    it, and a view's or query's column takes the collation of its expression. Rather than
    parse that text, SQLite is asked, twice:

    * the comparison SQLite compiles for ``"col" = 'literal'`` over the relation itself (a
      table, a view or the port's query) names its collating sequence in ``EXPLAIN`` (the
      ``P4`` of the ``Eq`` opcode, ``NOCASE-8``): exactly what a pushed filter would use;
    * for a table, its CREATE TABLE is replayed in a private in-memory database and an index
      built over every column: ``PRAGMA index_xinfo`` reports the collation of each key,
      which is the column's declared one however the DDL spells it.

    A collation is known only when every answer agrees; otherwise it is None (insensitive).
    """
    probed = {name: _explained_collation(conn, relation_sql, name) for name in names}
    if ddl is None:
        return probed
    declared = _declared_collations(ddl)
    return {
        name: coll if declared is not None and declared.get(name) == coll else None for name, coll in probed.items()
    }


def _explained_collation(conn: sqlite3.Connection, relation_sql: str, name: str) -> str | None:
    """The collation of the comparisons SQLite compiles for ``"name" = 'literal'``."""
    col = quote_ident(name, "sqlite")
    try:
        program = conn.execute(f"EXPLAIN SELECT {col} = 'mf_probe' FROM {relation_sql}").fetchall()
    except sqlite3.Error:
        return None
    found: set[str | None] = set()
    for op in program:
        if len(op) > 5 and op[1] in _COMPARE_OPS:
            # no collating sequence at all compares with memcmp, as BINARY does
            m = _COLLSEQ.match(str(op[5] or "BINARY-8"))
            found.add(m.group(1).upper() if m else None)
    # other comparisons of a view (CASE WHEN id > 0 ...) compile too: one collation other
    # than BINARY among them makes the column insensitive, as does none at all
    return found.pop() if len(found) == 1 else None


def _declared_collations(ddl: str) -> dict[str, str] | None:
    """Column name → declared collation (upper case) of a CREATE TABLE, read back from an index
    over its columns in a scratch in-memory copy; None when the DDL cannot be replayed there
    (virtual tables, collations registered only by some application)."""
    scratch = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for _ in range(16):
            try:
                scratch.execute(ddl)
                break
            except sqlite3.OperationalError as exc:
                # an application's own collation: any stand-in will do to read the others
                missing = _MISSING_COLLATION.search(str(exc))
                if missing is None:
                    raise
                scratch.create_collation(missing.group(1), lambda a, b: (a > b) - (a < b))
        (table,) = scratch.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchone()
        info = scratch.execute(f"PRAGMA table_xinfo({quote_ident(table, 'sqlite')})").fetchall()
        keys = [r[1] for r in info if r[6] != 1]
        if not keys:
            return {}
        scratch.execute(
            f"CREATE INDEX mf_probe_index ON {quote_ident(table, 'sqlite')} "
            f"({', '.join(quote_ident(k, 'sqlite') for k in keys)})"
        )
        rows = scratch.execute("PRAGMA index_xinfo(mf_probe_index)").fetchall()
        return {str(r[2]): str(r[4]).upper() for r in rows if r[5] and r[2] is not None and r[4]}
    except (sqlite3.Error, TypeError, ValueError):
        return None
    finally:
        scratch.close()


def _arrow_type(logical: LogicalType) -> pa.DataType:
    """SQLite keeps few types: what it cannot hold natively is read as text."""
    import pyarrow as pa

    from meshfabric.types import to_arrow

    if logical.name in ("boolean", "bigint", "double", "binary", "date", "timestamp", "decimal"):
        return to_arrow(logical)
    return pa.string()


def _converter(col: ColumnInfo) -> Callable[[list[Any]], pa.Array]:
    """A function turning one column's Python values into an Arrow array of its logical type."""
    import pyarrow as pa

    target = _arrow_type(col.type)
    name = col.type.name

    def strict(values: list[Any]) -> pa.Array:
        return pa.array(values, type=target)

    def as_float(values: list[Any]) -> pa.Array:
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())

    def decimal(values: list[Any]) -> pa.Array:
        # stored as REAL (or text); rounding to the declared scale recovers the written value
        return as_float(values).cast(target)

    def boolean(values: list[Any]) -> pa.Array:
        return pa.array([None if v is None else bool(int(v)) for v in values], type=target)

    def parsed(values: list[Any]) -> pa.Array:
        for v in values:
            if v is not None and not isinstance(v, str):
                raise TypeError(f"{v!r} is not date text")
        return pa.array(values, type=pa.string()).cast(target)

    def text(values: list[Any]) -> pa.Array:
        return pa.array([v if v is None or isinstance(v, str) else _text(v) for v in values], type=target)

    def binary(values: list[Any]) -> pa.Array:
        return pa.array([v.encode() if isinstance(v, str) else v for v in values], type=target)

    if name == "double":
        return as_float
    if name == "decimal":
        return decimal
    if name == "boolean":
        return boolean
    if name in ("date", "timestamp"):
        return parsed
    if name == "binary":
        return binary
    if name == "bigint":
        return strict
    return text


@functools.lru_cache(maxsize=64)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str | None, value: Any) -> int | None:
    """SQLite's ``value REGEXP pattern``: whether ``pattern`` is found in the value's text, NULL
    for a NULL value (as every other SQL regex operator answers)."""
    if value is None or pattern is None:
        return None
    return 1 if _pattern(pattern).search(value if isinstance(value, str) else _text(value)) else 0


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _sqlite_value(value: Any) -> Any:
    """A Python value SQLite stores so that reading it back gives the same logical value."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value
