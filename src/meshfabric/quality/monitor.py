"""The quality monitor: every stored metric point is judged against its series, anomalies
become alerts, alerts become ``quality.alert`` events and webhook calls.

:func:`observe` is called with points already stored as ``MetricPointRow`` (the quality run
does this after committing its run). For each point it

1. loads the series history each detector's :class:`~.detectors.Lookback` asks for — one query
   per distinct lookback, bounded by a row limit and, for the seasonal detector, a time span —
   excluding the point itself and anything after it, so replaying a series gives the verdicts a
   live run gave;
2. runs the detectors (:mod:`.detectors`);
3. opens an alert per (series, detector) or, while one is open or acknowledged, adds to it
   (occurrences, last value, severity only ever rises), appending a ``quality.alert`` event in
   the same transaction; an active alert whose series has had ``resolve_after`` points without
   a firing since its last one is resolved (``quality.alert_resolved``, ``auto: true``);
4. after the transaction commits, POSTs new and escalated alerts to the configured webhooks
   (:func:`~.alerts.deliver`); a failed delivery is recorded, the alert stays.

Configuration (detectors, webhooks, auto-resolve) comes from ``alerts:`` in mesh.yaml. ``Mesh``
registers it for its store (:func:`configure`), so ``observe(store, points)`` called by code that
only holds the store uses it; passing a ``Mesh`` or an explicit ``config`` also works. Given a
SQLAlchemy ``Session`` (the caller's open transaction), the bookkeeping joins that transaction
and nothing is sent: call :meth:`ObserveResult.deliver` after the caller commits.
"""

from __future__ import annotations

import hashlib
import math
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from meshfabric.quality import alerts as alert_service
from meshfabric.quality.alerts import ACTIVE, AlertInfo, DeliveryInfo, Webhook, alert_info, split_series
from meshfabric.quality.detectors import (
    Anomaly,
    Detector,
    Lookback,
    MADDetector,
    Point,
    SeasonalDetector,
    ZScoreDetector,
    default_detectors,
    severity_rank,
)
from meshfabric.store.models import AlertRow, MetricPointRow, utcnow

if TYPE_CHECKING:
    from meshfabric.spec.models import AlertsSpec
    from meshfabric.store import Store

Reason = Literal["opened", "escalated", "repeated"]


def series_name(product: str, metric: str, column: str = "*") -> str:
    """The series of one metric: ``{product}/{metric}/{column}``, ``*`` for the whole table.

    >>> series_name("sales.orders", "completeness", "customer_id")
    'sales.orders/completeness/customer_id'
    """
    return f"{product}/{metric}/{column or '*'}"


def dedup_key(series: str, detector: str) -> str:
    """What makes two firings one alert: the detector and the series (hashed if too long for the column)."""
    key = f"{detector}|{series}"
    return key if len(key) <= 512 else f"{detector}|sha256:{hashlib.sha256(series.encode()).hexdigest()}"


@dataclass(frozen=True)
class MonitorConfig:
    """Detectors, webhooks and auto-resolve. The default is the three default detectors, no
    webhooks, and resolving after 10 normal points."""

    detectors: tuple[Detector, ...] = field(default_factory=default_detectors)
    webhooks: tuple[Webhook, ...] = ()
    #: resolve an active alert once this many points followed its last firing without one (0: never)
    resolve_after: int = 10

    @classmethod
    def from_spec(cls, spec: AlertsSpec | None) -> MonitorConfig:
        """The configuration ``alerts:`` in mesh.yaml describes."""
        if spec is None:
            return cls()
        from meshfabric.spec.models import duration_seconds

        detectors: list[Detector] = []
        d = spec.detectors
        if d.zscore.enabled:
            detectors.append(ZScoreDetector(d.zscore.window, d.zscore.min_points, d.zscore.threshold, d.zscore.high))
        if d.mad.enabled:
            detectors.append(MADDetector(d.mad.window, d.mad.min_points, d.mad.threshold, d.mad.high))
        if d.seasonal.enabled:
            s = d.seasonal
            detectors.append(SeasonalDetector(
                timedelta(seconds=duration_seconds(s.period)), s.seasons,
                tolerance=timedelta(seconds=duration_seconds(s.tolerance)) if s.tolerance else None,
                min_seasons=s.min_seasons, baseline=s.baseline, min_baseline=s.min_baseline,
                baseline_periods=s.baseline_periods, threshold=s.threshold, high=s.high,
            ))
        webhooks = tuple(
            Webhook(w.url, dict(w.headers), w.timeout, w.attempts, w.backoff, w.min_severity) for w in spec.webhooks
        )
        return cls(tuple(detectors), webhooks, spec.resolve_after)


