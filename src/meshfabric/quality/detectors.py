"""Anomaly detectors over one metric series: pure functions of (history, new point).

Every quality observation is a point of a series (``sales.orders/completeness/customer_id``).
A detector looks at the points *before* a new one and says whether the new one is anomalous.
The same :meth:`Detector.check` serves the store-backed monitor (which loads the history the
detector's :class:`Lookback` asks for with one bounded query) and :class:`SeriesStream`, which
feeds points one at a time with bounded memory; both see exactly the same history, so a series
replayed through either gives the same verdicts.

Three detectors, each with a warm-up (no verdict until enough history exists):

``zscore`` — the seed's DataQualityMonitor: z = (x − mean) / stddev over the last ``window``
    points (default 100); |z| > 3 alerts, |z| > 4 is high severity. One deliberate change: the
    new point is *not* part of its own baseline. The seed's ``stats.zscore(values)[-1]`` includes
    it, which caps |z| at (n − 1)/√n — with 10 points of history no value, however wild, could
    reach 3 — and lets an outlier inflate the stddev that judges it. The sample stddev (n − 1) is
    used.
``mad`` — robust z = (x − median) / (1.4826 · MAD) over the same window, so one earlier outlier
    does not blind the detector for the next 100 points. When more than half the window is one
    value (MAD = 0) the scale falls back to 1.2533 · mean absolute deviation around the median
    (Iglewicz & Hoaglin's modified z-score); |z| > 3.5 alerts, > 5 is high.
``seasonal`` — compares a value with what is usual at the same phase of earlier periods (same
    hour on the last ``seasons`` days, or the same weekday of the last weeks with a 7-day
    period): expected = the level over the last period + the median offset from their own
    level of the values at that phase (see :class:`SeasonalDetector`). The residual is judged
    against the residuals of up to ``baseline`` (72) recent points (median and MAD, as above;
    |z| > 4 alerts, > 6 is high), so a daily cycle that is normal at 03:00 and at 15:00 alerts
    neither, while a 03:00 value that only ever occurs at 15:00 does. It needs several points
    per period: at least ``min_baseline`` (48) residuals within the last ``baseline_periods``
    (3) periods. Its thresholds are higher than zscore's because its scale comes from fewer,
    noisier residuals (simulated on hourly series with Gaussian noise: ~0.02 % false alerts at 4).

A *constant* baseline (stddev or scale 0) is not divided by: a value equal to it (within 1e-9
relative) is normal, any other value is a high-severity anomaly with no score, because a metric
that never moved and now moved is exactly what a monitor is for.
"""

from __future__ import annotations

import bisect
import math
import statistics
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

Severity = Literal["medium", "high"]
SEVERITIES: tuple[Severity, ...] = ("medium", "high")

#: consistency constant: 1.4826 · MAD estimates the stddev of normally distributed data
MAD_SCALE = 1.4826
#: the same for the mean absolute deviation (√(π/2)), the fallback when MAD is 0
MEAN_AD_SCALE = 1.2533
#: relative tolerance under which a baseline counts as constant
CONSTANT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Point:
    """One observation of a series."""

    ts: datetime
    value: float


@dataclass(frozen=True)
class Anomaly:
    """A detector's verdict that a point is anomalous.

    ``score`` is signed (above or below the expectation) and None when the baseline was
    constant, where no finite score exists.
    """

    detector: str
    severity: Severity
    value: float
    expected: float
    score: float | None
    message: str


@dataclass(frozen=True)
class Lookback:
    """Which earlier points a detector needs: at most ``points`` of the most recent ones, and
    when ``span`` is set only those newer than ``ts - span``. The monitor turns this into one
    bounded query per series."""

    points: int
    span: timedelta | None = None

    def select(self, history: Sequence[Point], ts: datetime) -> list[Point]:
        """The part of an ascending ``history`` (all before ``ts``) this lookback covers."""
        chosen = list(history[-self.points :]) if self.points > 0 else []
        if self.span is not None:
            oldest = ts - self.span
            chosen = [p for p in chosen if p.ts >= oldest]
        return chosen


