"""Parquet, CSV and JSON files below one folder, read by a private in-memory DuckDB.

DuckDB reads only the asked columns and skips Parquet row groups whose statistics exclude the
pushed filters, so a scan moves little more than its answer. Paths are confined to the
source's folder: ``..``, absolute paths elsewhere and symlinks that lead out are refused before
DuckDB sees them, and each private connection is limited to that folder with
``allowed_directories`` and ``enable_external_access = false`` as a second wall.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlglot import exp

from meshfabric.connectors import column_not_found, did_you_mean
from meshfabric.connectors.base import (
    ColumnInfo,
    ColumnStatistics,
    Connector,
    InPlaceRead,
    PortSession,
    ScanRequest,
    ScanResult,
    TableInfo,
    TableStatistics,
    TableStats,
)
from meshfabric.connectors.duckdb import SAFE_CONFIG, describe, fetch_rows, scan_relation
from meshfabric.connectors.pool import ConnectionPool
from meshfabric.connectors.pushdown import UnknownColumn, plan_scan, quote_ident

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from meshfabric.spec.models import OutputPort, SourceSpec

T = TypeVar("T")

_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
_COMPRESSED = (".gz", ".zst")
#: relations whose description a connector remembers (:meth:`FilesConnector._describe`)
_DESCRIBED_MAX = 256
_READERS = {"parquet": "read_parquet", "csv": "read_csv", "json": "read_json"}
#: reader options a port may set, with their value types; anything else is refused
_OPTIONS: dict[str, dict[str, type]] = {
    "parquet": {"hive_partitioning": bool, "union_by_name": bool, "filename": bool, "binary_as_string": bool},
    "csv": {
        "header": bool,
        "delim": str,
        "sep": str,
        "quote": str,
        "escape": str,
        "skip": int,
        "nullstr": str,
        "dateformat": str,
        "timestampformat": str,
        "decimal_separator": str,
        "all_varchar": bool,
        "sample_size": int,
        "union_by_name": bool,
        "hive_partitioning": bool,
        "filename": bool,
    },
    "json": {
        "format": str,
        "records": str,
        "sample_size": int,
        "maximum_depth": int,
        "dateformat": str,
        "timestampformat": str,
        "union_by_name": bool,
        "hive_partitioning": bool,
        "filename": bool,
    },
}
_GLOB = re.compile(r"[*?\[]")
#: text files up to this size are counted exactly for stats()
COUNT_TEXT_BYTES = 32 << 20
_HIVE_DIR = re.compile(r"^[^=/]+=[^/]*$")


def _split_extension(path: str | Path) -> tuple[str, str]:
    """``("x.csv.gz")`` → ``(".csv", ".gz")``; ``("", "")`` when it is no data file."""
    name = str(path).lower()
    compressed = next((s for s in _COMPRESSED if name.endswith(s)), "")
    ext = os.path.splitext(name[: len(name) - len(compressed)])[1]
    return (ext, compressed) if ext in _EXTENSIONS else ("", "")


def _extension(path: str | Path) -> str:
    """The data extension of a file name with its compression suffix: ``.csv.gz``, ``.parquet``."""
    return "".join(_split_extension(path))


def file_format(path: str | Path) -> str | None:
    """``parquet``, ``csv`` or ``json`` from a file name (``x.csv.gz`` is csv), else None."""
    return _EXTENSIONS.get(_split_extension(path)[0])


_WRITE_LOCKS: dict[Path, threading.Lock] = {}
_WRITE_GUARD = threading.Lock()


def _write_lock(path: Path) -> threading.Lock:
    with _WRITE_GUARD:
        return _WRITE_LOCKS.setdefault(path, threading.Lock())


def _file_schema(path: Path) -> tuple[str, ...] | None:
    """A data file's column names (and Parquet types) read from its header, lowercased; None
    when the header cannot be read cheaply (a zstd file) or is unreadable."""
    import csv
    import gzip
    import json

    fmt = file_format(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
            return tuple(f"{f.name.lower()}:{f.type}" for f in schema)
        if str(path).endswith(".zst"):
            return None
        opener: Any = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            head = fh.read(65536)
        first = head.splitlines()[0] if head else ""
        if fmt == "json":
            stripped = head.lstrip()
            if stripped.startswith("["):  # a JSON array: the keys of its first object
                first = stripped[1:].lstrip().split("\n", 1)[0].rstrip(",")
            record = json.loads(first) if first.strip().startswith("{") else None
            return tuple(sorted(k.lower() for k in record)) if isinstance(record, dict) else None
        delimiter = "\t" if ".tsv" in path.name.lower() else ","
        if delimiter == "," and first.count(";") > first.count(","):
            delimiter = ";"
        return tuple(c.strip().lower() for c in next(csv.reader([first], delimiter=delimiter), []))
    except (OSError, ValueError, UnicodeError):  # pyarrow's errors derive from these
        return None


class FilesConnector(Connector):
    """Files below ``path`` (relative to the workspace folder); a port names a file, a folder
    or a glob below it."""

    kind = "files"
    dialect = "duckdb"
    pushdown_rules = "files"
    reads_in_place = True

    def __init__(self, name: str, spec: SourceSpec, root: Path) -> None:
        super().__init__(name, spec, root)
        base = Path(spec.path or "").expanduser()
        self.base = (base if base.is_absolute() else Path(root) / base).resolve()
        self._pool: ConnectionPool[duckdb.DuckDBPyConnection] = ConnectionPool(
            partial(_confined_duckdb, self.base), _close
        )
        self._described: dict[tuple[object, ...], list[ColumnInfo]] = {}
        self._described_lock = threading.Lock()

    # -- paths ---------------------------------------------------------------------------------

    def _require_base(self) -> None:
        if not self.base.is_dir():
            raise self.error(
                f"folder '{self.spec.path}' not found",
                hint=f"check 'path' of the source; relative paths start at the workspace folder {self.root}",
            )

    def _escape(self, given: str) -> Exception:
        return self.error(
            f"path '{given}' leads outside the folder of source '{self.name}'",
            hint="output port paths are relative to the source's folder; '..', other absolute paths and "
            "symlinks pointing out of it are refused",
        )

    def _relative(self, given: str) -> Path:
        """``given`` as a path relative to the source folder, refusing ``..`` and outside paths."""
        path = Path(given.strip())
        if ".." in path.parts:
            raise self._escape(given)
        if path.is_absolute():
            try:
                path = path.relative_to(self.base)
            except ValueError:
                raise self._escape(given) from None
        return path

    def _inside(self, path: Path, given: str) -> Path:
        """The real path of ``path``, which must stay inside the folder once symlinks resolve."""
        real = path.resolve()
        if real != self.base and not real.is_relative_to(self.base):
            raise self._escape(given)
        return real

    def files(self, given: str) -> list[Path]:
        """The files a port path names: a file, every data file below a folder, or a glob."""
        self._require_base()
        rel = self._relative(given)
        if _GLOB.search(str(rel)):
            matches = sorted(self.base.glob(str(rel)))
        else:
            target = self.base / rel
            if target.is_dir() or (target.is_symlink() and target.resolve().is_dir()):
                folder = self._inside(target, given)
                matches = sorted(p for p in folder.rglob("*") if file_format(p) and not _hidden(p, folder))
            elif target.exists() or target.is_symlink():
                matches = [target]
            else:
                names = [t.name for t in self.list_tables()]
                raise self.error(
                    f"table '{given}' not found in source '{self.name}'",
                    hint=did_you_mean(given, names) or "no file or folder of that name below the source's folder",
                )
        out = []
        for match in matches:
            real = self._inside(match, given)
            if real.is_file():
                out.append(real)
        if not out:
            raise self.error(f"no data files match '{given}' in source '{self.name}'", hint="check the path or glob")
        return out

    def _format(self, port: OutputPort, files: list[Path]) -> str:
        if port.format:
            return port.format
        formats = {file_format(f) for f in files}
        if len(formats) != 1 or None in formats:
            raise self.error(
                f"cannot tell the format of '{port.path}' from its file names",
                hint="set 'format' (parquet, csv or json) on the output port",
            )
        return str(formats.pop())

    def _relation(self, port: OutputPort) -> tuple[str, list[Path], str]:
        """The DuckDB table function call reading a port, its files and their format."""
        if not port.path:
            raise self.error("a files output port needs 'path'")
        files = self.files(port.path)
        fmt = self._format(port, files)
        options: dict[str, Any] = {}
        if fmt == "csv" and all(f.name.lower().endswith((".tsv", ".tsv.gz", ".tsv.zst")) for f in files):
            options["delim"] = "\t"
        allowed = _OPTIONS[fmt]
        for key, value in port.options.items():
            kind = allowed.get(key)
            if kind is None or not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise self.error(
                    f"option '{key}' is not a {fmt} reader option meshfabric passes on",
                    hint="allowed: " + ", ".join(f"{k} ({t.__name__})" for k, t in sorted(allowed.items())),
                )
            options[key] = value
        paths = exp.Array(expressions=[exp.Literal.string(str(f)) for f in files])
        args = [paths.sql("duckdb")] + [f"{key} = {_literal(value)}" for key, value in options.items()]
        return f"{_READERS[fmt]}({', '.join(args)})", files, fmt

    def _describe(self, con: duckdb.DuckDBPyConnection, relation: str, files: list[Path]) -> list[ColumnInfo]:
        """:func:`describe` of ``relation``, remembered while its files keep their sizes and
        modification times: describing asks DuckDB three questions (~7 ms for one Parquet file),
        on the path of every query reading the files in place."""
        try:
            key = (relation, *((str(f), st.st_mtime_ns, st.st_size) for f in files for st in (f.stat(),)))
        except OSError:  # a file that went away: DuckDB says so
            return describe(con, relation)
        with self._described_lock:
            known = self._described.get(key)
        if known is not None:
            return list(known)
        found = describe(con, relation)
        with self._described_lock:
            if len(self._described) >= _DESCRIBED_MAX:
                self._described.pop(next(iter(self._described)))
            self._described[key] = found
        return list(found)

    @contextmanager
    def _duckdb(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A private in-memory DuckDB that may read only below the source folder, from the pool.

        Starting a DuckDB instance costs ~25 ms and closing it ~10, more than reading a small
        file; an instance only ever reads files (nothing is created in it), its configuration is
        locked, and DuckDB checks a cached file's modification time, so reuse sees new data.
        """
        import duckdb

        try:
            with self._pool.connection() as con:
                yield con
        except duckdb.Error as exc:
            raise self.error(f"cannot read files: {str(exc).splitlines()[0]}") from None

    def close(self) -> None:
        self._pool.close()

    # -- interface -----------------------------------------------------------------------------

    def test(self) -> None:
        self._require_base()
        if not os.access(self.base, os.R_OK | os.X_OK):
            raise self.error(f"folder '{self.spec.path}' is not readable", hint="check its permissions")

    def list_tables(self) -> list[TableInfo]:
        """Datasets, not files: the files of one kind in a folder (or below a hive-style
        ``key=value`` folder tree) that share a schema are listed once as a glob; files of a
        folder whose schemas differ are listed apart (a subset sharing a name prefix as its own
        glob). Schemas are read from file headers only: Parquet footers, a CSV's header line,
        a JSON file's first record."""
        self._require_base()
        groups: dict[tuple[str, str], list[str]] = {}
        for folder, dirs, names in os.walk(self.base):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            here = Path(folder).relative_to(self.base)
            anchor, hive = here, False
            while anchor.parts and _HIVE_DIR.match(anchor.name):
                anchor, hive = anchor.parent, True
            for name in sorted(names):
                if name.startswith((".", "_")) or not file_format(name):
                    continue
                ext = _extension(name)
                key = (anchor.as_posix() + ("/**" if hive else ""), ext)
                groups.setdefault(key, []).append((here / name).as_posix())
        out = []
        for (folder, ext), members in sorted(groups.items()):
            prefix = "" if folder in (".", "") else folder + "/"
            if len(members) == 1 and "**" not in folder:
                out.append(TableInfo(members[0], None, "file"))
            elif "**" in folder:
                out.append(TableInfo(f"{prefix}*{ext}", None, "file"))
            else:
                out += [TableInfo(name, None, "file") for name in self._by_schema(members, prefix, ext)]
        return out

    def _by_schema(self, members: list[str], prefix: str, ext: str) -> list[str]:
        """One folder's files of one kind as datasets: ``prefix*ext`` when they share a schema,
        else each set of files sharing one as a name-prefix glob when that glob selects exactly
        them, else file by file. Folders of more than 50 files are judged on 50 of them."""
        step = max(1, len(members) // 50)
        probe = [*members[::step][:50], members[-1]]
        signatures = {m: _file_schema(self.base / m) for m in dict.fromkeys(probe)}
        if len(set(signatures.values())) <= 1:
            return [f"{prefix}*{ext}"]
        names: list[str] = []
        by_signature: dict[tuple[str, ...] | None, list[str]] = {}
        for member in members:  # files not probed fall back to their own schema
            sig = signatures[member] if member in signatures else _file_schema(self.base / member)
            by_signature.setdefault(sig, []).append(member)
        for files in by_signature.values():
            if len(files) == 1:
                names.append(files[0])
                continue
            stems = [Path(f).name for f in files]
            common = os.path.commonprefix(stems)  # noqa: RUF071 - a name prefix, not a path
            chosen = [m for m in members if Path(m).name.startswith(common) and m.endswith(ext)]
            if common and sorted(chosen) == sorted(files):
                names.append(f"{prefix}{common}*{ext}")
            else:
                names += files
        return sorted(names)

    def columns(self, port: OutputPort) -> list[ColumnInfo]:
        relation, files, _ = self._relation(port)
        with self._duckdb() as con:
            return self._describe(con, relation, files)

    def run_on_port(self, port: OutputPort, fn: Callable[[PortSession], T]) -> T:
        relation, files, _ = self._relation(port)
        with self._duckdb() as con:
            cols = self._describe(con, relation, files)
            return fn(PortSession(relation, cols, self.dialect, lambda sql: fetch_rows(con, sql)))

    def scan(self, request: ScanRequest) -> ScanResult:
        started = time.perf_counter()
        request.check()
        relation, files, _ = self._relation(request.port)
        with self._duckdb() as con:  # scan_relation interrupts the reader when the time is up
            return scan_relation(self, con, request, relation, self._describe(con, relation, files), started)

    def read_in_place(self, request: ScanRequest) -> InPlaceRead:
        """The DuckDB statement reading ``request`` from the files themselves: the engine runs it
        in its own session (whose only readable files are these), so DuckDB's reader prunes row
        groups, reads in parallel and streams into the join instead of a copy through Arrow."""
        relation, files, _ = self._relation(request.port)
        with self._duckdb() as con:
            cols = self._describe(con, relation, files)
        try:
            plan = plan_scan(request, {c.name: c for c in cols}, "duckdb", relation=relation, rules=self.pushdown_rules)
        except UnknownColumn as exc:
            raise column_not_found(self, exc.name, request.port.path or "path", exc.available) from None
        sql = plan.sql
        if plan.count_only:
            names = ", ".join(quote_ident(c.name, "duckdb") for c in cols[:1])
            sql = f"SELECT {names} FROM {relation}" + (
                " WHERE " + " AND ".join(f"({p.sql('duckdb')})" for p in plan.prepared) if plan.prepared else ""
            ) + (f" LIMIT {int(request.limit)}" if plan.limit_pushed and request.limit is not None else "")
        listed = exp.Array(expressions=[exp.Literal.string(str(f)) for f in files]).sql("duckdb")
        shown = sql.replace(listed, exp.Literal.string(str(request.port.path)).sql("duckdb"), 1)
        return InPlaceRead(sql, tuple(str(f) for f in files), plan.pushed, shown)

    def write(self, table: str, data: pa.Table, mode: Literal["append", "replace", "create"] = "append") -> int:
        """Write a file in the format its name says: Parquet, CSV (``.tsv``: tab-separated) or
        JSON lines (``.parquet`` is added to a bare name). Atomic: a temporary file is renamed
        over the target, so readers see the old or the new file, never half. Appending to a
        text file keeps its old bytes as they are and adds the rows after them."""
        if mode not in ("append", "replace", "create"):
            raise self.error(f"unknown write mode '{mode}'", hint="use append, replace or create")
        self._require_base()
        rel = self._relative(table)
        if _GLOB.search(str(rel)) or not rel.parts:
            raise self.error(f"'{table}' is not a file name")
        if file_format(rel) is None:
            rel = rel.with_name(rel.name + ".parquet")
        if rel.name.lower().endswith(_COMPRESSED):
            raise self.error(f"cannot write '{table}': compressed files are only read",
                             hint="write to an uncompressed .parquet, .csv or .jsonl file")
        fmt = file_format(rel)
        target = self.base / rel
        self._inside(target.parent, table)
        target.parent.mkdir(parents=True, exist_ok=True)
        target = self._inside(target, table)
        with _write_lock(target):
            exists = target.exists()
            if exists and mode == "create":
                raise self.error(f"file '{table}' already exists", hint="write with mode 'append' or 'replace'")
            old = target if exists and mode == "append" and target.stat().st_size else None
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
            try:
                if fmt == "parquet":
                    self._write_parquet(tmp, old, data, table)
                else:
                    self._write_text(tmp, old, data, str(fmt), "\t" if target.suffix.lower() == ".tsv" else ",", table)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        return int(data.num_rows)

    def _write_parquet(self, tmp: Path, old: Path | None, data: pa.Table, table: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        out = data
        if old is not None:
            try:
                out = pa.concat_tables([pq.read_table(old), data], promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise self.error(f"cannot append to '{table}': {str(exc)[:200]}") from None
        pq.write_table(out, tmp)

    def _write_text(self, tmp: Path, old: Path | None, data: pa.Table, fmt: str, delimiter: str, table: str) -> None:
        """CSV through Arrow's writer (with a header when the file is new); JSON lines through
        DuckDB, which writes decimals as exact numbers and times as ISO strings."""
        if fmt == "json" and old is not None and _first_byte(old) == b"[":
            raise self.error(f"cannot append to '{table}': it holds one JSON array, not one object per line",
                             hint="rewrite it as JSON lines (one object per line), or write with mode 'replace'")
        if fmt == "csv" and old is not None:
            data = self._csv_order(old, data, delimiter, table)
        with tmp.open("wb") as out:
            if old is not None:
                with old.open("rb") as src:
                    shutil.copyfileobj(src, out)
                    src.seek(-1, os.SEEK_END)
                    if src.read(1) != b"\n":
                        out.write(b"\n")
            if fmt == "csv":
                import pyarrow.csv as pcsv

                pcsv.write_csv(data, out, pcsv.WriteOptions(include_header=old is None, delimiter=delimiter))
        if fmt == "json":
            _append_json_lines(tmp, data)

    def _csv_order(self, old: Path, data: pa.Table, delimiter: str, table: str) -> pa.Table:
        """``data``'s columns in the order of the CSV file's header, which must name the same columns."""
        import csv

        with old.open(encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh, delimiter=delimiter), [])
        by_name = {n.lower(): n for n in data.column_names}
        if sorted(h.strip().lower() for h in header) != sorted(by_name):
            raise self.error(
                f"cannot append to '{table}': its header ({', '.join(header)}) does not name the columns "
                f"written ({', '.join(data.column_names)})",
                hint="make the file's header match the product's schema, or write with mode 'replace'",
            )
        return data.select([by_name[h.strip().lower()] for h in header])

    def stats(self, port: OutputPort) -> TableStats:
        """Parquet row counts come exactly from file footers; small text files are counted and
        large ones estimated from the lines in their first megabyte."""
        import pyarrow.parquet as pq

        relation, files, fmt = self._relation(port)
        size = sum(f.stat().st_size for f in files)
        if fmt == "parquet":
            return TableStats(sum(pq.ParquetFile(f).metadata.num_rows for f in files), size, exact=True)
        if size <= COUNT_TEXT_BYTES:
            with self._duckdb() as con:
                return TableStats(int(con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]), size, exact=True)
        return TableStats(sum(_estimate_lines(f) for f in files), size, exact=False)

    def statistics(self, port: OutputPort, *, analyze: str = "never") -> TableStatistics:
        """Parquet: everything from the file footers (no data page is read) — exact row count,
        per column min/max over the row groups' statistics, the null fraction from their null
        counts, a distinct count where the writer stored one (one row group only); a column
        some row group keeps no statistics for gets none. CSV and JSON: the row count of
        :meth:`stats` (counted up to 32 MB, else estimated), and for files that small one
        aggregate statement over them gives exact column statistics as part of the count."""
        from meshfabric.connectors.statistics import guarded

        return guarded(self, port, lambda: self._statistics(port), origin="files")

    def _statistics(self, port: OutputPort) -> TableStatistics:
        from meshfabric.connectors.statistics import aggregate_columns, aggregate_sql, now

        relation, files, fmt = self._relation(port)
        size = sum(f.stat().st_size for f in files)
        cols = self.columns(port)
        if fmt == "parquet":
            rows, columns = _parquet_footers(files, cols)
            return TableStatistics(rows, size, columns, exact=True, taken_at=now(), origin="parquet footer")
        if size > COUNT_TEXT_BYTES:
            basic = self.stats(port)
            return TableStatistics(basic.row_count, size, exact=False, taken_at=now(), origin=f"{fmt} line estimate")
        sql = aggregate_sql(relation, cols, "duckdb")
        with self._duckdb() as con:
            if sql is None:
                count = int(con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0])
                return TableStatistics(count, size, exact=True, taken_at=now(), origin=f"{fmt} count")
            values = fetch_rows(con, sql)[0]
        rows, columns = aggregate_columns(values, cols)
        return TableStatistics(rows, size, columns, exact=True, taken_at=now(), origin=f"{fmt} aggregate (small file)")


