"""The SDK facade. ``Mesh`` wires the store, connectors, catalog, query and events together and
delegates every operation to the capability that owns it."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshfabric import catalog
from meshfabric.config import find_root, store_url
from meshfabric.errors import ConfigError, NotFound, QueryError
from meshfabric.events import EventLog
from meshfabric.query.catalog import ProductBinding, ProductColumn
from meshfabric.spec.loader import load_mesh, load_workspace, resolved_source
from meshfabric.spec.models import MeshSpec, OutputPort, SourceSpec
from meshfabric.store import Store, open_store
from meshfabric.types import parse_type

if TYPE_CHECKING:
    from meshfabric.connectors.base import Connector, TableInfo
    from meshfabric.query.result import QueryResult


class Mesh:
    """A workspace and its metadata store.

    >>> mesh = Mesh.open("my-workspace")          # doctest: +SKIP
    >>> mesh.apply()                              # doctest: +SKIP
    >>> mesh.query("SELECT count(*) FROM sales.orders").arrow()  # doctest: +SKIP
    """

    def __init__(self, store: Store, root: Path | None = None, spec: MeshSpec | None = None) -> None:
        self.store = store
        self.root = root
        self.spec = spec
        self.events = EventLog(store)
        self._connectors: dict[str, Connector] = {}
        self._lock = threading.Lock()
        self._configure_monitor()

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
        self.events.stop()
        for conn in self._connectors.values():
            conn.close()
        self._connectors.clear()
        self.store.close()

    def __enter__(self) -> Mesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- specs ------------------------------------------------------------------------------
    def apply(
        self, path: str | Path | None = None, *, dry_run: bool = False, allow_drift: bool = False
    ) -> catalog.ApplyResult:
        """Apply the workspace's spec files (only those under ``path`` when given)."""
        root = self._require_root()
        specs = load_workspace(root)
        fresh: dict[str, Connector] = {}

        def connector(name: str) -> Connector:
            if name not in fresh:
                fresh[name] = self._make_connector(name, specs.mesh.sources[name], root)
            return fresh[name]

        scope = Path(path).resolve() if path is not None else None
        if scope is not None and not scope.is_relative_to(root):
            raise ConfigError(f"{scope} is not inside the workspace {root}")
        try:
            result = catalog.apply_workspace(
                specs, self.store, connector, scope=scope, dry_run=dry_run, allow_drift=allow_drift
            )
        finally:
            for conn in fresh.values():
                conn.close()
        if result.applied:
            self.sync_indexes()
            self.spec = specs.mesh
            self._configure_monitor()
            with self._lock:
                for conn in self._connectors.values():
                    conn.close()
                self._connectors.clear()
            if self.events.subscriptions:
                self.events.deliver()
        return result

    # -- catalog ----------------------------------------------------------------------------
    def domains(self) -> list[catalog.DomainInfo]:
        return catalog.list_domains(self.store)

    def products(self, *, domain: str | None = None, status: str | None = None,
                 tag: str | None = None, user: str | None = None) -> list[catalog.ProductInfo]:
        """Products the acting principal (``user``, else the local principal) may discover."""
        found = catalog.list_products(self.store, domain=domain, status=status, tag=tag)
        visible = self.access.visible_products(user)
        return found if visible is None else [p for p in found if p.fqn in visible]

    def product(self, fqn: str, *, user: str | None = None) -> catalog.ProductInfo:
        """One product; one the principal may not discover is reported exactly like a missing one."""
        if user is None and not self.access.configured:
            return catalog.get_product(self.store, fqn)
        return catalog.get_product(self.store, self.access.authorize(user, "discover", fqn))

    def sources(self) -> list[catalog.SourceInfo]:
        applied = {s.name: s for s in catalog.list_sources(self.store)}
        if self.spec:
            for name, src in self.spec.sources.items():
                applied.setdefault(name, catalog.SourceInfo(name, src.kind, src.description,
                                                            src.model_dump(mode="json", exclude_none=True)))
        return sorted(applied.values(), key=lambda s: s.name)

    @property
    def schemas(self) -> Any:
        """The schema registry (``SchemaRegistry``): history, get, diff, deprecate."""
        from meshfabric.contracts import SchemaRegistry

        return SchemaRegistry(self.store)

    @property
    def contracts(self) -> Any:
        """Data contracts (``ContractService``): generate, import_, export, list, get, test."""
        from meshfabric.contracts.service import ContractService

        return ContractService(self)

    @property
    def quality(self) -> Any:
        """Data quality (``QualityService``): run a product's rules in its source, history."""
        from meshfabric.quality.run import QualityService

        return QualityService(self)

    @property
    def alerts(self) -> Any:
        """Quality alerts (``AlertService``): list, get, ack, resolve, deliveries, deliver."""
        from meshfabric.quality.alerts import AlertService

        return AlertService(self)

    @property
    def lineage(self) -> Any:
        """Lineage (``LineageService``): add_transformation, upstream, downstream, impact, export,
        OpenLineage ingestion."""
        from meshfabric.lineage.service import LineageService

        return LineageService(self)

    @property
    def graph(self) -> Any:
        """The metadata graph (``MetadataGraph``): nodes, typed edges, property search, neighbours."""
        from meshfabric.graph import MetadataGraph

        return MetadataGraph(self.store)

    def search(self, text: str, *, user: str | None = None, **filters: Any) -> Any:
        """Ranked full-text search over products, columns, tags and owners (``SearchResults``).

        Filters: ``domain``, ``tag``, ``owner``, ``classification``, ``status``, ``limit``, ``offset``.
        """
        from meshfabric.search import search

        return search(self, text, user=user, **filters)

    @property
    def access(self) -> Any:
        """Access control (``AccessService``): principals, roles, grants, policies, audit."""
        from meshfabric.access.service import AccessService

        service = self.__dict__.get("_access")
        if service is None:
            service = self.__dict__["_access"] = AccessService(self)
        return service

    def sync_indexes(self) -> None:
        """Fold new domain events into the derived indexes (metadata graph, search index), each
        from its own persisted offset: incremental, never a full rebuild."""
        from meshfabric.graph.sync import sync_graph
        from meshfabric.search.index import sync_search

        sync_graph(self.store)
        sync_search(self.store)

    def profile(self, product: str, *, user: str | None = None, **options: Any) -> Any:
        """Profile a product's columns inside its source (``ProductProfile``).

        Options: ``columns`` (names), ``top`` (top values per column, default 10), ``quantiles``
        (default 0.05, 0.25, 0.5, 0.75, 0.95), ``reveal`` (show values of pii columns). A profile
        reads raw values, so a principal with masks or a row filter on the product is refused.
        """
        from meshfabric.quality.profile import profile_product

        info = self.product(self.access.authorize_raw(user, product))
        return profile_product(info, self.connector(info.source), **options)

    def record_profile(self, profile: Any) -> Any:
        """Store a profile's numbers as metric points (``{product}/profile.<stat>/<column>``) and
        let the monitor judge them; returns the monitor's ``ObserveResult``."""
        from meshfabric.quality.monitor import Observation, record

        result = record(self, [Observation(profile.product, metric, value, column, profile.profiled_at)
                               for metric, column, value in profile.metrics()])
        if self.events.subscriptions:
            self.events.deliver()
        return result

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
        with self._lock:
            if name in self._connectors:
                return self._connectors[name]
            spec = self._source_spec(name)
            conn = self._make_connector(name, spec, self.root or Path.cwd())
            self._connectors[name] = conn
            return conn

    def _source_spec(self, name: str) -> SourceSpec:
        for info in catalog.list_sources(self.store):
            if info.name == name:
                return SourceSpec.model_validate(info.spec)
        if self.spec and name in self.spec.sources:
            return self.spec.sources[name]
        known = [s.name for s in self.sources()]
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        raise NotFound(
            f"source '{name}' is not configured",
            hint=f"did you mean '{close[0]}'?" if close else f"known sources: {', '.join(known) or 'none'}",
        )

    @staticmethod
    def _make_connector(name: str, spec: SourceSpec, root: Path) -> Connector:
        from meshfabric.connectors import get_connector

        return get_connector(name, resolved_source(name, spec), root)

    def test_source(self, name: str) -> None:
        self.connector(name).test()

    def source_tables(self, name: str) -> list[TableInfo]:
        return self.connector(name).list_tables()

    def write(self, product: str, data: Any, *, mode: str = "append", user: str | None = None) -> int:
        """Publish data (Arrow, pandas or polars) into a product's output port.

        The data is checked against the declared schema first; a mismatch writes nothing.
        Emits ``product.data_written``.
        """
        from meshfabric.catalog.publish import write_product
        from meshfabric.events import DomainEvent

        info = self.product(self.access.authorize(user, "write", product))
        rows = write_product(info, self.connector(info.source), _as_arrow(data), mode)  # type: ignore[arg-type]
        self.events.publish(DomainEvent("product.data_written", info.domain,
                                        {"product": info.fqn, "rows": rows, "mode": mode}))
        self.sync_indexes()
        if self.events.subscriptions:
            self.events.deliver()
        return rows

    # -- query ------------------------------------------------------------------------------
    def query(self, sql: str, *, limit: int | None = None, user: str | None = None) -> QueryResult:
        """Run one SELECT over products (``domain.product``) across all their sources.

        Acts as ``user`` (only when the local principal is a workspace admin) or the local
        principal: products it may not discover do not exist for it, masks and row filters of
        the access policies are applied, and the decision is audited.
        """
        from meshfabric.access.enforce import run

        return run(self, sql, user=user, limit=limit)  # type: ignore[no-any-return]

    def explain(self, sql: str, *, user: str | None = None) -> Any:
        from meshfabric.access.enforce import run

        return run(self, sql, user=user, explain=True)

    def _require_root(self) -> Path:
        if self.root is None:
            raise ConfigError("this mesh was opened without a workspace folder", hint="use Mesh.open(path)")
        return self.root


