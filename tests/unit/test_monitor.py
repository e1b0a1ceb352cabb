"""The store-backed monitor: points stored as MetricPointRow, judged with the history the store
holds, alerts deduplicated, events emitted, auto-resolved — and the same verdicts as the
streaming detectors on the same series."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from meshfabric.errors import MeshfabricError, NotFound
from meshfabric.quality import alerts
from meshfabric.quality.detectors import MADDetector, Point, ZScoreDetector, default_detectors, scan
from meshfabric.quality.monitor import (
    MonitorConfig,
    Observation,
    ObserveResult,
    configure,
    dedup_key,
    observe,
    record,
    series_name,
)
from meshfabric.spec.models import AlertsSpec
from meshfabric.store import Store, open_store
from meshfabric.store.models import AlertDeliveryRow, AlertRow, EventRow, MetricPointRow

T0 = datetime(2024, 3, 1, tzinfo=UTC)
PRODUCT = "sales.orders"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()


def feed(store: Store, values: list[float], *, metric: str = "row_count", column: str = "*",
         config: MonitorConfig | None = None, start: int = 0) -> list[ObserveResult]:
    """Record one point an hour, each its own run, as a quality run would."""
    return [
        record(store, [Observation(PRODUCT, metric, v, column, T0 + timedelta(hours=start + i))], config=config)
        for i, v in enumerate(values)
    ]


def events(store: Store, event_type: str) -> list[dict[str, object]]:
    with store.read() as s:
        return [r.data for r in s.scalars(select(EventRow).where(EventRow.event_type == event_type)
                                          .order_by(EventRow.seq))]


def alternating(n: int) -> list[float]:
    return [1.0 if i % 2 else -1.0 for i in range(n)]


def test_series_names() -> None:
    assert series_name(PRODUCT, "completeness", "customer_id") == "sales.orders/completeness/customer_id"
    assert series_name(PRODUCT, "row_count") == "sales.orders/row_count/*"
    assert alerts.split_series("sales.orders/row_count/*") == (PRODUCT, "row_count", "*")
    long = "p/" + "m" * 600 + "/c"
    assert len(dedup_key(long, "zscore")) <= 512 and dedup_key(long, "zscore") != dedup_key(long + "x", "zscore")


def test_step_through_the_store_gives_the_streaming_verdicts_as_one_alert_per_detector(store: Store) -> None:
    rng = random.Random(2)
    step = 200
    values = [(10 if i < step else 20) + rng.uniform(-1, 1) for i in range(330)]
    results = feed(store, values)
    expected = {d.name: [i for i, _ in scan([d], [Point(T0 + timedelta(hours=i), v) for i, v in enumerate(values)])]
                for d in default_detectors()}
    seen: dict[str, list[int]] = {}
    for i, result in enumerate(results):
        for f in result.fired:
            seen.setdefault(f.alert.detector, []).append(i)
    assert seen == {k: v for k, v in expected.items() if v}
    found = alerts.list_alerts(store, product=PRODUCT)
    assert sorted(a.detector for a in found) == sorted(seen)  # deduplicated: one alert per detector
    for a in found:
        assert a.occurrences == len(seen[a.detector])
        assert a.status == "resolved"  # 10 normal points after the last firing
        assert a.series == "sales.orders/row_count/*" and a.metric == "row_count" and a.column == "*"
        assert a.ts == T0 + timedelta(hours=seen[a.detector][-1])
    assert len(events(store, "quality.alert")) == sum(len(v) for v in seen.values())
    assert sorted(e["detector"] for e in events(store, "quality.alert_resolved")) == sorted(seen)
    first = [f for f in results[step].fired]
    assert {f.reason for f in first} == {"opened"} and all(f.alert.value == pytest.approx(values[step]) for f in first)


def test_observe_points_a_run_already_committed(store: Store) -> None:
    rng = random.Random(7)
    values = [50 + rng.uniform(-1, 1) for _ in range(60)] + [90.0]
    feed(store, values[:-1])
    with store.write() as s:  # what the quality run does: store the points, commit ...
        rows = [MetricPointRow(series=series_name(PRODUCT, "mean", "amount"), product=PRODUCT, metric="mean",
                               value=values[-1], ts=T0 + timedelta(hours=60)),
                MetricPointRow(series=series_name(PRODUCT, "row_count"), product=PRODUCT, metric="row_count",
                               value=1.0, ts=T0 + timedelta(hours=60))]
        s.add_all(rows)
    # ... then hand them to the monitor with the store only
    with pytest.MonkeyPatch.context():
        result = observe(store, rows, config=MonitorConfig(detectors=(ZScoreDetector(), MADDetector())))
    # the mean series has no history yet; row_count has 60 points of 50 ± 1 and a 1
    assert {(f.alert.series, f.alert.detector) for f in result.fired} == {
        ("sales.orders/row_count/*", "zscore"), ("sales.orders/row_count/*", "mad")}
    assert all(f.alert.severity == "high" and f.alert.value == 1.0 for f in result.fired)


def test_repeats_join_the_open_alert_until_resolved_then_a_new_one_opens(store: Store) -> None:
    config = MonitorConfig(detectors=(MADDetector(window=10, min_points=5),), resolve_after=3)
    feed(store, alternating(10), config=config)
    first = feed(store, [30.0], config=config, start=10)[0]
    assert [f.reason for f in first.fired] == ["opened"]
    alert_id = first.fired[0].alert.id
    second = feed(store, [30.0], config=config, start=11)[0]
    assert [(f.alert.id, f.reason, f.alert.occurrences) for f in second.fired] == [(alert_id, "repeated", 2)]
    assert second.to_notify == []  # a repeat is counted, not sent again

    acked = alerts.acknowledge(store, alert_id, note="looking")
    assert acked.status == "acknowledged"
    assert alerts.acknowledge(store, alert_id).status == "acknowledged"  # asking twice is fine
    third = feed(store, [30.0], config=config, start=12)[0]
    assert third.fired[0].alert.id == alert_id and third.fired[0].alert.occurrences == 3
    assert alerts.get_alert(store, alert_id).status == "acknowledged"  # repeats keep the acknowledgement

    calm = feed(store, [1.0, -1.0, 1.0], config=config, start=13)
    assert [r.resolved for r in calm][:2] == [[], []]
    assert [a.id for a in calm[2].resolved] == [alert_id]
    assert alerts.get_alert(store, alert_id).status == "resolved"
    assert events(store, "quality.alert_resolved")[-1]["auto"] is True

    again = feed(store, [30.0], config=config, start=16)[0]
    assert again.fired[0].reason == "opened" and again.fired[0].alert.id != alert_id
    with pytest.raises(MeshfabricError, match="resolved"):
        alerts.acknowledge(store, alert_id)
    assert alerts.resolve(store, alert_id).status == "resolved"
    with pytest.raises(NotFound):
        alerts.get_alert(store, 10_000)
    kinds = [e["status"] for e in events(store, "quality.alert_acknowledged")]
    assert kinds == ["acknowledged"]


def test_severity_only_rises_and_escalation_is_notified(store: Store) -> None:
    config = MonitorConfig(detectors=(ZScoreDetector(),))
    feed(store, alternating(100), config=config)
    medium = feed(store, [3.5], config=config, start=100)[0]
    assert [(f.reason, f.alert.severity) for f in medium.fired] == [("opened", "medium")]
    assert [(a.id, r) for a, r in medium.to_notify] == [(medium.fired[0].alert.id, "opened")]
    high = feed(store, [4.5], config=config, start=101)[0]
    assert [(f.reason, f.alert.severity) for f in high.fired] == [("escalated", "high")]
    assert [r for _, r in high.to_notify] == ["escalated"]
    later = feed(store, [4.1], config=config, start=102)[0]  # z ≈ 3.5 against the wider window: medium
    assert [(f.reason, f.anomaly.severity, f.alert.severity) for f in later.fired] == [("repeated", "medium", "high")]
    assert [e["reason"] for e in events(store, "quality.alert")] == ["opened", "escalated", "repeated"]


def test_a_session_target_joins_the_callers_transaction(store: Store) -> None:
    config = MonitorConfig(detectors=(MADDetector(window=10, min_points=5),))
    feed(store, alternating(10), config=config)
    spike = Observation(PRODUCT, "row_count", 50.0, ts=T0 + timedelta(hours=10))

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.write() as s:
        assert record(s, [spike], config=config).fired
        raise Boom
    with store.read() as s:  # rolled back with the caller: no alert, no event, no point
        assert s.scalar(select(func.count()).select_from(AlertRow)) == 0
        assert s.scalar(select(func.count()).select_from(MetricPointRow)) == 10
    assert events(store, "quality.alert") == []

    with store.write() as s:
        result = record(s, [spike], config=config)
    assert result.deliveries == [] and [r for _, r in result.to_notify] == ["opened"]
    # nothing was sent inside the transaction; the caller delivers after its commit
    dead = MonitorConfig(webhooks=(alerts.Webhook("http://127.0.0.1:9/hook", attempts=1),))
    sent = result.deliver(store, dead)
    assert [(d.status, d.attempts) for d in sent] == [("failed", 1)]
    with store.read() as s:
        assert s.scalar(select(func.count()).select_from(AlertDeliveryRow)) == 1
    assert alerts.list_alerts(store, status="open")[0].id == result.fired[0].alert.id


def test_configuration_from_the_spec_and_per_store(store: Store) -> None:
    spec = AlertsSpec.model_validate({
        "webhooks": [{"url": "https://hooks.example/${HOOK_PATH}", "headers": {"Authorization": "Bearer ${TOKEN}"},
                      "attempts": 2, "min_severity": "high"}],
        "detectors": {"zscore": {"window": 50, "min_points": 10, "threshold": 2.5, "high": 3.5},
                      "mad": {"enabled": False},
                      "seasonal": {"period": "7d", "seasons": 4, "tolerance": "2h"}},
        "resolve_after": 0,
    })
    config = MonitorConfig.from_spec(spec)
    assert [d.name for d in config.detectors] == ["zscore", "seasonal"]
    z, seasonal = config.detectors
    assert z.settings() == {"window": 50, "min_points": 10, "threshold": 2.5, "high": 3.5}
    assert seasonal.settings()["period_seconds"] == 7 * 86400 and seasonal.settings()["tolerance_seconds"] == 7200
    assert config.webhooks[0].attempts == 2 and config.webhooks[0].min_severity == "high"
    assert config.resolve_after == 0
    defaults = MonitorConfig.from_spec(None)
    assert [d.settings() for d in defaults.detectors] == [d.settings() for d in MonitorConfig().detectors]
    assert defaults.webhooks == () and defaults.resolve_after == 10

    configure(store, MonitorConfig(detectors=(MADDetector(window=10, min_points=5),)))
    feed(store, alternating(10))
    result = feed(store, [25.0], start=10)[0]  # no explicit config: the store's is used
    assert [f.alert.detector for f in result.fired] == ["mad"]


def test_points_are_judged_in_time_order_and_non_finite_values_skipped(store: Store) -> None:
    config = MonitorConfig(detectors=(MADDetector(window=10, min_points=5),))
    obs = [Observation(PRODUCT, "row_count", v, ts=T0 + timedelta(hours=i)) for i, v in enumerate(alternating(10))]
    obs.append(Observation(PRODUCT, "row_count", math.nan, ts=T0 + timedelta(hours=10)))
    obs.append(Observation(PRODUCT, "row_count", 30.0, ts=T0 + timedelta(hours=11)))
    result = record(store, list(reversed(obs)), config=config)
    assert result.points == 11  # the NaN is not stored
    assert [f.alert.value for f in result.fired] == [30.0]
