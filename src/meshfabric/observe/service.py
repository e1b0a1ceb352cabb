"""``mesh.observe``: probes, SLO evaluation and alerts, SLO status and domain health.

Effective objectives of a product, per objective: its spec's ``slos:`` > its domain's ``slos:``
in mesh.yaml > the workspace's ``slos:`` > the seed defaults (freshness ≤ 120 min and quality
≥ 0.95, each at 99 % over 30 days); availability and latency only where declared. Each
evaluation reads the recorded series (:mod:`.probes`, quality runs' ``<fqn>/score/*``, the
audit log's query latencies) and judges them with :mod:`.slo`.

Access: reading a product's SLO status or a domain's health is ``quality.read`` on each product
(a product the principal may not discover does not exist for it); the newest measured value of
an objective (freshness minutes, score, p95) only where the principal could read the product's
values unmasked and unfiltered. Probing on demand is ``quality.run``. The scheduler's checks run
as the system: they are not a principal's action.
"""

from __future__ import annotations

import builtins
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from meshfabric.errors import NotFound
from meshfabric.observe import slo as slomath
from meshfabric.observe.probes import ProbeResult, availability_series, freshness_series

if TYPE_CHECKING:
    from meshfabric.access.decision import Decision
    from meshfabric.access.service import AccessService
    from meshfabric.catalog import ProductInfo
    from meshfabric.config import Settings
    from meshfabric.connectors.base import Connector
    from meshfabric.quality.alerts import AlertInfo, DeliveryInfo
    from meshfabric.quality.run import QualityService
    from meshfabric.spec.observe_models import SLOsSpec
    from meshfabric.store import Store

log = logging.getLogger("meshfabric.observe")

DEFAULT_EVERY = timedelta(minutes=5)
_STATUS_ORDER = {"ok": 0, "no_data": 1, "burning": 2, "breached": 3}


def quality_series(fqn: str) -> str:
    """The overall score series a quality run writes (``quality/run.py``)."""
    return f"{fqn}/score/*"


_SERIES: dict[str, Callable[[str], str]] = {"freshness": freshness_series, "quality": quality_series,
                                             "availability": availability_series}


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _seconds(text: str) -> float:
    from meshfabric.spec.models import duration_seconds

    return duration_seconds(text)


def _slos(doc: Any) -> SLOsSpec | None:
    from meshfabric.spec.observe_models import SLOsSpec

    if not isinstance(doc, dict):
        return None
    try:
        return SLOsSpec.model_validate(doc)
    except ValueError:  # validated at apply; a store written by another version: ignore
        return None


def effective_objectives(layers: Sequence[tuple[str, SLOsSpec | None]]) -> tuple[list[slomath.Objective], timedelta]:
    """The objectives and evaluation interval from (origin, slos) layers, most specific first;
    freshness and quality fall back to the seed defaults."""
    from meshfabric.spec.observe_models import FreshnessSLO, QualitySLO

    out: list[slomath.Objective] = []
    for name in slomath.OBJECTIVES:
        found: Any = None
        origin = "default"
        for where, spec in layers:
            if spec is not None and getattr(spec, name) is not None:
                found, origin = getattr(spec, name), where
                break
        if found is None:
            if name == "freshness":
                found = FreshnessSLO()
            elif name == "quality":
                found = QualitySLO()
            else:
                continue
        threshold = {"freshness": lambda o: o.max_minutes, "quality": lambda o: o.min_score,
                     "availability": lambda o: 1.0, "latency": lambda o: o.p95_ms}[name](found)
        out.append(slomath.Objective(name, float(found.objective), timedelta(seconds=_seconds(found.window)),
                                     float(threshold), getattr(found, "column", None), origin))
    every = DEFAULT_EVERY
    for _, spec in layers:
        if spec is not None and "every" in spec.model_fields_set:
            every = timedelta(seconds=_seconds(spec.every))
            break
    return out, every


