"""Detectors on synthetic series: each scenario states where alerts must fire, and any alert
elsewhere is a failure (false positives count).

Noise is uniform on [-1, 1] from a seeded generator: bounded, so a 3-sigma rule has no
legitimate reason to fire on it, which makes "no alert elsewhere" a fair requirement.
"""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from meshfabric.quality.detectors import (
    Lookback,
    MADDetector,
    Point,
    SeasonalDetector,
    SeriesStream,
    ZScoreDetector,
    default_detectors,
    robust_center_scale,
    scan,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def hourly(values: list[float]) -> list[Point]:
    return [Point(T0 + timedelta(hours=i), float(v)) for i, v in enumerate(values)]


def noise(seed: int) -> random.Random:
    return random.Random(seed)


def fired(values: list[float], detector: object) -> list[int]:
    return [i for i, _ in scan([detector], hourly(values))]  # type: ignore[list-item]


def by_detector(values: list[float]) -> dict[str, list[int]]:
    return {d.name: fired(values, d) for d in default_detectors()}


# ---------------------------------------------------------------------------------------------
# z-score: the seed's thresholds


def alternating(n: int = 100) -> list[Point]:
    """±1 alternating: mean 0 and sample stddev √(n/(n−1)), known exactly."""
    return hourly([1.0 if i % 2 else -1.0 for i in range(n)])


@pytest.mark.parametrize(("value", "severity"), [(2.9, None), (3.5, "medium"), (-3.5, "medium"), (4.5, "high")])
def test_zscore_thresholds_follow_the_seed(value: float, severity: str | None) -> None:
    history = alternating()
    point = Point(T0 + timedelta(hours=100), value)
    anomaly = ZScoreDetector().check(history, point)
    z = value / math.sqrt(100 / 99)
    if severity is None:
        assert anomaly is None
        return
    assert anomaly is not None
    assert anomaly.severity == severity
    assert anomaly.score == pytest.approx(z)
    assert anomaly.expected == pytest.approx(0.0)
    assert ("above" if value > 0 else "below") in anomaly.message


def test_zscore_judges_a_point_against_a_baseline_without_it() -> None:
    # The seed's zscore over the window *including* the point caps |z| at (n-1)/sqrt(n):
    # 2.85 for n = 10, so with 9 points of history it could never alert. Excluding the point, it does.
    history = hourly([1.0, 2.0] * 4 + [1.0])
    point = Point(T0 + timedelta(hours=9), 1000.0)
    with_point = [p.value for p in history] + [1000.0]
    seed_z = (1000.0 - statistics.fmean(with_point)) / statistics.pstdev(with_point)
    assert seed_z < 3
    anomaly = ZScoreDetector(window=9, min_points=9).check(history, point)
    assert anomaly is not None and anomaly.score is not None and anomaly.score > 10


def test_zscore_uses_only_its_window() -> None:
    history = hourly([1000.0] * 50 + [1.0 if i % 2 else -1.0 for i in range(100)])
    anomaly = ZScoreDetector(window=100).check(history, Point(T0 + timedelta(hours=150), 3.5))
    assert anomaly is not None and anomaly.severity == "medium"


@pytest.mark.parametrize("detector", [ZScoreDetector(min_points=30), MADDetector(min_points=30)])
def test_warm_up_before_alerting(detector: ZScoreDetector | MADDetector) -> None:
    history = hourly([1.0 if i % 2 else -1.0 for i in range(30)])
    wild = Point(T0 + timedelta(hours=30), 100.0)
    assert detector.check(history[:29], wild) is None
    assert detector.check(history, wild) is not None


@pytest.mark.parametrize("detector", [ZScoreDetector(min_points=5), MADDetector(min_points=5)])
def test_constant_series_is_not_divided_by_zero(detector: ZScoreDetector | MADDetector) -> None:
    history = hourly([5.0] * 40)
    ts = T0 + timedelta(hours=40)
    assert detector.check(history, Point(ts, 5.0)) is None
    assert detector.check(history, Point(ts, 5.0 + 1e-12)) is None
    anomaly = detector.check(history, Point(ts, 6.0))
    assert anomaly is not None
    assert anomaly.severity == "high" and anomaly.score is None and anomaly.expected == 5.0
    assert "constant" in anomaly.message


def test_constant_seasonal_baseline_is_handled() -> None:
    values = [7.0] * (24 * 9)
    detector = SeasonalDetector()
    assert fired(values, detector) == []
    values[-1] = 8.0
    hits = scan([detector], hourly(values))
    assert [i for i, _ in hits] == [len(values) - 1]
    assert hits[0][1].score is None and hits[0][1].severity == "high"


def test_non_finite_points_are_not_judged() -> None:
    history = alternating()
    for detector in default_detectors():
        assert detector.check(history, Point(T0 + timedelta(hours=100), math.nan)) is None


# ---------------------------------------------------------------------------------------------
# median / MAD


def test_mad_is_not_blinded_by_an_earlier_outlier() -> None:
    rng = noise(3)
    values = [10 + rng.uniform(-1, 1) for _ in range(100)]
    values[50] = 10_000.0
    history = hourly(values)
    point = Point(T0 + timedelta(hours=100), 14.0)
    assert ZScoreDetector().check(history, point) is None  # the outlier inflated the stddev
    anomaly = MADDetector().check(history, point)
    assert anomaly is not None and anomaly.score is not None and anomaly.score > 3.5


def test_mad_falls_back_to_mean_absolute_deviation() -> None:
    history = hourly([0.0] * 95 + [1.0] * 5)  # MAD is 0: most values are equal
    center, scale = robust_center_scale([p.value for p in history])
    assert center == 0.0 and scale == pytest.approx(1.2533 * 0.05)
    assert MADDetector().check(history, Point(T0 + timedelta(hours=100), 0.0)) is None
    anomaly = MADDetector().check(history, Point(T0 + timedelta(hours=100), 1.0))
    assert anomaly is not None and anomaly.score == pytest.approx(1 / (1.2533 * 0.05))


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        ZScoreDetector(window=10, min_points=20)
    with pytest.raises(ValueError):
        MADDetector(threshold=5, high=4)
    with pytest.raises(ValueError):
        SeasonalDetector(period=timedelta(hours=1), tolerance=timedelta(minutes=31))
    with pytest.raises(ValueError):
        SeasonalDetector(seasons=2, min_seasons=3)


# ---------------------------------------------------------------------------------------------
# Streaming


def test_stream_keeps_bounded_history_and_time_order() -> None:
    stream = SeriesStream([ZScoreDetector(window=10, min_points=5)])
    for p in hourly([float(i % 3) for i in range(50)]):
        stream.push(p)
    assert len(stream._history) == 10
    with pytest.raises(ValueError):
        stream.push(Point(T0, 1.0))


def test_lookback_selects_by_count_and_span() -> None:
    history = hourly(list(range(10)))
    now = T0 + timedelta(hours=10)
    assert [p.value for p in Lookback(3).select(history, now)] == [7, 8, 9]
    assert [p.value for p in Lookback(100, timedelta(hours=2)).select(history, now)] == [8, 9]


def test_stream_and_pure_check_agree() -> None:
    rng = noise(11)
    values = [20 + rng.uniform(-1, 1) for _ in range(240)]
    values[200] = 40.0
    points = hourly(values)
    detector = MADDetector()
    streamed = [i for i, _ in scan([detector], points)]
    direct = [i for i in range(len(points)) if detector.check(points[:i], points[i]) is not None]
    assert streamed == direct == [200]


# ---------------------------------------------------------------------------------------------
# Scenarios: alerts at the expected points and nowhere else


def test_spike_fires_once_at_the_spike_on_every_detector() -> None:
    rng = noise(1)
    values = [50 + rng.uniform(-1, 1) for _ in range(300)]
    values[200] = 70.0
    for name, hits in by_detector(values).items():
        assert hits == [200], name


def test_no_alert_on_clean_bounded_noise() -> None:
    for seed in (2, 5):
        rng = noise(seed)
        assert by_detector([50 + rng.uniform(-1, 1) for _ in range(300)]) == {
            "zscore": [], "mad": [], "seasonal": []
        }


def test_step_change_fires_from_the_step_until_the_baseline_adapts() -> None:
    rng = noise(2)
    step = 250
    values = [(10 if i < step else 20) + rng.uniform(-1, 1) for i in range(450)]
    hits = by_detector(values)
    for name, until in (("zscore", step + 100), ("mad", step + 100), ("seasonal", step + 24)):
        assert hits[name], name
        assert hits[name][0] == step, name  # first alert exactly at the step
        assert all(step <= i < until for i in hits[name]), (name, hits[name])  # and none after adapting
    # the seasonal level catches up within half a period: one contiguous run, no echo when the
    # step leaves the references a few days later
    assert hits["seasonal"] == list(range(step, step + len(hits["seasonal"])))


def test_slow_drift_is_followed_not_alerted() -> None:
    rng = noise(4)
    values = [10 + 0.05 * i + rng.uniform(-1, 1) for i in range(700)]
    assert by_detector(values) == {"zscore": [], "mad": [], "seasonal": []}
    values[500] += 8  # a spike on top of the drift is still caught, exactly there
    assert by_detector(values) == {"zscore": [500], "mad": [500], "seasonal": [500]}


def seasonal_series(seed: int, days: int = 14) -> list[float]:
    rng = noise(seed)
    return [100 + 20 * math.sin(2 * math.pi * (i % 24) / 24) + rng.uniform(-1, 1) for i in range(24 * days)]


def test_daily_seasonality_is_normal() -> None:
    assert by_detector(seasonal_series(6)) == {"zscore": [], "mad": [], "seasonal": []}


def test_value_wrong_for_its_hour_is_caught_only_by_the_seasonal_detector() -> None:
    values = seasonal_series(6)
    trough = 24 * 10 + 18  # 18:00 is the daily minimum (~80)
    values[trough] = 118.0  # a daily-peak value at the trough: inside the range of the series
    hits = by_detector(values)
    assert hits == {"zscore": [], "mad": [], "seasonal": [trough]}
    anomaly = SeasonalDetector().check(hourly(values)[:trough], hourly(values)[trough])
    assert anomaly is not None and anomaly.severity == "high"
    assert anomaly.expected == pytest.approx(80, abs=1.5)


def test_weekly_period_with_daily_points() -> None:
    # one point a day, weekend dip; the same weekday of earlier weeks is the reference
    rng = noise(8)
    values = [(40 if i % 7 in (5, 6) else 100) + rng.uniform(-1, 1) for i in range(7 * 20)]
    weekly = SeasonalDetector(period=timedelta(days=7), seasons=4, baseline=21, min_baseline=14, baseline_periods=4)
    points = [Point(T0 + timedelta(days=i), v) for i, v in enumerate(values)]
    assert [i for i, _ in scan([weekly], points)] == []
    odd = 7 * 15 + 5  # a Saturday with a weekday's volume
    points[odd] = Point(points[odd].ts, 100.0)
    assert [i for i, _ in scan([weekly], points)] == [odd]
