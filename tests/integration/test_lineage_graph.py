"""The metadata graph kept current from domain events on apply, and lineage/impact over it.

A real workspace (tests/helpers.py: three domains, a SQLite and a files source) is applied, the
graph is read back, a spec is changed and re-applied, and the graph must follow — touching only
what changed. Impact analysis crosses domains: a column of sales.orders feeds a logistics product
whose contract is consumed by crm.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from helpers import ORDERS_YAML, SPEC_FILES, build_workspace, cli, default_store, pg_database, write
from meshfabric.graph import MetadataGraph
from meshfabric.graph.sync import SUBSCRIBER, sync_graph
from meshfabric.mesh import Mesh
from meshfabric.store.models import SubscriberOffsetRow

BIG_ORDERS_YAML = """\
kind: DataProduct
domain: sales
name: big_orders
owner: sales-team@example.com
description: Orders above 100
status: published
output:
  source: shop_db
  sql: SELECT order_id, customer_id, amount * 2 AS double_amount FROM orders WHERE amount > 100
schema:
  - name: order_id
    type: bigint
    nullable: false
  - name: customer_id
    type: bigint
  - name: double_amount
    type: double
"""


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    with default_store():
        ws = build_workspace(tmp_path / "ws")
        m = Mesh.open(ws)
        try:
            yield m
        finally:
            m.close()


def _out(g: MetadataGraph, kind: str, key: str, rel: str) -> list[tuple[str, str]]:
    return sorted(e.dst for e in g.neighbours(kind, key, rel=rel, limit=1000))


def _offset(mesh: Mesh) -> int:
    with mesh.store.read() as s:
        return int(s.scalar(select(SubscriberOffsetRow.last_seq).where(SubscriberOffsetRow.subscriber == SUBSCRIBER))
                   or 0)


def test_apply_builds_the_graph(mesh: Mesh) -> None:
    mesh.apply()
    g = MetadataGraph(mesh.store)
    orders = g.get("product", "sales.orders")
    assert orders is not None
    assert orders.properties["owner"] == "sales-team@example.com"
    assert orders.properties["status"] == "published" and orders.properties["port"] == "table"
    assert _out(g, "product", "sales.orders", "part_of") == [("domain", "sales")]
    assert _out(g, "product", "sales.orders", "owned_by") == [("team", "sales-team@example.com")]
    assert _out(g, "product", "sales.orders", "reads_from") == [("source", "shop_db")]
    assert _out(g, "product", "sales.orders", "tagged_with") == [("tag", "orders"), ("tag", "revenue")]
    assert _out(g, "product", "sales.orders", "has_column") == [
        ("column", f"sales.orders.{c}") for c in sorted(["order_id", "customer_id", "amount", "status"])]
    amount = g.get("column", "sales.orders.amount")
    assert amount is not None
    assert amount.properties["type"] == "double" and amount.properties["product"] == "sales.orders"
    # classification reaches the column, and property search finds it
    assert [n.key for n in g.find("column", classification="pii")] == ["crm.customers.name"]
    assert [n.key for n in g.find("product", owner="crm-team@example.com")] == ["crm.customers"]
    assert _out(g, "domain", "crm", "owned_by") == [("team", "crm-team@example.com")]
    assert g.get("source", "lake") is not None and g.get("source", "lake").properties["source_kind"] == "files"
    # each product's first schema version
    assert _out(g, "product", "sales.orders", "conforms_to") == [("schema_version", "sales.orders@v1")]
    # who owns what, from the team's side
    owned = sorted(e.src for e in g.neighbours("team", "sales-team@example.com", rel="owned_by", direction="in"))
    assert owned == [("domain", "sales"), ("product", "sales.orders")]


def test_reapply_updates_the_graph_incrementally(mesh: Mesh, tmp_path: Path) -> None:
    mesh.apply()
    g = MetadataGraph(mesh.store)
    customers_before = g.get("product", "crm.customers")
    offset_before = _offset(mesh)
    assert offset_before and offset_before > 0
    # nothing new: nothing folded
    assert sync_graph(mesh.store) == 0

    root = mesh.root
    assert root is not None
    orders = ORDERS_YAML.replace("tags: [orders, revenue]", "tags: [orders, finance]").replace(
        "owner: sales-team@example.com", "owner: revenue-team@example.com").replace(
        "  - name: amount\n    type: double\n", "  - name: amount\n    type: double\n    classification: [finance]\n")
    write(root / "products/sales/orders.yaml", orders)
    (root / "products/logistics/shipments.yaml").unlink()
    mesh.apply()

    o = g.get("product", "sales.orders")
    assert o is not None and o.properties["owner"] == "revenue-team@example.com" and o.properties["revision"] == 2
    assert _out(g, "product", "sales.orders", "tagged_with") == [("tag", "finance"), ("tag", "orders")]
    assert _out(g, "product", "sales.orders", "owned_by") == [("team", "revenue-team@example.com")]
    assert [n.key for n in g.find("column", classification="finance")] == ["sales.orders.amount"]
    assert _out(g, "product", "sales.orders", "conforms_to") == [("schema_version", "sales.orders@v1")]
    # the deleted product is gone with its columns and schema versions
    assert g.get("product", "logistics.shipments") is None
    assert g.find("column", product="logistics.shipments") == []
    assert g.get("schema_version", "logistics.shipments@v1") is None
    # the untouched product's node was not rewritten
    customers_after = g.get("product", "crm.customers")
    assert customers_after == customers_before
    assert _offset(mesh) > offset_before


def test_sql_product_gets_lineage_from_its_sql(mesh: Mesh) -> None:
    root = mesh.root
    assert root is not None
    write(root / "products/sales/big_orders.yaml", BIG_ORDERS_YAML)
    mesh.apply()
    g = MetadataGraph(mesh.store)
    big = g.get("product", "sales.big_orders")
    assert big is not None and big.properties["port"] == "sql"
    assert "lineage_error" not in big.properties
    # the table the SQL reads is served as sales.orders: lineage points at the product
    up = mesh.lineage.upstream("sales.big_orders", columns=True)
    assert ("product", "sales.orders") in [n.ref for n in up.nodes]
    col = mesh.lineage.upstream("sales.big_orders.double_amount")
    assert [n.ref for n in col.nodes] == [("column", "sales.orders.amount")]
    (edge,) = [e for e in col.edges if e.rel == "derived_from"]
    assert edge.properties["type"] == "DIRECT" and edge.properties["subtype"] == "TRANSFORMATION"
    assert edge.properties["origin"] == "sql"
    ident = mesh.lineage.upstream("sales.big_orders.order_id")
    (edge,) = [e for e in ident.edges if e.rel == "derived_from"]
    assert edge.properties["subtype"] == "IDENTITY"
    # re-applying the same spec leaves one set of edges
    mesh.apply()
    again = mesh.lineage.upstream("sales.big_orders", columns=True)
    assert [n.ref for n in again.nodes] == [n.ref for n in up.nodes] and len(again.edges) == len(up.edges)


def test_sql_lineage_follows_the_product_that_serves_a_table(mesh: Mesh, monkeypatch: pytest.MonkeyPatch) -> None:
    """Applied before any product serves `orders`, the SQL product derives from the physical table
    (dataset shop_db/orders); once sales.orders is applied on that table, from the product."""
    # only the graph is under test here: the search index (synced beside it) has its own tests
    monkeypatch.setattr(Mesh, "sync_indexes", lambda self: sync_graph(self.store))
    root = mesh.root
    assert root is not None
    orders_spec = root / "products/sales/orders.yaml"
    orders_spec.unlink()
    write(root / "products/sales/big_orders.yaml", BIG_ORDERS_YAML)
    mesh.apply()
    up = mesh.lineage.upstream("sales.big_orders")
    assert [n.ref for n in up.nodes] == [("dataset", "shop_db/orders")]
    assert [n.ref for n in mesh.lineage.upstream("sales.big_orders.double_amount").nodes] == [
        ("column", "shop_db/orders.amount")]
    write(orders_spec, ORDERS_YAML)
    mesh.apply()
    assert [n.ref for n in mesh.lineage.upstream("sales.big_orders").nodes] == [("product", "sales.orders")]
    assert [n.ref for n in mesh.lineage.upstream("sales.big_orders.double_amount").nodes] == [
        ("column", "sales.orders.amount")]
    # and a change to sales.orders.amount reaches the SQL product
    assert [p["product"] for p in mesh.lineage.impact("sales.orders.amount").products] == [
        "sales.orders", "sales.big_orders"]


def test_impact_of_a_column_crosses_domains(mesh: Mesh) -> None:
    mesh.apply()
    # logistics.shipments is built from sales.orders (its order_id copied through)
    mesh.lineage.add_transformation(["sales.orders"], "logistics.shipments", "copy",
                                    columns=[("sales.orders.order_id", "logistics.shipments.order_id")],
                                    job="airflow/build_shipments")
    contract = mesh.contracts.generate("logistics.shipments", "crm", save=True)
    impact = mesh.lineage.impact("sales.orders.order_id")
    assert [(p["product"], p["distance"], p["columns"]) for p in impact.products] == [
        ("sales.orders", 0, ["order_id"]), ("logistics.shipments", 1, ["order_id"])]
    assert [(c["contract"], c["product"], c["consumer"]) for c in impact.contracts] == [
        (contract.id, "logistics.shipments", "crm")]
    assert impact.contracts[0]["consumer_owners"] == ["crm-team@example.com"]
    assert impact.owners == ["crm-team@example.com", "logistics-team@example.com", "sales-team@example.com"]
    assert impact.domains == ["crm", "logistics", "sales"]
    # a column nothing reads reaches only its own product
    lonely = mesh.lineage.impact("sales.orders.status")
    assert [p["product"] for p in lonely.products] == ["sales.orders"] and lonely.contracts == []
    # the whole product reaches the same downstream product, via the dataset edge
    whole = mesh.lineage.impact("sales.orders")
    assert [p["product"] for p in whole.products] == ["sales.orders", "logistics.shipments"]


def test_cli_lineage_commands(mesh: Mesh, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    mesh.apply()
    root = mesh.root
    code, out, err = cli(capsys, "-w", root, "lineage", "add", "--source", "sales.orders",
                         "--source", "crm.customers", "--target", "logistics.shipments",
                         "--column", "sales.orders.order_id=logistics.shipments.order_id")
    assert code == 0, err
    code, out, err = cli(capsys, "-w", root, "lineage", "upstream", "logistics.shipments", "--json")
    assert code == 0, err
    body = json.loads(out)
    assert sorted(n["key"] for n in body["nodes"]) == ["crm.customers", "sales.orders"]
    code, out, err = cli(capsys, "-w", root, "lineage", "downstream", "sales.orders", "--depth", "1", "--columns")
    assert code == 0, err
    assert "logistics.shipments" in out and "sales.orders.order_id" in out
    code, out, err = cli(capsys, "-w", root, "lineage", "impact", "sales.orders.order_id", "--json")
    assert code == 0, err
    assert [p["product"] for p in json.loads(out)["products"]] == ["sales.orders", "logistics.shipments"]
    code, out, err = cli(capsys, "-w", root, "lineage", "export", "sales.orders", "--format", "mermaid")
    assert code == 0, err
    assert out.startswith("flowchart LR") and '["logistics.shipments"]' in out
    # a name the graph does not know: a clear message and exit 2, no traceback
    code, out, err = cli(capsys, "-w", root, "lineage", "upstream", "sales.nope")
    assert code == 2 and "'sales.nope' is not in the lineage graph" in err and "Traceback" not in err
    code, out, err = cli(capsys, "-w", root, "lineage", "add", "--source", "sales.orders", "--target", "x.y",
                         "--column", "nonsense")
    assert code == 2 and "must be SRC_TABLE.COL=TGT_TABLE.COL" in err
    code, out, err = cli(capsys, "-w", root, "lineage", "export", "sales.orders", "--format", "png")
    assert code == 2 and "unknown export format" in err


def test_graph_sync_on_a_postgresql_store(pg_url: str, tmp_path: Path) -> None:
    with pg_database("mf_graph") as url:
        ws = build_workspace(tmp_path / "ws", specs=dict(SPEC_FILES))
        with Mesh.open(ws, store=url) as m:
            m.apply()
            g = MetadataGraph(m.store)
            assert _out(g, "product", "crm.customers", "has_column") == [
                ("column", f"crm.customers.{c}") for c in ("country", "customer_id", "name")]
            m.lineage.add_transformation(["crm.customers"], "sales.orders",
                                         columns=[("crm.customers.customer_id", "sales.orders.customer_id")])
            impact = m.lineage.impact("crm.customers.customer_id")
            assert [p["product"] for p in impact.products] == ["crm.customers", "sales.orders"]
            assert impact.owners == ["crm-team@example.com", "sales-team@example.com"]