_CONFIGS: weakref.WeakKeyDictionary[Store, MonitorConfig] = weakref.WeakKeyDictionary()


def configure(store: Store, config: MonitorConfig) -> None:
    """Use ``config`` whenever points of this store are observed without an explicit one."""
    _CONFIGS[store] = config


def config_for(store: Store | None) -> MonitorConfig:
    if store is not None and store in _CONFIGS:
        return _CONFIGS[store]
    return MonitorConfig()


class MetricPointLike(Protocol):
    """What :func:`observe` reads from a point (``MetricPointRow`` has it all)."""

    series: str
    product: str
    metric: str
    value: float
    ts: datetime

    @property
    def id(self) -> int | None: ...


@dataclass(frozen=True)
class Firing:
    """One detector flagging one point, and what it did to the alert."""

    alert: AlertInfo
    anomaly: Anomaly
    reason: Reason


@dataclass
class ObserveResult:
    fired: list[Firing] = field(default_factory=list)
    resolved: list[AlertInfo] = field(default_factory=list)
    deliveries: list[DeliveryInfo] = field(default_factory=list)
    points: int = 0

    @property
    def alerts(self) -> list[AlertInfo]:
        """The alerts as they stand after this observation (one per alert, last state)."""
        latest: dict[int, AlertInfo] = {}
        for f in self.fired:
            latest[f.alert.id] = f.alert
        return list(latest.values())

    @property
    def to_notify(self) -> list[tuple[AlertInfo, str]]:
        """(alert, reason) for every alert that opened or escalated: what webhooks receive."""
        reasons: dict[int, str] = {}
        for f in self.fired:
            if f.reason != "repeated":
                reasons.setdefault(f.alert.id, f.reason)  # opened, then escalated in one batch: opened
        latest = {a.id: a for a in self.alerts}
        return [(latest[i], reason) for i, reason in reasons.items()]

    def deliver(self, store: Store, config: MonitorConfig | None = None) -> list[DeliveryInfo]:
        """Send what this observation has to notify (after the caller's transaction committed)."""
        cfg = config or config_for(store)
        if cfg.webhooks and self.to_notify:
            self.deliveries.extend(alert_service.deliver(store, self.to_notify, cfg.webhooks))
        return self.deliveries


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _resolve_target(target: Any, config: MonitorConfig | None) -> tuple[Store | None, Session | None, MonitorConfig]:
    if isinstance(target, Session):
        return None, target, config or MonitorConfig()
    if hasattr(target, "store") and hasattr(target, "spec"):  # a Mesh
        store = target.store
        if config is None:
            config = _CONFIGS.get(store) or MonitorConfig.from_spec(target.spec.alerts if target.spec else None)
        return store, None, config
    return target, None, config or config_for(target)


def observe(target: Any, points: Iterable[MetricPointLike], *, config: MonitorConfig | None = None) -> ObserveResult:
    """Judge stored metric points; open, update and resolve alerts; notify webhooks.

    ``target`` is a ``Store``, a ``Mesh`` or a ``Session`` (see the module notes). Points are
    handled in time order.
    """
    store, session, cfg = _resolve_target(target, config)
    ordered = sorted(points, key=lambda p: (_utc(p.ts), p.id or 0))
    if session is not None:
        return _observe(session, ordered, cfg)
    assert store is not None
    with store.write() as s:
        result = _observe(s, ordered, cfg)
    result.deliver(store, cfg)
    return result


@dataclass(frozen=True)
class Observation:
    """A metric value to record as a point of ``{product}/{metric}/{column}``."""

    product: str
    metric: str
    value: float
    column: str = "*"
    ts: datetime | None = None

    @property
    def series(self) -> str:
        return series_name(self.product, self.metric, self.column)


def record(
    target: Any, observations: Iterable[Observation], *, config: MonitorConfig | None = None
) -> ObserveResult:
    """Store observations as metric points and observe them in the same transaction.

    Non-finite values are skipped: a series of NaN says nothing a detector could judge.
    """
    store, session, cfg = _resolve_target(target, config)
    now = utcnow()
    rows = [
        MetricPointRow(series=o.series, product=o.product, metric=o.metric, value=float(o.value),
                       ts=_utc(o.ts or now))
        for o in observations if math.isfinite(o.value)
    ]
    if session is not None:
        session.add_all(rows)
        session.flush()
        return _observe(session, rows, cfg)
    assert store is not None
    with store.write() as s:
        s.add_all(rows)
        s.flush()
        result = _observe(s, rows, cfg)
    result.deliver(store, cfg)
    return result


