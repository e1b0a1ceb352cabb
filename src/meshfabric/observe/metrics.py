"""Product metrics as time series in ``metric_points``: what is recorded where, the latest value
of each product's metrics, and retention with hourly downsampling (:func:`compact`).

Series written by meshfabric (``series`` = ``<product fqn>/<metric>[/<column or source>]``):

============================================  =======================================  =============
series                                        written by                               folded as
============================================  =======================================  =============
``<fqn>/score/*``, ``<fqn>/score.<dim>/*``    a quality run (overall, per dimension)   kept
``<fqn>/row_count/*``, ``<fqn>/<rule>/<col>``  a quality run                            kept
``<fqn>/freshness.minutes``                   the freshness probe                      kept
``<fqn>/availability`` (1 up, 0 down)         the availability probe                   kept
``<fqn>/row_count``                           the row-count probe                      kept
``<fqn>/query.rows_moved/<source>``           every query (access/enforce.py)          hourly sum
``<fqn>/query.bytes_moved/<source>``          every query: Arrow bytes loaded          hourly sum
``<fqn>/contract.compliance/<contract id>``   every contract test: share of checks     kept
                                              passed (contracts/service.py)
============================================  =======================================  =============

Only the per-query ``query.*`` series are folded: every point of a probe, quality or SLO series is
one evaluation — SLO compliance counts good and bad evaluations, anomaly detectors compare a
point with the points before it — and an hourly mean would change both. Those keep every point
until the retention deletes it.

Query counts, latency and errors are not series: every query already leaves one row in the
audit log (``access_audit``: principal, action, resource, decision, latency, time), and
:mod:`.usage` aggregates those.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshfabric.spec.observe_models import ObservabilitySpec
    from meshfabric.store import Store

#: metrics that are amounts per event: downsampled as a sum (everything else as a mean)
ADDITIVE_PREFIX = "query."
ROWS_MOVED, BYTES_MOVED = "query.rows_moved", "query.bytes_moved"
#: the metrics :func:`compact` folds into hourly points (see the module docstring)
FOLDED = (ROWS_MOVED, BYTES_MOVED)
#: the probes' metrics (another module writes them; read when present)
FRESHNESS, AVAILABILITY, ROW_COUNT = "freshness.minutes", "availability", "row_count"
SCORE = "score"
#: a contract test's share of passed checks (1.0: all kept), one series per contract
#: (contracts/compliance.py names and writes it; read when present)
COMPLIANCE = "contract.compliance"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration(text: str) -> timedelta:
    """``30s``, ``5m``, ``1h``, ``30d``, ``1w`` as a timedelta (the spec validated the form)."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"'{text}' is not a duration (a number and s, m, h, d or w)")
    return timedelta(seconds=float(match.group(1)) * _UNIT[match.group(2)])


def utc(ts: datetime) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite gives them back naive)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def hour_of(ts: datetime) -> datetime:
    return utc(ts).replace(minute=0, second=0, microsecond=0)


def additive(metric: str) -> bool:
    return metric.startswith(ADDITIVE_PREFIX)


def split_series(series: str) -> tuple[str, str, str]:
    """(product, metric, qualifier) of a series; the qualifier (column or source) may be ''."""
    product, _, rest = series.partition("/")
    metric, _, qualifier = rest.partition("/")
    return product, metric, qualifier


# ---------------------------------------------------------------------------------------------
# Downsampling


def fold(points: Sequence[tuple[datetime, float]], *, sum_values: bool) -> list[tuple[datetime, float]]:
    """The hourly aggregates of one series' points: one point per UTC hour, at the hour's start,
    holding the sum (``sum_values``) or the mean of the hour's values, in time order.

    A sum keeps the total of an additive metric exact whatever the resolution; a mean keeps a
    level metric's level (folding a single point returns it unchanged, so folding is idempotent:
    an hour already folded is one point at its start and stays what it is)."""
    hours: dict[datetime, list[float]] = {}
    for ts, value in points:
        hours.setdefault(hour_of(ts), []).append(value)
    return [(hour, sum(values) if sum_values else sum(values) / len(values)) for hour, values in sorted(hours.items())]


@dataclass(frozen=True)
class CompactResult:
    deleted_expired: int
    folded_points: int
    aggregates: int

    def to_dict(self) -> dict[str, int]:
        return {"deleted_expired": self.deleted_expired, "folded_points": self.folded_points,
                "aggregates": self.aggregates}


