"""Usage and performance from hand-written audit rows, on SQLite and on PostgreSQL (the hour
bucket and the prefix match are dialect-specific), plus the collector's loose index scan and
compaction on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from meshfabric.observe.metrics import compact, latest, product_snapshot
from meshfabric.observe.prometheus import StoreCollector
from meshfabric.observe.usage import percentile, query_performance, usage_by_hour
from meshfabric.spec.observe_models import ObservabilitySpec
from meshfabric.store import Store
from meshfabric.store.models import DomainRow, MetricPointRow, ProductRow
from meshfabric.store.models_access import AuditRow

H = datetime(2026, 5, 4, 10, tzinfo=UTC)


@pytest.fixture
def store(both_stores: Store) -> Store:
    rows = [  # principal, resource, decision, latency, at
        ("alice", "sales.orders", "allowed", 10.0, H + timedelta(minutes=1)),
        ("alice", "sales.orders", "allowed", 30.0, H + timedelta(minutes=59, seconds=59)),
        ("bob", "sales.orders,crm.customers", "allowed", 20.0, H + timedelta(minutes=30)),
        ("bob", "sales.orders", "denied", 2.0, H + timedelta(hours=1, minutes=5)),
        ("carol", "crm.customers", "error", 500.0, H + timedelta(hours=1, minutes=6)),
        ("dave", "sales.orders_x", "allowed", 99.0, H + timedelta(minutes=2)),  # another product: _ is no wildcard
        ("erin", "sales.orders", "allowed", 40.0, H + timedelta(hours=3)),  # outside [H, H+3h)
    ]
    with both_stores.engine.begin() as conn:
        conn.execute(insert(AuditRow), [{"principal": p, "action": "query", "resource": r, "decision": d,
                                         "latency_ms": ms, "at": at} for p, r, d, ms, at in rows])
        conn.execute(insert(AuditRow), [{"principal": "alice", "action": "explain", "resource": "sales.orders",
                                         "decision": "allowed", "latency_ms": 1.0, "at": H}])
    return both_stores


def test_usage_by_hour(store: Store) -> None:
    hours = usage_by_hour(store, product="sales.orders", since=H, until=H + timedelta(hours=3))
    assert [h["hour"] for h in hours] == [(H + timedelta(hours=i)).isoformat() for i in range(3)]
    assert [(h["queries"], h["errors"], h["principals"]) for h in hours] == [(3, 0, 2), (1, 1, 1), (0, 0, 0)]
    assert hours[0]["by_principal"] == {"alice": {"queries": 2, "errors": 0}, "bob": {"queries": 1, "errors": 0}}
    crm = usage_by_hour(store, domain="crm", since=H, until=H + timedelta(hours=2))
    assert [(h["queries"], h["errors"]) for h in crm] == [(1, 0), (1, 1)]
    everything = usage_by_hour(store, since=H, until=H + timedelta(hours=2))
    assert sum(h["queries"] for h in everything) == 6


def test_query_performance(store: Store) -> None:
    perf = query_performance(store, product="sales.orders", since=H, until=H + timedelta(hours=2))
    assert perf["queries"] == 4 and perf["errors"] == 1 and perf["error_rate"] == 0.25
    assert perf["p50_ms"] == 20.0 and perf["p95_ms"] == 30.0  # nearest rank over 10, 20, 30
    assert perf["throughput_per_hour"] == 2.0 and perf["peak_per_hour"] == 3
    empty = query_performance(store, product="hr.salaries", since=H, until=H + timedelta(hours=1))
    assert empty["queries"] == 0 and empty["error_rate"] is None and empty["p95_ms"] is None
    with pytest.raises(ValueError):
        query_performance(store, since=H, until=H)


def test_percentile() -> None:
    assert percentile([], 0.5) is None
    assert percentile([1.0], 0.95) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0 and percentile([1.0, 2.0, 3.0, 4.0], 0.95) == 4.0


def test_latest_collector_and_compact(store: Store) -> None:
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(insert(DomainRow), [{"name": "sales", "owners": []}])
        conn.execute(insert(ProductRow), [{"domain": "sales", "name": "orders", "owner": "o", "status": "published",
                                           "version": "1", "source": "db", "spec": {}, "spec_hash": "",
                                           "columns": []}])
        conn.execute(insert(MetricPointRow), [
            {"series": s, "product": s.split("/")[0], "metric": s.split("/")[1], "value": v, "ts": ts}
            for s, v, ts in [("sales.orders/score/*", 0.5, now - timedelta(days=4)),
                             ("sales.orders/score/*", 0.9, now - timedelta(hours=1)),
                             ("sales.orders/score.validity/*", 0.8, now - timedelta(hours=1)),
                             ("sales.orders/availability", 1.0, now - timedelta(minutes=3)),
                             ("sales.orders_x/availability", 0.0, now),
                             ("sales.orders/query.rows_moved/db", 12.0, now - timedelta(minutes=3))]])
    assert {p.metric: p.value for p in latest(store, "sales.orders").values()} == {
        "score": 0.9, "score.validity": 0.8, "availability": 1.0, "query.rows_moved": 12.0}
    snap = product_snapshot(store, "sales.orders")
    assert snap["quality"]["overall"]["value"] == 0.9 and snap["availability"]["value"] == 1.0
    assert snap["freshness_minutes"] is None and snap["quality"]["dimensions"]["validity"]["value"] == 0.8

    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store))  # type: ignore[arg-type]
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    assert [s.value for s in families["meshfabric_product_quality_score"].samples
            if s.labels["dimension"] == "overall"] == [0.9]
    assert [s.value for s in families["meshfabric_product_rows_moved"].samples] == [12.0]

    result = compact(store, ObservabilitySpec(retention="30d", downsample_after="2d"), now)
    assert result.folded_points == result.aggregates <= 1
    assert {p.metric: p.value for p in latest(store, "sales.orders").values()}["score"] == 0.9
