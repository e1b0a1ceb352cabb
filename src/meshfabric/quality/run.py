"""Run a product's quality rules in its source, judge them, score them and keep the run.

One run, in order:

1. the rules come from the product's *applied* spec (the catalog), not from the files on disk;
2. one connection to the product's source (``Connector.run_on_port``) sends the single
   aggregate scan of :func:`~meshfabric.quality.compile.compile_scan`, then the statements of
   rules that need their own (duplicates, orphans, custom SQL, quantiles where the dialect has
   no ordered-set aggregate, the anomaly sample), then one bounded sample of failing rows per
   failed row-level rule. Referential integrity against a product in *another* source reads
   that product's distinct keys once through the query engine; up to ``KEYSET_LIMIT`` of them
   become an IN list inside this product's scan (its own rows never move), more (or a compound
   key) make it one federated anti-join (only the key columns move, into DuckDB);
3. each rule is judged (:mod:`.rules` states the semantics) and scored (:mod:`.scores`);
4. one write transaction stores the run, every rule result, every observation as a metric point
   and the events ``quality.run_completed`` (always) and ``quality.failed`` (when an
   error-severity rule failed);
5. the monitor, when installed (``meshfabric.quality.monitor``), observes the new points.

Metric series are named ``{product}/{metric}/{column}``: ``metric`` is the rule's type (or its
``metric:``; statistics use the statistic, e.g. ``mean`` or ``quantile_0.95``), ``column`` the
rule's columns joined by ``,`` or ``*`` for the whole table. Row-level rules also write
``{metric}.failing_rows``; uniqueness ``uniqueness.duplicate_values``; anomaly rules
``anomaly.sample_size``. Each run adds ``row_count/*``, ``score/*`` and ``score.<dimension>/*``.

A source that fails mid-run (gone, unreachable, a statement refused) does not crash the run: it
is stored with status ``error`` and the reason, and no result or point.
"""

from __future__ import annotations

import importlib
import logging
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from meshfabric.errors import ConfigError, MeshfabricError
from meshfabric.quality import compile as qc
from meshfabric.quality.scores import score_run
from meshfabric.spec.quality_rules import (
    AcceptedValuesRule,
    AnomalyRule,
    AnyRule,
    CompletenessRule,
    CustomSqlRule,
    FreshnessRule,
    ReferentialRule,
    RowCountRule,
    SchemaRule,
    StatisticRule,
    UniquenessRule,
    parse_rules,
)

if TYPE_CHECKING:
    from meshfabric.access.decision import Decision
    from meshfabric.access.enforce import QueryService
    from meshfabric.access.service import AccessService
    from meshfabric.catalog import ProductInfo
    from meshfabric.connectors.base import ColumnInfo, Connector, PortSession
    from meshfabric.events import EventLog
    from meshfabric.spec.models import SparkEngineSpec
    from meshfabric.store import Store
    from meshfabric.store.models import MetricPointRow

log = logging.getLogger("meshfabric.quality")

#: failing rows kept per failed rule
SAMPLE_ROWS = 5
#: a referenced product in another source with at most this many distinct keys has them sent to
#: this product's source as a literal list, so the check joins the one scan; more → federated query
KEYSET_LIMIT = 10_000


@dataclass
class RuleResult:
    """One rule's outcome. ``total_rows`` counts the rows the rule checked (its non-null rows
    for validity rules, the sample for anomalies); None for rules judged as a whole."""

    rule: str
    type: str
    columns: list[str]
    dimension: str
    severity: str
    passed: bool
    observed: float | None
    threshold: str
    failing_rows: int | None = None
    total_rows: int | None = None
    sample: list[Any] = field(default_factory=list)
    detail: str = ""
    metric: str = ""
    #: further observations written as series ``{metric}.{key}`` (duplicate values, sample size)
    extra: dict[str, float] = field(default_factory=dict)
    #: why the rule could not be measured (it then did not pass, and counts in no score); the
    #: run's other rules keep their results
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class QualityRun:
    product: str
    status: str  # passed | failed | error
    results: list[RuleResult]
    score: float | None
    dimension_scores: dict[str, float]
    started_at: datetime
    finished_at: datetime
    seconds: float
    queries: int
    error: str = ""
    correlation_id: str = ""
    id: int | None = None
    #: the statements sent to the source in this run (not stored)
    statements: list[str] = field(default_factory=list)

    @property
    def rules_failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)

    @property
    def errors_failed(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed and r.severity == "error"]

    def to_dict(self, *, statements: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "product": self.product,
            "status": self.status,
            "score": self.score,
            "dimension_scores": self.dimension_scores,
            "rules_total": len(self.results),
            "rules_failed": self.rules_failed,
            "error": self.error,
            "queries": self.queries,
            "seconds": round(self.seconds, 6),
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "correlation_id": self.correlation_id,
            "results": [r.to_dict() for r in self.results],
        }
        if statements:
            out["statements"] = list(self.statements)
        return out


