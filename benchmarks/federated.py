"""Federated TPC-H: meshfabric against DuckDB's own scanners and against co-located Parquet.

What it measures
    TPC-H at scale ``--scale`` (default SF1) split over three real sources as data products of
    three domains: customer/nation/region/orders in PostgreSQL (``sales``), part/supplier/partsupp
    in MariaDB (``supply``) and lineitem in a Parquet file (``logistics``). Every query runs on
    three engines in the same process over the same data:

    1. ``meshfabric``      — :func:`meshfabric.query.run_query` over products addressed as
                             ``domain.product``: each source is read through its connector with
                             projections and filters pushed down, then DuckDB joins the Arrow.
    2. ``duckdb-scanners`` — DuckDB with its postgres and mysql extensions attached read-only to
                             the same databases, lineitem through ``read_parquet``.
    3. ``duckdb-parquet``  — DuckDB over all eight tables as co-located Parquet files: the floor,
                             and the reference result.

    Each query is run once to warm up, then ``--runs`` times; the median wall time (result
    fetched as Arrow) is reported. meshfabric's result is compared with the co-located one
    (tests/tpch.py's comparison: tolerant of decimal rounding, order-aware only where the query
    fixes the order); a mismatch is flagged loudly. Rows moved per source come from meshfabric's
    scan statistics; the scanners' rows are read from DuckDB's profile of the warm-up run (the
    output cardinality of each scan operator).

    There is no target and nothing is asserted: this is the baseline for the optimizer to come.

How to run (from the repository root, PostgreSQL on 127.0.0.1:5432 as postgres and MariaDB on
127.0.0.1:3306 as root must be up)::

    .venv/bin/python benchmarks/federated.py                      # SF1, the default queries, 3 runs
    .venv/bin/python benchmarks/federated.py --scale 0.1 --runs 1 # a quick run
    .venv/bin/python benchmarks/federated.py --queries all --json results.json

The first run generates the data with ``tpchgen-cli`` into ``benchmarks/.data/`` and loads it into
databases ``mf_bench_sf<scale>`` on both servers; later runs reuse them while the row counts
match (``--reload`` forces a reload).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _tpch_setup as setup  # noqa: E402 - needs this folder on sys.path first
from tests import tpch  # noqa: E402 - _tpch_setup put the repository root on sys.path

from meshfabric.cli._progress import progress  # noqa: E402

#: The queries the issue asks for; ``--queries all`` runs the 22.
DEFAULT_QUERIES = (2, 3, 5, 9, 10, 12, 14, 19)
ENGINES = ("meshfabric", "duckdb-scanners", "duckdb-parquet")
SOURCES = ("postgres", "mariadb", "parquet")

#: DuckDB scan operators by the source they read.
_SCAN_OPERATORS = {"POSTGRES_SCAN": "postgres", "MYSQL_SCAN": "mariadb", "READ_PARQUET": "parquet"}


# -- engines ----------------------------------------------------------------------------------------
@dataclass
class Run:
    """One execution of a query on one engine."""

    table: Any
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)


class Engine:
    name: str = ""

    def run(self, query: int, *, profile: bool = False) -> Run:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


class MeshfabricEngine(Engine):
    """``run_query`` over a catalog of the 8 products on their real connectors."""

    name = "meshfabric"

    def __init__(self, files: dict[str, Path], database: str) -> None:
        from meshfabric.query import run_query

        self._run_query = run_query
        parquet_dir = files["lineitem"].parent
        self.layout = tpch.federated_layout(setup.pg_url(database), setup.mysql_url(database), parquet_dir)
        self.catalog = tpch.federated_catalog(self.layout, files, parquet_dir)
        kinds = {"postgres": "postgres", "mysql": "mariadb", "files": "parquet"}
        self.source_of = {name: kinds[spec["kind"]] for name, spec in self.layout.sources.items()}

    def run(self, query: int, *, profile: bool = False) -> Run:
        sql = tpch.product_sql(query)
        with PeakMemory() as memory:
            started = time.perf_counter()
            result = self._run_query(sql, self.catalog)
            table = result.arrow()
            seconds = time.perf_counter() - started
        stats = result.stats
        rows = dict.fromkeys(SOURCES, 0)
        for scan in stats.scans:
            rows[self.source_of[scan.source]] += scan.rows
        detail = {
            "rows_moved": rows,
            "planning_seconds": stats.planning_seconds,
            "scan_seconds": stats.scan_seconds,
            "engine_seconds": stats.engine_seconds,
            "scans": [s.as_dict() for s in stats.scans],
            "peak_memory_mb": memory.peak_mb,
        }
        return Run(table, seconds, detail)

    def close(self) -> None:
        for connector in self.catalog.connectors.values():
            connector.close()


class PeakMemory:
    """The process's resident memory above what it held when the block began, sampled every
    10 ms from /proc (the query's scans, the engine's session and the result; 0 where /proc
    is missing)."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._start = 0

    @staticmethod
    def _rss() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            return 0

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak_mb = max(self.peak_mb, (self._rss() - self._start) / 2**20)

    def __enter__(self) -> PeakMemory:
        self._start = self._rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak_mb = max(self.peak_mb, (self._rss() - self._start) / 2**20)
        self._stop.set()
        self._thread.join()


