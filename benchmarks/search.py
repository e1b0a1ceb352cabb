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
import math
import random
import statistics
import tempfile
import time

from sqlalchemy import select

from meshfabric.events import DomainEvent, append
from meshfabric.mesh import Mesh
from meshfabric.search import index, rebuild_search, service, sync_search
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


def timed(fn, runs: int) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """p50 and p95 (seconds) of ``runs`` calls after one warm-up, and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)], result


def cases(n: int) -> list[tuple[str, str, dict[str, object]]]:
    """(kind, query, search keywords): common words, rare words, typos, filters, a restricted user."""
    rare = _vocabulary(random.Random(7))
    picks = random.Random(1).sample(rare, 3)
    typo = picks[2][:2] + picks[2][3] + picks[2][2] + picks[2][4:]  # two letters swapped
    found: list[tuple[str, str, dict[str, object]]] = [
        ("common", "customer email", {}), ("typos", "custmer emial", {}), ("common", "invoice", {}),
        ("prefix", "pay", {}), ("none", "zzzz nothing", {}), ("rare", picks[0], {}),
        ("rare", f"{picks[0]} {picks[1]}", {}), ("prefix", picks[1][:4], {}), ("typo", typo, {}),
        ("common", "order", {"offset": 40}),
        ("filter", "customer", {"domain": "dom3"}), ("filter", "invoice", {"status": "published"}),
        ("filter", "payment", {"tag": "refund"}),
        ("user", "customer email", {"user": "tenth"}), ("user", "revenue", {"user": "tenth"}),
    ]
    return found


def restrict(fqns: list[str]) -> None:
    """User ``tenth`` may discover every tenth product; everyone else everything."""
    tenth = set(fqns[::10])
    service.visible_products = lambda access, user: tenth if user == "tenth" else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--store", default="sqlite")
    parser.add_argument("--scan", action="store_true", help="also time scoring every document (no index; slow)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="mf-search-bench-")
    url = f"sqlite:///{tmp}/store.db" if args.store == "sqlite" else args.store
    populate(url, args.products)
    mesh = Mesh.from_store(url)
    start = time.perf_counter()
    sync_search(mesh.store)
    print(f"{args.products} products, {mesh.store.engine.dialect.name} store")
    print(f"build (first sync): {time.perf_counter() - start:.2f} s")
    with mesh.store.read() as s:
        restrict(sorted(f"{d}.{n}" for d, n in s.execute(select(ProductRow.domain, ProductRow.name))))

    # bounded: the index's best-ranked candidates rescored; exhaustive: every match scored
    bounded = getattr(service, "candidates_for", None)  # None: before bounded retrieval
    print(f"\n{'kind':<7} {'query':<32} {'p50 ms':>7} {'p95 ms':>7} {'exh p50':>8} {'exh p95':>8} "
          f"{'total':>6} {'top-20':>7} total=")
    agree = []
    for kind, q, kw in cases(args.products):
        label = q + "".join(f" {k}={v}" for k, v in kw.items())
        p50, p95, fast = timed(lambda q=q, kw=kw: mesh.search(q, limit=20, **kw), args.runs)
        service.candidates_for = lambda offset, limit: 10**9  # type: ignore[assignment]
        try:
            e50, e95, full = timed(lambda q=q, kw=kw: mesh.search(q, limit=20, **kw), max(1, args.runs // 2))
        finally:
            if bounded is not None:
                service.candidates_for = bounded
        top = len(set(fast.fqns) & set(full.fqns)) / len(full.fqns) if full.fqns else float(not fast.fqns)  # type: ignore[attr-defined]
        exact = fast.fqns == full.fqns  # type: ignore[attr-defined]
        agree.append(top)
        print(f"{kind:<7} {label[:32]:<32} {p50 * 1000:>7.1f} {p95 * 1000:>7.1f} {e50 * 1000:>8.1f} {e95 * 1000:>8.1f} "
              f"{fast.total:>6} {top:>6.0%}{'' if exact else '*'} "  # type: ignore[attr-defined]
              f"{'yes' if fast.total == full.total else '!!! differ'}")  # type: ignore[attr-defined]
        if args.scan:
            real = service.full_text
            service.full_text = lambda store: index.FullText()  # every document a candidate
            try:
                t_scan, _, scan = timed(lambda q=q, kw=kw: mesh.search(q, limit=20, **kw), 1)
            finally:
                service.full_text = real
            print(f"        no index: {t_scan * 1000:.1f} ms, same: {scan.fqns == full.fqns}")  # type: ignore[attr-defined]
    print(f"top-20 agreement with exhaustive scoring: mean {statistics.mean(agree):.1%}, min {min(agree):.0%} "
          "(* = order differs)")

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
    assert mesh.search("zeppelin").total == 1
    print(f"\nsync one change: {t_sync * 1000:.1f} ms ({folded} event) vs rebuild {t_rebuild:.2f} s "
          f"({docs} documents): {t_rebuild / t_sync:.0f}x")
    mesh.close()


if __name__ == "__main__":
    main()
