"""The done-when test of OpenLineage ingestion: a real server (uvicorn on a free port, the app
``meshfabric serve`` runs, authentication on) receives events from the real ``openlineage-python``
client — RunEvent START + COMPLETE with inputs, outputs, schema and columnLineage facets, a
DatasetEvent, a JobEvent — and the lineage reads back through ``GET /api/v1/lineage`` (Marquez's
shape) and ``mesh.lineage``. Every peer example is accepted; invalid events get a 400 problem
naming the field. On a SQLite and a PostgreSQL store."""

from __future__ import annotations

import copy
import gzip
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import CONFORMANCE, PG_HOST, PG_PORT, require_server
from helpers import build_workspace
from meshfabric import Mesh

pytestmark = pytest.mark.slow

EXAMPLES = CONFORMANCE / "openlineage" / "examples"
NS = "postgres://warehouse:5432"
T0 = datetime(2024, 6, 1, 2, 0, tzinfo=UTC)


@dataclass
class Server:
    url: str
    mesh: Mesh
    api_key: str

    def client(self, **http: Any) -> Any:
        from openlineage.client import OpenLineageClient
        from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

        config = HttpConfig(url=self.url, endpoint="api/v1/lineage",
                            auth=ApiKeyTokenProvider({"apiKey": self.api_key}), **http)
        return OpenLineageClient(transport=HttpTransport(config))

    def post(self, body: Any, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.api_key}", **kw.pop("headers", {})}
        if isinstance(body, bytes):
            return requests.post(f"{self.url}/api/v1/lineage", data=body, headers=headers, timeout=30, **kw)
        return requests.post(f"{self.url}/api/v1/lineage", json=body, headers=headers, timeout=30, **kw)

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(f"{self.url}{path}", params=params, timeout=30,
                            headers={"Authorization": f"Bearer {self.api_key}"})