def severity_rank(severity: str) -> int:
    """Order of severities (unknown ones rank lowest), for escalation and webhook filters."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1  # type: ignore[arg-type]


def _tolerance(center: float) -> float:
    return CONSTANT_TOLERANCE * max(1.0, abs(center))


def robust_center_scale(values: Sequence[float]) -> tuple[float, float]:
    """Median and a robust stddev estimate: 1.4826 · MAD, or 1.2533 · mean absolute deviation
    around the median when MAD is 0 (more than half the values equal); 0 only for a constant."""
    center = statistics.median(values)
    deviations = [abs(v - center) for v in values]
    scale = MAD_SCALE * statistics.median(deviations)
    if scale <= _tolerance(center):
        scale = MEAN_AD_SCALE * statistics.fmean(deviations)
    return center, scale


def _fmt(value: float) -> str:
    return f"{value:.6g}"


class Detector(ABC):
    """A rule that judges a new point against the points before it. Implementations are pure:
    the same history and point always give the same answer."""

    name: ClassVar[str]

    @abstractmethod
    def lookback(self) -> Lookback:
        """The history this detector needs before a point."""

    @abstractmethod
    def check(self, history: Sequence[Point], point: Point) -> Anomaly | None:
        """The anomaly ``point`` is, or None (normal, or still warming up).

        ``history`` is ascending by time, holds only points before ``point`` and may be longer
        than :meth:`lookback` asks for; detectors use only what their lookback covers.
        """

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The parameters, for reports and ``--json`` output."""


class _Deviation(Detector):
    """Shared by the window detectors: a center, a scale and two thresholds on |score|."""

    label: ClassVar[str]

    def __init__(self, window: int, min_points: int, threshold: float, high: float) -> None:
        if window < 2:
            raise ValueError("window must be at least 2 points")
        if not 2 <= min_points <= window:
            raise ValueError("min_points must be between 2 and the window")
        if not 0 < threshold <= high:
            raise ValueError("thresholds must satisfy 0 < threshold <= high")
        self.window = window
        self.min_points = min_points
        self.threshold = threshold
        self.high = high

    def lookback(self) -> Lookback:
        return Lookback(self.window)

    def settings(self) -> dict[str, Any]:
        return {"window": self.window, "min_points": self.min_points, "threshold": self.threshold,
                "high": self.high}

    @abstractmethod
    def _center_scale(self, values: Sequence[float]) -> tuple[float, float]: ...

    def check(self, history: Sequence[Point], point: Point) -> Anomaly | None:
        values = [p.value for p in history[-self.window :]]
        if len(values) < self.min_points or not math.isfinite(point.value):
            return None
        center, scale = self._center_scale(values)
        return judge(self.name, self.label, point.value, center, scale, self.threshold, self.high, len(values))


def judge(
    name: str, label: str, value: float, center: float, scale: float, threshold: float, high: float, n: int
) -> Anomaly | None:
    """The verdict for ``value`` against a baseline ``center`` ± ``scale`` (shared by every detector)."""
    deviation = value - center
    if not math.isfinite(scale) or scale <= _tolerance(center):
        if abs(deviation) <= _tolerance(center):
            return None
        return Anomaly(
            name, "high", value, center, None,
            f"{_fmt(value)} after {n} points constant at {_fmt(center)}",
        )
    score = deviation / scale
    if abs(score) <= threshold:
        return None
    severity: Severity = "high" if abs(score) > high else "medium"
    direction = "above" if score > 0 else "below"
    return Anomaly(
        name, severity, value, center, score,
        f"{_fmt(value)} is {abs(score):.2f} {label} {direction} {_fmt(center)} (over {n} points)",
    )


class ZScoreDetector(_Deviation):
    """z-score over a sliding window (the seed's detector, see the module docstring)."""

    name = "zscore"
    label = "standard deviations"

    def __init__(self, window: int = 100, min_points: int = 30, threshold: float = 3.0, high: float = 4.0) -> None:
        super().__init__(window, min_points, threshold, high)

    def _center_scale(self, values: Sequence[float]) -> tuple[float, float]:
        return statistics.fmean(values), statistics.stdev(values)


class MADDetector(_Deviation):
    """Median / MAD over a sliding window: one outlier cannot inflate the scale it is judged by."""

    name = "mad"
    label = "robust deviations"

    def __init__(self, window: int = 100, min_points: int = 30, threshold: float = 3.5, high: float = 5.0) -> None:
        super().__init__(window, min_points, threshold, high)

    def _center_scale(self, values: Sequence[float]) -> tuple[float, float]:
        return robust_center_scale(values)


