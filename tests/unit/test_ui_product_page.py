"""The product page through FastAPI's TestClient (no browser): every section shows what the REST
API answers the same principal, the access panel and the event log only where the access layer
allows them, and a product a principal may not discover is the page of a product that does not
exist (issue 14)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

import ui_product_support as support
from auth_support import secret_env
from helpers import default_store
from meshfabric import Mesh
from meshfabric.api.app import create_app


@dataclass
class Setup:
    mesh: Mesh
    app: Any
    keys: dict[str, str]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = support.build(tmp_path_factory.mktemp("uiproduct") / "ws")
    with secret_env(), default_store(), Mesh.open(root) as mesh:
        keys = support.prepare(mesh, root)
        yield Setup(mesh, create_app(mesh), keys)


def _signed_in(setup: Setup, user: str) -> TestClient:
    client = TestClient(setup.app, raise_server_exceptions=False, follow_redirects=False)
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert found
    r = client.post("/login", data={"csrf_token": found.group(1), "credential": setup.keys[user], "next": "/"})
    assert r.status_code == 303, r.text
    return client


def _api(client: TestClient, setup: Setup, user: str, path: str, **params: Any) -> Any:
    r = client.get(path, params=params, headers={"X-API-Key": setup.keys[user]})
    assert r.status_code == 200, r.text
    return r.json()


def _attrs(page: str, css_class: str, tag: str = "tr") -> list[dict[str, str]]:
    """The data-* attributes of every ``<tag class="css_class" …>`` of the page, in order."""
    out = []
    for opening in re.findall(rf'<{tag} class="{css_class}"([^>]*)>', page):
        out.append({k: html.unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', opening)})
    return out


def _lineage_data(page: str) -> Any:
    found = re.search(r'<script type="application/json" id="lineage-data">(.*?)</script>', page, re.S)
    assert found
    return json.loads(found.group(1))


def _score(value: Any) -> str:
    return "" if value is None else repr(float(value))


@pytest.mark.parametrize("user", ["admin", "alice", "carol"])
def test_the_page_shows_what_the_api_answers_the_same_principal(setup: Setup, user: str) -> None:
    client = _signed_in(setup, user)
    r = client.get("/products/sales/orders")
    assert r.status_code == 200, r.text
    page = r.text
    # schema versions and the diff between them
    versions = _api(client, setup, user, "/api/v1/products/sales.orders/schemas")["items"]
    shown = _attrs(page, "schema-version", "details")
    assert [int(v["version"]) for v in shown] == [v["version"] for v in versions] == [2, 1]
    assert [int(v["columns"]) for v in shown] == [len(v["schema"]) for v in versions]
    diff = _attrs(page, "schema-diff", "div")
    assert [(d["from"], d["to"], d["compatible"]) for d in diff] == [("1", "2", "true")]
    assert [c["path"] for c in _attrs(page, "change", "li")] == [
        c["path"] for c in setup.mesh.schemas.diff("sales.orders", 1, 2, user=user).to_dict()["changes"]]
    # contracts and the violations recorded against them
    contracts = _api(client, setup, user, "/api/v1/contracts", product="sales.orders")["items"]
    rows = _attrs(page, "contract")
    assert [c["id"] for c in rows] == [c["id"] for c in contracts] and len(rows) == 1
    assert int(rows[0]["violations"]) == len(setup.mesh.contracts.violations(contracts[0]["id"], user=user)) >= 1
    # quality history: each run's score (withheld from a masked or filtered principal) and failing rules
    runs = _api(client, setup, user, "/api/v1/products/sales.orders/quality/runs", limit=30)["items"]
    drawn = _attrs(page, "run")
    assert [int(r["run-id"]) for r in drawn] == [r["id"] for r in runs] and len(drawn) == 4
    assert [r["score"] for r in drawn] == [_score(r["score"]) for r in runs]
    assert [r["failed"] for r in drawn] == [",".join(x["rule"] for x in r["results"] if not x["passed"]) for r in runs]
    assert all(r["failed"] == "small_amounts" for r in drawn)
    if user != "admin":
        assert all(r["score"] == "" for r in drawn)  # a masked, filtered or discover-only principal
    # lineage: the walks embedded for the graph are the lineage API's
    data = _lineage_data(page)
    for direction in ("upstream", "downstream"):
        assert data[direction] == _api(client, setup, user, f"/api/v1/lineage/{direction}", node="sales.orders")
    downstream = {n["key"] for n in data["downstream"]["nodes"]}
    assert ("sales.order_totals" in downstream) is (user != "carol")  # carol may not discover it
    # the column-level walks the graph fetches on demand are the lineage API's too
    fetched = client.get("/products/sales/orders/lineage", params={"columns": "true"})
    assert fetched.status_code == 200
    for direction in ("upstream", "downstream"):
        assert fetched.json()[direction] == _api(client, setup, user, f"/api/v1/lineage/{direction}",
                                                 node="sales.orders", columns="true")


def test_who_may_see_what_is_for_admins_only(setup: Setup) -> None:
    admin = _signed_in(setup, "admin").get("/products/sales/orders").text
    assert 'id="access"' in admin and 'id="events"' in admin
    grants = _attrs(admin, "grant")
    api = _api(_signed_in(setup, "admin"), setup, "admin", "/api/v1/access/grants")["items"]
    assert {(g["grantee"], g["permission"], g["resource"]) for g in grants} == {
        (g["grantee"], g["permission"], f"{g['resource_kind']}:{g['resource']}") for g in api
        if g["resource"] in ("sales.orders", "sales")}
    policies = {p["principal"]: p for p in _attrs(admin, "policy")}
    alice = setup.mesh.access.policy_test("alice", "sales.orders")
    assert policies["alice"]["permission"] == alice["permission"] == "query"
    assert policies["alice"]["masks"] == ",".join(m["column"] for m in alice["masks"])
    assert "email" in policies["alice"]["masks"] and policies["alice"]["row-filter"] == alice["row_filter"]
    assert policies["carol"]["permission"] == "discover" and "mallory" not in policies
    events = _attrs(admin, "event", "li")
    assert {"quality.run_completed", "contract.violated", "schema.version_added"} <= {e["type"] for e in events}
    for user in ("alice", "carol"):
        page = _signed_in(setup, user).get("/products/sales/orders").text
        # the access service refuses them grants and the event log: no panel, no empty shell
        assert 'id="access"' not in page and 'class="grant"' not in page and 'class="policy"' not in page
        assert 'id="events"' not in page


def test_a_product_one_may_not_discover_is_not_found(setup: Setup) -> None:
    def body(client: TestClient, path: str, name: str) -> tuple[int, str]:
        r = client.get(path)
        main = r.text[r.text.index("<main"):r.text.index("</main>")]
        return r.status_code, main.replace(name, "NAME")

    # (each compared with a missing name as close to the names the principal may see: the
    # not-found hint suggests one of those)
    mallory = _signed_in(setup, "mallory")
    hidden = body(mallory, "/products/sales/orders", "sales.orders")
    missing = body(mallory, "/products/sales/orderz", "sales.orderz")
    assert hidden == missing and hidden[0] == 404
    alice = _signed_in(setup, "alice")
    hidden = body(alice, "/products/hr/salaries", "hr.salaries")
    assert hidden == body(alice, "/products/hr/salariez", "hr.salariez") and hidden[0] == 404
    carol = _signed_in(setup, "carol")
    hidden = body(carol, "/products/sales/order_totals", "sales.order_totals")
    assert hidden == body(carol, "/products/sales/order_totalz", "sales.order_totalz") and hidden[0] == 404
    assert "order_totals" not in hidden[1]
    assert mallory.get("/products/sales/orders/lineage").status_code == 404
    assert "salaries" not in alice.get("/products/sales/orders").text


def test_without_a_session_the_page_asks_to_sign_in(setup: Setup) -> None:
    client = TestClient(setup.app, raise_server_exceptions=False, follow_redirects=False)
    r = client.get("/products/sales/orders")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fproducts%2Fsales%2Forders")
    assert client.get("/products/sales/orders/lineage").status_code == 303