class QualityService:
    """``mesh.quality``: run rules, read runs back, profile — each as the acting principal.

    A run measures the whole product in its source and is stored whole: it is the product's
    quality record, whoever asked for it. What a principal gets back is shaped by its access
    decision (:func:`redact_run`): verdicts and scores to anyone who may discover the product,
    measured values only where it could read the same values through a query.
    """

    def __init__(self, store: Store, connections: Callable[[str], Connector], access: AccessService,
                 queries: QueryService, events: EventLog) -> None:
        self.store = store
        self.connections = connections
        self.access = access
        self.queries = queries
        self.events = events

    # -- rules -------------------------------------------------------------------------------
    def rules(self, product: str, *, user: str | None = None) -> list[AnyRule]:
        """The quality rules of a product as applied to the catalog."""
        return self._rules(self.access.decide(user, "discover", product).product or product)

    def _rules(self, fqn: str) -> list[AnyRule]:
        from meshfabric.store.models import ProductRow

        domain, _, name = fqn.partition(".")
        with self.store.read() as s:
            row = s.scalar(select(ProductRow).where(ProductRow.domain == domain, ProductRow.name == name))
            doc = (row.spec or {}).get("quality") if row is not None else None
        return parse_rules(doc)

    def products_with_rules(self, *, user: str | None = None) -> list[str]:
        from meshfabric.catalog import list_products

        visible = self.access.visible_products(user)
        return [p.fqn for p in list_products(self.store) if p.status != "retired" and self._rules(p.fqn)
                and (visible is None or p.fqn in visible)]

    # -- running -----------------------------------------------------------------------------
    def run(self, product: str, *, user: str | None = None, at: datetime | None = None,
            engine: str | None = None) -> QualityRun:
        """Run every rule of ``product`` in its source and store the run (see the module notes);
        returns it as ``user`` may see it (:func:`redact_run`).

        ``at`` dates the run (default now): its start, its points, its events and the queries it
        makes, and the instant freshness rules measure the data's age at. A replay of past days
        (the demo's history) runs the rules for real over the data as it stood and records the
        run at the time it stands for. Not offered by the CLI or REST.

        ``engine`` "spark" runs the compiled statements on Spark over the product read by its
        executors (:mod:`meshfabric.spark.quality`), "duckdb" in the source; None: Spark when the
        workspace's ``engine:`` is Spark, else in the source. Verdicts and observations are the same.

        Needs ``query`` on the product and on every product a referential rule checks against.
        An unknown product raises NotFound; anything that goes wrong while measuring is stored
        as a run with status ``error``.
        """
        from meshfabric.catalog import get_product

        decision = self.access.decide(user, "quality.run", product)
        info = get_product(self.store, decision.product or product)
        rules = self._rules(info.fqn)
        for rule in rules:
            if isinstance(rule, ReferentialRule):
                self.access.decide(user, "query", rule.reference)
        started = at.astimezone(UTC) if at is not None else datetime.now(UTC)
        clock = time.perf_counter()
        spark = self.queries.engine_spec(engine)
        if spark is not None:  # an engine that cannot start is a usage error, not a failed run
            from meshfabric.spark import spark_session

            spark_session(spark)
        evaluation = _Evaluation(self, info, rules, started, dated=at is not None, spark=spark)
        error = ""
        try:
            results = evaluation.run()
        except MeshfabricError as exc:
            results, error = [], str(exc)
        except Exception as exc:  # a driver error no connector translated: still a recorded run
            log.exception("quality run of %s failed", info.fqn)
            results, error = [], f"{type(exc).__name__}: {exc}"
        scores = score_run(results)
        if error:
            status = "error"
        else:
            status = "failed" if any(not r.passed and r.severity == "error" for r in results) else "passed"
        elapsed = time.perf_counter() - clock
        finished = started + timedelta(seconds=elapsed) if at is not None else datetime.now(UTC)
        run = QualityRun(
            info.fqn, status, results, scores.overall, scores.dimensions, started, finished,
            elapsed, evaluation.queries, error, uuid.uuid4().hex,
            statements=evaluation.statements,
        )
        points = self._persist(info, run, evaluation.rows)
        self._observe(points)
        if self.events.subscriptions:
            self.events.deliver()
        return redact_run(run, decision, opaque_rules=self._opaque_rules(user, rules))

    def _opaque_rules(self, user: str | None, rules: Sequence[AnyRule]) -> frozenset[str]:
        """Referential rules whose counts depend on rows of the referenced product ``user`` may
        not read unmasked and unfiltered (or may not see at all)."""
        from meshfabric.errors import NotFound

        opaque = set()
        for rule in rules:
            if not isinstance(rule, ReferentialRule):
                continue
            try:
                seen = self.access.decide(user, "quality.read", rule.reference, audit=False)
            except NotFound:
                opaque.add(rule.label)
                continue
            if not seen.sees_values(rule.reference_names()):
                opaque.add(rule.label)
        return frozenset(opaque)

    def run_all(self, *, user: str | None = None, engine: str | None = None) -> list[QualityRun]:
        """Run every product that has rules, one after the other."""
        return [self.run(p, user=user, engine=engine) for p in self.products_with_rules(user=user)]

    def _persist(self, info: ProductInfo, run: QualityRun, rows: int | None) -> list[MetricPointRow]:
        from meshfabric.events import DomainEvent, append
        from meshfabric.store.models import MetricPointRow, QualityResultRow, QualityRunRow

        with self.store.write() as s:
            row = QualityRunRow(
                product=run.product, status=run.status, score=run.score, dimension_scores=run.dimension_scores,
                rules_total=len(run.results), rules_failed=run.rules_failed, error=run.error[:8000],
                queries=run.queries, seconds=run.seconds, correlation_id=run.correlation_id,
                started_at=run.started_at, finished_at=run.finished_at,
            )
            s.add(row)
            s.flush()
            run.id = int(row.id)
            for r in run.results:
                s.add(QualityResultRow(
                    run_id=run.id, product=run.product, rule=r.rule, rule_type=r.type, column=",".join(r.columns),
                    dimension=r.dimension, severity=r.severity, passed=r.passed, observed=_finite(r.observed),
                    threshold=r.threshold[:512], failing_rows=r.failing_rows, total_rows=r.total_rows,
                    sample=r.sample, detail=r.detail, measured_at=run.started_at,
                ))
            points = [MetricPointRow(series=series, product=run.product, metric=metric, value=value, ts=run.started_at)
                      for series, metric, value in _points(run, rows)]
            s.add_all(points)
            done = DomainEvent("quality.run_completed", info.domain, {
                "product": run.product, "run_id": run.id, "status": run.status, "score": run.score,
                "dimension_scores": run.dimension_scores, "rules_total": len(run.results),
                "rules_failed": run.rules_failed, "error": run.error,
            }, correlation_id=run.correlation_id, timestamp=run.finished_at)
            append(s, done)
            if run.errors_failed:
                append(s, replace(done.caused("quality.failed", info.domain, {
                    "product": run.product, "run_id": run.id,
                    "failed": [{"rule": r.rule, "observed": _finite(r.observed), "threshold": r.threshold,
                                "failing_rows": r.failing_rows, "dimension": r.dimension}
                               for r in run.errors_failed],
                }), timestamp=run.finished_at))
            s.flush()
        return points

    def _observe(self, points: list[MetricPointRow]) -> None:
        """Hand the stored points to the monitor (``monitor.observe(store, points)``), when that
        module is installed. The run is already committed: a monitor failure is logged, and
        neither undoes nor hides it."""
        if not points:
            return
        try:
            monitor = importlib.import_module("meshfabric.quality.monitor")
            observe: Callable[..., Any] | None = getattr(monitor, "observe", None)
            if observe is not None:
                observe(self.store, points)
        except ModuleNotFoundError as exc:
            if exc.name != "meshfabric.quality.monitor":
                log.exception("the quality monitor cannot be loaded")
        except Exception:
            log.exception("the quality monitor failed to observe %d points", len(points))

    # -- reading -----------------------------------------------------------------------------
    def history(self, product: str, *, limit: int = 20, user: str | None = None) -> list[QualityRun]:
        """The latest runs of a product, newest first, with their rule results as ``user`` may
        see them (``quality.read``, :func:`redact_run`)."""
        from meshfabric.store.models import QualityResultRow, QualityRunRow

        decision = self.access.decide(user, "quality.read", product)
        fqn = decision.product
        opaque = self._opaque_rules(user, self._rules(fqn or product))
        with self.store.read() as s:
            runs = list(s.scalars(select(QualityRunRow).where(QualityRunRow.product == fqn)
                                  .order_by(QualityRunRow.started_at.desc(), QualityRunRow.id.desc()).limit(limit)))
            ids = [r.id for r in runs]
            results: dict[int, list[RuleResult]] = {i: [] for i in ids}
            if ids:
                for r in s.scalars(select(QualityResultRow).where(QualityResultRow.run_id.in_(ids))
                                   .order_by(QualityResultRow.id)):
                    results[int(r.run_id)].append(RuleResult(
                        r.rule, r.rule_type, r.column.split(",") if r.column else [], r.dimension, r.severity,
                        bool(r.passed), r.observed, r.threshold, r.failing_rows, r.total_rows, list(r.sample or []),
                        r.detail,
                    ))
        return [
            redact_run(QualityRun(r.product, r.status, results[r.id], r.score, dict(r.dimension_scores or {}),
                                  _utc(r.started_at), _utc(r.finished_at or r.started_at), r.seconds, r.queries,
                                  r.error, r.correlation_id, int(r.id)), decision, opaque_rules=opaque)
            for r in runs
        ]

    # -- profiles ----------------------------------------------------------------------------
    def profile(self, product: str, *, user: str | None = None, columns: Sequence[str] | None = None,
                **options: Any) -> Any:
        """Profile a product's columns inside its source (``ProductProfile``).

        Options: ``columns`` (names), ``top`` (top values per column, default 10), ``quantiles``
        (default 0.05, 0.25, 0.5, 0.75, 0.95), ``reveal`` (show values of pii columns). A profile
        reads raw values over every row: a principal with a row filter on the product is
        refused, and columns it sees masked are left out (asking for one by name is refused).
        """
        from meshfabric.catalog import get_product
        from meshfabric.errors import AccessDenied
        from meshfabric.quality.profile import profile_product

        decision = self.access.decide(user, "profile", product)
        fqn = decision.product or product
        name = decision.principal.name
        if decision.policy is not None and decision.policy.row_filter is not None:
            self.access.audit(name, "profile", fqn, "denied", "row-filtered principal")
            raise AccessDenied(f"'{name}' sees only some rows of '{fqn}' and may not profile it: a profile "
                               "measures every row", hint="query the product instead; its row filter then applies")
        info = get_product(self.store, fqn)
        masked = decision.masked_columns
        if masked:
            asked = [c for c in columns or [] if c.lower() in masked]
            if asked:
                self.access.audit(name, "profile", fqn, "denied", f"masked columns {', '.join(asked)}")
                raise AccessDenied(f"'{name}' sees column(s) {', '.join(asked)} of '{fqn}' masked and may not "
                                   "profile them", hint="profile the other columns, or query the product")
            columns = [c for c in (columns or [c["name"] for c in info.columns]) if c.lower() not in masked]
            if not columns:
                raise AccessDenied(f"'{name}' sees every column of '{fqn}' masked: nothing to profile")
        return profile_product(info, self.connections(info.source), columns=columns, **options)

    def record_profile(self, profile: Any) -> Any:
        """Store a profile's numbers as metric points (``{product}/profile.<stat>/<column>``) and
        let the monitor judge them; returns the monitor's ``ObserveResult``."""
        from meshfabric.quality.monitor import Observation, record

        result = record(self.store, [Observation(profile.product, metric, value, column, profile.profiled_at)
                                     for metric, column, value in profile.metrics()])
        if self.events.subscriptions:
            self.events.deliver()
        return result


