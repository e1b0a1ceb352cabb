"""Results streamed from the engine (``mesh.query(..., stream=True)``, the REST API's Arrow
stream, the CLI's file output): several record batches equal to the materialised result; a
consumer that stops early, fails or is cancelled releases the query's engine session; the time
limit holds while streaming; the JSON answer's row cap is unchanged; a masked, row-filtered
principal streams exactly what it would get materialised."""

from __future__ import annotations

import glob
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from access_support import MESH, POLICY, build, setup_principals
from meshfabric.errors import QueryCancelled, QueryError, QueryTimeout

ROWS = 20_000
#: rows per streamed batch in these tests: the results above span many batches
BATCH = 2_048

LAKE_MESH = MESH.replace("sources:\n", "sources:\n  lake:\n    kind: files\n    path: data/lake\n", 1)

ITEMS = """\
kind: DataProduct
domain: sales
name: items
owner: sales-owner
status: published
output:
  source: lake
  path: items.parquet
schema:
  - name: id
    type: bigint
  - name: label
    type: string
  - name: price
    type: decimal(12,2)
  - name: day
    type: date
"""

#: alice (analyst) sees every third item, its label hashed
ITEMS_POLICY = POLICY + """\
  - to: {role: analyst}
    product: sales.items
    columns:
      label: hash
    row_filter: "id % 3 = 0"
"""

ORDERED = "SELECT id, label, price, day FROM sales.items ORDER BY id DESC"


@pytest.fixture(autouse=True)
def _settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from meshfabric.query import engine

    monkeypatch.setenv("MESHFABRIC_MASK_SALT", "test-salt")
    monkeypatch.setattr(engine, "BATCH_ROWS", BATCH)


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Any]:
    yield from _workspace(tmp_path, ITEMS_POLICY)


def _workspace(tmp_path: Path, policy: str) -> Iterator[Any]:
    import datetime as dt
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    from meshfabric import Mesh

    root = build(tmp_path / "ws", mesh=LAKE_MESH, policy=policy)
    (root / "data" / "lake").mkdir(parents=True)
    (root / "specs" / "items.yaml").write_text(ITEMS)
    ids = list(range(ROWS))
    pq.write_table(pa.table({
        "id": pa.array(ids, pa.int64()),
        # the last rows' labels are not numbers: a cast of them fails late in a scan in order
        "label": pa.array([str(i) if i < ROWS - 10 else f"x{i}" for i in ids]),
        "price": pa.array([Decimal(i) / 100 for i in ids], pa.decimal128(12, 2)),
        "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i % 365) for i in ids]),
    }), root / "data" / "lake" / "items.parquet", row_group_size=1_000)
    with Mesh.open(root) as m:
        m.apply()
        setup_principals(m)
        yield m


class _FailingReader:
    """DuckDB's record batch reader that fails like a statement failing mid-way (a value that
    does not convert) after ``good`` batches: DuckDB computes such errors in parallel and
    usually before the first batch, which these tests must not depend on."""

    def __init__(self, reader: Any, good: int) -> None:
        self.reader, self.good = reader, good
        self.schema = reader.schema

    def read_next_batch(self) -> Any:
        import duckdb

        if self.good <= 0:
            raise duckdb.ConversionException("Could not convert string 'x' to INT32 in __mf_scan_0")
        self.good -= 1
        return self.reader.read_next_batch()

    def close(self) -> None:
        self.reader.close()


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every streamed statement fails after its third batch."""
    from meshfabric.query import engine

    real = engine._OpenStream.__init__

    def init(self: Any, conn: Any, reader: Any, *args: Any) -> None:
        real(self, conn, _FailingReader(reader, 2), *args)

    monkeypatch.setattr(engine._OpenStream, "__init__", init)


def _released(before: int, timeout: float = 10.0) -> bool:
    """Whether the engine's open sessions are back to ``before`` (they close in a thread)."""
    from meshfabric.query.engine import open_sessions

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if open_sessions() <= before:
            return True
        time.sleep(0.02)
    return False


def _sessions() -> int:
    """The open sessions once those of earlier queries (closed in a thread) are gone."""
    from meshfabric.query.engine import open_sessions

    _released(0, 2.0)
    return open_sessions()


