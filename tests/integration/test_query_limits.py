"""The query time limit of each principal (``access.query_timeout``): the most specific entry
wins, a call may only lower it, a runaway query is stopped and audited, and a bad value in
mesh.yaml is a spec error naming the field."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from access_support import MESH, build, setup_principals
from meshfabric.errors import QueryTimeout, SpecError
from meshfabric.spec.access_models import DEFAULT_QUERY_TIMEOUT, QueryTimeoutSpec

#: never ends on its own: the time limit is all that stops it
RUNAWAY = ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
           "SELECT count(*) FROM r JOIN sales.orders o ON o.id = r.n")

LIMITS = MESH + """\
  query_timeout:
    default: 120
    roles: {analyst: 0.5}
    users: {etl-bot: 30}
"""


@pytest.fixture(autouse=True)
def _salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHFABRIC_MASK_SALT", "test-salt")


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Any]:
    from meshfabric import Mesh

    with Mesh.open(build(tmp_path / "ws", mesh=LIMITS)) as m:
        m.apply()
        setup_principals(m)
        yield m


def test_the_most_specific_limit_applies(mesh: Any) -> None:
    access, queries = mesh.access, mesh.queries
    assert queries.timeout(access.principal("alice")) == 0.5          # her role's
    assert queries.timeout(access.principal("etl-bot")) == 30.0       # its own
    assert queries.timeout(access.principal("carol")) == 120.0        # the default


def test_a_runaway_query_is_stopped_at_the_principals_limit_and_audited(mesh: Any) -> None:
    start = time.perf_counter()
    with pytest.raises(QueryTimeout, match=r"time limit of 0\.5 s") as caught:
        mesh.query(RUNAWAY, user="alice")
    assert time.perf_counter() - start < 30  # generous on a loaded machine; unbounded without the limit
    assert "access.query_timeout" in (caught.value.hint or "")
    entry = mesh.access.audit_log(user="alice", limit=1)[0]
    assert entry.action == "query" and entry.decision == "denied" and "time limit" in entry.reason
    # the same principal's next query runs normally
    assert mesh.query("SELECT count(*) AS n FROM sales.orders", user="alice").arrow().num_rows == 1


def test_a_call_may_lower_the_limit_but_not_raise_it(mesh: Any) -> None:
    with pytest.raises(QueryTimeout, match=r"time limit of 0\.2 s"):
        mesh.query(RUNAWAY, timeout=0.2)  # the admin's default is 120 s
    with pytest.raises(QueryTimeout, match=r"time limit of 0\.5 s"):
        mesh.query(RUNAWAY, user="alice", timeout=3600)


def test_the_limit_over_rest_frees_the_worker(mesh: Any) -> None:
    from fastapi.testclient import TestClient

    from meshfabric.api.app import create_app

    client = TestClient(create_app(mesh, auth=False))
    mesh.settings.spec.access.query_timeout = QueryTimeoutSpec(default=0.5)
    r = client.post("/api/v1/query", json={"sql": RUNAWAY})
    assert r.status_code == 504 and r.headers["content-type"].startswith("application/problem+json")
    assert "time limit" in r.json()["detail"]
    r = client.post("/api/v1/query", json={"sql": "SELECT count(*) AS n FROM sales.orders"})
    assert r.status_code == 200 and r.json()["rows"] == [[5]]


def test_a_number_sets_the_default() -> None:
    assert QueryTimeoutSpec.model_validate(15).default == 15.0
    assert QueryTimeoutSpec().default == DEFAULT_QUERY_TIMEOUT
    assert QueryTimeoutSpec(groups={"a": 5, "b": 50}).for_principal("x", ("a", "b"), ()) == 50.0


@pytest.mark.parametrize("bad, where", [
    ("query_timeout: 0", "query_timeout"),
    ("query_timeout: {roles: {analyst: -1}}", "analyst"),
    ("query_timeout: {default: soon}", "default"),
    ("query_timeout: {weeks: 2}", "weeks"),
])
def test_bad_limits_are_spec_errors_naming_the_field(tmp_path: Path, bad: str, where: str) -> None:
    from meshfabric import Mesh

    root = build(tmp_path / "ws", mesh=MESH + "  " + bad + "\n")
    with pytest.raises(SpecError) as caught:
        Mesh.open(root)
    text = str(caught.value)
    assert "mesh.yaml" in text and where in text


def test_a_rest_client_that_goes_away_cancels_its_query(mesh: Any) -> None:
    """Over a real server: the client gives up after a second; the query (whose own limit is two
    minutes) is cancelled in the engine at once, audited as cancelled, and the worker is free."""
    import httpx

    from helpers import serve_api

    base, server, thread = serve_api(mesh)
    try:
        url = f"{base}/api/v1/query"
        start = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url, json={"sql": RUNAWAY}, timeout=1.0)

        def cancelled() -> bool:
            entries = mesh.access.audit_log(limit=5)
            return any(e.action == "query" and "cancelled (the client disconnected)" in (e.reason or "")
                       for e in entries)

        while not cancelled() and time.perf_counter() - start < 30:
            time.sleep(0.1)
        assert cancelled(), [e.reason for e in mesh.access.audit_log(limit=5)]
        assert time.perf_counter() - start < 30  # long before the query's own limit of 120 s
        entry = next(e for e in mesh.access.audit_log(limit=5) if "cancelled" in (e.reason or ""))
        assert entry.decision == "error"
        r = httpx.post(url, json={"sql": "SELECT count(*) AS n FROM sales.orders"}, timeout=30)
        assert r.status_code == 200 and r.json()["rows"] == [[5]]
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_json_answers_are_capped_and_arrow_streams_every_row(mesh: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa
    from fastapi.testclient import TestClient

    from meshfabric.api.app import ARROW_STREAM, create_app

    monkeypatch.setenv("MESHFABRIC_MAX_JSON_ROWS", "2")
    client = TestClient(create_app(mesh, auth=False))
    sql = "SELECT id FROM sales.orders ORDER BY id"
    body = client.post("/api/v1/query", json={"sql": sql}).json()
    assert body["rows"] == [[1], [2]] and body["row_count"] == 2 and body["truncated"] is True
    body = client.post("/api/v1/query", json={"sql": sql, "limit": 2}).json()
    assert body["row_count"] == 2 and body["truncated"] is False  # the caller's own limit cut nothing more
    r = client.post("/api/v1/query", json={"sql": sql}, headers={"accept": ARROW_STREAM})
    assert r.status_code == 200 and r.headers["content-type"] == ARROW_STREAM
    table = pa.ipc.open_stream(r.content).read_all()
    assert table.column("id").to_pylist() == [1, 2, 3, 4, 5]