class BrokenEngine(Engine):
    """An engine that could not be set up: every query reports the setup error."""

    def __init__(self, name: str, error: Exception) -> None:
        self.name = name
        self.error = error

    def run(self, query: int, *, profile: bool = False) -> Run:
        raise RuntimeError(f"setup failed: {type(self.error).__name__}: {_first_line(str(self.error))}")


class DuckDBEngine(Engine):
    """A DuckDB connection whose main schema has one view per TPC-H table."""

    def __init__(self, name: str, conn: Any, timeout: float) -> None:
        self.name = name
        self.conn = conn
        self.timeout = timeout

    def run(self, query: int, *, profile: bool = False) -> Run:
        if profile:
            self.conn.execute("PRAGMA enable_profiling = 'no_output'")
        timer = threading.Timer(self.timeout, self.conn.interrupt)
        timer.start()
        try:
            started = time.perf_counter()
            table = self.conn.execute(tpch.QUERIES[query]).to_arrow_table()
            seconds = time.perf_counter() - started
        finally:
            timer.cancel()
        detail: dict[str, Any] = {}
        if profile:
            detail["rows_moved"] = _profiled_scan_rows(self.conn.get_profiling_information(format="json"))
            self.conn.execute("PRAGMA disable_profiling")
        return Run(table, seconds, detail)

    def close(self) -> None:
        self.conn.close()


def _profiled_scan_rows(profile_json: str) -> dict[str, int]:
    """Rows each kind of source scan produced, summed over the plan's scan operators."""
    rows = dict.fromkeys(SOURCES, 0)
    stack = [json.loads(profile_json)]
    while stack:
        node = stack.pop()
        source = _SCAN_OPERATORS.get(str(node.get("operator_name", "")).upper())
        if source is not None:
            rows[source] += int(node.get("operator_cardinality", 0))
        stack.extend(node.get("children", []))
    return rows


def extension_path(module_name: str, file_name: str) -> str:
    """The ``.duckdb_extension`` file shipped in a ``duckdb-extension-*`` wheel for our DuckDB."""
    import importlib

    import duckdb

    module = importlib.import_module(module_name)
    root = Path(str(module.__file__)).parent / "extensions"
    exact = root / f"v{duckdb.__version__}" / file_name
    if exact.exists():
        return str(exact)
    found = sorted(root.glob(f"*/{file_name}"))
    if not found:
        raise SystemExit(f"{file_name} not found under {root}: pip install '{module_name.replace('_', '-')}'")
    return str(found[-1])