def _parquet_footers(files: list[Path], cols: list[ColumnInfo]) -> tuple[int, dict[str, ColumnStatistics]]:
    """Row count and column statistics of Parquet files from their footers alone."""
    import pyarrow.parquet as pq

    from meshfabric.connectors.statistics import bounds, coerce, column

    wanted = {c.name: c for c in cols}
    rows = 0
    lows: dict[str, list[Any]] = {n: [] for n in wanted}
    highs: dict[str, list[Any]] = {n: [] for n in wanted}
    nulls: dict[str, int] = dict.fromkeys(wanted, 0)
    distinct: dict[str, float | None] = dict.fromkeys(wanted)
    unknown_minmax: set[str] = set()
    unknown_nulls: set[str] = set()
    groups = 0
    seen: set[str] = set()
    for path in files:
        meta = pq.ParquetFile(path).metadata
        rows += meta.num_rows
        index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
        for name in wanted:
            if name not in index:
                unknown_minmax.add(name)  # a hive partition column, or a column only some files have
                unknown_nulls.add(name)
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            groups += 1
            for name, i in index.items():
                if name not in wanted:
                    continue
                seen.add(name)
                stats = group.column(i).statistics
                if group.num_rows == 0:
                    continue
                if stats is None:
                    unknown_minmax.add(name)
                    unknown_nulls.add(name)
                    continue
                if stats.has_min_max:
                    lows[name].append(coerce(stats.min, wanted[name].type))
                    highs[name].append(coerce(stats.max, wanted[name].type))
                elif not (stats.has_null_count and stats.null_count == group.num_rows):
                    unknown_minmax.add(name)  # an all-NULL row group has no min/max and needs none
                if stats.has_null_count:
                    nulls[name] += int(stats.null_count)
                else:
                    unknown_nulls.add(name)
                if groups == 1 and getattr(stats, "has_distinct_count", False):
                    distinct[name] = float(stats.distinct_count)
    out = {}
    for name, col in wanted.items():
        if name not in seen:
            continue
        low = high = None
        if name not in unknown_minmax and None not in lows[name] + highs[name]:
            low, high = bounds(lows[name])[0], bounds(highs[name])[1]
        out[col.name] = column(
            distinct=distinct[name] if groups == 1 else None,
            null_fraction=nulls[name] / rows if rows and name not in unknown_nulls else None,
            low=low,
            high=high,
        )
    return rows, out


