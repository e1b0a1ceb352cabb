"""Quality over REST: rules, running a product's rules, run history, profiles and alerts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from helpers import ORDERS_YAML, SPEC_FILES, build_workspace, default_store
from meshfabric import Mesh
from meshfabric.api.app import create_app
from meshfabric.quality.detectors import MADDetector
from meshfabric.quality.monitor import MonitorConfig, Observation, record

RULES = """\
quality:
  - {type: not_null, column: order_id}
  - {type: range, column: amount, min: 0, max: 100, name: small_amounts}
"""
T0 = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Mesh]]:
    root = build_workspace(tmp_path_factory.mktemp("qapi") / "ws",
                           specs={**SPEC_FILES, "products/sales/orders.yaml": ORDERS_YAML + RULES})
    with default_store(), Mesh.open(root) as mesh:
        mesh.apply()
        with TestClient(create_app(mesh, auth=False)) as client:
            yield client, mesh


def test_rules_and_a_run_with_a_failing_rule(served: tuple[TestClient, Mesh]) -> None:
    client, _ = served
    rules = client.get("/api/v1/products/sales.orders/quality/rules").json()
    assert [r["type"] for r in rules["items"]] == ["not_null", "range"]
    run = client.post("/api/v1/products/sales.orders/quality/runs", params={"statements": True})
    assert run.status_code == 200
    body = run.json()
    assert body["status"] == "failed" and body["rules_total"] == 2 and body["rules_failed"] == 1
    small = next(r for r in body["results"] if r["rule"] == "small_amounts")
    assert not small["passed"] and small["failing_rows"] > 0 and small["sample"]
    assert all(s["amount"] > 100 for s in small["sample"])
    assert body["statements"] and 0 <= body["score"] < 1
    history = client.get("/api/v1/products/sales.orders/quality/runs").json()
    assert history["items"][0]["id"] == body["id"]
    assert history["items"][0]["score"] == pytest.approx(body["score"])


def test_unknown_product_is_a_problem_404(served: tuple[TestClient, Mesh]) -> None:
    client, _ = served
    r = client.post("/api/v1/products/sales.nope/quality/runs")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert "sales.nope" in r.json()["detail"]


def test_profile_computed_in_the_source(served: tuple[TestClient, Mesh]) -> None:
    client, mesh = served
    r = client.get("/api/v1/products/sales.orders/profile", params={"columns": "amount,status", "top": 3})
    assert r.status_code == 200
    body = r.json()
    by_name = {c["name"]: c for c in body["columns"]}
    assert set(by_name) == {"amount", "status"}
    amounts = [r["amount"] for r in mesh.query("SELECT amount FROM sales.orders").arrow().to_pylist()]
    assert by_name["amount"]["min"] == pytest.approx(min(amounts))
    assert by_name["amount"]["max"] == pytest.approx(max(amounts))
    assert len(by_name["status"]["top_values"]) <= 3


def test_alerts_list_show_ack_resolve(served: tuple[TestClient, Mesh]) -> None:
    client, mesh = served
    config = MonitorConfig(detectors=(MADDetector(window=10, min_points=5),))
    for i in range(10):
        record(mesh.store, [Observation("sales.orders", "api_series", 1.0 if i % 2 else -1.0,
                                        ts=T0 + timedelta(hours=i))], config=config)
    record(mesh.store, [Observation("sales.orders", "api_series", 40.0, ts=T0 + timedelta(hours=10))], config=config)
    listed = client.get("/api/v1/alerts", params={"product": "sales.orders", "status": "open"}).json()
    assert listed["total"] == 1
    alert_id = listed["items"][0]["id"]
    shown = client.get(f"/api/v1/alerts/{alert_id}").json()
    assert shown["value"] == 40.0 and shown["deliveries"] == []
    acked = client.post(f"/api/v1/alerts/{alert_id}/ack", json={"note": "looking"}).json()
    assert acked["status"] == "acknowledged" and acked["note"] == "looking" and acked["acknowledged_at"]
    assert acked["acknowledged_by"] == mesh.access.local_name  # no authentication: the local principal
    resolved = client.post(f"/api/v1/alerts/{alert_id}/resolve", json={"note": "fixed upstream"}).json()
    assert resolved["status"] == "resolved" and resolved["note"] == "fixed upstream"
    assert resolved["resolved_by"] == mesh.access.local_name and resolved["resolved_at"] >= acked["acknowledged_at"]
    assert client.get("/api/v1/alerts", params={"status": "open"}).json()["total"] == 0
    bad = client.get("/api/v1/alerts", params={"status": "closedish"})
    assert bad.status_code == 400 and "closedish" in bad.json()["detail"]
    assert client.get("/api/v1/alerts/999999").status_code == 404


def test_alert_pages_count_every_match(served: tuple[TestClient, Mesh]) -> None:
    client, mesh = served
    config = MonitorConfig(detectors=(MADDetector(window=10, min_points=5),))
    for series in ("page_a", "page_b", "page_c"):
        for i in range(10):
            record(mesh.store, [Observation("sales.orders", series, 1.0 if i % 2 else -1.0,
                                            ts=T0 + timedelta(hours=i))], config=config)
        record(mesh.store, [Observation("sales.orders", series, 40.0, ts=T0 + timedelta(hours=10))], config=config)
    whole = client.get("/api/v1/alerts", params={"status": "open"}).json()
    assert whole["total"] == len(whole["items"]) >= 3
    second = client.get("/api/v1/alerts", params={"status": "open", "offset": 1, "limit": 1}).json()
    assert second["total"] == whole["total"] and [a["id"] for a in second["items"]] == [whole["items"][1]["id"]]
    beyond = client.get("/api/v1/alerts", params={"status": "open", "offset": whole["total"]}).json()
    assert beyond["items"] == [] and beyond["total"] == whole["total"]


# -- as authenticated principals with different rights ------------------------------------------
SECURED_RULES = """\
quality:
  - {type: range, column: amount, min: 0, max: 100, name: small_amounts}
