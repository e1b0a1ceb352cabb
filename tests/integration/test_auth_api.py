"""The authenticated REST API: every route but health needs a credential, errors are problem+json,
OpenAPI declares the schemes, a principal's token gets what the access layer gives that principal
— the same rows and masks as the SDK and the CLI — and a real `meshfabric serve` accepts the
OpenLineage client's API key."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from auth_support import HS_AUTH, SECRET, SECRET_ENV, auth_workspace, bearer, hs_token, secret_env
from helpers import cli, customers_rows, pg_database, start_serve, write
from meshfabric import Mesh
from meshfabric.api.app import PROBLEM, create_app

POLICY = """\
kind: AccessPolicy
name: crm-privacy
rules:
  - to: {user: alice}
    product: crm.customers
    columns:
      name: {show_first_n: 1}
    row_filter: "country = {user.region}"
"""


def _setup(mesh: Mesh) -> None:
    mesh.access.create_principal("alice", attributes={"region": "PT"})
    mesh.access.create_principal("etl", kind="service")
    mesh.access.grant("alice", "query", product="crm.customers", grantee_kind="user")
    mesh.access.grant("alice", "query", product="sales.orders", grantee_kind="user")


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp, secret_env():
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        root = auth_workspace(tmp_path_factory.mktemp("authapi") / "ws")
        write(root / "policies" / "crm.yaml", POLICY)
        with Mesh.open(root) as mesh:
            mesh.apply()
            _setup(mesh)
        yield root


@pytest.fixture(scope="module")
def client(ws: Path) -> Iterator[TestClient]:
    with pytest.MonkeyPatch.context() as mp, secret_env():
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        mesh = Mesh.open(ws)
        try:
            with TestClient(create_app(mesh), raise_server_exceptions=False) as c:
                yield c
        finally:
            mesh.close()


ALICE = bearer(hs_token())


def _problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"]
    assert body["instance"].startswith("/")
    return body  # type: ignore[no-any-return]


def test_every_route_but_the_public_ones_requires_a_credential(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    checked = set()
    for path, operations in paths.items():
        if path == "/api/v1/health":
            continue
        for method in operations:
            r = client.request(method.upper(), re.sub(r"\{[^}]+\}", "x", path))
            body = _problem(r, 401)
            assert "Authorization: Bearer" in body["detail"], (method, path)
            checked.add((method, path))
    # this module's routes and every included capability router
    assert len(checked) >= 20
    assert {("post", "/api/v1/query"), ("post", "/api/v1/lineage"), ("get", "/api/v1/alerts")} <= checked


def test_openapi_declares_bearer_and_api_key(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    assert schemes["apiKey"]["type"] == "apiKey" and schemes["apiKey"]["in"] == "header"
    assert schemes["apiKey"]["name"] == "X-API-Key"
    assert "security" not in doc["paths"]["/api/v1/health"]["get"]
    for path, op in (("/api/v1/products", "get"), ("/api/v1/query", "post"), ("/api/v1/lineage", "post")):
        assert {"bearer": []} in doc["paths"][path][op]["security"]
        assert {"apiKey": []} in doc["paths"][path][op]["security"]


def test_unknown_routes_wrong_methods_and_bad_bodies_are_problems(client: TestClient) -> None:
    body = _problem(client.get("/api/v1/nope", headers=ALICE), 404)
    assert "no such endpoint: GET /api/v1/nope" in body["detail"]
    _problem(client.get("/nowhere"), 404)
    body = _problem(client.delete("/api/v1/products", headers=ALICE), 405)
    assert "DELETE is not allowed" in body["detail"]
    body = _problem(client.post("/api/v1/query", json={"limit": -1}, headers=ALICE), 422)
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "sql"), ("body", "limit")}
    _problem(client.post("/api/v1/query", content=b"{not json", headers={**ALICE, "content-type": "application/json"}),
             422)
    _problem(client.get("/api/v1/products", params={"limit": "many"}, headers=ALICE), 422)


def test_a_token_acts_as_its_principal(client: TestClient) -> None:
    listed = client.get("/api/v1/products", headers=ALICE).json()
    assert sorted(p["fqn"] for p in listed["items"]) == ["crm.customers", "sales.orders"]
    assert listed["total"] == 2
    domains = client.get("/api/v1/domains", headers=ALICE).json()["items"]
    assert [(d["name"], d["products"]) for d in domains] == [("crm", 1), ("sales", 1)]
    # not granted: the same 404 as a product that does not exist
    hidden = _problem(client.get("/api/v1/products/logistics.shipments", headers=ALICE), 404)
    missing = _problem(client.get("/api/v1/products/logistics.nothing", headers=ALICE), 404)
    assert hidden["detail"].replace("shipments", "X") == missing["detail"].replace("nothing", "X")
    hidden = client.post("/api/v1/query", json={"sql": "SELECT count(*) AS n FROM logistics.shipments"},
                         headers=ALICE).json()
    missing = client.post("/api/v1/query", json={"sql": "SELECT count(*) AS n FROM logistics.nothing"},
                          headers=ALICE).json()
    assert hidden["status"] == missing["status"] and hidden["status"] in (400, 404)
    assert hidden["detail"].replace("shipments", "X") == missing["detail"].replace("nothing", "X")
    # the service account has no grants at all
    key = client.app.state.mesh.auth.create_api_key("etl").key  # type: ignore[attr-defined]
    assert client.get("/api/v1/products", headers={"X-API-Key": key}).json()["total"] == 0


def test_events_are_for_admins(client: TestClient) -> None:
    _problem(client.get("/api/v1/events", headers=ALICE), 403)


CUSTOMERS_SQL = "SELECT customer_id, name, country FROM crm.customers ORDER BY customer_id"


def test_same_masked_and_filtered_rows_through_sdk_cli_and_rest(ws: Path, client: TestClient,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    mesh: Mesh = client.app.state.mesh  # type: ignore[attr-defined]
    sdk = [list(r.values()) for r in mesh.query(CUSTOMERS_SQL, user="alice").arrow().to_pylist()]
    rest = client.post("/api/v1/query", json={"sql": CUSTOMERS_SQL}, headers=ALICE).json()["rows"]
    with secret_env():
        code, out, err = cli(capsys, "-w", ws, "query", CUSTOMERS_SQL, "--as", "alice", "--format", "json")
    assert code == 0, err
    cli_rows = [list(r.values()) if isinstance(r, dict) else r for r in json.loads(out)]
    # the row filter keeps Portuguese customers only; the mask hides all but the first letter
    pt = [(cid, name) for cid, name, country in customers_rows() if country == "PT"]
    assert [r[0] for r in sdk] == [cid for cid, _ in pt]
    assert all(r[2] == "PT" for r in sdk)
    for (_, name), row in zip(pt, sdk, strict=True):
        assert row[1] != name and row[1].startswith(name[0])
    assert sdk == rest == cli_rows
    # the unmasked truth, for contrast
    full = [list(r.values()) for r in mesh.query(CUSTOMERS_SQL).arrow().to_pylist()]
    assert len(full) == len(customers_rows()) and full != sdk


# -- credentials on a PostgreSQL store ------------------------------------------------------------


@pytest.mark.postgres
def test_credentials_on_a_postgresql_store(tmp_path: Path, pg_url: str) -> None:
    with pg_database() as url, secret_env():
        root = auth_workspace(tmp_path / "ws")
        with Mesh.open(root, store=url) as mesh:
            mesh.apply()
            _setup(mesh)
            auth = mesh.auth
            issued = auth.issue_token("alice", ttl="5m")
            created = auth.create_api_key("etl", expires="1d", name="loader")
            with TestClient(create_app(mesh), raise_server_exceptions=False) as c:
                assert c.get("/api/v1/domains", headers=bearer(issued.token)).status_code == 200
                assert c.get("/api/v1/domains", headers={"X-API-Key": created.key}).status_code == 200
                used = auth.api_keys(principal="etl")[0]
                assert used.last_used_at is not None and used.expires_at is not None
                auth.revoke_token(issued.jti)
                auth.revoke_api_key(created.info.id)
                assert c.get("/api/v1/domains", headers=bearer(issued.token)).status_code == 401
                assert c.get("/api/v1/domains", headers={"X-API-Key": created.key}).status_code == 401
            assert [k.status for k in auth.api_keys(include_inactive=True)] == ["revoked"]
            assert [t["jti"] for t in auth.revoked_tokens()] == [issued.jti]


# -- a real server -------------------------------------------------------------------------------


@pytest.fixture()
def server(ws: Path) -> Iterator[str]:
    proc, base = start_serve(ws, env={SECRET_ENV: SECRET})
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_real_server_with_tokens_keys_and_the_openlineage_client(server: str, ws: Path) -> None:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
    from openlineage.client.uuid import generate_new_uuid

    r = httpx.get(server + "/api/v1/products")
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Bearer realm="meshfabric"'
    assert httpx.get(server + "/api/v1/products", headers=ALICE).json()["total"] == 2

    with secret_env(), Mesh.open(ws) as mesh:
        key = mesh.auth.create_api_key("etl", name="openlineage").key
        # sending lineage needs write on some product or domain (a producer)
        mesh.access.grant("etl", "write", domain="sales", grantee_kind="user")
    assert httpx.get(server + "/api/v1/products", headers={"X-API-Key": key}).status_code == 200

    def emit(api_key: str) -> None:
        config = HttpConfig(url=server, endpoint="api/v1/lineage", auth=ApiKeyTokenProvider({"apiKey": api_key}))
        client = OpenLineageClient(transport=HttpTransport(config))
        client.emit(RunEvent(eventType=RunState.COMPLETE, eventTime="2026-01-01T00:00:00Z",
                             run=Run(runId=str(generate_new_uuid())), job=Job(namespace="etl", name="nightly"),
                             producer="https://example.test/producer", inputs=[], outputs=[]))

    emit(key)  # the transport raises on an error status
    events = httpx.get(server + "/api/v1/lineage/events", headers={"X-API-Key": key}).json()
    assert any(e.get("job", {}).get("name") == "nightly" or "nightly" in json.dumps(e) for e in events["items"])
    with pytest.raises(Exception, match="401"):
        emit("mf_0000000000000000_" + "x" * 43)


def test_the_serve_command_refuses_no_auth_beyond_loopback(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "serve", "--host", "0.0.0.0", "--no-auth")
    assert code == 2
    assert "refusing to bind 0.0.0.0 with --no-auth" in err and "hint: drop --no-auth" in err
    code, _, err = cli(capsys, "-w", ws, "serve", "--host", "192.168.1.20", "--no-auth")
    assert code == 2


def test_hs_auth_yaml_is_what_the_fixture_uses() -> None:
    assert f"${{{SECRET_ENV}}}" in HS_AUTH


def test_a_bug_is_a_500_problem_that_reveals_nothing(tmp_path: Path) -> None:
    mesh = Mesh.from_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        app = create_app(mesh, auth=False)

        @app.get("/api/v1/broken")
        def broken() -> None:
            raise RuntimeError("secret internals at /srv/app.py line 12")

        with TestClient(app, raise_server_exceptions=False) as c:
            r = c.get("/api/v1/broken")
            body = _problem(r, 500)
            assert "secret internals" not in r.text and "RuntimeError" not in r.text
            assert "bug" in body["detail"]
            r = c.post("/api/v1/domains")
            _problem(r, 405)
            assert r.headers["allow"] == "GET"
    finally:
        mesh.close()


def test_create_app_fails_at_start_on_bad_key_configuration(tmp_path: Path) -> None:
    from meshfabric.errors import ConfigError

    root = auth_workspace(tmp_path / "ws", HS_AUTH)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(SECRET_ENV, raising=False)
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        with Mesh.open(root) as mesh:
            with pytest.raises(ConfigError, match="not set"):
                create_app(mesh)
            # without authentication the secret is not needed
            assert create_app(mesh, auth=False).state.auth is None


def test_huge_offsets_are_422_not_500(client: TestClient) -> None:
    """Every list's offset (and the event cursor) is bounded before it reaches the store."""
    doc = client.get("/openapi.json").json()
    checked = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"} & {"offset", "after_seq"}
            for name in names:
                url = re.sub(r"\{[^}]+\}", "sales.orders", path)
                for value in (2**63 - 1, 2**63, 2**64):
                    r = client.request(method.upper(), url, params={name: value}, headers=ALICE)
                    assert r.status_code < 500, (method, url, name, value, r.text)
                checked.append((path, name))
    assert len(checked) >= 6


def test_out_of_range_numbers_and_malformed_schemas_are_4xx(client: TestClient) -> None:
    for url in ("/api/v1/alerts/9223372036854775808", "/api/v1/products/sales.orders/schemas/9223372036854775808",
                "/api/v1/alerts/-1"):
        r = client.get(url, headers=ALICE)
        assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM), (url, r.text)
    for body in ({"new": [], "previous": [[{}]]}, {"new": [None], "previous": [[]]},
                 {"new": {"type": 5}, "previous": [{"type": "object"}]},
                 {"new": {"columns": [{"name": "a"}]}, "previous": [[]]},
                 {"new": [{"name": "a", "type": "no_such_type"}], "previous": [[{"name": "a", "type": "int"}]]}):
        r = client.post("/api/v1/schemas/check", json=body, headers=ALICE)
        assert r.status_code in (400, 422) and r.headers["content-type"].startswith(PROBLEM), (body, r.text)
    ok = client.post("/api/v1/schemas/check", headers=ALICE, json={
        "new": {"columns": [{"name": "a", "type": "bigint"}]}, "previous": [[{"name": "a", "type": "int"}]]})
    assert ok.status_code == 200 and ok.json()["compatible"] is True