class SeasonalDetector(Detector):
    """A level plus the usual offset at this phase of the period, judged against recent residuals.

    Over the points of the lookback, oldest first:

    1. a first level L1(t) = median of the values in [t − period, t), and each point's offset
       from it, d(j) = x(j) − L1(t_j);
    2. the seasonal offset of a time, S(t) = median of d at t − k·period, k = 1..``seasons``
       (the point nearest each within ``tolerance``; at least ``min_seasons`` of them);
    3. the level L(t) = median over [t − period, t) of the *deseasonalised* values x − S; and
       expected(t) = L(t) + S(t), residual(t) = x(t) − expected(t);
    4. the verdict: a robust z of the residual against the residuals of up to ``baseline`` recent
       points (their median and MAD).

    Why two levels: a raw median over one period moves by a whole rank when a single value is
    replaced (after a 03:00 spike, the day's median shifts by the gap between neighbouring values
    of the daily curve, which can be many noise-widths), so every point of the next day would
    look low. The deseasonalised values are flat, so one outlier moves their median by a noise
    gap. Why offsets from a *local* level rather than raw values a period apart: after a step
    change the level catches up within half a period and earlier offsets stay valid, so the step
    alerts once and does not echo when it leaves the reference window; a steady drift moves L and
    x together and is normal.
    """

    name = "seasonal"
    #: how many of the most recent points the store query may return at most
    MAX_POINTS = 5000

    def __init__(
        self,
        period: timedelta = timedelta(days=1),
        seasons: int = 7,
        *,
        tolerance: timedelta | None = None,
        min_seasons: int = 3,
        baseline: int = 72,
        min_baseline: int = 48,
        baseline_periods: int = 3,
        threshold: float = 4.0,
        high: float = 6.0,
    ) -> None:
        if period <= timedelta(0):
            raise ValueError("period must be positive")
        if not 1 <= min_seasons <= seasons:
            raise ValueError("min_seasons must be between 1 and seasons")
        if not 2 <= min_baseline <= baseline:
            raise ValueError("min_baseline must be between 2 and baseline")
        if baseline_periods < 1:
            raise ValueError("baseline_periods must be at least 1")
        if not 0 < threshold <= high:
            raise ValueError("thresholds must satisfy 0 < threshold <= high")
        self.period = period
        self.seasons = seasons
        self.tolerance = tolerance if tolerance is not None else period / 48
        if not timedelta(0) <= self.tolerance < period / 2:
            raise ValueError("tolerance must be below half the period")
        self.min_seasons = min_seasons
        self.baseline = baseline
        self.min_baseline = min_baseline
        self.baseline_periods = baseline_periods
        self.threshold = threshold
        self.high = high

    def lookback(self) -> Lookback:
        # baseline points reach back `baseline_periods`, the level one period more, its points'
        # references `seasons` periods more, and their first levels one period more
        span = (self.seasons + self.baseline_periods + 2) * self.period + self.tolerance
        return Lookback(self.MAX_POINTS, span)

    def settings(self) -> dict[str, Any]:
        return {"period_seconds": self.period.total_seconds(), "seasons": self.seasons,
                "tolerance_seconds": self.tolerance.total_seconds(), "min_seasons": self.min_seasons,
                "baseline": self.baseline, "min_baseline": self.min_baseline,
                "baseline_periods": self.baseline_periods, "threshold": self.threshold, "high": self.high}

    def check(self, history: Sequence[Point], point: Point) -> Anomaly | None:
        if not math.isfinite(point.value):
            return None
        window = self.lookback().select(history, point.ts)
        model = _SeasonalModel(self, [p.ts for p in window], [p.value for p in window])
        expected = model.expected(point.ts, len(window))
        if expected is None:
            return None
        residuals: list[float] = []
        oldest = point.ts - self.baseline_periods * self.period
        for i in range(len(window) - 1, -1, -1):
            if window[i].ts < oldest:
                break
            usual = model.expected(window[i].ts, i)
            if usual is not None:
                residuals.append(window[i].value - usual)
                if len(residuals) == self.baseline:
                    break
        if len(residuals) < self.min_baseline:
            return None
        center, scale = robust_center_scale(residuals)
        verdict = judge(self.name, "robust deviations", point.value - expected, center, scale,
                        self.threshold, self.high, len(residuals))
        if verdict is None:
            return None
        usual = expected + center
        if verdict.score is None:
            message = f"{_fmt(point.value)} where this phase of earlier periods always gave {_fmt(usual)}"
        else:
            direction = "above" if verdict.score > 0 else "below"
            message = (f"{_fmt(point.value)} is {abs(verdict.score):.2f} robust deviations {direction} "
                       f"{_fmt(usual)}, the usual value at this phase of the period")
        return Anomaly(self.name, verdict.severity, point.value, usual, verdict.score, message)


