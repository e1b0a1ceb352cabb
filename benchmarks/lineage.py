"""The lineage graph in the store: how fast edges go in and how fast upstream/downstream walks
come back, on SQLite and PostgreSQL stores, next to the same recursive query in DuckDB.

    .venv/bin/python benchmarks/lineage.py --datasets 1000000 --edges 3000000 --store sqlite
    .venv/bin/python benchmarks/lineage.py --quick --store both

The graph is a realistic lineage shape: datasets in pipelines of ``--pipeline`` nodes (ten layers
each, like raw → staging → marts), every non-source dataset derived from 1–5 others (the mean set
by ``--edges``) drawn mostly from the previous layer and near its own position, sometimes from
two or three layers back, and one edge in a hundred reaching a source dataset of another pipeline.
It is a DAG, so unbounded walks end, and their size is what real lineage has: hundreds of nodes,
not the whole graph.

Printed per store:

* ingest — ``MetadataGraph.add_edges`` in transactions of ``--batch`` edges, endpoints created as
  they appear (edges/s);
* walks — ``LineageService.upstream`` from deep datasets and ``downstream`` from shallow ones, at
  depth 5 and unbounded (page of up to 1,000 nodes), p50/p99 ms over ``--queries`` starts, and the
  mean number of nodes reached;
* baselines, timed for the same starts — the same recursive walk (same SQL shape, shortest
  distance per node) in an in-memory DuckDB holding the same edges (columnar, no index), and a
  breadth-first search over in-memory adjacency lists (what NetworkX does); ratios are
  meshfabric's p50 over each baseline's p50, and the number of nodes reached must agree.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
LAYERS = 10


def build_graph(n: int, m: int, pipeline: int, seed: int) -> tuple[list[tuple[int, int]], list[int]]:
    """Edges (target, source) over dataset ids 0..n-1 and each id's layer."""
    rng = random.Random(seed)
    width = max(1, pipeline // LAYERS)
    layer = [0] * n
    for i in range(n):
        layer[i] = min((i % pipeline) // width, LAYERS - 1)
    derived = sum(1 for i in range(n) if layer[i] > 0)
    mean = min(5.0, max(1.0, m / max(derived, 1)))
    p = (mean - 1) / 4
    edges: list[tuple[int, int]] = []
    for i in range(n):
        lay = layer[i]
        if lay == 0:
            continue
        base = i - (i % pipeline)
        pos = (i % pipeline) - lay * width
        k = 1 + sum(rng.random() < p for _ in range(4))
        chosen: set[int] = set()
        for _ in range(k * 3):
            if len(chosen) >= k:
                break
            if rng.random() < 0.01 and n > pipeline:
                other = rng.randrange(0, n // pipeline) * pipeline
                chosen.add(other + rng.randrange(0, width))
                continue
            back = 1 if rng.random() < 0.8 else rng.choice((2, 3))
            src_layer = max(0, lay - back)
            near = pos + rng.randint(-20, 20)
            src = base + src_layer * width + min(max(near, 0), width - 1)
            if src < n and src != i:
                chosen.add(src)
        edges.extend((i, s) for s in sorted(chosen))
    return edges, layer


def key(i: int, pipeline: int, layer: list[int]) -> str:
    return f"bench/p{i // pipeline}/l{layer[i]}/d{i}"


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def open_target(kind: str, workdir: Path) -> tuple[Any, str, Any]:
    from meshfabric.store import open_store

    if kind == "sqlite":
        path = workdir / f"lineage-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{path}"

        def drop() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)

        return open_store(url), url, drop
    import psycopg

    name = f"mf_bench_lineage_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop_pg() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    return open_store(url), url, drop_pg


def ingest(store: Any, edges: list[tuple[int, int]], names: list[str], batch: int) -> float:
    from meshfabric.graph import MetadataGraph

    g = MetadataGraph(store)
    t0 = time.perf_counter()
    for at in range(0, len(edges), batch):
        part = edges[at:at + batch]
        with store.write() as s:
            g.add_edges([(("dataset", names[a]), "derived_from", ("dataset", names[b]), None) for a, b in part],
                        session=s)
        done = at + len(part)
        if done % (batch * 10) == 0 or done == len(edges):
            rate = done / (time.perf_counter() - t0)
            print(f"    {done:>10,} edges  {rate:>9,.0f} edges/s", flush=True)
    if not store.is_sqlite:
        from sqlalchemy import text

        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE graph_nodes, graph_edges"))
    else:
        from sqlalchemy import text

        with store.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - t0


def timed_walks(fn: Any, starts: list[int]) -> tuple[list[float], list[int]]:
    times, sizes = [], []
    fn(starts[0])  # warm the connection and the caches once
    for s in starts:
        t = time.perf_counter()
        n = fn(s)
        times.append((time.perf_counter() - t) * 1000)
        sizes.append(n)
    return times, sizes


def duckdb_baseline(edges: list[tuple[int, int]]) -> Any:
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    tbl = pa.table({"src": pa.array([a for a, _ in edges], pa.int64()),
                    "dst": pa.array([b for _, b in edges], pa.int64())})
    con.register("e_arrow", tbl)
    con.execute("CREATE TABLE e AS SELECT * FROM e_arrow ORDER BY src")
    con.execute("CREATE TABLE r AS SELECT dst AS src, src AS dst FROM e_arrow ORDER BY dst")
    con.unregister("e_arrow")

    def walk(start: int, upstream: bool, depth: int | None) -> int:
        table = "e" if upstream else "r"
        bound = depth if depth is not None else 10_000
        q = f"""
            WITH RECURSIVE w(id, d) AS (
                SELECT {int(start)}::BIGINT, 0
                UNION
                SELECT x.dst, w.d + 1 FROM w JOIN {table} x ON x.src = w.id WHERE w.d < {bound}
            )
            SELECT count(*) FROM (SELECT id, min(d) FROM w WHERE id <> {int(start)} GROUP BY id)"""
        return int(con.execute(q).fetchone()[0])  # type: ignore[index]

    return walk


def memory_baseline(edges: list[tuple[int, int]]) -> Any:
    """Breadth-first search over in-memory adjacency lists: what NetworkX does, without the
    store — the floor for a process that holds the whole graph in RAM."""
    up: dict[int, list[int]] = {}
    down: dict[int, list[int]] = {}
    for a, b in edges:
        up.setdefault(a, []).append(b)
        down.setdefault(b, []).append(a)

    def walk(start: int, upstream: bool, depth: int | None) -> int:
        adj = up if upstream else down
        dist = {start: 0}
        frontier = [start]
        d = 0
        while frontier and (depth is None or d < depth):
            d += 1
            nxt = []
            for n in frontier:
                for m in adj.get(n, ()):
                    if m not in dist:
                        dist[m] = d
                        nxt.append(m)
            frontier = nxt
        return len(dist) - 1

    return walk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=3_000_000)
    ap.add_argument("--store", choices=["sqlite", "postgres", "both"], default="sqlite")
    ap.add_argument("--quick", action="store_true", help="20,000 datasets and 60,000 edges: a smoke run")
    ap.add_argument("--pipeline", type=int, default=1000, help="datasets per pipeline (ten layers)")
    ap.add_argument("--batch", type=int, default=20_000, help="edges per ingest transaction")
    ap.add_argument("--queries", type=int, default=200, help="walk starts per measurement")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / ".data")
    args = ap.parse_args()
    if args.quick:
        args.datasets, args.edges, args.queries = 20_000, 60_000, 50

    from meshfabric.lineage.service import LineageService

    print(f"lineage graph: {args.datasets:,} datasets, target {args.edges:,} edges, pipelines of {args.pipeline}")
    t = time.perf_counter()
    edges, layer = build_graph(args.datasets, args.edges, args.pipeline, args.seed)
    names = [key(i, args.pipeline, layer) for i in range(args.datasets)]
    fan_in: dict[int, int] = {}
    for a, _ in edges:
        fan_in[a] = fan_in.get(a, 0) + 1
    print(f"  generated {len(edges):,} edges in {time.perf_counter() - t:.1f} s "
          f"(fan-in {min(fan_in.values())}–{max(fan_in.values())}, mean {len(edges) / len(fan_in):.2f})")
    rng = random.Random(args.seed + 1)
    deep = [i for i in range(args.datasets) if layer[i] >= LAYERS - 2]
    used = {b for _, b in edges}  # a dataset nothing derives from has no downstream to time
    shallow = [i for i in range(args.datasets) if layer[i] <= 1 and i in used]
    up_starts = rng.sample(deep, min(args.queries, len(deep)))
    down_starts = rng.sample(shallow, min(args.queries, len(shallow)))

    print("  baselines over the same edges: DuckDB (in-memory, same recursive SQL) and Python BFS (in RAM)")
    t = time.perf_counter()
    duck = duckdb_baseline(edges)
    memory = memory_baseline(edges)
    print(f"    loaded in {time.perf_counter() - t:.1f} s")
    base: dict[tuple[str, str], tuple[float, float, float]] = {}
    mem: dict[tuple[str, str], float] = {}
    for direction, starts in (("upstream", up_starts), ("downstream", down_starts)):
        for depth in (5, None):
            label = "5" if depth else "all"
            times, sizes = timed_walks(lambda s, d=direction, k=depth: duck(s, d == "upstream", k), starts)
            base[(direction, label)] = (pct(times, 0.5), pct(times, 0.99), statistics.mean(sizes))
            mtimes, msizes = timed_walks(lambda s, d=direction, k=depth: memory(s, d == "upstream", k), starts)
            mem[(direction, label)] = pct(mtimes, 0.5)
            same = "" if msizes == sizes else "  !!! BFS and DuckDB disagree"
            print(f"    {direction:>10} depth {label:>3}: DuckDB p50 {pct(times, 0.5):7.2f} ms  "
                  f"p99 {pct(times, 0.99):7.2f} ms   BFS p50 {pct(mtimes, 0.5):6.3f} ms  "
                  f"nodes {statistics.mean(sizes):8.1f}{same}")

    args.workdir.mkdir(parents=True, exist_ok=True)
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    summary: list[str] = []
    for kind in stores:
        store, _url, drop = open_target(kind, args.workdir)
        try:
            print(f"  {kind} store")
            seconds = ingest(store, edges, names, args.batch)
            rate = len(edges) / seconds
            print(f"    ingest: {len(edges):,} edges + {args.datasets:,} nodes in {seconds:.1f} s "
                  f"= {rate:,.0f} edges/s")
            summary.append(f"{kind:>8} ingest {rate:>10,.0f} edges/s")
            lin = LineageService(store=store)
            for direction, starts in (("upstream", up_starts), ("downstream", down_starts)):
                for depth in (5, None):
                    def walk(s: int, d: str = direction, k: int | None = depth, lin: Any = lin) -> int:
                        fn = lin.upstream if d == "upstream" else lin.downstream
                        return fn(("dataset", names[s]), depth=k).total

                    times, sizes = timed_walks(walk, starts)
                    label = "5" if depth else "all"
                    b50, _b99, bsize = base[(direction, label)]
                    p50, p99 = pct(times, 0.5), pct(times, 0.99)
                    same = "same nodes" if abs(statistics.mean(sizes) - bsize) < 1e-9 else "!!! node counts differ"
                    line = (f"{kind:>8} {direction:>10} depth {label:>3}: p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
                            f"nodes {statistics.mean(sizes):6.1f}  DuckDB {p50 / b50:5.2f}x  "
                            f"BFS-in-RAM {p50 / mem[(direction, label)]:6.1f}x  ({same})")
                    print("    " + line)
                    summary.append(line)
        finally:
            store.close()
            if not os.environ.get("MF_BENCH_KEEP"):
                drop()
    print("\nsummary")
    for line in summary:
        print("  " + line)


if __name__ == "__main__":
    sys.exit(main())
