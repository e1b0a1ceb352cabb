"""Federated TPC-H with PostgreSQL behind a slow link: does the plan move work to that source?

A throttling TCP proxy on loopback (this file, asyncio: the server's bytes leave at ``--mbps``
megabits per second, each chunk in either direction waits ``--latency-ms`` / 2) stands between
meshfabric and the PostgreSQL of ``benchmarks/federated.py``'s split (customer, orders, nation,
region; MariaDB and the Parquet lineitem are reached directly). Each query runs four ways in one
process, after a warm-up:

* ``mf fast``  — meshfabric straight to PostgreSQL, the optimizer as it is;
* ``mf slow, link unknown`` — through the proxy, mesh.yaml says nothing about the link: the
  optimizer plans on what it has measured of this source's scans so far;
* ``mf slow, link declared`` — through the proxy with ``network: {bandwidth_mbps, latency_ms}``;
* ``mf slow, no dynamic filters`` — through the proxy, the optimizer's dynamic filters off
  (what a planner that pushes only columns and single-table filters would move);

next to DuckDB's own postgres scanner attached through the same proxy. The report gives times,
PostgreSQL rows moved and the number of dynamic filters each plan chose; every result is checked
against DuckDB over co-located Parquet. Nothing is asserted about time.

    .venv/bin/python benchmarks/slow_link.py                          # SF1, 16 Mbit/s, 5 ms
    .venv/bin/python benchmarks/slow_link.py --mbps 50 --queries 3,5,10,18
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _tpch_setup as setup  # noqa: E402 - needs this folder on sys.path first
from tests import tpch  # noqa: E402 - _tpch_setup put the repository root on sys.path

DEFAULT_QUERIES = ("3", "5", "7", "8", "10", "12", "18", "c1")

#: a join whose dynamic filter is marginal on a fast link and clearly worth it on a slow one: the
#: customers of one quarter's orders (about 29 % of them)
CUSTOM = {
    "c1": "SELECT c_mktsegment, count(DISTINCT c_custkey) AS customers, sum(o_totalprice) AS spent "
          "FROM customer, orders WHERE c_custkey = o_custkey AND o_orderdate >= DATE '1995-01-01' "
          "AND o_orderdate < DATE '1995-04-01' GROUP BY c_mktsegment",
}


class ThrottlingProxy:
    """Forward 127.0.0.1:<port> to ``target``; the server's bytes leave at ``rate`` bytes per
    second (a token bucket shared by every connection, like one link), every chunk is held for
    ``delay`` seconds in each direction."""

    def __init__(self, target: tuple[str, int], rate: float, delay: float) -> None:
        self.target, self.rate, self.delay = target, rate, delay
        self.port = _free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="slow-link", daemon=True)
        self._next_free = 0.0
        self.bytes_down = 0

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        with contextlib.suppress(asyncio.CancelledError):  # the proxy is closing
            await asyncio.gather(self._pump(reader, up_writer, throttle=False),
                                 self._pump(up_reader, writer, throttle=True), return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, throttle: bool) -> None:
        try:
            while chunk := await reader.read(64 * 1024):
                if self.delay:
                    await asyncio.sleep(self.delay)
                if throttle:
                    now = time.monotonic()
                    start = max(now, self._next_free)
                    self._next_free = start + len(chunk) / self.rate
                    self.bytes_down += len(chunk)
                    if self._next_free > now:
                        await asyncio.sleep(self._next_free - now)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                writer.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def catalog(pg_url: str, database: str, files: dict[str, Path], network: dict[str, float] | None) -> Any:
    layout = tpch.federated_layout(pg_url, setup.mysql_url(database), files["lineitem"].parent)
    if network is not None:
        layout.sources["sales_pg"]["network"] = network
    return tpch.federated_catalog(layout, files, files["lineitem"].parent)


def run(catalog_: Any, sql: str) -> tuple[float, Any, Any]:
    from meshfabric.query import run_query

    started = time.perf_counter()
    result = run_query(sql, catalog_)
    table = result.arrow()
    return time.perf_counter() - started, table, result.stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--mbps", type=float, default=16.0, help="the link's megabits per second (default 16)")
    parser.add_argument("--latency-ms", type=float, default=5.0, help="added round trip in milliseconds (default 5)")
    parser.add_argument("--queries", default=",".join(map(str, DEFAULT_QUERIES)))
    parser.add_argument("--no-scanners", action="store_true", help="skip DuckDB's postgres scanner")
    args = parser.parse_args(argv)
    queries = [q.strip().lower() for q in args.queries.split(",")]

    import duckdb

    from meshfabric.query import optimizer

    files, database, _ = setup.prepare(args.scale, log=lambda *_: None)
    reference = tpch.duckdb_baseline(files)
    rate = args.mbps * 1e6 / 8
    print(f"== PostgreSQL behind a {args.mbps:g} Mbit/s link with {args.latency_ms:g} ms added per round trip "
          f"(TPC-H SF{args.scale:g}) ==")
    with ThrottlingProxy((setup.PG_HOST, int(setup.PG_PORT)), rate, args.latency_ms / 2000) as proxy:
        slow_url = f"postgresql://{setup.PG_USER}@127.0.0.1:{proxy.port}/{database}"
        engines = {
            "mf fast": catalog(setup.pg_url(database), database, files, None),
            "mf slow, link unknown": catalog(slow_url, database, files, None),
            "mf slow, link declared": catalog(slow_url, database, files,
                                              {"bandwidth_mbps": args.mbps, "latency_ms": args.latency_ms}),
            "mf slow, no dynamic filters": catalog(slow_url, database, files, None),
        }
        scanners = None
        if not args.no_scanners:
            from federated import extension_path

            scanners = duckdb.connect()
            scanners.execute("SET autoinstall_known_extensions = false")
            scanners.execute("SET autoload_known_extensions = false")
            scanners.execute(f"INSTALL '{extension_path('duckdb_extension_postgres', 'postgres.duckdb_extension')}'")
            scanners.execute("LOAD postgres_scanner")
            scanners.execute(f"INSTALL '{extension_path('duckdb_extension_mysql', 'mysql.duckdb_extension')}'")
            scanners.execute("LOAD mysql")
            scanners.execute(f"ATTACH 'dbname={database} host=127.0.0.1 port={proxy.port} user={setup.PG_USER}' "
                             "AS pg (TYPE postgres, READ_ONLY)")
            scanners.execute(f"ATTACH 'host={setup.MY_HOST} port={setup.MY_PORT} user={setup.MY_USER} "
                             f"database={database}' AS my (TYPE mysql, READ_ONLY)")
            for table in tpch.TABLES:
                where = setup.PLACEMENT[table]
                source = (f"pg.public.{table}" if where == "postgres" else f"my.{database}.{table}"
                          if where == "mariadb" else f"read_parquet('{files[table].as_posix()}')")
                scanners.execute(f"CREATE VIEW {table} AS SELECT * FROM {source}")
        header = f"{'query':<6}" + "".join(f"{name:>30}" for name in engines) + (
            f"{'duckdb scanner (slow)':>24}" if scanners else "")
        print(header)
        print(f"{'':<6}" + "".join(f"{'s / pg rows / filters':>30}" for _ in engines))
        for query in queries:
            plain = CUSTOM[query] if query in CUSTOM else tpch.QUERIES[int(query)]
            sql = tpch.product_sql(plain)
            expected = reference.execute(plain).to_arrow_table()
            ordered = "ORDER BY" in plain.upper()
            cells = []
            for name, cat in engines.items():
                off = name.endswith("no dynamic filters")
                saved = optimizer.WORTH, optimizer.MAX_KEEP
                if off:
                    optimizer.WORTH, optimizer.MAX_KEEP = 0.0, 0.0
                try:
                    run(cat, sql)  # warm-up (and, for "link unknown", a measurement of the link)
                    seconds, table, stats = run(cat, sql)
                finally:
                    optimizer.WORTH, optimizer.MAX_KEEP = saved
                tpch.assert_same_result(table, expected, ordered=ordered)
                pg_rows = sum(s.rows for s in stats.scans if s.source == "sales_pg")
                waits = sum(1 for s in stats.scans if "IN (" in (s.source_sql or "") and s.source == "sales_pg")
                cells.append(f"{seconds:8.2f} / {pg_rows:>9,} / {waits}")
            line = f"{query.upper() if query in CUSTOM else 'Q' + query:<6}" + "".join(f"{c:>30}" for c in cells)
            if scanners is not None:
                scanners.execute(plain).fetchall()
                started = time.perf_counter()
                scanners.execute(plain).fetchall()
                line += f"{time.perf_counter() - started:>24.2f}"
            print(line, flush=True)
        print(f"bytes the proxy carried down: {proxy.bytes_down:,}")
        for cat in engines.values():
            for connector in cat.connectors.values():
                connector.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
