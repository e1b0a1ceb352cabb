"""SLO math: pure functions over recorded evaluations, no store, no clock of their own.

An **evaluation** is one judgement of an objective at a time: good or bad.

* freshness — each freshness probe point (``<fqn>/freshness.minutes``) is good when its value
  is at most ``max_minutes``;
* quality — each quality run's overall score (``<fqn>/score/*``) is good when at least
  ``min_score``;
* availability — each availability probe point (``<fqn>/availability``) is good when it is 1;
* latency — queries over the product are grouped into intervals of the product's ``every``;
  each interval with queries is one evaluation, good when the p95 of its latencies (nearest
  rank) is at most ``p95_ms``.

Over a window ending at ``end`` (evaluations with ``end - window < ts <= end``, as the seed's
``compute_slo_compliance`` counts those after the cutoff):

* **compliance** = good / total (``None`` without evaluations — the seed says 0.0, which
  reads as a total outage; no data is not an outage);
* **error budget remaining** = 1 − bad / allowed bad, allowed bad = (1 − objective) × total:
  1 is untouched, 0 spent, negative overspent (``compliance < objective`` ⟺ remaining < 0);
* **burn rate** over a span = (bad / total in the span) / (1 − objective): 1 spends the budget
  exactly over the window.

**Multi-window, multi-burn-rate alerts** (the SRE workbook, chapter 5): a rule fires only when
the burn rate exceeds its factor over *both* its long and its short span — the long span says the
budget is really going, the short one that it still is (so the alert resets soon after a
recovery). ``page``: 1 h and 5 min above 14.4× (2 % of a 30-day budget in an hour) → critical;
``ticket``: 6 h and 30 min above 6× (5 % in six hours) → high.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

ObjectiveName = Literal["freshness", "quality", "availability", "latency"]
OBJECTIVES: tuple[ObjectiveName, ...] = ("freshness", "quality", "availability", "latency")


@dataclass(frozen=True)
class Evaluation:
    ts: datetime
    good: bool


@dataclass(frozen=True)
class Objective:
    """One effective objective of a product: ``target`` share of good evaluations over
    ``window``; ``threshold`` is max_minutes, min_score, 1 (availability) or p95_ms."""

    name: ObjectiveName
    target: float
    window: timedelta
    threshold: float
    #: freshness: the timestamp column that dates a row (None: the first temporal column)
    column: str | None = None
    #: where the objective comes from: product, domain, workspace or default
    origin: str = "default"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"objective": self.target, "window": span_text(self.window),
                               _THRESHOLD_KEY[self.name]: self.threshold, "origin": self.origin}
        if self.name == "freshness":
            out["column"] = self.column
        return out


_THRESHOLD_KEY = {"freshness": "max_minutes", "quality": "min_score", "availability": "min_value",
                  "latency": "p95_ms"}


@dataclass(frozen=True)
class BurnRule:
    name: str
    long: timedelta
    short: timedelta
    factor: float
    severity: str


BURN_RULES: tuple[BurnRule, ...] = (
    BurnRule("page", timedelta(hours=1), timedelta(minutes=5), 14.4, "critical"),
    BurnRule("ticket", timedelta(hours=6), timedelta(minutes=30), 6.0, "high"),
)
#: every span a burn rate is reported for, by its label
BURN_SPANS: dict[str, timedelta] = {"5m": timedelta(minutes=5), "30m": timedelta(minutes=30),
                                    "1h": timedelta(hours=1), "6h": timedelta(hours=6)}


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def span_text(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def is_good(name: ObjectiveName, threshold: float, value: float) -> bool:
    """Whether one measured value meets the objective's threshold."""
    if name == "freshness" or name == "latency":
        return value <= threshold
    if name == "quality":
        return value >= threshold
    return value >= 1.0  # availability: the probe reached the source and read the port


def evaluations(objective: Objective, points: Iterable[tuple[datetime, float]]) -> list[Evaluation]:
    """Evaluations of freshness, quality or availability from their series' points, in time
    order (non-finite values are no evidence and are skipped)."""
    return sorted((Evaluation(_utc(ts), is_good(objective.name, objective.threshold, float(v)))
                   for ts, v in points if math.isfinite(float(v))), key=lambda e: e.ts)


def p95(values: Sequence[float]) -> float:
    """The 95th percentile by nearest rank: the smallest value with at least 95 % of the values
    at or below it."""
    if not values:
        raise ValueError("p95 of no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def latency_evaluations(samples: Iterable[tuple[datetime, float]], interval: timedelta,
                        p95_ms: float) -> list[Evaluation]:
    """One evaluation per interval (aligned to the Unix epoch) holding queries: good when the
    interval's p95 latency is at most ``p95_ms``; dated by its newest query."""
    step = max(1.0, interval.total_seconds())
    buckets: dict[int, list[tuple[datetime, float]]] = {}
    for ts, ms in samples:
        if ms is None or not math.isfinite(float(ms)):
            continue
        at = _utc(ts)
        buckets.setdefault(math.floor(at.timestamp() / step), []).append((at, float(ms)))
    out = [Evaluation(max(t for t, _ in rows), p95([ms for _, ms in rows]) <= p95_ms)
           for rows in buckets.values()]
    return sorted(out, key=lambda e: e.ts)


