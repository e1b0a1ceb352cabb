"""Partial aggregation below a cross-source join, measured on the TPC-H SF1 data of federated.py.

None of the 22 TPC-H queries has the shape over the federated split (their aggregates read
lineitem, which lies in Parquet and is read by the engine in place, or expressions; the orders'
joins to customer stay in PostgreSQL), so this runs the shape the optimizer targets: PostgreSQL's
1.5M orders joined to the customers read from Parquet (``lake.customer``, the same data as
``sales.customer``) and grouped by the customer's segment — with more of the orders' columns
grouped as well, to see where the rewrite stops paying (groups / rows from 0.07 to ~1); and
MariaDB's 800,000 partsupp rows joined to the parts read from Parquet, grouped by brand.

Each query runs three ways, alternated in one process after a warm-up of each: ``off`` (the
rewrite disabled), ``auto`` (the optimizer decides) and ``forced`` (both of its rules lifted);
the median of ``--runs`` is reported with the rows the database sent. ``--mbps`` puts PostgreSQL
(or ``--slow mariadb``) behind slow_link.py's throttling proxy and declares the link in the
source's ``network``.
``PYTHONPATH=<other checkout>/src`` runs the same queries on other code (without the module,
only ``off`` is measured).

    .venv/bin/python benchmarks/federated.py --queries 1 --runs 1   # the SF1 data, the first time
    .venv/bin/python benchmarks/partial_agg.py --runs 3
    .venv/bin/python benchmarks/partial_agg.py --runs 3 --mbps 50 --latency-ms 5
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _tpch_setup as setup  # noqa: E402 - needs this folder on sys.path first
from tests import tpch  # noqa: E402 - _tpch_setup put the repository root on sys.path

#: name -> (query, the orders' columns it groups by in the source when rewritten)
QUERIES = {
    "segment": ("SELECT c.c_mktsegment AS segment, sum(o.o_totalprice) AS revenue, count(*) AS orders "
                "FROM sales.orders o JOIN lake.customer c ON o.o_custkey = c.c_custkey GROUP BY 1 ORDER BY 1"),
    "segment_since_1995": ("SELECT c.c_mktsegment AS segment, sum(o.o_totalprice) AS revenue, count(*) AS orders, "
                           "max(o.o_orderdate) AS last FROM sales.orders o JOIN lake.customer c "
                           "ON o.o_custkey = c.c_custkey WHERE o.o_orderdate >= DATE '1995-01-01' "
                           "GROUP BY 1 ORDER BY 1"),
    "segment_status": ("SELECT c.c_mktsegment AS segment, o.o_orderstatus AS status, sum(o.o_totalprice) AS revenue, "
                       "count(*) AS orders FROM sales.orders o JOIN lake.customer c ON o.o_custkey = c.c_custkey "
                       "GROUP BY 1, 2 ORDER BY 1, 2"),
    "segment_priority": ("SELECT c.c_mktsegment AS segment, o.o_orderpriority AS priority, "
                         "sum(o.o_totalprice) AS revenue, count(*) AS orders FROM sales.orders o JOIN lake.customer c "
                         "ON o.o_custkey = c.c_custkey GROUP BY 1, 2 ORDER BY 1, 2"),
    "segment_clerk": ("SELECT c.c_mktsegment AS segment, count(DISTINCT o.o_clerk) AS clerks, "
                      "sum(o.o_totalprice) AS revenue FROM sales.orders o JOIN lake.customer c "
                      "ON o.o_custkey = c.c_custkey GROUP BY 1, o.o_clerk ORDER BY 1, 2, 3"),
    "brand": ("SELECT p.p_brand AS brand, count(*) AS offers, sum(ps.ps_availqty) AS available, "
              "min(ps.ps_supplycost) AS cheapest FROM supply.partsupp ps JOIN lake.part p "
              "ON ps.ps_partkey = p.p_partkey GROUP BY 1 ORDER BY 1"),
    "segment_date": ("SELECT c.c_mktsegment AS segment, o.o_orderdate AS day, count(*) AS orders "
                     "FROM sales.orders o JOIN lake.customer c ON o.o_custkey = c.c_custkey GROUP BY 1, 2 "
                     "ORDER BY 1, 2"),
}


def catalog(files: dict[str, Path], database: str, urls: dict[str, str], network: dict[str, dict[str, float]]) -> Any:
    """The federated TPC-H catalog plus ``lake.customer`` and ``lake.part`` (their Parquet files),
    with statistics."""
    from meshfabric.query.catalog import ProductBinding, ProductColumn
    from meshfabric.spec.models import OutputPort

    parquet_dir = files["lineitem"].parent
    layout = tpch.federated_layout(urls["sales_pg"], urls["supply_maria"], parquet_dir)
    for source, link in network.items():
        layout.sources[source]["network"] = link
    found = tpch.federated_catalog(layout, files, parquet_dir)
    lake = found.connectors["lake"]
    for table in ("customer", "part"):
        port = OutputPort(source="lake", path=f"{table}.parquet", format="parquet")
        columns = tuple(ProductColumn(c.name, c.type, c.nullable) for c in lake.columns(port))
        found.bindings[f"lake.{table}"] = ProductBinding("lake", table, "lake", port, columns)
        found._statistics[f"lake.{table}"] = lake.statistics(port)
    return found


def run(sql: str, the_catalog: Any) -> tuple[float, int, Any]:
    from meshfabric.query import run_query

    started = time.perf_counter()
    result = run_query(sql, the_catalog)
    table = result.arrow()
    seconds = time.perf_counter() - started
    moved = sum(s.rows for s in result.stats.scans if s.source != "lake")
    return seconds, moved, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queries", default=",".join(QUERIES))
    parser.add_argument("--mbps", type=float, default=None, help="the --slow server behind a link of this many Mbit/s")
    parser.add_argument("--slow", choices=("postgres", "mariadb"), default="postgres")
    parser.add_argument("--latency-ms", type=float, default=5.0)
    args = parser.parse_args()
    files = {p.stem: p for p in (setup.DATA_ROOT / "sf1").resolve().glob("*.parquet")}
    if "orders" not in files:
        sys.exit("no SF1 data: run benchmarks/federated.py --queries 1 --runs 1 first")
    database = setup.database_name(1.0)
    with contextlib.ExitStack() as stack:
        urls = {"sales_pg": setup.pg_url(database), "supply_maria": setup.mysql_url(database)}
        network: dict[str, dict[str, float]] = {}
        if args.mbps is not None:
            from slow_link import ThrottlingProxy

            pg = args.slow == "postgres"
            target = (setup.PG_HOST, setup.PG_PORT) if pg else (setup.MY_HOST, setup.MY_PORT)
            proxy = stack.enter_context(ThrottlingProxy(target, args.mbps * 1e6 / 8, args.latency_ms / 2000))
            source = "sales_pg" if pg else "supply_maria"
            urls[source] = (f"postgresql://{setup.PG_USER}@127.0.0.1:{proxy.port}/{database}" if pg
                            else f"mysql://{setup.MY_USER}@127.0.0.1:{proxy.port}/{database}")
            network[source] = {"bandwidth_mbps": args.mbps, "latency_ms": args.latency_ms}
        measure(catalog(files, database, urls, network), args)


def measure(the_catalog: Any, args: argparse.Namespace) -> None:
    try:
        from meshfabric.query import partial
    except ImportError:
        partial = None  # type: ignore[assignment]
    # (row rule, time rule) per mode
    modes: dict[str, tuple[float, float] | None] = {"off": None}
    if partial is not None:
        modes = {"off": (0.0, 0.0), "auto": (partial.PARTIAL_WORTH, partial.PARTIAL_TIME_WORTH),
                 "forced": (1e12, 1e12)}
    print(f"{'query':20} {'mode':6} {'median s':>9} {'runs':>24} {'rows':>10}  same answer")
    for name in args.queries.split(","):
        sql = QUERIES[name]
        times: dict[str, list[float]] = {m: [] for m in modes}
        moved: dict[str, int] = {}
        answers: dict[str, Any] = {}
        for round_ in range(args.runs + 1):  # the first round warms up
            for mode, rules in modes.items():
                if partial is not None and rules is not None:
                    partial.PARTIAL_WORTH, partial.PARTIAL_TIME_WORTH = rules
                seconds, rows, table = run(sql, the_catalog)
                if round_:
                    times[mode].append(seconds)
                moved[mode], answers[mode] = rows, table
        same = len({repr(t.to_pylist()) for t in answers.values()}) == 1
        for mode in modes:
            runs = " ".join(f"{t:.2f}" for t in times[mode])
            print(f"{name:20} {mode:6} {statistics.median(times[mode]):9.3f} {runs:>24} {moved[mode]:>10,}  {same}",
                  flush=True)
    for connector in the_catalog.connectors.values():
        connector.close()


if __name__ == "__main__":
    main()