class _SeasonalModel:
    """The decomposition of :class:`SeasonalDetector` over one window of history. Each quantity is
    computed once, only for the points that need it. ``end`` indexes a time: the index of a
    history point, or ``len(times)`` for the point being judged (which is not in the window)."""

    def __init__(self, detector: SeasonalDetector, times: list[datetime], values: list[float]) -> None:
        self.d = detector
        self.times = times
        self.values = values
        self._first: dict[int, float | None] = {}
        self._offset: dict[int, float | None] = {}
        self._level: dict[int, float | None] = {}

    def _start(self, end: int, ts: datetime) -> int:
        return bisect.bisect_left(self.times, ts - self.d.period, 0, end)

    def first_level(self, end: int, ts: datetime) -> float | None:
        if end not in self._first:
            start = self._start(end, ts)
            self._first[end] = statistics.median(self.values[start:end]) if end > start else None
        return self._first[end]

    def _reference(self, target: datetime) -> int | None:
        i = bisect.bisect_left(self.times, target)
        best: int | None = None
        for j in (i - 1, i):
            if 0 <= j < len(self.times) and abs(self.times[j] - target) <= self.d.tolerance and (
                best is None or abs(self.times[j] - target) < abs(self.times[best] - target)
            ):
                best = j
        return best

    def offset(self, end: int, ts: datetime) -> float | None:
        """S(ts): the median offset of the points at ts − k·period from their first level.
        References lie more than half a period before ``ts``, so they come from before ``end``."""
        if end not in self._offset:
            offsets = []
            for k in range(1, self.d.seasons + 1):
                j = self._reference(ts - k * self.d.period)
                if j is not None and (level := self.first_level(j, self.times[j])) is not None:
                    offsets.append(self.values[j] - level)
            self._offset[end] = statistics.median(offsets) if len(offsets) >= self.d.min_seasons else None
        return self._offset[end]

    def level(self, end: int, ts: datetime) -> float | None:
        """L(ts): median of the deseasonalised values in [ts − period, ts)."""
        if end not in self._level:
            flat = [self.values[i] - s for i in range(self._start(end, ts), end)
                    if (s := self.offset(i, self.times[i])) is not None]
            self._level[end] = statistics.median(flat) if flat else None
        return self._level[end]

    def expected(self, ts: datetime, end: int) -> float | None:
        offset = self.offset(end, ts)
        if offset is None:
            return None
        level = self.level(end, ts)
        return None if level is None else level + offset


def default_detectors() -> tuple[Detector, ...]:
    """zscore (window 100, |z| > 3 / > 4), mad (window 100, > 3.5 / > 5), seasonal (daily, 7 days, > 4 / > 6)."""
    return (ZScoreDetector(), MADDetector(), SeasonalDetector())


class SeriesStream:
    """Feed one series a point at a time; memory stays bounded by the detectors' lookbacks.

    >>> from datetime import UTC
    >>> stream = SeriesStream([ZScoreDetector(window=10, min_points=5)])
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> [bool(stream.push(Point(t0 + timedelta(hours=i), v))) for i, v in enumerate([1, 2] * 5 + [9])][-3:]
    [False, False, True]
    """

    def __init__(self, detectors: Iterable[Detector]) -> None:
        self.detectors = tuple(detectors)
        self._history: deque[Point] = deque(maxlen=max((d.lookback().points for d in self.detectors), default=0))

    def push(self, point: Point) -> list[Anomaly]:
        """The anomalies ``point`` is, then remember it. Points must arrive in time order."""
        if self._history and point.ts < self._history[-1].ts:
            raise ValueError("points must arrive in time order")
        history = list(self._history)
        found = [a for d in self.detectors if (a := d.check(d.lookback().select(history, point.ts), point))]
        self._history.append(point)
        return found


def scan(detectors: Iterable[Detector], points: Iterable[Point]) -> list[tuple[int, Anomaly]]:
    """Every anomaly in a series with the index of its point: the streaming path over a list."""
    stream = SeriesStream(detectors)
    return [(i, a) for i, p in enumerate(points) for a in stream.push(p)]
