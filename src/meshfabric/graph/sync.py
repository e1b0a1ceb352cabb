"""Keeps the metadata graph current by folding domain events in from a persisted offset.

``sync_graph(store)`` reads the events after the graph's offset (``subscriber_offsets`` row
``graph``) and folds each into the graph in the same write transaction that advances the offset,
so a crash never folds an event twice or skips one. Folding reads the *current* row of what the
event names (a product, domain, source, contract), so folding is idempotent and a later event
simply refreshes the node again. It is incremental: only what the events name is touched.

What a product becomes (kind ``product``, key ``domain.product``):

* ``part_of`` its domain, ``owned_by`` its owner (kind ``team``), ``reads_from`` its source,
  ``tagged_with`` each tag, ``has_column`` each column (kind ``column``, key
  ``domain.product.column``, with type, nullability, classification, description);
* ``conforms_to`` each registered schema version (kind ``schema_version``, key
  ``domain.product@vN``) and each contract (kind ``contract``, key the contract id), whose
  consumer domain ``consumes`` the product; domains are ``owned_by`` their owners;
* a product whose output port is ``sql:`` gets lineage from that SQL
  (:func:`meshfabric.lineage.sql_lineage` in the source's dialect): ``derived_from`` the products
  served from the tables it reads on the same source — else the physical table, kind
  ``dataset``, key ``<source>/<table>`` — and column ``derived_from`` edges; these edges carry
  ``origin: sql`` and are replaced whenever the product is refolded.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meshfabric.store import Store
from meshfabric.store.models import (
    ContractRow,
    DomainRow,
    EventRow,
    ProductRow,
    SchemaVersionRow,
    SourceRow,
    SubscriberOffsetRow,
)
from meshfabric.store.models_graph import GraphEdgeRow, GraphNodeRow

log = logging.getLogger("meshfabric.graph")

SUBSCRIBER = "graph"
BATCH = 500
#: the relationships a product refold owns (everything else — lineage from OpenLineage or added
#: by hand, contracts, schema versions — is left alone)
PRODUCT_RELS = ("part_of", "owned_by", "reads_from", "tagged_with", "has_column")
SQL_DIALECTS = {"sqlite": "sqlite", "duckdb": "duckdb", "postgres": "postgres", "mysql": "mysql"}


def graph_behind(session: Session) -> bool:
    """Whether the log holds events the graph has not folded yet (one query)."""
    newest, last = session.execute(select(
        select(func.max(EventRow.seq)).scalar_subquery(),
        select(SubscriberOffsetRow.last_seq).where(SubscriberOffsetRow.subscriber == SUBSCRIBER)
        .scalar_subquery())).one()
    return newest is not None and newest > (last or 0)


def sync_graph(store: Store) -> int:
    """Fold events after the graph's offset into the graph; returns how many were folded."""
    folded = 0
    while True:
        with store.read() as s:
            if not graph_behind(s):
                return folded
        with store.write() as s:
            offset = s.get(SubscriberOffsetRow, SUBSCRIBER)
            if offset is None:
                offset = SubscriberOffsetRow(subscriber=SUBSCRIBER, last_seq=0)
                s.add(offset)
            events = list(s.scalars(select(EventRow).where(EventRow.seq > offset.last_seq)
                                    .order_by(EventRow.seq).limit(BATCH)))
            if not events:
                return folded
            _Folder(store, s).fold(events)
            offset.last_seq = events[-1].seq
            from meshfabric.store.models import utcnow

            offset.updated_at = utcnow()
            folded += len(events)


