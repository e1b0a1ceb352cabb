"""Catalog search: exact top-k retrieval from the postings vs scoring every match, sync vs rebuild.

    .venv/bin/python benchmarks/search.py [--products 5000] [--runs 20] [--store sqlite|postgresql://…]

A synthetic catalog (seeded: 46 common business words every product draws a few of, and 3,000 rare
words that make most searches selective; 12 columns per product, 17-word descriptions)
is written as product rows with their ``product.created`` events, then:

* **build** — the first sync indexes every product;
* **search** — each query kind (common and rare words, typos, prefixes, filters, a user who may
  discover every tenth product, a page further down) timed over ``--runs`` calls (p50/p95/p99);
  then once with ``search_exhaustive`` — every document holding a query word scored in Python
  with the same ranking — whose top 20 (and total, when exact) the retrieval must equal;
* **sync one change** — one product's description changes (row + event) and ``sync_search``
  folds it in, next to ``rebuild_search`` recomputing everything.

With a PostgreSQL URL the benchmark creates its own database on that server and drops it after.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

from meshfabric.events import DomainEvent, append
from meshfabric.mesh import Mesh
from meshfabric.search import rebuild_search, service, sync_search
from meshfabric.store import open_store
from meshfabric.store.models import DomainRow, EventRow, ProductRow

#: common business words: every product draws a few of them, so they match many documents
COMMON = [
    "customer",
    "email",
    "order",
    "invoice",
    "payment",
    "shipment",
    "carrier",
    "parcel",
    "product",
    "price",
    "discount",
    "campaign",
    "newsletter",
    "account",
    "contact",
    "address",
    "country",
    "region",
    "store",
    "warehouse",
    "stock",
    "supplier",
    "refund",
    "return",
    "session",
    "click",
    "visit",
    "device",
    "browser",
    "revenue",
    "margin",
    "cost",
    "budget",
    "forecast",
    "target",
    "employee",
    "salary",
    "contract",
    "ticket",
    "incident",
    "alert",
    "metric",
    "score",
    "rating",
    "review",
    "feedback",
]
TYPES = ("bigint", "string", "double", "timestamp", "date", "boolean", "decimal(10,2)")


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    """Pronounceable rare words: the specific vocabulary that makes most searches selective."""
    syllables = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]
    found: set[str] = set()
    while len(found) < size:
        found.add("".join(rng.choices(syllables, k=rng.randint(2, 4))))
    return sorted(found)


QUERIES = ("customer email", "custmer emial", "invoice", "pay", "zzzz nothing")


def populate(store_url: str, n: int, seed: int = 7) -> None:
    """Write the catalog: products and their ``product.created`` events, inserted in bulk a
    batch at a time (a million products in minutes, not in one session's memory)."""
    rng = random.Random(seed)
    rare = _vocabulary(rng)
    store = open_store(store_url)
    domains = [f"dom{i}" for i in range(max(1, n // 100))]
    with store.write() as s:
        for d in domains:
            s.add(DomainRow(name=d, description=" ".join(rng.sample(rare, 4)), owners=[f"{d}@example.com"]))
        s.flush()
        products: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for i in range(n):
            d = domains[i % len(domains)]
            name = f"{rng.choice(COMMON)}_{rng.choice(rare)}_{i}"
            cols = [
                {
                    "name": f"{rng.choice(rare)}_{rng.choice(COMMON)}",
                    "type": rng.choice(TYPES),
                    "description": " ".join(rng.sample(rare, 3) + rng.sample(COMMON, 1)),
                    "classification": [],
                }
                for _ in range(12)
            ]
            products.append(
                dict(
                    domain=d,
                    name=name,
                    owner=f"{d}@example.com",
                    description=" ".join(rng.choices(rare, k=15) + rng.sample(COMMON, 2)),
                    tags=[rng.choice(COMMON), rng.choice(rare)],
                    status="published",
                    version="1.0.0",
                    source="db",
                    spec={},
                    spec_hash="x",
                    columns=cols,
                    file="",
                )
            )
            e = DomainEvent("product.created", d, {"product": f"{d}.{name}"})
            events.append(
                dict(
                    id=e.id,
                    event_type=e.event_type,
                    domain=e.domain,
                    data=e.data,
                    timestamp=e.timestamp,
                    correlation_id=e.correlation_id,
                    causation_id=None,
                )
            )
            if len(products) == 5000 or i == n - 1:
                s.execute(insert(ProductRow), products)
                s.execute(insert(EventRow), events)
                products.clear()
                events.clear()
    store.close()


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], list[float], Any]:
    """The sorted wall-clock and process CPU times (seconds) of ``runs`` calls after one warm-up,
    and the last result. On a busy machine the CPU time is what the search itself cost this
    process (all of it with SQLite; PostgreSQL's share runs in the server)."""
    result = fn()
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return sorted(times), sorted(cpu), result


def pct(times: list[float], p: float) -> float:
    return times[min(len(times) - 1, max(0, math.ceil(p * len(times)) - 1))]


def cases(n: int) -> list[tuple[str, str, dict[str, object]]]:
    """(kind, query, search keywords): common words, rare words, typos, filters, a restricted user."""
    rare = _vocabulary(random.Random(7))
    picks = random.Random(1).sample(rare, 3)
    typo = picks[2][:2] + picks[2][3] + picks[2][2] + picks[2][4:]  # two letters swapped
    found: list[tuple[str, str, dict[str, object]]] = [
        ("common", "customer email", {}),
        ("typos", "custmer emial", {}),
        ("common", "invoice", {}),
        ("prefix", "pay", {}),
        ("none", "zzzz nothing", {}),
        ("rare", picks[0], {}),
        ("rare", f"{picks[0]} {picks[1]}", {}),
        ("prefix", picks[1][:4], {}),
        ("typo", typo, {}),
        ("common", "order", {"offset": 40}),
        ("prefix", "cust", {}),
        ("filter", "customer", {"domain": "dom3"}),
        ("filter", "invoice", {"status": "published"}),
        ("filter", "payment", {"tag": "refund"}),
        ("user", "customer email", {"user": "tenth"}),
        ("user", "revenue", {"user": "tenth"}),
        ("stem", "orders", {}),
        ("stem", "customers emails", {}),
    ]
    return found


def _reset_peak_rss() -> None:
    """Start measuring this process's peak resident set afresh (Linux: the catalog's writing
    before the build has its own, larger peak)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    """This process's peak resident set since the last reset (else since it started), in MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def restrict(fqns: list[str]) -> None:
    """User ``tenth`` may discover every tenth product; everyone else everything."""
    tenth = set(fqns[::10])
    service.visible_products = lambda access, user: tenth if user == "tenth" else None


def _pg_database(server: str) -> tuple[str, Callable[[], None]]:
    """A fresh database on the server of ``server`` (a PostgreSQL URL), and how to drop it."""
    name = f"mf_search_bench_{os.getpid()}"
    admin = make_url(server.replace("postgresql://", "postgresql+psycopg://", 1)).set(database="postgres")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    url = admin.set(database=name).render_as_string(hide_password=False)
    return url.replace("postgresql+psycopg://", "postgresql://", 1), drop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--store", default="sqlite", help="sqlite, or a PostgreSQL server URL")
    parser.add_argument("--no-check", action="store_true", help="skip the exhaustive comparison (slow at 100k)")
    parser.add_argument("--no-rebuild", action="store_true", help="skip the full rebuild at the end")
    parser.add_argument(
        "--catalog",
        help="SQLite: copy this store (a catalog written by populate(), not indexed "
        "yet) instead of writing the catalog again — a million products take minutes",
    )
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # lines as they come, also into a file
    drop: Callable[[], None] | None = None
    if args.store == "sqlite":
        url = f"sqlite:///{tempfile.mkdtemp(prefix='mf-search-bench-')}/store.db"
    else:
        url, drop = _pg_database(args.store)
    try:
        run(url, args)
    finally:
        if drop is not None:
            drop()


def run(url: str, args: argparse.Namespace) -> None:
    start = time.perf_counter()
    if args.catalog:
        shutil.copyfile(args.catalog, url.removeprefix("sqlite:///"))
        print(f"catalog copied from {args.catalog}")
    else:
        populate(url, args.products)
        print(f"{args.products} products written in {time.perf_counter() - start:.1f} s")
    mesh = Mesh.from_store(url)
    gc.collect()
    _reset_peak_rss()
    rss_before = _peak_rss_mb()
    start, start_cpu = time.perf_counter(), time.process_time()
    sync_search(mesh.store)
    print(f"{args.products} products, {mesh.store.engine.dialect.name} store")
    print(
        f"build (first sync): {time.perf_counter() - start:.2f} s, this process's CPU "
        f"{time.process_time() - start_cpu:.2f} s, peak RSS {_peak_rss_mb():.0f} MB "
        f"({rss_before:.0f} MB at the start; load average {os.getloadavg()[0]:.1f})"
    )
    with mesh.store.read() as s:
        restrict(sorted(f"{d}.{n}" for d, n in s.execute(select(ProductRow.domain, ProductRow.name))))

    print(
        f"\n{'kind':<7} {'query':<34} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'cpu p50':>7} {'cpu p95':>7} "
        f"{'total':>7} {'exh s':>6} top-20 / total vs exhaustive"
    )
    agree, worst = [], 0.0
    for kind, q, kw in cases(args.products):
        label = q + "".join(f" {k}={v}" for k, v in kw.items())
        times, cpu, fast = timed(lambda q=q, kw=kw: mesh.search(q, limit=20, **kw), args.runs)
        worst = max(worst, pct(times, 0.95))
        shown = f"{fast.total}{'' if fast.total_exact else '+'}"
        line = (
            f"{kind:<7} {label[:34]:<34} {pct(times, 0.5) * 1000:>7.1f} {pct(times, 0.95) * 1000:>7.1f} "
            f"{pct(times, 0.99) * 1000:>7.1f} {pct(cpu, 0.5) * 1000:>7.1f} {pct(cpu, 0.95) * 1000:>7.1f} "
            f"{shown:>7}"
        )
        if not args.no_check:
            start = time.perf_counter()
            full = service.search_exhaustive(mesh.store, mesh.access, q, limit=20, **kw)  # type: ignore[arg-type]
            t_exh = time.perf_counter() - start
            same = fast.fqns == full.fqns and [h.score for h in fast] == [h.score for h in full]
            top = len(set(fast.fqns) & set(full.fqns)) / len(full.fqns) if full.fqns else float(not fast.fqns)
            agree.append(top if same else min(top, 0.999))
            total_ok = fast.total == full.total if fast.total_exact else fast.total <= full.total
            line += (
                f" {t_exh:>6.2f} {'equal' if same else f'{top:.0%} DIFFER'} / "
                f"{'ok' if total_ok else f'!!! {full.total}'}"
            )
        print(line)
    print(f"worst p95: {worst * 1000:.1f} ms")
    if agree:
        print(f"top-20 equal to exhaustive scoring (order and scores): {sum(a == 1.0 for a in agree)}/{len(agree)}")

    with mesh.store.write() as s:
        row = s.scalars(select(ProductRow).limit(1)).one()
        row.description = "a quarantined zeppelin"
        append(s, DomainEvent("product.updated", row.domain, {"product": f"{row.domain}.{row.name}"}))
    start = time.perf_counter()
    folded = sync_search(mesh.store)
    t_sync = time.perf_counter() - start
    with mesh.store.write() as s:
        s.add(
            ProductRow(
                domain="dom1",
                name="zz_added_product",
                owner="x@example.com",
                description="fresh words",
                tags=["new"],
                status="draft",
                version="1.0.0",
                source="db",
                spec={},
                spec_hash="x",
                columns=[{"name": "added_id", "type": "bigint"}],
                file="",
            )
        )
        append(s, DomainEvent("product.created", "dom1", {"product": "dom1.zz_added_product"}))
    start = time.perf_counter()
    sync_search(mesh.store)
    t_add = time.perf_counter() - start
    print(
        f"\nsync one change: {t_sync * 1000:.1f} ms ({folded} event), one added product {t_add * 1000:.1f} ms",
        flush=True,
    )
    if args.no_rebuild:
        return
    _reset_peak_rss()
    start = time.perf_counter()
    docs = rebuild_search(mesh.store)
    t_rebuild = time.perf_counter() - start
    assert mesh.search("zeppelin").total == 1
    assert mesh.search("zz added product").fqns[0] == "dom1.zz_added_product"
    print(f"rebuild {t_rebuild:.2f} s ({docs} documents, peak RSS {_peak_rss_mb():.0f} MB)")
    mesh.close()


if __name__ == "__main__":
    main()
