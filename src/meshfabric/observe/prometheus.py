"""``GET /metrics``: the recorded product metrics in the Prometheus exposition format.

A custom collector (:class:`StoreCollector`) in a registry of its own — nothing is registered
in prometheus-client's global registry — computes every family from the store when scraped:

* from the audit log, over the last ``window`` (1 h): queries per product and outcome, p50/p95
  latency per product (from latency buckets counted in SQL), queries of the busiest principals
  (the ``top_principals``; the rest as ``principal="other"``) — two aggregate SQL statements
  over the audit log's time index;
* from ``metric_points``: rows and bytes moved per product and source over the window, and the
  latest quality score (overall and per dimension), row count, freshness, availability and
  contract compliance (per contract: the share of its checks the latest contract test passed) —
  read incrementally: the first rendering finds the newest point of each series by a loose
  index scan and reads the window's movement points, later ones read only the points added
  since (by id, the primary key), so a rendering costs the same with a month of history as
  with an hour;
* the catalog's products and contracts (one SELECT each): only products in it get labels, and a
  compliance series only while its contract is bound to that product, so label values come
  from the catalog and names in refused queries cannot inflate cardinality.

Labels: ``domain``, ``product`` (the fqn), ``source``, ``outcome``, ``dimension``, ``quantile``,
``contract`` (its id) and ``principal`` only on the bounded principal family. Values are gauges: each says what its
window or latest point holds.

Reading it is the workspace action ``metrics.read``: a workspace admin or a principal holding
the ``metrics-reader`` role (:class:`MetricsService`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from meshfabric.observe.metrics import (
    AVAILABILITY,
    BYTES_MOVED,
    COMPLIANCE,
    FRESHNESS,
    ROW_COUNT,
    ROWS_MOVED,
    SCORE,
    split_series,
    utc,
)
from meshfabric.observe.usage import QUERY_ACTION

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

    from meshfabric.store import Store

#: upper bounds (ms) of the latency buckets counted in SQL; quantiles interpolate within them
LATENCY_BUCKETS_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
#: metrics whose latest value is exposed
LATEST_METRICS = (SCORE, ROW_COUNT, FRESHNESS, AVAILABILITY, COMPLIANCE)
#: ids re-read behind the cursor: rows committed out of id order (concurrent PostgreSQL writers)
OVERLAP_IDS = 512

#: the newest point of every series, by a loose index scan of (series, ts): one index seek per
#: distinct series to find the next one and one to find its newest point — some 20,000 seeks
#: for 1,000 products however many points they have (a GROUP BY reads every point)
_NEWEST_SQL = """\
WITH RECURSIVE s(series) AS (
  SELECT min(series) FROM metric_points
  UNION ALL
  SELECT (SELECT min(series) FROM metric_points WHERE series > s.series) FROM s WHERE s.series IS NOT NULL
)
SELECT s.series AS series, m.product AS product, m.metric AS metric, m.value AS value, m.ts AS ts
FROM s JOIN metric_points m ON m.id = (
  SELECT x.id FROM metric_points x WHERE x.series = s.series AND x.id <= :top ORDER BY x.ts DESC, x.id DESC LIMIT 1)
