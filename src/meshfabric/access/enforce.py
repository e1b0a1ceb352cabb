"""Enforcement on the query path: who may see which product, the secured views handed to the
query layer, one audit entry per decision, the principal's time limit, and errors that never
carry a value a policy hides.

:class:`SecuredCatalog` is the ``ProductCatalog`` of a principal: a product it may not discover
does not exist for it (the guard's "not found" text and its "did you mean" hint are computed over
what it may discover), a product it may discover but not query is an ``AccessDenied``.
:class:`QueryService` is ``mesh.query`` / ``mesh.explain``.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from meshfabric.access.model import Principal, level
from meshfabric.catalog.queryable import StoreCatalog
from meshfabric.errors import AccessDenied, MeshfabricError, QueryCancelled, QueryError, SourceError

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from meshfabric.access.policy import EffectivePolicy
    from meshfabric.access.service import AccessService, AccessSnapshot
    from meshfabric.connectors.base import CancelToken, Connector
    from meshfabric.query.catalog import ProductBinding
    from meshfabric.query.result import QueryResult
    from meshfabric.query.secure import SecuredView
    from meshfabric.spec.models import SparkEngineSpec
    from meshfabric.store import Store

#: the engines a query can run on (``engine=``, ``--engine``, mesh.yaml ``engine:``)
ENGINES = ("duckdb", "spark")


class SecuredCatalog(StoreCatalog):
    """The applied catalog as one principal may see it."""

    def __init__(self, store: Store, connections: Callable[[str], Connector], access: AccessService,
                 who: Principal, snap: AccessSnapshot) -> None:
        super().__init__(store, connections)
        self.access, self.who, self.snap = access, who, snap
        self.hidden: list[str] = []
        self.referenced: list[str] = []
        self.policies: dict[str, EffectivePolicy] = {}
        self.secured: dict[str, SecuredView] = {}
        if not who.is_admin:
            key = ("levels", who.name, who.is_admin, tuple(self._products))
            if key not in snap.memo:
                snap.memo[key] = {fqn: access.permission_level(who, p.fqn, snap) for fqn, p in self._products.items()}
            self._levels = snap.memo[key]
            self._products = {k: v for k, v in self._products.items() if self._levels[k] >= level("discover")}

    def lookup(self, domain: str, name: str) -> ProductBinding | None:
        key = f"{domain}.{name}".lower()
        if key not in self._products:
            if not self.who.is_admin and key in self._levels:
                self.hidden.append(key)
            return None
        if key not in self.referenced:
            self.referenced.append(key)
        if not self.who.is_admin and self._levels[key] < level("query"):
            raise AccessDenied(
                f"'{self.who.name}' may discover product '{self._products[key].fqn}' but not query it",
                hint=f"ask an owner of domain '{domain}' for a query grant",
            )
        return super().lookup(domain, name)

    def views(self, products: tuple[ProductBinding, ...]) -> dict[str, SecuredView]:
        from meshfabric.access.policy import effective, secured_view

        out: dict[str, SecuredView] = {}
        if self.who.is_admin:
            return out
        for binding in products:
            info = self._products[binding.fqn.lower()]
            key = ("view", self.who.name, info.fqn, repr(info.columns))
            if key not in self.snap.memo:
                policy = effective(self.who, info.fqn, info.columns, self.snap.policies)
                self.snap.memo[key] = (policy, secured_view(policy, info.columns, self.access.salt))
            policy, view = self.snap.memo[key]
            self.policies[info.fqn] = policy
            if view is not None:
                out[binding.fqn.lower()] = view
                self.secured[info.fqn] = view
        return out


class QueryService:
    """``mesh.query`` and ``mesh.explain``: one SELECT over products for the acting principal,
    secured, time-limited and audited."""

    def __init__(self, store: Store, connections: Callable[[str], Connector], access: AccessService,
                 engine: str | SparkEngineSpec = "duckdb") -> None:
        self.store = store
        self.connections = connections
        self.access = access
        #: the workspace's default engine (mesh.yaml ``engine:``)
        self.engine = engine
        self.movement = MovementBuffer(store)

    def flush_metrics(self) -> None:
        """Write the rows/bytes-moved points of the queries run so far (a scrape and
        ``Mesh.close`` call it; otherwise they are written within :data:`FLUSH_SECONDS`)."""
        self.movement.flush()

    def catalog(self, user: str | None) -> SecuredCatalog:
        """The catalog ``user`` queries through (its products, views and connectors)."""
        snap = self.access.snapshot()
        return SecuredCatalog(self.store, self.connections, self.access, self.access.acting(user, snap), snap)

    def timeout(self, who: Principal) -> float:
        """Seconds ``who`` may run one query (``access.query_timeout``)."""
        return self.access.config.query_timeout.for_principal(who.name, who.groups, who.roles)

    def engine_spec(self, engine: str | None) -> SparkEngineSpec | None:
        """The Spark settings a query runs with, or None for the DuckDB engine: ``engine``
        ("duckdb", "spark"; None: the workspace default), Spark with mesh.yaml's settings when
        it has them, else ``local[2]``."""
        from meshfabric.errors import ConfigError

        if engine is None:
            if not isinstance(self.engine, str):
                return self.engine
            engine = self.engine
        name = engine.strip().lower()
        if name not in ENGINES:
            raise ConfigError(f"unknown query engine '{engine}'", hint=f"use one of {', '.join(ENGINES)}")
        if name == "duckdb":
            return None
        if isinstance(self.engine, str):
            from meshfabric.spec.models import SparkEngineSpec

            return SparkEngineSpec()
        return self.engine

    def run(self, sql: str, *, user: str | None = None, limit: int | None = None, explain: bool = False,
            timeout: float | None = None, at: datetime | None = None, engine: str | None = None,
            cancel: CancelToken | None = None, output: Path | None = None, stream: bool = False) -> Any:
        """Run (or with ``explain``, plan) ``sql`` as ``user``; ``timeout`` may only lower the
        principal's own limit. ``at`` dates the audit row and the movement points (default now):
        a replay of past activity (the demo's history) runs the query for real and records it at
        the time it stands for. Not offered by the CLI or REST.

        ``engine`` ("duckdb" or "spark"; None: the workspace's ``engine:``) only chooses the
        executor: access is decided here, once, and both engines run the same secured plan.
        ``cancel`` lets another thread stop the query on either engine (QueryCancelled, audited as an
        error): the REST API cancels the query of a client that went away. ``output`` (a
        ``.parquet`` path) lets Spark's executors write the result there themselves
        (``rows_written`` on the result); the DuckDB engine ignores it (the caller writes).
        ``stream`` returns a :class:`~meshfabric.query.result.QueryStream` of the same secured
        query (the Spark engine's result is materialised and streamed from memory); it is
        audited when the stream ends, with the rows it delivered or the error that ended it.

        Traced as a ``query`` (or ``explain``) span when the process exports spans: its
        children are the planner's ``plan``, one ``scan`` per source read and the ``engine``."""
        from meshfabric.query.engine import sanitized_sql, tracer

        spark = None if explain else self.engine_spec(engine)
        spans = tracer()
        if spans is None:
            return self._run(sql, user, limit, explain, timeout, None, at, spark, cancel, output, stream)

        attributes = {"db.system": "duckdb" if spark is None else "spark", "db.operation.name": "SELECT",
                      "db.query.text": sanitized_sql(sql)[:4096]}
        with spans.start_as_current_span("explain" if explain else "query", attributes=attributes) as span:
            return self._run(sql, user, limit, explain, timeout, span, at, spark, cancel, output, stream)

    def _run(self, sql: str, user: str | None, limit: int | None, explain: bool, timeout: float | None,
             span: Any, at: datetime | None = None, spark: SparkEngineSpec | None = None,
             cancel: CancelToken | None = None, output: Path | None = None, stream: bool = False) -> Any:
        from meshfabric import query as q

        start = time.perf_counter()
        action = "explain" if explain else "query"
        catalog = self.catalog(user)
        if span is not None:
            span.set_attribute("enduser.id", catalog.who.name)
        who, snap = catalog.who, catalog.snap
        views = None if who.is_admin else catalog.views
        seconds = self.timeout(who) if timeout is None else min(timeout, self.timeout(who))
        try:
            try:
                if explain:
                    out: Any = q.explain(sql, catalog, views=views)
                elif spark is None:
                    out = q.run_query(sql, catalog, limit=limit, views=views, timeout=seconds, cancel=cancel,
                                      stream=stream)
                else:
                    from meshfabric.spark import run_query_spark

                    out = run_query_spark(sql, catalog, spec=spark, limit=limit, views=views, timeout=seconds,
                                          output=output, cancel=cancel)
                    if stream:
                        from meshfabric.query.result import QueryStream

                        out = QueryStream.of(out)
            except QueryCancelled:
                raise
            except (QueryError, SourceError) as exc:
                raise self._policy_error(catalog, exc) or exc from None
        except MeshfabricError as exc:
            resource = ",".join(catalog.referenced + catalog.hidden) or "-"
            if catalog.hidden:
                reason = f"no discover permission on {', '.join(catalog.hidden)}"
            elif isinstance(exc, QueryError | AccessDenied):
                reason = exc.message
            else:
                reason = f"{type(exc).__name__}: {exc.message}"
            decision = ("denied" if isinstance(exc, QueryError | AccessDenied)
                        and not isinstance(exc, QueryCancelled) else "error")
            self.access.audit(who.name, action, resource, decision, reason[:2000], policy_version=snap.policy_version,
                              sql=sql, latency_ms=(time.perf_counter() - start) * 1000, at=at)
            if span is not None:
                span.set_attribute("meshfabric.decision", decision)
            raise
        except Exception as exc:  # a bug or a driver error nothing translated: still one audit row, with latency
            resource = ",".join(catalog.referenced + catalog.hidden) or "-"
            self.access.audit(who.name, action, resource, "error", f"{type(exc).__name__}"[:2000],
                              policy_version=snap.policy_version, sql=sql,
                              latency_ms=(time.perf_counter() - start) * 1000, at=at)
            raise
        rows = None
        if not explain:
            rows = getattr(out, "rows_written", None)
            if rows is None and not stream:  # a stream's rows are not known when it starts
                rows = out.arrow().num_rows
            self.movement.add(_movement(out, at))
            _withhold_filtered_counts(out, catalog)
            if span is not None:
                if rows is not None:
                    span.set_attribute("meshfabric.rows", rows)
                span.set_attribute("meshfabric.rows_moved", out.stats.rows_moved)
        if span is not None:
            span.set_attribute("meshfabric.decision", "allowed")
            span.set_attribute("meshfabric.products", list(catalog.referenced))
        masked = sorted(f"{p}:{len([m for m in e.masks.values() if m.mask != 'clear'])} masks"
                        + (" +filter" if e.row_filter is not None else "") for p, e in catalog.policies.items())
        if stream and rows is None:
            if views is not None:  # a failure mid-stream is explained as one before it would be
                out.explain_error = lambda exc: (self._policy_error(catalog, exc)
                                                 if isinstance(exc, QueryError | SourceError)
                                                 and not isinstance(exc, QueryCancelled) else None)
            # audited when the stream ends, with the rows it delivered, or as the error that ended it
            out.on_close(lambda ended: self._audit_stream(ended, who.name, action, catalog, "; ".join(masked),
                                                          snap.policy_version, sql, start, at))
            return out
        self.access.audit(who.name, action, ",".join(catalog.referenced) or "-", "allowed", "; ".join(masked),
                          policy_version=snap.policy_version, sql=sql, rows=rows,
                          latency_ms=(time.perf_counter() - start) * 1000, at=at)
        return out

    def _audit_stream(self, ended: Any, who: str, action: str, catalog: SecuredCatalog, masked: str,
                      policy_version: Any, sql: str, start: float, at: datetime | None) -> None:
        """The audit row of a streamed query, written when its stream ends: "allowed" with the
        rows delivered (all of them, or those read before the consumer stopped), or the error
        that ended it, decided as for a query that fails before its first row. Never raises:
        the stream's consumer has its rows (or its error) already."""
        error = ended.error
        resource = ",".join(catalog.referenced) or "-"
        latency = (time.perf_counter() - start) * 1000
        try:
            if error is None:
                self.access.audit(who, action, resource, "allowed", masked, policy_version=policy_version, sql=sql,
                                  rows=ended.rows_read, latency_ms=latency, at=at)
                return
            if isinstance(error, MeshfabricError):
                reason = error.message if isinstance(error, QueryError | AccessDenied) \
                    else f"{type(error).__name__}: {error.message}"
                decision = ("denied" if isinstance(error, QueryError | AccessDenied)
                            and not isinstance(error, QueryCancelled) else "error")
            else:
                reason, decision = type(error).__name__, "error"
            self.access.audit(who, action, resource, decision, reason[:2000], policy_version=policy_version,
                              sql=sql, latency_ms=latency, at=at)
        except Exception:
            log.exception("the audit row of a streamed query could not be written")

    def _policy_error(self, catalog: SecuredCatalog, exc: MeshfabricError) -> QueryError | None:
        """When a query of a masked or filtered principal fails, find whether one of its policy
        expressions failed (a row filter or a SQL mask evaluated on a value it cannot handle):
        each is evaluated alone, in the same secured way, and the first that fails replaces the
        error with one that names the policy and the column — never the value, which the source's
        or the engine's message may quote. None when the policies evaluate fine: the error came
        from the user's own SQL over the rows and masked values it may see."""
        from meshfabric import query as q

        suspects = [(fqn, view) for fqn, view in catalog.secured.items()
                    if view.row_filter is not None
                    or any(m.mask.startswith("sql:") for m in catalog.policies[fqn].masks.values())]
        if not suspects:
            return None
        for fqn, view in suspects:
            policy = catalog.policies[fqn]
            probes: list[tuple[str, str, str]] = []
            if view.row_filter is not None:
                names = ", ".join(p for p, _ in policy.filters)
                probes.append((f"SELECT count(*) FROM {fqn}", f"the row filter of policy {names!r}", ""))
            for column, mask in policy.masks.items():
                if mask.mask.startswith("sql:"):
                    ident = '"' + column.replace('"', '""') + '"'
                    probes.append((f"SELECT count({ident}) FROM {fqn}", f"the mask of policy '{mask.policy}'",
                                   column))
            for sql, what, column in probes:
                try:
                    q.run_query(sql, catalog, views=catalog.views)
                except (QueryError, SourceError):
                    on = f" on column '{column}'" if column else ""
                    return QueryError(
                        f"{what}{on} of product '{fqn}' could not be evaluated for '{catalog.who.name}' "
                        f"(a value does not fit the policy's expression; the value is not shown)",
                        hint="ask a workspace admin to fix the policy (`meshfabric policy test`)")
        return None


#: metric_points written per query and per (product, source) it read: ``<fqn>/<metric>/<source>``
MOVEMENT_METRICS = ("query.rows_moved", "query.bytes_moved")
#: the longest a query's movement points wait in memory before they are written
FLUSH_SECONDS = 1.0

log = logging.getLogger(__name__)


def _movement(result: QueryResult, at: datetime | None = None) -> list[dict[str, Any]]:
    """What the query moved, as metric points: per product and source read, the rows the
    source returned and their size in Arrow bytes (``<fqn>/query.rows_moved/<source>``,
    ``<fqn>/query.bytes_moved/<source>``). The rows are those read from the source, before a
    row filter the engine applied: wire traffic, for operators holding ``metrics.read``."""
    from datetime import UTC, datetime

    moved: dict[tuple[str, str], list[float]] = {}
    sizes = getattr(result, "scan_bytes", {})
    for scan in result.stats.scans:
        # a join or grouping pushed into the source reads several products in one scan: its rows
        # carry each of them (ScanStats names them "a + b")
        for product in scan.product.split(" + "):
            totals = moved.setdefault((product, scan.source), [0.0, 0.0])
            totals[0] += scan.rows
            totals[1] += sizes.get(scan.name, 0)
    now = at or datetime.now(UTC)
    return [{"series": f"{product}/{metric}/{source}", "product": product, "metric": metric, "value": value,
             "ts": now}
            for (product, source), values in moved.items()
            for metric, value in zip(MOVEMENT_METRICS, values, strict=True)]


class MovementBuffer:
    """Movement points wait here and are written in one INSERT per :data:`FLUSH_SECONDS` (by a
    timer thread), on :meth:`flush` and at exit — not one transaction per query: on SQLite a
    commit costs a sync, several times what the points are worth on a small query. A crash
    loses at most the last second of them; a failed write is logged and dropped, never raised
    into a query."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._points: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        _LIVE.add(self)

    def add(self, points: list[dict[str, Any]]) -> None:
        if not points:
            return
        with self._lock:
            self._points += points
            if self._timer is None:
                self._timer = threading.Timer(FLUSH_SECONDS, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        from sqlalchemy import insert

        from meshfabric.store.models import MetricPointRow

        with self._lock:
            points, self._points = self._points, []
            timer, self._timer = self._timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        if not points:
            return
        try:
            with self.store.engine.begin() as conn:
                conn.execute(insert(MetricPointRow), points)
        except Exception:
            log.warning("could not record %d query movement points", len(points), exc_info=True)


#: every buffer of the process, flushed at exit
_LIVE: weakref.WeakSet[MovementBuffer] = weakref.WeakSet()


@atexit.register
def _flush_all() -> None:
    for buffer in list(_LIVE):
        buffer.flush()


def _withhold_filtered_counts(result: QueryResult, catalog: SecuredCatalog) -> None:
    """Scan statistics of a product whose row filter the source did not apply count rows the
    principal may not see: report the rows the filter admitted instead (the engine loads only
    those), never the rows read."""
    from dataclasses import replace

    filtered = {fqn.lower() for fqn, view in catalog.secured.items() if view.row_filter is not None}
    if not filtered:
        return
    stats = result.stats
    scans = tuple(replace(s, rows=s.admitted_rows if s.admitted_rows is not None else s.rows)
                  if s.product.lower() in filtered else s for s in stats.scans)
    result.stats = replace(stats, scans=scans)
