"""The lineage graph in the store: transformations, upstream/downstream walks, impact, export.

Lineage is the ``derived_from`` edge of the metadata graph, pointing from what was produced to
what it was produced from (target → source), at two levels:

* dataset level between products (kind ``product``, key ``domain.product``) and other datasets
  (kind ``dataset``, key ``namespace/name``);
* column level between columns (kind ``column``, key ``<dataset key>.<column>``), each hanging off
  its dataset by a ``has_column`` edge.

So *upstream* follows ``derived_from`` edges forwards and *downstream* follows them backwards.
Both walks run inside the store as one recursive SQL query (``WITH RECURSIVE``, the same text on
SQLite and PostgreSQL) that is depth-bounded, cycle-safe and paginated; the graph is never loaded
into Python.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from meshfabric.errors import MeshfabricError, NotFound
from meshfabric.graph import KINDS, Edge, MetadataGraph, Node, NodeRef
from meshfabric.store.models_graph import GraphEdgeRow, GraphNodeRow

if TYPE_CHECKING:
    from meshfabric.access.decision import Decision
    from meshfabric.access.service import AccessService
    from meshfabric.lineage.openlineage import IngestResult
    from meshfabric.store import Store

DERIVED = "derived_from"
DATASET_KINDS = ("product", "dataset")
FORMATS = ("json", "openlineage", "dot", "mermaid")
#: the OpenLineage namespace of mesh products (their name is the fqn)
MESH_NAMESPACE = "meshfabric"
PRODUCER = "https://github.com/meshfabric/meshfabric"
_OL_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_CL_SCHEMA = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"
#: a walk without a depth stops here even on a graph this deep (cycles end earlier: see _walk)
MAX_DEPTH = 10_000
#: an unbounded walk first goes this deep; only a graph deeper than this (or a cycle) costs a
#: second, exactly bounded walk
_FIRST_BOUND = 64

Direction = Literal["upstream", "downstream"]


@dataclass(frozen=True)
class LineageNode:
    kind: str
    key: str
    name: str
    distance: int
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> NodeRef:
        return (self.kind, self.key)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "name": self.name, "distance": self.distance,
                "properties": self.properties}


@dataclass
class Lineage:
    """One walk: the start node, the nodes reached (a page of them, nearest first) and the edges
    among the start and the page."""

    root: LineageNode
    direction: str
    depth: int | None
    nodes: list[LineageNode]
    edges: list[Edge]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root.to_dict(), "direction": self.direction, "depth": self.depth,
                "total": self.total, "limit": self.limit, "offset": self.offset,
                "nodes": [n.to_dict() for n in self.nodes], "edges": [e.to_dict() for e in self.edges]}


@dataclass
class Impact:
    """What a change to ``root`` (a dataset or a column) reaches downstream, across domains."""

    root: LineageNode
    #: affected products: {product, domain, owner, distance, columns: [affected columns]}
    products: list[dict[str, Any]]
    #: affected datasets that are not mesh products
    datasets: list[dict[str, Any]]
    #: contracts of affected products: {contract, product, consumer, status}
    contracts: list[dict[str, Any]]
    owners: list[str]
    domains: list[str]
    columns: list[str]
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root.to_dict(), "products": self.products, "datasets": self.datasets,
                "contracts": self.contracts, "owners": self.owners, "domains": self.domains,
                "columns": self.columns, "truncated": self.truncated}


def _now() -> datetime:
    return datetime.now(UTC)


_KIND_PREFIX = re.compile(r"^([a-z_]+):(?!//)(.+)$")


class LineageService:
    """``mesh.lineage``: every read and write as the acting principal (``user=``), which the
    access service (when given) decides once per call; without one (a bare store, in tools and
    tests) everything is visible and writable."""

    def __init__(self, store: Store, access: AccessService | None = None) -> None:
        self.store = store
        self.access = access
        self.graph = MetadataGraph(store)

    def visibility(self, user: str | None) -> Visibility:
        """The products ``user`` may not discover."""
        if self.access is None:
            return Visibility()
        visible = self.access.visible_products(user)
        if visible is None:
            return Visibility()
        access = self.access

        def opaque(fqn: str) -> bool:
            return not access.decide(user, "quality.read", fqn, audit=False).sees_values(None)

        return Visibility(set(access.snapshot().product_owner) - set(visible), opaque)

    def _require(self, vis: Visibility, node: str | NodeRef) -> None:
        if not vis.restricted:
            return
        kind, key = self.resolve(node)
        if not vis.ok(kind, key):
            # exactly what a node that does not exist gets (see _root)
            explicit = isinstance(node, tuple) or bool((m := _KIND_PREFIX.match(str(node).strip()))
                                                       and m.group(1) in KINDS)
            raise _not_in_graph(kind if explicit else "", key)

    def _may_write(self, user: str | None, written: list[NodeRef], read: list[NodeRef],
                   decision: Decision | None = None, names: dict[str, str] | None = None) -> str | None:
        """Decide a lineage write: ``lineage.ingest`` for the principal, ``lineage.write`` on every
        product written and ``lineage.input`` on every product read. A workspace admin may also
        name products not (yet) in the catalog; for anyone else an unknown product is the same
        NotFound as a hidden one. Returns the principal's name (None without access control)."""
        if self.access is None:
            return None
        decision = decision or self.access.decide(user, "lineage.ingest")
        if decision.exempt:
            return decision.principal.name
        for action, refs in (("lineage.write", written), ("lineage.input", read)):
            for fqn in dict.fromkeys(key for kind, key in refs if kind == "product"):
                try:
                    self.access.decide(user, action, fqn)
                except NotFound:
                    # named by the table it is served from (``names``): the refusal must not name
                    # the product the principal may not discover
                    shown = (names or {}).get(fqn)
                    if shown is None:
                        raise
                    raise NotFound(f"dataset '{shown}' not found",
                                   hint="list products with `meshfabric products list`") from None
        return decision.principal.name

    # ---- resolving names -----------------------------------------------------------------------

    def resolve(self, ref: str | NodeRef, *, create: bool = False, session: Session | None = None) -> NodeRef:
        """The node a user's name means: ``kind:key`` explicitly; else a product, a dataset, a
        column, a job (in that order) with that key; with ``create``, a name that exists nowhere is
        a product when it looks like ``domain.product``, else a dataset."""
        if isinstance(ref, tuple):
            return (str(ref[0]), str(ref[1]))
        ref = str(ref).strip()
        if not ref:
            raise MeshfabricError("a lineage node name is empty", hint="name a product as domain.product")
        m = _KIND_PREFIX.match(ref)
        if m and m.group(1) in KINDS:
            return (m.group(1), m.group(2))
        stmt = select(GraphNodeRow.kind).where(GraphNodeRow.key == ref)
        if session is not None:
            kinds = set(session.scalars(stmt))
        else:
            with self.store.read() as s:
                kinds = set(s.scalars(stmt))
        for kind in ("product", "dataset", "column", "job"):
            if kind in kinds:
                return (kind, ref)
        if len(kinds) == 1:
            return (kinds.pop(), ref)
        if create:
            return ("product", ref) if re.fullmatch(r"[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*", ref) else ("dataset", ref)
        raise NotFound(f"'{ref}' is not in the lineage graph",
                       hint="name a product as domain.product, a column as domain.product.column, an "
                            "OpenLineage dataset as namespace/name, or prefix the kind (dataset:KEY); "
                            "products appear after `meshfabric apply`")

    def _root(self, s: Session, node: str | NodeRef) -> Any:
        """The start node of a walk (id, kind, key, name, properties), the graph first brought up
        to date with the event log when it is behind."""
        from sqlalchemy import func

        from meshfabric.graph.sync import SUBSCRIBER, graph_behind, sync_graph
        from meshfabric.store.models import EventRow, SubscriberOffsetRow

        if isinstance(node, tuple):
            kind, key = str(node[0]), str(node[1])
        else:
            key = str(node).strip()
            if not key:
                raise MeshfabricError("a lineage node name is empty", hint="name a product as domain.product")
            m = _KIND_PREFIX.match(key)
            kind = m.group(1) if m and m.group(1) in KINDS else ""
            key = m.group(2) if kind and m else key
        behind = (select(func.max(EventRow.seq)).scalar_subquery()
                  > func.coalesce(select(SubscriberOffsetRow.last_seq)
                                  .where(SubscriberOffsetRow.subscriber == SUBSCRIBER).scalar_subquery(), 0))
        stmt = select(GraphNodeRow.id, GraphNodeRow.kind, GraphNodeRow.key, GraphNodeRow.name,
                      GraphNodeRow.properties, behind).where(GraphNodeRow.key == key)
        if kind:
            stmt = stmt.where(GraphNodeRow.kind == kind)
        rows = s.execute(stmt).all()
        if (rows[0][5] if rows else graph_behind(s)):
            s.rollback()
            sync_graph(self.store)
            rows = s.execute(stmt).all()
        by_kind = {r[1]: r for r in rows}
        for k in (kind,) if kind else ("product", "dataset", "column", "job"):
            if k in by_kind:
                return by_kind[k]
        if not kind and len(by_kind) == 1:
            return rows[0]
        raise _not_in_graph(kind, key)

    # ---- writes --------------------------------------------------------------------------------

    def add_transformation(self, sources: list[str], target: str, type: str = "transformation",
                           metadata: dict[str, Any] | None = None, *, columns: list[tuple[str, str]] | None = None,
                           column_types: dict[Any, Any] | None = None, job: str | None = None,
                           session: Session | None = None, user: str | None = None) -> None:
        """Record that ``target`` was derived from ``sources``: one ``target -derived_from-> source``
        edge each (properties: type, job, metadata), plus, per ``(source_column, target_column)``
        pair in ``columns`` (``"table.col"`` names, tables as in sources/target), a column edge
        with the OpenLineage transformation type/subtype from ``column_types`` (keyed by the pair or
        the target column; a value ``{"type": "DIRECT", "subtype": "AGGREGATION"}`` or a subtype
        string). With ``job`` (``namespace/name``), the job node ``reads`` the sources and
        ``writes`` the target. Idempotent: the same call twice leaves one edge each."""
        if not sources and not columns:
            raise MeshfabricError(f"a transformation into '{target}' needs at least one source")
        def refs(s: Session) -> tuple[NodeRef, list[NodeRef], list[NodeRef]]:
            tgt = self.resolve(target, create=True, session=s)
            srcs = [self.resolve(x, create=True, session=s) for x in sources]
            col_tables = [self.resolve(c.rpartition(".")[0], create=True, session=s)
                          for pair in columns or [] for c in pair if c.rpartition(".")[0]]
            return tgt, srcs, [r for r in col_tables if r != tgt]

        if session is None:
            # decided before the write transaction opens: the decision reads the store, and a
            # read waiting behind this thread's own write lock would never get it (SQLite)
            with self.store.read() as r:
                tgt, srcs, col_tables = refs(r)
            self._may_write(user, [tgt], srcs + col_tables)
        with self.graph._session(session) as s:
            if session is not None:
                tgt, srcs, col_tables = refs(s)
                self._may_write(user, [tgt], srcs + col_tables)
            named = {str(target): tgt, **{str(a): b for a, b in zip(sources, srcs, strict=True)}}
            props: dict[str, Any] = {"type": type}
            if job:
                props["job"] = job
            if metadata:
                props["metadata"] = metadata
            edges: list[tuple[NodeRef, str, NodeRef, dict[str, Any] | None]] = [
                (tgt, DERIVED, src, props) for src in srcs if src != tgt]
            if job:
                jref = ("job", job)
                edges += [(jref, "reads", src, None) for src in srcs]
                edges.append((jref, "writes", tgt, None))
            for src_col, tgt_col in columns or []:
                a_ds, a = self._column(src_col, named, s)
                b_ds, b = self._column(tgt_col, named, s)
                cprops = _column_props(column_types, src_col, tgt_col)
                if job:
                    cprops["job"] = job
                edges += [(a_ds, "has_column", a, None), (b_ds, "has_column", b, None), (b, DERIVED, a, cprops)]
            self.graph.add_edges(edges, session=s)

    def _column(self, name: str, named: dict[str, NodeRef], s: Session) -> tuple[NodeRef, NodeRef]:
        """``table.col`` → (its dataset node, the column node)."""
        m = _KIND_PREFIX.match(name)
        if m and m.group(1) == "column":
            name = m.group(2)
        table, dot, col = name.rpartition(".")
        if not dot or not table or not col:
            raise MeshfabricError(f"column '{name}' must be written table.column (e.g. sales.orders.amount)")
        ds = named.get(table) or self.resolve(table, create=True, session=s)
        return ds, ("column", f"{ds[1]}.{col}")

    # ---- walks ---------------------------------------------------------------------------------

    def upstream(self, node: str | NodeRef, *, depth: int | None = None, columns: bool = False,
                 limit: int = 1000, offset: int = 0, user: str | None = None) -> Lineage:
        """What ``node`` was derived from, nearest first, up to ``depth`` hops (None: all)."""
        return self._visible_walk(node, "upstream", depth, columns, limit, offset, user)

    def downstream(self, node: str | NodeRef, *, depth: int | None = None, columns: bool = False,
                   limit: int = 1000, offset: int = 0, user: str | None = None) -> Lineage:
        """What was derived from ``node``, nearest first, up to ``depth`` hops (None: all)."""
        return self._visible_walk(node, "downstream", depth, columns, limit, offset, user)

    def _visible_walk(self, node: str | NodeRef, direction: Direction, depth: int | None, columns: bool,
                      limit: int, offset: int, user: str | None, vis: Visibility | None = None) -> Lineage:
        vis = vis or self.visibility(user)
        if not vis.restricted:
            walk = self._lineage(node, direction, depth, columns, limit, offset)
            walk.root, walk.nodes = vis.shown(walk.root), [vis.shown(n) for n in walk.nodes]
            return walk
        self._require(vis, node)
        full = self._lineage(node, direction, depth, columns, 100_000, 0)
        nodes = [vis.shown(n) for n in full.nodes if vis.ok(n.kind, n.key)]
        edges = [e for e in full.edges if vis.ok(*e.src) and vis.ok(*e.dst)]
        return Lineage(vis.shown(full.root), direction, depth, nodes[offset:offset + limit], edges, len(nodes),
                       limit, offset)

    def _lineage(self, node: str | NodeRef, direction: Direction, depth: int | None, columns: bool,
                 limit: int, offset: int) -> Lineage:
        if depth is not None and depth < 0:
            raise MeshfabricError(f"depth must be 0 or more, not {depth}")
        if limit < 0 or offset < 0:
            raise MeshfabricError("limit and offset must be 0 or more")
        # one read session (one pooled connection) for the whole walk, and one statement that
        # finds the start node and asks whether the graph is behind the event log: on a server
        # store every round trip counts
        with self.store.read() as s:
            root = self._root(s, node)
            root_id = root.id
            seeds = [root_id]
            if columns and root.kind != "column":
                seeds += list(s.scalars(select(GraphEdgeRow.dst_id).where(
                    GraphEdgeRow.src_id == root_id, GraphEdgeRow.rel == "has_column")))
            rows, total = _walk(s, seeds, root_id, direction, depth, limit, offset)
            nodes = [LineageNode(k, key, name, d, p) for k, key, name, d, p, _ in rows]
            refs = {r[5]: (r[0], r[1]) for r in rows}
            refs[root_id] = (root.kind, root.key)
            ids = list(dict.fromkeys([root_id, *seeds, *refs]))
            edges = self.graph.edges_between(ids, [DERIVED, "has_column"], refs=refs, session=s)
        rootn = LineageNode(root.kind, root.key, root.name, 0, _json(root.properties))
        return Lineage(rootn, direction, depth, nodes, edges, total, limit, offset)

    # ---- impact --------------------------------------------------------------------------------

    def impact(self, node_or_column: str | NodeRef, *, limit: int = 10_000, user: str | None = None) -> Impact:
        """Everything downstream of a dataset or a column (all depths, column edges included), as
        products with their affected columns, their contracts and consumers, owners and domains.
        A principal sees the products it may discover; the others are left out without a trace."""
        vis = self.visibility(user)
        self._require(vis, node_or_column)
        from dataclasses import replace

        impact = self._impact(node_or_column, limit)
        impact = replace(impact, root=vis.shown(impact.root))  # its quality score, as in the walks
        if not vis.restricted:
            return impact
        shown = [p for p in impact.products if vis.ok("product", p["product"])]
        contracts = [c for c in impact.contracts if vis.ok("product", c["product"])]
        return Impact(impact.root, shown, impact.datasets, contracts,
                      sorted({p["owner"] for p in shown if p.get("owner")}
                             | {o for c in contracts for o in c.get("consumer_owners", [])}),
                      sorted({p["domain"] for p in shown} | {c["consumer"] for c in contracts if c.get("consumer")}),
                      [c for c in impact.columns if vis.ok("column", c)], impact.truncated)

    def _impact(self, node_or_column: str | NodeRef, limit: int) -> Impact:
        walk = self._lineage(node_or_column, "downstream", None, True, limit, 0)
        root = walk.root
        reached = [root, *walk.nodes]
        with self.store.read() as s:
            col_keys = [n.key for n in reached if n.kind == "column"]
            owner_of: dict[str, NodeRef] = {}
            for i in range(0, len(col_keys), 400):
                c, d = GraphNodeRow.__table__.alias("c"), GraphNodeRow.__table__.alias("d")
                q = (select(c.c.key, d.c.kind, d.c.key)
                     .select_from(GraphEdgeRow.__table__.join(d, d.c.id == GraphEdgeRow.src_id)
                                  .join(c, c.c.id == GraphEdgeRow.dst_id))
                     .where(GraphEdgeRow.rel == "has_column", c.c.kind == "column",
                            c.c.key.in_(col_keys[i:i + 400])))
                owner_of.update({ck: (dk, dkey) for ck, dk, dkey in s.execute(q)})
            distance: dict[NodeRef, int] = {}
            cols: dict[NodeRef, list[str]] = {}
            for n in reached:
                ds = n.ref if n.kind in DATASET_KINDS else owner_of.get(n.key)
                if ds is None:
                    continue
                distance[ds] = min(distance.get(ds, n.distance), n.distance)
                if n.kind == "column":
                    cols.setdefault(ds, []).append(n.key.rpartition(".")[2])
            products = sorted((r for r in distance if r[0] == "product"), key=lambda r: (distance[r], r[1]))
            facts = _product_facts(s, [r[1] for r in products])
        out_products, contracts, owners, domains = [], [], set(), set()
        for ref in products:
            f = facts.get(ref[1], {})
            out_products.append({"product": ref[1], "domain": f.get("domain", ref[1].split(".")[0]),
                                 "owner": f.get("owner"), "distance": distance[ref],
                                 "columns": sorted(set(cols.get(ref, [])))})
            domains.add(f.get("domain", ref[1].split(".")[0]))
            if f.get("owner"):
                owners.add(f["owner"])
            for c in f.get("contracts", []):
                contracts.append({**c, "product": ref[1]})
                if c.get("consumer"):
                    domains.add(c["consumer"])
                owners.update(c.get("consumer_owners", []))
        datasets = [{"dataset": r[1], "distance": distance[r], "columns": sorted(set(cols.get(r, [])))}
                    for r in sorted((r for r in distance if r[0] == "dataset"), key=lambda r: (distance[r], r[1]))]
        return Impact(root, out_products, datasets, contracts, sorted(owners), sorted(d for d in domains if d),
                      sorted({n.key for n in reached if n.kind == "column"}), walk.total > len(walk.nodes))

    # ---- export --------------------------------------------------------------------------------

    def export(self, node: str | NodeRef, format: str = "json", depth: int | None = None, *,
               columns: bool = True, user: str | None = None) -> str:
        """The lineage around ``node`` (upstream and downstream) as JSON, OpenLineage RunEvents
        (a JSON array), Graphviz DOT or a Mermaid flowchart."""
        if format not in FORMATS:
            raise MeshfabricError(f"unknown export format '{format}'", hint=f"use one of {', '.join(FORMATS)}")
        vis = self.visibility(user)
        up = self._visible_walk(node, "upstream", depth, columns, 100_000, 0, user, vis)
        down = self._visible_walk(node, "downstream", depth, columns, 100_000, 0, user, vis)
        nodes: dict[NodeRef, LineageNode] = {up.root.ref: up.root}
        for n in up.nodes:
            nodes[n.ref] = n
        for n in down.nodes:
            nodes.setdefault(n.ref, LineageNode(n.kind, n.key, n.name, -n.distance, n.properties))
        edges = list({(e.src, e.rel, e.dst): e for e in up.edges + down.edges
                      if e.src in nodes and e.dst in nodes}.values())
        edges.sort(key=lambda e: (e.src, e.rel, e.dst))
        if format == "json":
            return json.dumps({"root": up.root.to_dict(), "depth": depth,
                               "nodes": [n.to_dict() for n in nodes.values()],
                               "edges": [e.to_dict() for e in edges]}, indent=2, default=str)
        if format == "openlineage":
            return json.dumps(_openlineage(nodes, edges), indent=2)
        if format == "dot":
            return _dot(nodes, edges, up.root.ref)
        return _mermaid(nodes, edges, up.root.ref)

    # ---- OpenLineage ---------------------------------------------------------------------------

    def ingest(self, event: Any, *, user: str | None = None) -> IngestResult:
        """Validate, store and fold one OpenLineage event sent by ``user``: a principal that may
        send none gets 403 before its event is read; a valid event is then checked product by
        product (:meth:`_may_write`) before anything is stored."""
        from meshfabric.lineage.openlineage import dataset_ref, ingest_openlineage, products_by_table

        who = self.access.decide(user, "lineage.ingest") if self.access is not None else None

        def authorize(valid: Any) -> None:
            written, read = _event_datasets(valid)
            with products_by_table(self.store):
                refs_w = [dataset_ref(ns, name) for ns, name in written]
                refs_r = [dataset_ref(ns, name) for ns, name in read]
            physical = {ref[1]: f"{ns}/{name}" for (ns, name), ref in zip(written + read, refs_w + refs_r, strict=True)
                        if ref[0] == "product" and ns != MESH_NAMESPACE}
            self._may_write(user, refs_w, refs_r, who, physical)

        return ingest_openlineage(self.store, event, principal=who.principal.name if who else None,
                                  authorize=authorize)

    def marquez(self, node_id: str, depth: int = 20, *, limit: int = 1000, user: str | None = None) -> dict[str, Any]:
        """The lineage graph around a dataset or job, shaped like Marquez's lineage API."""
        from meshfabric.lineage.openlineage import dataset_ref, marquez_lineage, products_by_table, resolve_node_id

        vis = self.visibility(user)
        if vis.restricted:
            with products_by_table(self.store):
                if not vis.ok(*resolve_node_id(self.store, node_id)):
                    kind, _, rest = node_id.partition(":")  # what a missing node gets (ol_read)
                    raise NotFound(f"no {kind} {rest!r} in the lineage graph", hint="datasets and jobs appear "
                                   "once an OpenLineage event names them (POST /api/v1/lineage)")
        graph = marquez_lineage(self.store, node_id, depth, limit=limit)
        if not vis.restricted:
            return graph
        kept = [n for n in graph["graph"] if vis.ok_id(n["id"])]
        with products_by_table(self.store):
            for n in kept:
                n["inEdges"] = [e for e in n["inEdges"] if vis.ok_id(e["origin"])]
                n["outEdges"] = [e for e in n["outEdges"] if vis.ok_id(e["destination"])]
                if n["type"] == "JOB":
                    for side in ("inputs", "outputs"):
                        n["data"][side] = [d for d in n["data"][side]
                                           if vis.ok(*dataset_ref(d["namespace"], d["name"]))]
        return {"graph": kept}

    def column_lineage(self, node_id: str, depth: int = 20, *, with_downstream: bool = False, limit: int = 1000,
                       user: str | None = None) -> dict[str, Any]:
        """Column lineage of a field or of every field of a dataset, shaped like Marquez's API."""
        from meshfabric.lineage.openlineage import marquez_column_lineage, products_by_table, resolve_field_id

        vis = self.visibility(user)
        if vis.restricted:
            with products_by_table(self.store):
                ref = resolve_field_id(self.store, node_id)[0]
            if not vis.ok(*ref):
                kind, _, rest = node_id.partition(":")  # what a missing node gets (ol_read)
                if kind == "dataset":
                    raise NotFound(f"no dataset {rest!r} in the lineage graph", hint="datasets and jobs appear "
                                   "once an OpenLineage event names them (POST /api/v1/lineage)")
                raise NotFound(f"no field {rest!r} in the lineage graph",
                               hint="fields appear with a schema or columnLineage facet of an OpenLineage event")
        graph = marquez_column_lineage(self.store, node_id, depth, with_downstream=with_downstream, limit=limit)
        if not vis.restricted:
            return graph

        def ok(field_id: str) -> bool:
            return vis.ok_id("dataset:" + field_id.partition(":")[2].rpartition(":")[0])

        kept = [n for n in graph["graph"] if ok(n["id"])]
        for n in kept:
            n["inEdges"] = [e for e in n["inEdges"] if ok(e["origin"])]
            n["outEdges"] = [e for e in n["outEdges"] if ok(e["destination"])]
            n["data"]["inputFields"] = [f for f in n["data"]["inputFields"]
                                        if vis.ok_id(f"dataset:{f['namespace']}:{f['dataset']}")]
        return {"graph": kept}

    def events(self, *, offset: int = 0, limit: int = 100, user: str | None = None,
               **filters: Any) -> tuple[list[dict[str, Any]], int]:
        """Stored OpenLineage events exactly as received, newest first, and how many match;
        an event that names a product hidden from ``user`` is left out."""
        from meshfabric.lineage.openlineage import dataset_ref, list_events, products_by_table

        vis = self.visibility(user)
        if not vis.restricted:
            return list_events(self.store, offset=offset, limit=limit, **filters)  # type: ignore[no-any-return]
        items, _ = list_events(self.store, offset=0, limit=1_000_000, **filters)
        with products_by_table(self.store):
            def shown(item: dict[str, Any]) -> bool:
                written, read = _event_datasets(item.get("event"))
                return all(vis.ok(*dataset_ref(ns, name)) for ns, name in written + read)

            kept = [i for i in items if shown(i)]
        return kept[offset:offset + limit], len(kept)