#: said in place of values a principal may not see
WITHHELD = "values withheld: they are measured over data this principal sees masked, filtered or not at all"


def redact_run(run: QualityRun, decision: Decision, *, opaque_rules: frozenset[str] = frozenset()) -> QualityRun:
    """``run`` as the principal of ``decision`` may see it: verdicts, thresholds and scores
    always; observed values, row counts, samples, details and extra observations of a rule only
    when it may read the rule's columns unmasked and unfiltered (a custom SQL rule reads any
    column); the statements sent and an error's text only when it may read the whole product so.
    ``opaque_rules`` names rules whose values also depend on data it may not read elsewhere (a
    referential rule's referenced product); theirs are withheld too.

    >>> from meshfabric.access.decision import Decision
    >>> from meshfabric.access.model import Principal
    >>> r = RuleResult("r", "completeness", ["email"], "completeness", "error", False, 0.5, ">= 0.9", 3, 6,
    ...                [{"email": None}], "3 of 6")
    >>> run = QualityRun("crm.c", "failed", [r], 0.5, {}, datetime.now(UTC), datetime.now(UTC), 0.1, 1)
    >>> seen = redact_run(run, Decision(Principal("eve"), "quality.read", "crm.c", 1))
    >>> (seen.results[0].passed, seen.results[0].observed, seen.results[0].sample, run.results[0].observed)
    (False, None, [], 0.5)
    """
    from dataclasses import replace

    if decision.sees_values(None) and not opaque_rules:
        return run
    results = []
    hidden_dimensions: set[str] = set()
    for r in run.results:
        # a failing row's sample also shows the product's key columns, which may be masked
        shown = {str(k) for row in r.sample if isinstance(row, dict) for k in row
                 if not str(k).startswith("_") and k not in ("rows", "problem")}
        columns = None if r.type == "custom_sql" else [*r.columns, *sorted(shown)]
        if decision.sees_values(columns) and r.rule not in opaque_rules:
            results.append(r)
        else:
            hidden_dimensions.add(r.dimension)
            results.append(replace(r, observed=None, failing_rows=None, total_rows=None, sample=[], detail=WITHHELD,
                                   extra={}))
    error = ("the run failed in the source (the message is shown to principals who may read the product)"
             if run.error else "")
    # a score is 1 - failing/checked of its rules: measured like their values, and withheld with them
    dimensions = {d: v for d, v in run.dimension_scores.items() if d not in hidden_dimensions}
    score = run.score if not hidden_dimensions else None
    return replace(run, results=results, error=error, statements=[], score=score, dimension_scores=dimensions)