def _confined_duckdb(base: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB allowed to read below ``base`` only, its configuration locked."""
    import duckdb

    con = duckdb.connect(":memory:", config={k: v for k, v in SAFE_CONFIG.items() if k != "enable_external_access"})
    try:
        folder = exp.Literal.string(str(base) + os.sep).sql("duckdb")
        con.execute(f"SET allowed_directories = [{folder}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _first_byte(path: Path) -> bytes:
    """The first byte of a text file that is not white space (b"" when there is none)."""
    with path.open("rb") as fh:
        while chunk := fh.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return stripped[:1]
    return b""


def _append_json_lines(path: Path, data: pa.Table) -> None:
    """Add ``data`` to ``path`` as JSON lines, written by a throwaway DuckDB (not a confined
    reader: this one writes, and only to the path the connector checked)."""
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        con.register("batch", data)
        part = path.with_name(path.name + ".part")
        try:
            con.execute(f"COPY batch TO {exp.Literal.string(str(part)).sql('duckdb')} (FORMAT json)")
            with path.open("ab") as out, part.open("rb") as src:
                shutil.copyfileobj(src, out)
        finally:
            part.unlink(missing_ok=True)
    finally:
        con.close()


def _close(con: duckdb.DuckDBPyConnection) -> None:
    con.close()


def _hidden(path: Path, folder: Path) -> bool:
    return any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return exp.Literal.string(str(value)).sql("duckdb")


def _estimate_lines(path: Path, sample: int = 1 << 20) -> int:
    """Lines in a large text file, extrapolated from its first ``sample`` bytes (decompressed
    bytes against compressed size for .gz/.zst files)."""
    size = path.stat().st_size
    name = path.name.lower()
    if name.endswith(".gz"):
        import gzip

        with gzip.open(path, "rb") as fh:
            head = fh.read(sample)
            consumed = max(fh.fileobj.tell() if fh.fileobj else size, 1)  # type: ignore[attr-defined]
    elif name.endswith(".zst"):
        return size // 20  # no zstd reader in the standard library: ~5x ratio, ~100 bytes a row
    else:
        with path.open("rb") as fh:
            head = fh.read(sample)
        consumed = max(len(head), 1)
    return int(head.count(b"\n") * size / consumed)