def _as_arrow(data: Any) -> Any:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "to_arrow"):  # polars
        return data.to_arrow()
    if data.__class__.__module__.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise ConfigError(f"cannot write a {type(data).__name__}", hint="pass a pyarrow Table, pandas or polars DataFrame")


class StoreCatalog:
    """The applied catalog as the query layer sees it (implements ``ProductCatalog``)."""

    def __init__(self, mesh: Mesh) -> None:
        self._mesh = mesh
        self._products = {p.fqn.lower(): p for p in catalog.list_products(mesh.store)}

    def _binding(self, p: catalog.ProductInfo) -> ProductBinding:
        cols = tuple(ProductColumn(c["name"], parse_type(c["type"]), c.get("nullable", True)) for c in p.columns)
        return ProductBinding(p.domain, p.name, p.source, OutputPort.model_validate(p.output), cols, p.status)

    def lookup(self, domain: str, name: str) -> ProductBinding | None:
        p = self._products.get(f"{domain}.{name}".lower())
        if p is None:
            return None
        if p.status == "retired":
            raise QueryError(f"product '{p.fqn}' is retired and can no longer be queried",
                             hint="ask its owner for the product that replaced it")
        return self._binding(p)

    def all_products(self) -> list[ProductBinding]:
        return [self._binding(p) for p in self._products.values() if p.status != "retired"]

    def connector(self, source: str) -> Connector:
        return self._mesh.connector(source)