# ---- what a principal may see and write ----------------------------------------------------------
#
# Lineage is metadata about products, so a principal sees in it only the products it may
# discover: a hidden product and its columns are left out of every answer (the walk still runs
# through them, so what lies beyond stays reachable at its true distance), and asking for one is
# the NotFound of a node that does not exist. OpenLineage datasets and jobs outside the mesh
# carry no policy and are visible to every principal.


def _not_in_graph(kind: str, key: str) -> NotFound:
    """The NotFound of a node that is not in the graph (``kind`` when the name gave one); a
    hidden product's node gets the very same."""
    if kind:
        return NotFound(f"no {kind} '{key}' in the lineage graph",
                        hint="products appear after `meshfabric apply`; add edges with `meshfabric lineage add`")
    return NotFound(f"'{key}' is not in the lineage graph",
                    hint="name a product as domain.product, a column as domain.product.column, an "
                         "OpenLineage dataset as namespace/name, or prefix the kind (dataset:KEY); "
                         "products appear after `meshfabric apply`")


#: product node properties measured from data (a quality score is a ratio of failing rows, a
#: write's row count counts hidden rows too): shown only to who may read the product's values
DATA_PROPERTIES = ("quality_score", "last_written_rows")


class Visibility:
    """The products hidden from one principal (empty: it sees everything), and which of the
    products it sees are opaque to it (``opaque(fqn)``: masks or a row filter, or discover only),
    whose data-derived node properties it does not get."""

    def __init__(self, hidden: set[str] | None = None, opaque: Callable[[str], bool] | None = None) -> None:
        self.hidden: set[str] = hidden or set()
        self._opaque = opaque
        self._known: dict[str, bool] = {}

    def shown(self, node: LineageNode) -> LineageNode:
        """``node`` without the properties measured from a product's data it may not read."""
        if self._opaque is None or node.kind != "product" or not any(k in node.properties for k in DATA_PROPERTIES):
            return node
        if node.key not in self._known:
            self._known[node.key] = self._opaque(node.key)
        if not self._known[node.key]:
            return node
        props = {k: v for k, v in node.properties.items() if k not in DATA_PROPERTIES}
        return LineageNode(node.kind, node.key, node.name, node.distance, props)

    @property
    def restricted(self) -> bool:
        return bool(self.hidden)

    def ok(self, kind: str, key: str) -> bool:
        if not self.hidden:
            return True
        if kind == "product":
            return key not in self.hidden
        if kind == "column" and "/" not in key:
            return key.rpartition(".")[0] not in self.hidden
        return True

    def ok_id(self, node_id: str) -> bool:
        """A Marquez node id (``dataset:meshfabric:<fqn>`` is a product)."""
        prefix = f"dataset:{MESH_NAMESPACE}:"
        return not (self.hidden and node_id.startswith(prefix) and node_id[len(prefix):] in self.hidden)