WHERE s.series IS NOT NULL"""


def _newest_statement() -> Any:
    from sqlalchemy import DateTime, Float, String, text

    return text(_NEWEST_SQL).columns(series=String, product=String, metric=String, value=Float,
                                     ts=DateTime(timezone=True))


def quantile(q: float, buckets: list[tuple[float, int]], total: int) -> float | None:
    """The ``q`` quantile from cumulative ``(upper bound, count)`` buckets, interpolated linearly
    within the bucket it falls in (Prometheus' ``histogram_quantile``); beyond the last finite
    bound: that bound."""
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower  # in the open last bucket: its lower bound, as Prometheus does
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return buckets[-1][0] if buckets else None


class StoreCollector:
    """The metric families of a store (see the module notes); thread-safe."""

    def __init__(self, store: Store, *, window: timedelta = timedelta(hours=1), top_principals: int = 20) -> None:
        self.store = store
        self.window, self.top_principals = window, top_principals
        self._lock = threading.Lock()
        self._cursor: int | None = None
        self._recent: deque[int] = deque()
        self._recent_set: set[int] = set()
        #: series -> (ts, value, product, metric) of its newest point
        self._latest: dict[str, tuple[datetime, float, str, str]] = {}
        #: points of moved rows/bytes in the window, oldest first: (ts, series, value)
        self._moved: deque[tuple[datetime, str, float]] = deque()
        self._moved_sums: dict[str, float] = {}
        self._split: dict[str, tuple[str, str, str]] = {}
        self.last_seconds = 0.0

    def describe(self) -> list[Any]:
        return []  # nothing to check at registration (and no store read then)

    def collect(self) -> Iterator[Any]:
        with self._lock:
            started = time.perf_counter()
            families = list(self._families(datetime.now(UTC)))
            self.last_seconds = time.perf_counter() - started
        from prometheus_client.core import GaugeMetricFamily

        took = GaugeMetricFamily("meshfabric_metrics_collect_seconds", "Seconds spent reading these values")
        took.add_metric([], self.last_seconds)
        at = GaugeMetricFamily("meshfabric_metrics_collected_timestamp_seconds", "When these values were read "
                               "from the store (Unix time; /metrics is re-rendered every few seconds)")
        at.add_metric([], time.time())
        yield from families
        yield took
        yield at

    # -- the families ---------------------------------------------------------------------
    def _families(self, now: datetime) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        products = self._products()
        window = f"{int(self.window.total_seconds())}s"
        queries = GaugeMetricFamily("meshfabric_product_queries",
                                    f"Queries over the product in the last {window}, by outcome "
                                    "(allowed, denied, error)", labels=["domain", "product", "outcome"])
        latency = GaugeMetricFamily("meshfabric_product_query_latency_seconds",
                                    f"Latency of the product's queries that returned a result in the last {window} "
                                    "(interpolated within latency buckets)", labels=["domain", "product", "quantile"])
        for fqn, outcome, count, buckets, total in self._audit(now, products):
            domain = fqn.split(".", 1)[0]
            queries.add_metric([domain, fqn, outcome], count)
            if outcome == "allowed" and total:
                for q in (0.5, 0.95):
                    value = quantile(q, buckets, total)
                    if value is not None:
                        latency.add_metric([domain, fqn, str(q)], value / 1000)
        yield queries
        yield latency
        yield self._principals(now)
        yield from self._points(now, products)

    def _products(self) -> dict[str, str]:
        """lower-case fqn -> fqn of every product in the catalog."""
        from sqlalchemy import select

        from meshfabric.store.models import ProductRow

        with self.store.read() as s:
            return {f"{d}.{n}".lower(): f"{d}.{n}" for d, n in s.execute(select(ProductRow.domain, ProductRow.name))}

    def _contracts(self) -> dict[str, str]:
        """contract id -> lower-case fqn of the product it is bound to now."""
        from sqlalchemy import select

        from meshfabric.store.models import ContractRow

        with self.store.read() as s:
            rows = s.execute(select(ContractRow.id, ContractRow.product))
            return {cid: str(product).lower() for cid, product in rows}

    def _audit(self, now: datetime, products: dict[str, str]) -> list[tuple[str, str, int, list[tuple[float, int]],
                                                                            int]]:
        """(fqn, outcome, queries, cumulative latency buckets, queries with a latency) per product
        and outcome over the window: one GROUP BY over the audit log."""
        from sqlalchemy import case, func, select

        from meshfabric.store.models_access import AuditRow as A

        columns = [func.sum(case((A.latency_ms <= b, 1), else_=0)) for b in LATENCY_BUCKETS_MS]
        stmt = (select(A.resource, A.decision, func.count(), func.count(A.latency_ms), *columns)
                .where(A.action == QUERY_ACTION, A.at >= now - self.window).group_by(A.resource, A.decision))
        merged: dict[tuple[str, str], list[Any]] = {}
        with self.store.read() as s:
            for resource, decision, count, timed, *bucket_counts in s.execute(stmt):
                for name in str(resource).split(","):
                    fqn = products.get(name)
                    if fqn is None:
                        continue
                    entry = merged.setdefault((fqn, decision), [0, 0, [0] * len(LATENCY_BUCKETS_MS)])
                    entry[0] += int(count)
                    entry[1] += int(timed)
                    entry[2] = [a + int(b or 0) for a, b in zip(entry[2], bucket_counts, strict=True)]
        return [(fqn, outcome, n, [*zip(LATENCY_BUCKETS_MS, counts, strict=True), (float("inf"), timed)], timed)
                for (fqn, outcome), (n, timed, counts) in sorted(merged.items())]

    def _principals(self, now: datetime) -> Any:
        from prometheus_client.core import GaugeMetricFamily
        from sqlalchemy import func, select

        from meshfabric.store.models_access import AuditRow as A

        family = GaugeMetricFamily("meshfabric_principal_queries",
                                   f"Queries per principal in the last {int(self.window.total_seconds())}s "
                                   f"(the {self.top_principals} busiest; the rest as 'other')",
                                   labels=["principal", "outcome"])
        stmt = (select(A.principal, A.decision, func.count())
                .where(A.action == QUERY_ACTION, A.at >= now - self.window).group_by(A.principal, A.decision))
        counts: dict[str, dict[str, int]] = {}
        with self.store.read() as s:
            for principal, decision, n in s.execute(stmt):
                counts.setdefault(principal, {})[decision] = int(n)
        ranked = sorted(counts, key=lambda p: (-sum(counts[p].values()), p))
        other: dict[str, int] = {}
        for i, principal in enumerate(ranked):
            if i < self.top_principals:
                for outcome, n in sorted(counts[principal].items()):
                    family.add_metric([principal, outcome], n)
            else:
                for outcome, n in counts[principal].items():
                    other[outcome] = other.get(outcome, 0) + n
        for outcome, n in sorted(other.items()):
            family.add_metric(["other", outcome], n)
        return family

    def _points(self, now: datetime, products: dict[str, str]) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        self._read_points(now)
        start = now - self.window
        while self._moved and self._moved[0][0] < start:
            ts, series, value = self._moved.popleft()
            self._moved_sums[series] -= value
            if abs(self._moved_sums[series]) < 1e-9:
                self._moved_sums[series] = 0.0
        window = f"{int(self.window.total_seconds())}s"
        rows = GaugeMetricFamily("meshfabric_product_rows_moved", f"Rows read from each source by queries over the "
                                 f"product in the last {window}", labels=["domain", "product", "source"])
        size = GaugeMetricFamily("meshfabric_product_bytes_moved", f"Arrow bytes loaded from each source by queries "
                                 f"over the product in the last {window}", labels=["domain", "product", "source"])
        for series, total in sorted(self._moved_sums.items()):
            parts = self._split.get(series)
            if parts is None:
                parts = self._split[series] = split_series(series)
            product, metric, source = parts
            fqn = products.get(product.lower())
            if fqn is not None:
                (rows if metric == ROWS_MOVED else size).add_metric([fqn.split(".", 1)[0], fqn, source], total)
        score = GaugeMetricFamily("meshfabric_product_quality_score", "The latest quality score of the product, "
                                  "overall and per dimension (0..1)", labels=["domain", "product", "dimension"])
        simple = {
            ROW_COUNT: GaugeMetricFamily("meshfabric_product_row_count", "Rows in the product (latest count)",
                                         labels=["domain", "product"]),
            FRESHNESS: GaugeMetricFamily("meshfabric_product_freshness_minutes", "Minutes since the product's newest "
                                         "data (latest probe)", labels=["domain", "product"]),
            AVAILABILITY: GaugeMetricFamily("meshfabric_product_availability", "1 when the latest probe read the "
                                            "product, 0 when it failed", labels=["domain", "product"]),
        }
        compliance = GaugeMetricFamily("meshfabric_product_contract_compliance", "Share of the contract's checks "
                                       "the latest contract test passed (0..1; 1: all kept)",
                                       labels=["domain", "product", "contract"])
        contracts = self._contracts() if any(m == COMPLIANCE for _, _, _, m in self._latest.values()) else {}
        shares: list[tuple[str, str, float]] = []
        newest: dict[tuple[str, str], tuple[datetime, float]] = {}
        for series, (ts, value, product, metric) in self._latest.items():
            fqn = products.get(product.lower())
            if fqn is None:
                continue
            if metric == COMPLIANCE:
                contract = split_series(series)[2]
                if contracts.get(contract) == fqn.lower():
                    shares.append((fqn, contract, value))
                continue
            key = (fqn, metric)
            if key not in newest or newest[key][0] < ts:
                newest[key] = (ts, value)
        for (fqn, metric), (_, value) in sorted(newest.items()):
            domain = fqn.split(".", 1)[0]
            if metric == SCORE or metric.startswith(SCORE + "."):
                score.add_metric([domain, fqn, metric.partition(".")[2] or "overall"], value)
            elif metric in simple:
                simple[metric].add_metric([domain, fqn], value)
        for fqn, contract, value in sorted(shares):
            compliance.add_metric([fqn.split(".", 1)[0], fqn, contract], value)
        yield rows
        yield size
        yield score
        yield from simple.values()
        yield compliance

    def _read_points(self, now: datetime) -> None:
        """Fold the points added since the last scrape into the latest values and window sums.

        The first call reads, in two statements, the newest point of every series and the
        movement points of the window; later calls read only the points with an id past the
        cursor (the primary key's range)."""
        from sqlalchemy import func, or_, select

        from meshfabric.store.models import MetricPointRow as P

        latest = or_(P.metric.in_(LATEST_METRICS), P.metric.like("score.%"))
        moved = P.metric.in_([ROWS_MOVED, BYTES_MOVED])
        start = now - self.window
        with self.store.read() as s:
            if self._cursor is None:
                top = int(s.scalar(select(func.max(P.id))) or 0)
                for r in s.execute(_newest_statement(), {"top": top}):
                    if r.metric in LATEST_METRICS or r.metric.startswith(SCORE + "."):
                        self._keep_latest(r.series, utc(r.ts), float(r.value), r.product, r.metric)
                rows = s.execute(select(P.series, P.value, P.ts).where(moved, P.id <= top, P.ts >= start))
                self._moved = deque(sorted((utc(r.ts), r.series, float(r.value)) for r in rows))
                for _, series, value in self._moved:
                    self._moved_sums[series] = self._moved_sums.get(series, 0.0) + value
                self._cursor = top
                # everything up to the cursor is read: nothing behind it is re-read
                self._remember(range(max(0, top - OVERLAP_IDS) + 1, top + 1))
                return
            result = s.execute(select(P.id, P.series, P.product, P.metric, P.value, P.ts)
                               .where(or_(latest, moved), P.id > self._cursor - OVERLAP_IDS).order_by(P.id))
            fresh: list[int] = []
            disordered = False
            for r in result:
                if r.id in self._recent_set:
                    continue
                fresh.append(r.id)
                ts = utc(r.ts)
                if r.metric in (ROWS_MOVED, BYTES_MOVED):
                    if ts >= start:
                        disordered = disordered or bool(self._moved and self._moved[-1][0] > ts)
                        self._moved.append((ts, r.series, float(r.value)))
                        self._moved_sums[r.series] = self._moved_sums.get(r.series, 0.0) + float(r.value)
                    continue
                self._keep_latest(r.series, ts, float(r.value), r.product, r.metric)
        if fresh:
            self._cursor = max(self._cursor, *fresh)
            self._remember(fresh)
        if disordered:  # points arrive in id order, nearly always in time order: keep the deque sorted
            self._moved = deque(sorted(self._moved))

    def _keep_latest(self, series: str, ts: datetime, value: float, product: str, metric: str) -> None:
        held = self._latest.get(series)
        if held is None or held[0] <= ts:  # a compaction aggregate (old ts, new id) never wins
            self._latest[series] = (ts, value, product, metric)

    def _remember(self, ids: Iterable[int]) -> None:
        for i in ids:
            if i not in self._recent_set:
                self._recent.append(i)
                self._recent_set.add(i)
        assert self._cursor is not None
        while self._recent and self._recent[0] <= self._cursor - OVERLAP_IDS:
            self._recent_set.discard(self._recent.popleft())


class MetricsService:
    """``mesh.metrics``: the exposition text for a principal allowed ``metrics.read``.

    Rendering 1,000 products takes longer than a scrape may (prometheus-client formats some
    20,000 samples), so the text is precomputed: the first scrape renders it, and from then on
    a background thread renders it every ``refresh_seconds`` (10 s; Prometheus scrapes every
    15–60 s) and a scrape returns the latest text — never older than ``refresh_seconds`` plus one
    rendering. ``refresh_seconds=0`` renders on every scrape."""

    def __init__(self, store: Store, access: Any, *, before_scrape: Callable[[], None] | None = None,
                 refresh_seconds: float = 10.0, **options: Any) -> None:
        self.store, self.access = store, access
        self.before_scrape = before_scrape
        self.refresh_seconds = refresh_seconds
        self._options = options
        self._registry: Any = None
        self.collector: StoreCollector | None = None
        self._text: bytes | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._starting = threading.Lock()
        self._thread: threading.Thread | None = None

    def registry(self) -> Any:
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            self.collector = StoreCollector(self.store, **self._options)
            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(_as_collector(self.collector))
        return self._registry

    def render(self) -> bytes:
        """The metrics now, in the text exposition format (``text/plain; version=0.0.4``)."""
        from prometheus_client import generate_latest

        if self.before_scrape is not None:
            self.before_scrape()  # this process's queries of the last second count too
        with self._lock:
            self._text = bytes(generate_latest(self.registry()))
            return self._text

    def scrape(self, *, user: str | None = None) -> bytes:
        """The latest rendered metrics (see the class notes) for ``user``."""
        self.access.decide(user, "metrics.read")
        if self.refresh_seconds <= 0:
            return self.render()
        text = self._text
        if text is None or self._thread is None or not self._thread.is_alive():
            text = self.render()
            self._start()
        return text

    def _start(self) -> None:
        with self._starting:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="mf-metrics", daemon=True)
            self._thread.start()

    def warm(self) -> None:
        """Render in the background now and then every ``refresh_seconds`` (``serve`` calls it at
        start, so even the first scrape finds the text ready)."""
        if self.refresh_seconds > 0:
            self._start()

    def _loop(self) -> None:
        import logging

        if self._text is None:
            try:
                self.render()
            except Exception:
                logging.getLogger(__name__).warning("rendering /metrics failed", exc_info=True)
        while not self._stop.wait(self.refresh_seconds):
            try:
                self.render()
            except Exception:
                logging.getLogger(__name__).warning("rendering /metrics failed", exc_info=True)

    def close(self) -> None:
        """Stop the background rendering (a scrape after this renders and starts it again)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        self._thread = None


def _as_collector(collector: StoreCollector) -> Collector:
    return collector  # type: ignore[return-value]


#: the exposition format's content type
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
