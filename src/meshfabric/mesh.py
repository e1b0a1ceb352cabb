"""The SDK facade. ``Mesh`` only wires: it opens the store, holds the workspace settings and the
connector provider, and builds each capability's service from those and the access service.
No service holds the ``Mesh``; each receives what it uses in its constructor, and every method
that reads or changes anything takes the acting principal (``user=``, default the workspace's
local principal) and asks the access service once per action."""

from __future__ import annotations

import sys
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshfabric import catalog
from meshfabric.catalog.connections import Connections, make_connector
from meshfabric.config import Settings, find_root, store_url
from meshfabric.errors import ConfigError
from meshfabric.events import EventLog
from meshfabric.spec.loader import load_mesh, load_workspace
from meshfabric.spec.models import MeshSpec
from meshfabric.store import Store, open_store

if TYPE_CHECKING:
    from collections.abc import Callable

    from meshfabric.access.enforce import QueryService
    from meshfabric.access.service import AccessService
    from meshfabric.auth.service import AuthService
    from meshfabric.catalog.service import CatalogService
    from meshfabric.connectors.base import CancelToken, Connector, TableInfo
    from meshfabric.contracts import SchemaRegistry
    from meshfabric.contracts.service import ContractService
    from meshfabric.discovery.service import DiscoveryReport, DiscoveryService
    from meshfabric.graph import MetadataGraph
    from meshfabric.lineage.service import LineageService
    from meshfabric.observe.prometheus import MetricsService
    from meshfabric.observe.service import ObserveService
    from meshfabric.quality.alerts import AlertService
    from meshfabric.quality.run import QualityService
    from meshfabric.query.result import QueryResult, QueryStream
    from meshfabric.search.service import SearchResults
    from meshfabric.spec.observe_models import EventsSpec
    from meshfabric.stats.service import StatsService