@dataclass(frozen=True)
class ProductSLOs:
    """Every objective of one product, judged at ``at``."""

    product: str
    domain: str
    every: timedelta
    at: datetime
    objectives: list[slomath.SLOResult] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The worst status of its objectives (``no_data`` when none has evaluations)."""
        if not self.objectives:
            return "no_data"
        return max((o.status for o in self.objectives), key=lambda s: _STATUS_ORDER[s])

    def to_dict(self) -> dict[str, Any]:
        return {"product": self.product, "domain": self.domain, "every": slomath.span_text(self.every),
                "at": self.at.isoformat(), "status": self.status,
                "objectives": [o.to_dict() for o in self.objectives]}


@dataclass
class CheckResult:
    """What one scheduled check of a product did."""

    product: str
    slos: ProductSLOs
    notified: list[tuple[AlertInfo, str]] = field(default_factory=list)
    deliveries: list[DeliveryInfo] = field(default_factory=list)


class ObserveService:
    """Probes, SLO evaluation with alerts, SLO status and domain health (``mesh.observe``)."""

    def __init__(self, store: Store, connections: Callable[[str], Connector], access: AccessService,
                 settings: Settings, quality: QualityService | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.connections = connections
        self.access = access
        self.settings = settings
        self.quality = quality
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- objectives ----------------------------------------------------------------------------
    def _product_spec(self, fqn: str) -> tuple[ProductInfo, dict[str, Any]]:
        from meshfabric.catalog import get_product
        from meshfabric.store.models import ProductRow

        info = get_product(self.store, fqn)
        with self.store.read() as s:
            doc = s.scalar(select(ProductRow.spec).where(ProductRow.domain == info.domain,
                                                          ProductRow.name == info.name))
        return info, dict(doc or {})

    def specs(self, *, domain: str | None = None) -> dict[str, tuple[str, dict[str, Any]]]:
        """fqn → (status, applied spec document) of every product (of ``domain``), in one read."""
        from meshfabric.store.models import ProductRow

        stmt = select(ProductRow.domain, ProductRow.name, ProductRow.status, ProductRow.spec).order_by(
            ProductRow.domain, ProductRow.name)
        if domain is not None:
            stmt = stmt.where(ProductRow.domain == domain)
        with self.store.read() as s:
            return {f"{d}.{n}": (status, dict(doc or {})) for d, n, status, doc in s.execute(stmt)}

    def objectives(self, fqn: str, doc: dict[str, Any] | None = None) -> tuple[list[slomath.Objective], timedelta]:
        """The effective objectives of a product and how often it is checked."""
        if doc is None:
            _, doc = self._product_spec(fqn)
        domain = fqn.split(".", 1)[0]
        mesh = self.settings.spec
        layers: list[tuple[str, SLOsSpec | None]] = [("product", _slos(doc.get("slos")))]
        if mesh is not None:
            dspec = mesh.domains.get(domain)
            layers += [("domain", dspec.slos if dspec is not None else None), ("workspace", mesh.slos)]
        return effective_objectives(layers)

    # -- probes --------------------------------------------------------------------------------
    def run_probe(self, fqn: str, *, at: datetime | None = None) -> ProbeResult:
        """Probe a product in its source and record the points (the scheduler's, as the system).
        ``at`` is the instant the probe stands for (default now): freshness is measured against it
        and the points are dated by it — for a replay of past days over the data as it stood then
        (the demo's history); not offered by the CLI or REST."""
        from meshfabric.observe import probes

        clock = (lambda: _utc(at)) if at is not None else self.clock
        info, doc = self._product_spec(fqn)
        objectives, _ = self.objectives(fqn, doc)
        column = next((o.column for o in objectives if o.name == "freshness"), None)
        try:
            connector = self.connections(info.source)
        except Exception as exc:
            from meshfabric.errors import MeshfabricError

            message = exc.message if isinstance(exc, MeshfabricError) else f"{type(exc).__name__}: {exc}"
            result = ProbeResult(info.fqn, clock(), False, None, None, None, message[:2000])
        else:
            result = probes.probe(info, connector, column=column, now=clock)
        probes.record(self.store, result)
        return result

    def probe(self, product: str, *, user: str | None = None) -> ProbeResult:
        """Probe now as ``user`` (``quality.run``); the measured values only where it may read them."""
        from dataclasses import replace

        decision = self.access.decide(user, "quality.run", product)
        result = self.run_probe(decision.product or product)
        if not decision.sees_values(None):
            result = replace(result, freshness_minutes=None, row_count=None)
        return result

    # -- evaluation ----------------------------------------------------------------------------
    def _points(self, series: str, since: datetime, until: datetime) -> list[tuple[datetime, float]]:
        from meshfabric.store.models import MetricPointRow

        with self.store.read() as s:
            rows = s.execute(select(MetricPointRow.ts, MetricPointRow.value)
                             .where(MetricPointRow.series == series, MetricPointRow.ts > since,
                                    MetricPointRow.ts <= until)
                             .order_by(MetricPointRow.ts, MetricPointRow.id))
            return [(_utc(t), float(v)) for t, v in rows]

    def _counts(self, series: str, objective: slomath.Objective, end: datetime) -> dict[timedelta, tuple[int, int]]:
        """(good, bad) points of ``series`` per span of ``objective`` ending at ``end``, counted
        in the store (one aggregate statement: no point leaves it)."""
        from sqlalchemy import and_, case, func, not_

        from meshfabric.store.models import MetricPointRow as P

        spans = slomath.spans(objective)
        good = {"freshness": P.value <= objective.threshold, "quality": P.value >= objective.threshold,
                "availability": P.value >= 1.0}[objective.name]
        columns = []
        for span in spans:
            inside = P.ts > end - span
            columns += [func.sum(case((and_(inside, good), 1), else_=0)),
                        func.sum(case((and_(inside, not_(good)), 1), else_=0))]
        stmt = select(*columns).where(P.series == series, P.ts > end - spans[-1], P.ts <= end)
        with self.store.read() as s:
            row = s.execute(stmt).one()
        return {span: (int(row[2 * i] or 0), int(row[2 * i + 1] or 0)) for i, span in enumerate(spans)}

    def _newest(self, series: str, since: datetime, until: datetime) -> tuple[datetime, float] | None:
        from meshfabric.store.models import MetricPointRow as P

        with self.store.read() as s:
            row = s.execute(select(P.ts, P.value).where(P.series == series, P.ts > since, P.ts <= until)
                            .order_by(P.ts.desc(), P.id.desc()).limit(1)).first()
        return (_utc(row[0]), float(row[1])) if row is not None else None

    def evaluate(self, fqn: str, *, at: datetime | None = None,
                 doc: dict[str, Any] | None = None) -> ProductSLOs:
        """Every objective of ``fqn`` judged at ``at`` (default now), unredacted."""
        end = _utc(at or self.clock())
        objectives, every = self.objectives(fqn, doc)
        results = []
        for o in objectives:
            since = end - max(o.window, timedelta(hours=6))
            note = ""
            if o.name == "latency":
                samples = [(t, ms) for t, ms, _ in _query_samples(self.store, {fqn}, since, end) if ms is not None]
                evals = slomath.latency_evaluations(samples, every, o.threshold)
                recent = [ms for t, ms in samples if t > end - every]
                current = slomath.p95(recent) if recent else None
            else:
                series = _SERIES[o.name](fqn)
                counts = self._counts(series, o, end)
                newest = self._newest(series, end - max(counts), end)
                current = newest[1] if newest else None
                if o.name == "freshness" and newest:
                    # the data's age now: what the last probe measured plus the time since (a probe
                    # that no longer answers must not leave the product looking as fresh as it was)
                    current = newest[1] + max(0.0, (end - newest[0]).total_seconds() / 60.0)
                if o.name == "freshness" and not newest:
                    note = "no freshness measured: the product has no date or timestamp column, or no probe ran"
                elif o.name == "quality" and not newest:
                    note = "no quality run recorded a score"
                results.append(slomath.evaluate_counts(o, counts, end, current=current, note=note))
                continue
            results.append(slomath.evaluate(o, evals, end, current=current, note=note))
        return ProductSLOs(fqn, fqn.split(".", 1)[0], every, end, results)

    def check(self, fqn: str, *, at: datetime | None = None, sleep: Callable[[float], None] | None = None,
              ) -> CheckResult:
        """Evaluate a product's objectives, open/update/resolve its SLO alerts, route the news."""
        from meshfabric.observe import alerting

        judged = self.evaluate(fqn, at=at)
        breaches: list[alerting.Breach] = []
        checked: list[tuple[str, str]] = []
        for r in judged.objectives:
            o = r.objective
            if r.good + r.bad == 0:
                continue
            for rule in slomath.BURN_RULES:
                # judged only when both windows hold evaluations: no data is no recovery
                if (r.burn_rates.get(slomath.span_text(rule.long)) is not None
                        and r.burn_rates.get(slomath.span_text(rule.short)) is not None):
                    checked.append((o.name, rule.name))
            for f in r.firing:
                breaches.append(alerting.Breach(
                    fqn, o.name, f.rule.name, f.rule.severity,
                    f"{o.name} SLO of {fqn} burns its error budget at {f.long_rate:.1f}x over "
                    f"{slomath.span_text(f.rule.long)} and {f.short_rate:.1f}x over {slomath.span_text(f.rule.short)} "
                    f"(alert above {f.rule.factor:g}x; objective {o.target:g} over {slomath.span_text(o.window)})",
                    f"{fqn}/slo.{o.name}", f.long_rate, f.rule.factor))
            if o.name in ("freshness", "quality") and r.current is not None:
                checked.append((o.name, "threshold"))
                if o.name == "freshness" and r.current > o.threshold:
                    breaches.append(alerting.Breach(
                        fqn, "freshness", "threshold", "high",
                        f"data of {fqn} is {r.current:.0f} minutes old, more than {o.threshold:g}",
                        freshness_series(fqn), r.current, o.threshold))
                if o.name == "quality" and r.current < o.threshold:
                    breaches.append(alerting.Breach(
                        fqn, "quality", "threshold", "medium",
                        f"quality score of {fqn} is {r.current:.3f}, below {o.threshold:g}",
                        quality_series(fqn), r.current, o.threshold))
        with self.store.write() as s:
            notify = alerting.sync(s, fqn, checked, breaches, judged.at)
        result = CheckResult(fqn, judged, notify)
        spec = self.settings.spec
        if notify and spec is not None and spec.observability.routes:
            kwargs: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
            result.deliveries = alerting.route(self.store, notify, spec.observability, **kwargs)
        return result

    # -- reading -------------------------------------------------------------------------------
    def _visible(self, user: str | None, domain: str | None, product: str | None) -> list[tuple[str, Decision]]:
        if product is not None:
            decision = self.access.decide(user, "quality.read", product)
            return [(decision.product or product, decision)]
        visible = self.access.visible_products(user)
        out = []
        for fqn, (status, _) in self.specs(domain=domain).items():
            if status == "retired" or (visible is not None and fqn not in visible):
                continue
            out.append((fqn, self.access.decide(user, "quality.read", fqn, audit=False)))
        return out

    def status(self, *, domain: str | None = None, product: str | None = None, user: str | None = None,
               at: datetime | None = None) -> builtins.list[ProductSLOs]:
        """SLO status of each product ``user`` may discover (``quality.read``)."""
        from dataclasses import replace

        out = []
        docs = self.specs(domain=domain) if product is None else {}
        for fqn, decision in self._visible(user, domain, product):
            judged = self.evaluate(fqn, at=at, doc=docs[fqn][1] if fqn in docs else None)
            if not decision.sees_values(None):
                judged = replace(judged, objectives=[replace(o, current=None) for o in judged.objectives])
            out.append(judged)
        return out

    def health(self, domain: str, *, since: datetime | None = None, until: datetime | None = None,
               user: str | None = None) -> dict[str, Any]:
        """The seed's ``generate_domain_health_metrics`` from recorded data, over the products of
        ``domain`` the principal may discover (default: the last 7 days)."""
        from meshfabric.store.models import DomainRow

        end = _utc(until or self.clock())
        start = _utc(since) if since is not None else end - timedelta(days=7)
        if start >= end:
            from meshfabric.errors import ConfigError

            raise ConfigError(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
        with self.store.read() as s:
            exists = s.get(DomainRow, domain) is not None
        products = [fqn for fqn, _ in self._visible(user, domain, None)]
        if not exists or (not products and self.access.visible_products(user) is not None):
            raise NotFound(f"domain '{domain}' does not exist", hint="list domains with `meshfabric domains`")
        return domain_health(self, domain, products, start, end)


# ---------------------------------------------------------------------------------------------
# Queries from the audit log (until observe/usage.py offers them)


def _names(resource: str) -> set[str]:
    return {r.strip() for r in resource.split(",") if r.strip()}


def _query_samples(store: Store, products: set[str], since: datetime, until: datetime
                   ) -> list[tuple[datetime, float | None, str]]:
    """(at, latency_ms, decision) of every audited query naming one of ``products`` (once each)."""
    return _audited_queries(store, products, since, until, by_product=False)[""]


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _points_of(store: Store, series: Sequence[str], since: datetime, until: datetime
               ) -> dict[str, list[tuple[datetime, float]]]:
    """The points of several series in one read (series → [(ts, value)], in time order)."""
    from meshfabric.store.models import MetricPointRow

    found: dict[str, list[tuple[datetime, float]]] = {name: [] for name in series}
    if not series:
        return found
    with store.read() as s:
        rows = s.execute(select(MetricPointRow.series, MetricPointRow.ts, MetricPointRow.value)
                         .where(MetricPointRow.series.in_(list(series)), MetricPointRow.ts > since,
                                MetricPointRow.ts <= until)
                         .order_by(MetricPointRow.ts, MetricPointRow.id))
        for name, t, v in rows:
            found[name].append((_utc(t), float(v)))
    return found


def _query_samples_by_product(store: Store, products: set[str], since: datetime, until: datetime
                              ) -> dict[str, list[tuple[datetime, float | None, str]]]:
    """:func:`_query_samples` of several products in one read, by product."""
    return _audited_queries(store, products, since, until, by_product=True)


def _audited_queries(store: Store, products: set[str], since: datetime, until: datetime, *, by_product: bool
                     ) -> dict[str, list[tuple[datetime, float | None, str]]]:
    """The audited queries naming ``products`` in (since, until], in time order: by product, or
    all under the key "" (a query naming two of them once)."""
    from sqlalchemy import or_

    from meshfabric.store.models_access import AuditRow

    found: dict[str, list[tuple[datetime, float | None, str]]] = {p: [] for p in products} if by_product else {"": []}
    if not products:
        return found
    domains = {p.split(".", 1)[0] for p in products}
    like = or_(*[AuditRow.resource.like(f"%{d}.%") for d in sorted(domains)])
    with store.read() as s:
        rows = s.execute(select(AuditRow.at, AuditRow.latency_ms, AuditRow.decision, AuditRow.resource)
                         .where(AuditRow.action == "query", AuditRow.at > since, AuditRow.at <= until, like)
                         .order_by(AuditRow.at))
        for at, ms, decision, resource in rows:
            named = _names(resource) & products
            for name in (named if by_product else ([""] if named else [])):
                found[name].append((_utc(at), ms, decision))
    return found


def _good_bad(store: Store, name: str, threshold: float | None, series: Sequence[str], start: datetime,
              end: datetime) -> tuple[int, int]:
    """Good and bad points of several series of one objective kind and threshold in (start, end],
    counted in the store in one statement (what :meth:`ObserveService._counts` counts per series)."""
    from sqlalchemy import case, func, not_

    from meshfabric.store.models import MetricPointRow as P

    good = {"freshness": P.value <= threshold, "quality": P.value >= threshold,
            "availability": P.value >= 1.0}[name]
    stmt = select(func.sum(case((good, 1), else_=0)), func.sum(case((not_(good), 1), else_=0))).where(
        P.series.in_(list(series)), P.ts > start, P.ts <= end)
    with store.read() as s:
        row = s.execute(stmt).one()
    return int(row[0] or 0), int(row[1] or 0)


def domain_health(service: ObserveService, domain: str, products: builtins.list[str], start: datetime,
                  end: datetime) -> dict[str, Any]:
    # quality trend: the daily mean of the overall scores of the domain's products (one read)
    daily: dict[str, list[float]] = {}
    for points in _points_of(service.store, [quality_series(fqn) for fqn in products], start, end).values():
        for t, v in points:
            daily.setdefault(t.strftime("%Y-%m-%d"), []).append(v)
    dates = sorted(daily)
    scores = [sum(daily[d]) / len(daily[d]) for d in dates]
    # SLO compliance per objective over the period, pooled over the products: the objectives from
    # the specs read once, each counted in the store, every product's queries read once
    pooled: dict[str, list[int]] = {}
    docs = service.specs(domain=domain)
    samples_of: dict[str, list[tuple[datetime, float | None, str]]] | None = None
    # point-based objectives sharing a kind and threshold are counted together, by series
    by_rule: dict[tuple[str, float | None], list[str]] = {}
    for fqn in products:
        objectives, every = service.objectives(fqn, docs[fqn][1] if fqn in docs else None)
        for o in objectives:
            if o.name != "latency":
                by_rule.setdefault((o.name, o.threshold), []).append(_SERIES[o.name](fqn))
                continue
            if samples_of is None:
                samples_of = _query_samples_by_product(service.store, set(products), start, end)
            samples = [(t, ms) for t, ms, _ in samples_of.get(fqn, []) if ms is not None]
            evals = slomath.latency_evaluations(samples, every, o.threshold)
            good, bad = slomath.window_counts(evals, end, end - start)
            acc = pooled.setdefault(o.name, [0, 0])
            acc[0] += good
            acc[1] += bad
    for (name, threshold), series in by_rule.items():
        good, bad = _good_bad(service.store, name, threshold, series, start, end)
        acc = pooled.setdefault(name, [0, 0])
        acc[0] += good
        acc[1] += bad
    metrics = {name: (g / (g + b) if g + b else None) for name, (g, b) in pooled.items()}
    known = [v for v in metrics.values() if v is not None]
    usage, performance = _usage_performance(service, domain, products, start, end)
    peak = usage.index(max(usage)) if any(usage) else None
    return {
        "domain": domain,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "products": products,
        "quality_trends": {"dates": dates, "scores": scores, "trend": slomath.trend(scores)},
        "slo_compliance": {"metrics": metrics,
                           "overall_compliance": sum(known) / len(known) if known else None},
        "usage_patterns": {"hours": list(range(24)), "usage": usage, "peak_hour": peak,
                           "average_usage": sum(usage) / 24},
        "performance_metrics": performance,
    }


def _direction(first: float | None, second: float | None) -> str:
    if first is None or second is None:
        return "stable"
    if second > first * 1.05 + 1e-9:
        return "increasing"
    if second < first * 0.95 - 1e-9:
        return "decreasing"
    return "stable"


def _usage_performance(service: ObserveService, domain: str, products: builtins.list[str], start: datetime,
                       end: datetime) -> tuple[builtins.list[int], dict[str, Any]]:
    """Queries per hour of the day and query performance over the period. Through
    ``observe/usage.py`` when it is installed and the principal sees every product of the domain
    (its SQL filters by domain); else from the audit rows of the visible products."""
    from meshfabric.catalog import list_products

    mid = start + (end - start) / 2
    usage_mod: Any = None
    try:
        import importlib

        usage_mod = importlib.import_module("meshfabric.observe.usage")
    except ImportError:
        usage_mod = None
    everything = {p.fqn for p in list_products(service.store, domain=domain) if p.status != "retired"}
    if usage_mod is not None and everything <= set(products) and end > start:
        hourly = usage_mod.usage_by_hour(service.store, domain=domain, since=start, until=end)
        usage = [0] * 24
        first_n = second_n = 0
        for h in hourly:
            at = datetime.fromisoformat(h["hour"])
            usage[at.hour] += int(h["queries"])
            if at <= mid:
                first_n += int(h["queries"])
            else:
                second_n += int(h["queries"])
        perf = usage_mod.query_performance(service.store, domain=domain, since=start, until=end)
        halves = [usage_mod.query_performance(service.store, domain=domain, since=a, until=b)
                  for a, b in ((start, mid), (mid, end))]
        queries, errors = int(perf["queries"]), int(perf["errors"])
        p50, p95 = perf["p50_ms"], perf["p95_ms"]
        latency_trend = _direction(halves[0]["p50_ms"], halves[1]["p50_ms"])
    else:
        samples = _query_samples(service.store, set(products), start, end)
        usage = [0] * 24
        for t, _, _ in samples:
            usage[t.hour] += 1
        ok = [(t, float(ms)) for t, ms, d in samples if ms is not None and d == "allowed"]
        queries, errors = len(samples), sum(1 for _, _, d in samples if d != "allowed")
        first_n = sum(1 for t, _, _ in samples if t <= mid)
        second_n = queries - first_n
        p50, p95 = _percentile([v for _, v in ok], 0.5), _percentile([v for _, v in ok], 0.95)
        latency_trend = _direction(_percentile([v for t, v in ok if t <= mid], 0.5),
                                   _percentile([v for t, v in ok if t > mid], 0.5))
    hours = max(1e-9, (end - start).total_seconds() / 3600)
    return usage, {
        "query_latency": {"p50": p50, "p95": p95, "unit": "ms", "trend": latency_trend},
        "throughput": {"value": queries / hours, "unit": "queries/h",
                       "trend": _direction(float(first_n), float(second_n)) if queries >= 4 else "stable"},
        "error_rate": {"value": (100.0 * errors / queries) if queries else None, "unit": "%", "errors": errors},
        "queries": queries,
    }