def test_a_large_result_streams_in_batches_equal_to_the_materialised_one(mesh: Any) -> None:
    import pyarrow as pa

    before = _sessions()
    expected = mesh.query(ORDERED).arrow()
    with mesh.query(ORDERED, stream=True) as stream:
        assert stream.columns == ["id", "label", "price", "day"]
        batches = list(stream)
    assert len(batches) >= ROWS // BATCH and all(b.num_rows <= BATCH for b in batches)
    streamed = pa.Table.from_batches(batches, schema=stream.schema)
    assert streamed.schema == expected.schema  # the types: bigint, string, decimal(12,2), date
    assert streamed.equals(expected)  # values and ORDER BY order
    assert stream.exhausted and stream.closed and stream.rows_read == ROWS
    assert _released(before)
    # the materialised form built from a stream, and a grouping in the engine
    grouped = "SELECT day, count(*) AS n, sum(price) AS total FROM sales.items GROUP BY day ORDER BY day"
    assert mesh.query(grouped, stream=True).read_all().arrow().equals(mesh.query(grouped).arrow())
    assert _released(before)


def test_a_consumer_that_stops_early_releases_the_query(mesh: Any) -> None:
    before = _sessions()
    stream = mesh.query(ORDERED, stream=True)
    from meshfabric.query.engine import open_sessions

    assert open_sessions() == before + 1  # the session lives as long as the stream
    for _ in stream:
        break  # the iterator is dropped here: its generator closes the stream
    assert stream.closed and not stream.exhausted and stream.rows_read == BATCH
    assert _released(before)

    with mesh.query(ORDERED, stream=True) as stream:  # `with`: closed on the way out
        next(iter(stream))
    assert _released(before)

    stream = mesh.query(ORDERED, stream=True)  # never read at all, only dropped
    del stream
    assert _released(before)

    with pytest.raises(KeyboardInterrupt), mesh.query(ORDERED, stream=True) as stream:  # Ctrl-C mid-stream
        for _ in stream:
            raise KeyboardInterrupt
    assert _released(before)


def test_the_time_limit_and_a_cancellation_stop_a_stream(mesh: Any) -> None:
    before = _sessions()
    stream = mesh.query(ORDERED, stream=True, timeout=0.5)
    batches = iter(stream)
    next(batches)
    time.sleep(0.8)
    with pytest.raises(QueryTimeout, match="time limit"):
        next(batches)
    assert stream.closed and _released(before)

    from meshfabric.connectors.base import CancelToken

    token = CancelToken()
    stream = mesh.query(ORDERED, stream=True, cancel=token)
    batches = iter(stream)
    next(batches)
    threading.Thread(target=token.cancel, args=("the client disconnected",)).start()
    with pytest.raises(QueryCancelled, match="client disconnected"):
        for _ in batches:
            time.sleep(0.01)
    assert _released(before)


def test_an_error_mid_stream_is_a_query_error_and_releases_the_query(mesh: Any, failing: None) -> None:
    before = _sessions()
    stream = mesh.query(ORDERED, stream=True)
    got = 0
    with pytest.raises(QueryError, match="the query failed: Could not convert") as caught:
        for batch in stream:
            got += batch.num_rows
    assert got == 3 * BATCH  # the first one, read before the stream was returned, and two more
    assert "__mf_scan" not in str(caught.value) and "sales.items" in str(caught.value)
    assert stream.closed and not stream.exhausted and _released(before)
    entry = mesh.access.audit_log(limit=1)[0]  # audited as the error that ended the stream
    assert entry.decision == "denied" and "Could not convert" in entry.reason and entry.rows is None


def test_an_error_before_the_first_batch_is_raised_by_the_query(mesh: Any) -> None:
    before = _sessions()
    with pytest.raises(QueryError, match="Could not convert"):
        mesh.query("SELECT id, CAST(label AS INTEGER) AS n FROM sales.items", stream=True)
    assert _released(before)


def _client(mesh: Any, **kwargs: Any) -> Any:
    from fastapi.testclient import TestClient

    from meshfabric.api.app import create_app

    return TestClient(create_app(mesh, auth=False), **kwargs)


def test_the_rest_arrow_stream_equals_the_materialised_result(mesh: Any) -> None:
    import pyarrow as pa

    from meshfabric.api.app import ARROW_STREAM

    before = _sessions()
    r = _client(mesh).post("/api/v1/query", json={"sql": ORDERED}, headers={"accept": ARROW_STREAM})
    assert r.status_code == 200 and r.headers["content-type"] == ARROW_STREAM
    reader = pa.ipc.open_stream(r.content)
    batches = list(reader)
    assert len(batches) >= ROWS // BATCH
    assert pa.Table.from_batches(batches).equals(mesh.query(ORDERED).arrow())
    assert _released(before)
    # a failure before the first batch still has its status and problem document
    r = _client(mesh).post("/api/v1/query", json={"sql": "SELECT nope FROM sales.items"},
                           headers={"accept": ARROW_STREAM})
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert _released(before)


