"""The /metrics collector over a hand-filled store: latency quantiles from buckets, products
split out of multi-product audit resources, unknown names kept out of the labels, the bounded
principal family, and the incremental reading of metric points (latest values, window sums,
compaction aggregates that must not count twice)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert

from meshfabric.observe.prometheus import LATENCY_BUCKETS_MS, StoreCollector, quantile
from meshfabric.store import Store, open_store
from meshfabric.store.models import DomainRow, MetricPointRow, ProductRow
from meshfabric.store.models_access import AuditRow


def seed_products(store: Store, fqns: list[str]) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(DomainRow), [{"name": d, "owners": []} for d in sorted({f.split(".")[0] for f in fqns})])
        conn.execute(insert(ProductRow), [
            {"domain": f.split(".")[0], "name": f.split(".")[1], "owner": "o", "status": "published",
             "version": "1", "source": "db", "spec": {}, "spec_hash": "", "columns": []} for f in fqns])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    seed_products(s, ["sales.orders", "crm.customers"])
    yield s
    s.close()


def _audit(store: Store, rows: list[tuple[str, str, str, float | None, datetime]]) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(AuditRow), [{"principal": p, "action": "query", "resource": r, "decision": d,
                                         "latency_ms": ms, "at": at} for p, r, d, ms, at in rows])


def _point(store: Store, series: str, value: float, ts: datetime) -> None:
    product, metric = series.split("/")[0], series.split("/")[1]
    with store.engine.begin() as conn:
        conn.execute(insert(MetricPointRow), [{"series": series, "product": product, "metric": metric,
                                               "value": value, "ts": ts}])


def _scrape(collector: StoreCollector) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]
    return {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}


def _v(family: Any, **labels: str) -> float | None:
    found = [s.value for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1
    return found[0] if found else None


def test_quantile_by_hand() -> None:
    buckets = [(1.0, 0), (10.0, 5), (100.0, 10), (float("inf"), 10)]
    assert quantile(0.5, buckets, 10) == pytest.approx(10.0)
    assert quantile(0.95, buckets, 10) == pytest.approx(91.0)
    assert quantile(0.5, buckets, 0) is None
    assert quantile(0.99, [(1.0, 0), (float("inf"), 4)], 4) == 1.0


@given(st.lists(st.floats(min_value=0.01, max_value=50_000), min_size=1, max_size=200))
def test_quantiles_fall_in_the_right_bucket(latencies: list[float]) -> None:
    counts = [sum(1 for x in latencies if x <= b) for b in LATENCY_BUCKETS_MS]
    buckets = [*zip(LATENCY_BUCKETS_MS, counts, strict=True), (float("inf"), len(latencies))]
    ordered = sorted(latencies)
    for q in (0.5, 0.95):
        got = quantile(q, buckets, len(latencies))
        assert got is not None
        exact = ordered[max(0, int(q * len(ordered) + 0.999999) - 1)]
        upper = next(b for b in LATENCY_BUCKETS_MS if exact <= b)
        lower = max([0.0, *[b for b in LATENCY_BUCKETS_MS if b < upper]])
        assert lower - 1e-9 <= got <= upper + 1e-9


def test_audit_families(store: Store) -> None:
    now = datetime.now(UTC)
    _audit(store, [
        ("alice", "sales.orders", "allowed", 5.0, now),
        ("alice", "sales.orders", "allowed", 20.0, now),
        ("bob", "sales.orders,crm.customers", "allowed", 200.0, now),
        ("bob", "sales.orders", "denied", 1.0, now),
        ("carol", "sales.orders", "error", 3000.0, now),
        ("mallory", "zz.not_a_product,sales.orders_x", "denied", 1.0, now),
        ("alice", "sales.orders", "allowed", 7.0, now - timedelta(hours=2)),  # outside the window
    ])
    families = _scrape(StoreCollector(store, top_principals=2))
    q = families["meshfabric_product_queries"]
    assert _v(q, domain="sales", product="sales.orders", outcome="allowed") == 3
    assert _v(q, product="sales.orders", outcome="denied") == 1
    assert _v(q, product="sales.orders", outcome="error") == 1
    assert _v(q, domain="crm", product="crm.customers", outcome="allowed") == 1
    assert {s.labels["product"] for s in q.samples} == {"sales.orders", "crm.customers"}
    lat = families["meshfabric_product_query_latency_seconds"]
    p50 = _v(lat, product="sales.orders", quantile="0.5")
    p95 = _v(lat, product="sales.orders", quantile="0.95")
    assert p50 is not None and p95 is not None
    assert 0.010 <= p50 <= 0.025 and 0.100 <= p95 <= 0.250  # 20 ms and 200 ms, within their buckets
    principals = families["meshfabric_principal_queries"]
    assert _v(principals, principal="alice", outcome="allowed") == 2
    assert _v(principals, principal="bob", outcome="denied") == 1
    assert _v(principals, principal="other", outcome="error") == 1  # carol
    assert _v(principals, principal="other", outcome="denied") == 1  # mallory
    assert _v(principals, principal="carol") is None


def test_points_are_read_incrementally(store: Store) -> None:
    now = datetime.now(UTC)
    _point(store, "sales.orders/score/*", 0.9, now - timedelta(hours=5))
    _point(store, "sales.orders/score.completeness/*", 0.8, now - timedelta(hours=5))
    _point(store, "sales.orders/query.rows_moved/db", 10, now - timedelta(minutes=5))
    _point(store, "sales.orders/query.rows_moved/db", 99, now - timedelta(hours=3))  # outside the window
    _point(store, "sales.orders/query.bytes_moved/db", 640, now - timedelta(minutes=5))
    _point(store, "sales.orders/freshness.minutes", 30, now - timedelta(minutes=1))
    _point(store, "ghost.thing/availability", 0, now)
    collector = StoreCollector(store)
    first = _scrape(collector)
    score = first["meshfabric_product_quality_score"]
    assert _v(score, product="sales.orders", dimension="overall") == 0.9
    assert _v(score, product="sales.orders", dimension="completeness") == 0.8
    assert _v(first["meshfabric_product_rows_moved"], product="sales.orders", source="db") == 10
    assert _v(first["meshfabric_product_bytes_moved"], product="sales.orders", source="db") == 640
    assert _v(first["meshfabric_product_freshness_minutes"], product="sales.orders") == 30
    assert not first["meshfabric_product_availability"].samples

    _point(store, "sales.orders/score/*", 0.7, now)
    _point(store, "sales.orders/score/*", 0.1, now - timedelta(days=3))  # a compaction aggregate: older
    _point(store, "sales.orders/query.rows_moved/db", 5, now)
    _point(store, "sales.orders/query.rows_moved/db", 1000, now - timedelta(days=3))  # aggregate: not in window
    _point(store, "crm.customers/availability", 1, now)
    second = _scrape(collector)
    assert _v(second["meshfabric_product_quality_score"], product="sales.orders", dimension="overall") == 0.7
    assert _v(second["meshfabric_product_rows_moved"], product="sales.orders", source="db") == 15
    assert _v(second["meshfabric_product_availability"], domain="crm", product="crm.customers") == 1
    # nothing new: the same values, nothing counted twice
    third = _scrape(collector)
    assert _v(third["meshfabric_product_rows_moved"], product="sales.orders", source="db") == 15
    assert collector.last_seconds < 1


def test_the_window_slides(store: Store) -> None:
    now = datetime.now(UTC)
    collector = StoreCollector(store, window=timedelta(seconds=2))
    _point(store, "sales.orders/query.rows_moved/db", 4, now)
    assert _v(_scrape(collector)["meshfabric_product_rows_moved"], product="sales.orders") == 4
    collector._moved = type(collector._moved)((ts - timedelta(seconds=5), s, v) for ts, s, v in collector._moved)
    assert _v(_scrape(collector)["meshfabric_product_rows_moved"], product="sales.orders") == 0
