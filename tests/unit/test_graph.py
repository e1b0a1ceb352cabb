"""MetadataGraph: nodes and typed edges in the store — idempotent upserts, property search,
neighbours with pagination — on SQLite and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from meshfabric.errors import MeshfabricError, NotFound
from meshfabric.graph import MetadataGraph
from meshfabric.store import Store, open_store
from meshfabric.store.models_graph import GraphEdgeRow, GraphNodeRow


@pytest.fixture
def store(both_stores: Store) -> Store:
    return both_stores


def _rows(store: Store) -> tuple[int, int]:
    with store.read() as s:
        return (int(s.scalar(select(func.count()).select_from(GraphNodeRow)) or 0),
                int(s.scalar(select(func.count()).select_from(GraphEdgeRow)) or 0))


def test_upsert_node_is_idempotent_and_merges_properties(store: Store) -> None:
    g = MetadataGraph(store)
    a = g.upsert_node("product", "sales.orders", properties={"owner": "a", "tier": 1})
    before = g.get("product", "sales.orders")
    assert g.upsert_node("product", "sales.orders") == a
    assert g.upsert_node("product", "sales.orders", properties={"owner": "a"}) == a
    assert g.get("product", "sales.orders") == before  # nothing changed, nothing rewritten
    g.upsert_node("product", "sales.orders", name="Orders", properties={"owner": "b", "tier": None, "pii": True})
    node = g.get("product", "sales.orders")
    assert node is not None and node.name == "Orders" and node.properties == {"owner": "b", "pii": True}
    assert node.created_at is not None and node.updated_at is not None and node.updated_at >= node.created_at
    assert node.created_at.tzinfo is not None
    # same key, other kind: another node
    assert g.upsert_node("dataset", "sales.orders") != a
    assert _rows(store) == (2, 0)


def test_upsert_edge_creates_endpoints_once(store: Store) -> None:
    g = MetadataGraph(store)
    for _ in range(3):
        g.upsert_edge(("product", "sales.orders"), "has_column", ("column", "sales.orders.id"),
                      properties={"position": 0})
    g.upsert_edge(("product", "sales.orders"), "has_column", ("column", "sales.orders.id"), properties={"x": 1})
    assert _rows(store) == (2, 1)
    (edge,) = g.neighbours("product", "sales.orders")
    assert edge.dst == ("column", "sales.orders.id") and edge.properties == {"position": 0, "x": 1}
    # bulk: duplicates in one call and across calls leave one row per (src, rel, dst)
    edges: list[Any] = [(("dataset", f"ns/t{i % 3}"), "derived_from", ("dataset", "ns/base"), {"i": i})
                        for i in range(9)]
    assert g.add_edges(edges) == 3
    assert g.add_edges(edges) == 3
    assert _rows(store) == (6, 4)
    assert sorted(e.properties["i"] for e in g.neighbours("dataset", "ns/base", direction="in")) == [6, 7, 8]


def test_find_is_an_and_of_exact_criteria(store: Store) -> None:
    g = MetadataGraph(store)
    g.upsert_node("column", "crm.customers.name", name="name", properties={"classification": ["pii"], "type": "string"})
    g.upsert_node("column", "crm.customers.email", name="email",
                  properties={"classification": ["pii", "contact"], "type": "string", "nullable": False})
    g.upsert_node("column", "crm.customers.id", name="id", properties={"type": "bigint", "position": 0,
                                                                        "nullable": False})
    g.upsert_node("product", "crm.customers", properties={"classification": "pii_free", "type": "string"})
    # text where other nodes hold numbers and booleans: a search by number must not fail on it
    g.upsert_node("tag", "odd", properties={"position": "first", "nullable": "no", "type": 0})
    keys = lambda nodes: [n.key for n in nodes]  # noqa: E731
    assert keys(g.find("column", classification="pii")) == ["crm.customers.email", "crm.customers.name"]
    assert keys(g.find(classification="contact")) == ["crm.customers.email"]
    assert keys(g.find(classification="pii", type="string")) == ["crm.customers.email", "crm.customers.name"]
    assert keys(g.find(type="string")) == ["crm.customers.email", "crm.customers.name", "crm.customers"]
    # a substring is not a match, in a list or a scalar
    assert g.find(classification="pi") == [] and g.find(type="str") == []
    assert keys(g.find("column", nullable=False)) == ["crm.customers.email", "crm.customers.id"]
    assert keys(g.find(position=0)) == ["crm.customers.id"]
    assert keys(g.find(name="email")) == ["crm.customers.email"]
    assert keys(g.find("column", name="email", nullable=True)) == []
    # pagination over the exact matches
    assert keys(g.find(type="string", limit=2)) == ["crm.customers.email", "crm.customers.name"]
    assert keys(g.find(type="string", limit=2, offset=2)) == ["crm.customers"]
    with pytest.raises(MeshfabricError, match="must be a string, number or boolean"):
        g.find(type=["x"])


def test_neighbours_directions_filters_and_pages(store: Store) -> None:
    g = MetadataGraph(store)
    hub = ("product", "sales.orders")
    g.add_edges([(hub, "has_column", ("column", f"sales.orders.c{i:02d}"), None) for i in range(25)]
                + [(hub, "part_of", ("domain", "sales"), None), (("domain", "finance"), "consumes", hub, None)])
    out = g.neighbours(*hub, limit=1000)
    assert len(out) == 26 and {e.rel for e in out} == {"has_column", "part_of"}
    assert [e.src for e in g.neighbours(*hub, direction="in")] == [("domain", "finance")]
    assert len(g.neighbours(*hub, direction="both", limit=1000)) == 27
    cols = g.neighbours(*hub, rel="has_column", limit=1000)
    pages = [g.neighbours(*hub, rel="has_column", limit=10, offset=o) for o in (0, 10, 20, 30)]
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    assert [e for p in pages for e in p] == cols
    assert [e.dst[1] for e in cols] == sorted(e.dst[1] for e in cols)
    with pytest.raises(NotFound, match=r"no product node 'sales\.nope'"):
        g.neighbours("product", "sales.nope")
    with pytest.raises(MeshfabricError, match="direction must be"):
        g.neighbours(*hub, direction="sideways")  # type: ignore[arg-type]


def test_invalid_names_and_removal(store: Store) -> None:
    g = MetadataGraph(store)
    with pytest.raises(MeshfabricError, match="invalid node kind"):
        g.upsert_node("Product!", "x")
    with pytest.raises(MeshfabricError, match="non-empty key"):
        g.upsert_node("product", "")
    with pytest.raises(MeshfabricError, match="invalid relationship"):
        g.upsert_edge(("product", "a.b"), "derived from", ("product", "c.d"))
    g.add_edges([(("product", "a.b"), "derived_from", ("product", "c.d"), None),
                 (("product", "c.d"), "derived_from", ("product", "e.f"), None)])
    assert g.remove_node("product", "c.d") is True
    assert g.remove_node("product", "c.d") is False
    assert _rows(store) == (2, 0)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path_factory.mktemp('graph') / 'shared.db'}")
    try:
        yield s
    finally:
        s.close()


values = st.one_of(st.sampled_from(["a", "b", "1"]), st.integers(0, 2), st.booleans(), st.sampled_from([0.5, 2.0]),
                   st.lists(st.sampled_from(["a", "b"]), max_size=2))
props = st.dictionaries(st.sampled_from(["owner", "tier", "pii"]), values, max_size=3)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(["p", "d"]), st.integers(0, 5), props), min_size=1, max_size=12),
       query=st.dictionaries(st.sampled_from(["owner", "tier", "pii"]),
                             st.one_of(st.sampled_from(["a", "b", "1"]), st.integers(0, 2), st.booleans(),
                                       st.sampled_from([0.5, 2.0])), min_size=1, max_size=2))
def test_find_agrees_with_a_model(shared_store: Store, ops: list[Any], query: dict[str, Any]) -> None:
    """Upserts merge like dict.update; find returns exactly the nodes whose properties equal every
    criterion as JSON does (a boolean is not a number, "1" is not 1, 2 is 2.0) or are lists holding it."""
    import uuid

    g = MetadataGraph(shared_store)
    tag = uuid.uuid4().hex[:12]
    kinds = {"p": f"p{tag}", "d": f"d{tag}"}
    model: dict[tuple[str, str], dict[str, Any]] = {}
    for k, i, p in ops:
        ref = (kinds[k], f"k{i}")
        g.upsert_node(*ref, properties=p)
        model.setdefault(ref, {}).update(p)

    def same(stored: Any, v: Any) -> bool:
        if isinstance(stored, list):
            return any(same(x, v) for x in stored)
        if isinstance(stored, bool) or isinstance(v, bool):
            return type(stored) is type(v) and stored == v
        if isinstance(stored, int | float) and isinstance(v, int | float):
            return float(stored) == float(v)
        return type(stored) is type(v) and stored == v

    for kind in kinds.values():
        assert {n.ref: n.properties for n in g.find(kind, limit=100)} == {r: p for r, p in model.items()
                                                                          if r[0] == kind}
        expected = sorted(r for r, p in model.items()
                          if r[0] == kind and all(k in p and same(p[k], v) for k, v in query.items()))
        assert [n.ref for n in g.find(kind, **query)] == expected
