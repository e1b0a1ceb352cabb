"""Hostile requests to the REST API: each is a 4xx problem+json naming what is wrong, never a 500
or a 502 blamed on a source, and an oversized body is refused before it is read."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import build_workspace, default_store
from meshfabric.api.app import MAX_BODY_BYTES, PROBLEM, create_app
from meshfabric.errors import ConfigError
from meshfabric.mesh import Mesh

FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    root = build_workspace(tmp_path_factory.mktemp("hostile") / "ws")
    with default_store(), Mesh.open(root) as m:
        m.apply()
        yield m


@pytest.fixture(scope="module")
def client(mesh: Mesh) -> Iterator[TestClient]:
    with TestClient(create_app(mesh, auth=False), raise_server_exceptions=False) as c:
        yield c


def _post(client: TestClient, path: str, body: str | bytes) -> object:
    return client.post(path, content=body, headers={"content-type": "application/json"})


def _problem(response: object, status: int) -> dict:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(PROBLEM)  # type: ignore[attr-defined]
    return response.json()  # type: ignore[attr-defined,no-any-return]


@given(value=st.integers(2**63, 10**30), clause=st.sampled_from(["LIMIT", "OFFSET"]))
@FAST
def test_huge_limit_or_offset_in_sql_is_400(client: TestClient, value: int, clause: str) -> None:
    body = json.dumps({"sql": f"SELECT * FROM sales.orders {clause} {value}"})
    doc = _problem(_post(client, "/api/v1/query", body), 400)
    assert f"{clause} {value} is out of range" in doc["detail"]
    assert "source" not in doc["detail"]


@given(limit=st.integers(2**63, 10**30))
@FAST
def test_huge_limit_field_is_4xx(client: TestClient, limit: int) -> None:
    body = json.dumps({"sql": "SELECT * FROM sales.orders", "limit": limit})
    doc = _problem(_post(client, "/api/v1/query", body), 422)
    assert "limit" in doc["detail"]


def test_limit_field_plus_offset_is_400(client: TestClient) -> None:
    body = json.dumps({"sql": "SELECT * FROM sales.orders OFFSET 9223372036854775807", "limit": 5})
    assert "together they may be at most" in _problem(_post(client, "/api/v1/query", body), 400)["detail"]


def test_the_largest_limit_still_answers(client: TestClient) -> None:
    body = json.dumps({"sql": "SELECT order_id FROM sales.orders", "limit": 2**63 - 1})
    assert _post(client, "/api/v1/query", body).status_code == 200  # type: ignore[attr-defined]


@given(code_point=st.integers(0xD800, 0xDFFF))
@FAST
def test_lone_surrogate_in_sql_is_4xx(client: TestClient, code_point: int) -> None:
    body = json.dumps({"sql": f"SELECT '{chr(code_point)}' AS x FROM sales.orders"})
    response = _post(client, "/api/v1/query", body)
    assert 400 <= response.status_code < 500  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(PROBLEM)  # type: ignore[attr-defined]


def test_oversized_body_is_413_from_its_length(client: TestClient) -> None:
    body = json.dumps({"sql": "SELECT 1 FROM sales.orders", "pad": "x" * (MAX_BODY_BYTES + 10)})
    doc = _problem(_post(client, "/api/v1/query", body), 413)
    assert doc["type"].endswith("ContentTooLarge") and "16,777,216 bytes" in doc["detail"]


def test_oversized_streamed_body_is_413_without_reading_it_all(mesh: Mesh) -> None:
    import asyncio

    app = create_app(mesh, auth=False)
    chunk, read, sent = 1_000_000, [], []

    async def receive() -> dict:
        read.append(1)  # 200 MB if it were all read
        return {"type": "http.request", "body": b" " * chunk, "more_body": len(read) < 200}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/query", "raw_path": b"/api/v1/query",
             "query_string": b"", "headers": [(b"content-type", b"application/json")], "http_version": "1.1",
             "scheme": "http", "server": ("test", 80), "client": ("test", 1), "root_path": "", "app": app}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:]))["type"].endswith("ContentTooLarge")
    assert len(read) <= MAX_BODY_BYTES // chunk + 1


def test_the_body_bound_is_configurable(mesh: Mesh, monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps({"sql": "SELECT order_id FROM sales.orders", "pad": "x" * 2000})
    with TestClient(create_app(mesh, auth=False, max_body_bytes=1000)) as small:
        assert _problem(_post(small, "/api/v1/query", body), 413)["title"] == "content too large"
    monkeypatch.setenv("MESHFABRIC_MAX_BODY_BYTES", "1000")
    with TestClient(create_app(mesh, auth=False)) as small:
        assert _post(small, "/api/v1/query", body).status_code == 413  # type: ignore[attr-defined]
    monkeypatch.setenv("MESHFABRIC_MAX_BODY_BYTES", "lots")
    with pytest.raises(ConfigError, match="positive number of bytes"):
        create_app(mesh, auth=False)


def test_lineage_keeps_its_own_larger_bound(mesh: Mesh) -> None:
    with TestClient(create_app(mesh, auth=False, max_body_bytes=1000)) as small:
        response = _post(small, "/api/v1/lineage", json.dumps({"eventTime": "x", "pad": "y" * 5000}))
        assert response.status_code == 400  # type: ignore[attr-defined]  # read and judged, not 413


@given(depth=st.integers(1_000, 20_000))
@FAST
def test_deeply_nested_json_bodies_are_4xx(client: TestClient, depth: int) -> None:
    body = '{"sql": ' + "[" * depth + "]" * depth + "}"
    response = _post(client, "/api/v1/query", body)
    assert response.status_code in (400, 422), response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith(PROBLEM)  # type: ignore[attr-defined]


def test_deep_json_schema_is_400_not_500(client: TestClient) -> None:
    body = '{"new": ' + '{"not":' * 900 + "{}" + "}" * 900 + ', "previous": [{}]}'
    response = _post(client, "/api/v1/schemas/check", body)
    assert 400 <= response.status_code < 500, response.text  # type: ignore[attr-defined]