class Mesh:
    """A workspace and its metadata store.

    >>> mesh = Mesh.open("my-workspace")          # doctest: +SKIP
    >>> mesh.apply()                              # doctest: +SKIP
    >>> mesh.query("SELECT count(*) FROM sales.orders").arrow()  # doctest: +SKIP
    """

    def __init__(self, store: Store, root: Path | None = None, spec: MeshSpec | None = None) -> None:
        self.store = store
        self.settings = Settings(root, spec)
        self.connections = Connections(store, self.settings)
        self.events = EventLog(store, self.access, bus=self._bus_settings())
        self._configure_monitor()
        self._configure_tracing()

    def _bus_settings(self) -> EventsSpec | None:
        """The ``events:`` settings of mesh.yaml as last loaded (None without a workspace)."""
        return self.settings.spec.events if self.settings.spec is not None else None

    @property
    def root(self) -> Path | None:
        return self.settings.root

    @property
    def spec(self) -> MeshSpec | None:
        return self.settings.spec

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path | None = None, *, store: str | None = None) -> Mesh:
        """Open the workspace at or above ``path`` (default: the current folder)."""
        root = find_root(path)
        spec, _ = load_mesh(root)
        return cls(open_store(store or store_url(root, spec)), root, spec)

    @classmethod
    def from_store(cls, url: str) -> Mesh:
        """Open a metadata store without a workspace folder (servers, read-only tools)."""
        return cls(open_store(url))

    def close(self) -> None:
        if "metrics" in self.__dict__:
            self.metrics.close()
        if "queries" in self.__dict__:
            self.queries.flush_metrics()
        self.events.stop()
        self.connections.close()
        self.store.close()

    def __enter__(self) -> Mesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- services ---------------------------------------------------------------------------
    @cached_property
    def access(self) -> AccessService:
        """Access control: principals, roles, grants, policies, decisions, audit."""
        from meshfabric.access.service import AccessService

        return AccessService(self.store, self.settings)

    @cached_property
    def auth(self) -> AuthService:
        """Credentials: verify requests, issue and revoke tokens and API keys."""
        from meshfabric.auth.service import AuthService

        return AuthService(self.store, self.settings, self.access)

    @cached_property
    def catalog(self) -> CatalogService:
        """Domains, products and sources as the acting principal may see them; publishing."""
        from meshfabric.catalog.service import CatalogService

        return CatalogService(self.store, self.connections, self.access, self.events, after_write=self._changed)

    @cached_property
    def queries(self) -> QueryService:
        """Federated SQL for the acting principal (``mesh.query`` / ``mesh.explain``)."""
        from meshfabric.access.enforce import QueryService

        spec = self.settings.spec
        return QueryService(self.store, self.connections, self.access,
                            engine=spec.engine if spec is not None else "duckdb")

    @cached_property
    def schemas(self) -> SchemaRegistry:
        """The schema registry: history, get, diff, deprecate."""
        from meshfabric.contracts import SchemaRegistry

        return SchemaRegistry(self.store, self.access)

    @cached_property
    def contracts(self) -> ContractService:
        """Data contracts: generate, import_, export, list, get, test."""
        from meshfabric.contracts.service import ContractService

        return ContractService(self.store, self.access, lambda fqn: catalog.get_product(self.store, fqn))

    @cached_property
    def quality(self) -> QualityService:
        """Data quality: run a product's rules in its source, history, profiles."""
        from meshfabric.observe.tracing import traced
        from meshfabric.quality.run import QualityService

        service = QualityService(self.store, self.connections, self.access, self.queries, self.events)
        service.run = traced(  # type: ignore[method-assign]
            service.run, "quality.run", lambda product, **_: {"meshfabric.product": product},
            lambda run: {"meshfabric.status": run.status, "meshfabric.rules": len(run.results),
                         "meshfabric.rules_failed": run.rules_failed})
        return service

    @cached_property
    def metrics(self) -> MetricsService:
        """The product metrics in the Prometheus exposition format (``metrics.read``)."""
        from meshfabric.observe.prometheus import MetricsService

        return MetricsService(self.store, self.access, before_scrape=self.queries.flush_metrics)

    @cached_property
    def alerts(self) -> AlertService:
        """Quality alerts: list, get, ack, resolve, deliveries, deliver."""
        from meshfabric.quality.alerts import AlertService

        return AlertService(self.store, self.access, self.events, self.settings)

    @cached_property
    def observe(self) -> ObserveService:
        """Observability: probes, SLO status and evaluation with burn-rate alerts, domain health."""
        from meshfabric.observe.service import ObserveService

        return ObserveService(self.store, self.connections, self.access, self.settings, self.quality)

    @cached_property
    def stats(self) -> StatsService:
        """Planner statistics: refresh from the sources, show, staleness (``meshfabric.stats``)."""
        from meshfabric.stats.service import StatsService

        return StatsService(self.store, self.connections, self.access)

    @cached_property
    def lineage(self) -> LineageService:
        """Lineage: transformations, upstream, downstream, impact, export, OpenLineage."""
        from meshfabric.lineage.service import LineageService

        return LineageService(self.store, self.access)

    @cached_property
    def discovery(self) -> DiscoveryService:
        """Discovery: scan sources, classify columns from their values, cluster, draft specs."""
        from meshfabric.discovery.service import DiscoveryService

        return DiscoveryService(self.store, self.connections, self.access, self.settings, self.catalog.products)

    def discover(self, *sources: str, tables: str | None = None, sample: int = 1000, show_samples: bool = False,
                 user: str | None = None, progress: Callable[[str, int, int], None] | None = None,
                 ) -> DiscoveryReport:
        """Scan declared sources as ``user`` (a workspace admin or a holder of a discover grant on
        each source): every dataset's columns are classified from up to ``sample`` rows read in
        this process (only aggregates leave it), the datasets are clustered into business areas
        with a suggested domain, and the differences from the previous scan are recorded as
        ``discovery.*`` events. ``report.to_dict()`` is ``discover --json``."""
        report = self.discovery.discover(list(sources), tables=tables, sample=sample, show_samples=show_samples,
                                         user=user, progress=progress)
        self._changed()
        return report

    @property
    def graph(self) -> MetadataGraph:
        """The raw metadata graph — every node and edge of every product, whoever may see it:
        a workspace admin's tool (``graph.read``). Principals read lineage through
        ``mesh.lineage`` and the catalog through ``mesh.search`` / ``mesh.products``, which
        leave out what they may not discover."""
        from meshfabric.graph import MetadataGraph

        self.access.decide(None, "graph.read")
        return MetadataGraph(self.store)

    # -- specs ------------------------------------------------------------------------------
    def apply(
        self, path: str | Path | None = None, *, dry_run: bool = False, allow_drift: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> catalog.ApplyResult:
        """Apply the workspace's spec files (only those under ``path`` when given); ``progress(what,
        done, total)`` is told how far it got."""
        from meshfabric.observe.tracing import span

        with span("apply", {"meshfabric.scope": str(path) if path is not None else "*",
                            "meshfabric.dry_run": dry_run}) as current:
            result = self._apply(path, dry_run=dry_run, allow_drift=allow_drift, progress=progress)
            if current is not None:
                current.set_attribute("meshfabric.applied", result.applied)
                current.set_attribute("meshfabric.changes", sum(c.action != "unchanged" for c in result.changes))
            return result

    def _apply(self, path: str | Path | None, *, dry_run: bool, allow_drift: bool,
               progress: Callable[[str, int, int], None] | None) -> catalog.ApplyResult:
        root = self._require_root()
        if progress is not None:
            progress("validating spec files", 0, 1)
        specs = load_workspace(root)
        fresh: dict[str, Connector] = {}

        def connector(name: str) -> Connector:
            if name not in fresh:
                fresh[name] = make_connector(name, specs.mesh.sources[name], root)
            return fresh[name]

        scope = Path(path).resolve() if path is not None else None
        if scope is not None and not scope.exists():
            raise ConfigError(f"apply: {path} does not exist",
                              hint="name a spec folder or file inside the workspace (or no path: all of it)")
        if scope is not None and not scope.is_relative_to(root):
            raise ConfigError(f"{scope} is not inside the workspace {root}")
        try:
            result = catalog.apply_workspace(
                specs, self.store, connector, scope=scope, dry_run=dry_run, allow_drift=allow_drift,
                progress=progress,
            )
        finally:
            for conn in fresh.values():
                conn.close()
        if result.applied:
            self.settings.spec = specs.mesh
            self.events.use_bus(self._bus_settings())
            self._configure_monitor()
            self._configure_tracing()
            self.connections.reset()
            self._changed()
            self.stats.after_apply(result)  # never raises: a source that does not answer is recorded
        return result

    def _changed(self) -> None:
        """After a write: fold new events into the derived indexes, hand them to subscribers."""
        self.sync_indexes()
        if self.events.subscriptions:
            self.events.deliver()

    # -- catalog ----------------------------------------------------------------------------
    def domains(self, *, user: str | None = None) -> list[catalog.DomainInfo]:
        return self.catalog.domains(user=user)

    def products(self, *, domain: str | None = None, status: str | None = None,
                 tag: str | None = None, user: str | None = None) -> list[catalog.ProductInfo]:
        """Products the acting principal (``user``, else the local principal) may discover."""
        return self.catalog.products(domain=domain, status=status, tag=tag, user=user)

    def product(self, fqn: str, *, user: str | None = None) -> catalog.ProductInfo:
        """One product; one the principal may not discover is reported exactly like a missing one."""
        return self.catalog.product(fqn, user=user)

    def sources(self) -> list[catalog.SourceInfo]:
        return self.catalog.sources()

    def search(self, text: str, *, user: str | None = None, **filters: Any) -> SearchResults:
        """Ranked full-text search over products, columns, tags and owners.

        Filters: ``domain``, ``tag``, ``owner``, ``classification``, ``status``, ``limit``, ``offset``.
        """
        from meshfabric.search import search

        return search(self.store, self.access, text, user=user, **filters)

    def sync_indexes(self) -> None:
        """Fold new domain events into the derived indexes (metadata graph, search index), each
        from its own persisted offset: incremental, never a full rebuild."""
        from meshfabric.graph.sync import sync_graph
        from meshfabric.search.index import sync_search

        sync_graph(self.store)
        sync_search(self.store)

    def profile(self, product: str, *, user: str | None = None, **options: Any) -> Any:
        """Profile a product's columns inside its source (``ProductProfile``); see
        :meth:`meshfabric.quality.run.QualityService.profile`."""
        return self.quality.profile(product, user=user, **options)

    def record_profile(self, profile: Any) -> Any:
        """Store a profile's numbers as metric points and let the monitor judge them."""
        return self.quality.record_profile(profile)

    def _configure_tracing(self) -> None:
        """Export spans as ``observability.tracing`` says (``none``, the default, does nothing)."""
        if self.spec is None or self.spec.observability.tracing.exporter == "none":
            return
        from meshfabric.observe.tracing import configure

        configure(self.spec.observability.tracing)

    def _configure_monitor(self) -> None:
        """Make ``alerts:`` of mesh.yaml the monitor's configuration for this store, so a quality
        run that hands the monitor only the store still reaches the configured webhooks."""
        if self.spec is None:
            return
        if "alerts" not in self.spec.model_fields_set and "meshfabric.quality.monitor" not in sys.modules:
            return  # nothing configured and nothing to reset: keep `import meshfabric` light
        from meshfabric.quality.monitor import MonitorConfig, configure

        configure(self.store, MonitorConfig.from_spec(self.spec.alerts))

    # -- sources ----------------------------------------------------------------------------
    def connector(self, name: str) -> Connector:
        """The connector of a source: its applied spec, else the one in mesh.yaml."""
        return self.connections(name)

    def test_source(self, name: str) -> None:
        self.connections(name).test()

    def source_tables(self, name: str) -> list[TableInfo]:
        return self.connections(name).list_tables()

    def write(self, product: str, data: Any, *, mode: str = "append", user: str | None = None) -> int:
        """Publish data (Arrow, pandas or polars) into a product's output port (``write``)."""
        return self.catalog.write(product, data, mode=mode, user=user)

    # -- query ------------------------------------------------------------------------------
    def query(self, sql: str, *, limit: int | None = None, user: str | None = None,
              timeout: float | None = None, engine: str | None = None,
              cancel: CancelToken | None = None, output: Path | None = None,
              stream: bool = False) -> QueryResult | QueryStream:
        """Run one SELECT over products (``domain.product``) across all their sources.

        Acts as ``user`` (only when the local principal is a workspace admin) or the local
        principal: products it may not discover do not exist for it, masks and row filters of
        the access policies are applied, the principal's time limit holds (``timeout`` may only
        lower it), and the decision is audited.

        ``engine`` runs it on "duckdb" (embedded) or "spark" (``engine:`` of mesh.yaml, else
        ``local[2]``; needs ``meshfabric[spark]`` and Java); None: the workspace default.
        ``cancel`` (a :class:`~meshfabric.connectors.base.CancelToken`) lets another thread stop
        the query: QueryCancelled, its statements stopped in the sources and the engine. With
        ``output`` (a ``.parquet`` file) Spark's executors write the result there when they share
        this machine's disk (``result.rows_written`` is then set and the result holds no rows).
        With ``stream`` the rows come as a :class:`~meshfabric.query.result.QueryStream`: Arrow
        record batches read from the engine as they are consumed (close it, or use ``with``, to
        release the query early).
        """
        return self.queries.run(sql, user=user, limit=limit, timeout=timeout,  # type: ignore[no-any-return]
                                engine=engine, cancel=cancel, output=output, stream=stream)

    def explain(self, sql: str, *, user: str | None = None) -> Any:
        return self.queries.run(sql, user=user, explain=True)

    def _require_root(self) -> Path:
        if self.root is None:
            raise ConfigError("this mesh was opened without a workspace folder", hint="use Mesh.open(path)")
        return self.root