def _event_datasets(event: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(written, read) ``(namespace, name)`` pairs an OpenLineage event names — its outputs and
    the dataset of a DatasetEvent are written; its inputs and the input fields of every column
    lineage facet are read. Tolerant of any shape: validation judges the event afterwards."""
    def pair(d: Any) -> tuple[str, str] | None:
        if isinstance(d, dict) and isinstance(d.get("namespace"), str) and isinstance(d.get("name"), str):
            return (d["namespace"], d["name"])
        return None

    def listed(value: Any) -> list[Any]:
        return value if isinstance(value, list) else []

    written: list[tuple[str, str]] = []
    read: list[tuple[str, str]] = []
    if not isinstance(event, dict):
        return written, read
    datasets = [*listed(event.get("outputs")), *listed(event.get("inputs")), event.get("dataset")]
    for d in [*listed(event.get("outputs")), event.get("dataset")]:
        if (p := pair(d)) is not None:
            written.append(p)
    for d in listed(event.get("inputs")):
        if (p := pair(d)) is not None:
            read.append(p)
    for d in datasets:
        facets = d.get("facets") if isinstance(d, dict) else None
        facet = facets.get("columnLineage") if isinstance(facets, dict) else None
        if not isinstance(facet, dict):
            continue
        fields = facet.get("fields") if isinstance(facet.get("fields"), dict) else {}
        sources = list(listed(facet.get("dataset")))  # a copy: the event itself is stored and folded
        for spec in fields.values():
            if isinstance(spec, dict):
                sources += listed(spec.get("inputFields"))
        read += [p for f in sources if (p := pair({"namespace": f.get("namespace"), "name": f.get("name")}
                                                   if isinstance(f, dict) else None)) is not None]
    return written, read


# ---- the recursive walk ----------------------------------------------------------------------

def _walk(s: Session, seeds: list[int], root_id: int, direction: Direction, depth: int | None, limit: int,
          offset: int) -> tuple[list[tuple[Any, ...]], int]:
    """Nodes reachable from ``seeds`` over derived_from edges, with their shortest distance (the
    root itself left out; other seeds — the root's columns — at distance 0).

    The recursion carries (id, depth) and UNION drops repeated rows, so it stops when no new
    (node, depth) pair appears. A cycle would produce one at every depth, so the depth is always
    bounded: by ``depth`` when given; without one, first by ``_FIRST_BOUND`` — a walk that ends
    below it is complete — and only when it reaches that deep, by the number of reachable nodes
    (which no shortest path exceeds), counted by a recursion over ids alone (which UNION makes
    terminate on any graph).
    """
    near, far = ("src_id", "dst_id") if direction == "upstream" else ("dst_id", "src_id")
    seed_list = ", ".join(str(int(i)) for i in dict.fromkeys(seeds))
    sqlite = s.get_bind().dialect.name == "sqlite"
    # one order on every store: byte order of the key (SQLite's BINARY, PostgreSQL's "C")
    order = "distance, kind, key" if sqlite else 'distance, kind COLLATE "C", key COLLATE "C"'
    walk = f"""
        WITH RECURSIVE walk(id, depth) AS (
            SELECT id, 0 FROM graph_nodes WHERE id IN ({seed_list})
            UNION
            SELECT e.{far}, w.depth + 1 FROM walk w JOIN graph_edges e ON e.{near} = w.id AND e.rel = '{DERIVED}'
            WHERE w.depth < :bound
        ),
        best AS (SELECT id, MIN(depth) AS distance FROM walk GROUP BY id),
        found AS (
            SELECT n.kind, n.key, n.name, b.distance, n.properties, n.id
            FROM best b JOIN graph_nodes n ON n.id = b.id
            WHERE b.id <> {int(root_id)}
        )"""
    # every value below is an int formatted here (ids, bound, limit, offset): no user text reaches
    # the SQL, and the driver runs it without SQLAlchemy's per-statement processing
    conn = s.connection()

    def run(bound: int) -> tuple[list[Any], int, int]:
        sql = walk.replace(":bound", str(int(bound)))
        rows = conn.exec_driver_sql(sql + f"""
            SELECT kind, key, name, distance, properties, id, (SELECT COUNT(*) FROM found) AS total,
                   (SELECT MAX(depth) FROM walk) AS deepest
            FROM found ORDER BY {order} LIMIT {int(limit)} OFFSET {int(offset)}""").all()
        if rows:
            return list(rows), int(rows[0][6]), int(rows[0][7] or 0)
        total, deepest = conn.exec_driver_sql(sql + " SELECT (SELECT COUNT(*) FROM found), "
                                                    "(SELECT MAX(depth) FROM walk)").one()
        return [], int(total or 0), int(deepest or 0)

    if depth is not None:
        rows, total, _ = run(depth)
    else:
        rows, total, deepest = run(_FIRST_BOUND)
        if deepest >= _FIRST_BOUND:
            reach = f"""
                WITH RECURSIVE reach(id) AS (
                    SELECT id FROM graph_nodes WHERE id IN ({seed_list})
                    UNION
                    SELECT e.{far} FROM reach r JOIN graph_edges e ON e.{near} = r.id AND e.rel = '{DERIVED}'
                )
                SELECT COUNT(*) FROM reach"""
            rows, total, _ = run(min(int(conn.exec_driver_sql(reach).scalar() or 0), MAX_DEPTH))
    return [(k, key, name, int(d), _json(p), int(i)) for k, key, name, d, p, i, *_ in rows], total


def _json(value: Any) -> dict[str, Any]:
    if not value or value == "{}":
        return {}
    if isinstance(value, str):
        return dict(json.loads(value))
    return dict(value or {})


def _column_props(types: dict[Any, Any] | None, src: str, tgt: str) -> dict[str, Any]:
    spec = None
    if types:
        spec = types.get((src, tgt), types.get(tgt, types.get(f"{src}->{tgt}")))
    if spec is None:
        return {"type": "DIRECT", "subtype": "IDENTITY"}
    if isinstance(spec, str):
        kind = "INDIRECT" if spec.upper() in ("JOIN", "GROUP_BY", "FILTER", "SORT", "WINDOW", "CONDITIONAL") \
            else "DIRECT"
        return {"type": kind, "subtype": spec.upper()}
    return {k: v for k, v in dict(spec).items() if v is not None}


def _product_facts(s: Session, fqns: list[str]) -> dict[str, dict[str, Any]]:
    """Domain, owner and contracts (with the consumer domain's owners) of each product, read
    from the graph: product -part_of-> domain, -owned_by-> team, -conforms_to-> contract, and the
    consumer domain -consumes-> product edge that carries the contract id."""
    out: dict[str, dict[str, Any]] = {f: {"contracts": []} for f in fqns}
    if not fqns:
        return out
    n, m = GraphNodeRow.__table__.alias("n"), GraphNodeRow.__table__.alias("m")
    e = GraphEdgeRow.__table__
    for i in range(0, len(fqns), 400):
        part = fqns[i:i + 400]
        q = (select(n.c.key, e.c.rel, m.c.kind, m.c.key, m.c.properties)
             .select_from(e.join(n, n.c.id == e.c.src_id).join(m, m.c.id == e.c.dst_id))
             .where(n.c.kind == "product", n.c.key.in_(part),
                    e.c.rel.in_(["part_of", "owned_by", "conforms_to"])))
        for fqn, rel, kind, key, props in s.execute(q):
            f = out[fqn]
            if rel == "part_of" and kind == "domain":
                f["domain"] = key
            elif rel == "owned_by":
                f["owner"] = key
            elif rel == "conforms_to" and kind == "contract":
                p = _json(props)
                f["contracts"].append({"contract": key, "consumer": p.get("consumer") or None,
                                       "status": p.get("status"), "version": p.get("version")})
    consumers = {c["consumer"] for f in out.values() for c in f["contracts"] if c.get("consumer")}
    owners: dict[str, list[str]] = {}
    if consumers:
        q = (select(n.c.key, m.c.key).select_from(e.join(n, n.c.id == e.c.src_id).join(m, m.c.id == e.c.dst_id))
             .where(n.c.kind == "domain", n.c.key.in_(sorted(consumers)), e.c.rel == "owned_by"))
        for dom, team in s.execute(q):
            owners.setdefault(dom, []).append(team)
    for f in out.values():
        for c in f["contracts"]:
            c["consumer_owners"] = sorted(owners.get(c.get("consumer") or "", []))
    return out


# ---- export formats --------------------------------------------------------------------------

def _ol_dataset(ref: NodeRef, node: LineageNode | None) -> tuple[str, str]:
    props = node.properties if node else {}
    if props.get("namespace") and props.get("name"):
        return str(props["namespace"]), str(props["name"])
    if ref[0] == "product":
        return MESH_NAMESPACE, ref[1]
    key = ref[1]
    if "://" in key:
        scheme, _, rest = key.partition("://")
        host, slash, name = rest.partition("/")
        return (f"{scheme}://{host}", name) if slash else (key, key)
    ns, slash, name = key.partition("/")
    return (ns, name) if slash else (MESH_NAMESPACE, key)


def _openlineage(nodes: dict[NodeRef, LineageNode], edges: list[Edge]) -> list[dict[str, Any]]:
    """One COMPLETE RunEvent per derived dataset: its sources as inputs, itself as the output with
    a columnLineage facet; the job is the one recorded on the edges, else ``meshfabric/<target>``."""
    by_target: dict[NodeRef, list[Edge]] = {}
    col_edges: dict[NodeRef, list[Edge]] = {}
    col_owner: dict[NodeRef, NodeRef] = {}
    for e in edges:
        if e.rel == "has_column":
            col_owner[e.dst] = e.src
    for e in edges:
        if e.rel != DERIVED:
            continue
        if e.src[0] == "column":
            tgt_ds = col_owner.get(e.src)
            if tgt_ds is not None:
                col_edges.setdefault(tgt_ds, []).append(e)
        else:
            by_target.setdefault(e.src, []).append(e)
    for tgt in col_edges:
        by_target.setdefault(tgt, [])
    events = []
    for tgt, ins in sorted(by_target.items()):
        ns, name = _ol_dataset(tgt, nodes.get(tgt))
        job = next((str(e.properties["job"]) for e in ins if e.properties.get("job")), None)
        job_ns, _, job_name = (job or f"{MESH_NAMESPACE}/{tgt[1]}").partition("/")
        inputs = []
        for e in ins:
            ins_ns, ins_name = _ol_dataset(e.dst, nodes.get(e.dst))
            inputs.append({"namespace": ins_ns, "name": ins_name})
        output: dict[str, Any] = {"namespace": ns, "name": name}
        fields: dict[str, Any] = {}
        for e in col_edges.get(tgt, []):
            src_ds = col_owner.get(e.dst)
            if src_ds is None:
                continue
            s_ns, s_name = _ol_dataset(src_ds, nodes.get(src_ds))
            t = {k: v for k, v in e.properties.items() if k in ("type", "subtype", "description", "masking")}
            t.setdefault("type", "DIRECT")
            fields.setdefault(e.src[1].rpartition(".")[2], {"inputFields": []})["inputFields"].append(
                {"namespace": s_ns, "name": s_name, "field": e.dst[1].rpartition(".")[2], "transformations": [t]})
            if {"namespace": s_ns, "name": s_name} not in inputs:
                inputs.append({"namespace": s_ns, "name": s_name})
        if fields:
            output["facets"] = {"columnLineage": {"_producer": PRODUCER, "_schemaURL": _CL_SCHEMA, "fields": fields}}
        events.append({
            "eventType": "COMPLETE", "eventTime": _now().isoformat(), "producer": PRODUCER, "schemaURL": _OL_SCHEMA,
            "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"meshfabric:{tgt[0]}:{tgt[1]}"))},
            "job": {"namespace": job_ns or MESH_NAMESPACE, "name": job_name or tgt[1]},
            "inputs": inputs, "outputs": [output],
        })
    return events


def _label(n: NodeRef) -> str:
    return f"{n[0]}:{n[1]}"


def _dot(nodes: dict[NodeRef, LineageNode], edges: list[Edge], root: NodeRef) -> str:
    """Data flows left to right: an edge goes from the source to what was derived from it."""
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    shapes = {"product": "box", "dataset": "cylinder", "column": "ellipse", "job": "diamond"}
    lines = ["digraph lineage {", "  rankdir=LR;"]
    for ref, n in nodes.items():
        attrs = [f"label={q(n.key)}", f"shape={shapes.get(n.kind, 'box')}"]
        if ref == root:
            attrs.append("style=bold")
        lines.append(f"  {q(_label(ref))} [{', '.join(attrs)}];")
    for e in edges:
        if e.rel == DERIVED:
            lines.append(f"  {q(_label(e.dst))} -> {q(_label(e.src))};")
        else:
            lines.append(f"  {q(_label(e.src))} -> {q(_label(e.dst))} [style=dashed, label={q(e.rel)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid(nodes: dict[NodeRef, LineageNode], edges: list[Edge], root: NodeRef) -> str:
    ids = {ref: f"n{i}" for i, ref in enumerate(nodes)}

    def text_of(s: str) -> str:
        return s.replace('"', "#quot;")

    lines = ["flowchart LR"]
    for ref, n in nodes.items():
        shape = ('[("', '")]') if n.kind == "dataset" else ('["', '"]')
        lines.append(f"  {ids[ref]}{shape[0]}{text_of(n.key)}{shape[1]}")
    for e in edges:
        if e.src not in ids or e.dst not in ids:
            continue
        if e.rel == DERIVED:
            lines.append(f"  {ids[e.dst]} --> {ids[e.src]}")
        else:
            lines.append(f"  {ids[e.src]} -.->|{e.rel}| {ids[e.dst]}")
    lines.append(f"  style {ids[root]} stroke-width:3px")
    return "\n".join(lines) + "\n"


__all__ = ["FORMATS", "Impact", "Lineage", "LineageNode", "LineageService", "Node"]
