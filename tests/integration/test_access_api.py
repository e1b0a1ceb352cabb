"""The access endpoints over REST: admin-only listings and the audit log, paginated; what a
principal gets from the catalog and query routes equals what the SDK gives it.

The app is created without authentication and a small middleware sets the request's principal
from a test header — the authentication layer itself is tested in tests/security/test_jwt_attacks.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from access_support import build, setup_principals


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from fastapi import Request
    from fastapi.testclient import TestClient

    from meshfabric import Mesh
    from meshfabric.api.app import create_app

    mp = pytest.MonkeyPatch()
    mp.setenv("MESHFABRIC_MASK_SALT", "api-salt")
    mp.delenv("MESHFABRIC_STORE_URL", raising=False)
    root: Path = build(tmp_path_factory.mktemp("api") / "ws")
    mesh = Mesh.open(root)
    mesh.apply()
    setup_principals(mesh)
    app = create_app(mesh, auth=False)

    @app.middleware("http")
    async def as_principal(request: Request, call_next: Any) -> Any:
        if "x-test-principal" in request.headers:
            request.state.principal = request.headers["x-test-principal"]
        return await call_next(request)

    with TestClient(app) as c:
        c.mesh = mesh  # type: ignore[attr-defined]
        yield c
    mesh.close()
    mp.undo()


def _as(name: str) -> dict[str, str]:
    return {"X-Test-Principal": name}


def test_audit_is_for_admins_and_paginated(client: Any) -> None:
    for _ in range(3):
        client.mesh.query("SELECT count(*) FROM sales.orders", user="alice")
    denied = client.get("/api/v1/audit", headers=_as("alice"))
    assert denied.status_code == 403 and denied.headers["content-type"].startswith("application/problem+json")
    page = client.get("/api/v1/audit", params={"principal": "alice", "action": "query", "limit": 2}).json()
    assert page["total"] >= 3 and len(page["items"]) == 2 and page["limit"] == 2
    assert all(i["principal"] == "alice" and i["decision"] == "allowed" for i in page["items"])
    params = {"principal": "alice", "action": "query", "limit": 2, "offset": 2}
    second = client.get("/api/v1/audit", params=params).json()
    assert {i["id"] for i in second["items"]}.isdisjoint({i["id"] for i in page["items"]})


@pytest.mark.parametrize("path", ["/api/v1/access/principals", "/api/v1/access/roles", "/api/v1/access/grants",
                                  "/api/v1/access/groups"])
def test_listings_are_for_admins(client: Any, path: str) -> None:
    assert client.get(path, headers=_as("alice")).status_code == 403
    body = client.get(path).json()
    assert body["total"] >= 1 and body["items"]


def test_principal_reads_itself_only(client: Any) -> None:
    me = client.get("/api/v1/access/principals/alice", headers=_as("alice")).json()
    assert me["roles"] == ["analyst"] and me["attributes"] == {"region": "EU"}
    assert client.get("/api/v1/access/principals/carol", headers=_as("alice")).status_code == 403


def test_policy_test_endpoint(client: Any) -> None:
    body = client.get("/api/v1/access/policy-test", params={"principal": "alice", "product": "sales.orders"}).json()
    assert body["row_filter"] == "region = 'EU'" and {m["column"] for m in body["masks"]} >= {"ssn", "card"}


def test_catalog_lists_follow_discover(client: Any) -> None:
    names = {p["fqn"] for p in client.get("/api/v1/products", headers=_as("alice")).json()["items"]}
    assert names == {"sales.orders", "crm.customers"}
    hidden = client.get("/api/v1/products/hr.salaries", headers=_as("alice"))
    missing = client.get("/api/v1/products/hr.nothing", headers=_as("alice"))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace("hr.salaries", "X") == missing.json()["detail"].replace("hr.nothing", "X")
