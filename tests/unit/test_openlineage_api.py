"""POST /api/v1/lineage never fails with a server error: any JSON, and any valid event with one
value replaced at any place, is either stored (201/200) or refused with a 400 problem that names
a JSON path (hypothesis, through FastAPI's TestClient; SQLite and PostgreSQL stores)."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import build_workspace, default_store
from meshfabric import Mesh
from meshfabric.api.app import create_app

PRODUCER = "https://example.com/producer"
FACET_URL = "https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with default_store(), Mesh.open(build_workspace(tmp_path_factory.mktemp("olapi") / "ws"), store=url) as mesh, \
            TestClient(create_app(mesh, auth=False)) as c:
        yield c


def valid_event() -> dict[str, Any]:
    return {
        "eventType": "COMPLETE", "eventTime": "2024-06-01T02:00:00Z", "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4()), "facets": {}},
        "job": {"namespace": "fuzz", "name": "job", "facets": {}},
        "inputs": [{"namespace": "fuzz", "name": "in", "facets": {
            "schema": {"_producer": PRODUCER, "_schemaURL": FACET_URL, "fields": [{"name": "a", "type": "INT"}]}}}],
        "outputs": [{"namespace": "fuzz", "name": "out", "facets": {
            "columnLineage": {"_producer": PRODUCER, "_schemaURL": FACET_URL, "fields": {
                "a": {"inputFields": [{"namespace": "fuzz", "name": "in", "field": "a",
                                       "transformations": [{"type": "DIRECT", "subtype": "IDENTITY"}]}]}}}}}],
    }


def _places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _places(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _places(v, (*path, i))
    return out


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)


def _check(r: Any) -> None:
    assert r.status_code in (200, 201, 400), r.text
    if r.status_code == 400:
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["status"] == 400 and body["detail"]
        assert body["errors"] and all(e["path"].startswith("$") for e in body["errors"])


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(json_values)
def test_any_json_is_stored_or_refused(client: TestClient, value: Any) -> None:
    _check(client.post("/api/v1/lineage", content=json.dumps(value), headers={"Content-Type": "application/json"}))


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data(), json_values)
def test_a_valid_event_with_one_value_replaced(client: TestClient, data: st.DataObject, value: Any) -> None:
    event = valid_event()
    places = [p for p in _places(event) if p]
    where = data.draw(st.sampled_from(places))
    broken = copy.deepcopy(event)
    owner = broken
    for part in where[:-1]:
        owner = owner[part]
    owner[where[-1]] = value
    r = client.post("/api/v1/lineage", json=broken)
    _check(r)
    if r.status_code == 400 and where in (("eventTime",), ("run", "runId"), ("producer",)):
        assert any(e["path"].startswith("$." + ".".join(map(str, where))) for e in r.json()["errors"])


def test_the_valid_event_is_stored(client: TestClient) -> None:
    r = client.post("/api/v1/lineage", json=valid_event())
    assert r.status_code == 201 and r.json()["kind"] == "run" and r.json()["duplicate"] is False


def test_a_json_array_body_is_refused(client: TestClient) -> None:
    r = client.post("/api/v1/lineage", json=[valid_event()])
    assert r.status_code == 400 and r.json()["errors"][0]["path"] == "$"


@pytest.mark.parametrize("path", ["/api/v1/lineage/events?offset=9223372036854775807",
                                  "/api/v1/lineage/upstream?node=sales.orders&offset=9223372036854775807",
                                  "/api/v1/lineage/downstream?node=sales.orders&depth=9223372036854775807",
                                  "/api/v1/lineage?nodeId=dataset:a:b&depth=1000"])
def test_out_of_range_numbers_are_refused(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code in (400, 422), r.text


@pytest.mark.parametrize("body", [
    b'{"eventTime": NaN}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' * 200 + b"1" + b"}" * 200,
])
def test_bodies_no_store_could_keep_are_refused(client: TestClient, body: bytes) -> None:
    r = client.post("/api/v1/lineage", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")


def test_deeply_nested_facets_and_nan_values_are_refused(client: TestClient) -> None:
    event = valid_event()
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(100):
        deep = {"d": deep}
    event["run"]["facets"]["deep"] = {"_producer": PRODUCER, "_schemaURL": FACET_URL, "d": deep}
    r = client.post("/api/v1/lineage", json=event)
    assert r.status_code == 400 and "deeper" in r.json()["detail"]
    from meshfabric.lineage.openlineage import InvalidOpenLineageEvent, ingest_openlineage

    event = valid_event()
    event["outputs"][0]["facets"]["columnLineage"]["ratio"] = float("nan")
    mesh = client.app.state.mesh  # type: ignore[attr-defined]
    with pytest.raises(InvalidOpenLineageEvent) as err:
        ingest_openlineage(mesh.store, event)
    assert err.value.problems[0].path == "$.outputs[0].facets.columnLineage.ratio"