def test_a_rest_client_that_goes_away_releases_the_query(mesh: Any) -> None:
    """What Starlette does when the client disconnects mid-body: the body generator is cancelled
    or closed (``aclose``) after the chunks sent so far."""
    import anyio

    from meshfabric.api.app import _arrow_stream

    before = _sessions()
    stream = mesh.query(ORDERED, stream=True)

    async def read_two_and_leave() -> int:
        body = _arrow_stream(stream)
        sent = [await body.__anext__(), await body.__anext__()]  # the schema, the first batch
        await body.aclose()
        return len(sent)

    assert anyio.run(read_two_and_leave) == 2
    assert stream.closed and not stream.exhausted and _released(before)


def test_a_rest_error_mid_stream_ends_the_body_as_no_reader_takes_for_a_result(mesh: Any, failing: None) -> None:
    """Once the first batch is out the status is 200: a failure afterwards ends the body with
    an unfinished Arrow message instead of the end-of-stream marker (a reader fails), and the
    server cuts the connection before the chunked body's end (see the real server below)."""
    import pyarrow as pa

    from meshfabric.api.app import ARROW_ABORTED, ARROW_STREAM

    before = _sessions()
    client = _client(mesh, raise_server_exceptions=False)
    r = client.post("/api/v1/query", json={"sql": ORDERED}, headers={"accept": ARROW_STREAM})
    assert r.status_code == 200 and r.content.endswith(ARROW_ABORTED)
    reader = pa.ipc.open_stream(r.content)
    got = []
    with pytest.raises(pa.ArrowInvalid):
        for batch in reader:
            got.append(batch)
    assert sum(b.num_rows for b in got) == 3 * BATCH
    assert _released(before)


