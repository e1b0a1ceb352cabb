"""Retention and hourly downsampling of metric points: the folding math on hand-built series
(hypothesis for the edges) and :func:`compact` on a real store — one transaction, idempotent,
sums of amounts kept exact, levels kept as hourly means, nothing newer than
``downsample_after`` touched, nothing older than ``retention`` kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from meshfabric.observe.metrics import compact, duration, fold, hour_of, utc
from meshfabric.spec.observe_models import ObservabilitySpec
from meshfabric.store import Store, open_store
from meshfabric.store.models import MetricPointRow as P

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield s
    s.close()


def _add(store: Store, series: str, metric: str, points: list[tuple[datetime, float]]) -> None:
    with store.engine.begin() as conn:
        conn.execute(insert(P), [{"series": series, "product": series.split("/")[0], "metric": metric, "value": v,
                                  "ts": ts} for ts, v in points])


def _points(store: Store, series: str) -> list[tuple[datetime, float]]:
    with store.read() as s:
        return [(utc(ts), v) for ts, v in s.execute(select(P.ts, P.value).where(P.series == series).order_by(P.ts))]


def test_durations() -> None:
    assert duration("90d") == timedelta(days=90) and duration("2d") == timedelta(days=2)
    assert duration("1.5h") == timedelta(minutes=90) and duration(" 30s ") == timedelta(seconds=30)
    with pytest.raises(ValueError):
        duration("soon")


def test_fold_by_hand() -> None:
    pts = [(T0 + timedelta(minutes=5), 1.0), (T0 + timedelta(minutes=55), 3.0), (T0 + timedelta(minutes=60), 10.0)]
    assert fold(pts, sum_values=False) == [(T0, 2.0), (T0 + timedelta(hours=1), 10.0)]
    assert fold(pts, sum_values=True) == [(T0, 4.0), (T0 + timedelta(hours=1), 10.0)]
    assert fold([], sum_values=True) == []


moments = st.integers(min_value=0, max_value=72 * 3600 - 1).map(lambda s: T0 + timedelta(seconds=s))
values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(st.lists(st.tuples(moments, values), max_size=60))
def test_fold_keeps_sums_and_means(points: list[tuple[datetime, float]]) -> None:
    summed = fold(points, sum_values=True)
    assert sum(v for _, v in summed) == pytest.approx(sum(v for _, v in points), abs=1e-6)
    assert [h for h, _ in summed] == sorted({hour_of(ts) for ts, _ in points})
    assert all(h.minute == h.second == h.microsecond == 0 for h, _ in summed)
    for hour, mean in fold(points, sum_values=False):
        inside = [v for ts, v in points if hour_of(ts) == hour]
        assert min(inside) - 1e-6 <= mean <= max(inside) + 1e-6
        assert mean == pytest.approx(sum(inside) / len(inside), abs=1e-6)
    # folding the folded changes nothing (one point at each hour's start)
    assert fold(summed, sum_values=True) == summed


def test_compact_on_a_store(store: Store) -> None:
    spec = ObservabilitySpec(retention="30d", downsample_after="2d")
    old = NOW - timedelta(days=5)
    hour = hour_of(old)
    level = [(hour + timedelta(minutes=m), float(m)) for m in (0, 10, 20, 30)]  # mean 15
    amounts = [(hour + timedelta(minutes=m), 100.0) for m in (1, 2, 3)] + [(hour + timedelta(hours=1, minutes=5), 7.0)]
    recent = [(NOW - timedelta(hours=3, minutes=m), 1.0) for m in (1, 2)]
    expired = [(NOW - timedelta(days=31), 9.0)]
    _add(store, "a.b/freshness.minutes", "freshness.minutes", level + recent + expired)
    _add(store, "a.b/query.rows_moved/db", "query.rows_moved", amounts + recent)
    first = compact(store, spec, NOW)
    assert first.deleted_expired == 1 and first.folded_points == 4 and first.aggregates == 2
    # a probe's points are evaluations (SLO compliance counts them): kept, only the expired one goes
    assert _points(store, "a.b/freshness.minutes") == sorted(level + recent)
    assert _points(store, "a.b/query.rows_moved/db") == [(hour, 300.0), (hour + timedelta(hours=1), 7.0),
                                                         *sorted(recent)]
    again = compact(store, spec, NOW)
    assert again.to_dict() == {"deleted_expired": 0, "folded_points": 0, "aggregates": 0}
    assert _points(store, "a.b/query.rows_moved/db")[0] == (hour, 300.0)


def test_compact_leaves_the_partial_hour_at_the_cutoff(store: Store) -> None:
    spec = ObservabilitySpec(retention="30d", downsample_after="2d")
    cutoff = NOW - timedelta(days=2)  # 12:30 two days ago: the hour 12:00–13:00 is not whole yet
    pts = [(cutoff - timedelta(minutes=20), 1.0), (cutoff - timedelta(minutes=10), 3.0)]
    _add(store, "a.b/query.bytes_moved/db", "query.bytes_moved", pts)
    assert compact(store, spec, NOW).aggregates == 0
    assert _points(store, "a.b/query.bytes_moved/db") == pts
    assert compact(store, spec, NOW + timedelta(hours=1)).aggregates == 1
    assert _points(store, "a.b/query.bytes_moved/db") == [(hour_of(cutoff), 4.0)]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=20 * 24 * 60), st.integers(min_value=0, max_value=50)),
                max_size=40))
def test_compact_keeps_every_total(tmp_path_factory: pytest.TempPathFactory, raw: list[tuple[int, int]]) -> None:
    """Whatever the points: after compaction the retained total of an amount is what it was,
    nothing older than the retention is left, and points newer than the cutoff are untouched."""
    s = open_store(f"sqlite:///{tmp_path_factory.mktemp('c') / 'store.db'}")
    try:
        spec = ObservabilitySpec(retention="15d", downsample_after="3d")
        points = [(NOW - timedelta(minutes=m), float(v)) for m, v in raw]
        if points:
            _add(s, "x.y/query.bytes_moved/src", "query.bytes_moved", points)
        compact(s, spec, NOW)
        kept = _points(s, "x.y/query.bytes_moved/src")
        retained = [(ts, v) for ts, v in points if ts >= NOW - timedelta(days=15)]
        assert sum(v for _, v in kept) == pytest.approx(sum(v for _, v in retained))
        assert all(ts >= NOW - timedelta(days=15) for ts, _ in kept)
        cutoff = hour_of(NOW - timedelta(days=3))
        assert sorted(p for p in kept if p[0] >= cutoff) == sorted(p for p in retained if p[0] >= cutoff)
        assert len({ts for ts, _ in kept if ts < cutoff}) == len([ts for ts, _ in kept if ts < cutoff])
    finally:
        s.close()
