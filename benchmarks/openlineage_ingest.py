"""OpenLineage ingestion: what validating, storing and folding an event costs, and how fast the
Marquez-shaped lineage read is, on a SQLite and (when reachable) a PostgreSQL store.

    .venv/bin/python benchmarks/openlineage_ingest.py [--runs 300] [--chain 500]

Each run is two RunEvents (START, COMPLETE) with two inputs and one output, a five-column schema
facet on each dataset and a columnLineage facet on the output — what an Airflow SQL task sends.
Printed per event, against baselines measured in the same process:

* ``validate``  — ``validate_event`` alone (the spec check);
* ``raw``       — the event inserted as one row in its own store transaction (the floor any
  durable receiver pays);
* ``ingest``    — ``ingest_openlineage``: validate + raw row + graph fold in one transaction;
* ``http``      — the real ``openlineage-python`` client posting to a uvicorn server;

then ``GET /api/v1/lineage`` (SDK ``marquez_lineage``) over a chain of ``--chain`` jobs, at depth
5 and 20, from its middle.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

PRODUCER = "https://github.com/meshfabric/meshfabric/benchmarks"
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
FACET = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _dataset(ns: str, name: str, cols: list[str], lineage: dict[str, Any] | None = None) -> dict[str, Any]:
    facets: dict[str, Any] = {"schema": {"_producer": PRODUCER, "_schemaURL": FACET,
                                         "fields": [{"name": c, "type": "VARCHAR"} for c in cols]}}
    if lineage:
        facets["columnLineage"] = {"_producer": PRODUCER, "_schemaURL": FACET, "fields": lineage}
    return {"namespace": ns, "name": name, "facets": facets}


def run_events(i: int, ns: str) -> list[dict[str, Any]]:
    cols = [f"c{k}" for k in range(5)]
    lineage = {c: {"inputFields": [{"namespace": ns, "name": f"src_{i % 50}", "field": c,
                                    "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}]}]} for c in cols}
    inputs = [_dataset(ns, f"src_{i % 50}", cols), _dataset(ns, f"dim_{i % 7}", cols)]
    outputs = [_dataset(ns, f"mart_{i}", cols, lineage)]
    run_id = str(uuid.uuid4())
    return [{"eventType": state, "eventTime": (T0 + timedelta(minutes=i, seconds=k)).isoformat(),
             "producer": PRODUCER, "schemaURL": CORE, "run": {"runId": run_id, "facets": {}},
             "job": {"namespace": ns, "name": f"task_{i}"}, "inputs": inputs, "outputs": outputs}
            for k, state in enumerate(("START", "COMPLETE"))]


def per_event(fn: Any, events: list[dict[str, Any]]) -> tuple[float, float]:
    """Median and p95 milliseconds of ``fn(event)`` over ``events``."""
    times = []
    for e in events:
        t = time.perf_counter()
        fn(e)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def raw_insert(store: Any) -> Any:
    from meshfabric.lineage.openlineage import fingerprint, parse_event
    from meshfabric.store.models_openlineage import OpenLineageEventRow as Row

    def insert(event: dict[str, Any]) -> None:
        p = parse_event(event)
        with store.write() as s:
            s.add(Row(kind=p.kind, event_type=p.event_type, event_time=p.event_time, run_id=p.run_id,
                      job_namespace=p.job_namespace, job_name=p.job_name, producer=p.producer,
                      schema_url=p.schema_url, fingerprint=fingerprint({"raw": event}), event=event))

    return insert


def bench(label: str, store_url: str | None, runs: int, chain: int) -> None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    from helpers import build_workspace, serve_api
    from meshfabric import Mesh
    from meshfabric.lineage.openlineage import ingest_openlineage, marquez_lineage, validate_event

    root = build_workspace(Path(tempfile.mkdtemp()) / "ws")
    mesh = Mesh.open(root, store=store_url)
    ns = f"bench{uuid.uuid4().hex[:6]}"
    events = [e for i in range(runs) for e in run_events(i, ns)]
    validate_event(events[0])  # load the schemas once
    v = per_event(validate_event, events)
    raw = per_event(raw_insert(mesh.store), events)
    ingest = per_event(lambda e: ingest_openlineage(mesh.store, e), events)
    url, server, thread = serve_api(mesh)
    client = OpenLineageClient(transport=HttpTransport(HttpConfig(url=url)))
    from openlineage.client.serde import Serde

    class Raw:
        def __init__(self, event: dict[str, Any]) -> None:
            self.event = event

    http_events = [e for i in range(runs, runs + max(runs // 3, 20)) for e in run_events(i, ns)]
    transport = client.transport

    def post(event: dict[str, Any]) -> None:
        body, headers = transport._prepare_request(Serde.to_json(event))  # the client's own request building
        transport.session.post(f"{url}/api/v1/lineage", data=body, headers=headers, timeout=30).raise_for_status()

    http = per_event(post, http_events)
    print(f"\n[{label}] {len(events)} events ({runs} runs), ms per event: median / p95")
    print(f"  validate  {v[0]:7.2f} / {v[1]:7.2f}")
    print(f"  raw row   {raw[0]:7.2f} / {raw[1]:7.2f}")
    print(f"  ingest    {ingest[0]:7.2f} / {ingest[1]:7.2f}   = {ingest[0] / raw[0]:.1f}x the raw row, "
          f"{1000 / ingest[0]:.0f} events/s")
    print(f"  http      {http[0]:7.2f} / {http[1]:7.2f}   ({len(http_events)} events through the real client)")

    cns = f"chain{uuid.uuid4().hex[:6]}"
    for i in range(1, chain + 1):
        ingest_openlineage(mesh.store, {"eventType": "COMPLETE", "eventTime": T0.isoformat(), "producer": PRODUCER,
                                        "schemaURL": CORE, "run": {"runId": str(uuid.uuid4())},
                                        "job": {"namespace": cns, "name": f"j{i}"},
                                        "inputs": [{"namespace": cns, "name": f"d{i - 1}"}],
                                        "outputs": [{"namespace": cns, "name": f"d{i}"}]})
    mid = f"dataset:{cns}:d{chain // 2}"
    for depth in (5, 20):
        t = time.perf_counter()
        graph = marquez_lineage(mesh.store, mid, depth)["graph"]
        ms = (time.perf_counter() - t) * 1000
        print(f"  lineage depth {depth:2d} on a {chain}-job chain: {len(graph)} nodes in {ms:.1f} ms")
    server.should_exit = True
    thread.join()
    mesh.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--chain", type=int, default=500)
    args = parser.parse_args()
    bench("SQLite store", None, args.runs, args.chain)
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True,
                             connect_timeout=2) as c:
            name = f"mf_olbench_{uuid.uuid4().hex[:8]}"
            c.execute(f'CREATE DATABASE "{name}"')
        try:
            bench("PostgreSQL store", f"postgresql://postgres@127.0.0.1:5432/{name}", args.runs, args.chain)
        finally:
            with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except OSError as exc:
        print(f"\n[PostgreSQL store] skipped: {exc}")


if __name__ == "__main__":
    main()