def _fresh_pg() -> Iterator[str]:
    require_server("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg

    name = f"mf_ol_{uuid.uuid4().hex[:10]}"
    admin = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    import os

    import uvicorn

    from meshfabric.api.app import create_app

    saved = os.environ.pop("MESHFABRIC_STORE_URL", None)
    pg = _fresh_pg() if request.param == "postgres" else None
    try:
        root = build_workspace(tmp_path_factory.mktemp("ol") / "ws")
        mesh = Mesh.open(root, store=next(pg) if pg else None)
        mesh.apply()
        mesh.access.create_principal("airflow", kind="service")
        # a producer of its own domain: it may send lineage, but not about products it cannot see
        mesh.access.grant("airflow", "write", domain="logistics", grantee_kind="user")
        key = mesh.auth.create_api_key("airflow").key
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        srv = uvicorn.Server(uvicorn.Config(create_app(mesh), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=srv.run, daemon=True)
        thread.start()
        while not srv.started:
            if not thread.is_alive():
                pytest.fail("the API server did not start")
            time.sleep(0.02)
        try:
            yield Server(f"http://127.0.0.1:{port}", mesh, key)
        finally:
            srv.should_exit = True
            thread.join()
            mesh.close()
    finally:
        if pg:
            next(pg, None)
        if saved is not None:
            os.environ["MESHFABRIC_STORE_URL"] = saved


def _events(run_id: str) -> tuple[Any, Any]:
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import column_lineage_dataset as cl
    from openlineage.client.facet_v2 import schema_dataset as sd

    def schema(*cols: tuple[str, str]) -> Any:
        return sd.SchemaDatasetFacet(fields=[sd.SchemaDatasetFacetFields(name=n, type=t) for n, t in cols])

    def source(name: str, field: str, subtype: str, kind: str = "DIRECT") -> Any:
        return cl.InputField(namespace=NS, name=name, field=field,
                             transformations=[cl.Transformation(type=kind, subtype=subtype)])

    orders = InputDataset(namespace=NS, name="public.orders", facets={
        "schema": schema(("order_id", "bigint"), ("customer_id", "bigint"), ("amount", "numeric"))})
    customers = InputDataset(namespace=NS, name="public.customers", facets={
        "schema": schema(("customer_id", "bigint"), ("country", "text"))})
    lineage = cl.ColumnLineageDatasetFacet(fields={
        "country": cl.Fields(inputFields=[source("public.customers", "country", "IDENTITY")]),
        "revenue": cl.Fields(inputFields=[source("public.orders", "amount", "AGGREGATION")]),
    }, dataset=[source("public.orders", "customer_id", "JOIN", "INDIRECT")])
    revenue = OutputDataset(namespace=NS, name="mart.revenue_by_country", facets={
        "schema": schema(("country", "text"), ("revenue", "numeric")), "columnLineage": lineage})
    job = Job(namespace="airflow", name="marts.revenue_by_country")
    run = Run(runId=run_id)
    start = RunEvent(eventType=RunState.START, eventTime=T0.isoformat(), run=run, job=job,
                     inputs=[orders, customers], outputs=[revenue])
    complete = RunEvent(eventType=RunState.COMPLETE, eventTime=(T0 + timedelta(minutes=3)).isoformat(), run=run,
                        job=job, inputs=[orders, customers], outputs=[revenue])
    return start, complete


def test_the_real_client_sends_run_dataset_and_job_events(server: Server) -> None:
    from openlineage.client.event_v2 import DatasetEvent, Job, JobEvent, OutputDataset, StaticDataset
    from openlineage.client.facet_v2 import schema_dataset as sd
    from openlineage.client.transport.http import HttpCompression
    from openlineage.client.uuid import generate_new_uuid

    run_id = str(generate_new_uuid())
    start, complete = _events(run_id)
    plain, gzipped = server.client(), server.client(compression=HttpCompression.GZIP)
    plain.emit(start)
    gzipped.emit(complete)
    plain.emit(DatasetEvent(eventTime=T0.isoformat(), dataset=StaticDataset(
        namespace=NS, name="public.refunds", facets={"schema": sd.SchemaDatasetFacet(
            fields=[sd.SchemaDatasetFacetFields(name="order_id", type="bigint")])})))
    gzipped.emit(JobEvent(eventTime=T0.isoformat(), job=Job(namespace="airflow", name="marts.refunds"),
                          inputs=[StaticDataset(namespace=NS, name="public.refunds")],
                          outputs=[OutputDataset(namespace=NS, name="mart.refund_rate")]))

    # the run, as Marquez would show it
    body = server.get("/api/v1/lineage", nodeId=f"dataset:{NS}:mart.revenue_by_country", depth=5).json()
    nodes = {n["id"]: n for n in body["graph"]}
    job_id = "job:airflow:marts.revenue_by_country"
    assert set(nodes) == {job_id, f"dataset:{NS}:public.orders", f"dataset:{NS}:public.customers",
                          f"dataset:{NS}:mart.revenue_by_country"}
    job = nodes[job_id]
    assert job["type"] == "JOB"
    assert {e["origin"] for e in job["inEdges"]} == {f"dataset:{NS}:public.orders", f"dataset:{NS}:public.customers"}
    assert job["outEdges"] == [{"origin": job_id, "destination": f"dataset:{NS}:mart.revenue_by_country"}]
    latest = job["data"]["latestRun"]
    assert latest["id"] == run_id and latest["state"] == "COMPLETE" and latest["durationMs"] == 180_000
    out = nodes[f"dataset:{NS}:mart.revenue_by_country"]["data"]
    assert [f["name"] for f in out["fields"]] == ["country", "revenue"]
    assert out["facets"]["columnLineage"]["fields"]["revenue"]["inputFields"][0]["field"] == "amount"

    # the same through the SDK: dataset and column lineage
    up = server.mesh.lineage.upstream(f"{NS}/mart.revenue_by_country", columns=True)
    keys = {n.key for n in up.nodes}
    assert {f"{NS}/public.orders", f"{NS}/public.customers", f"{NS}/public.orders.amount",
            f"{NS}/public.customers.country", f"{NS}/public.orders.customer_id"} <= keys
    revenue_col = server.mesh.lineage.upstream(("column", f"{NS}/mart.revenue_by_country.revenue"))
    assert {n.key for n in revenue_col.nodes} == {f"{NS}/public.orders.amount", f"{NS}/public.orders.customer_id"}
    edge = next(e for e in revenue_col.edges if e.dst[1].endswith(".amount"))
    assert edge.properties["type"] == "DIRECT" and edge.properties["subtype"] == "AGGREGATION"
    join = next(e for e in revenue_col.edges if e.dst[1].endswith(".customer_id"))
    assert join.properties["type"] == "INDIRECT" and join.properties["subtype"] == "JOIN"

    # the DatasetEvent and the JobEvent
    refunds = server.get("/api/v1/lineage", nodeId=f"dataset:{NS}:public.refunds").json()["graph"]
    assert {n["id"] for n in refunds} == {f"dataset:{NS}:public.refunds", "job:airflow:marts.refunds",
                                          f"dataset:{NS}:mart.refund_rate"}
    assert [f["name"] for f in next(n for n in refunds if n["id"].endswith("public.refunds"))["data"]["fields"]] \
        == ["order_id"]
    down = server.get("/api/v1/lineage/downstream", node=f"{NS}/public.refunds").json()
    assert [n["key"] for n in down["nodes"]] == [f"{NS}/mart.refund_rate"]

    # raw events, newest first, with the principal that sent them
    events = server.get("/api/v1/lineage/events", runId=run_id).json()
    assert events["total"] == 2 and [e["eventType"] for e in events["items"]] == ["COMPLETE", "START"]
    assert {e["principal"] for e in events["items"]} == {"airflow"}
    assert events["items"][1]["event"]["job"]["name"] == "marts.revenue_by_country"
    assert server.get("/api/v1/lineage/events", kind="dataset", dataset=f"{NS}/public.refunds").json()["total"] == 1


def test_a_resent_event_is_acknowledged_once(server: Server) -> None:
    start, _ = _events(str(uuid.uuid4()))
    from openlineage.client.serde import Serde

    body = json.loads(Serde.to_json(start))
    first, again = server.post(body), server.post(body)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True and again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_every_peer_example_is_accepted(server: Server, path: Path) -> None:
    event = json.loads(path.read_text())
    if path.name == "serde_example_run_event.json":
        # the client's serde example gives nominalTime as dates: refused (a date-time is required)
        refused = server.post(event)
        assert refused.status_code == 400
        assert {e["path"] for e in refused.json()["errors"]} == {"$.run.facets.nominalTime.nominalStartTime",
                                                                  "$.run.facets.nominalTime.nominalEndTime"}
        for key in ("nominalStartTime", "nominalEndTime"):
            event["run"]["facets"]["nominalTime"][key] += "T00:00:00Z"
    r = server.post(event)
    assert r.status_code in (200, 201), r.text
    listed = server.get("/api/v1/lineage/events", limit=1000).json()["items"]
    assert r.json()["id"] in {e["id"] for e in listed}
    assert next(e for e in listed if e["id"] == r.json()["id"])["event"] == event


def _valid() -> dict[str, Any]:
    return {"eventType": "START", "eventTime": "2024-06-01T02:00:00Z", "producer": "https://example.com/p",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "airflow", "name": "invalid.cases"},
            "inputs": [], "outputs": []}


INVALID = {
    "missing eventTime": (lambda e: e.pop("eventTime"), "$.eventTime", "required"),
    "bad runId": (lambda e: e["run"].__setitem__("runId", "run-42"), "$.run.runId", "uuid"),
    "wrong eventType": (lambda e: e.__setitem__("eventType", "FINISHED"), "$.eventType", "is not one of"),
    "missing producer": (lambda e: e.pop("producer"), "$.producer", "required"),
    "job name not a string": (lambda e: e["job"].__setitem__("name", 12), "$.job.name", "not of type 'string'"),
    "inputs not a list": (lambda e: e.__setitem__("inputs", {}), "$.inputs", "not of type 'array'"),
    "eventTime not a time": (lambda e: e.__setitem__("eventTime", "soon"), "$.eventTime", "date-time"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_events_get_a_problem_naming_the_field(server: Server, case: str) -> None:
    mutate, path, reason = INVALID[case]
    event = _valid()
    mutate(event)
    r = server.post(event)
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 400 and body["instance"] == "/api/v1/lineage" and body["title"]
    assert path in body["detail"] and reason in body["detail"]
    assert any(e["path"] == path and reason in e["message"] for e in body["errors"])
    assert server.get("/api/v1/lineage/events", job="airflow/invalid.cases").json()["total"] == 0


def test_bodies_that_are_not_events(server: Server) -> None:
    r = server.post(b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not JSON" in r.json()["detail"]
    r = server.post(b"\x1f\x8b broken", headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in r.json()["detail"]
    r = server.post(gzip.compress(b"[1, 2]"), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400 and r.json()["errors"][0]["path"] == "$"
    r = server.post(b"{}", headers={"Content-Encoding": "br"})
    assert r.status_code == 415
    bad = copy.deepcopy(_valid())
    bad["run"]["runId"] = "x"
    assert requests.post(f"{server.url}/api/v1/lineage", json=bad, timeout=30).status_code == 401


def test_unknown_and_malformed_node_ids(server: Server) -> None:
    r = server.get("/api/v1/lineage", nodeId="dataset:nowhere:nothing")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    r = server.get("/api/v1/lineage", nodeId="table:x")
    assert r.status_code == 400 and "nodeId" in r.json()["detail"]


def test_lineage_writes_need_rights_on_every_product_named(server: Server) -> None:
    """A principal may not attach lineage to products it cannot see (404, as for a product that
    does not exist) nor claim to have written one it may not write (403); nothing is stored."""
    mesh = server.mesh
    hidden = _valid()
    hidden["inputs"] = [{"namespace": "meshfabric", "name": "sales.orders"}]
    hidden["outputs"] = [{"namespace": "s3://exports", "name": "stolen.csv"}]
    r = server.post(hidden)
    assert r.status_code == 404 and "sales.orders" in r.json()["detail"]
    # a product that does not exist is refused exactly like one that is hidden
    ghost = _valid()
    ghost["outputs"] = [{"namespace": "meshfabric", "name": "sales.no_such_product"}]
    assert server.post(ghost).status_code == 404
    # a column lineage facet pointing into a hidden product is the same as naming it
    facet = _valid()
    facet["outputs"] = [{"namespace": "s3://exports", "name": "cols.csv", "facets": {"columnLineage": {
        "_producer": "https://example.com/p",
        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
        "fields": {"a": {"inputFields": [{"namespace": "meshfabric", "name": "sales.orders", "field": "amount"}]}}}}}]
    assert server.post(facet).status_code == 404
    mesh.access.grant("airflow", "query", product="sales.orders", grantee_kind="user")
    try:
        written = _valid()
        written["outputs"] = [{"namespace": "meshfabric", "name": "sales.orders"}]
        r = server.post(written)
        assert r.status_code == 403 and "lineage write" in r.json()["detail"]
    finally:
        mesh.access.revoke("airflow", "query", product="sales.orders", grantee_kind="user")
    items = server.get("/api/v1/lineage/events", limit=1000).json()["items"]
    named = json.dumps([i["event"] for i in items])
    assert "stolen.csv" not in named and "no_such_product" not in named and "cols.csv" not in named
    # a principal with no grant at all may send no lineage
    mesh.access.create_principal("nobody", kind="service")

    key = mesh.auth.create_api_key("nobody").key
    r = requests.post(f"{server.url}/api/v1/lineage", json=_valid(), headers={"Authorization": f"Bearer {key}"},
                      timeout=30)
    assert r.status_code == 403


def test_a_principal_sees_only_the_products_it_may_discover(server: Server) -> None:
    event = _valid()
    event["eventType"] = "COMPLETE"
    event["job"] = {"namespace": "airflow", "name": "export.orders"}
    event["inputs"] = [{"namespace": "meshfabric", "name": "sales.orders"}]
    event["outputs"] = [{"namespace": "s3://exports", "name": "orders.csv"}]
    # sent by the workspace itself, which may; airflow, which may not discover sales.orders, reads it
    server.mesh.lineage.ingest(event)
    node = "dataset:s3://exports:orders.csv"
    product = "dataset:meshfabric:sales.orders"
    mesh = server.mesh
    assert "sales.orders" not in mesh.access.visible_products("airflow")
    graph = {n["id"]: n for n in server.get("/api/v1/lineage", nodeId=node).json()["graph"]}
    assert product not in graph and "job:airflow:export.orders" in graph
    assert graph["job:airflow:export.orders"]["data"]["inputs"] == []
    assert server.get("/api/v1/lineage", nodeId=product).status_code == 404
    up = server.get("/api/v1/lineage/upstream", node="s3://exports/orders.csv").json()
    assert up["nodes"] == [] and up["total"] == 0
    assert server.get("/api/v1/lineage/impact", node="sales.orders").status_code == 404
    dot = server.get("/api/v1/lineage/export", node="s3://exports/orders.csv", format="dot").text
    assert "sales.orders" not in dot and "orders.csv" in dot
    # the SDK, acting locally, sees everything
    assert [n.key for n in mesh.lineage.upstream("s3://exports/orders.csv").nodes] == ["sales.orders"]

    mesh.access.grant("airflow", "discover", product="sales.orders", grantee_kind="user")
    try:
        graph = {n["id"]: n for n in server.get("/api/v1/lineage", nodeId=node).json()["graph"]}
        assert product in graph
        assert graph["job:airflow:export.orders"]["data"]["inputs"] == [{"namespace": "meshfabric",
                                                                          "name": "sales.orders"}]
        up = server.get("/api/v1/lineage/upstream", node="s3://exports/orders.csv").json()
        assert [n["key"] for n in up["nodes"]] == ["sales.orders"]
        impact = server.get("/api/v1/lineage/impact", node="sales.orders").json()
        assert impact["root"]["key"] == "sales.orders"
    finally:
        mesh.access.revoke("airflow", "discover", product="sales.orders", grantee_kind="user")
    assert server.get("/api/v1/lineage", nodeId=product).status_code == 404


def test_column_lineage_in_marquez_shape(server: Server) -> None:
    start, complete = _events(str(uuid.uuid4()))
    client = server.client()
    client.emit(start)
    client.emit(complete)
    field = f"datasetField:{NS}:mart.revenue_by_country:revenue"
    r = server.get("/api/v1/column-lineage", nodeId=field)
    assert r.status_code == 200
    nodes = {n["id"]: n for n in r.json()["graph"]}
    assert set(nodes) == {field, f"datasetField:{NS}:public.orders:amount",
                          f"datasetField:{NS}:public.orders:customer_id"}
    inputs = {(f["dataset"], f["field"]): f for f in nodes[field]["data"]["inputFields"]}
    assert inputs[("public.orders", "amount")]["transformations"][0]["subtype"] == "AGGREGATION"
    assert inputs[("public.orders", "customer_id")]["transformationType"] == "INDIRECT"
    whole = server.get("/api/v1/column-lineage", nodeId=f"dataset:{NS}:mart.revenue_by_country").json()["graph"]
    assert {f"datasetField:{NS}:mart.revenue_by_country:country", f"datasetField:{NS}:public.customers:country"} <= {
        n["id"] for n in whole}
    assert server.get("/api/v1/column-lineage", nodeId="datasetField:a").status_code == 400


def test_concurrent_senders(server: Server) -> None:
    """Eight clients at once, each sending its runs' events (and one repeat) in reverse order:
    every event is stored once and every run ends COMPLETE."""
    from concurrent.futures import ThreadPoolExecutor

    space = f"conc{uuid.uuid4().hex[:6]}"

    def sender(i: int) -> list[int]:
        codes = []
        for k in range(4):
            run = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{space}/{i}/{k}"))
            events = [{**_valid(), "eventType": state, "run": {"runId": run},
                       "eventTime": (T0 + timedelta(seconds=n)).isoformat(),
                       "job": {"namespace": space, "name": f"job{i}"},
                       "inputs": [{"namespace": space, "name": "shared"}],
                       "outputs": [{"namespace": space, "name": f"out{i}"}]}
                      for n, state in enumerate(("START", "RUNNING", "COMPLETE"))]
            for event in [*reversed(events), events[0]]:
                codes.append(server.post(event).status_code)
        return codes

    with ThreadPoolExecutor(8) as pool:
        codes = [c for result in pool.map(sender, range(8)) for c in result]
    assert codes.count(201) == 8 * 4 * 3 and codes.count(200) == 8 * 4
    from meshfabric.graph import MetadataGraph

    graph = MetadataGraph(server.mesh.store)
    for i in range(8):
        for k in range(4):
            run = graph.get("run", str(uuid.uuid5(uuid.NAMESPACE_URL, f"{space}/{i}/{k}")))
            assert run is not None and run.properties["state"] == "COMPLETE" and run.properties["events"] == 3
    down = server.get("/api/v1/lineage/downstream", node=f"{space}/shared").json()
    assert sorted(n["key"] for n in down["nodes"]) == sorted(f"{space}/out{i}" for i in range(8))
    assert server.get("/api/v1/lineage/events", namespace=space, limit=1).json()["total"] == 8 * 4 * 3


def test_format_deviations_come_back_as_warnings(server: Server) -> None:
    """Spark sends ``dataSource.uri: "file"``: the spec describes a URI but does not oblige it, so
    the event is stored as sent and the answer says what departs from the format."""
    event = _valid()
    event["inputs"] = [{"namespace": "file", "name": "/tmp/spark/in", "facets": {"dataSource": {
        "_producer": "https://example.com/p",
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasourceDatasetFacet.json#/$defs/DatasourceDatasetFacet",
        "name": "file", "uri": "file"}}}]
    r = server.post(event)
    assert r.status_code == 201, r.text
    assert [w["path"] for w in r.json()["warnings"]] == ["$.inputs[0].facets.dataSource.uri"]
