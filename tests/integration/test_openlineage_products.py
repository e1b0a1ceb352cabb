"""OpenLineage events that name the physical table behind a product — by the OpenLineage naming
conventions, as Airflow, dbt and Spark report it — land on the product node: PostgreSQL
(``postgres://host:port`` + ``database.schema.table``) and MariaDB (``mysql://host:port`` +
``database.table``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from helpers import default_store, pg_database, write
from meshfabric import Mesh
from meshfabric.lineage.openlineage import ingest_openlineage, marquez_lineage

MESH = """\
name: physical
sources:
  src:
    kind: {kind}
    url: {url}
domains:
  sales:
    description: test data
"""

PRODUCT = """\
kind: DataProduct
domain: sales
name: orders
owner: sales@example.com
status: published
output:
  source: src
  table: {table}
"""


@pytest.fixture(params=["postgres", "mariadb"])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Mesh, str, str]]:
    """A mesh whose sales.orders is a real table; yields it and the table's OpenLineage name."""
    table = f"orders_{uuid.uuid4().hex[:8]}"
    if request.param == "postgres":
        request.getfixturevalue("pg_url")
        ctx = pg_database("mf_olphys")
        url = ctx.__enter__()
        import psycopg

        with psycopg.connect(url, autocommit=True) as c:
            c.execute(f"CREATE TABLE {table} (id bigint, amount numeric)")
        parts = urlsplit(url)
        namespace, name = f"postgres://{parts.hostname}:{parts.port}", f"{parts.path.strip('/')}.public.{table}"
        kind = "postgres"
    else:
        ctx = None
        url = request.getfixturevalue("mysql_url")
        import pymysql

        parts = urlsplit(url)
        conn = pymysql.connect(host=parts.hostname, port=parts.port, user="root", password="",
                               database=parts.path.strip("/"), autocommit=True)
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id BIGINT, amount DECIMAL(10,2))")
        conn.close()
        namespace, name = f"mysql://{parts.hostname}:{parts.port}", f"{parts.path.strip('/')}.{table}"
        kind = "mysql"
    root = tmp_path / "ws"
    write(root / "mesh.yaml", MESH.format(kind=kind, url=url))
    write(root / "products" / "orders.yaml", PRODUCT.format(table=table))
    try:
        with default_store(), Mesh.open(root) as mesh:
            mesh.apply()
            yield mesh, namespace, name
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)


def _event(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eventType": "COMPLETE", "eventTime": "2024-06-01T00:00:00Z", "producer": "https://example.com/p",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "airflow", "name": "export"},
            "inputs": inputs, "outputs": outputs}


def test_the_table_behind_a_product_is_the_product(workspace: tuple[Mesh, str, str]) -> None:
    mesh, namespace, name = workspace
    facet = {"_producer": "https://example.com/p", "_schemaURL": "https://example.com/s", "fields": {
        "total": {"inputFields": [{"namespace": namespace, "name": name, "field": "amount"}]}}}
    ingest_openlineage(mesh.store, _event([{"namespace": namespace, "name": name}],
                                          [{"namespace": "s3://exports", "name": "orders.csv",
                                            "facets": {"columnLineage": facet}}]))
    up = mesh.lineage.upstream("s3://exports/orders.csv", columns=True)
    assert ("product", "sales.orders") in {n.ref for n in up.nodes}
    assert ("column", "sales.orders.amount") in {n.ref for n in up.nodes}
    assert mesh.graph.get("dataset", f"{namespace}/{name}") is None
    # and the Marquez view names it by its mesh id, also when asked by its physical one
    graph = {n["id"] for n in marquez_lineage(mesh.store, f"dataset:{namespace}:{name}")["graph"]}
    assert graph == {"dataset:meshfabric:sales.orders", "job:airflow:export", "dataset:s3://exports:orders.csv"}
    # another host name for the same server is another dataset (names are compared as written)
    ingest_openlineage(mesh.store, _event([{"namespace": namespace.replace("127.0.0.1", "localhost"), "name": name}],
                                          [{"namespace": "s3://exports", "name": "other.csv"}]))
    assert mesh.graph.get("dataset", f"{namespace.replace('127.0.0.1', 'localhost')}/{name}") is not None


def test_a_hidden_product_stays_hidden_under_its_table_name(workspace: tuple[Mesh, str, str]) -> None:
    from meshfabric.api.lineage_routes import get_column_lineage, get_lineage
    from meshfabric.errors import NotFound

    mesh, namespace, name = workspace
    ingest_openlineage(mesh.store, _event([{"namespace": namespace, "name": name}],
                                          [{"namespace": "s3://exports", "name": "orders.csv"}]))
    mesh.access.create_principal("analyst")
    for node in (f"dataset:{namespace}:{name}", "dataset:meshfabric:sales.orders"):
        with pytest.raises(NotFound):
            get_lineage(node_id=node, depth=5, limit=100, mesh=mesh, user="analyst")
    with pytest.raises(NotFound):
        get_column_lineage(node_id=f"datasetField:{namespace}:{name}:amount", depth=5, with_downstream=False,
                           limit=100, mesh=mesh, user="analyst")
    graph = get_lineage(node_id="dataset:s3://exports:orders.csv", depth=5, limit=100, mesh=mesh, user="analyst")
    job = next(n for n in graph["graph"] if n["id"] == "job:airflow:export")
    assert job["data"]["inputs"] == [] and job["inEdges"] == []
    assert "dataset:meshfabric:sales.orders" not in {n["id"] for n in graph["graph"]}
    # the local principal (an admin) sees it under either name
    assert "dataset:meshfabric:sales.orders" in {
        n["id"] for n in get_lineage(node_id=f"dataset:{namespace}:{name}", depth=5, limit=100, mesh=mesh,
                                     user=None)["graph"]}