def window_counts(evals: Iterable[Evaluation], end: datetime, span: timedelta) -> tuple[int, int]:
    """(good, bad) among the evaluations with ``end - span < ts <= end``."""
    end = _utc(end)
    start = end - span
    good = bad = 0
    for e in evals:
        if start < e.ts <= end:
            if e.good:
                good += 1
            else:
                bad += 1
    return good, bad


def compliance(evals: Iterable[Evaluation], end: datetime, window: timedelta) -> float | None:
    good, bad = window_counts(evals, end, window)
    return None if good + bad == 0 else good / (good + bad)


def budget_remaining(evals: Iterable[Evaluation], end: datetime, window: timedelta, target: float) -> float | None:
    good, bad = window_counts(evals, end, window)
    total = good + bad
    if total == 0:
        return None
    return 1.0 - bad / ((1.0 - target) * total)


def burn_rate(evals: Iterable[Evaluation], end: datetime, span: timedelta, target: float) -> float | None:
    good, bad = window_counts(evals, end, span)
    total = good + bad
    if total == 0:
        return None
    return (bad / total) / (1.0 - target)


@dataclass(frozen=True)
class BurnFiring:
    rule: BurnRule
    long_rate: float
    short_rate: float


def burn_firings(evals: Sequence[Evaluation], end: datetime, target: float,
                 rules: Sequence[BurnRule] = BURN_RULES) -> list[BurnFiring]:
    """The rules whose long *and* short span both burn faster than their factor."""
    out = []
    for rule in rules:
        long_rate = burn_rate(evals, end, rule.long, target)
        short_rate = burn_rate(evals, end, rule.short, target)
        if long_rate is not None and short_rate is not None and long_rate > rule.factor and short_rate > rule.factor:
            out.append(BurnFiring(rule, long_rate, short_rate))
    return out


Status = Literal["ok", "burning", "breached", "no_data"]


@dataclass(frozen=True)
class SLOResult:
    """An objective judged over its window at ``end``."""

    objective: Objective
    end: datetime
    good: int
    bad: int
    compliance: float | None
    budget_remaining: float | None
    burn_rates: dict[str, float | None]
    firing: list[BurnFiring] = field(default_factory=list)
    #: the newest measured value (minutes, score, 0/1, p95 ms); None when withheld or unmeasured
    current: float | None = None
    note: str = ""

    @property
    def status(self) -> Status:
        """``no_data``; ``breached`` (compliance below the objective: budget overspent);
        ``burning`` (a burn-rate rule fires); else ``ok``."""
        if self.good + self.bad == 0:
            return "no_data"
        if self.compliance is not None and self.compliance < self.objective.target:
            return "breached"
        if self.firing:
            return "burning"
        return "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.objective.name, **self.objective.to_dict(), "status": self.status,
            "evaluations": self.good + self.bad, "good": self.good, "bad": self.bad,
            "compliance": _round(self.compliance), "budget_remaining": _round(self.budget_remaining),
            "burn_rates": {k: _round(v) for k, v in self.burn_rates.items()},
            "alerts": [f.rule.name for f in self.firing], "current": _round(self.current), "note": self.note,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def spans(objective: Objective) -> list[timedelta]:
    """Every span :func:`evaluate_counts` needs counts for: the window and the burn spans."""
    return sorted({objective.window, *BURN_SPANS.values()})


def evaluate(objective: Objective, evals: Sequence[Evaluation], end: datetime, *,
             current: float | None = None, note: str = "") -> SLOResult:
    """Compliance, budget, burn rates and firing rules of ``objective`` at ``end``."""
    counts = {span: window_counts(evals, end, span) for span in spans(objective)}
    return evaluate_counts(objective, counts, end, current=current, note=note)


def _rate(counts: tuple[int, int], target: float) -> float | None:
    good, bad = counts
    return None if good + bad == 0 else (bad / (good + bad)) / (1.0 - target)


def evaluate_counts(objective: Objective, counts: dict[timedelta, tuple[int, int]], end: datetime, *,
                    current: float | None = None, note: str = "") -> SLOResult:
    """:func:`evaluate` from (good, bad) counts per span (``end - span < ts <= end``) — what a
    store can count without handing over every evaluation."""
    target = objective.target
    good, bad = counts[objective.window]
    total = good + bad
    firing = []
    for rule in BURN_RULES:
        long_rate, short_rate = _rate(counts[rule.long], target), _rate(counts[rule.short], target)
        if long_rate is not None and short_rate is not None and long_rate > rule.factor and short_rate > rule.factor:
            firing.append(BurnFiring(rule, long_rate, short_rate))
    return SLOResult(
        objective, _utc(end), good, bad,
        None if total == 0 else good / total,
        None if total == 0 else 1.0 - bad / ((1.0 - target) * total),
        {label: _rate(counts[span], target) for label, span in BURN_SPANS.items()},
        firing, current, note,
    )


def trend(values: Sequence[float], *, flat: float = 0.001) -> Literal["increasing", "stable", "decreasing"]:
    """The direction of a series by its least-squares slope per step (``|slope| <= flat``:
    stable; fewer than two values: stable)."""
    n = len(values)
    if n < 2:
        return "stable"
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    den = sum((i - mean_x) ** 2 for i in range(n))
    slope = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values)) / den
    if slope > flat:
        return "increasing"
    if slope < -flat:
        return "decreasing"
    return "stable"
