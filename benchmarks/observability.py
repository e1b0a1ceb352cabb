"""Observability costs: metrics and tracing on the query path, and a /metrics scrape of 1,000
products.

**Query overhead.** The demo workspace (`meshfabric demo`'s data: orders in DuckDB, customers
in SQLite, shipments in Parquet; ``--orders`` rows), and two queries: the demo's question (three
sources, a join, ``DEMO_SQL``) and a small one (one SQLite product, a pushed filter). Each
query runs as the workspace admin through ``mesh.query`` in three variants, interleaved:

* **off** — what the query path cost before this instrumentation: no movement points are
  computed or buffered and the OpenTelemetry module is hidden from the instrumentation (it looks
  for ``opentelemetry.trace`` in ``sys.modules``), so every span site is a dictionary miss;
* **none** — the default (``observability.tracing.exporter: none``): rows/bytes moved computed
  after every query and buffered (written by a timer thread once a second); no span
  (OpenTelemetry not loaded);
* **console** — the same plus tracing with the console exporter writing to /dev/null through
  the batch processor: the ``query``, ``plan``, ``scan`` (sanitized source SQL) and ``engine``
  spans are created, attributed and serialized.

Medians of ``--runs`` runs after a warm-up; overhead = median(variant) − median(off), also as a
ratio of the off median.

**Scrape.** A fresh SQLite store with ``--products`` products in 20 domains, ``--days`` days of
probe points every 5 minutes (freshness, availability, row count: 3 series per product), hourly
quality scores (overall + 5 dimensions), and ``--queries`` queries in the last hour (audit rows
plus rows/bytes-moved points per product and source) and as many again over the days before.
Printed: the first scrape of a process (it renders synchronously: the newest point of every
series by a loose index scan, the window's movement points, the audit aggregates), then, ``--scrapes``
times, after 15 s worth of new points and queries: one background rendering (what the refresh
thread does every 10 s: read the new points by id, aggregate the audit window, format the text)
and one scrape (``mesh.metrics.scrape()``: the metrics.read decision, audited, and the latest
rendered text). Medians.

    .venv/bin/python benchmarks/observability.py [--orders 200000] [--runs 40] [--products 1000] \\
        [--days 2] [--queries 20000] [--scrapes 20]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SMALL_SQL = "SELECT customer_id, name FROM crm.customers WHERE country = 'PT' AND customer_id < 200"


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def query_overhead(orders: int, runs: int) -> None:
    import meshfabric.access.enforce as enforce
    from meshfabric import Mesh
    from meshfabric.cli.demo import DEMO_SQL, DemoSizes, generate_data, write_workspace
    from meshfabric.spec.observe_models import TracingSpec

    root = Path(tempfile.mkdtemp(prefix="mf-observe-bench-")) / "ws"
    write_workspace(root)
    generate_data(root, DemoSizes(customers=5_000, orders=orders))
    assert "opentelemetry.trace" not in sys.modules, "OpenTelemetry must not be loaded before the 'off' runs"
    with Mesh.open(root) as mesh:
        mesh.apply()
        record = enforce._movement
        null = open(os.devnull, "w")  # noqa: SIM115  (kept open for the exporter's thread)
        from meshfabric.observe import tracing

        tracing.configure(TracingSpec(exporter="console"), stream=null)  # loads OpenTelemetry
        otel = {name: module for name, module in sys.modules.items() if name == "opentelemetry.trace"}

        def variant(name: str) -> Callable[[], None]:
            def setup() -> None:
                enforce._movement = (lambda result: []) if name == "off" else record  # type: ignore[assignment]
                if name == "console":
                    sys.modules.update(otel)
                else:
                    sys.modules.pop("opentelemetry.trace", None)
            return setup

        queries = (("demo question (3 sources, join)", DEMO_SQL), ("small query (1 SQLite product)", SMALL_SQL))
        for label, sql in queries:
            times: dict[str, list[float]] = {"off": [], "none": [], "console": []}
            names = list(times)
            for i in range(runs + 3):
                order = names[i % 3:] + names[:i % 3]
                for name in order:
                    variant(name)()
                    start = time.perf_counter()
                    mesh.query(sql)
                    took = time.perf_counter() - start
                    if i >= 3:
                        times[name].append(took)
            base = _median_ms(times["off"])
            print(f"\n{label}: median of {runs} runs each; overhead = median of the paired differences "
                  "(each run's variant minus the same round's off)")
            print(f"  {'variant':<10} {'median ms':>10} {'overhead ms':>12} {'ratio':>8}")
            for name in names:
                m = _median_ms(times[name])
                paired = statistics.median(a - b for a, b in zip(times[name], times["off"], strict=True)) * 1000
                print(f"  {name:<10} {m:>10.2f} {paired:>12.3f} {paired / base * 100:>7.2f}%")
            direct_cost(mesh, sql, base, record)
        sys.modules.update(otel)
        enforce._movement = record  # type: ignore[assignment]
        tracing.flush()


def direct_cost(mesh: Any, sql: str, base_ms: float, movement: Callable[[Any], list[Any]], n: int = 2000) -> None:
    """The instrumentation's own work per query, timed alone (end-to-end medians on a shared
    machine move by more than it costs): the movement points of this query's result computed and
    buffered, plus their share of the once-a-second INSERT; and the six spans of the query
    (``query``, ``plan``, ``scan`` per source, ``engine``) with their attributes and sanitized
    SQL, serialized by the console exporter synchronously (in production a background thread
    does that part)."""
    import io

    import meshfabric.access.enforce as enforce
    from meshfabric.query.engine import DB_SYSTEMS, sanitized_sql

    result = mesh.query(sql)
    buffer = enforce.MovementBuffer(mesh.store)
    start = time.perf_counter()
    for _ in range(n):
        buffer._points.extend(movement(result))
    per_query = (time.perf_counter() - start) / n
    points = movement(result)
    buffer._points = points * 50
    start = time.perf_counter()
    buffer.flush()
    per_point_flush = (time.perf_counter() - start) / len(points * 50)
    none_us = (per_query + per_point_flush * len(points)) * 1e6

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
    from opentelemetry.trace import SpanKind

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=io.StringIO())))
    tracer = provider.get_tracer("meshfabric")
    scans = result.stats.scans
    start = time.perf_counter()
    for _ in range(n // 4):
        with tracer.start_as_current_span("query", attributes={
                "db.system": "duckdb", "db.operation.name": "SELECT", "db.query.text": sanitized_sql(sql)}) as q:
            q.set_attribute("enduser.id", "admin")
            with tracer.start_as_current_span("plan") as p:
                p.set_attribute("meshfabric.scans", len(scans))
                p.set_attribute("meshfabric.products", sorted({s.product for s in scans}))
                p.set_attribute("meshfabric.filters_pushed", 2)
            for scan in scans:
                system = DB_SYSTEMS.get("sqlite", "sqlite")
                with tracer.start_as_current_span("scan", kind=SpanKind.CLIENT, attributes={
                        "db.system": system, "db.system.name": system, "db.namespace": scan.source,
                        "db.collection.name": scan.product, "meshfabric.product": scan.product,
                        "meshfabric.source": scan.source, "meshfabric.columns": len(scan.columns)}) as sp:
                    sp.set_attribute("db.query.text", sanitized_sql(scan.source_sql or "", system))
                    sp.set_attribute("db.response.returned_rows", scan.rows)
                    sp.set_attribute("meshfabric.rows", scan.rows)
                    sp.set_attribute("meshfabric.pushed_filters", len(scan.pushed_filters))
            with tracer.start_as_current_span("engine", attributes={"db.system": "duckdb"}) as e:
                e.set_attribute("meshfabric.rows", result.arrow().num_rows)
            for name, value in (("meshfabric.rows", 1), ("meshfabric.rows_moved", 2), ("meshfabric.decision", "a"),
                                ("meshfabric.products", ["x"])):
                q.set_attribute(name, value)
    console_us = (time.perf_counter() - start) / (n // 4) * 1e6
    print(f"  direct cost per query: metrics {none_us:7.1f} µs ({none_us / 10 / base_ms:.3f}%), "
          f"metrics + {2 + len(scans) + 1} spans exported {none_us + console_us:7.1f} µs "
          f"({(none_us + console_us) / 10 / base_ms:.3f}%) of the off median")


def seed_store(url: str, products: int, days: int, queries: int, now: datetime) -> list[str]:
    from sqlalchemy import insert

    from meshfabric.store import open_store
    from meshfabric.store.models import DomainRow, MetricPointRow, ProductRow
    from meshfabric.store.models_access import AuditRow

    store = open_store(url)
    fqns = [f"domain{i % 20:02d}.product_{i:04d}" for i in range(products)]
    rnd = random.Random(7)
    with store.engine.begin() as conn:
        conn.execute(insert(DomainRow), [{"name": f"domain{d:02d}", "owners": []} for d in range(20)])
        conn.execute(insert(ProductRow), [
            {"domain": f.split(".")[0], "name": f.split(".")[1], "owner": "o", "status": "published", "version": "1",
             "source": f"src{i % 5}", "spec": {}, "spec_hash": "", "columns": []} for i, f in enumerate(fqns)])
        steps = days * 24 * 12
        for step in range(steps, 0, -1):  # probes every 5 minutes, oldest first
            ts = now - timedelta(minutes=5 * step)
            rows: list[dict[str, Any]] = []
            for f in fqns:
                rows += [{"series": f"{f}/freshness.minutes", "product": f, "metric": "freshness.minutes",
                          "value": rnd.random() * 200, "ts": ts},
                         {"series": f"{f}/availability", "product": f, "metric": "availability", "value": 1.0,
                          "ts": ts},
                         {"series": f"{f}/row_count", "product": f, "metric": "row_count",
                          "value": float(rnd.randint(1, 10**6)), "ts": ts}]
                if step % 12 == 0:
                    rows += [{"series": f"{f}/{m}/*", "product": f, "metric": m, "value": rnd.random(), "ts": ts}
                             for m in ("score", "score.completeness", "score.validity", "score.uniqueness",
                                       "score.freshness", "score.consistency")]
            conn.execute(insert(MetricPointRow), rows)
        for older in (True, False):
            audit, moved = [], []
            for _ in range(queries):
                f = rnd.choice(fqns)
                ts = now - (timedelta(hours=1 + rnd.random() * (days * 24 - 1)) if older
                            else timedelta(seconds=rnd.random() * 3600))
                audit.append({"principal": f"user{rnd.randint(0, 60)}", "action": "query", "resource": f.lower(),
                              "decision": "allowed" if rnd.random() > 0.02 else "error",
                              "latency_ms": rnd.lognormvariate(3, 1), "at": ts, "rows": 10})
                source = f"src{rnd.randint(0, 4)}"
                moved += [{"series": f"{f}/query.rows_moved/{source}", "product": f, "metric": "query.rows_moved",
                           "value": 100.0, "ts": ts},
                          {"series": f"{f}/query.bytes_moved/{source}", "product": f, "metric": "query.bytes_moved",
                           "value": 6400.0, "ts": ts}]
            conn.execute(insert(AuditRow), audit)
            conn.execute(insert(MetricPointRow), moved)
    store.close()
    return fqns


def add_fifteen_seconds(url: str, fqns: list[str], queries_per_hour: int, at: datetime) -> None:
    from sqlalchemy import insert

    from meshfabric.store import open_store
    from meshfabric.store.models import MetricPointRow
    from meshfabric.store.models_access import AuditRow

    rnd = random.Random(at.timestamp())
    store = open_store(url)
    with store.engine.begin() as conn:
        probed = rnd.sample(fqns, len(fqns) // 20)  # each product probed every 5 min: 1/20 of them per 15 s
        conn.execute(insert(MetricPointRow), [
            {"series": f"{f}/freshness.minutes", "product": f, "metric": "freshness.minutes", "value": 5.0, "ts": at}
            for f in probed])
        n = max(1, queries_per_hour // 240)
        chosen = [rnd.choice(fqns) for _ in range(n)]
        conn.execute(insert(AuditRow), [{"principal": "user1", "action": "query", "resource": f.lower(),
                                         "decision": "allowed", "latency_ms": 12.0, "at": at} for f in chosen])
        conn.execute(insert(MetricPointRow), [
            {"series": f"{f}/query.rows_moved/src1", "product": f, "metric": "query.rows_moved", "value": 1.0,
             "ts": at} for f in chosen])
    store.close()


def scrape_time(products: int, days: int, queries: int, scrapes: int) -> None:
    from meshfabric import Mesh

    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='mf-scrape-bench-')) / 'store.db'}"
    now = datetime.now(UTC)
    started = time.perf_counter()
    fqns = seed_store(url, products, days, queries, now)
    from sqlalchemy import create_engine, text

    with create_engine(url).connect() as conn:
        points = conn.execute(text("SELECT count(*) FROM metric_points")).scalar()
        audits = conn.execute(text("SELECT count(*) FROM access_audit")).scalar()
    print(f"\nscrape: {products} products, {points:,} metric points, {audits:,} audit rows "
          f"(seeded in {time.perf_counter() - started:.1f} s)")
    mesh = Mesh.from_store(url)
    mesh.metrics.refresh_seconds = 3600  # the background thread stays idle: render() is timed by hand
    try:
        start = time.perf_counter()
        body = mesh.metrics.scrape()
        first = time.perf_counter() - start
        samples = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
        scrapes_s: list[float] = []
        renders: list[float] = []
        collect: list[float] = []
        for i in range(scrapes):
            add_fifteen_seconds(url, fqns, queries, datetime.now(UTC) + timedelta(milliseconds=i))
            start = time.perf_counter()
            mesh.metrics.render()  # what the background thread does every refresh_seconds
            renders.append(time.perf_counter() - start)
            assert mesh.metrics.collector is not None
            collect.append(mesh.metrics.collector.last_seconds)
            start = time.perf_counter()
            body = mesh.metrics.scrape()
            scrapes_s.append(time.perf_counter() - start)
        print(f"  first scrape of a process (renders synchronously):   {first * 1000:8.1f} ms, {samples:,} samples, "
              f"{len(body):,} bytes")
        print(f"  scrape (metrics.read decision + the rendered text):  {_median_ms(scrapes_s):8.1f} ms median "
              f"(max {max(scrapes_s) * 1000:.1f} ms) of {scrapes}")
        print(f"  background rendering after 15 s of new data:         {_median_ms(renders):8.1f} ms median "
              f"(store reads and families {_median_ms(collect):.1f} ms, the rest is text formatting)")
    finally:
        mesh.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--skip-scrape", action="store_true")
    args = parser.parse_args()
    os.environ.pop("MESHFABRIC_STORE_URL", None)
    if not args.skip_queries:
        query_overhead(args.orders, args.runs)
    if not args.skip_scrape:
        scrape_time(args.products, args.days, args.queries, args.scrapes)


if __name__ == "__main__":
    main()
