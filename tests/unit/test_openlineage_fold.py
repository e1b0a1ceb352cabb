"""OpenLineage events stored raw and folded into the metadata graph, on SQLite and PostgreSQL
stores: run state by event time whatever the arrival order, repeats are no-ops, datasets, columns
and column lineage become nodes and edges, the Marquez-shaped graph is bounded by depth."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from meshfabric.errors import MeshfabricError, NotFound
from meshfabric.graph import MetadataGraph
from meshfabric.lineage.openlineage import (
    CORE_ID,
    InvalidOpenLineageEvent,
    column_key,
    ingest_openlineage,
    list_events,
    marquez_lineage,
    resolve_node_id,
)
from meshfabric.lineage.service import LineageService
from meshfabric.store import Store, open_store
from meshfabric.store.models_openlineage import OpenLineageEventRow

PRODUCER = "https://github.com/example/producer/v1"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
SCHEMA_URL = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'store.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = open_store(url)
    try:
        yield s
    finally:
        s.close()


def ns() -> str:
    """A namespace of this test only (the PostgreSQL store is shared by the session)."""
    return f"pg://h{uuid.uuid4().hex[:8]}:5432"


def schema(*cols: str) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": SCHEMA_URL,
            "fields": [{"name": c, "type": "VARCHAR"} for c in cols]}


def ds(namespace: str, name: str, *cols: str, **facets: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": namespace, "name": name, "facets": dict(facets)}
    if cols:
        out["facets"]["schema"] = schema(*cols)
    return out


def run_event(event_type: str, run_id: str, job: tuple[str, str], when: datetime, *,
              inputs: list[dict[str, Any]] | None = None, outputs: list[dict[str, Any]] | None = None,
              run_facets: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"eventType": event_type, "eventTime": when.isoformat(), "producer": PRODUCER,
            "schemaURL": f"{CORE_ID}#/$defs/RunEvent",
            "run": {"runId": run_id, "facets": run_facets or {}},
            "job": {"namespace": job[0], "name": job[1], "facets": {}},
            "inputs": inputs or [], "outputs": outputs or []}


def column_lineage(*pairs: tuple[str, str, str, str, str]) -> dict[str, Any]:
    """(output field, input namespace, input name, input field, subtype) each."""
    fields: dict[str, Any] = {}
    for out, in_ns, in_name, in_field, subtype in pairs:
        fields.setdefault(out, {"inputFields": []})["inputFields"].append(
            {"namespace": in_ns, "name": in_name, "field": in_field,
             "transformations": [{"type": "DIRECT", "subtype": subtype}]})
    return {"_producer": PRODUCER, "_schemaURL": SCHEMA_URL, "fields": fields}


def run_node(store: Store, run_id: str) -> dict[str, Any]:
    node = MetadataGraph(store).get("run", run_id)
    assert node is not None
    return node.properties


def rows(store: Store) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.count()).select_from(OpenLineageEventRow)) or 0)


def test_run_state_follows_event_time(store: Store) -> None:
    job, run = (ns(), "etl.load"), str(uuid.uuid4())
    ingest_openlineage(store, run_event("START", run, job, T0))
    assert run_node(store, run)["state"] == "START"
    ingest_openlineage(store, run_event("RUNNING", run, job, T0 + timedelta(seconds=5)))
    ingest_openlineage(store, run_event("COMPLETE", run, job, T0 + timedelta(seconds=9)))
    props = run_node(store, run)
    assert props["state"] == "COMPLETE"
    assert datetime.fromisoformat(props["startedAt"]) == T0
    assert datetime.fromisoformat(props["endedAt"]) == T0 + timedelta(seconds=9)
    # OTHER adds metadata, never a state
    ingest_openlineage(store, run_event("OTHER", run, job, T0 + timedelta(seconds=20)))
    assert run_node(store, run)["state"] == "COMPLETE"
    assert run_node(store, run)["events"] == 4


def test_events_arriving_out_of_order(store: Store) -> None:
    job, run = (ns(), "etl.load"), str(uuid.uuid4())
    ingest_openlineage(store, run_event("FAIL", run, job, T0 + timedelta(minutes=1), run_facets={
        "errorMessage": {"_producer": PRODUCER, "_schemaURL": SCHEMA_URL, "message": "division by zero",
                         "programmingLanguage": "python"}}))
    ingest_openlineage(store, run_event("START", run, job, T0))
    props = run_node(store, run)
    assert props["state"] == "FAIL"
    assert datetime.fromisoformat(props["startedAt"]) == T0
    assert props["facets"]["errorMessage"]["message"] == "division by zero"


def test_a_repeated_event_is_a_no_op(store: Store) -> None:
    job, run = (ns(), "etl.load"), str(uuid.uuid4())
    event = run_event("START", run, job, T0, inputs=[ds(job[0], "a", "x")], outputs=[ds(job[0], "b", "y")])
    first = ingest_openlineage(store, event)
    before_rows, before_graph = rows(store), MetadataGraph(store).count()
    again = ingest_openlineage(store, event)
    assert again.duplicate and not first.duplicate and again.id == first.id
    assert rows(store) == before_rows
    assert MetadataGraph(store).count() == before_graph
    # an upper-case run id is the same run
    upper = run_event("COMPLETE", run.upper(), job, T0 + timedelta(seconds=1))
    assert ingest_openlineage(store, upper).run_id == run
    assert run_node(store, run)["state"] == "COMPLETE"


def test_graph_of_a_run_with_column_lineage(store: Store) -> None:
    space = ns()
    job, run = (space, "etl.revenue"), str(uuid.uuid4())
    orders = ds(space, "public.orders", "id", "amount", "country")
    revenue = ds(space, "public.revenue", "country", "total", columnLineage=column_lineage(
        ("total", space, "public.orders", "amount", "AGGREGATION"),
        ("country", space, "public.orders", "country", "IDENTITY")))
    ingest_openlineage(store, run_event("START", run, job, T0, inputs=[orders], outputs=[revenue]))
    ingest_openlineage(store, run_event("COMPLETE", run, job, T0 + timedelta(seconds=3), inputs=[orders],
                                        outputs=[revenue]))
    g = MetadataGraph(store)
    o, r = ("dataset", f"{space}/public.orders"), ("dataset", f"{space}/public.revenue")
    out = {(e.rel, e.dst) for e in g.neighbours("job", f"{space}/etl.revenue")}
    assert out == {("reads", o), ("writes", r)}
    assert {(e.rel, e.dst) for e in g.neighbours("run", run)} == {("run_of", ("job", f"{space}/etl.revenue")),
                                                                  ("reads", o), ("writes", r)}
    derived = g.neighbours(*r, rel="derived_from")
    assert [e.dst for e in derived] == [o] and derived[0].properties["job"] == f"{space}/etl.revenue"
    cols = {e.dst[1] for e in g.neighbours(*o, rel="has_column")}
    assert cols == {column_key(space, "public.orders", c) for c in ("id", "amount", "country")}
    total = g.neighbours("column", column_key(space, "public.revenue", "total"), rel="derived_from")
    assert [e.dst[1] for e in total] == [column_key(space, "public.orders", "amount")]
    assert total[0].properties["type"] == "DIRECT" and total[0].properties["subtype"] == "AGGREGATION"
    job_props = g.get("job", f"{space}/etl.revenue").properties  # type: ignore[union-attr]
    assert job_props["latestRun"] == run
    assert job_props["inputs"] == [{"namespace": space, "name": "public.orders"}]
    # the lineage service walks what the events made
    up = LineageService(store=store).upstream(r, columns=True)
    assert {n.key for n in up.nodes} >= {o[1], column_key(space, "public.orders", "amount")}
    assert "id" not in {n.key.rpartition(".")[2] for n in up.nodes if n.kind == "column"}
    down = LineageService(store=store).downstream(("column", column_key(space, "public.orders", "amount")))
    assert [n.key for n in down.nodes] == [column_key(space, "public.revenue", "total")]


def test_dataset_facets_follow_event_time(store: Store) -> None:
    space = ns()
    newer = {"eventTime": (T0 + timedelta(hours=1)).isoformat(), "producer": PRODUCER,
             "schemaURL": f"{CORE_ID}#/$defs/DatasetEvent", "dataset": ds(space, "t", "a", "b")}
    older = {**newer, "eventTime": T0.isoformat(), "dataset": ds(space, "t", "old")}
    ingest_openlineage(store, newer)
    ingest_openlineage(store, older)
    node = MetadataGraph(store).get("dataset", f"{space}/t")
    assert node is not None and [f["name"] for f in node.properties["fields"]] == ["a", "b"]
    cols = {e.dst[1] for e in MetadataGraph(store).neighbours("dataset", f"{space}/t", rel="has_column")}
    assert cols == {column_key(space, "t", "a"), column_key(space, "t", "b")}
    # a later schema replaces the columns
    ingest_openlineage(store, {**newer, "eventTime": (T0 + timedelta(hours=2)).isoformat(),
                               "dataset": ds(space, "t", "b", "c")})
    cols = {e.dst[1] for e in MetadataGraph(store).neighbours("dataset", f"{space}/t", rel="has_column")}
    assert cols == {column_key(space, "t", "b"), column_key(space, "t", "c")}


def test_job_event_records_static_lineage(store: Store) -> None:
    space = ns()
    event = {"eventTime": T0.isoformat(), "producer": PRODUCER, "schemaURL": f"{CORE_ID}#/$defs/JobEvent",
             "job": {"namespace": space, "name": "dbt.orders"},
             "inputs": [ds(space, "raw.orders")], "outputs": [ds(space, "stg.orders")]}
    result = ingest_openlineage(store, event)
    assert result.kind == "job" and result.run_id is None
    up = LineageService(store=store).upstream(("dataset", f"{space}/stg.orders"))
    assert [n.key for n in up.nodes] == [f"{space}/raw.orders"]


def test_the_meshfabric_namespace_names_products(store: Store) -> None:
    space, run = ns(), str(uuid.uuid4())
    ingest_openlineage(store, run_event("COMPLETE", run, (space, "export"), T0,
                                        inputs=[ds("meshfabric", "sales.orders")], outputs=[ds(space, "dump")]))
    edges = MetadataGraph(store).neighbours("dataset", f"{space}/dump", rel="derived_from")
    assert [e.dst for e in edges] == [("product", "sales.orders")]


def test_an_invalid_event_stores_nothing(store: Store) -> None:
    before = rows(store)
    event = run_event("START", "not-a-uuid", (ns(), "j"), T0)
    with pytest.raises(InvalidOpenLineageEvent) as err:
        ingest_openlineage(store, event)
    assert [p.path for p in err.value.problems] == ["$.run.runId"]
    assert "$.run.runId" in str(err.value) and err.value.exit_code == 2
    assert rows(store) == before


def test_listing_raw_events(store: Store) -> None:
    space = ns()
    runs = [str(uuid.uuid4()) for _ in range(3)]
    for i, run in enumerate(runs):
        ingest_openlineage(store, run_event("START", run, (space, "j"), T0 + timedelta(minutes=i)))
        ingest_openlineage(store, run_event("COMPLETE", run, (space, "j"), T0 + timedelta(minutes=i, seconds=30)))
    items, total = list_events(store, namespace=space)
    assert total == 6
    assert [i["eventTime"] for i in items] == sorted((i["eventTime"] for i in items), reverse=True)
    page, total = list_events(store, job=f"{space}/j", offset=2, limit=2)
    assert total == 6 and [p["id"] for p in page] == [i["id"] for i in items[2:4]]
    only, total = list_events(store, run_id=runs[1], event_type="complete")
    assert total == 1 and only[0]["runId"] == runs[1] and only[0]["event"]["eventType"] == "COMPLETE"
    later, total = list_events(store, namespace=space, since=T0 + timedelta(minutes=2))
    assert total == 2 and {e["runId"] for e in later} == {runs[2]}


def _chain(store: Store, space: str, length: int) -> list[str]:
    """d0 -j1-> d1 -j2-> d2 … : one run per step; returns the dataset names."""
    names = [f"d{i}" for i in range(length + 1)]
    for i in range(1, length + 1):
        ingest_openlineage(store, run_event("COMPLETE", str(uuid.uuid4()), (space, f"j{i}"), T0,
                                            inputs=[ds(space, names[i - 1])], outputs=[ds(space, names[i], "c")]))
    return names


def test_marquez_graph_is_bounded_by_depth(store: Store) -> None:
    space = ns()
    _chain(store, space, 4)
    graph = marquez_lineage(store, f"dataset:{space}:d2", depth=1)["graph"]
    ids = {n["id"] for n in graph}
    assert {f"dataset:{space}:d{i}" for i in (1, 2, 3)} <= ids
    assert f"dataset:{space}:d0" not in ids and f"dataset:{space}:d4" not in ids
    assert {f"job:{space}:j2", f"job:{space}:j3"} <= ids
    by_id = {n["id"]: n for n in graph}
    d2 = by_id[f"dataset:{space}:d2"]
    assert d2["type"] == "DATASET" and d2["data"]["id"] == {"namespace": space, "name": "d2"}
    assert d2["inEdges"] == [{"origin": f"job:{space}:j2", "destination": f"dataset:{space}:d2"}]
    assert d2["outEdges"] == [{"origin": f"dataset:{space}:d2", "destination": f"job:{space}:j3"}]
    assert [f["name"] for f in d2["data"]["fields"]] == ["c"]
    j2 = by_id[f"job:{space}:j2"]
    assert j2["type"] == "JOB" and j2["data"]["latestRun"]["state"] == "COMPLETE"
    assert j2["data"]["inputs"] == [{"namespace": space, "name": "d1"}]
    whole = {n["id"] for n in marquez_lineage(store, f"dataset:{space}:d2")["graph"]}
    assert {f"dataset:{space}:d{i}" for i in range(5)} | {f"job:{space}:j{i}" for i in range(1, 5)} == whole
    only = {n["id"] for n in marquez_lineage(store, f"dataset:{space}:d2", depth=0)["graph"]}
    assert only == {f"dataset:{space}:d2", f"job:{space}:j2", f"job:{space}:j3"}


def test_marquez_node_ids(store: Store) -> None:
    space = ns()  # "pg://hXXXX:5432" holds colons itself
    _chain(store, space, 1)
    assert resolve_node_id(store, f"dataset:{space}:d1") == ("dataset", f"{space}/d1")
    assert resolve_node_id(store, f"job:{space}:j1") == ("job", f"{space}/j1")
    graph = marquez_lineage(store, f"job:{space}:j1")["graph"]
    assert {n["id"] for n in graph} == {f"job:{space}:j1", f"dataset:{space}:d0", f"dataset:{space}:d1"}
    with pytest.raises(NotFound):
        resolve_node_id(store, f"dataset:{space}:nope")
    for bad in ("d1", "table:a:b", "dataset:only"):
        with pytest.raises(MeshfabricError) as err:
            resolve_node_id(store, bad)
        assert err.value.exit_code == 2 and "nodeId" in err.value.message


STATES = ["START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER"]


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(STATES), min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_run_state_is_independent_of_arrival_order(store: Store, states: list[str], rnd: Any) -> None:
    space, run = ns(), str(uuid.uuid4())
    events = [run_event(s, run, (space, "j"), T0 + timedelta(seconds=i)) for i, s in enumerate(states)]
    rnd.shuffle(events)
    for e in events:
        ingest_openlineage(store, e)
    props = run_node(store, run)
    real = [s for s in states if s != "OTHER"]
    assert props["state"] == (real[-1] if real else "NEW")
    assert props["events"] == len(states)
    terminal = [i for i, s in enumerate(states) if s in ("COMPLETE", "FAIL", "ABORT")]
    if terminal:
        assert datetime.fromisoformat(props["endedAt"]) == T0 + timedelta(seconds=terminal[-1])
    else:
        assert "endedAt" not in props


def test_names_longer_than_the_store_keeps_are_refused_by_path(store: Store) -> None:
    space = ns()
    long_name = "x" * 600
    before = rows(store)
    event = run_event("START", str(uuid.uuid4()), (space, "j"), T0, outputs=[ds(space, long_name)])
    with pytest.raises(InvalidOpenLineageEvent) as err:
        ingest_openlineage(store, event)
    assert [p.path for p in err.value.problems] == ["$.outputs[0]"]
    event = run_event("START", str(uuid.uuid4()), (space, "j"), T0, inputs=[ds(space, "t", "c" * 600)])
    with pytest.raises(InvalidOpenLineageEvent) as err:
        ingest_openlineage(store, event)
    assert [p.path for p in err.value.problems] == ["$.inputs[0].facets.schema"]
    event = run_event("START", str(uuid.uuid4()), (space, "j" * 600), T0)
    event["producer"] = "https://example.com/" + "p" * 3000
    with pytest.raises(InvalidOpenLineageEvent) as err:
        ingest_openlineage(store, event)
    assert [p.path for p in err.value.problems] == ["$.job", "$.producer"]
    assert rows(store) == before


def test_parent_run_and_nested_fields(store: Store) -> None:
    space, parent, child = ns(), str(uuid.uuid4()), str(uuid.uuid4())
    nested = {"_producer": PRODUCER, "_schemaURL": SCHEMA_URL, "fields": [
        {"name": "address", "type": "STRUCT", "fields": [{"name": "city", "type": "VARCHAR"}]}]}
    event = run_event("START", child, (space, "dag.task"), T0, outputs=[{"namespace": space, "name": "t",
                                                                         "facets": {"schema": nested}}],
                      run_facets={"parent": {"_producer": PRODUCER, "_schemaURL": SCHEMA_URL,
                                             "run": {"runId": parent}, "job": {"namespace": space, "name": "dag"}}})
    ingest_openlineage(store, event)
    props = run_node(store, child)
    assert props["parentRun"] == parent and props["parentJob"] == f"{space}/dag"
    assert [e.dst for e in MetadataGraph(store).neighbours("run", child, rel="child_of")] == [("run", parent)]
    cols = {e.dst[1] for e in MetadataGraph(store).neighbours("dataset", f"{space}/t", rel="has_column")}
    assert cols == {column_key(space, "t", "address"), column_key(space, "t", "address.city")}


def _finished(store: Store, run_id: str) -> list[dict[str, Any]]:
    from meshfabric.store.models import EventRow

    with store.read() as s:
        found = s.execute(select(EventRow.data, EventRow.domain, EventRow.correlation_id)
                          .where(EventRow.event_type == "lineage.run_finished",
                                 EventRow.correlation_id == run_id.replace("-", "")).order_by(EventRow.seq)).all()
    return [{**d, "_domain": dom} for d, dom, _ in found]


def test_a_finished_run_is_announced_once_per_outcome(store: Store) -> None:
    space, run = ns(), str(uuid.uuid4())
    job = (space, "load")
    ingest_openlineage(store, run_event("START", run, job, T0))
    assert _finished(store, run) == []
    complete = run_event("COMPLETE", run, job, T0 + timedelta(minutes=1), outputs=[ds("meshfabric", "sales.orders")])
    ingest_openlineage(store, complete)
    [done] = _finished(store, run)
    assert done["state"] == "COMPLETE" and done["job"] == f"{space}/load" and done["_domain"] == "sales"
    assert done["outputs"] == [{"namespace": "meshfabric", "name": "sales.orders"}]
    # the same outcome reported again (other facets) is not a second announcement
    again = run_event("COMPLETE", run, job, T0 + timedelta(minutes=1), run_facets={"custom": {
        "_producer": PRODUCER, "_schemaURL": SCHEMA_URL, "x": 1}})
    ingest_openlineage(store, again)
    assert len(_finished(store, run)) == 1
    failed = run_event("FAIL", run, job, T0 + timedelta(minutes=2), run_facets={"errorMessage": {
        "_producer": PRODUCER, "_schemaURL": SCHEMA_URL, "message": "disk full", "programmingLanguage": "sql"}})
    ingest_openlineage(store, failed)
    states = _finished(store, run)
    assert [e["state"] for e in states] == ["COMPLETE", "FAIL"] and states[1]["error"] == "disk full"


def test_marquez_column_lineage(store: Store) -> None:
    from meshfabric.lineage.openlineage import marquez_column_lineage

    space = ns()
    src = ds(space, "orders", "amount", "id")
    mid = ds(space, "daily", "total", columnLineage=column_lineage(("total", space, "orders", "amount", "AGGREGATION")))
    top = ds(space, "monthly", "total", columnLineage=column_lineage(("total", space, "daily", "total", "AGGREGATION")))
    ingest_openlineage(store, run_event("COMPLETE", str(uuid.uuid4()), (space, "j1"), T0, inputs=[src], outputs=[mid]))
    ingest_openlineage(store, run_event("COMPLETE", str(uuid.uuid4()), (space, "j2"), T0, inputs=[mid], outputs=[top]))
    fid = f"datasetField:{space}:monthly:total"
    graph = {n["id"]: n for n in marquez_column_lineage(store, fid)["graph"]}
    assert set(graph) == {fid, f"datasetField:{space}:daily:total", f"datasetField:{space}:orders:amount"}
    node = graph[fid]
    assert node["type"] == "DATASET_FIELD"
    assert node["data"] | {"inputFields": None} == {"namespace": space, "dataset": "monthly", "datasetVersion": None,
                                                    "field": "total", "fieldType": "VARCHAR", "inputFields": None}
    [inp] = node["data"]["inputFields"]
    assert (inp["dataset"], inp["field"], inp["transformationType"]) == ("daily", "total", "DIRECT")
    assert inp["transformations"][0]["subtype"] == "AGGREGATION"
    assert node["inEdges"] == [{"origin": f"datasetField:{space}:daily:total", "destination": fid}]
    near = {n["id"] for n in marquez_column_lineage(store, fid, depth=1)["graph"]}
    assert near == {fid, f"datasetField:{space}:daily:total"}
    amount = f"datasetField:{space}:orders:amount"
    assert {n["id"] for n in marquez_column_lineage(store, amount)["graph"]} == {amount}
    down = {n["id"] for n in marquez_column_lineage(store, amount, with_downstream=True)["graph"]}
    assert down == set(graph)
    whole = {n["id"] for n in marquez_column_lineage(store, f"dataset:{space}:daily")["graph"]}
    assert whole == {f"datasetField:{space}:daily:total", amount}
    with pytest.raises(NotFound):
        marquez_column_lineage(store, f"datasetField:{space}:monthly:nope")
    with pytest.raises(MeshfabricError):
        marquez_column_lineage(store, "field:a:b:c")


def test_nul_characters_are_refused_not_a_database_error(store: Store) -> None:
    event = run_event("START", str(uuid.uuid4()), (ns(), "bad\x00name"), T0)
    event["run"]["facets"] = {"custom": {"_producer": PRODUCER, "_schemaURL": SCHEMA_URL, "note": "a\x00b"}}
    with pytest.raises(InvalidOpenLineageEvent) as err:
        ingest_openlineage(store, event)
    assert [p.path for p in err.value.problems] == ["$.job.name", "$.run.facets.custom.note"]


def test_per_run_dataset_facets_are_kept_on_the_run(store: Store) -> None:
    space, run = ns(), str(uuid.uuid4())
    out = {"namespace": space, "name": "t", "outputFacets": {"outputStatistics": {
        "_producer": PRODUCER, "_schemaURL": SCHEMA_URL, "rowCount": 42, "size": 1024}}}
    inp = {"namespace": space, "name": "s", "inputFacets": {"inputStatistics": {
        "_producer": PRODUCER, "_schemaURL": SCHEMA_URL, "rowCount": 7}}}
    ingest_openlineage(store, run_event("START", run, (space, "j"), T0, inputs=[inp]))
    ingest_openlineage(store, run_event("COMPLETE", run, (space, "j"), T0 + timedelta(seconds=1), outputs=[out]))
    props = run_node(store, run)
    assert props["outputFacets"][f"{space}/t"]["outputStatistics"]["rowCount"] == 42
    assert props["inputFacets"][f"{space}/s"]["inputStatistics"]["rowCount"] == 7
    latest = {n["id"]: n for n in marquez_lineage(store, f"dataset:{space}:t")["graph"]}[f"job:{space}:j"]
    assert latest["data"]["latestRun"]["outputFacets"][f"{space}/t"]["outputStatistics"]["size"] == 1024
