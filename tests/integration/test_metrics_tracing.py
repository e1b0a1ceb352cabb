"""Product metrics recorded from real queries, ``GET /metrics`` (Prometheus) and OpenTelemetry
spans of queries, applies, quality runs and REST requests.

``/metrics`` is parsed with prometheus-client's own parser and compared with the queries run
here; spans are captured by the SDK's in-memory exporter (added once to the process's SDK
provider, shut down at the end so later tests in the worker keep nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from auth_support import auth_workspace, bearer, hs_token, secret_env
from helpers import write
from meshfabric import Mesh
from meshfabric.api.app import create_app

QUALITY = """\
quality:
  - {type: not_null, column: order_id}
"""


def memory_exporter() -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp, secret_env():
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        root = auth_workspace(tmp_path_factory.mktemp("metrics") / "ws")
        orders = (root / "products" / "sales" / "orders.yaml").read_text()
        write(root / "products" / "sales" / "orders.yaml", orders + QUALITY)
        with Mesh.open(root) as mesh:
            mesh.apply()
            mesh.access.create_role("metrics-reader")
            for name in ("prom", "alice"):
                mesh.access.create_principal(name)
            mesh.access.assign_role("prom", "metrics-reader")
            mesh.access.grant("alice", "query", product="sales.orders", grantee_kind="user")
        yield root


@pytest.fixture(scope="module")
def spans() -> Iterator[Any]:
    exporter = memory_exporter()
    yield exporter
    exporter.shutdown()


@pytest.fixture(scope="module")
def client(ws: Path, spans: Any) -> Iterator[TestClient]:
    with pytest.MonkeyPatch.context() as mp, secret_env():
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        mesh = Mesh.open(ws)
        mesh.metrics.refresh_seconds = 0  # render on every scrape: each test sees what it just ran
        try:
            with TestClient(create_app(mesh), raise_server_exceptions=False) as c:
                yield c
        finally:
            mesh.close()


PROM = bearer(hs_token(sub="prom"))
ALICE = bearer(hs_token(sub="alice"))


def _families(text: str) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(family: Any, **labels: str) -> float | None:
    found = [s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, found
    return found[0] if found else None


def test_metrics_needs_a_credential_and_metrics_read(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 401
    denied = client.get("/metrics", headers=ALICE)
    assert denied.status_code == 403 and "metrics-reader" in denied.json()["detail"]
    ok = client.get("/metrics", headers=PROM)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain; version=0.0.4")


def test_metrics_match_the_queries_that_ran(client: TestClient) -> None:
    mesh: Mesh = client.app.state.mesh  # type: ignore[attr-defined]
    before = _families(client.get("/metrics", headers=PROM).text)
    before_ok = _value(before["meshfabric_product_queries"], product="sales.orders", outcome="allowed") or 0
    before_rows = _value(before["meshfabric_product_rows_moved"], product="sales.orders", source="shop_db") or 0
    for _ in range(3):
        r = client.post("/api/v1/query", json={"sql": "SELECT * FROM sales.orders WHERE amount > 10"}, headers=ALICE)
        assert r.status_code == 200, r.text
    moved = mesh.query("SELECT * FROM sales.orders WHERE amount > 10").stats.rows_moved
    bad = client.post("/api/v1/query", json={"sql": "SELECT nope FROM sales.orders"}, headers=ALICE)
    assert bad.status_code >= 400
    joined = mesh.query("SELECT count(*) FROM sales.orders o JOIN crm.customers c USING (customer_id)")
    assert joined.arrow().num_rows == 1

    families = _families(client.get("/metrics", headers=PROM).text)
    queries = families["meshfabric_product_queries"]
    assert _value(queries, domain="sales", product="sales.orders", outcome="allowed") == before_ok + 5
    assert (_value(queries, product="sales.orders", outcome="denied") or 0) >= 1
    assert (_value(queries, product="crm.customers", outcome="allowed") or 0) >= 1
    rows = families["meshfabric_product_rows_moved"]
    joined_rows = sum(s.rows for s in joined.stats.scans if s.product == "sales.orders")
    expected = before_rows + 4 * moved + joined_rows
    assert _value(rows, domain="sales", product="sales.orders", source="shop_db") == expected
    assert (_value(families["meshfabric_product_bytes_moved"], product="sales.orders", source="shop_db") or 0) > 0
    # crm.customers lives in files the engine reads where they lie: no row moved from that source
    in_place = [s for s in joined.stats.scans if s.product == "crm.customers"]
    assert [s.placement for s in in_place] == ["engine"]
    assert (_value(rows, product="crm.customers", source="lake") or 0) == sum(s.rows for s in in_place) == 0
    latency = families["meshfabric_product_query_latency_seconds"]
    p50 = _value(latency, product="sales.orders", quantile="0.5")
    p95 = _value(latency, product="sales.orders", quantile="0.95")
    assert p50 is not None and p95 is not None and 0 < p50 <= p95 < 60
    principals = families["meshfabric_principal_queries"]
    assert (_value(principals, principal="alice", outcome="allowed") or 0) >= 3

    # the same numbers through the functions the domain-health endpoint calls
    from meshfabric.observe.usage import query_performance, usage_by_hour

    now = datetime.now(UTC)
    hours = usage_by_hour(mesh.store, product="sales.orders", since=now - timedelta(hours=2),
                          until=now + timedelta(minutes=1))
    assert len(hours) in (3, 4)
    assert sum(h["queries"] for h in hours) >= 6 and sum(h["errors"] for h in hours) >= 1
    latest = [h for h in hours if h["queries"]][-1]
    assert latest["by_principal"]["alice"]["queries"] >= 3 and latest["principals"] >= 2
    perf = query_performance(mesh.store, domain="sales", since=now - timedelta(hours=1),
                             until=now + timedelta(minutes=1))
    assert perf["queries"] >= 6 and 0 < perf["error_rate"] < 1
    assert perf["p50_ms"] <= perf["p95_ms"] and perf["throughput_per_hour"] > 0
    crm = query_performance(mesh.store, product="crm.customers", since=now - timedelta(hours=1),
                            until=now + timedelta(minutes=1))
    assert crm["queries"] >= 1 and crm["errors"] == 0


def test_quality_scores_and_probe_series_are_exposed(client: TestClient) -> None:
    from sqlalchemy import insert

    from meshfabric.store.models import MetricPointRow

    mesh: Mesh = client.app.state.mesh  # type: ignore[attr-defined]
    run = mesh.quality.run("sales.orders")
    now = datetime.now(UTC)
    with mesh.store.engine.begin() as conn:
        conn.execute(insert(MetricPointRow), [
            {"series": "sales.orders/freshness.minutes", "product": "sales.orders", "metric": "freshness.minutes",
             "value": 42.0, "ts": now},
            {"series": "sales.orders/availability", "product": "sales.orders", "metric": "availability",
             "value": 1.0, "ts": now},
            {"series": "ghost.product/availability", "product": "ghost.product", "metric": "availability",
             "value": 0.0, "ts": now},
        ])
    families = _families(client.get("/metrics", headers=PROM).text)
    score = families["meshfabric_product_quality_score"]
    assert _value(score, product="sales.orders", dimension="overall") == pytest.approx(run.score)
    for dim, value in run.dimension_scores.items():
        assert _value(score, product="sales.orders", dimension=dim) == pytest.approx(value)
    assert _value(families["meshfabric_product_freshness_minutes"], product="sales.orders") == 42.0
    assert _value(families["meshfabric_product_availability"], product="sales.orders") == 1.0
    # a product not in the catalog gets no labels
    assert _value(families["meshfabric_product_availability"], product="ghost.product") is None
    assert _value(families["meshfabric_product_row_count"], product="sales.orders") == 20

    from meshfabric.observe.metrics import product_snapshot

    snap = product_snapshot(mesh.store, "sales.orders")
    assert snap["quality"]["overall"]["value"] == pytest.approx(run.score)
    assert snap["freshness_minutes"]["value"] == 42.0 and snap["availability"]["value"] == 1.0


def _by_name(finished: list[Any], name: str) -> list[Any]:
    return [s for s in finished if s.name == name]


def test_query_spans_plan_scans_and_engine(client: TestClient, spans: Any) -> None:
    mesh: Mesh = client.app.state.mesh  # type: ignore[attr-defined]
    spans.clear()
    mesh.query("SELECT o.amount, c.name FROM sales.orders o JOIN crm.customers c USING (customer_id) "
               "WHERE o.status = 'shipped' AND o.amount > 12.5")
    finished = spans.get_finished_spans()
    (query,) = _by_name(finished, "query")
    (plan,) = _by_name(finished, "plan")
    scans = _by_name(finished, "scan")
    (engine,) = _by_name(finished, "engine")
    assert len(scans) == 2
    for child in (plan, engine, *scans):
        assert child.parent is not None and child.parent.span_id == query.context.span_id
        assert child.context.trace_id == query.context.trace_id
    systems = {s.attributes["meshfabric.product"]: s.attributes for s in scans}
    orders, customers = systems["sales.orders"], systems["crm.customers"]
    assert orders["db.system"] == "sqlite" and orders["db.namespace"] == "shop_db"
    assert customers["db.system"] == "duckdb" and customers["db.namespace"] == "lake"
    text = orders["db.query.text"]
    assert "SELECT" in text.upper() and "?" in text
    assert "shipped" not in text and "12.5" not in text  # no value in a span
    assert isinstance(orders["meshfabric.rows"], int)
    assert "shipped" not in query.attributes["db.query.text"] and "12.5" not in query.attributes["db.query.text"]
    assert query.attributes["meshfabric.decision"] == "allowed" and engine.attributes["db.system"] == "duckdb"
    assert plan.attributes["meshfabric.scans"] == 2


def test_a_failed_query_span_is_an_error(client: TestClient, spans: Any) -> None:
    from meshfabric.errors import QueryError

    mesh: Mesh = client.app.state.mesh  # type: ignore[attr-defined]
    spans.clear()
    with pytest.raises(QueryError):
        mesh.query("SELECT nope FROM sales.orders")
    (query,) = _by_name(spans.get_finished_spans(), "query")
    assert not query.status.is_ok and query.attributes["meshfabric.decision"] == "denied"


def test_rest_span_continues_the_incoming_traceparent(client: TestClient, spans: Any) -> None:
    spans.clear()
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    r = client.post("/api/v1/query", json={"sql": "SELECT count(*) AS n FROM sales.orders"},
                    headers={**ALICE, "traceparent": f"00-{trace_id}-{parent_id}-01"})
    assert r.status_code == 200
    finished = spans.get_finished_spans()
    (rest,) = [s for s in finished if s.attributes.get("http.request.method") == "POST"]
    assert format(rest.context.trace_id, "032x") == trace_id
    assert rest.parent is not None and format(rest.parent.span_id, "016x") == parent_id
    assert rest.attributes["url.path"] == "/api/v1/query" and rest.attributes["http.response.status_code"] == 200
    assert rest.name == "POST /api/v1/query"
    (query,) = _by_name(finished, "query")
    assert query.parent is not None and query.parent.span_id == rest.context.span_id
    spans.clear()
    assert client.get("/metrics").status_code == 401
    (unauth,) = spans.get_finished_spans()
    assert unauth.attributes["http.response.status_code"] == 401 and unauth.parent is None


def test_apply_and_quality_run_spans(ws: Path, client: TestClient, spans: Any) -> None:
    from meshfabric.observe.tracing import add_trace_event, create_trace

    mesh: Mesh = client.app.state.mesh  # type: ignore[attr-defined]
    spans.clear()
    with secret_env():
        mesh.apply()
    mesh.quality.run("sales.orders")
    with create_trace("publish", product="sales.orders", rows=3, skipped=None) as current:
        assert current is not None
        assert add_trace_event("batch.written", rows=3)
    finished = spans.get_finished_spans()
    (apply,) = _by_name(finished, "apply")
    assert apply.attributes["meshfabric.applied"] is True and apply.attributes["meshfabric.changes"] == 0
    (run,) = _by_name(finished, "quality.run")
    assert run.attributes["meshfabric.product"] == "sales.orders" and run.attributes["meshfabric.rules"] == 1
    (publish,) = _by_name(finished, "publish")
    assert publish.attributes == {"product": "sales.orders", "rows": 3}
    assert [e.name for e in publish.events] == ["batch.written"] and publish.events[0].attributes["rows"] == 3
    assert not add_trace_event("outside any span")


def test_failed_queries_record_latency_in_the_audit(client: TestClient) -> None:
    mesh: Mesh = client.app.state.mesh  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="nope"):
        mesh.query("SELECT nope FROM sales.orders")
    (entry,) = mesh.access.audit_log(action="query", decision="denied", limit=1)
    assert entry.latency_ms is not None and entry.latency_ms > 0


def test_the_scrape_text_is_precomputed(ws: Path) -> None:
    """By default a scrape returns the text rendered last (at most refresh_seconds old): the
    first scrape renders, a background thread re-renders."""
    import time

    def moved(text: bytes) -> float:
        return _value(_families(text.decode())["meshfabric_product_rows_moved"], product="sales.orders") or 0

    from meshfabric.access.enforce import _flush_all

    _flush_all()  # movement points other tests' meshes still hold would arrive in the middle
    with secret_env(), Mesh.open(ws) as mesh:
        mesh.metrics.refresh_seconds = 3600
        first = mesh.metrics.scrape()
        before = moved(first)
        n = mesh.query("SELECT amount FROM sales.orders").stats.rows_moved
        assert n > 0
        assert mesh.metrics.scrape() == first  # not re-rendered for this scrape
        mesh.metrics.close()  # the thread stops: the next scrape renders and starts a new one
        mesh.metrics.refresh_seconds = 0.2
        assert moved(mesh.metrics.scrape()) == before + n
        mesh.query("SELECT amount FROM sales.orders")
        deadline = time.monotonic() + 20
        while moved(mesh.metrics.scrape()) != before + 2 * n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert moved(mesh.metrics.scrape()) == before + 2 * n
