"""TPC-H on the Spark engine against the DuckDB engine, over the same federated products.

What it measures
    The federated split of ``benchmarks/federated.py`` (customer/orders/nation/region in
    PostgreSQL, part/supplier/partsupp in MariaDB, lineitem in Parquet; databases
    ``mf_bench_sf<scale>``, reused when loaded) queried through meshfabric on three executors of
    the same plan, in this process:

    1. ``duckdb``      — :func:`meshfabric.query.run_query` (the embedded engine, the baseline);
    2. ``spark-local`` — :func:`meshfabric.spark.run_query_spark` on ``local[N]`` (one JVM);
    3. ``spark-standalone`` — the same on a standalone master + one worker started on loopback
       from pyspark's launcher (``meshfabric.spark.cluster``): the network path a real cluster
       takes, on this one machine.

    Start-up (JVM, context, executors) is measured apart: the first ``spark_session`` call of
    each Spark engine. Each query runs once to warm up, then ``--runs`` times; the median wall
    time is reported, and Spark's answers are compared with DuckDB's (tests/tpch.py's
    comparison). Ratios are Spark / DuckDB: above 1 DuckDB is faster.

    ``--memory-limit 256MB`` also runs the queries on the DuckDB engine under that
    ``MESHFABRIC_QUERY_MEMORY`` and reports which of them it cannot finish, where Spark can.

How to run (PostgreSQL on 127.0.0.1:5432 as postgres and MariaDB on 127.0.0.1:3306 as root)::

    .venv/bin/python benchmarks/spark.py                          # SF1, all 22 queries, 1 run each
    .venv/bin/python benchmarks/spark.py --scale 0.1 --queries 1,3,9 --runs 3
    .venv/bin/python benchmarks/spark.py --json benchmarks/.data/spark-sf1.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
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


@dataclass
class Outcome:
    """One query on one engine: the median seconds of the timed runs, or the error."""

    seconds: float | None = None
    runs: list[float] = field(default_factory=list)
    #: the warm-up run (on Spark the first query of a session also waits for its executors)
    first: float | None = None
    correct: bool | None = None
    error: str | None = None


def timed(run: Callable[[], Any], runs: int) -> tuple[Any, Outcome]:
    """Warm up once, then ``runs`` timed runs; the result of the last one and the outcome."""
    try:
        started = time.perf_counter()
        result = run()
        first = time.perf_counter() - started
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            result = run()
            times.append(time.perf_counter() - started)
    except Exception as exc:
        return None, Outcome(error=_first_line(f"{type(exc).__name__}: {exc}"))
    return result, Outcome(seconds=statistics.median(times) if times else first, runs=times, first=first)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from meshfabric.query import run_query
    from meshfabric.spark import run_query_spark, spark_session, stop
    from meshfabric.spark.cluster import standalone_cluster
    from meshfabric.spec.models import SparkEngineSpec

    def log(text: str) -> None:
        print(text, flush=True)

    log(f"== TPC-H SF{args.scale:g} on Spark vs the DuckDB engine: {len(args.queries)} queries, "
        f"warm-up + {args.runs} run(s) each ==")
    files, database, _ = setup.prepare(args.scale, log=log)
    parquet_dir = files["lineitem"].parent
    layout = tpch.federated_layout(setup.pg_url(database), setup.mysql_url(database), parquet_dir)
    catalog = tpch.federated_catalog(layout, files, parquet_dir)
    cores = os.cpu_count() or 2
    conf = {"spark.driver.memory": args.driver_memory, "spark.executor.memory": args.executor_memory,
            "spark.sql.shuffle.partitions": str(args.shuffle_partitions)}
    results: dict[str, dict[int, Outcome]] = {"duckdb": {}, "spark-local": {}, "spark-standalone": {}}
    startup: dict[str, float] = {}
    reference: dict[int, Any] = {}

    log("duckdb:")
    for q in args.queries:
        table, outcome = timed(lambda q=q: run_query(tpch.product_sql(q), catalog).arrow(), args.runs)
        results["duckdb"][q] = outcome
        if table is not None:
            reference[q] = table
        log(f"  Q{q}: {_seconds(outcome.seconds)} {outcome.error or ''}")

    def on_spark(name: str, spec: SparkEngineSpec) -> None:
        started = time.perf_counter()
        spark_session(spec)
        startup[name] = time.perf_counter() - started
        log(f"{name}: session start-up {startup[name]:.1f} s ({spec.master})")
        for q in args.queries:
            table, outcome = timed(lambda q=q: run_query_spark(tpch.product_sql(q), catalog, spec=spec).arrow(),
                                   args.runs)
            if table is not None and q in reference:
                try:
                    tpch.assert_same_result(table, reference[q], ordered=tpch.ordered(q))
                    outcome.correct = True
                except AssertionError as exc:
                    outcome.correct = False
                    outcome.error = "RESULT MISMATCH: " + _first_line(str(exc))
            results[name][q] = outcome
            log(f"  Q{q}: {_seconds(outcome.seconds)} {outcome.error or ''}")
        stop()

    try:
        on_spark("spark-local", SparkEngineSpec(master=f"local[{cores}]", conf=conf))
        with tempfile.TemporaryDirectory(prefix="mf-bench-spark-") as work, \
                standalone_cluster(Path(work), cores=cores, memory=args.worker_memory) as url:
            on_spark("spark-standalone", SparkEngineSpec(master=url, conf=conf))
        limited: dict[int, Outcome] = {}
        if args.memory_limit:
            os.environ["MESHFABRIC_QUERY_MEMORY"] = args.memory_limit
            log(f"duckdb under MESHFABRIC_QUERY_MEMORY={args.memory_limit}:")
            for q in args.queries:
                _, limited[q] = timed(lambda q=q: run_query(tpch.product_sql(q), catalog).arrow(), 0)
                log(f"  Q{q}: {'ok' if limited[q].error is None else limited[q].error}")
            del os.environ["MESHFABRIC_QUERY_MEMORY"]
    finally:
        for connector in catalog.connectors.values():
            connector.close()

    log("")
    log(report(args, results, startup))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "benchmark": "spark-tpch", "scale": args.scale, "runs": args.runs, "cores": cores, "conf": conf,
            "startup_seconds": startup,
            "results": {e: {q: vars(o) for q, o in per.items()} for e, per in results.items()},
        }, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


def report(args: argparse.Namespace, results: dict[str, dict[int, Outcome]], startup: dict[str, float]) -> str:
    head = f"{'query':>5} {'duckdb s':>9} {'local s':>9} {'x duckdb':>9} {'cluster s':>10} {'x duckdb':>9}  notes"
    lines = [f"TPC-H SF{args.scale:g}, median of {args.runs} run(s) after a warm-up; x = Spark / DuckDB "
             "(above 1: DuckDB faster)", head]
    ratios: dict[str, list[float]] = {"spark-local": [], "spark-standalone": []}
    for q in args.queries:
        d = results["duckdb"][q].seconds
        cells, notes = [], []
        for name in ("spark-local", "spark-standalone"):
            o = results[name].get(q, Outcome(error="not run"))
            ratio = o.seconds / d if o.seconds is not None and d else None
            if ratio is not None:
                ratios[name].append(ratio)
            cells += [_seconds(o.seconds), "-" if ratio is None else f"{ratio:.1f}"]
            if o.error:
                notes.append(f"{name}: {o.error}")
        lines.append(f"{'Q' + str(q):>5} {_seconds(d):>9} {cells[0]:>9} {cells[1]:>9} {cells[2]:>10} {cells[3]:>9}  "
                     + "; ".join(notes))
    for name, values in ratios.items():
        if values:
            gm = statistics.geometric_mean(values)
            faster = sum(1 for v in values if v < 1)
            first = results[name].get(args.queries[0], Outcome()).first
            lines.append(f"{name}: geometric mean {gm:.1f}x DuckDB's time; faster than DuckDB on {faster} of "
                         f"{len(values)} queries; start-up {startup.get(name, 0):.1f} s, then the first query "
                         f"{_seconds(first)} s with executors starting (neither in the times above)")
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return (lines[0] if lines else "")[:200]


def parse_queries(text: str) -> list[int]:
    if text == "all":
        return sorted(tpch.QUERIES)
    return [int(q) for q in text.split(",")]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor (default 1)")
    parser.add_argument("--runs", type=int, default=1, help="timed runs per query and engine after a warm-up")
    parser.add_argument("--queries", type=parse_queries, default=sorted(tpch.QUERIES), help="1,3,9 or all")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--executor-memory", default="2g")
    parser.add_argument("--worker-memory", default="3g")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--memory-limit", default=None, help="also run DuckDB under this MESHFABRIC_QUERY_MEMORY")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
