"""LineageService over a store: transformations, walks with depth and pages, cycles, columns,
exports — on SQLite and PostgreSQL stores; walks checked against a breadth-first search."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import CONFORMANCE
from meshfabric.errors import MeshfabricError, NotFound
from meshfabric.graph import MetadataGraph
from meshfabric.lineage.service import LineageService
from meshfabric.store import Store, open_store

OL_SPEC = CONFORMANCE / "openlineage" / "spec"


@pytest.fixture
def store(both_stores: Store) -> Store:
    return both_stores


def _pipeline(lin: LineageService) -> None:
    """raw/orders, raw/customers → sales.orders → finance.revenue → finance.report, and
    sales.orders → crm.scores (a diamond below raw)."""
    lin.add_transformation(["raw/orders", "raw/customers"], "sales.orders", "sql",
                           columns=[("raw/orders.amt", "sales.orders.amount"),
                                    ("raw/customers.id", "sales.orders.customer_id")],
                           column_types={"sales.orders.amount": {"type": "DIRECT", "subtype": "AGGREGATION"}},
                           job="airflow/orders")
    lin.add_transformation(["sales.orders"], "finance.revenue",
                           columns=[("sales.orders.amount", "finance.revenue.total")])
    lin.add_transformation(["finance.revenue", "raw/orders"], "finance.report")
    lin.add_transformation(["sales.orders"], "crm.scores")


def _refs(walk: Any) -> list[tuple[str, str, int]]:
    return [(n.kind, n.key, n.distance) for n in walk.nodes]


def test_upstream_and_downstream_with_depth(store: Store) -> None:
    lin = LineageService(store=store)
    _pipeline(lin)
    assert _refs(lin.upstream("finance.report")) == [
        ("dataset", "raw/orders", 1), ("product", "finance.revenue", 1),
        ("product", "sales.orders", 2), ("dataset", "raw/customers", 3)]
    assert _refs(lin.upstream("finance.report", depth=1)) == [
        ("dataset", "raw/orders", 1), ("product", "finance.revenue", 1)]
    assert _refs(lin.upstream("finance.report", depth=0)) == []
    assert _refs(lin.downstream("raw/orders")) == [
        ("product", "finance.report", 1), ("product", "sales.orders", 1),
        ("product", "crm.scores", 2), ("product", "finance.revenue", 2)]
    walk = lin.downstream("sales.orders", depth=1)
    assert _refs(walk) == [("product", "crm.scores", 1), ("product", "finance.revenue", 1)]
    # the edges among the root and the page, with what made them
    assert sorted((e.src[1], e.dst[1]) for e in walk.edges) == [("crm.scores", "sales.orders"),
                                                               ("finance.revenue", "sales.orders")]
    up = lin.upstream("sales.orders", depth=1)
    made = {"type": "sql", "job": "airflow/orders"}
    assert {e.dst[1]: e.properties for e in up.edges} == {"raw/orders": made, "raw/customers": made}
    # the job reads the sources and writes the target
    g = MetadataGraph(store)
    assert sorted((e.rel, e.dst[1]) for e in g.neighbours("job", "airflow/orders", limit=10)) == [
        ("reads", "raw/customers"), ("reads", "raw/orders"), ("writes", "sales.orders")]


def test_column_lineage(store: Store) -> None:
    lin = LineageService(store=store)
    _pipeline(lin)
    col = lin.upstream("finance.revenue.total")
    assert _refs(col) == [("column", "sales.orders.amount", 1), ("column", "raw/orders.amt", 2)]
    edge = next(e for e in col.edges if e.dst == ("column", "raw/orders.amt"))
    assert edge.properties == {"type": "DIRECT", "subtype": "AGGREGATION", "job": "airflow/orders"}
    # --columns from a dataset: its columns (distance 0) and theirs, beside the dataset walk
    walk = lin.downstream("raw/orders", columns=True, depth=2)
    refs = _refs(walk)
    assert ("column", "raw/orders.amt", 0) in refs and ("column", "sales.orders.amount", 1) in refs
    assert ("column", "finance.revenue.total", 2) in refs and ("product", "finance.revenue", 2) in refs
    assert not any(k == "column" and key.startswith("raw/customers") for k, key, _ in refs)
    assert any(e.rel == "has_column" for e in walk.edges)
    # columns=False never yields columns
    assert all(n.kind != "column" for n in lin.downstream("raw/orders").nodes)


def test_transformations_are_idempotent_and_resolved(store: Store) -> None:
    lin = LineageService(store=store)
    for _ in range(2):
        _pipeline(lin)
    g = MetadataGraph(store)
    counts = g.count()
    _pipeline(lin)
    assert g.count() == counts
    # names: domain.product is a product, namespace/name a dataset, KIND:KEY explicit
    assert lin.resolve("sales.orders") == ("product", "sales.orders")
    assert lin.resolve("raw/orders") == ("dataset", "raw/orders")
    assert lin.resolve("sales.orders.amount") == ("column", "sales.orders.amount")
    assert lin.resolve("dataset:postgres://db:5432/shop.public.orders") == ("dataset",
                                                                           "postgres://db:5432/shop.public.orders")
    with pytest.raises(NotFound, match="'nope' is not in the lineage graph") as err:
        lin.upstream("nope")
    assert err.value.exit_code == 2
    with pytest.raises(MeshfabricError, match="depth must be 0 or more"):
        lin.upstream("sales.orders", depth=-1)
    with pytest.raises(MeshfabricError, match="needs at least one source"):
        lin.add_transformation([], "sales.orders")
    with pytest.raises(MeshfabricError, match=r"must be written table\.column"):
        lin.add_transformation(["raw/orders"], "sales.orders", columns=[("amt", "sales.orders.amount")])


def test_pages_cover_the_walk_exactly(store: Store) -> None:
    lin = LineageService(store=store)
    MetadataGraph(store).add_edges([(("dataset", "ns/sink"), "derived_from", ("dataset", f"ns/s{i:03d}"), None)
                                    for i in range(57)]
                                   + [(("dataset", f"ns/s{i:03d}"), "derived_from", ("dataset", "ns/root"), None)
                                      for i in range(57)])
    full = lin.upstream("ns/sink")
    assert full.total == 58 and len(full.nodes) == 58
    pages = [lin.upstream("ns/sink", limit=20, offset=o) for o in range(0, 80, 20)]
    assert [len(p.nodes) for p in pages] == [20, 20, 18, 0]
    assert all(p.total == 58 for p in pages)
    assert [n for p in pages for n in p.nodes] == full.nodes
    assert full.nodes[-1].key == "ns/root" and full.nodes[-1].distance == 2


def test_cycles_end(store: Store) -> None:
    lin = LineageService(store=store)
    lin.add_transformation(["ns/a"], "ns/b")
    lin.add_transformation(["ns/b"], "ns/c")
    lin.add_transformation(["ns/c"], "ns/a")
    lin.add_transformation(["ns/x"], "ns/a")
    assert _refs(lin.upstream("ns/a")) == [("dataset", "ns/c", 1), ("dataset", "ns/x", 1), ("dataset", "ns/b", 2)]
    assert _refs(lin.downstream("ns/a")) == [("dataset", "ns/b", 1), ("dataset", "ns/c", 2)]
    assert _refs(lin.downstream("ns/a", depth=50)) == [("dataset", "ns/b", 1), ("dataset", "ns/c", 2)]
    # a node derived from itself
    lin.add_transformation(["ns/self"], "ns/self", columns=[("ns/self.a", "ns/self.b")])
    assert _refs(lin.upstream("ns/self")) == []


def test_unbounded_walks_deeper_than_the_first_bound(store: Store) -> None:
    """A chain of 150 (deeper than the first bounded pass) with a cycle at its far end."""
    g = MetadataGraph(store)
    g.add_edges([(("dataset", f"ns/c{i + 1:03d}"), "derived_from", ("dataset", f"ns/c{i:03d}"), None)
                 for i in range(149)] + [(("dataset", "ns/c000"), "derived_from", ("dataset", "ns/c005"), None)])
    lin = LineageService(store=store)
    up = lin.upstream("ns/c149", limit=10, offset=140)
    assert up.total == 149
    assert [(n.key, n.distance) for n in up.nodes] == [(f"ns/c{149 - d:03d}", d) for d in range(141, 150)]
    down = lin.downstream("ns/c003")
    assert down.total == 149 and down.nodes[-1].distance == 146
    # c004…c073, and round the cycle c005 → c000 → c001 → c002
    assert lin.downstream("ns/c003", depth=70).total == 73


def _bfs(edges: set[tuple[int, int]], start: int, depth: int | None) -> dict[int, int]:
    dist = {start: 0}
    queue = deque([start])
    while queue:
        n = queue.popleft()
        if depth is not None and dist[n] >= depth:
            continue
        for a, b in sorted(edges):
            if a == n and b not in dist:
                dist[b] = dist[n] + 1
                queue.append(b)
    dist.pop(start)
    return dist


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path_factory.mktemp('lineage') / 'shared.db'}")
    try:
        yield s
    finally:
        s.close()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edges=st.sets(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=30),
       start=st.integers(0, 9), depth=st.one_of(st.none(), st.integers(0, 5)))
def test_walks_match_breadth_first_search(shared_store: Store, edges: set[tuple[int, int]], start: int,
                                          depth: int | None) -> None:
    """Any graph, cycles and self-loops included: upstream (and downstream over the reversed
    edges) gives exactly the nodes a BFS reaches within the depth, at their shortest distance."""
    import uuid

    ns = uuid.uuid4().hex[:10]
    name = lambda i: f"{ns}/n{i}"  # noqa: E731
    lin = LineageService(store=shared_store)
    graph = MetadataGraph(shared_store)
    graph.ensure_nodes([("dataset", name(start))])
    graph.add_edges([(("dataset", name(a)), "derived_from", ("dataset", name(b)), None) for a, b in edges])
    up = {int(n.key.rsplit("n", 1)[1]): n.distance for n in lin.upstream(name(start), depth=depth).nodes}
    assert up == _bfs(edges, start, depth)
    down = {int(n.key.rsplit("n", 1)[1]): n.distance for n in lin.downstream(name(start), depth=depth).nodes}
    assert down == _bfs({(b, a) for a, b in edges}, start, depth)


def test_export_formats(store: Store) -> None:
    lin = LineageService(store=store)
    _pipeline(lin)
    doc = json.loads(lin.export("sales.orders", "json"))
    keys = {n["key"] for n in doc["nodes"]}
    assert {"raw/orders", "raw/customers", "finance.revenue", "finance.report", "crm.scores"} <= keys
    assert doc["root"]["key"] == "sales.orders"

    dot = lin.export("sales.orders", "dot")
    lines = dot.strip().splitlines()
    assert lines[0] == "digraph lineage {" and lines[-1] == "}"
    node_line = re.compile(r'^  "[a-z_]+:[^"]+" \[label="[^"]+", shape=\w+(, style=bold)?\];$')
    edge_line = re.compile(r'^  "[a-z_]+:[^"]+" -> "[a-z_]+:[^"]+"( \[style=dashed, label="\w+"\])?;$')
    body = lines[2:-1]
    assert all(node_line.match(x) or edge_line.match(x) for x in body), body
    declared = {re.match(r'^  "([^"]+)" \[', x).group(1) for x in body if node_line.match(x)}  # type: ignore[union-attr]
    for x in body:
        if edge_line.match(x):
            a, b = re.findall(r'"([a-z_]+:[^"]+)"', x)[:2]
            assert a in declared and b in declared
    # data flows source → target
    assert '  "dataset:raw/orders" -> "product:sales.orders";' in lines

    mermaid = lin.export("sales.orders", "mermaid")
    mlines = mermaid.strip().splitlines()
    assert mlines[0] == "flowchart LR"
    ids = {}
    for x in mlines[1:]:
        m = re.match(r'^  (n\d+)(\["|\[\(")([^"]+)("\]|"\)\])$', x)
        if m:
            ids[m.group(1)] = m.group(3)
            continue
        assert re.match(r"^  (n\d+) (-->|-\.->\|\w+\|) (n\d+)$", x) or re.match(r"^  style n\d+ ", x), x
    for x in mlines[1:]:
        for ref in re.findall(r"\bn\d+\b", x):
            assert ref in ids
    src = next(i for i, k in ids.items() if k == "raw/orders")
    tgt = next(i for i, k in ids.items() if k == "sales.orders")
    assert f"  {src} --> {tgt}" in mlines

    with pytest.raises(MeshfabricError, match="unknown export format 'png'"):
        lin.export("sales.orders", "png")


def test_openlineage_export_is_valid(store: Store) -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    spec = json.loads((OL_SPEC / "OpenLineage.json").read_text())
    facet = json.loads((OL_SPEC / "facets" / "ColumnLineageDatasetFacet.json").read_text())
    registry = Registry().with_resources([(spec["$id"], Resource.from_contents(spec)),
                                          (facet["$id"], Resource.from_contents(facet))])
    run_event = Draft202012Validator({"$ref": spec["$id"] + "#/$defs/RunEvent"}, registry=registry,
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    column_facet = Draft202012Validator({"$ref": facet["$id"] + "#/$defs/ColumnLineageDatasetFacet"},
                                        registry=registry)
    lin = LineageService(store=store)
    _pipeline(lin)
    events = json.loads(lin.export("finance.revenue", "openlineage"))
    assert events
    for ev in events:
        errors = sorted(e.message for e in run_event.iter_errors(ev))
        assert errors == [], errors
        for out in ev["outputs"]:
            if "columnLineage" in out.get("facets", {}):
                assert list(column_facet.iter_errors(out["facets"]["columnLineage"])) == []
    by_output = {ev["outputs"][0]["name"]: ev for ev in events}
    orders = by_output["sales.orders"]
    assert orders["job"] == {"namespace": "airflow", "name": "orders"}
    assert sorted((i["namespace"], i["name"]) for i in orders["inputs"]) == [("raw", "customers"), ("raw", "orders")]
    fields = orders["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert fields["amount"]["inputFields"] == [{"namespace": "raw", "name": "orders", "field": "amt",
                                                "transformations": [{"type": "DIRECT", "subtype": "AGGREGATION"}]}]
    revenue = by_output["finance.revenue"]
    assert revenue["outputs"][0]["namespace"] == "meshfabric"
    assert revenue["outputs"][0]["facets"]["columnLineage"]["fields"]["total"]["inputFields"][0]["field"] == "amount"


def test_reading_the_datasets_an_event_names_leaves_the_event_as_sent() -> None:
    """The permission check reads every dataset an OpenLineage event names — inputs, outputs and
    each column lineage facet's input fields — before the very same event is stored and folded:
    it must not change it (it once appended the input fields to the facet's ``dataset`` list,
    which made every output column derive from every input column)."""
    import copy

    from meshfabric.lineage.service import _event_datasets

    field = {"namespace": "pg", "name": "public.orders", "field": "amount"}
    event = {"inputs": [{"namespace": "pg", "name": "public.orders"}],
             "outputs": [{"namespace": "pg", "name": "mart.revenue", "facets": {"columnLineage": {
                 "fields": {"revenue": {"inputFields": [field]}},
                 "dataset": [{"namespace": "pg", "name": "public.customers", "field": "id"}]}}}]}
    before = copy.deepcopy(event)
    written, read = _event_datasets(event)
    assert event == before
    assert written == [("pg", "mart.revenue")]
    assert sorted(set(read)) == [("pg", "public.customers"), ("pg", "public.orders")]