class _Folder:
    def __init__(self, store: Store, session: Session) -> None:
        from meshfabric.graph import MetadataGraph

        self.g = MetadataGraph(store)
        self.s = session
        #: products to refold once, after the batch (several events often name the same one)
        self.products: dict[str, None] = {}
        self.sql_sources: set[str] = set()

    def fold(self, events: list[EventRow]) -> None:
        for ev in events:
            handler = getattr(self, "on_" + ev.event_type.replace(".", "_"), None)
            if handler is not None:
                handler(ev.data or {}, ev)
        # products created/updated on a source may be what a sql: product on it reads
        if self.sql_sources:
            rows = self.s.execute(select(ProductRow.domain, ProductRow.name, ProductRow.spec)
                                  .where(ProductRow.source.in_(sorted(self.sql_sources))))
            for domain, name, spec in rows:
                if ((spec or {}).get("output") or {}).get("sql"):
                    self.products.setdefault(f"{domain}.{name}", None)
        for fqn in self.products:
            self.refresh_product(fqn)

    # ---- sources and domains ---------------------------------------------------------------------

    def on_source_registered(self, data: dict[str, Any], _ev: EventRow) -> None:
        row = self.s.get(SourceRow, data.get("source"))
        if row is not None:
            self.g.upsert_node("source", row.name, properties={"source_kind": row.kind,
                                                                "description": row.description}, session=self.s)

    on_source_updated = on_source_registered

    def on_source_removed(self, data: dict[str, Any], _ev: EventRow) -> None:
        if data.get("source") and self.s.get(SourceRow, data["source"]) is None:
            self.g.remove_node("source", data["source"], session=self.s)

    def on_domain_created(self, data: dict[str, Any], _ev: EventRow) -> None:
        row = self.s.get(DomainRow, data.get("domain"))
        if row is None:
            return
        self.g.upsert_node("domain", row.name, properties={"description": row.description,
                                                           "owners": list(row.owners or [])}, session=self.s)
        self._replace_out(("domain", row.name), ["owned_by"],
                          [(("domain", row.name), "owned_by", ("team", o), None) for o in row.owners or []])

    on_domain_updated = on_domain_created

    def on_domain_deleted(self, data: dict[str, Any], _ev: EventRow) -> None:
        if data.get("domain") and self.s.get(DomainRow, data["domain"]) is None:
            self.g.remove_node("domain", data["domain"], session=self.s)

    # ---- products --------------------------------------------------------------------------------

    def on_product_created(self, data: dict[str, Any], _ev: EventRow) -> None:
        if data.get("product"):
            self.products.setdefault(data["product"], None)
        if data.get("source"):
            self.sql_sources.add(data["source"])

    on_product_updated = on_product_created
    on_product_status_changed = on_product_created
    on_product_schema_changed = on_product_created

    def on_product_deleted(self, data: dict[str, Any], _ev: EventRow) -> None:
        fqn = data.get("product")
        if not fqn or _product_row(self.s, fqn) is not None:
            return
        self.products.pop(fqn, None)
        for col in self._out_keys(("product", fqn), "has_column"):
            self.g.remove_node("column", col, session=self.s)
        for kind in ("schema_version",):
            for key in self._out_keys(("product", fqn), "conforms_to", kind):
                self.g.remove_node(kind, key, session=self.s)
        self.g.remove_node("product", fqn, session=self.s)

    def on_product_data_written(self, data: dict[str, Any], ev: EventRow) -> None:
        fqn = data.get("product")
        if fqn and self._exists(("product", fqn)):
            self.g.upsert_node("product", fqn, properties={
                "last_written_at": ev.timestamp.isoformat(), "last_written_rows": data.get("rows"),
                "last_write_mode": data.get("mode")}, session=self.s)

    def on_quality_run_completed(self, data: dict[str, Any], ev: EventRow) -> None:
        fqn = data.get("product")
        if fqn and self._exists(("product", fqn)):
            self.g.upsert_node("product", fqn, properties={
                "quality_score": data.get("score"), "quality_status": data.get("status"),
                "quality_checked_at": ev.timestamp.isoformat()}, session=self.s)

    def refresh_product(self, fqn: str) -> None:
        row = _product_row(self.s, fqn)
        if row is None:
            return
        ref = ("product", fqn)
        output = (row.spec or {}).get("output") or {}
        port = next((k for k in ("table", "path", "sql") if output.get(k)), None)
        self.g.upsert_node("product", fqn, name=row.name, properties={
            "domain": row.domain, "owner": row.owner, "description": row.description, "status": row.status,
            "version": row.version, "source": row.source, "tags": list(row.tags or []), "revision": row.revision,
            "file": row.file, "port": port, "table": output.get("table"), "path": output.get("path"),
        }, session=self.s)
        columns = [c for c in row.columns or [] if isinstance(c, dict) and c.get("name")]
        wanted_cols = {f"{fqn}.{c['name']}" for c in columns}
        for old in self._out_keys(ref, "has_column"):
            if old not in wanted_cols:
                self.g.remove_node("column", old, session=self.s)
        for i, c in enumerate(columns):
            self.g.upsert_node("column", f"{fqn}.{c['name']}", name=c["name"], properties={
                "product": fqn, "domain": row.domain, "type": c.get("type"), "nullable": c.get("nullable", True),
                "classification": list(c.get("classification") or []) or None,
                "description": c.get("description") or None, "primary_key": c.get("primary_key") or None,
                "position": i}, session=self.s)
        edges: list[Any] = [(ref, "part_of", ("domain", row.domain), None),
                            (ref, "owned_by", ("team", row.owner), None),
                            (ref, "reads_from", ("source", row.source), None)]
        edges += [(ref, "tagged_with", ("tag", t), None) for t in row.tags or []]
        edges += [(ref, "has_column", ("column", f"{fqn}.{c['name']}"), {"position": i}) for i, c in enumerate(columns)]
        self._replace_out(ref, list(PRODUCT_RELS), edges)
        if port == "sql" or self._has_sql_lineage(ref):
            self._sql_lineage(row, output.get("sql") if port == "sql" else None)

    # ---- schema versions and contracts ------------------------------------------------------------

    def on_schema_version_added(self, data: dict[str, Any], _ev: EventRow) -> None:
        fqn, version = data.get("product"), data.get("version")
        if not fqn or version is None:
            return
        row = self.s.scalars(select(SchemaVersionRow).where(SchemaVersionRow.product == fqn,
                                                            SchemaVersionRow.version == version)).first()
        if row is None:
            return
        key = f"{fqn}@v{version}"
        self.g.upsert_node("schema_version", key, name=f"v{version}", properties={
            "product": fqn, "version": version, "schema_kind": row.kind, "mode": row.mode,
            "fingerprint": row.fingerprint, "product_version": row.product_version,
            "deprecated": bool(row.deprecated)}, session=self.s)
        if self._exists(("product", fqn)) or _product_row(self.s, fqn) is not None:
            self.g.upsert_edge(("product", fqn), "conforms_to", ("schema_version", key), session=self.s)

    def on_schema_version_deprecated(self, data: dict[str, Any], _ev: EventRow) -> None:
        fqn, version = data.get("product"), data.get("version")
        if fqn and version is not None and self._exists(("schema_version", f"{fqn}@v{version}")):
            self.g.upsert_node("schema_version", f"{fqn}@v{version}", properties={"deprecated": True},
                               session=self.s)

    def on_contract_created(self, data: dict[str, Any], _ev: EventRow) -> None:
        cid = data.get("contract")
        row = self.s.get(ContractRow, cid) if cid else None
        if row is None:
            return
        ref = ("contract", row.id)
        self.g.upsert_node("contract", row.id, name=row.id, properties={
            "product": row.product, "consumer": row.consumer or None, "status": row.status,
            "version": row.version, "file": row.file or None}, session=self.s)
        # the contract binds its product (conforms_to) and its consumer domain (consumes)
        self.g.remove_edges(dst=ref, rel="conforms_to", session=self.s)
        for old in self._out_keys(ref, "consumed_by"):
            self._drop_consumes(old, row.id)
        self._replace_out(ref, ["consumed_by"], [(ref, "consumed_by", ("domain", row.consumer), None)]
                          if row.consumer else [])
        if row.product:
            edges: list[Any] = [(("product", row.product), "conforms_to", ref, None)]
            if row.consumer:
                edges.append((("domain", row.consumer), "consumes", ("product", row.product), {"contract": row.id}))
            self.g.add_edges(edges, session=self.s)

    on_contract_updated = on_contract_created
    on_contract_imported = on_contract_created

    def on_contract_deleted(self, data: dict[str, Any], _ev: EventRow) -> None:
        cid = data.get("contract")
        if cid and self.s.get(ContractRow, cid) is None:
            node = self.g._ids(self.s, [("contract", cid)]).get(("contract", cid))
            if node is not None:
                for dom in self._out_keys(("contract", cid), "consumed_by"):
                    self._drop_consumes(dom, cid)
            self.g.remove_node("contract", cid, session=self.s)

    def on_contract_violated(self, data: dict[str, Any], ev: EventRow) -> None:
        cid = data.get("contract") or data.get("contract_id")
        if cid and self._exists(("contract", cid)):
            self.g.upsert_node("contract", cid, properties={"last_violation_at": ev.timestamp.isoformat()},
                               session=self.s)

    # ---- lineage from a sql: port --------------------------------------------------------------

    def _has_sql_lineage(self, ref: tuple[str, str]) -> bool:
        return bool(self.g._ids(self.s, [ref])) and any(
            (p or {}).get("origin") == "sql" for _, p in self._out_edges(ref, "derived_from"))

    def _sql_lineage(self, row: ProductRow, sql: str | None) -> None:
        """Replace the product's ``origin: sql`` lineage with what its SQL reads now."""
        fqn = f"{row.domain}.{row.name}"
        ref = ("product", fqn)
        self._drop_sql_edges(ref)
        for col in self._out_keys(ref, "has_column"):
            self._drop_sql_edges(("column", col))
        if not sql:
            return
        source = self.s.get(SourceRow, row.source)
        dialect = SQL_DIALECTS.get(source.kind) if source is not None else None
        # the tables of this source that are served as products: their names lead to the products
        served: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        for d, n, spec, cols in self.s.execute(select(ProductRow.domain, ProductRow.name, ProductRow.spec,
                                                      ProductRow.columns).where(ProductRow.source == row.source)):
            table = ((spec or {}).get("output") or {}).get("table")
            if table and f"{d}.{n}" != fqn:
                served[_norm(table)] = (f"{d}.{n}", list(cols or []))
        schema = {name: {c["name"]: c.get("type") or "string" for c in cols if isinstance(c, dict) and "name" in c}
                  for name, (_, cols) in served.items()}
        try:
            sources, pairs = _analyze(sql, dialect, schema or None)
        except Exception as exc:  # a product whose SQL cannot be analysed still gets its other facts
            log.warning("lineage of %s: %s", fqn, exc)
            self.g.upsert_node("product", fqn, properties={"lineage_error": f"{exc.__class__.__name__}: {exc}"},
                               session=self.s)
            return
        self.g.upsert_node("product", fqn, properties={"lineage_error": None}, session=self.s)

        def dataset_of(table: str) -> tuple[str, str]:
            hit = served.get(_norm(table))
            return ("product", hit[0]) if hit else ("dataset", f"{row.source}/{table}")

        props = {"origin": "sql", "type": "sql"}
        edges: list[Any] = []
        for table in sources:
            src = dataset_of(str(table))
            if src != ref:
                edges.append((ref, "derived_from", src, props))
        own = {c.lower(): c for c in (x["name"] for x in row.columns or [] if isinstance(x, dict) and "name" in x)}
        for src_col, tgt_col, how in pairs:
            table, _, col = src_col.rpartition(".")
            out_col = tgt_col.rpartition(".")[2]
            if not table or not col or not out_col:
                continue
            ds = dataset_of(table)
            source_col = ("column", f"{ds[1]}.{col}")
            target_col = ("column", f"{fqn}.{own.get(out_col.lower(), out_col)}")
            cprops = {"origin": "sql", **how}
            edges += [(ds, "has_column", source_col, None), (ref, "has_column", target_col, None),
                      (target_col, "derived_from", source_col, cprops)]
        if edges:
            self.g.add_edges(edges, session=self.s)

    def _drop_sql_edges(self, ref: tuple[str, str]) -> None:
        node = self.g._ids(self.s, [ref]).get(ref)
        if node is None:
            return
        ids = [i for i, p in self._out_edges(ref, "derived_from") if (p or {}).get("origin") == "sql"]
        if ids:
            from sqlalchemy import delete

            self.s.execute(delete(GraphEdgeRow).where(GraphEdgeRow.id.in_(ids)))

    # ---- helpers ---------------------------------------------------------------------------------

    def _exists(self, ref: tuple[str, str]) -> bool:
        return bool(self.g._ids(self.s, [ref]))

    def _out_edges(self, ref: tuple[str, str], rel: str) -> list[tuple[int, dict[str, Any]]]:
        node = self.g._ids(self.s, [ref]).get(ref)
        if node is None:
            return []
        return [(i, dict(p or {})) for i, p in self.s.execute(
            select(GraphEdgeRow.id, GraphEdgeRow.properties).where(GraphEdgeRow.src_id == node,
                                                                   GraphEdgeRow.rel == rel))]

    def _out_keys(self, ref: tuple[str, str], rel: str, kind: str | None = None) -> list[str]:
        node = self.g._ids(self.s, [ref]).get(ref)
        if node is None:
            return []
        q = (select(GraphNodeRow.key).join(GraphEdgeRow, GraphEdgeRow.dst_id == GraphNodeRow.id)
             .where(GraphEdgeRow.src_id == node, GraphEdgeRow.rel == rel))
        if kind is not None:
            q = q.where(GraphNodeRow.kind == kind)
        return list(self.s.scalars(q))

    def _replace_out(self, ref: tuple[str, str], rels: list[str], edges: list[Any]) -> None:
        """Make the node's outgoing edges of ``rels`` exactly ``edges`` (others left alone)."""
        ids = self.g.ensure_nodes([ref, *(e[2] for e in edges)], session=self.s)
        node = ids[ref]
        want = {(e[1], ids[e[2]]) for e in edges}
        stale = [i for i, rel, dst in self.s.execute(
            select(GraphEdgeRow.id, GraphEdgeRow.rel, GraphEdgeRow.dst_id).where(
                GraphEdgeRow.src_id == node, GraphEdgeRow.rel.in_(rels))) if (rel, dst) not in want]
        if stale:
            from sqlalchemy import delete

            self.s.execute(delete(GraphEdgeRow).where(GraphEdgeRow.id.in_(stale)))
        if edges:
            self.g.add_edges(edges, session=self.s)

    def _drop_consumes(self, domain: str, contract: str) -> None:
        """Remove ``domain -consumes-> product`` edges that only this contract made."""
        node = self.g._ids(self.s, [("domain", domain)]).get(("domain", domain))
        if node is None:
            return
        ids = [i for i, p in self.s.execute(select(GraphEdgeRow.id, GraphEdgeRow.properties).where(
            GraphEdgeRow.src_id == node, GraphEdgeRow.rel == "consumes")) if (p or {}).get("contract") == contract]
        if ids:
            from sqlalchemy import delete

            self.s.execute(delete(GraphEdgeRow).where(GraphEdgeRow.id.in_(ids)))


