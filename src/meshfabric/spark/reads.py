"""How one scan of a plan becomes a Spark DataFrame, read where Spark's executors can reach it.

* PostgreSQL and MySQL/MariaDB: a JDBC read whose statement is exactly what the connector would
  send (:func:`meshfabric.query.planner.source_statement`: projection, pushed filters, pushed
  joins, in the source's dialect). A big table with an integer column whose bounds the
  statistics know is read in :func:`partitioning` ranges by several executors at once.
* Parquet files: Spark's own reader over the files the connector resolves (its filters prune
  row groups); the pushed filters are applied on top, in Spark SQL.
* CSV and JSON files: Spark's own ``csv``/``json`` readers over the same files, with an explicit
  schema (never Spark's inference): the columns and types DuckDB reads from those files, which
  must be the product's declared ones. The CSV dialect (delimiter, quote, escape, header) is
  what DuckDB's sniffer finds with the port's options. Whatever Spark cannot read the same way
  (options Spark lacks, types without an exact Spark equivalent, nested JSON, zstd files, date
  formats other than ISO) goes through the connector instead — never a different answer.
* SQLite: JDBC through Debian's ``sqlite-jdbc`` when its jar is there.
* Anything else (SQLite without the jar, DuckDB files, the CSV/JSON cases above): meshfabric's
  own connector reads the scan into Arrow on the driver and Spark takes it from there.

Spark never pushes anything of its own into a JDBC source (``pushDownPredicate`` and friends
are off): what reaches a source is only what meshfabric decided is safe to push — a MariaDB
column compares case-insensitively, and ``p_brand = 'Brand#12'`` would match ``brand#12``
there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshfabric.spark.session import DRIVERS, require_driver

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from meshfabric.connectors.base import Connector, Deadline, InPlaceRead
    from meshfabric.query.catalog import ProductCatalog
    from meshfabric.query.planner import Scan

#: a JDBC scan of at least this many rows (by the statistics) is read in ranges of about this size
PARTITION_ROWS = 500_000
#: at most this many concurrent range reads of one scan (connections the source must accept)
MAX_PARTITIONS = 16

#: Spark's own JDBC pushdown, all off: only meshfabric's vetted filters reach a source
_NO_SPARK_PUSHDOWN = {
    "pushDownPredicate": "false",
    "pushDownAggregate": "false",
    "pushDownLimit": "false",
    "pushDownOffset": "false",
    "pushDownTableSample": "false",
    "pushDownJoin": "false",
}


@dataclass
class ScanRead:
    """A scan as Spark reads it: the DataFrame, what the source was sent, how it was read."""

    frame: DataFrame
    source_sql: str | None
    #: "jdbc", "jdbc (N ranges on col)", "parquet", "csv", "json", "arrow"
    how: str
    #: rows already read on the driver (connector reads), else None (counted by Spark)
    rows: int | None = None
    seconds: float = 0.0


def jdbc_url(kind: str, connector: Connector) -> tuple[str, dict[str, str]]:
    """The JDBC URL of a server source and the connection properties (user, password apart,
    so Spark redacts the password wherever it prints options).

    MariaDB's driver is addressed as ``jdbc:mysql:`` so that Spark uses its MySQL dialect
    (backtick quoting, MySQL types); its own ``jdbc:mariadb:`` would get the generic dialect
    and double-quoted names, which MariaDB reads as strings.
    """
    from meshfabric.connectors import server_address

    addr = server_address(connector.spec, default_port=int(getattr(connector, "default_port", 0) or 0))
    host = f"[{addr.host}]" if ":" in addr.host else addr.host
    params = dict(addr.params)
    if kind == "mysql":
        params["permitMysqlScheme"] = ""
        # the MySQL protocol's zero dates would fail the read instead of being NULL
        params.setdefault("zeroDateTimeBehavior", "convertToNull")
        scheme = "mysql"
    else:
        scheme = "postgresql"
    query = "&".join(f"{k}={v}" if v else k for k, v in params.items())
    url = f"jdbc:{scheme}://{host}:{addr.port}/{addr.database or ''}" + (f"?{query}" if query else "")
    props = {"driver": DRIVERS[kind].driver_class}
    if addr.user:
        props["user"] = addr.user
    if addr.password:
        props["password"] = addr.password
    return url, props


def partitioning(scan: Scan, catalog: ProductCatalog, parallelism: int) -> tuple[str, int, int, int] | None:
    """``(column, lower, upper, partitions)`` for a range-partitioned JDBC read, or None.

    Only scans the statistics say are large (≥ 2 × :data:`PARTITION_ROWS` rows) and that read
    an integer column with known bounds; the most distinct such column is used. The bounds
    only set the stride — Spark's first and last ranges are open — so stale statistics cost
    balance, never rows.
    """
    stats = catalog.statistics(scan.binding)
    if stats is None or not stats.row_count or stats.row_count < 2 * PARTITION_ROWS:
        return None
    types = {c.name.lower(): c.type.name for c in scan.binding.columns}
    best: tuple[float, str, int, int] | None = None
    for name in scan.columns:
        if types.get(name.lower()) not in ("smallint", "integer", "bigint"):
            continue
        col = next((v for k, v in stats.columns.items() if k.lower() == name.lower()), None)
        if col is None or not isinstance(col.min, int) or not isinstance(col.max, int) or col.max <= col.min:
            continue
        distinct = col.distinct or 0.0
        if distinct < 0:  # PostgreSQL writes a share of the rows as a negative number
            distinct = -distinct * stats.row_count
        if best is None or distinct > best[0]:
            best = (distinct, name, col.min, col.max)
    if best is None:
        return None
    wanted = math.ceil(stats.row_count / PARTITION_ROWS)
    return best[1], best[2], best[3], max(2, min(MAX_PARTITIONS, wanted, max(2, parallelism * 2)))


def read_scan(spark: SparkSession, scan: Scan, catalog: ProductCatalog, jars: dict[str, Path],
              deadline: Deadline | None = None) -> ScanRead:
    """The DataFrame of ``scan`` (its columns, its pushed filters applied; count-only scans: a
    frame with the right number of rows and no columns)."""
    connector = catalog.connector(scan.source)
    kind = connector.kind
    if kind in ("postgres", "mysql"):
        return _jdbc(spark, scan, catalog, connector, jars, deadline)
    if kind == "files":
        fmt = _format(connector, scan)
        if fmt == "parquet":
            return _parquet(spark, scan, connector)
        if fmt in ("csv", "json"):
            native = _text(spark, scan, connector, fmt)
            if native is not None:
                return native
    if kind == "sqlite" and "sqlite" in jars and Path(jars["sqlite"]).is_file():
        return _jdbc(spark, scan, catalog, connector, jars, deadline)
    return _through_connector(spark, scan, connector, deadline)


def _jdbc(spark: SparkSession, scan: Scan, catalog: ProductCatalog, connector: Connector, jars: dict[str, Path],
          deadline: Deadline | None) -> ScanRead:
    from meshfabric.query.planner import source_statement

    kind = connector.kind
    require_driver(kind, jars)
    statement = source_statement(scan, catalog)
    if kind == "sqlite":
        url, props = _sqlite_url(connector), {"driver": DRIVERS["sqlite"].driver_class}
    else:
        url, props = jdbc_url(kind, connector)
    reader = spark.read.format("jdbc").option("url", url).option("fetchsize", "10000")
    for key, value in {**props, **_NO_SPARK_PUSHDOWN}.items():
        reader = reader.option(key, value)
    if kind == "postgres" or kind == "mysql":
        # a TIMESTAMP without time zone stays one (not shifted into the session's zone)
        reader = reader.option("preferTimestampNTZ", "true")
    if deadline is not None:
        reader = reader.option("queryTimeout", str(max(1, math.ceil(deadline.remaining()))))
    if not scan.columns:
        # the statement counts (one row, column n): the view needs that many rows, no columns
        counted = reader.option("query", statement).load().collect()
        rows = int(counted[0][0]) if counted else 0
        return ScanRead(spark.range(rows).select(), statement, "jdbc (count)", rows=rows)
    if kind == "sqlite":
        return _sqlite(reader, scan, statement)
    ranges = partitioning(scan, catalog, spark.sparkContext.defaultParallelism)
    if ranges is None:
        return ScanRead(reader.option("query", statement).load(), statement, "jdbc")
    column, low, high, parts = ranges
    # `query` cannot be combined with partitionColumn: the statement becomes a derived table
    frame = (reader.option("dbtable", f"({statement}) mf_scan").option("partitionColumn", column)
             .option("lowerBound", str(low)).option("upperBound", str(high + 1))
             .option("numPartitions", str(parts)).load())
    return ScanRead(frame, statement, f"jdbc ({parts} ranges on {column})")


#: logical types as the Spark type a SQLite column is read as (SQLite stores any value in any
#: column: sqlite-jdbc would read a declared INTEGER as 32 bits and parse dates in one format only)
_SQLITE_READ = {"boolean": "BOOLEAN", "tinyint": "BIGINT", "smallint": "BIGINT", "integer": "BIGINT",
                "bigint": "BIGINT", "float": "DOUBLE", "double": "DOUBLE", "binary": "BINARY"}
#: read as text, then cast by Spark, which parses ISO dates and timestamps in every common layout
_SQLITE_CAST = {"date": "DATE", "timestamp": "TIMESTAMP_NTZ", "timestamptz": "TIMESTAMP"}


def _sqlite(reader: Any, scan: Scan, statement: str) -> ScanRead:
    """A SQLite scan over JDBC with every column read as the type its product declares."""
    from sqlglot import exp

    declared = {c.name.lower(): c.type for c in scan.binding.columns}
    schema, casts = [], []
    for name in scan.columns:
        logical = declared.get(name.lower())
        quoted = exp.column(name, quoted=True).sql(dialect="spark")
        kind = logical.name if logical is not None else "string"
        if kind == "decimal" and logical is not None and logical.precision:
            spark_type = f"DECIMAL({logical.precision}, {logical.scale or 0})"
        else:
            spark_type = _SQLITE_READ.get(kind, "STRING")
        schema.append(f"{quoted} {spark_type}")
        casts.append(f"CAST({quoted} AS {_SQLITE_CAST[kind]}) AS {quoted}" if kind in _SQLITE_CAST else quoted)
    frame = reader.option("query", statement).option("customSchema", ", ".join(schema)).load()
    return ScanRead(frame.selectExpr(*casts), statement, "jdbc")


def _sqlite_url(connector: Connector) -> str:
    base = Path(str(connector.spec.path or "")).expanduser()
    path = base if base.is_absolute() else Path(connector.root) / base
    return f"jdbc:sqlite:{path.resolve()}?open_mode=1"  # SQLITE_OPEN_READONLY


def _format(connector: Connector, scan: Scan) -> str | None:
    from meshfabric.connectors.files import file_format

    port = scan.binding.port
    if port.format:
        return port.format
    try:
        files = connector.files(str(port.path))  # type: ignore[attr-defined]
    except Exception:
        return None
    formats = {file_format(f) for f in files}
    return formats.pop() if len(formats) == 1 else None


def _parquet(spark: SparkSession, scan: Scan, connector: Connector) -> ScanRead:
    """Spark's Parquet reader over the scan's files, then its projection and pushed filters."""

    read = connector.read_in_place(scan.request())
    return _in_place(spark.read.parquet(*read.paths), scan, read, "parquet")


def _in_place(frame: Any, scan: Scan, read: InPlaceRead, how: str) -> ScanRead:
    """A file reader's frame with the scan's pushed filters, projection and limit applied in
    Spark, as the DuckDB engine applies them in place."""
    from sqlglot import exp

    if read.pushed:
        condition = exp.and_(*[f.copy() for f in read.pushed])
        frame = frame.where(condition.sql(dialect="spark"))
    names = [exp.column(c, quoted=True).sql(dialect="spark") for c in scan.columns]
    frame = frame.selectExpr(*names) if names else frame.select()
    if scan.limit is not None and len(read.pushed) == len(scan.filters):
        frame = frame.limit(scan.limit)
    return ScanRead(frame, read.shown or read.sql, how)


#: DuckDB's types as read from CSV/JSON → the Spark type holding exactly the same values
_TEXT_TYPES = {"BOOLEAN": "BOOLEAN", "TINYINT": "TINYINT", "SMALLINT": "SMALLINT", "INTEGER": "INT",
               "BIGINT": "BIGINT", "FLOAT": "FLOAT", "DOUBLE": "DOUBLE", "VARCHAR": "STRING", "DATE": "DATE",
               "TIMESTAMP": "TIMESTAMP_NTZ"}
#: port options Spark's readers honour the same way (others: the connector reads the scan)
_CSV_OPTIONS = {"header", "delim", "sep", "quote", "escape", "sample_size"}
_JSON_OPTIONS = {"format", "sample_size", "maximum_depth"}


def _spark_type(native: str) -> str | None:
    import re

    native = native.upper().strip()
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", native)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        return f"DECIMAL({precision}, {scale})" if precision <= 38 else None
    return _TEXT_TYPES.get(native)


def _text(spark: SparkSession, scan: Scan, connector: Connector, fmt: str) -> ScanRead | None:
    """Spark's CSV or JSON reader over the scan's files with an explicit schema, or None when
    Spark would not read them exactly as DuckDB does (then the connector reads the scan)."""
    from sqlglot import exp

    port = scan.binding.port
    if set(port.options) - (_CSV_OPTIONS if fmt == "csv" else _JSON_OPTIONS):
        return None
    read = connector.read_in_place(scan.request())
    files = [Path(p) for p in read.paths]
    if not files or any(f.name.lower().endswith(".zst") for f in files):
        return None
    columns = connector.columns(port)  # type: ignore[attr-defined]
    declared = {c.name.lower(): c.type for c in scan.binding.columns}
    schema = []
    for col in columns:
        spark_type = _spark_type(col.native_type)
        want = declared.get(col.name.lower())
        if spark_type is None or want is None or not want.matches(col.type):
            return None  # a type Spark has no exact equivalent of, or not the declared one
        schema.append(f"{exp.column(col.name, quoted=True).sql(dialect='spark')} {spark_type}")
    if len(declared) != len(columns):
        return None
    if fmt == "csv":
        options = _csv_dialect(connector, port, files)
        if options is None:
            return None
        frame = spark.read.schema(", ".join(schema)).options(**options).csv([str(f) for f in files])
        # DuckDB reads an empty field, quoted or not, as NULL (Spark: a quoted one as '')
        frame = frame.selectExpr(*[
            f"nullif({q}, '') AS {q}" if _spark_type(c.native_type) == "STRING" else q
            for c in columns for q in [exp.column(c.name, quoted=True).sql(dialect="spark")]
        ])
    else:
        multiline = _json_layout(port, files)
        if multiline is None:
            return None
        frame = (spark.read.schema(", ".join(schema)).option("mode", "FAILFAST")
                 .option("multiLine", "true" if multiline else "false")
                 .option("dateFormat", "yyyy-MM-dd").option("allowNumericLeadingZeros", "false")
                 .json([str(f) for f in files]))
    return _in_place(frame, scan, read, fmt)


def _csv_dialect(connector: Connector, port: Any, files: list[Path]) -> dict[str, str] | None:
    """Spark CSV options reading ``files`` as DuckDB's sniffer does with the port's options:
    one delimiter, quote, escape and header for all files, ISO dates, no skipped rows."""
    from sqlglot import exp

    given = [f"{k} = {exp.Literal.string(v).sql('duckdb') if isinstance(v, str) else str(v).lower()}"
             for k, v in port.options.items()
             if k in ("header", "delim", "sep", "quote", "escape", "sample_size")]
    if any(f.name.lower().endswith((".tsv", ".tsv.gz")) for f in files) and not {"delim", "sep"} & set(port.options):
        if not all(f.name.lower().endswith((".tsv", ".tsv.gz")) for f in files):
            return None
        given.append("delim = '\t'")
    found = set()
    try:
        with connector._duckdb() as con:  # type: ignore[attr-defined]
            for f in files:
                args = ", ".join([exp.Literal.string(str(f)).sql("duckdb"), *given])
                row = con.execute("SELECT Delimiter, Quote, Escape, SkipRows, HasHeader, DateFormat, TimestampFormat "
                                  f"FROM sniff_csv({args})").fetchone()
                found.add(tuple(row))
    except Exception:
        return None
    if len(found) != 1:
        return None
    delimiter, quote, escape, skip, header, date_format, ts_format = found.pop()
    if quote in (None, "", "(empty)"):
        quote = escape = ""  # DuckDB found no quoting: a quote character is data (Spark: quoting off)
    elif escape in (None, "", "(empty)"):
        escape = quote  # RFC 4180: a quote inside a quoted field is doubled
    if len(delimiter or "") != 1 or len(quote) > 1 or len(escape) > 1 or skip \
            or date_format not in (None, "%Y-%m-%d") or ts_format is not None:
        return None
    dialect = {"sep": delimiter, "quote": quote} | ({"escape": escape} if escape else {})
    return dialect | {"header": "true" if header else "false", "multiLine": "true", "mode": "FAILFAST",
                      "nullValue": "", "emptyValue": "", "dateFormat": "yyyy-MM-dd", "encoding": "UTF-8",
                      "ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false", "enforceSchema": "true"}


def _json_layout(port: Any, files: list[Path]) -> bool | None:
    """True for files each holding one JSON array, False for one object per line, None when
    they are mixed or laid out otherwise (pretty-printed objects)."""
    import gzip
    import json

    wanted = port.options.get("format", "auto")
    layouts = set()
    for f in files:
        opener: Any = gzip.open if f.name.lower().endswith(".gz") else open
        try:
            with opener(f, "rt", encoding="utf-8") as fh:
                first = ""
                for line in fh:
                    if line.strip():
                        first = line.strip()
                        break
        except (OSError, UnicodeError):
            return None
        if first.startswith("["):
            layouts.add(True)
            continue
        try:
            json.loads(first)
        except ValueError:
            return None  # a pretty-printed object: not one record a line
        layouts.add(False)
    if len(layouts) != 1:
        return None
    array = layouts.pop()
    if wanted not in ("auto", "array" if array else "newline_delimited"):
        return None
    return array


def _through_connector(spark: SparkSession, scan: Scan, connector: Connector, deadline: Deadline | None) -> ScanRead:
    """meshfabric's connector reads the scan into Arrow; Spark gets the table from the driver."""
    request = scan.request()
    if deadline is not None:
        deadline.check()
        request.deadline = deadline
    result = connector.scan(request)
    table = result.table
    if table.num_columns == 0:
        return ScanRead(spark.range(table.num_rows).select(), result.source_sql, "arrow", rows=table.num_rows,
                        seconds=result.seconds)
    return ScanRead(_from_arrow(spark, table), result.source_sql, "arrow", rows=table.num_rows,
                    seconds=result.seconds)


def _from_arrow(spark: SparkSession, table: Any) -> DataFrame:
    """A DataFrame of an Arrow table (unsigned integers widened: Spark has none)."""
    import pyarrow as pa

    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_unsigned_integer(t):
            t = pa.int64() if t.bit_width < 64 else pa.decimal128(20, 0)
        elif pa.types.is_large_string(t):
            t = pa.string()
        fields.append(pa.field(f.name, t, f.nullable))
    schema = pa.schema(fields)
    if schema != table.schema:
        table = table.cast(schema)
    return spark.createDataFrame(table)