def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _points(run: QualityRun, rows: int | None) -> list[tuple[str, str, float]]:
    """Every observation of a run as (series, metric, value); see the module notes for names."""
    out: dict[str, tuple[str, float]] = {}

    def add(metric: str, column: str, value: float | None) -> None:
        if value is not None and math.isfinite(value):
            out.setdefault(f"{run.product}/{metric}/{column}", (metric, float(value)))

    for r in run.results:
        column = ",".join(r.columns) or "*"
        add(r.metric, column, r.observed)
        if r.failing_rows is not None:
            add(f"{r.metric}.failing_rows", column, r.failing_rows)
        for key, value in r.extra.items():
            add(f"{r.metric}.{key}", column, value)
    if run.status != "error":
        add("row_count", "*", rows)
        add("score", "*", run.score)
        for dim, value in run.dimension_scores.items():
            add(f"score.{dim}", "*", value)
    return [(series, metric, value) for series, (metric, value) in out.items()]


# ---------------------------------------------------------------------------------------------
# Values as drivers return them


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        raise ConfigError(f"expected a number from the source, got {value!r}") from None


def _count(value: Any) -> int:
    """A count as an exact integer (drivers return int, Decimal, float or numeric text)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    try:
        return int(Decimal(str(value)).to_integral_value())
    except ArithmeticError:
        raise ConfigError(f"expected a count from the source, got {value!r}") from None


def _instant(value: Any) -> datetime | None:
    """A driver's timestamp as an aware UTC datetime; naive values are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, dtime(0), tzinfo=UTC)
    if isinstance(value, int | float | Decimal):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip()
    try:
        return _instant(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except ValueError:
            raise ConfigError(f"'{text}' is not a timestamp") from None


def jsonable(value: Any) -> Any:
    """A sample value as JSON: numbers stay numbers, times become ISO text, bytes text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def _rows(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [{n: jsonable(v) for n, v in zip(names, row, strict=False)} for row in rows]


# ---------------------------------------------------------------------------------------------
# One run's measurements


class _Evaluation:
    """Measures and judges the rules of one product; counts and keeps every statement sent."""

    def __init__(self, service: QualityService, info: ProductInfo, rules: list[AnyRule], started: datetime,
                 *, dated: bool = False, spark: SparkEngineSpec | None = None) -> None:
        self.service = service
        #: run the statements on Spark instead of in the source
        self.spark = spark
        self.info = info
        self.rules = rules
        self.started = started
        #: the run was given its time (``QualityService.run(at=)``): its queries are dated by it too
        self.at = started if dated else None
        self.statements: list[str] = []
        self.rows: int | None = None
        #: the rules as compiled: a referential rule checked against a key list is an IN list
        self.scan_rules: list[AnyRule] = list(rules)
        self._before_session = 0

    @property
    def queries(self) -> int:
        return len(self.statements)

    def run(self) -> list[RuleResult]:
        from meshfabric.spec.models import OutputPort

        if not self.rules:
            return []
        connector = self.service.connections(self.info.source)
        port = OutputPort.model_validate(self.info.output)
        local, remote = self._references(connector)
        self.scan_rules = list(self.rules)
        for i, rule in list(remote.items()):
            keys = self._reference_keys(rule)
            if keys is not None:
                self.scan_rules[i] = AcceptedValuesRule.model_construct(
                    type="accepted_values", column=rule.column_names()[0], values=keys, threshold=rule.threshold,
                    name=rule.label, severity=rule.severity, dimension=rule.dimension, metric=rule.metric,
                )
                del remote[i]
        self._before_session = len(self.statements)
        if self.spark is None:
            results = connector.run_on_port(port, lambda session: self._measure(session, local))
        else:
            from meshfabric.spark.quality import run_on_port

            results = run_on_port(self.spark, connector, port, lambda session: self._measure(session, local))
        for i, rule in remote.items():
            results[i] = self._federated(rule, results[i])
        return results

    def _reference_keys(self, rule: ReferentialRule) -> list[Any] | None:
        """The referenced product's distinct keys, read through the query engine, when the key
        is one column and there are at most KEYSET_LIMIT of them; else None."""
        if len(rule.column_names()) != 1:
            return None
        key = exp_column(rule.reference_names()[0])
        sql = (f"SELECT DISTINCT {key} FROM {rule.reference} WHERE {key} IS NOT NULL ORDER BY 1 "
               f"LIMIT {KEYSET_LIMIT + 1}")
        self.statements.append(sql)
        column = self.service.queries.run(sql, at=self.at).arrow().column(0).to_pylist()
        return column if len(column) <= KEYSET_LIMIT else None

    def _references(self, connector: Any) -> tuple[dict[int, tuple[str, list[ColumnInfo]]], dict[int, ReferentialRule]]:
        """Referenced products of referential rules: in the same source (relation and columns,
        for an anti-join in the source) or elsewhere (checked by a federated query)."""
        from meshfabric.catalog import get_product
        from meshfabric.spec.models import OutputPort

        local: dict[int, tuple[str, list[ColumnInfo]]] = {}
        remote: dict[int, ReferentialRule] = {}
        for i, rule in enumerate(self.rules):
            if not isinstance(rule, ReferentialRule):
                continue
            target = get_product(self.service.store, rule.reference)
            if target.source == self.info.source and self.spark is None:  # on Spark: a federated check
                port = OutputPort.model_validate(target.output)
                local[i] = connector.run_on_port(port, lambda s: (s.relation, list(s.columns)))
            else:
                remote[i] = rule
        return local, remote

    def _fetch(self, session: PortSession, sql: str) -> list[tuple[Any, ...]]:
        self.statements.append(sql)
        return list(session.fetch(sql))

    def _keys(self, columns: Sequence[ColumnInfo]) -> list[ColumnInfo]:
        """The product's declared primary key columns, shown beside each failing row."""
        names = [c["name"] for c in self.info.columns if c.get("primary_key")]
        try:
            return qc.resolve(names, columns)
        except ConfigError:
            return []

    def _measure(self, session: PortSession, local: dict[int, tuple[str, list[ColumnInfo]]]) -> list[RuleResult]:
        del self.statements[self._before_session:]  # a retried session starts its statements again
        columns = list(session.columns)
        d = qc.dialect(session.dialect)
        # a rule that cannot be compiled (a literal that does not fit its column, a column gone)
        # stays out of the scan and is recorded as an error; the others are measured
        errors: dict[int, str] = {}
        for i, rule in enumerate(self.scan_rules):
            try:
                qc.measures(rule, qc.resolve(rule.column_names(), columns), d)
            except (MeshfabricError, ValueError) as exc:
                errors[i] = _message(exc)
        ok = [i for i in range(len(self.scan_rules)) if i not in errors]
        scan = qc.compile_scan([self.scan_rules[i] for i in ok], columns, session.relation, session.dialect)
        values = {(ok[k] if isinstance(k, int) else k, role): v
                  for (k, role), v in scan.values(lambda sql: self._fetch(session, sql)).items()}
        self.rows = _count(values[("*", "rows")])
        judge = _Judge(self, session, columns, values, local)
        return [_errored(rule, errors[i]) if i in errors else judge.isolated(i, rule)
                for i, rule in enumerate(self.rules)]

    def _federated(self, rule: ReferentialRule, in_scan: RuleResult) -> RuleResult:
        sql = qc.federated_orphans_sql(rule, self.info.fqn)
        self.statements.append(sql)
        failing = _count(self.service.queries.run(sql, at=self.at).arrow().column(0)[0].as_py())
        result = _row_result(rule, failing, in_scan.total_rows or 0)
        result.detail = f"checked against {rule.reference} in another source (federated query)"
        if not result.passed:
            sample = qc.federated_orphans_sql(rule, self.info.fqn, sample=SAMPLE_ROWS)
            self.statements.append(sample)
            result.sample = [jsonable(r) for r in self.service.queries.run(sample, at=self.at).arrow().to_pylist()]
        return result


def exp_column(name: str) -> str:
    """A column name quoted for the federated engine (DuckDB)."""
    return '"' + name.replace('"', '""') + '"'


def _base(rule: AnyRule, passed: bool, observed: float | None, **kw: Any) -> RuleResult:
    return RuleResult(rule.label, rule.type, rule.column_names(), rule.effective_dimension, rule.severity, passed,
                      observed, rule.threshold_text(), metric=rule.metric_name, **kw)


def _message(exc: BaseException) -> str:
    hint = getattr(exc, "hint", None)
    text = str(exc) if isinstance(exc, MeshfabricError) else f"{type(exc).__name__}: {exc}"
    return f"{text} ({hint})" if hint else text


def _errored(rule: AnyRule, message: str) -> RuleResult:
    """A rule that could not be measured: not passed, no observation, the reason kept."""
    return _base(rule, False, None, detail=f"error: {message}", error=message)


def _row_result(rule: Any, failing: int, checked: int) -> RuleResult:
    """A rule judged by the share of its checked rows that pass."""
    failing = min(failing, checked) if checked else failing
    observed = (checked - failing) / checked if checked > 0 else 1.0
    return _base(rule, observed >= rule.threshold, observed, failing_rows=failing, total_rows=checked)


class _Judge:
    """Turns one scan's values (and the statements some rules need) into rule results."""

    def __init__(self, ev: _Evaluation, session: PortSession, columns: list[ColumnInfo],
                 values: dict[tuple[int | str, str], Any], local: dict[int, tuple[str, list[ColumnInfo]]]) -> None:
        self.ev = ev
        self.session = session
        self.columns = columns
        self.values = values
        self.local = local
        self.rows = ev.rows or 0
        self.keys = ev._keys(columns)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return self.ev._fetch(self.session, sql)

    def isolated(self, i: int, rule: AnyRule) -> RuleResult:
        """:meth:`rule`, with a failure of this rule alone recorded as its error. A source error
        is the rule's only while the source still answers (a statement it refused); a source
        that is gone fails the whole run."""
        try:
            return self.rule(i, rule)
        except Exception as exc:
            if not isinstance(exc, ConfigError) and not self._answers():
                raise
            if not isinstance(exc, MeshfabricError | ArithmeticError | ValueError | TypeError):
                log.exception("rule '%s' of %s failed", rule.label, self.ev.info.fqn)
            return _errored(rule, _message(exc))

    def _answers(self) -> bool:
        try:
            self.fetch("SELECT 1")
        except Exception:
            return False
        return True

    def rule(self, i: int, rule: AnyRule) -> RuleResult:
        v = {role: value for (index, role), value in self.values.items() if index == i}
        relation, dialect = self.session.relation, self.session.dialect
        if isinstance(rule, CompletenessRule):
            result = _row_result(rule, self.rows - _count(v["nonnull"]), self.rows)
        elif isinstance(rule, UniquenessRule):
            rows = self.fetch(qc.duplicates_sql(rule, self.columns, relation, dialect, SAMPLE_ROWS))
            dup_values, dup_rows = (_count(rows[0][-2]), _count(rows[0][-1])) if rows else (0, 0)
            result = _row_result(rule, dup_rows, _count(v["checked"]))
            result.extra["duplicate_values"] = dup_values
            result.detail = f"{dup_rows} rows share {dup_values} duplicated values"
            if not result.passed:  # the most repeated values came back with the totals
                names = [c.name for c in qc.resolve(rule.column_names(), self.columns)]
                result.sample = _rows([*names, "rows"], [r[:-2] for r in rows])
        elif isinstance(rule, ReferentialRule) and "failing" in v:  # checked against the key list in the scan
            result = _row_result(rule, _count(v["failing"]), _count(v["checked"]))
            result.detail = f"keys of {rule.reference} (another source) checked in this source's scan"
        elif isinstance(rule, ReferentialRule):
            checked = _count(v["checked"])
            if i not in self.local:
                return _row_result(rule, 0, checked)  # measured by the federated query after this session
            ref_relation, ref_columns = self.local[i]
            failing = self.fetch(qc.orphans_sql(rule, self.columns, relation, ref_columns, ref_relation, dialect))[0][0]
            result = _row_result(rule, _count(failing), checked)
        elif isinstance(rule, CustomSqlRule):
            result = self._custom(rule)
        elif isinstance(rule, FreshnessRule):
            result = self._freshness(rule, v["latest"])
        elif isinstance(rule, RowCountRule):
            ok = (rule.min is None or self.rows >= rule.min) and (rule.max is None or self.rows <= rule.max)
            result = _base(rule, ok, float(self.rows))
        elif isinstance(rule, StatisticRule):
            result = self._statistic(rule, v)
        elif isinstance(rule, SchemaRule):
            result = self._schema(rule)
        elif isinstance(rule, AnomalyRule):
            result = self._anomaly(rule, _count(v["checked"]))
        else:
            result = _row_result(rule, _count(v["failing"]), _count(v["checked"]))
        if not result.passed and result.failing_rows and not result.sample:
            result.sample = self._sample(i, rule)
        return result

    # -- samples -----------------------------------------------------------------------------
    def _sample(self, i: int, rule: AnyRule) -> list[Any]:
        relation, dialect = self.session.relation, self.session.dialect
        if isinstance(rule, ReferentialRule) and i not in self.local:
            rule = self.ev.scan_rules[i]  # the key-list form
        elif isinstance(rule, ReferentialRule):
            ref_relation, ref_columns = self.local[i]
            sql = qc.orphans_sql(rule, self.columns, relation, ref_columns, ref_relation, dialect, sample=SAMPLE_ROWS)
            return _rows(rule.column_names(), self.fetch(sql))
        if isinstance(rule, CustomSqlRule):
            return [jsonable(list(r)) for r in self.fetch(qc.custom_sql(rule, relation, dialect, sample=SAMPLE_ROWS))]
        if qc.failing_predicate(rule, qc.resolve(rule.column_names(), self.columns), qc.dialect(dialect)) is None:
            return []
        cols = qc.resolve(rule.column_names(), self.columns)
        shown = list(dict.fromkeys([*self.keys, *cols]))
        rows = self.fetch(qc.sample_sql(rule, self.columns, self.keys, relation, dialect, SAMPLE_ROWS))
        return _rows([c.name for c in shown], rows)

    # -- rules with their own logic ----------------------------------------------------------
    def _custom(self, rule: CustomSqlRule) -> RuleResult:
        rows = self.fetch(qc.custom_sql(rule, self.session.relation, self.session.dialect))
        if rule.returns == "failing_rows":
            result = _row_result(rule, _count(rows[0][0]), self.rows)
            return result
        if not rows or not rows[0]:
            return _base(rule, False, None, detail="the metric query returned no row")
        value = _number(rows[0][0])
        ok = value is not None and (rule.min is None or value >= rule.min) and (rule.max is None or value <= rule.max)
        return _base(rule, ok, value, detail="" if value is not None else "the metric is NULL")

    def _freshness(self, rule: FreshnessRule, latest: Any) -> RuleResult:
        newest = _instant(latest)
        if newest is None:
            return _base(rule, False, None, detail="no value to date the data by")
        age = (self.ev.started - newest).total_seconds()
        return _base(rule, age <= rule.max_age_seconds, age, detail=f"newest value {newest.isoformat()}")

    def _statistic(self, rule: StatisticRule, v: dict[str, Any]) -> RuleResult:
        value: float | None
        if "value" in v:
            value = _number(v["value"])
        elif rule.statistic == "stddev":  # sums around one of the values (compile.variance_from_shifted_sums)
            n, total, squares = _count(v["n"]), _number(v["sum"]), _number(v["sumsq"])
            variance = None if total is None or squares is None else qc.variance_from_shifted_sums(n, total, squares)
            value = None if variance is None else math.sqrt(variance)
        else:
            value = self._quantile(rule, _count(v["n"]))
        nonfinite = _count(v.get("nonfinite"))
        extra = {"nonfinite_rows": float(nonfinite)} if nonfinite else {}
        if value is not None and not math.isfinite(value):  # e.g. a sum beyond the double range
            value = None
        if nonfinite:
            return _base(rule, False, value, extra=extra,
                         detail=f"{nonfinite} NaN or infinite values fail every statistic bound; "
                                f"the {rule.statistic} is over the finite values")
        if value is None:
            return _base(rule, False, None, extra=extra, detail=f"no {rule.statistic}: the column has no values")
        ok = (rule.min is None or value >= rule.min) and (rule.max is None or value <= rule.max)
        return _base(rule, ok, value, extra=extra)

    def _quantile(self, rule: StatisticRule, n: int) -> float | None:
        """``percentile_cont`` from the two order statistics around position q·(n-1)."""
        if n == 0:
            return None
        h = (rule.q if rule.q is not None else 0.5) * (n - 1)
        k = math.floor(h)
        rows = self.fetch(qc.quantile_sql(rule, self.columns, self.session.relation, self.session.dialect, k))
        low = _number(rows[0][0])
        high = _number(rows[1][0]) if len(rows) > 1 else low
        if low is None or high is None:
            return None
        return low + (h - k) * (high - low)

    def _schema(self, rule: SchemaRule) -> RuleResult:
        from meshfabric.types import parse_type

        real = {c.name.lower(): c for c in self.columns}
        declared = self.ev.info.columns
        problems: list[str] = []
        conforming = 0
        for col in declared:
            found = real.get(str(col["name"]).lower())
            if found is None:
                problems.append(f"column '{col['name']}' is declared but missing")
                continue
            ok = True
            want = parse_type(str(col["type"]))
            if rule.check_types and not want.matches(found.type):
                problems.append(f"column '{col['name']}' is declared {want} but is {found.type} ({found.native_type})")
                ok = False
            if rule.check_nullability and col.get("nullable") is False and found.nullable:
                problems.append(f"column '{col['name']}' is declared not null but the source allows nulls")
                ok = False
            conforming += ok
        if not rule.allow_extra_columns:
            names = {str(c["name"]).lower() for c in declared}
            problems += [f"column '{c.name}' is not declared" for c in self.columns if c.name.lower() not in names]
        observed = conforming / len(declared) if declared else 1.0
        return _base(rule, not problems, observed, sample=[{"problem": p} for p in problems],
                     detail=f"{len(declared)} declared, {len(self.columns)} in the source")

    def _anomaly(self, rule: AnomalyRule, checked: int) -> RuleResult:
        try:
            import numpy as np
            from sklearn.ensemble import IsolationForest
        except ImportError:
            raise ConfigError(f"rule '{rule.label}' needs scikit-learn",
                              hint="pip install 'meshfabric[quality]'") from None
        cols = qc.resolve(rule.column_names(), self.columns)
        keys = [k for k in self.keys if k not in cols]
        random = checked > rule.sample_size
        rows = self.fetch(qc.anomaly_sample_sql(rule, self.columns, self.keys, self.session.relation,
                                                self.session.dialect, random=random))
        size = len(rows)
        how = f"a random {size} of {checked}" if random else f"all {size}"
        if size < 2:
            return _base(rule, True, 0.0, failing_rows=0, total_rows=size,
                         detail=f"{how} rows with values: too few to look for anomalies", extra={"sample_size": size})
        data = np.array([[_number(v) for v in row[len(keys):]] for row in rows], dtype=float)
        finite = np.isfinite(data).all(axis=1)  # NaN / ±inf rows: flagged, not scored
        scores = np.full(size, -np.inf)
        flagged = ~finite
        if finite.sum() >= 2:
            forest = IsolationForest(contamination=rule.contamination, random_state=rule.seed, n_estimators=100)
            forest.fit(data[finite])
            scores[finite] = forest.score_samples(data[finite])
            if rule.contamination == "auto":
                threshold = gaussian_threshold(int(finite.sum()), data.shape[1], rule.seed)
                flagged[finite] = scores[finite] < threshold
            else:
                flagged[finite] = forest.predict(data[finite]) == -1
        anomalies = int(flagged.sum())
        share = anomalies / size
        order = np.argsort(scores, kind="stable")[: rule.top]
        names = [k.name for k in keys] + [c.name for c in cols]
        # the most anomalous rows whether flagged or not: lower scores are more isolated
        top = [{**{n: jsonable(v) for n, v in zip(names, rows[j], strict=False)},
                "_score": round(float(scores[j]), 6) if np.isfinite(scores[j]) else None,
                "_flagged": bool(flagged[j])} for j in order]
        nonfinite = int((~finite).sum())
        return _base(rule, share <= rule.max_share, share, failing_rows=anomalies, total_rows=size, sample=top,
                     detail=f"IsolationForest over {how} rows with values; {anomalies} flagged"
                            + (f" ({nonfinite} holding NaN or infinities)" if nonfinite else ""),
                     extra={"sample_size": size})


#: the share of a clean Gaussian sample that ``contamination: auto`` flags
GAUSSIAN_FLAG_SHARE = 0.001
_THRESHOLDS: dict[tuple[int, int, int], float] = {}


def gaussian_threshold(n: int, dims: int, seed: int) -> float:
    """The IsolationForest score below which ``contamination: auto`` flags a row: the
    ``GAUSSIAN_FLAG_SHARE`` quantile of the scores the same forest settings give a standard
    Gaussian sample of the same size (at most 20 000) and dimension.

    The paper's fixed threshold (score < -0.5, scikit-learn's ``auto``) flags about 20 % of
    clean Gaussian rows, so a rule with ``max_share: 0.05`` failed on clean data. The forest's
    splits are uniform between each column's minimum and maximum, so scores do not depend on the
    columns' location or scale and one reference serves every column of that shape. Measured:
    clean Gaussian data flags 0-1 % (n 1000-10000, 1-3 columns; one row of 40), and rows 8 σ
    out are flagged.
    """
    import numpy as np
    from sklearn.ensemble import IsolationForest

    size = min(max(n, 2), 20_000)
    key = (size, dims, seed)
    if key not in _THRESHOLDS:
        reference = np.random.default_rng(seed).standard_normal((size, dims))
        forest = IsolationForest(random_state=seed, n_estimators=100).fit(reference)
        _THRESHOLDS[key] = float(np.quantile(forest.score_samples(reference), GAUSSIAN_FLAG_SHARE))
        if len(_THRESHOLDS) > 256:
            _THRESHOLDS.pop(next(iter(_THRESHOLDS)))
    return _THRESHOLDS[key]