def _analyze(sql: str, dialect: str | None, schema: dict[str, Any] | None
             ) -> tuple[list[str], list[tuple[str, str, dict[str, Any]]]]:
    """Tables read and direct column edges ``(source, target, {type, subtype, masking})`` of a SQL
    port, typed by :func:`meshfabric.query.lineage.analyze_sql`."""
    from meshfabric.query.lineage import analyze_sql, iter_edges

    # impact analysis must not miss a column: an ambiguous one counts for every table that may hold it
    result = analyze_sql(sql, dialect=dialect, schema=schema, ambiguous="all")
    edges = [(str(a), str(b), {"type": t.type, "subtype": t.subtype, "masking": t.masking or None})
             for a, b, t in iter_edges(result)]
    return list(result.sources), [(a, b, {k: v for k, v in p.items() if v is not None}) for a, b, p in edges]


def _product_row(s: Session, fqn: str) -> ProductRow | None:
    domain, _, name = fqn.partition(".")
    return s.scalars(select(ProductRow).where(ProductRow.domain == domain, ProductRow.name == name)).first()


def _norm(table: str) -> str:
    """A table name compared case-insensitively, without quotes or a main/public schema."""
    t = table.replace('"', "").replace("`", "").lower()
    for prefix in ("main.", "public."):
        if t.startswith(prefix):
            t = t[len(prefix):]
    return t