"""


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    import access_support as acc
    from auth_support import HS_AUTH, secret_env

    root = tmp_path_factory.mktemp("qsec") / "ws"
    acc.build(root, mesh=acc.MESH + HS_AUTH)
    spec = root / "specs" / "orders.yaml"
    spec.write_text(spec.read_text() + SECURED_RULES)
    with secret_env(), default_store(), Mesh.open(root) as mesh:
        mesh.apply()
        acc.setup_principals(mesh)
        mesh.access.create_principal("admin")  # the local admin, also signing in over REST
        with TestClient(create_app(mesh), raise_server_exceptions=False) as client:
            yield client


def _as(user: str) -> dict[str, str]:
    from auth_support import bearer, hs_token

    return bearer(hs_token(sub=user))


def test_samples_hold_raw_values_only_for_unmasked_principals(secured: TestClient) -> None:
    from auth_support import secret_env

    with secret_env():
        admin = secured.post("/api/v1/products/sales.orders/quality/runs", headers=_as("admin"))
        assert admin.status_code == 200, admin.text
        small = admin.json()["results"][0]
        assert not small["passed"] and sorted(s["amount"] for s in small["sample"]) == [999.0]
        # alice: masked and filtered on sales.orders — the verdict, not the hidden row's values
        alice = secured.post("/api/v1/products/sales.orders/quality/runs", headers=_as("alice"))
        assert alice.status_code == 200, alice.text
        result = alice.json()["results"][0]
        assert not result["passed"] and result["sample"] == [] and "withheld" in result["detail"]
        assert "999" not in alice.text and "hidden@us.com" not in alice.text
        history = secured.get("/api/v1/products/sales.orders/quality/runs", headers=_as("alice")).json()
        assert history["items"] and all(r["sample"] == [] for run in history["items"] for r in run["results"])
        # a profile reads raw values: refused for a masked principal
        refused = secured.get("/api/v1/products/sales.orders/profile", headers=_as("alice"))
        assert refused.status_code == 403, refused.text
        # mallory holds nothing: the product looks like one that does not exist
        hidden = secured.post("/api/v1/products/sales.orders/quality/runs", headers=_as("mallory"))
        missing = secured.post("/api/v1/products/sales.nothing/quality/runs", headers=_as("mallory"))
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json()["detail"].replace("sales.orders", "X") == missing.json()["detail"].replace(
            "sales.nothing", "X")
        # carol may discover sales.orders: she sees its rules but may not run them
        assert secured.get("/api/v1/products/sales.orders/quality/rules", headers=_as("carol")).status_code == 200
        assert secured.post("/api/v1/products/sales.orders/quality/runs", headers=_as("carol")).status_code == 403