def _before(point: MetricPointLike, *, inclusive: bool = False) -> Any:
    """SQL condition: stored points of the series that come before ``point`` (or are it)."""
    ts = _utc(point.ts)
    if point.id is None:
        return MetricPointRow.ts <= ts if inclusive else MetricPointRow.ts < ts
    same = MetricPointRow.id <= point.id if inclusive else MetricPointRow.id < point.id
    return or_(MetricPointRow.ts < ts, and_(MetricPointRow.ts == ts, same))


def history(session: Session, point: MetricPointLike, lookback: Lookback) -> list[Point]:
    """The points of ``point``'s series that ``lookback`` covers, oldest first (one bounded query)."""
    ts = _utc(point.ts)
    query = select(MetricPointRow.ts, MetricPointRow.value).where(
        MetricPointRow.series == point.series, _before(point)
    )
    if lookback.span is not None:
        query = query.where(MetricPointRow.ts >= ts - lookback.span)
    query = query.order_by(MetricPointRow.ts.desc(), MetricPointRow.id.desc()).limit(lookback.points)
    rows = list(session.execute(query))
    return [Point(_utc(t), float(v)) for t, v in reversed(rows)]


def _observe(session: Session, points: Sequence[MetricPointLike], cfg: MonitorConfig) -> ObserveResult:
    result = ObserveResult(points=len(points))
    for p in points:
        if not math.isfinite(p.value):
            continue
        point = Point(_utc(p.ts), float(p.value))
        histories = {lb: history(session, p, lb) for lb in {d.lookback() for d in cfg.detectors}}
        open_rows: dict[str, AlertRow] = {}
        for row in session.scalars(select(AlertRow).where(AlertRow.series == p.series, AlertRow.status.in_(ACTIVE))
                                   .order_by(AlertRow.id)):
            open_rows[row.dedup_key] = row  # the newest wins should two ever exist
        for detector in cfg.detectors:
            anomaly = detector.check(histories[detector.lookback()], point)
            active = open_rows.get(dedup_key(p.series, detector.name))
            if anomaly is not None:
                result.fired.append(_fire(session, p, point, anomaly, active))
            elif active is not None and cfg.resolve_after > 0:
                resolved = _maybe_resolve(session, p, active, cfg.resolve_after)
                if resolved is not None:
                    result.resolved.append(resolved)
    return result


def _event_data(info: AlertInfo, **extra: Any) -> dict[str, Any]:
    data = info.to_dict()
    data["alert_id"] = data.pop("id")
    data.update(extra)
    return data


def _fire(session: Session, p: MetricPointLike, point: Point, anomaly: Anomaly, row: AlertRow | None) -> Firing:
    from meshfabric.events import DomainEvent, append

    now = utcnow()
    reason: Reason
    if row is None:
        product = p.product or split_series(p.series)[0]
        row = AlertRow(
            series=p.series, product=product, detector=anomaly.detector, severity=anomaly.severity,
            value=anomaly.value, expected=anomaly.expected, score=anomaly.score, message=anomaly.message,
            status="open", dedup_key=dedup_key(p.series, anomaly.detector), occurrences=1, ts=point.ts,
            created_at=now, updated_at=now,
        )
        session.add(row)
        reason = "opened"
    else:
        escalated = severity_rank(anomaly.severity) > severity_rank(row.severity)
        row.occurrences = int(row.occurrences) + 1
        row.value, row.expected, row.score = anomaly.value, anomaly.expected, anomaly.score
        row.message = anomaly.message
        if escalated:
            row.severity = anomaly.severity
        row.ts = point.ts
        row.updated_at = now
        reason = "escalated" if escalated else "repeated"
    session.flush()
    info = alert_info(row)
    append(session, DomainEvent("quality.alert", info.domain, _event_data(info, reason=reason)))
    return Firing(info, anomaly, reason)


def _maybe_resolve(session: Session, p: MetricPointLike, row: AlertRow, after: int) -> AlertInfo | None:
    from meshfabric.events import DomainEvent, append

    quiet = session.scalar(
        select(func.count()).select_from(MetricPointRow).where(
            MetricPointRow.series == p.series, MetricPointRow.ts > _utc(row.ts), _before(p, inclusive=True)
        )
    ) or 0
    if p.id is None:
        quiet += 1  # the point itself is not stored
    if quiet < after:
        return None
    previous = row.status
    row.status = "resolved"
    row.updated_at = row.resolved_at = utcnow()
    row.resolved_by = None  # the monitor, not a principal
    session.flush()
    info = alert_info(row)
    append(session, DomainEvent("quality.alert_resolved", info.domain, {
        "alert_id": info.id, "series": info.series, "product": info.product, "detector": info.detector,
        "previous_status": previous, "status": "resolved", "auto": True,
        "note": f"{quiet} points without a firing since the last one",
    }))
    return info