def scanners_engine(files: dict[str, Path], database: str, timeout: float) -> DuckDBEngine:
    """DuckDB with its postgres and mysql scanners attached read-only to the benchmark databases."""
    import duckdb

    conn = duckdb.connect(":memory:")
    conn.execute("SET autoinstall_known_extensions = false")
    conn.execute("SET autoload_known_extensions = false")
    conn.execute(f"INSTALL '{extension_path('duckdb_extension_postgres', 'postgres.duckdb_extension')}'")
    conn.execute("LOAD postgres_scanner")
    conn.execute(f"INSTALL '{extension_path('duckdb_extension_mysql', 'mysql.duckdb_extension')}'")
    conn.execute("LOAD mysql")
    pg = f"dbname={database} host={setup.PG_HOST} port={setup.PG_PORT} user={setup.PG_USER}"
    my = f"host={setup.MY_HOST} port={setup.MY_PORT} user={setup.MY_USER} database={database}"
    conn.execute(f"ATTACH '{pg}' AS pg (TYPE postgres, READ_ONLY)")
    conn.execute(f"ATTACH '{my}' AS my (TYPE mysql, READ_ONLY)")
    for table in tpch.TABLES:
        where = setup.PLACEMENT[table]
        if where == "postgres":
            source = f"pg.public.{table}"
        elif where == "mariadb":
            source = f"my.{database}.{table}"
        else:
            source = f"read_parquet('{files[table].as_posix()}')"
        conn.execute(f"CREATE VIEW {table} AS SELECT * FROM {source}")
    return DuckDBEngine("duckdb-scanners", conn, timeout)


def parquet_engine(files: dict[str, Path], timeout: float) -> DuckDBEngine:
    return DuckDBEngine("duckdb-parquet", tpch.duckdb_baseline(files), timeout)


# -- measuring --------------------------------------------------------------------------------------
@dataclass
class EngineResult:
    """One engine on one query: run times, its detail, and what went wrong if anything did."""

    times: list[float] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times and self.error is None else None


@dataclass
class QueryOutcome:
    query: int
    engines: dict[str, EngineResult]
    rows: int | None = None
    correct: bool | None = None
    mismatch: str | None = None
    scanners_correct: bool | None = None

    def ratio(self, baseline: str) -> float | None:
        mine, theirs = self.engines["meshfabric"].median, self.engines[baseline].median
        if mine is None or theirs is None or theirs <= 0:
            return None
        return mine / theirs

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "result_rows": self.rows,
            "correct": self.correct,
            "mismatch": self.mismatch,
            "scanners_correct": self.scanners_correct,
            "ratio_meshfabric_scanners": self.ratio("duckdb-scanners"),
            "ratio_meshfabric_parquet": self.ratio("duckdb-parquet"),
            "engines": {
                name: {"median_seconds": r.median, "seconds": r.times, "error": r.error, **r.detail}
                for name, r in self.engines.items()
            },
        }


def measure(engine: Engine, query: int, runs: int) -> tuple[EngineResult, Any]:
    """Warm up once (profiled), then time ``runs`` runs; returns the result and the warm-up table."""
    outcome = EngineResult()
    try:
        warm = engine.run(query, profile=True)
        outcome.detail = warm.detail
        last = warm
        for _ in range(runs):
            last = engine.run(query)
            outcome.times.append(last.seconds)
        if isinstance(engine, MeshfabricEngine):
            outcome.detail = last.detail
        return outcome, warm.table
    except Exception as exc:  # a failing engine is a result, not the end of the benchmark
        outcome.error = f"{type(exc).__name__}: {_first_line(str(exc))}"
        return outcome, None


def compare(actual: Any, expected: Any, query: int) -> str | None:
    """None when the tables hold the same rows (tests/tpch.py's rules), else what differs."""
    try:
        tpch.assert_same_result(actual, expected, ordered=tpch.ordered(query))
    except AssertionError as exc:
        return " | ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or "results differ"
    return None


