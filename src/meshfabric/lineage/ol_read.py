"""Reading what OpenLineage events left: the lineage graph and column lineage as Marquez's
API shapes them, and the raw events as stored.

A Marquez node id names a dataset or a job as ``dataset:<namespace>:<name>`` or
``job:<namespace>:<name>`` (a field as ``datasetField:<namespace>:<name>:<field>``); namespaces
may hold colons (``postgres://db:5432``), so every reading is tried, the longest namespace first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from meshfabric.errors import MeshfabricError
from meshfabric.lineage.ol_names import (
    MESH_NAMESPACE,
    Ref,
    canonical_run_id,
    column_key,
    dataset_ref,
    products_by_table,
    refs_in,
)
from meshfabric.lineage.ol_validate import parse_time

if TYPE_CHECKING:
    from meshfabric.store import Store


# --------------------------------------------------------------------------------------------
# the Marquez-shaped lineage graph

#: Marquez's default and our ceiling for ``depth`` (job steps each way)
DEFAULT_DEPTH = 20
MAX_GRAPH_DEPTH = 100


def _node_candidates(kind: str, rest: str) -> list[tuple[str, str]]:
    """Every reading of ``<namespace>:<name>`` (namespaces such as ``postgres://h:5432`` hold colons)."""
    out = []
    for i, ch in enumerate(rest):
        if ch == ":" and 0 < i < len(rest) - 1:
            ns, name = rest[:i], rest[i + 1:]
            out.append(dataset_ref(ns, name) if kind == "dataset" else ("job", f"{ns}/{name}"))
    return out


def split_key(key: str) -> tuple[str, str]:
    """Namespace and name of a ``namespace/name`` graph key whose node does not say them (a
    fallback: nodes keep both as properties, which are read instead). A URI namespace keeps its
    authority (``s3://bucket`` + ``/warehouse/t``, ``hive://h:9083`` + ``db.t``)."""
    scheme, sep, rest = key.partition("://")
    if sep and "/" not in scheme:
        authority, _, name = rest.partition("/")
        return f"{scheme}://{authority}", name
    ns, _, name = key.partition("/")
    return ns, name


def _names(key: str, props: dict[str, Any], name_key: str = "name") -> tuple[str, str]:
    ns, name = props.get("namespace"), props.get(name_key)
    if isinstance(ns, str) and isinstance(name, str):
        return ns, name
    return split_key(key)


def resolve_node_id(store: Store, node_id: str) -> tuple[str, str]:
    """The graph node of a Marquez node id ``dataset:<namespace>:<name>`` or ``job:<namespace>:<name>``."""
    from sqlalchemy import select

    from meshfabric.errors import NotFound
    from meshfabric.store.models_graph import GraphNodeRow

    kind, sep, rest = str(node_id).partition(":")
    if not sep or kind not in ("dataset", "job") or ":" not in rest:
        raise _bad_input(f"nodeId {node_id!r} is not dataset:<namespace>:<name> or job:<namespace>:<name>",
                         "e.g. nodeId=dataset:postgres://db:5432:public.orders or nodeId=job:airflow:etl.load")
    candidates = _node_candidates(kind, rest)
    with store.read() as s:
        found = set(s.execute(select(GraphNodeRow.kind, GraphNodeRow.key)
                              .where(refs_in(GraphNodeRow.kind, GraphNodeRow.key, candidates))).all())
    for ref in candidates[::-1]:  # the longest namespace first: "postgres://h:5432" over "postgres"
        if tuple(ref) in found:
            return ref
    raise NotFound(f"no {kind} {rest!r} in the lineage graph",
                   hint="datasets and jobs appear once an OpenLineage event names them (POST /api/v1/lineage)")


def _bad_input(message: str, hint: str | None = None) -> MeshfabricError:
    from meshfabric.errors import ConfigError

    err = ConfigError(message, hint=hint)
    err.title = "bad request"
    return err


def _marquez_id(kind: str, key: str, props: dict[str, Any]) -> str:
    if kind == "product":
        return f"dataset:{MESH_NAMESPACE}:{key}"
    ns, name = _names(key, props)
    return f"{'job' if kind == 'job' else 'dataset'}:{ns}:{name}"


def _ts(value: Any) -> str | None:
    if isinstance(value, datetime):
        return _iso(value)
    return value if isinstance(value, str) else None


def _dataset_data(kind: str, key: str, props: dict[str, Any], created: Any, updated: Any) -> dict[str, Any]:
    if kind == "product":
        ns, name = MESH_NAMESPACE, key
    else:
        ns, name = _names(key, props)
    facets = props.get("facets") or {}
    raw_fields = props.get("fields") if isinstance(props.get("fields"), list) else props.get("columns")
    fields = [{"name": f.get("name"), "type": f.get("type"), "tags": [], "description": f.get("description")}
              for f in raw_fields or [] if isinstance(f, dict) and f.get("name")]
    dtype_facet = facets.get("datasetType")
    dtype = dtype_facet.get("datasetType") if isinstance(dtype_facet, dict) else None
    return {"id": {"namespace": ns, "name": name}, "type": dtype or "DB_TABLE", "name": name, "physicalName": name,
            "createdAt": _ts(created), "updatedAt": _ts(updated), "namespace": ns,
            "sourceName": props.get("source") or ns, "fields": fields,
            "tags": sorted(t.get("key", "") for t in (facets.get("tags") or {}).get("tags", []) if isinstance(t, dict))
            if isinstance(facets.get("tags"), dict) else [],
            "lastModifiedAt": _ts(updated), "description": props.get("description"), "facets": facets}


def _run_data(key: str, props: dict[str, Any], created: Any, updated: Any) -> dict[str, Any]:
    started, ended = props.get("startedAt"), props.get("endedAt")
    duration = None
    if started and ended:
        a, b = parse_time(started), parse_time(ended)
        if a and b:
            duration = int((b - a).total_seconds() * 1000)
    return {"id": key, "createdAt": _ts(created), "updatedAt": _ts(updated),
            "nominalStartTime": props.get("nominalStartTime"), "nominalEndTime": props.get("nominalEndTime"),
            "state": props.get("state"), "startedAt": started, "endedAt": ended, "durationMs": duration,
            "facets": props.get("facets") or {}, "inputFacets": props.get("inputFacets") or {},
            "outputFacets": props.get("outputFacets") or {}}


def _job_data(key: str, props: dict[str, Any], created: Any, updated: Any,
              latest: dict[str, Any] | None) -> dict[str, Any]:
    ns, name = _names(key, props)
    facets = props.get("facets") or {}
    location = (facets.get("sourceCodeLocation") or {}).get("url") if isinstance(facets.get("sourceCodeLocation"),
                                                                                   dict) else None
    parent = props.get("parentJob")
    return {"id": {"namespace": ns, "name": name}, "type": props.get("type") or "BATCH", "name": name,
            "simpleName": name.rpartition(".")[2], "parentJobName": parent.partition("/")[2] if parent else None,
            "createdAt": _ts(created), "updatedAt": _ts(updated), "namespace": ns,
            "inputs": props.get("inputs") or [], "outputs": props.get("outputs") or [], "location": location,
            "description": props.get("description"), "latestRun": latest, "facets": facets}


def marquez_lineage(store: Store, node_id: str, depth: int = DEFAULT_DEPTH, *, limit: int = 1000) -> dict[str, Any]:
    """The lineage around a dataset or job as Marquez's ``GET /api/v1/lineage`` returns it:
    ``{"graph": [{"id", "type": "DATASET"|"JOB", "data", "inEdges", "outEdges"}]}``.

    ``depth`` counts dataset-to-dataset steps (one job each) upstream and downstream; both walks
    are recursive queries in the store (``LineageService``), bounded by ``depth`` and ``limit``
    nodes each way. Jobs are those that read or write a dataset reached; a ``derived_from`` edge
    that no such job explains (SQL lineage, product specs) appears as a dataset-to-dataset edge.
    """
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from meshfabric.lineage.service import DATASET_KINDS, LineageService
    from meshfabric.store.models_graph import GraphEdgeRow, GraphNodeRow

    if depth < 0 or depth > MAX_GRAPH_DEPTH:
        raise _bad_input(f"depth must be between 0 and {MAX_GRAPH_DEPTH}, not {depth}")
    with products_by_table(store):
        root = resolve_node_id(store, node_id)
    service = LineageService(store=store)
    with store.read() as s:
        if root[0] == "job":
            a, b = aliased(GraphNodeRow), aliased(GraphNodeRow)
            seeds = [(k, key) for k, key in s.execute(
                select(b.kind, b.key).select_from(GraphEdgeRow).join(a, a.id == GraphEdgeRow.src_id)
                .join(b, b.id == GraphEdgeRow.dst_id)
                .where(a.kind == "job", a.key == root[1], GraphEdgeRow.rel.in_(["reads", "writes"])))]
        else:
            seeds = [root]
    datasets: set[tuple[str, str]] = set(seeds)
    derived: set[tuple[tuple[str, str], tuple[str, str]]] = set()
    for seed in seeds:
        for walk in (service.upstream(seed, depth=depth, limit=limit), service.downstream(seed, depth=depth,
                                                                                           limit=limit)):
            datasets.update(n.ref for n in walk.nodes if n.kind in DATASET_KINDS)
            derived.update((e.src, e.dst) for e in walk.edges if e.rel == "derived_from"
                           and e.src[0] in DATASET_KINDS and e.dst[0] in DATASET_KINDS)
    nodes: dict[tuple[str, str], tuple[dict[str, Any], Any, Any]] = {}
    io: set[tuple[tuple[str, str], str, tuple[str, str]]] = set()
    refs = sorted(datasets | ({root} if root[0] == "job" else set()))
    with store.read() as s:
        for i in range(0, len(refs), 400):
            part = refs[i:i + 400]
            for kind, key, props, created, updated in s.execute(
                    select(GraphNodeRow.kind, GraphNodeRow.key, GraphNodeRow.properties, GraphNodeRow.created_at,
                           GraphNodeRow.updated_at).where(refs_in(GraphNodeRow.kind, GraphNodeRow.key, part))):
                nodes[(kind, key)] = (dict(props or {}), created, updated)
            j, d = aliased(GraphNodeRow), aliased(GraphNodeRow)
            ds_part = [r for r in part if r[0] in DATASET_KINDS]
            if ds_part:
                io.update(((jk, jkey), rel, (dk, dkey)) for jk, jkey, rel, dk, dkey in s.execute(
                    select(j.kind, j.key, GraphEdgeRow.rel, d.kind, d.key).select_from(GraphEdgeRow)
                    .join(j, j.id == GraphEdgeRow.src_id).join(d, d.id == GraphEdgeRow.dst_id)
                    .where(j.kind == "job", GraphEdgeRow.rel.in_(["reads", "writes"]),
                           refs_in(d.kind, d.key, ds_part))))
        jobs = sorted({e[0] for e in io} - set(nodes))
        for i in range(0, len(jobs), 400):
            for kind, key, props, created, updated in s.execute(
                    select(GraphNodeRow.kind, GraphNodeRow.key, GraphNodeRow.properties, GraphNodeRow.created_at,
                           GraphNodeRow.updated_at).where(GraphNodeRow.kind == "job",
                                                          GraphNodeRow.key.in_([k for _, k in jobs[i:i + 400]]))):
                nodes[(kind, key)] = (dict(props or {}), created, updated)
        run_ids = sorted({str(p["latestRun"]) for (k, _), (p, _, _) in nodes.items()
                          if k == "job" and p.get("latestRun")})
        runs: dict[str, dict[str, Any]] = {}
        for i in range(0, len(run_ids), 400):
            for key, props, created, updated in s.execute(
                    select(GraphNodeRow.key, GraphNodeRow.properties, GraphNodeRow.created_at, GraphNodeRow.updated_at)
                    .where(GraphNodeRow.kind == "run", GraphNodeRow.key.in_(run_ids[i:i + 400]))):
                runs[key] = _run_data(key, dict(props or {}), created, updated)
    ids = {ref: _marquez_id(ref[0], ref[1], nodes.get(ref, ({}, None, None))[0]) for ref in nodes}
    edges: set[tuple[str, str]] = set()
    explained: set[tuple[tuple[str, str], tuple[str, str]]] = set()
    reads: dict[tuple[str, str], set[tuple[str, str]]] = {}
    writes: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for job, rel, ds in io:
        if job not in ids or ds not in ids:
            continue
        if rel == "reads":
            edges.add((ids[ds], ids[job]))
            reads.setdefault(job, set()).add(ds)
        else:
            edges.add((ids[job], ids[ds]))
            writes.setdefault(job, set()).add(ds)
    for job in writes:
        explained.update((out, src) for out in writes[job] for src in reads.get(job, ()))
    for out, src in derived - explained:
        if out in ids and src in ids:
            edges.add((ids[src], ids[out]))
    graph = []
    for ref, (props, created, updated) in nodes.items():
        node_id_ = ids[ref]
        if ref[0] == "job":
            data = _job_data(ref[1], props, created, updated, runs.get(props.get("latestRun") or ""))
        else:
            data = _dataset_data(ref[0], ref[1], props, created, updated)
        graph.append({"id": node_id_, "type": "JOB" if ref[0] == "job" else "DATASET", "data": data,
                      "inEdges": [{"origin": a, "destination": b} for a, b in sorted(edges) if b == node_id_],
                      "outEdges": [{"origin": a, "destination": b} for a, b in sorted(edges) if a == node_id_]})
    graph.sort(key=lambda n: n["id"])
    return {"graph": graph}


def _field_candidates(rest: str) -> list[tuple[str, str, str]]:
    """Every reading of ``<namespace>:<name>:<field>``, the longest namespace first."""
    colons = [i for i, ch in enumerate(rest) if ch == ":"]
    out = [(rest[:i], rest[i + 1:j], rest[j + 1:]) for i in colons for j in colons
           if i > 0 and i + 1 < j < len(rest) - 1]
    return sorted(out, key=lambda c: (-len(c[0]), -len(c[1])))


def resolve_field_id(store: Store, node_id: str) -> tuple[Ref, bool]:
    """The graph node of ``datasetField:<ns>:<name>:<field>`` (a column) or ``dataset:<ns>:<name>``
    (its columns); the flag says whether it is a dataset."""
    from sqlalchemy import select

    from meshfabric.errors import NotFound
    from meshfabric.store.models_graph import GraphNodeRow

    kind, sep, rest = str(node_id).partition(":")
    if kind == "dataset":
        return resolve_node_id(store, node_id), True
    if not sep or kind != "datasetField":
        raise _bad_input(f"nodeId {node_id!r} is not datasetField:<namespace>:<name>:<field> or "
                         "dataset:<namespace>:<name>", "e.g. nodeId=datasetField:postgres://db:5432:public.orders:id")
    candidates = [("column", column_key(ns, name, f)) for ns, name, f in _field_candidates(rest)]
    if not candidates:
        raise _bad_input(f"nodeId {node_id!r} is not datasetField:<namespace>:<name>:<field>")
    with store.read() as s:
        found = set(s.execute(select(GraphNodeRow.kind, GraphNodeRow.key)
                              .where(refs_in(GraphNodeRow.kind, GraphNodeRow.key, candidates))).all())
    for ref in candidates:
        if tuple(ref) in found:
            return ref, False
    raise NotFound(f"no field {rest!r} in the lineage graph",
                   hint="fields appear with a schema or columnLineage facet of an OpenLineage event")


def marquez_column_lineage(store: Store, node_id: str, depth: int = DEFAULT_DEPTH, *, with_downstream: bool = False,
                           limit: int = 1000) -> dict[str, Any]:
    """Column lineage as Marquez's ``GET /api/v1/column-lineage`` shapes it: ``{"graph": [{"id":
    "datasetField:<ns>:<name>:<field>", "type": "DATASET_FIELD", "data": {namespace, dataset, field,
    fieldType, inputFields: [...]}, "inEdges", "outEdges"}]}``, for one field or every field of a
    dataset, upstream (and downstream with ``with_downstream``) up to ``depth`` steps. Edges go
    the way data flows: from an input field to the field derived from it."""
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from meshfabric.lineage.service import LineageService
    from meshfabric.store.models_graph import GraphEdgeRow, GraphNodeRow

    if depth < 0 or depth > MAX_GRAPH_DEPTH:
        raise _bad_input(f"depth must be between 0 and {MAX_GRAPH_DEPTH}, not {depth}")
    with products_by_table(store):
        root, is_dataset = resolve_field_id(store, node_id)
    service = LineageService(store=store)
    walks = [service.upstream(root, depth=depth, columns=is_dataset, limit=limit)]
    if with_downstream:
        walks.append(service.downstream(root, depth=depth, columns=is_dataset, limit=limit))
    columns: dict[Ref, dict[str, Any]] = {}
    if not is_dataset:
        columns[root] = dict(walks[0].root.properties)
    derived: dict[tuple[Ref, Ref], dict[str, Any]] = {}
    for walk in walks:
        for n in walk.nodes:
            if n.kind == "column":
                columns[n.ref] = dict(n.properties)
        for e in walk.edges:
            if e.rel == "derived_from" and e.src[0] == "column" and e.dst[0] == "column":
                derived[(e.src, e.dst)] = dict(e.properties)
    owner: dict[str, tuple[str, str, dict[str, Any]]] = {}
    keys = sorted(k for _, k in columns)
    c, d = aliased(GraphNodeRow), aliased(GraphNodeRow)
    with store.read() as s:
        for i in range(0, len(keys), 400):
            for ckey, dkind, dkey, dprops in s.execute(
                    select(c.key, d.kind, d.key, d.properties).select_from(GraphEdgeRow)
                    .join(d, d.id == GraphEdgeRow.src_id).join(c, c.id == GraphEdgeRow.dst_id)
                    .where(GraphEdgeRow.rel == "has_column", c.kind == "column", c.key.in_(keys[i:i + 400]))):
                owner[ckey] = (dkind, dkey, dict(dprops or {}))

    def describe(ref: Ref) -> tuple[str, str, str]:
        """Namespace, dataset and field of a column as the events named them (kept on the column
        node, never re-split from its key: both namespace and name may hold '/' and '.')."""
        props = columns.get(ref, {})
        ns, name, field = props.get("namespace"), props.get("datasetName"), props.get("field")
        if isinstance(ns, str) and isinstance(name, str) and isinstance(field, str):
            return ns, name, field
        if ref[1] in owner:
            dkind, dkey, dprops = owner[ref[1]]
            field = ref[1][len(dkey) + 1:] if ref[1].startswith(dkey + ".") else ref[1].rpartition(".")[2]
            if dkind == "product":
                return MESH_NAMESPACE, dkey, field
            return (*_names(dkey, dprops), field)
        dkey, _, field = ref[1].rpartition(".")
        if isinstance(props.get("dataset"), str) and ref[1].startswith(props["dataset"] + "."):
            dkey, field = props["dataset"], ref[1][len(props["dataset"]) + 1:]
        if "/" in dkey:
            return (*split_key(dkey), str(props.get("field") or field))
        return MESH_NAMESPACE, dkey, field

    names = {ref: describe(ref) for ref in columns}
    ids = {ref: f"datasetField:{ns}:{name}:{field}" for ref, (ns, name, field) in names.items()}
    graph = []
    for ref, props in columns.items():
        ns, name, field = names[ref]
        inputs = []
        for (out, src), eprops in sorted(derived.items()):
            if out != ref or src not in names:
                continue
            sns, sname, sfield = names[src]
            # exactly the transformations sent (none when none were); an edge of other lineage
            # (SQL, product specs) says only a type and subtype
            if isinstance(eprops.get("transformations"), list):
                transformations = eprops["transformations"]
            elif eprops.get("type"):
                transformations = [{"type": eprops.get("type"), "subtype": eprops.get("subtype")}]
            else:
                transformations = []
            described = next((t.get("description") for t in transformations if isinstance(t, dict)
                              and t.get("type") == eprops.get("type")), None)
            inputs.append({"namespace": sns, "dataset": sname, "datasetVersion": None, "field": sfield,
                           "transformationDescription": described, "transformationType": eprops.get("type"),
                           "transformations": transformations})
        node = ids[ref]
        graph.append({"id": node, "type": "DATASET_FIELD",
                      "data": {"namespace": ns, "dataset": name, "datasetVersion": None, "field": field,
                               "fieldType": props.get("type"), "inputFields": inputs},
                      "inEdges": [{"origin": ids[src], "destination": node}
                                  for (out, src) in sorted(derived) if out == ref and src in ids],
                      "outEdges": [{"origin": node, "destination": ids[out]}
                                   for (out, src) in sorted(derived) if src == ref and out in ids]})
    graph.sort(key=lambda n: n["id"])
    return {"graph": graph}


# --------------------------------------------------------------------------------------------
# reading raw events


def list_events(store: Store, *, namespace: str | None = None, job: str | None = None, run_id: str | None = None,
                event_type: str | None = None, kind: str | None = None, dataset: str | None = None,
                since: datetime | None = None, until: datetime | None = None,
                offset: int = 0, limit: int = 100) -> tuple[list[dict[str, Any]], int]:
    """Stored events, newest ``eventTime`` first, and how many match in all.

    ``job`` and ``dataset`` are ``name`` (with ``namespace``) or ``namespace/name``; ``dataset``
    selects the DatasetEvents about that dataset (the runs that read or write it are in the graph).
    """
    from sqlalchemy import func, or_, select

    from meshfabric.store.models_openlineage import OpenLineageEventRow as Row

    conds: list[Any] = []
    if namespace is not None and job is None and dataset is None:
        conds.append(or_(Row.job_namespace == namespace, Row.dataset_namespace == namespace))
    if job is not None:
        conds.append(_named(Row.job_namespace, Row.job_name, job, namespace))
    if run_id is not None:
        try:
            conds.append(Row.run_id == canonical_run_id(run_id))
        except ValueError:
            from meshfabric.errors import ConfigError

            raise ConfigError(f"runId {run_id!r} is not a UUID", hint="pass the run's UUID") from None
    if event_type is not None:
        conds.append(Row.event_type == event_type.upper())
    if kind is not None:
        conds.append(Row.kind == kind)
    if since is not None:
        conds.append(Row.event_time >= since)
    if until is not None:
        conds.append(Row.event_time < until)
    if dataset is not None:
        conds.append(_named(Row.dataset_namespace, Row.dataset_name, dataset, namespace))
    with store.read() as session:
        total = session.scalar(select(func.count()).select_from(Row).where(*conds)) or 0
        rows = session.scalars(select(Row).where(*conds).order_by(Row.event_time.desc(), Row.id.desc())
                               .offset(offset).limit(limit)).all()
        return [_row_dict(r) for r in rows], int(total)


def _named(ns_col: Any, name_col: Any, ref: str, namespace: str | None) -> Any:
    """``ref`` is a name in ``namespace``, else a bare name or ``namespace/name`` — compared whole,
    since namespaces (``s3://bucket``) and names (``raw/orders``) may both hold slashes."""
    from sqlalchemy import and_, or_

    if namespace is not None:
        return and_(ns_col == namespace, name_col == ref)
    if "/" in ref:
        return or_(ns_col + "/" + name_col == ref, name_col == ref)
    return name_col == ref


def _row_dict(row: Any) -> dict[str, Any]:
    return {"id": row.id, "receivedAt": _iso(row.received_at), "kind": row.kind,
            "eventType": row.event_type or None, "eventTime": _iso(row.event_time), "runId": row.run_id,
            "job": {"namespace": row.job_namespace, "name": row.job_name} if row.job_name is not None else None,
            "dataset": ({"namespace": row.dataset_namespace, "name": row.dataset_name}
                        if row.dataset_name is not None else None),
            "producer": row.producer, "schemaURL": row.schema_url, "principal": row.principal,
            "event": row.event}


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return value.isoformat()
