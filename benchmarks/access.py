"""Access enforcement overhead: the same simple product query with and without the access layer.

In one process, over one SQLite-backed product of ``--rows`` rows:

* **unsecured** — ``meshfabric.query.run_query`` over the store's catalog: guard, plan, scan,
  DuckDB; no principal, no policy, no audit;
* **admin** — ``mesh.query`` as the workspace admin: access snapshot, audit row written, no
  rewrite (admins are exempt from masks and filters);
* **secured** — ``mesh.query(user="alice")``: access snapshot, policy resolution, the secured
  subquery (5 masks incl. a salted hash, a row filter bound to her region), the filter pushed to
  the source and re-applied at the scan, and the audit row written in its own transaction.

Each variant is warmed up and then timed ``--runs`` times, interleaved; medians are printed with
the overhead in ms and as a ratio. Also printed: the parts of the overhead measured alone
(snapshot, policy resolution + rewrite, audit write). Nothing is asserted about time.

    .venv/bin/python benchmarks/access.py [--rows 10000] [--runs 200] [--store URL]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--store", default=None, help="metadata store URL (default: the workspace's SQLite)")
    args = parser.parse_args()
    os.environ.setdefault("MESHFABRIC_MASK_SALT", "benchmark-salt")
    os.environ.pop("MESHFABRIC_STORE_URL", None)

    import sqlite3

    from access_support import build, setup_principals
    from meshfabric import Mesh
    from meshfabric.catalog.queryable import StoreCatalog
    from meshfabric.query import run_query

    root = build(Path(tempfile.mkdtemp(prefix="mf-access-bench-")) / "ws")
    with sqlite3.connect(root / "data" / "shop.sqlite") as conn:
        conn.execute("DELETE FROM orders")
        regions = ("EU", "US", "APAC", "LATAM")
        conn.executemany("INSERT INTO orders VALUES (?,?,?,?,?,?,?,?)", [
            (i, regions[i % 4], float(i % 997), f"user{i}@x.com", f"4{i:015d}", f"{i:03d}-00-0000",
             "1980-05-17", f"note {i}") for i in range(args.rows)])
    sql = "SELECT id, amount, email, card FROM sales.orders WHERE amount > 500"
    with Mesh.open(root, store=args.store) as mesh:
        mesh.apply()
        setup_principals(mesh)
        access = mesh.access

        def unsecured() -> int:
            return run_query(sql, StoreCatalog(mesh.store, mesh.connections)).arrow().num_rows

        def admin() -> int:
            return mesh.query(sql).arrow().num_rows

        def secured() -> int:
            return mesh.query(sql, user="alice").arrow().num_rows

        variants: dict[str, Callable[[], int]] = {"unsecured": unsecured, "admin": admin, "secured": secured}
        rows = {name: fn() for name, fn in variants.items()}
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.runs):
            for name, fn in variants.items():
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1000)

        from meshfabric.access.enforce import SecuredCatalog
        from meshfabric.query.guard import guard
        from meshfabric.query.secure import secure

        parts: dict[str, list[float]] = {"snapshot": [], "policy lookup": [], "rewrite": [], "audit write": []}
        for _ in range(args.runs):
            t0 = time.perf_counter()
            snap = access.snapshot()
            who = access.acting("alice", snap)
            t1 = time.perf_counter()
            catalog = SecuredCatalog(mesh.store, mesh.connections, access, who, snap)
            guarded = guard(sql, catalog)
            t2 = time.perf_counter()
            views = catalog.views(guarded.products)
            t3 = time.perf_counter()
            secure(guarded.expression, views)
            t4 = time.perf_counter()
            access.audit("bench", "query", "sales.orders", "allowed", sql=sql, rows=1, latency_ms=1.0)
            t5 = time.perf_counter()
            parts["snapshot"].append((t1 - t0) * 1000)
            parts["policy lookup"].append((t3 - t2) * 1000)
            parts["rewrite"].append((t4 - t3) * 1000)
            parts["audit write"].append((t5 - t4) * 1000)

    med = {k: statistics.median(v) for k, v in times.items()}
    store = "PostgreSQL" if args.store and args.store.startswith("postgres") else "SQLite"
    print(f"access enforcement overhead — {args.rows} rows, {args.runs} runs, {store} metadata store")
    print(f"query: {sql}")
    print(f"{'variant':<10} {'rows':>6} {'median ms':>10} {'overhead ms':>12} {'ratio':>6}")
    for name in variants:
        print(f"{name:<10} {rows[name]:>6} {med[name]:>10.2f} {med[name] - med['unsecured']:>12.2f} "
              f"{med[name] / med['unsecured']:>6.2f}")
    print("parts of the secured overhead (median ms):")
    for name, values in parts.items():
        print(f"  {name:<18} {statistics.median(values):.2f}")


if __name__ == "__main__":
    main()
