"""SQL lineage over REST: the same answer as the Python function, located errors as problem+json."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from helpers import build_workspace, default_store
from meshfabric import Mesh
from meshfabric.api.app import create_app
from meshfabric.lineage import sql_lineage

SCRIPT = """
CREATE TABLE staging.daily AS
SELECT o.order_date AS day, sum(o.amount) AS revenue FROM sales.orders o GROUP BY o.order_date;
INSERT INTO mart.revenue (day, total) SELECT day, revenue * 1.2 FROM staging.daily
"""


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = build_workspace(tmp_path_factory.mktemp("linsql") / "ws")
    with default_store(), Mesh.open(root) as mesh, TestClient(create_app(mesh, auth=False)) as c:
        yield c


def test_same_as_the_python_function(client: TestClient) -> None:
    r = client.post("/api/v1/lineage/sql", json={"sql": SCRIPT, "dialect": "postgres"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body == sql_lineage(SCRIPT, dialect="postgres")
    assert ["sales.orders.amount", "staging.daily.revenue"] in body["columns"]
    assert ["staging.daily.revenue", "mart.revenue.total"] in body["columns"]
    assert body["targets"] == ["mart.revenue", "staging.daily"]


def test_detail_types_the_edges(client: TestClient) -> None:
    body = client.post("/api/v1/lineage/sql", json={"sql": SCRIPT, "dialect": "postgres", "detail": True}).json()
    assert len(body["statements"]) == 2 and "AGGREGATION" in str(body["statements"][0])


def test_bad_sql_and_dialect_are_located_problems(client: TestClient) -> None:
    r = client.post("/api/v1/lineage/sql", json={"sql": "SELECT a FROM t; SELECT FROM WHERE", "dialect": "duckdb"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert "statement 2" in r.json()["detail"]
    r = client.post("/api/v1/lineage/sql", json={"sql": "SELECT 1", "dialect": "klingon"})
    assert r.status_code == 400 and "klingon" in r.json()["detail"]