def test_a_real_server_cuts_the_connection_on_an_error_mid_stream(mesh: Any, failing: None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import httpx
    import uvicorn

    from meshfabric.api.app import ARROW_STREAM, create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(mesh, auth=False), host="127.0.0.1", port=port,
                                           log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        end = time.monotonic() + 20
        while not server.started and time.monotonic() < end:
            time.sleep(0.05)
        before = _sessions()
        with pytest.raises(httpx.RemoteProtocolError), httpx.stream(
                "POST", f"http://127.0.0.1:{port}/api/v1/query", json={"sql": ORDERED},
                headers={"accept": ARROW_STREAM}, timeout=30) as r:
            assert r.status_code == 200
            for _ in r.iter_raw():
                pass
        assert _released(before)
        # a client that reads one chunk of a result far larger than the socket buffers and hangs
        # up: the server learns it on its next write, and the query is released (the time limit
        # stops it should that not work: the test then fails instead of streaming on)
        from meshfabric.query import engine
        from meshfabric.spec.access_models import QueryTimeoutSpec

        monkeypatch.undo()  # the real reader again
        monkeypatch.setattr(engine, "BATCH_ROWS", BATCH)
        mesh.settings.spec.access.query_timeout = QueryTimeoutSpec(default=20)
        huge = "SELECT a.id, a.label, b.id AS other FROM sales.items a, sales.items b"  # 400M rows
        started = time.monotonic()
        with httpx.stream("POST", f"http://127.0.0.1:{port}/api/v1/query", json={"sql": huge},
                          headers={"accept": ARROW_STREAM}, timeout=30) as r:
            next(r.iter_raw())
        assert _released(before, timeout=15.0)
        assert time.monotonic() - started < 15.0  # not the time limit: the disconnect
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_json_answer_keeps_its_row_cap(mesh: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHFABRIC_MAX_JSON_ROWS", "100")
    client = _client(mesh)
    body = client.post("/api/v1/query", json={"sql": "SELECT id FROM sales.items ORDER BY id"}).json()
    assert body["columns"] == ["id"] and body["row_count"] == 100 and body["truncated"] is True
    assert body["rows"] == [[i] for i in range(100)]
    body = client.post("/api/v1/query", json={"sql": "SELECT id FROM sales.items ORDER BY id", "limit": 5}).json()
    assert body["rows"] == [[i] for i in range(5)] and body["truncated"] is False
    assert set(body) == {"columns", "rows", "row_count", "seconds", "truncated"}


def test_a_masked_filtered_principal_streams_what_it_gets_materialised(mesh: Any) -> None:
    import pyarrow as pa

    before = _sessions()
    expected = mesh.query(ORDERED, user="alice").arrow()
    assert expected.num_rows == len(range(0, ROWS, 3))
    assert "1" not in expected.column("label").to_pylist()  # hashed
    with mesh.query(ORDERED, user="alice", stream=True) as stream:
        batches = list(stream)
    assert len(batches) > 1
    assert pa.Table.from_batches(batches, schema=stream.schema).equals(expected)
    assert _released(before)
    entry = mesh.access.audit_log(user="alice", limit=1)[0]  # written when the stream ended
    assert entry.action == "query" and entry.decision == "allowed" and entry.rows == expected.num_rows
    with mesh.query(ORDERED, user="alice", stream=True) as stream:
        next(iter(stream))
    assert mesh.access.audit_log(user="alice", limit=1)[0].rows == BATCH  # the rows it delivered


def test_the_memory_limit_holds_for_a_stream(mesh: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHFABRIC_QUERY_MEMORY", "64MB")
    spills = set(glob.glob(os.path.join(tempfile.gettempdir(), "mf-spill-*")))
    before = _sessions()
    with mesh.query(ORDERED, stream=True) as stream:
        assert len(set(glob.glob(os.path.join(tempfile.gettempdir(), "mf-spill-*"))) - spills) == 1
        assert sum(b.num_rows for b in stream) == ROWS
    assert _released(before)
    assert not set(glob.glob(os.path.join(tempfile.gettempdir(), "mf-spill-*"))) - spills  # removed
    monkeypatch.setenv("MESHFABRIC_QUERY_MEMORY", "lots")
    from meshfabric.errors import ConfigError

    with pytest.raises(ConfigError, match="not a size"):
        mesh.query(ORDERED, stream=True)
    assert _released(before)


def test_the_cli_writes_streamed_files_equal_to_the_materialised_result(mesh: Any, tmp_path: Path) -> None:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from meshfabric.cli import run
    from meshfabric.query.result import json_dumps

    expected = mesh.query(ORDERED).arrow()
    ws = str(mesh.root)
    assert run(["-w", ws, "query", ORDERED, "-o", str(tmp_path / "out.parquet")]) == 0
    assert pq.read_table(tmp_path / "out.parquet").equals(expected)
    assert run(["-w", ws, "query", ORDERED, "-o", str(tmp_path / "out.csv")]) == 0
    assert pcsv.read_csv(tmp_path / "out.csv").column("id").to_pylist() == expected.column("id").to_pylist()
    assert run(["-w", ws, "query", ORDERED, "-o", str(tmp_path / "out.json")]) == 0
    text = (tmp_path / "out.json").read_text()
    assert text == json_dumps(expected.to_pylist(), indent=2) + "\n"
    assert len(json.loads(text)) == ROWS


def test_a_cli_failure_mid_stream_leaves_no_partial_file(mesh: Any, tmp_path: Path, failing: None) -> None:
    from meshfabric.cli import run

    for name in ("bad.csv", "bad.parquet", "bad.json"):
        assert run(["-w", str(mesh.root), "query", ORDERED, "-o", str(tmp_path / name)]) != 0
        assert not (tmp_path / name).exists()


def test_a_policy_failing_mid_stream_is_named_without_its_value(tmp_path: Path, failing: None) -> None:
    """A masked principal's stream that fails after its first batches is explained as a query
    failing at once would be: a policy expression that cannot be evaluated is named, and the
    engine's message (which may quote an unmasked value) is not shown."""
    policy = POLICY + """\
  - to: {role: analyst}
    product: sales.items
    columns:
      label: {sql: "CAST(CAST(label AS INTEGER) AS VARCHAR)"}
"""
    workspace = _workspace(tmp_path, policy)
    mesh = next(workspace)
    try:
        before = _sessions()
        stream = mesh.query("SELECT id FROM sales.items ORDER BY id DESC", user="alice", stream=True)
        with pytest.raises(QueryError, match="mask of policy 'shop-policy' on column 'label'") as caught:
            for _ in stream:
                pass
        assert "x19" not in str(caught.value) and "Could not convert" not in str(caught.value)
        assert _released(before)
        entry = mesh.access.audit_log(user="alice", limit=1)[0]
        assert entry.decision == "denied" and "mask of policy" in entry.reason
    finally:
        workspace.close()