def run_query_on_all(engines: Sequence[Engine], query: int, runs: int, log: Callable[[str], None]) -> QueryOutcome:
    outcomes: dict[str, EngineResult] = {}
    tables: dict[str, Any] = {}
    for engine in engines:
        outcome, table = measure(engine, query, runs)
        outcomes[engine.name] = outcome
        tables[engine.name] = table
        shown = f"{outcome.median:.3f} s" if outcome.median is not None else f"FAILED ({outcome.error})"
        log(f"  Q{query:<2} {engine.name:<16} {shown}")
    result = QueryOutcome(query, outcomes)
    expected = tables.get("duckdb-parquet")
    if expected is not None:
        result.rows = expected.num_rows
        if tables.get("meshfabric") is not None:
            result.mismatch = compare(tables["meshfabric"], expected, query)
            result.correct = result.mismatch is None
        if tables.get("duckdb-scanners") is not None:
            result.scanners_correct = compare(tables["duckdb-scanners"], expected, query) is None
    if result.correct is False:
        log(f"  !!! Q{query} MISMATCH: meshfabric differs from DuckDB over co-located Parquet: {result.mismatch}")
    if result.scanners_correct is False:
        log(f"  !!! Q{query}: DuckDB's scanners differ from DuckDB over co-located Parquet")
    return result


