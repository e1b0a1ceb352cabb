"""The outbox relay to NATS JetStream against the store-log subscriber, in one process.

    .venv/bin/python benchmarks/nats_relay.py [--writers 4] [--events 1500] [--backlog 20000]
                                              [--poll 0.05] [--store URL] [--json FILE]

Needs NATS with JetStream on 127.0.0.1:4222 (``--url``). A fresh workspace (SQLite store in a temp
folder, or ``--store`` e.g. a PostgreSQL URL) gets ``events: {backend: nats}`` and a stream of its
own, deleted afterwards.

1. live, twice with the same ``--writers`` threads each committing ``--events`` events (one write
   transaction each), readers in the same process polling every ``--poll`` seconds when idle:
   first the relay (lag = commit → JetStream ack) with a subscriber consuming from JetStream
   (commit → handler, through the relay), then a store-log subscriber, the baseline (commit →
   handler). One after the other, so neither's store writes slow the other down.
2. backlog: ``--backlog`` events already committed; time for the relay to publish them all
   (``Relay.run_once``) and for a store-log subscriber to deliver them (``EventLog.deliver``).

Prints events/s, lag p50/p95/max and the ratios against the store-log subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from meshfabric.events import DomainEvent, EventLog
from meshfabric.events.nats import Relay
from meshfabric.mesh import Mesh
from meshfabric.spec.observe_models import EventsSpec


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(lags: list[float]) -> dict[str, float]:
    return {"p50_ms": _pct(lags, 0.5) * 1000, "p95_ms": _pct(lags, 0.95) * 1000,
            "max_ms": max(lags) * 1000 if lags else float("nan"),
            "mean_ms": statistics.fmean(lags) * 1000 if lags else float("nan")}


async def _drop_stream(url: str, stream: str) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        await nc.jetstream().delete_stream(stream)
    except Exception as exc:  # already gone
        print(f"(stream {stream} not deleted: {exc})", file=sys.stderr)
    finally:
        await nc.close()


def _open(root: Path, spec: EventsSpec, store: str | None) -> Mesh:
    root.mkdir(parents=True, exist_ok=True)
    text = (f"name: bench\nevents:\n  backend: nats\n  url: {spec.url}\n  stream: {spec.stream}\n"
            f"  subject_prefix: {spec.subject_prefix}\n")
    (root / "mesh.yaml").write_text(text + (f"store: {store}\n" if store else ""), encoding="utf-8")
    return Mesh.open(root)


def live(mesh: Mesh, spec: EventsSpec, writers: int, per_writer: int, poll: float, mode: str,
         rate: float = 0.0) -> dict[str, Any]:
    """One live run: ``mode`` "nats" runs the relay and a JetStream subscriber, "store" the
    store-log subscriber; the same writers either way."""
    committed: dict[str, float] = {}
    done: dict[str, dict[str, float]] = {"relay": {}, "nats_subscriber": {}, "store_subscriber": {}}

    def on_published(events: list[DomainEvent], acks: list[Any]) -> None:
        now = time.perf_counter()
        for e in events:
            done["relay"].setdefault(e.id, now)

    stop = threading.Event()
    logs: list[EventLog] = []
    relay_thread = None
    if mode == "nats":
        relay = Relay(mesh.store, spec, on_published=on_published)
        relay_thread = threading.Thread(target=relay.run, args=(stop, poll), name="bench-relay")
        relay_thread.start()
        nats_log = EventLog(mesh.store, bus=spec)
        nats_log.subscribe("*", lambda e: done["nats_subscriber"].setdefault(e.id, time.perf_counter()),
                           name=f"bench.nats.{uuid.uuid4().hex[:6]}")
        logs.append(nats_log)
    else:
        store_log = EventLog(mesh.store)
        store_log.subscribe("*", lambda e: done["store_subscriber"].setdefault(e.id, time.perf_counter()),
                            name=f"bench.store.{uuid.uuid4().hex[:6]}")
        logs.append(store_log)
    for log in logs:
        log.start(poll=poll)
    wanted = [k for k in done if (k == "store_subscriber") == (mode == "store")]

    def write(w: int) -> None:
        begun = time.perf_counter()
        for i in range(per_writer):
            if rate:  # hold `rate` events/s per writer
                time.sleep(max(0.0, begun + i / rate - time.perf_counter()))
            event = DomainEvent("product.updated", f"d{w}", {"writer": w, "i": i})
            mesh.events.record(event)
            committed[event.id] = time.perf_counter()

    total = writers * per_writer
    started = time.perf_counter()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    written = time.perf_counter()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and min(len(done[k]) for k in wanted) < total:
        time.sleep(0.01)
    stop.set()
    if relay_thread is not None:
        relay_thread.join()
    for log in logs:
        log.stop()

    def stats(got: dict[str, float]) -> dict[str, float]:
        rate = len(got) / (max(got.values()) - started) if got else 0.0
        return {"done": len(got), "events_per_s": rate,
                **_summary([got[k] - committed[k] for k in committed if k in got])}

    return {"commit_rate": total / (written - started), **{k: stats(done[k]) for k in wanted}}


def backlog(mesh: Mesh, spec: EventsSpec, count: int) -> dict[str, Any]:
    with mesh.store.write() as session:
        from meshfabric.events import append

        for i in range(count):
            append(session, DomainEvent("product.updated", "backlog", {"i": i}))
    store_log = EventLog(mesh.store)
    store_log.subscribe("*", lambda e: None, name="bench.store.backlog", from_beginning=True)
    relay = Relay(mesh.store, spec)
    pending = mesh.events.last_seq() - relay.offset()
    t0 = time.perf_counter()
    report = relay.run_once()
    relay_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    delivered = store_log.deliver().delivered
    store_s = time.perf_counter() - t0
    return {"events": count, "relay_published": report.published, "relay_pending_before": pending,
            "relay_s": relay_s, "relay_events_per_s": report.published / relay_s,
            "store_delivered": delivered, "store_s": store_s, "store_events_per_s": delivered / store_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--events", type=int, default=1500, help="events per writer in the live run")
    ap.add_argument("--backlog", type=int, default=20000)
    ap.add_argument("--poll", type=float, default=0.05, help="idle poll interval of relay and subscribers")
    ap.add_argument("--rate", type=float, default=0.0, help="events/s per writer (default: as fast as they commit)")
    ap.add_argument("--url", default="nats://127.0.0.1:4222")
    ap.add_argument("--store", default=None, help="store URL (default: SQLite in a temp folder)")
    ap.add_argument("--json", default=None, help="also write every number to FILE")
    args = ap.parse_args()

    tag = uuid.uuid4().hex[:8]
    spec = EventsSpec(backend="nats", url=args.url, stream=f"MFBENCH_{tag.upper()}", subject_prefix=f"mfbench_{tag}")
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp, _open(Path(tmp) / "ws", spec, args.store) as mesh:
            results["store"] = "postgresql" if not mesh.store.is_sqlite else "sqlite"
            results["live"] = {"events": args.writers * args.events, "writers": args.writers, "poll_s": args.poll}
            for mode in ("nats", "store"):
                results["live"][mode] = live(mesh, spec, args.writers, args.events, args.poll, mode, args.rate)
            if args.backlog:
                results["backlog"] = backlog(mesh, spec, args.backlog)
    finally:
        asyncio.run(_drop_stream(args.url, spec.stream))

    lv = results["live"]
    pace = f"{args.rate:g}/s each" if args.rate else "flat out"
    print(f"live: {lv['writers']} writers x {args.events} events {pace} ({results['store']} store), idle poll "
          f"{args.poll * 1000:.0f} ms; commits/s with the relay {lv['nats']['commit_rate']:.0f}, "
          f"with the store-log subscriber {lv['store']['commit_rate']:.0f}")
    print(f"  {'reader':<42}{'done':>7}{'events/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    names = {"relay": "relay (commit -> JetStream ack)", "nats_subscriber": "JetStream subscriber (commit -> handler)",
             "store_subscriber": "store-log subscriber (baseline)"}
    rows = {"relay": lv["nats"]["relay"], "nats_subscriber": lv["nats"]["nats_subscriber"],
            "store_subscriber": lv["store"]["store_subscriber"]}
    for key, label in names.items():
        r = rows[key]
        print(f"  {label:<42}{r['done']:>7}{r['events_per_s']:>10.0f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
              f"{r['max_ms']:>9.1f}")
    base = rows["store_subscriber"]
    for key in ("relay", "nats_subscriber"):
        r = rows[key]
        print(f"  {key} vs store-log: throughput x{r['events_per_s'] / base['events_per_s']:.2f}, "
              f"p50 lag x{r['p50_ms'] / base['p50_ms']:.3f} ({base['p50_ms'] / r['p50_ms']:.1f} times lower), "
              f"p95 lag x{r['p95_ms'] / base['p95_ms']:.3f}")
    if "backlog" in results:
        bl = results["backlog"]
        print(f"backlog of {bl['events']}: relay {bl['relay_events_per_s']:.0f} events/s ({bl['relay_s']:.2f} s), "
              f"store-log subscriber {bl['store_events_per_s']:.0f} events/s ({bl['store_s']:.2f} s), "
              f"ratio x{bl['relay_events_per_s'] / bl['store_events_per_s']:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
