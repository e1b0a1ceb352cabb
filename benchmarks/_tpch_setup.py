"""TPC-H data for the benchmarks: generate the Parquet files once, load the federated split fast.

The split is the one ``tests/tpch.py`` uses (``sales`` → PostgreSQL, ``supply`` → MariaDB,
``logistics`` → Parquet) and the column types are its :data:`tests.tpch.SCHEMA`; what differs is
speed, which matters at SF1:

* PostgreSQL: the table is created and filled with ``COPY … FREEZE`` in one transaction, streamed
  from the Parquet file as CSV batches rendered by Arrow; the primary key is added afterwards
  (one sorted index build instead of 1.5M insertions) and the table analysed.
* MariaDB: ``LOAD DATA LOCAL INFILE`` from a CSV file Arrow writes, when the server allows it
  (``local_infile``); otherwise multi-row ``INSERT`` batches. Tables are analysed afterwards.

Databases are named ``mf_bench_sf<scale>`` on both servers and reused when every table holds
the row count of its Parquet file (and, in MariaDB, the requested collation).
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests import tpch  # noqa: E402 - needs the repository root on sys.path first

DATA_ROOT = Path(__file__).resolve().parent / ".data"
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
MY_HOST, MY_PORT, MY_USER = "127.0.0.1", 3306, "root"

#: Where each table lives in the federated split.
PLACEMENT: dict[str, str] = {
    table: {"sales": "postgres", "supply": "mariadb", "logistics": "parquet"}[domain]
    for table, domain in tpch.DOMAINS.items()
}
PG_TABLES = tuple(t for t in tpch.TABLES if PLACEMENT[t] == "postgres")
MY_TABLES = tuple(t for t in tpch.TABLES if PLACEMENT[t] == "mariadb")

Log = Callable[[str], None]


def scale_label(scale: float) -> str:
    """``1`` → ``sf1``, ``0.1`` → ``sf0_1``: usable in folder and database names."""
    text = f"{scale:g}"
    return "sf" + text.replace(".", "_").replace("-", "_")


def database_name(scale: float) -> str:
    return f"mf_bench_{scale_label(scale)}"


def pg_url(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def mysql_url(database: str) -> str:
    return f"mysql://{MY_USER}@{MY_HOST}:{MY_PORT}/{database}"


@dataclass
class LoadReport:
    """What preparing the data did: seconds per step, and which tables were (re)loaded."""

    generate_seconds: float | None = None
    loaded: dict[str, float] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    mariadb_method: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "generate_seconds": self.generate_seconds,
            "loaded_seconds": self.loaded,
            "reused": self.reused,
            "mariadb_method": self.mariadb_method,
        }


# -- Parquet ----------------------------------------------------------------------------------------
def parquet_files(scale: float, report: LoadReport, log: Log) -> dict[str, Path]:
    """The eight tables as Parquet files in ``benchmarks/.data/sf<scale>``, generated if missing."""
    directory = DATA_ROOT / scale_label(scale)
    wanted = {t: directory / f"{t}.parquet" for t in tpch.TABLES}
    if all(p.exists() for p in wanted.values()):
        log(f"parquet: reusing {directory}")
        return wanted
    log(f"parquet: generating TPC-H SF{scale:g} with tpchgen-cli into {directory} ...")
    started = time.perf_counter()
    files = tpch.generate(scale, directory)
    report.generate_seconds = time.perf_counter() - started
    log(f"parquet: generated in {report.generate_seconds:.1f} s")
    return files


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _plain_batches(path: Path, batch_rows: int = 200_000) -> Iterator[Any]:
    """Record batches of a Parquet file with ``string_view`` columns cast to ``string``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(path)
    schema = handle.schema_arrow
    plain = pa.schema(
        [pa.field(f.name, pa.string(), f.nullable) if pa.types.is_string_view(f.type) else f for f in schema]
    )
    for batch in handle.iter_batches(batch_size=batch_rows):
        yield batch.cast(plain) if batch.schema != plain else batch


def _csv(batch: Any) -> bytes:
    import pyarrow.csv as pcsv

    sink = io.BytesIO()
    pcsv.write_csv(batch, sink, pcsv.WriteOptions(include_header=False))
    return sink.getvalue()


def _columns(table: str) -> list[str]:
    return [name for name, _ in tpch.SCHEMA[table]]


def _create_sql(table: str) -> str:
    columns = ", ".join(f'"{name}" {kind} NOT NULL' for name, kind in tpch.SCHEMA[table])
    return f"CREATE TABLE {table} ({columns})"


def _primary_key_sql(table: str) -> str:
    return f"ALTER TABLE {table} ADD PRIMARY KEY ({', '.join(tpch.PRIMARY_KEYS[table])})"


