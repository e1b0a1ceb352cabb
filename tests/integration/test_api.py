"""The REST API through FastAPI's TestClient: catalog reads, problem+json errors, query as JSON and Arrow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from helpers import build_workspace, customers_rows, default_store, orders_rows
from meshfabric import Mesh
from meshfabric.api.app import ARROW_STREAM, PROBLEM, create_app

REVENUE_SQL = """
SELECT c.country, count(*) AS orders, sum(o.amount) AS revenue
FROM sales.orders o JOIN crm.customers c ON c.customer_id = o.customer_id
WHERE o.status = 'completed'
GROUP BY c.country ORDER BY c.country
"""


def _expected_revenue() -> list[tuple[str, int, float]]:
    country = {cid: c for cid, _, c in customers_rows()}
    totals: dict[str, tuple[int, float]] = {}
    for _, cid, amount, status in orders_rows():
        if status == "completed":
            n, s = totals.get(country[cid], (0, 0.0))
            totals[country[cid]] = (n + 1, s + amount)
    return [(c, n, round(s, 6)) for c, (n, s) in sorted(totals.items())]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = build_workspace(tmp_path_factory.mktemp("api") / "ws")
    with default_store(), Mesh.open(root) as mesh:
        mesh.apply()
        with TestClient(create_app(mesh, auth=False)) as c:
            yield c


def test_health(client: TestClient) -> None:
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["store_revision"]


def test_domains(client: TestClient) -> None:
    r = client.get("/api/v1/domains")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3
    assert [(d["name"], d["products"]) for d in body["items"]] == [("crm", 1), ("logistics", 1), ("sales", 1)]
    assert body["items"][2]["owners"] == ["sales-team@example.com"]


def test_products_with_filters_and_pages(client: TestClient) -> None:
    body = client.get("/api/v1/products").json()
    assert [p["fqn"] for p in body["items"]] == ["crm.customers", "logistics.shipments", "sales.orders"]
    assert client.get("/api/v1/products", params={"domain": "sales"}).json()["total"] == 1
    assert [p["fqn"] for p in client.get("/api/v1/products", params={"status": "draft"}).json()["items"]] == [
        "logistics.shipments"]
    page = client.get("/api/v1/products", params={"offset": 1, "limit": 1}).json()
    assert page["total"] == 3 and page["offset"] == 1 and page["limit"] == 1
    assert [p["fqn"] for p in page["items"]] == ["logistics.shipments"]
    assert client.get("/api/v1/products", params={"limit": 0}).status_code == 422


def test_one_product(client: TestClient) -> None:
    r = client.get("/api/v1/products/sales.orders")
    assert r.status_code == 200
    p = r.json()
    assert p["fqn"] == "sales.orders" and p["source"] == "shop_db"
    assert [c["name"] for c in p["columns"]] == ["order_id", "customer_id", "amount", "status"]


def test_unknown_product_is_a_404_problem(client: TestClient) -> None:
    r = client.get("/api/v1/products/sales.order")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == 404 and body["title"] == "not found"
    assert "sales.order" in body["detail"]
    assert body["hint"] == "did you mean 'sales.orders'?"
    assert body["instance"] == "/api/v1/products/sales.order"
    assert body["type"].endswith("/NotFound")


def test_events(client: TestClient) -> None:
    body = client.get("/api/v1/events", params={"type": "product.*"}).json()
    assert sorted(e["data"]["product"] for e in body["items"]) == ["crm.customers", "logistics.shipments",
                                                                   "sales.orders"]


def test_query_as_json(client: TestClient) -> None:
    r = client.post("/api/v1/query", json={"sql": REVENUE_SQL})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["columns"] == ["country", "orders", "revenue"]
    assert body["row_count"] == len(_expected_revenue())
    got = [(c, int(n), round(float(s), 6)) for c, n, s in body["rows"]]
    assert got == _expected_revenue()


def test_query_as_arrow_stream(client: TestClient) -> None:
    r = client.post("/api/v1/query", json={"sql": REVENUE_SQL}, headers={"Accept": ARROW_STREAM})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(ARROW_STREAM)
    table = pa.ipc.open_stream(r.content).read_all()
    assert table.column_names == ["country", "orders", "revenue"]
    got = [(row["country"], int(row["orders"]), round(float(row["revenue"]), 6)) for row in table.to_pylist()]
    assert got == _expected_revenue()


def test_query_limit(client: TestClient) -> None:
    r = client.post("/api/v1/query", json={"sql": "SELECT order_id FROM sales.orders ORDER BY order_id", "limit": 3})
    assert r.json()["rows"] == [[1], [2], [3]]


@pytest.mark.parametrize(
    "sql",
    ["SELECT * FROM read_csv_auto('/etc/passwd')", "SELECT 1; SELECT 2", "DROP TABLE sales.orders",
     "SELECT * FROM orders"],
)
def test_refused_sql_is_a_400_problem(client: TestClient, sql: str) -> None:
    r = client.post("/api/v1/query", json={"sql": sql})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == 400 and body["detail"]
    assert "root:" not in r.text


def test_query_body_is_validated(client: TestClient) -> None:
    assert client.post("/api/v1/query", json={}).status_code == 422
    assert client.post("/api/v1/query", json={"sql": "SELECT 1", "limit": -1}).status_code == 422


def test_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/domains", "/api/v1/products", "/api/v1/products/{fqn}", "/api/v1/query"} <= set(paths)
    assert client.get("/docs").status_code == 200


def test_api_without_a_workspace(tmp_path: Path) -> None:
    """A server opened on a store alone still serves the catalog it holds."""
    mesh = Mesh.from_store(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with TestClient(create_app(mesh, auth=False)) as c:
            assert c.get("/api/v1/products").json() == {"items": [], "total": 0, "offset": 0, "limit": 100}
            assert c.get("/api/v1/products/a.b").status_code == 404
    finally:
        mesh.close()


# -- schema registry and contracts --------------------------------------------------------------


def test_schema_versions_of_a_product(client: TestClient) -> None:
    body = client.get("/api/v1/products/sales.orders/schemas").json()
    assert body["total"] == 1 and body["items"][0]["version"] == 1
    one = client.get("/api/v1/products/sales.orders/schemas/1").json()
    assert [c["name"] for c in one["schema"]][:2] == ["order_id", "customer_id"]
    missing = client.get("/api/v1/products/sales.orders/schemas/7")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)


def test_schema_check_endpoint(client: TestClient) -> None:
    old = [{"name": "id", "type": "integer", "nullable": False}]
    new = [{"name": "id", "type": "bigint", "nullable": False}, {"name": "x", "type": "string", "nullable": False}]
    body = client.post("/api/v1/schemas/check", json={"new": new, "previous": [old]}).json()
    assert body["compatible"] is False
    assert [(c["type"], c["breaking"]) for c in body["changes"]] == [
        ("TYPE_WIDENED", False), ("REQUIRED_COLUMN_ADDED", True)]
    bad = client.post("/api/v1/schemas/check", json={"new": new, "previous": [old], "mode": "UP"})
    assert bad.status_code == 400 and "unknown compatibility mode" in bad.json()["detail"]


def test_contracts_endpoints(client: TestClient) -> None:
    mesh: Mesh = client.app.state.mesh  # type: ignore[attr-defined]
    contract = mesh.contracts.generate("sales.orders", "crm", save=True)
    listed = client.get("/api/v1/contracts", params={"product": "sales.orders"}).json()
    assert [c["id"] for c in listed["items"]] == [contract.id]
    as_json = client.get(f"/api/v1/contracts/{contract.id}").json()
    assert as_json["id"] == contract.id and as_json["kind"] == "DataContract"
    as_yaml = client.get(f"/api/v1/contracts/{contract.id}", headers={"accept": "application/yaml"})
    assert as_yaml.headers["content-type"].startswith("application/yaml") and "apiVersion: v3.1.0" in as_yaml.text
