"""A DuckDB database file, and the DuckDB helpers the files connector shares.

DuckDB lets one process write a database file, and within a process a file cannot be open
read-only and read-write at the same time ("different configuration"). Each operation opens
its own connection and closes it; a per-file reader/writer lock lets concurrent scans share the
file and makes a write wait for them (and them for it). Another process holding the write lock
shows up as "Could not set lock on file", which is retried with backoff.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from meshfabric.connectors import TransientError, call_with_retries, column_not_found, rows_only, table_not_found
from meshfabric.connectors.base import (
    ColumnInfo,
    Connector,
    PortSession,
    ScanRequest,
    ScanResult,
    TableInfo,
    TableStatistics,
    TableStats,
)
from meshfabric.connectors.pushdown import UnknownColumn, plan_scan, quote_ident, split_table_name, table_ref
from meshfabric.types import LogicalType, TypeParseError, from_arrow

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from meshfabric.spec.models import OutputPort, SourceSpec

T = TypeVar("T")

#: settings of every connection a connector opens: a port's sql cannot read other files
#: (``read_csv('/etc/passwd')``) and no extension is downloaded or loaded behind its back
SAFE_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def duckdb_logical(native: str, arrow_type: pa.DataType | None) -> LogicalType:
    """The logical type of a DuckDB column: by name where Arrow loses it (UUID and JSON travel
    as strings), from the Arrow type DuckDB exports otherwise."""
    upper = native.upper()
    if upper == "UUID":
        return LogicalType("uuid")
    if upper == "JSON":
        return LogicalType("json")
    if upper.startswith(("ENUM", "BIT", "TIME WITH TIME ZONE", "UNION")):
        return LogicalType("string")
    if arrow_type is not None:
        try:
            return from_arrow(arrow_type)
        except TypeParseError:
            pass
    return LogicalType("string")


def describe(con: duckdb.DuckDBPyConnection, relation_sql: str) -> list[ColumnInfo]:
    """Columns of any relation DuckDB can read: ``DESCRIBE`` for names, types and nullability,
    an empty result for the Arrow types the rows will have, and :func:`collated_columns` for
    the string columns DuckDB compares through a collation."""
    rows = con.execute(f"DESCRIBE SELECT * FROM {relation_sql}").fetchall()
    schema = con.execute(f"SELECT * FROM {relation_sql} LIMIT 0").to_arrow_table().schema
    out = []
    for i, row in enumerate(rows):
        name, native, null = row[0], str(row[1]), row[2]
        arrow_type = schema.field(i).type if i < len(schema) else None
        out.append(ColumnInfo(name, native, duckdb_logical(native, arrow_type), nullable=null != "NO"))
    collated = collated_columns(con, relation_sql, [c.name for c in out if c.type.name == "string"])
    return [replace(c, case_insensitive=True) if c.name in collated else c for c in out]


_PROBE = "mf_probe_{}"


def collated_columns(con: duckdb.DuckDBPyConnection, relation_sql: str, names: list[str]) -> set[str]:
    """The columns among ``names`` that DuckDB does not compare byte for byte.

    A collation is part of a column's type, yet ``DESCRIBE``, ``duckdb_columns()`` and the
    Python types all print plain ``VARCHAR``, and a view's or query's column takes the
    collation of its expression (``upper(name)`` keeps ``name``'s NOCASE), as does every
    column once ``default_collation`` is set. So DuckDB is asked how it would compare each
    column with a string: the plan of ``"col" = 'literal'`` wraps the column in the collation's
    functions (``lower``, ``strip_accents``, ``nfc_normalize``, ICU sort keys) or a cast.
    A column counts as exact only when the plan compares the bare column; one the plan does
    not show that way, or a plan that cannot be had, counts as collated.
    """
    import duckdb

    if not names:
        return set()
    items = ", ".join(f"{quote_ident(n, 'duckdb')} = '{_PROBE.format(i)}'" for i, n in enumerate(names))
    try:
        raw = con.execute(f"EXPLAIN (FORMAT JSON) SELECT {items} FROM {relation_sql}").fetchall()
        texts = list(_strings(json.loads(raw[0][1])))
    except (duckdb.Error, ValueError, IndexError, TypeError):  # unknown means collated
        return set(names)
    collated = set()
    for i, name in enumerate(names):
        literal = f"'{_PROBE.format(i)}'"
        shown = [t for t in texts if literal in t]
        bare = all(t == f"({name} = {literal})" or (_BARE.match(t) and t.endswith(f" = {literal})")) for t in shown)
        if not shown or not bare:
            collated.add(name)
    return collated


_BARE = re.compile(r"^\([A-Za-z_][A-Za-z0-9_]* = '[^']*'\)$")


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, dict):
        for item in node.values():
            yield from _strings(item)


def fetch_rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a statement through Arrow: ``fetchall`` needs pytz for TIMESTAMPTZ values, Arrow does not."""
    table = con.execute(sql).to_arrow_table()
    return list(zip(*(col.to_pylist() for col in table.columns), strict=True)) if table.num_columns else []


def scan_relation(
    connector: Connector,
    con: duckdb.DuckDBPyConnection,
    request: ScanRequest,
    relation_sql: str,
    cols: list[ColumnInfo],
    started: float,
) -> ScanResult:
    """Run one scan in DuckDB: pushed filters, projection and limit all in one statement,
    interrupted when the query's time limit passes (an interrupted connection stays usable)."""
    try:
        plan = plan_scan(
            request, {c.name: c for c in cols}, "duckdb", relation=relation_sql, rules=connector.pushdown_rules
        )
    except UnknownColumn as exc:
        where = request.port.table or request.port.path or "sql"
        raise column_not_found(connector, exc.name, where, exc.available) from None
    with request.cancels(con.interrupt):
        request.check()
        result = con.execute(plan.sql)
        table = rows_only(int(result.fetchone()[0])) if plan.count_only else result.to_arrow_table()
    return ScanResult(table, plan.sql, plan.pushed, time.perf_counter() - started)


def _explained_rows(con: duckdb.DuckDBPyConnection, relation: str) -> int | None:
    """The row estimate of DuckDB's plan for reading ``relation`` (its top operator's)."""
    try:
        raw = con.execute(f"EXPLAIN (FORMAT JSON) SELECT * FROM {relation}").fetchall()[0][1]
        plan = json.loads(raw)
        node = plan[0] if isinstance(plan, list) else plan
        return int(str(node["extra_info"]["Estimated Cardinality"]))
    except (LookupError, TypeError, ValueError):
        return None


class _ReadWriteLock:
    """Many readers or one writer."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._writing and self._readers == 0)
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


_FILE_LOCKS: dict[Path, _ReadWriteLock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: Path) -> _ReadWriteLock:
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(path, _ReadWriteLock())


_LOCKED = re.compile(r"could not set lock|conflicting lock|resource temporarily unavailable", re.IGNORECASE)


class DuckDBConnector(Connector):
    """A DuckDB database file; ``path`` is relative to the workspace folder."""

    kind = "duckdb"
    dialect = "duckdb"

    def __init__(self, name: str, spec: SourceSpec, root: Path) -> None:
        super().__init__(name, spec, root)
        path = Path(spec.path or "").expanduser()
        self.path = (path if path.is_absolute() else Path(root) / path).resolve()

    @contextmanager
    def _connection(self, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        import duckdb

        if not write and not self.path.is_file():
            raise self.error(
                f"database file '{self.spec.path}' not found",
                hint=f"check 'path' of the source; relative paths start at the workspace folder {self.root}",
            )
        lock = _file_lock(self.path)
        with lock.writing() if write else lock.reading():
            try:
                if write:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                con = duckdb.connect(str(self.path), read_only=not write, config=dict(SAFE_CONFIG))
            except duckdb.Error as exc:
                if _LOCKED.search(str(exc)):
                    raise TransientError(f"'{self.spec.path}' is locked by another process") from None
                raise self.error(f"cannot open '{self.spec.path}': {str(exc).splitlines()[0]}") from None
            try:
                yield con
            except duckdb.Error as exc:
                raise self.error(f"DuckDB error: {str(exc).splitlines()[0]}") from None
            finally:
                con.close()

    def _run(self, fn: Callable[[duckdb.DuckDBPyConnection], T], write: bool = False) -> T:
        def once() -> T:
            with self._connection(write) as con:
                return fn(con)

        return call_with_retries(self, once, attempts=5)

    def test(self) -> None:
        self._run(lambda con: con.execute("SELECT 1").fetchall())

    def list_tables(self) -> list[TableInfo]:
        rows = self._run(
            lambda con: con.execute(
                "SELECT table_schema, table_name, table_type FROM information_schema.tables "
                "WHERE table_catalog = current_database() ORDER BY 1, 2"
            ).fetchall()
        )
        return [
            TableInfo(name, None if schema == "main" else schema, "view" if kind == "VIEW" else "table")
            for schema, name, kind in rows
        ]

    def _resolve(self, con: duckdb.DuckDBPyConnection, table: str) -> TableInfo:
        try:
            schema, name, _ = split_table_name(table, "duckdb")
        except ValueError as exc:
            raise self.error(str(exc)) from None
        rows = con.execute(
            "SELECT table_schema, table_name, table_type FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND lower(table_name) = lower(?) "
            "AND lower(table_schema) = lower(coalesce(?, 'main'))",
            [name, schema],
        ).fetchall()
        exact = [r for r in rows if r[1] == name]
        pool = exact or rows
        if len(pool) != 1:
            names = [
                (f"{s}." if s != "main" else "") + n
                for s, n in con.execute(
                    "SELECT table_schema, table_name FROM information_schema.tables "
                    "WHERE table_catalog = current_database()"
                ).fetchall()
            ]
            raise table_not_found(self, table, names)
        s, n, kind = pool[0]
        return TableInfo(n, s, "view" if kind == "VIEW" else "table")

    def _relation(self, con: duckdb.DuckDBPyConnection, port: OutputPort) -> str:
        if port.table:
            return table_ref(self._resolve(con, port.table), "duckdb").sql("duckdb")
        if port.sql:
            from meshfabric.connectors.pushdown import subquery_sql

            try:
                return f"({subquery_sql(port.sql, 'duckdb')}) AS {quote_ident('_mf_src', 'duckdb')}"
            except ValueError as exc:
                raise self.error(str(exc)) from None
        raise self.error("a duckdb output port needs 'table' or 'sql'")

    def columns(self, port: OutputPort) -> list[ColumnInfo]:
        return self._run(lambda con: describe(con, self._relation(con, port)))

    def run_on_port(self, port: OutputPort, fn: Callable[[PortSession], T]) -> T:
        def run(con: duckdb.DuckDBPyConnection) -> T:
            relation = self._relation(con, port)
            return fn(PortSession(relation, describe(con, relation), self.dialect, lambda sql: fetch_rows(con, sql)))

        return self._run(run)

    def scan(self, request: ScanRequest) -> ScanResult:
        started = time.perf_counter()

        def run(con: duckdb.DuckDBPyConnection) -> ScanResult:
            request.check()
            relation = self._relation(con, request.port)
            return scan_relation(self, con, request, relation, describe(con, relation), started)

        return self._run(run)

    def write(self, table: str, data: pa.Table, mode: Literal["append", "replace", "create"] = "append") -> int:
        if mode not in ("append", "replace", "create"):
            raise self.error(f"unknown write mode '{mode}'", hint="use append, replace or create")
        try:
            schema, name, _ = split_table_name(table, "duckdb")
        except ValueError as exc:
            raise self.error(str(exc)) from None
        ref = table_ref(TableInfo(name, schema), "duckdb").sql("duckdb")

        def run(con: duckdb.DuckDBPyConnection) -> int:
            exists = con.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_catalog = current_database() "
                "AND table_schema = coalesce(?, 'main') AND table_name = ?",
                [schema, name],
            ).fetchone()
            if exists and mode == "create":
                raise self.error(f"table '{table}' already exists", hint="write with mode 'append' or 'replace'")
            con.register("_mf_incoming", data)
            con.execute("BEGIN")
            if schema:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema, 'duckdb')}")
            if exists and mode == "append":
                con.execute(f"INSERT INTO {ref} BY NAME SELECT * FROM _mf_incoming")
            else:
                con.execute(f"CREATE OR REPLACE TABLE {ref} AS SELECT * FROM _mf_incoming")
            con.execute("COMMIT")
            con.unregister("_mf_incoming")
            return int(data.num_rows)

        return self._run(run, write=True)

    def stats(self, port: OutputPort) -> TableStats:
        """Tables report DuckDB's stored cardinality; views and queries are counted, which
        DuckDB does quickly from column metadata for plain tables and by running them otherwise."""

        def run(con: duckdb.DuckDBPyConnection) -> TableStats:
            if port.table:
                info = self._resolve(con, port.table)
                row = con.execute(
                    "SELECT estimated_size FROM duckdb_tables() WHERE database_name = current_database() "
                    "AND schema_name = ? AND table_name = ?",
                    [info.schema or "main", info.name],
                ).fetchone()
                if row is not None and row[0] is not None:
                    return TableStats(int(row[0]), None, exact=False)
            relation = self._relation(con, port)
            return TableStats(int(con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]), None, exact=True)

        return self._run(run)

    def statistics(self, port: OutputPort, *, analyze: str = "never") -> TableStatistics:
        """A table's row count from ``duckdb_tables().estimated_size`` and per column what
        DuckDB's ``stats(column)`` keeps in the table's metadata (min/max, whether NULLs occur,
        an approximate distinct count; a string's min/max only where DuckDB keeps them whole,
        up to 8 bytes). A table of at most :data:`~meshfabric.connectors.statistics.SMALL_ROWS`
        rows gets exact numbers from one aggregate statement; a view or ``sql`` port gets
        EXPLAIN's row estimate (counting one would run it). ``analyze`` changes nothing: DuckDB
        keeps its statistics current itself."""
        from meshfabric.connectors.statistics import guarded

        return guarded(self, port, lambda: self._run(partial(self._statistics, port)), origin="duckdb")

    def _statistics(self, port: OutputPort, con: duckdb.DuckDBPyConnection) -> TableStatistics:
        from meshfabric.connectors.statistics import SMALL_ROWS, aggregate_columns, aggregate_sql, duckdb_column, now

        relation = self._relation(con, port)
        info = self._resolve(con, port.table) if port.table else None
        if info is None or info.kind != "table":
            # a view or query: the optimiser's estimate (counting it would run it)
            return TableStatistics(_explained_rows(con, relation), None, taken_at=now(), origin="duckdb EXPLAIN")
        cols = describe(con, relation)
        row = con.execute(
            "SELECT estimated_size FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?",
            [info.schema or "main", info.name],
        ).fetchone()
        estimated = int(row[0]) if row is not None and row[0] is not None else None
        if estimated is None or estimated <= SMALL_ROWS:
            sql = aggregate_sql(relation, cols, "duckdb")
            if sql is None:
                count = int(con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])
                return TableStatistics(count, None, exact=True, taken_at=now(), origin="duckdb count")
            rows, columns = aggregate_columns(fetch_rows(con, sql)[0], cols)
            return TableStatistics(rows, None, columns, exact=True, taken_at=now(),
                                   origin="duckdb aggregate (small table)")
        names = [c for c in cols if c.type.name not in ("list", "struct", "map")]
        columns = {}
        if names:
            calls = ", ".join(f"stats({quote_ident(c.name, 'duckdb')})" for c in names)
            texts = fetch_rows(con, f"SELECT {calls} FROM {relation} LIMIT 1")
            if texts:
                columns = {c.name: duckdb_column(t, c.type, estimated) for c, t in zip(names, texts[0], strict=True)}
        return TableStatistics(estimated, None, columns, exact=False, taken_at=now(), origin="duckdb table statistics")