def compact(store: Store, spec: ObservabilitySpec, now: datetime | None = None, *,
            since: datetime | None = None) -> CompactResult:
    """Apply ``observability.retention`` and ``downsample_after`` to ``metric_points`` in one
    write transaction: points older than the retention are deleted; the points of each ``query.*`` series
    between the retention and ``downsample_after`` ago are folded into one point per hour
    (:func:`fold`: a sum for ``query.*`` amounts, a mean otherwise), stored at the hour's start.

    Hours already folded (one point at the hour's start) are left alone, so running it again
    changes nothing. ``since`` bounds the folding to points newer than it (a scheduler passes its
    previous run's cutoff, so each run reads only the hours that aged since); by default every
    retained point older than ``downsample_after`` is looked at."""
    from sqlalchemy import delete, insert, select

    from meshfabric.store.models import MetricPointRow as P

    now = utc(now or datetime.now(UTC))
    expire = now - duration(spec.retention)
    cutoff = hour_of(now - duration(spec.downsample_after))  # whole hours only: a partial hour folds later
    low = max(expire, utc(since)) if since is not None else expire
    with store.write() as s:
        expired = s.execute(delete(P).where(P.ts < expire)).rowcount or 0
        rows = s.execute(select(P.id, P.series, P.product, P.metric, P.value, P.ts)
                         .where(P.ts >= hour_of(low), P.ts < cutoff, P.metric.in_(FOLDED))
                         .order_by(P.series, P.ts, P.id)).all()
        doomed: list[int] = []
        fresh: list[dict[str, Any]] = []
        for (series, product, metric), group in _groups(rows):
            by_hour: dict[datetime, list[Any]] = {}
            for r in group:
                by_hour.setdefault(hour_of(r.ts), []).append(r)
            for hour, members in by_hour.items():
                if len(members) == 1 and utc(members[0].ts) == hour:
                    continue  # already one point at the hour's start
                ((_, value),) = fold([(m.ts, m.value) for m in members], sum_values=additive(metric))
                doomed += [m.id for m in members]
                fresh.append({"series": series, "product": product, "metric": metric, "value": value, "ts": hour})
        for i in range(0, len(doomed), 500):
            s.execute(delete(P).where(P.id.in_(doomed[i:i + 500])))
        if fresh:
            s.execute(insert(P), fresh)
    return CompactResult(int(expired), len(doomed), len(fresh))


def _groups(rows: Iterable[Any]) -> Iterable[tuple[tuple[str, str, str], list[Any]]]:
    key: tuple[str, str, str] | None = None
    group: list[Any] = []
    for r in rows:
        k = (r.series, r.product, r.metric)
        if k != key and group:
            assert key is not None
            yield key, group
            group = []
        key = k
        group.append(r)
    if group and key is not None:
        yield key, group


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class Point:
    series: str
    product: str
    metric: str
    value: float
    ts: datetime


def latest(store: Store, product: str, *, metrics: Sequence[str] | None = None) -> dict[str, Point]:
    """The newest point of each series of ``product`` (by series), optionally only of ``metrics``
    (a metric name, or a prefix ending in ``.``: ``score.`` is every dimension). Reads through
    the (series, ts) index: one range of series per product."""
    from sqlalchemy import func, select

    from meshfabric.store.models import MetricPointRow as P

    prefix = f"{product}/"
    newest = (select(P.series, func.max(P.ts).label("ts"))
              .where(starts_with(store, P.series, prefix)).group_by(P.series).subquery())
    stmt = select(P.series, P.product, P.metric, P.value, P.ts, P.id).join(
        newest, (P.series == newest.c.series) & (P.ts == newest.c.ts)).order_by(P.id)
    out: dict[str, Point] = {}
    with store.read() as s:
        for r in s.execute(stmt):
            if metrics is not None and not any(r.metric == m or (m.endswith(".") and r.metric.startswith(m))
                                               for m in metrics):
                continue
            out[r.series] = Point(r.series, r.product, r.metric, float(r.value), utc(r.ts))
    return out


def starts_with(store: Store, column: Any, prefix: str) -> Any:
    """``column`` begins with ``prefix``: a range over the index on SQLite (binary collation);
    a LIKE with escapes elsewhere (a locale collation does not order strings bytewise)."""
    if store.is_sqlite:
        return (column >= prefix) & (column < prefix[:-1] + chr(ord(prefix[-1]) + 1))
    return column.like(like_escape(prefix) + "%", escape="\\")


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def product_snapshot(store: Store, product: str) -> dict[str, Any]:
    """A product's latest recorded state: quality score overall and per dimension, row count,
    freshness, availability and contract compliance (None where nothing recorded them), each
    with its time.

    ``contract_compliance`` is the lowest latest share among the contracts bound to the product
    now (the least kept contract says how well the product keeps its promises), with each
    contract's latest share under ``contracts``. Like a quality verdict it is a share of checks,
    not a data value: whoever may discover the product may see it."""
    from sqlalchemy import select

    from meshfabric.store.models import ContractRow

    points = latest(store, product, metrics=[SCORE, "score.", ROW_COUNT, FRESHNESS, AVAILABILITY, COMPLIANCE])
    with store.read() as s:
        bound = set(s.scalars(select(ContractRow.id).where(ContractRow.product == product)))

    def newest(metric: str) -> Point | None:
        found = [p for p in points.values() if p.metric == metric]
        return max(found, key=lambda p: p.ts) if found else None

    def value(p: Point | None) -> dict[str, Any] | None:
        return None if p is None else {"value": p.value, "at": p.ts.isoformat()}

    dims = {p.metric.split(".", 1)[1]: value(p) for p in points.values() if p.metric.startswith("score.")}
    shares = {split_series(p.series)[2]: p for p in points.values() if p.metric == COMPLIANCE}
    shares = {cid: p for cid, p in sorted(shares.items()) if cid in bound}
    compliance = None
    if shares:
        least = min(shares.values(), key=lambda p: (p.value, p.ts))
        compliance = {**(value(least) or {}), "contract": split_series(least.series)[2],
                      "contracts": {cid: value(p) for cid, p in shares.items()}}
    return {"product": product, "quality": {"overall": value(newest(SCORE)), "dimensions": dims},
            "row_count": value(newest(ROW_COUNT)), "freshness_minutes": value(newest(FRESHNESS)),
            "availability": value(newest(AVAILABILITY)), "contract_compliance": compliance}