# -- reporting --------------------------------------------------------------------------------------
def _seconds(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def _rows(value: int | None) -> str:
    return f"{value:,}" if value is not None else "-"


def _correct(result: QueryOutcome) -> str:
    if result.correct is None:
        return "n/a" if result.engines["meshfabric"].error is None else "ERROR"
    return "yes" if result.correct else "NO !!!"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """Plain aligned text: the first ``left`` columns left-aligned, the rest right-aligned."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def geometric_mean(values: Sequence[float]) -> float | None:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def summary(results: Sequence[QueryOutcome]) -> dict[str, Any]:
    """Totals over the queries every engine finished, and geometric means of the ratios."""
    complete = [r for r in results if all(e.median is not None for e in r.engines.values())]
    totals = {name: sum(r.engines[name].median or 0.0 for r in complete) for name in ENGINES}
    ratios_scan = [x for r in complete if (x := r.ratio("duckdb-scanners")) is not None]
    ratios_parq = [x for r in complete if (x := r.ratio("duckdb-parquet")) is not None]
    moved = {s: sum(r.engines["meshfabric"].detail.get("rows_moved", {}).get(s, 0) for r in complete) for s in SOURCES}
    return {
        "queries_complete": [r.query for r in complete],
        "total_seconds": totals,
        "total_ratio_meshfabric_scanners": totals["meshfabric"] / totals["duckdb-scanners"]
        if totals["duckdb-scanners"]
        else None,
        "total_ratio_meshfabric_parquet": totals["meshfabric"] / totals["duckdb-parquet"]
        if totals["duckdb-parquet"]
        else None,
        "geomean_ratio_meshfabric_scanners": geometric_mean(ratios_scan),
        "geomean_ratio_meshfabric_parquet": geometric_mean(ratios_parq),
        "meshfabric_rows_moved": moved,
        "meshfabric_peak_memory_mb": max((r.engines["meshfabric"].detail.get("peak_memory_mb", 0.0) for r in results),
                                         default=0.0),
        "mismatches": [r.query for r in results if r.correct is False],
        "errors": {f"Q{r.query} {n}": e.error for r in results for n, e in r.engines.items() if e.error},
    }


def report(results: Sequence[QueryOutcome], totals: dict[str, Any]) -> str:
    headers = [
        "query",
        "meshfabric s",
        "scanners s",
        "parquet s",
        "mf/scanners",
        "mf/parquet",
        "pg rows",
        "mariadb rows",
        "parquet rows",
        "correct",
    ]
    rows = []
    for r in results:
        mf = r.engines["meshfabric"]
        moved = mf.detail.get("rows_moved", {}) if mf.error is None else {}
        rows.append(
            [
                f"Q{r.query}",
                _seconds(mf.median),
                _seconds(r.engines["duckdb-scanners"].median),
                _seconds(r.engines["duckdb-parquet"].median),
                _ratio(r.ratio("duckdb-scanners")),
                _ratio(r.ratio("duckdb-parquet")),
                _rows(moved.get("postgres")),
                _rows(moved.get("mariadb")),
                _rows(moved.get("parquet")),
                _correct(r),
            ]
        )
    if not totals["queries_complete"]:
        return format_table(headers, rows)
    t = totals["total_seconds"]
    moved_total = totals["meshfabric_rows_moved"]
    rows.append(
        [
            "total",
            _seconds(t["meshfabric"]),
            _seconds(t["duckdb-scanners"]),
            _seconds(t["duckdb-parquet"]),
            _ratio(totals["total_ratio_meshfabric_scanners"]),
            _ratio(totals["total_ratio_meshfabric_parquet"]),
            _rows(moved_total["postgres"]),
            _rows(moved_total["mariadb"]),
            _rows(moved_total["parquet"]),
            "",
        ]
    )
    rows.append(
        [
            "geomean",
            "",
            "",
            "",
            _ratio(totals["geomean_ratio_meshfabric_scanners"]),
            _ratio(totals["geomean_ratio_meshfabric_parquet"]),
            "",
            "",
            "",
            "",
        ]
    )
    return format_table(headers, rows)


def detail_report(results: Sequence[QueryOutcome]) -> str:
    """Where meshfabric's time goes, next to the rows DuckDB's scanners pulled from each source."""
    headers = [
        "query",
        "mf plan s",
        "mf scans s",
        "mf join s",
        "mf peak MB",
        "scanners pg rows",
        "scanners mariadb rows",
        "scanners parquet rows",
        "scanners correct",
    ]
    rows = []
    for r in results:
        mf, sc = r.engines["meshfabric"].detail, r.engines["duckdb-scanners"].detail
        moved = sc.get("rows_moved", {})
        rows.append(
            [
                f"Q{r.query}",
                _seconds(mf.get("planning_seconds")),
                _seconds(mf.get("scan_seconds")),
                _seconds(mf.get("engine_seconds")),
                f"{mf.get('peak_memory_mb', 0.0):,.0f}",
                _rows(moved.get("postgres")),
                _rows(moved.get("mariadb")),
                _rows(moved.get("parquet")),
                {True: "yes", False: "NO", None: "-"}[r.scanners_correct],
            ]
        )
    return format_table(headers, rows)


def scan_report(results: Sequence[QueryOutcome]) -> str:
    """Per meshfabric scan: product, rows, seconds and what was pushed or kept."""
    lines = []
    for r in results:
        for scan in r.engines["meshfabric"].detail.get("scans", []):
            pushed = " AND ".join(scan["pushed_filters"]) or "-"
            kept = " AND ".join(scan["kept_filters"])
            lines.append(
                f"Q{r.query:<3} {scan['product']:<20} {scan['rows']:>10,} rows {scan['seconds']:7.3f} s"
                f"  {len(scan['columns'])} cols  pushed: {pushed}" + (f"  kept: {kept}" if kept else "")
            )
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------------
def parse_queries(text: str) -> list[int]:
    if text.strip().lower() == "all":
        return sorted(tpch.QUERIES)
    out = []
    for part in text.split(","):
        number = int(part.strip().lstrip("qQ"))
        if number not in tpch.QUERIES:
            raise argparse.ArgumentTypeError(f"no TPC-H query {number} (1-22)")
        out.append(number)
    return out


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per query and engine; the median is shown")
    parser.add_argument(
        "--queries",
        type=parse_queries,
        default=list(DEFAULT_QUERIES),
        help="comma-separated query numbers, or 'all' (default: 2,3,5,9,10,12,14,19)",
    )
    parser.add_argument("--reload", action="store_true", help="reload PostgreSQL and MariaDB even if the data is there")
    parser.add_argument(
        "--mariadb-collation",
        default=None,
        help="collation of the MariaDB tables (default: the server's, case-insensitive as in most "
        "real databases; utf8mb4_nopad_bin lets string filters be pushed)",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before a DuckDB run is interrupted")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write every number to FILE")
    parser.add_argument("--scans", action="store_true", help="also print every meshfabric scan and its pushdown")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def environment(database: str) -> dict[str, Any]:
    import duckdb
    import psycopg
    import pymysql

    import meshfabric

    with psycopg.connect(f"host={setup.PG_HOST} port={setup.PG_PORT} user={setup.PG_USER} dbname={database}") as c:
        row = c.execute("SHOW server_version").fetchone()
        pg_version = str(row[0]) if row else "?"
    conn = pymysql.connect(host=setup.MY_HOST, port=setup.MY_PORT, user=setup.MY_USER, password="")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            (my_version,) = cur.fetchone()
    finally:
        conn.close()
    return {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "duckdb": duckdb.__version__,
        "meshfabric": getattr(meshfabric, "__version__", "?"),
        "postgres": pg_version,
        "mariadb": str(my_version),
        "load_average_1m": _load_average(),
    }


def _load_average() -> float | None:
    """The 1-minute load average: above the core count, other work was competing for the CPU."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def log(text: str) -> None:
        print(text, flush=True)

    log(f"== federated TPC-H SF{args.scale:g}: {len(args.queries)} queries, warm-up + {args.runs} runs each ==")
    with progress() as loading:  # a bar on a terminal only: piped output stays plain lines
        files, database, load = setup.prepare(
            args.scale, reload=args.reload, mariadb_collation=args.mariadb_collation, log=log, progress=loading
        )
    env = environment(database)
    log("environment: " + ", ".join(f"{k} {v}" for k, v in env.items()))

    engines: list[Engine] = []
    try:
        # the floor runs first: its result is the reference the others are compared with
        engines.append(parquet_engine(files, args.timeout))
        engines.append(scanners_engine(files, database, args.timeout))
        try:
            engines.append(MeshfabricEngine(files, database))
        except Exception as exc:  # still measure the baselines, and say loudly what broke
            log(f"!!! meshfabric could not be set up: {type(exc).__name__}: {exc}")
            engines.append(BrokenEngine("meshfabric", exc))
        results = []
        for query in args.queries:
            log(f"Q{query}:")
            results.append(run_query_on_all(engines, query, args.runs, log))
    finally:
        for engine in engines:
            engine.close()

    totals = summary(results)
    totals["load_average_1m_at_end"] = _load_average()
    if (totals["load_average_1m_at_end"] or 0) > (os.cpu_count() or 1):
        log(f"note: load average {totals['load_average_1m_at_end']} > {os.cpu_count()} cores: timings are noisy")
    log("")
    log(f"TPC-H SF{args.scale:g} — median of {args.runs} runs after a warm-up; rows moved = meshfabric's scans")
    log(report(results, totals))
    log("")
    log("meshfabric time split (last run) and rows DuckDB's scanners pulled (profile of the warm-up run):")
    log(detail_report(results))
    if args.scans:
        log("")
        log("meshfabric scans:")
        log(scan_report(results))
    if totals["mismatches"]:
        log("")
        log(f"!!! RESULT MISMATCH in {', '.join(f'Q{q}' for q in totals['mismatches'])} — see above")
    failures: dict[str, list[str]] = {}
    for what, error in totals["errors"].items():
        query, engine = what.split(" ", 1)
        failures.setdefault(f"{engine} failed: {error}", []).append(query)
    for message, queries in failures.items():
        log(f"!!! {', '.join(queries)}: {message}")

    if args.json is not None:
        payload = {
            "benchmark": "federated-tpch",
            "scale": args.scale,
            "runs": args.runs,
            "queries": args.queries,
            "mariadb_collation": args.mariadb_collation,
            "environment": env,
            "load": load.as_dict(),
            "results": [r.as_dict() for r in results],
            "summary": totals,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        log(f"wrote {args.json}")
    return 0


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else text


if __name__ == "__main__":
    raise SystemExit(main())
