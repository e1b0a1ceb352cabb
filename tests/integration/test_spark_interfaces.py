"""The Spark engine through the CLI, REST and SDK: ``--engine spark`` and ``{"engine": "spark"}``
run on the cluster; every failure is one message with the fix, exit code 2, no traceback; a
query past its time limit has its Spark jobs cancelled."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from access_support import MESH, build, setup_principals
from helpers import cli, flat
from meshfabric.errors import ConfigError, QueryTimeout

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESHFABRIC_MASK_SALT", "salt-for-tests")
    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)


def _engine_yaml(master: str, conf: dict[str, str], timeout: float = 10) -> str:
    lines = "".join(f"      {k}: \"{v}\"\n" for k, v in conf.items())
    head = f"engine:\n  kind: spark\n  master: {master}\n  connect_timeout: {timeout}\n"
    return head + (f"  conf:\n{lines}" if conf else "")


@pytest.fixture
def ws(tmp_path: Path, spark_engine: Any) -> Iterator[Path]:
    from meshfabric import Mesh

    root = build(tmp_path / "ws", mesh=MESH + _engine_yaml(spark_engine.master, spark_engine.conf))
    with Mesh.open(root) as m:
        m.apply()
        setup_principals(m)
    yield root


def test_cli_query_runs_on_spark_with_the_same_rows(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT id, card FROM sales.orders ORDER BY id"
    code, out, err = cli(capsys, "-w", ws, "query", sql, "--engine", "spark", "--as", "alice", "-f", "json")
    assert code == 0, err
    code, want, err = cli(capsys, "-w", ws, "query", sql, "--engine", "duckdb", "--as", "alice", "-f", "json")
    assert code == 0, err
    assert json.loads(out) == json.loads(want)
    assert [r["card"][-4:] for r in json.loads(out)] == ["1111", "2222"] and "4111111111111111" not in out


def test_a_function_spark_lacks_is_one_message_and_exit_2(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "-w", ws, "query", "SELECT strip_accents(region) FROM sales.orders",
                         "--engine", "spark")
    assert code == 2
    assert "Spark has no function" in flat(err) and "strip_accents" in err.lower() and "--engine duckdb" in err
    assert "Traceback" not in err and "java" not in err.lower()


def test_an_unreachable_cluster_is_one_message_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          spark_engine: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = build(tmp_path / "down", mesh=MESH + _engine_yaml(f"spark://127.0.0.1:{port}", {}, timeout=2))
    code, _, err = cli(capsys, "-w", root, "apply")
    assert code == 0, err
    code, out, err = cli(capsys, "-w", root, "query", "SELECT count(*) FROM sales.orders")
    assert code == 2 and out == ""
    assert f"the Spark master spark://127.0.0.1:{port} is not reachable" in flat(err)
    assert "engine.master" in flat(err) and "Traceback" not in err
    # the DuckDB engine still answers in the same workspace
    code, out, err = cli(capsys, "-w", root, "query", "SELECT count(*) AS n FROM sales.orders", "--engine", "duckdb",
                         "-f", "json")
    assert code == 0 and json.loads(out) == [{"n": 5}]


def test_a_query_past_its_time_limit_is_cancelled_on_spark(ws: Path) -> None:
    from meshfabric import Mesh

    # 5 rows joined with themselves 14 times: 6e9 rows, far more than the limit allows
    tables = ", ".join(f"sales.orders t{i}" for i in range(14))
    with Mesh.open(ws) as mesh:
        with pytest.raises(QueryTimeout):
            mesh.query(f"SELECT count(*) FROM {tables}", engine="spark", timeout=3)
        # the cancelled jobs left the cluster free: the next query runs
        assert mesh.query("SELECT count(*) AS n FROM sales.orders", engine="spark").rows == [(5,)]


def test_rest_query_takes_the_engine(ws: Path) -> None:
    from fastapi.testclient import TestClient

    from meshfabric import Mesh
    from meshfabric.api.app import create_app

    with Mesh.open(ws) as mesh, TestClient(create_app(mesh, auth=False)) as client:
        sql = "SELECT region, count(*) AS n FROM sales.orders GROUP BY region ORDER BY region"
        spark = client.post("/api/v1/query", json={"sql": sql, "engine": "spark"})
        duck = client.post("/api/v1/query", json={"sql": sql, "engine": "duckdb"})
        assert spark.status_code == duck.status_code == 200, spark.text
        assert spark.json()["rows"] == duck.json()["rows"] == [["APAC", 1], ["EU", 2], ["US", 2]]
        bad = client.post("/api/v1/query", json={"sql": sql, "engine": "flink"})
        assert bad.status_code == 422


def test_explain_analyze_shows_what_spark_read(ws: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "-w", ws, "explain", "SELECT count(*) FROM sales.orders WHERE amount > 5",
                         "--analyze", "--engine", "spark", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["analyze"]["rows"] == 1
    (scan,) = data["scans"]
    assert scan["actual_rows"] == 4 and "amount" in scan["sent_sql"]


def test_sdk_engine_argument_overrides_the_workspace_default(ws: Path) -> None:
    from meshfabric import Mesh

    with Mesh.open(ws) as mesh:
        with pytest.raises(ConfigError, match="unknown query engine"):
            mesh.query("SELECT 1 FROM sales.orders", engine="presto")
        assert mesh.query("SELECT count(*) FROM sales.orders", engine="duckdb").rows == [(5,)]


def test_parquet_output_is_written_by_the_executors(ws: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow.parquet as pq

    sql = "SELECT id, region, amount FROM sales.orders ORDER BY id"
    target = tmp_path / "out" / "orders.parquet"
    code, _, err = cli(capsys, "-w", ws, "query", sql, "--engine", "spark", "--as", "alice", "-o", target)
    assert code == 0, err
    assert "wrote 2 rows" in err and "executors" in err
    code, out, err = cli(capsys, "-w", ws, "query", sql, "--engine", "duckdb", "--as", "alice", "-f", "json")
    assert code == 0, err
    assert pq.read_table(target).to_pylist() == json.loads(out)
    assert [p.name for p in target.parent.iterdir()] == ["orders.parquet"]  # no staging folder left


def test_a_cancelled_query_stops_its_spark_jobs(ws: Path) -> None:
    import threading

    from meshfabric import Mesh
    from meshfabric.connectors.base import CancelToken
    from meshfabric.errors import QueryCancelled

    tables = ", ".join(f"sales.orders t{i}" for i in range(14))
    token = CancelToken()
    # what the REST API does when the client goes away while Spark runs the query
    threading.Timer(3, token.cancel, args=("the client disconnected",)).start()
    with Mesh.open(ws) as mesh:
        with pytest.raises(QueryCancelled, match="the client disconnected"):
            mesh.query(f"SELECT count(*) FROM {tables}", engine="spark", cancel=token)
        assert mesh.query("SELECT count(*) AS n FROM sales.orders", engine="spark").rows == [(5,)]