# -- PostgreSQL -------------------------------------------------------------------------------------
def prepare_postgres(
    database: str, files: dict[str, Path], *, reload: bool, report: LoadReport, log: Log, step: Log = print
) -> None:
    """Create ``database`` if needed and (re)load the PostgreSQL tables whose row counts differ;
    ``step`` is told of each table before it is checked."""
    import psycopg

    with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname=postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{database}"')
            log(f"postgres: created database {database}")

    with psycopg.connect(f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={database}", autocommit=True) as conn:
        for table in PG_TABLES:
            step(f"postgres: {table}")
            expected = parquet_rows(files[table])
            if not reload and _pg_count(conn, table) == expected:
                report.reused.append(f"postgres.{table}")
                continue
            started = time.perf_counter()
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            with conn.transaction():
                conn.execute(_create_sql(table))
                names = ", ".join(_columns(table))
                with (
                    conn.cursor() as cur,
                    cur.copy(f"COPY {table} ({names}) FROM STDIN WITH (FORMAT csv, FREEZE)") as cp,
                ):
                    for batch in _plain_batches(files[table]):
                        cp.write(_csv(batch))
            conn.execute(_primary_key_sql(table))
            conn.execute(f"VACUUM ANALYZE {table}")
            seconds = time.perf_counter() - started
            report.loaded[f"postgres.{table}"] = seconds
            log(f"postgres: loaded {table:<9} {expected:>10,} rows in {seconds:6.1f} s")


def _pg_count(conn: Any, table: str) -> int | None:
    found = conn.execute("SELECT to_regclass(%s)", (f"public.{table}",)).fetchone()
    if not found or found[0] is None:
        return None
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else None


# -- MariaDB ----------------------------------------------------------------------------------------
def _my_connect(database: str | None) -> Any:
    import pymysql

    return pymysql.connect(
        host=MY_HOST, port=MY_PORT, user=MY_USER, password="", database=database, autocommit=True, local_infile=True
    )


def prepare_mariadb(
    database: str,
    files: dict[str, Path],
    *,
    reload: bool,
    collation: str | None,
    report: LoadReport,
    log: Log,
    step: Log = print,
) -> None:
    """Create ``database`` if needed and (re)load the MariaDB tables whose row counts (or
    collation, when one is asked for) differ. ``collation`` None keeps the server default."""
    admin = _my_connect(None)
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
            cur.execute("SELECT @@GLOBAL.local_infile, @@collation_server")
            local_infile, server_collation = cur.fetchone()
    finally:
        admin.close()
    wanted_collation = collation or server_collation
    use_infile = str(local_infile).upper() in ("1", "ON")
    report.mariadb_method = "LOAD DATA LOCAL INFILE" if use_infile else "multi-row INSERT"

    conn = _my_connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
            for table in MY_TABLES:
                step(f"mariadb: {table}")
                expected = parquet_rows(files[table])
                if not reload and _my_state(cur, database, table) == (expected, wanted_collation):
                    report.reused.append(f"mariadb.{table}")
                    continue
                started = time.perf_counter()
                cur.execute(f"DROP TABLE IF EXISTS {table}")
                suffix = f" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE {wanted_collation}"
                cur.execute(_create_with_pk_mysql(table, suffix))
                if use_infile:
                    _my_load_infile(cur, table, files[table])
                else:
                    _my_load_inserts(cur, table, files[table])
                cur.execute(f"ANALYZE TABLE {table}")
                cur.fetchall()
                seconds = time.perf_counter() - started
                report.loaded[f"mariadb.{table}"] = seconds
                log(f"mariadb:  loaded {table:<9} {expected:>10,} rows in {seconds:6.1f} s ({report.mariadb_method})")
    finally:
        conn.close()


def _pk_clause(table: str) -> str:
    return f"PRIMARY KEY ({', '.join(tpch.PRIMARY_KEYS[table])})"


def _create_with_pk_mysql(table: str, suffix: str) -> str:
    """InnoDB clusters rows by the primary key: declaring it up front and loading in key order
    is faster than adding it afterwards (which rebuilds the whole table)."""
    columns = ", ".join(f"`{name}` {kind} NOT NULL" for name, kind in tpch.SCHEMA[table])
    return f"CREATE TABLE {table} ({columns}, {_pk_clause(table)}){suffix}"


def _my_state(cur: Any, database: str, table: str) -> tuple[int, str] | None:
    cur.execute(
        "SELECT table_collation FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
        (database, table),
    )
    found = cur.fetchone()
    if not found:
        return None
    cur.execute(f"SELECT count(*) FROM {table}")
    (count,) = cur.fetchone()
    return int(count), str(found[0])


def _my_load_infile(cur: Any, table: str, path: Path) -> None:
    with tempfile.NamedTemporaryFile("wb", suffix=".csv", dir=path.parent, delete=True) as handle:
        for batch in _plain_batches(path):
            handle.write(_csv(batch))
        handle.flush()
        literal = handle.name.replace("\\", "\\\\").replace("'", "\\'")
        cur.execute(
            f"LOAD DATA LOCAL INFILE '{literal}' INTO TABLE {table} CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' "
            f"({', '.join(_columns(table))})"
        )


def _my_load_inserts(cur: Any, table: str, path: Path, rows_per_statement: int = 5_000) -> None:
    names = _columns(table)
    insert = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
    for batch in _plain_batches(path, batch_rows=rows_per_statement):
        columns = [batch.column(name).to_pylist() for name in names]
        cur.executemany(insert, list(zip(*columns, strict=True)))


# -- everything -------------------------------------------------------------------------------------
def prepare(
    scale: float,
    *,
    reload: bool = False,
    mariadb_collation: str | None = None,
    log: Log = print,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[dict[str, Path], str, LoadReport]:
    """Generate and load everything; returns the Parquet files, the database name and a report.
    ``progress(what, done, total)`` is told of each step (a Rich bar from ``meshfabric.cli._progress``)."""
    report = LoadReport()
    total = 1 + len(PG_TABLES) + len(MY_TABLES)
    done = 0

    def step(what: str) -> None:
        nonlocal done
        if progress is not None:
            progress(what, done, total)
        done += 1

    step("parquet: TPC-H files")
    files = parquet_files(scale, report, log)
    database = database_name(scale)
    prepare_postgres(database, files, reload=reload, report=report, log=log, step=step)
    prepare_mariadb(database, files, reload=reload, collation=mariadb_collation, report=report, log=log, step=step)
    if progress is not None:
        progress("loaded", total, total)
    if report.reused:
        log(f"reused (row counts match): {', '.join(report.reused)}")
    return files, database, report
