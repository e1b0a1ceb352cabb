"""Catalog search: full-text candidates vs scoring every document, incremental sync vs rebuild.

    .venv/bin/python benchmarks/search.py [--products 5000] [--store sqlite|postgresql://…]

A synthetic catalog (seeded: 46 common business words every product draws a few of, and 3,000 rare
words that make most searches selective; 12 columns per product, 17-word descriptions)
is written as product rows with their ``product.created`` events, then:

* **build** — the first sync indexes every product;
* **search** — each query timed (median of ``--runs``) with candidates from the full-text index
  (FTS5 / tsvector) and, as the baseline in the same process, with every document a candidate
  (same ranking, no index); the hit lists must be equal;
* **sync one change** — one product's description changes (row + event) and ``sync_search``
  folds it in, next to ``rebuild_search`` recomputing everything.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

from sqlalchemy import select

from meshfabric.events import DomainEvent, append
from meshfabric.mesh import Mesh
from meshfabric.search import index, rebuild_search, search, service, sync_search
from meshfabric.store import open_store
from meshfabric.store.models import DomainRow, ProductRow

#: common business words: every product draws a few of them, so they match many documents
COMMON = [
    "customer", "email", "order", "invoice", "payment", "shipment", "carrier", "parcel", "product", "price",
    "discount", "campaign", "newsletter", "account", "contact", "address", "country", "region", "store",
    "warehouse", "stock", "supplier", "refund", "return", "session", "click", "visit", "device", "browser",
    "revenue", "margin", "cost", "budget", "forecast", "target", "employee", "salary", "contract", "ticket",
    "incident", "alert", "metric", "score", "rating", "review", "feedback",
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
    rng = random.Random(seed)
    rare = _vocabulary(rng)
    store = open_store(store_url)
    domains = [f"dom{i}" for i in range(max(1, n // 100))]
    with store.write() as s:
        for d in domains:
            s.add(DomainRow(name=d, description=" ".join(rng.sample(rare, 4)), owners=[f"{d}@example.com"]))
        s.flush()
        for i in range(n):
            d = domains[i % len(domains)]
            name = f"{rng.choice(COMMON)}_{rng.choice(rare)}_{i}"
            cols = [{"name": f"{rng.choice(rare)}_{rng.choice(COMMON)}", "type": rng.choice(TYPES),
                     "description": " ".join(rng.sample(rare, 3) + rng.sample(COMMON, 1)), "classification": []}
                    for _ in range(12)]
            s.add(ProductRow(domain=d, name=name, owner=f"{d}@example.com",
                             description=" ".join(rng.choices(rare, k=15) + rng.sample(COMMON, 2)),
                             tags=[rng.choice(COMMON), rng.choice(rare)],
                             status="published", version="1.0.0", source="db", spec={}, spec_hash="x",
                             columns=cols, file=""))
            append(s, DomainEvent("product.created", d, {"product": f"{d}.{name}"}))
    store.close()


def timed(fn, runs: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    result = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--store", default="sqlite")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="mf-search-bench-")
    url = f"sqlite:///{tmp}/store.db" if args.store == "sqlite" else args.store
    populate(url, args.products)
    mesh = Mesh.from_store(url)
    start = time.perf_counter()
    sync_search(mesh.store)
    print(f"{args.products} products, {mesh.store.engine.dialect.name} store")
    print(f"build (first sync): {time.perf_counter() - start:.2f} s")

    print(f"\n{'query':<20} {'index ms':>9} {'scan ms':>9} {'ratio':>6} {'hits':>6}  same")
    rare = _vocabulary(random.Random(7))
    picks = random.Random(1).sample(rare, 3)
    typo = picks[2][:2] + picks[2][3] + picks[2][2] + picks[2][4:]  # two letters swapped
    for q in (*QUERIES, picks[0], f"{picks[0]} {picks[1]}", picks[1][:4], typo):
        t_fts, fts = timed(lambda q=q: search(mesh, q, limit=20), args.runs)
        real = service.full_text
        service.full_text = lambda store: index.FullText()  # every document a candidate
        try:
            t_scan, scan = timed(lambda q=q: search(mesh, q, limit=20), args.runs)
        finally:
            service.full_text = real
        same = fts.fqns == scan.fqns and fts.total == scan.total  # type: ignore[attr-defined]
        print(f"{q:<20} {t_fts * 1000:>9.1f} {t_scan * 1000:>9.1f} {t_scan / t_fts:>6.1f} "
              f"{fts.total:>6}  {'yes' if same else '!!! differ'}")  # type: ignore[attr-defined]

    with mesh.store.write() as s:
        row = s.scalars(select(ProductRow).limit(1)).one()
        row.description = "a quarantined zeppelin"
        append(s, DomainEvent("product.updated", row.domain, {"product": f"{row.domain}.{row.name}"}))
    start = time.perf_counter()
    folded = sync_search(mesh.store)
    t_sync = time.perf_counter() - start
    start = time.perf_counter()
    docs = rebuild_search(mesh.store)
    t_rebuild = time.perf_counter() - start
    assert search(mesh, "zeppelin").total == 1
    print(f"\nsync one change: {t_sync * 1000:.1f} ms ({folded} event) vs rebuild {t_rebuild:.2f} s "
          f"({docs} documents): {t_rebuild / t_sync:.0f}x")
    mesh.close()


if __name__ == "__main__":
    main()
