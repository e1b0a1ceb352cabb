"""The web UI's pages over a mesh of 500 products: how long the server takes to render each one.

A fresh SQLite store holds ``--products`` products in ``--domains`` domains, and ``--days`` days of
recorded history written straight into the store, the way probes, quality runs and queries
record it (deterministic values, no randomness): per product an hourly freshness and
availability probe and a daily overall quality score (``{fqn}/score/*``), and ``--queries``
audited queries spread over the period with their latencies. The pages are rendered by the real
app (``create_app(mesh, auth=False)``: the local principal, who sees everything, so every
product's health is computed) through FastAPI's TestClient, which runs the whole request in
process: the numbers are server time (services, template, middleware), not network.

Printed per page: the first request (templates compiled) and the median and maximum of ``--runs``
more, and the page's size. The overview twice: with its health cache emptied before every request
(what a first visit costs: the page computes the health that fits in its time budget and leaves
the other rows to its script) and with the cache warm (a reload within a minute). Then how long
the pending rows take to arrive (``/overview/rows/{domain}``, one after another), and the
overview's service calls timed alone (``mesh.observe.health`` per domain is nearly all of it).

    .venv/bin/python benchmarks/ui.py [--products 500] [--domains 20] [--days 30] [--queries 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def seed_store(url: str, products: int, domains: int, days: int, queries: int, now: datetime) -> list[str]:
    from sqlalchemy import insert

    from meshfabric.store import open_store
    from meshfabric.store.models import DomainRow, MetricPointRow, ProductRow
    from meshfabric.store.models_access import AuditRow

    store = open_store(url)
    fqns = [f"domain{i % domains:02d}.product_{i:04d}" for i in range(products)]
    statuses = ("published", "published", "published", "draft", "deprecated")
    with store.engine.begin() as conn:
        conn.execute(insert(DomainRow), [{"name": f"domain{d:02d}", "owners": [f"team{d:02d}@example.com"]}
                                         for d in range(domains)])
        conn.execute(insert(ProductRow), [
            {"domain": f.split(".")[0], "name": f.split(".")[1], "owner": "o", "status": statuses[i % 5],
             "version": "1", "source": f"src{i % 5}", "spec": {}, "spec_hash": "", "columns": []}
            for i, f in enumerate(fqns)])
        for hour in range(days * 24, 0, -1):
            ts = now - timedelta(hours=hour)
            rows: list[dict[str, Any]] = []
            for i, f in enumerate(fqns):
                rows += [{"series": f"{f}/freshness.minutes", "product": f, "metric": "freshness.minutes",
                          "value": float(5 + (i * 7 + hour) % 180), "ts": ts},
                         {"series": f"{f}/availability", "product": f, "metric": "availability",
                          "value": 0.0 if (i + hour) % 97 == 0 else 1.0, "ts": ts}]
                if hour % 24 == 0:
                    rows.append({"series": f"{f}/score/*", "product": f, "metric": "score",
                                 "value": 0.80 + ((i * 13 + hour // 24) % 20) / 100, "ts": ts})
            conn.execute(insert(MetricPointRow), rows)
        span = days * 24 * 3600
        conn.execute(insert(AuditRow), [
            {"principal": f"user{q % 40}", "action": "query", "resource": fqns[(q * 31) % products],
             "decision": "error" if q % 50 == 0 else "allowed", "latency_ms": 5.0 + (q * 17) % 400,
             "at": now - timedelta(seconds=span * (q + 0.5) / queries), "rows": 10}
            for q in range(queries)])
    store.close()
    return fqns


def _time(client: Any, path: str, runs: int, before: Callable[[], None] | None = None
          ) -> tuple[float, list[float], int]:
    if before:
        before()
    start = time.perf_counter()
    first = client.get(path)
    cold = time.perf_counter() - start
    assert first.status_code == 200, (path, first.status_code, first.text[:300])
    warm = []
    for _ in range(runs):
        if before:
            before()
        start = time.perf_counter()
        r = client.get(path)
        warm.append(time.perf_counter() - start)
        assert r.status_code == 200
    return cold, warm, len(first.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument("--domains", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from meshfabric import Mesh
    from meshfabric.api.app import create_app

    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='mf-ui-bench-')) / 'store.db'}"
    now = datetime.now(UTC)
    started = time.perf_counter()
    seed_store(url, args.products, args.domains, args.days, args.queries, now)
    print(f"{args.products} products in {args.domains} domains, {args.days} days of history, "
          f"{args.queries:,} audited queries (seeded in {time.perf_counter() - started:.1f} s)")
    mesh = Mesh.from_store(url)
    try:
        from meshfabric.ui import pages
        from meshfabric.ui.web import TimedCache

        app = create_app(mesh, auth=False)
        client = TestClient(app)

        def cold() -> None:  # what a page costs before anything is cached
            app.state.ui_cache = TimedCache()

        print(f"  {'page':<40}{'first ms':>10}{'median ms':>11}{'max ms':>9}{'bytes':>10}")
        def line(label: str, path: str, before: Callable[[], None] | None = None) -> None:
            first, warm, size = _time(client, path, args.runs, before)
            print(f"  {label:<40}{first * 1000:10.1f}{statistics.median(warm) * 1000:11.1f}"
                  f"{max(warm) * 1000:9.1f}{size:10,}")

        line("/ (nothing cached)", "/", cold)
        cold()
        page = client.get("/").text
        pending = re.findall(r'data-pending="([^"]+)"', page)
        start = time.perf_counter()
        for row in pending:
            assert client.get(row.replace("&amp;", "&")).status_code == 200
        rows_s = time.perf_counter() - start
        print(f"  overview: {args.domains - len(pending)} of {args.domains} domains' health within the "
              f"{pages.OVERVIEW_BUDGET:.1f} s budget; the other {len(pending)} rows one after another "
              f"(the page's script asks 4 at a time): {rows_s * 1000:.0f} ms, "
              f"{rows_s / max(1, len(pending)) * 1000:.0f} ms a row")
        line("/ (every row's health cached)", "/")
        for path in ("/domains/domain03", "/search?q=product", "/alerts"):
            line(path, path)
        # where the overview's time goes: the service calls it makes, timed alone
        start_ts = now.replace(microsecond=0) - timedelta(days=30)
        parts = {
            "mesh.domains + mesh.products": lambda: (mesh.domains(), mesh.products()),
            "mesh.alerts.page (open)": lambda: mesh.alerts.page(status="open", limit=1000),
            "mesh.observe.health x domains": lambda: [mesh.observe.health(d.name, since=start_ts, until=now)
                                                      for d in mesh.domains()],
        }
        for name, call in parts.items():
            samples = []
            for _ in range(3 if "health" not in name else 1):
                start = time.perf_counter()
                call()
                samples.append(time.perf_counter() - start)
            print(f"  overview part: {name:<34}{statistics.median(samples) * 1000:8.1f} ms")
    finally:
        mesh.close()


if __name__ == "__main__":
    main()
