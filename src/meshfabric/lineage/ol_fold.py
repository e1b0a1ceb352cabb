"""OpenLineage ingestion: store an event raw and fold it into the lineage graph, in one store
transaction; see :func:`ingest_openlineage` for what becomes which node and edge.

Folding is order-independent: the same events folded again, in any order, give the same graph
(a facet, a run's state or a job's inputs and outputs come from the latest event by
``eventTime``, never from the latest to arrive).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from meshfabric.lineage.ol_names import (
    MESH_NAMESPACE,
    Ref,
    canonical_run_id,
    column_key,
    dataset_ref,
    physical_names,
    refs_in,
    resolving_tables,
)
from meshfabric.lineage.ol_validate import (
    EventProblem,
    InvalidOpenLineageEvent,
    check_event,
    event_kind,
    json_problems,
    parse_time,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from meshfabric.store import Store


#: the run states that end a run (START and RUNNING do not; OTHER adds metadata without
#: changing the state)
TERMINAL_STATES = ("COMPLETE", "ABORT", "FAIL")


@dataclass(frozen=True)
class DatasetRef:
    namespace: str
    name: str
    facets: dict[str, Any]
    #: inputFacets / outputFacets
    io_facets: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def ref(self) -> tuple[str, str]:
        return dataset_ref(self.namespace, self.name)


@dataclass(frozen=True)
class ParsedEvent:
    """The parts of a valid event the store and the graph need."""

    kind: str
    event_type: str
    event_time: datetime
    producer: str
    schema_url: str
    run_id: str | None
    run_facets: dict[str, Any]
    job_namespace: str | None
    job_name: str | None
    job_facets: dict[str, Any]
    inputs: tuple[DatasetRef, ...]
    outputs: tuple[DatasetRef, ...]
    dataset: DatasetRef | None

    @property
    def job_key(self) -> str | None:
        return f"{self.job_namespace}/{self.job_name}" if self.job_name is not None else None


def _datasets(items: Any, extra: str) -> tuple[DatasetRef, ...]:
    return tuple(DatasetRef(d["namespace"], d["name"], dict(d.get("facets") or {}), dict(d.get(extra) or {}))
                 for d in items or [])


def parse_event(event: dict[str, Any]) -> ParsedEvent:
    """Read a *valid* event (see :func:`validate_event`) into a :class:`ParsedEvent`."""
    kind = event_kind(event) or "run"
    when = parse_time(event["eventTime"])
    assert when is not None  # validated
    run = event.get("run") or {}
    job = event.get("job") or {}
    ds = event.get("dataset")
    return ParsedEvent(
        kind=kind,
        event_type=str(event.get("eventType") or "") if kind == "run" else "",
        event_time=when,
        producer=event["producer"],
        schema_url=event["schemaURL"],
        run_id=run.get("runId"),
        run_facets=dict(run.get("facets") or {}),
        job_namespace=job.get("namespace"),
        job_name=job.get("name"),
        job_facets=dict(job.get("facets") or {}),
        inputs=_datasets(event.get("inputs"), "inputFacets"),
        outputs=_datasets(event.get("outputs"), "outputFacets"),
        dataset=DatasetRef(ds["namespace"], ds["name"], dict(ds.get("facets") or {}), {}) if ds else None,
    )


def fingerprint(event: dict[str, Any]) -> str:
    """SHA-256 of the event's canonical JSON: the same event resent has the same fingerprint."""
    text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------
# ingestion


@dataclass(frozen=True)
class IngestResult:
    """What happened to one event: stored as row ``id``, or recognised as a ``duplicate`` of it;
    ``warnings`` are the format deviations it was accepted with (see :func:`check_event`)."""

    id: int
    kind: str
    event_type: str
    event_time: datetime
    run_id: str | None
    job: str | None
    duplicate: bool
    warnings: tuple[EventProblem, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "eventType": self.event_type or None,
                "eventTime": self.event_time.isoformat(), "runId": self.run_id, "job": self.job,
                "duplicate": self.duplicate, "warnings": [w.to_dict() for w in self.warnings]}


def ingest_openlineage(store: Store, event: Any, *, principal: str | None = None,
                       authorize: Callable[[Any], object] | None = None) -> IngestResult:
    """Validate one OpenLineage event, store it raw and fold it into the lineage graph, in one
    store transaction.

    Raises :class:`InvalidOpenLineageEvent` (with every problem and its JSON path) when the
    event breaks the spec; format deviations the spec tolerates (a ``uri`` that is none) are
    accepted and returned as the result's ``warnings``. ``authorize(event)``, when given, runs
    once the event is known to be valid and before anything is stored (the lineage service's
    permission check). Sending the same event again is a no-op that returns the first row's id
    with ``duplicate=True``; events of one run may arrive in any order — the run's state is the
    one of its latest event by ``eventTime``.
    """
    problems = json_problems(event)
    if any("nests deeper" in p.message for p in problems):
        raise InvalidOpenLineageEvent(problems)
    found, warnings = check_event(event)
    problems = sorted(found + problems, key=lambda p: p.path)
    if problems:
        raise InvalidOpenLineageEvent(problems)
    parsed = parse_event(event)
    problems = _limit_problems(parsed)
    if problems:
        raise InvalidOpenLineageEvent(problems)
    if authorize is not None:
        authorize(event)
    if parsed.run_id is not None:
        parsed = _with_run_id(parsed, canonical_run_id(parsed.run_id))
    digest = fingerprint(event)
    from sqlalchemy import select

    from meshfabric.store.models_openlineage import OpenLineageEventRow as Row

    with store.write() as session:
        existing = session.scalar(select(Row.id).where(Row.fingerprint == digest))
        if existing is not None:
            return _result(existing, parsed, duplicate=True, warnings=warnings)
        row = Row(kind=parsed.kind, event_type=parsed.event_type, event_time=parsed.event_time,
                  run_id=parsed.run_id, job_namespace=parsed.job_namespace, job_name=parsed.job_name,
                  dataset_namespace=parsed.dataset.namespace if parsed.dataset else None,
                  dataset_name=parsed.dataset.name if parsed.dataset else None,
                  producer=parsed.producer, schema_url=parsed.schema_url, principal=principal,
                  fingerprint=digest, event=event)
        session.add(row)
        session.flush()
        with resolving_tables(physical_names(session)):
            fold_event(store, session, parsed)
        return _result(row.id, parsed, duplicate=False, warnings=warnings)


#: what the store keeps: a graph key (``namespace/name``, ``<dataset>.<field>``) is at most 512
#: characters, the raw row's producer and schemaURL 2048
KEY_LIMIT, URL_LIMIT = 512, 2048


def _limit_problems(p: ParsedEvent) -> list[EventProblem]:
    """Valid events this store cannot keep, named like spec problems (instead of a database error)."""
    out: list[EventProblem] = []
    for path, text in (("$.producer", p.producer), ("$.schemaURL", p.schema_url)):
        if len(text) > URL_LIMIT:
            out.append(EventProblem(path, f"is {len(text)} characters long; meshfabric keeps at most {URL_LIMIT}"))
    keys: list[tuple[str, str]] = []
    if p.job_name is not None and p.job_namespace is not None:
        keys.append(("$.job", f"{p.job_namespace}/{p.job_name}"))
    placed = [("$.dataset", p.dataset)] if p.dataset is not None else []
    placed += [(f"$.{side}[{i}]", d) for side, items in (("inputs", p.inputs), ("outputs", p.outputs))
               for i, d in enumerate(items)]
    for where, d in placed:
        keys.append((where, d.ref[1]))
        schema = d.facets.get("schema")
        fields = _flat_fields(schema.get("fields")) if isinstance(schema, dict) else []
        keys += [(f"{where}.facets.schema", column_key(d.namespace, d.name, f["name"])) for f in fields]
        lineage = d.facets.get("columnLineage")
        if isinstance(lineage, dict):
            for out_field, spec in (lineage.get("fields") or {}).items():
                keys.append((f"{where}.facets.columnLineage.fields", column_key(d.namespace, d.name, out_field)))
                for src in [*(spec.get("inputFields") or []), *(lineage.get("dataset") or [])]:
                    keys.append((f"{where}.facets.columnLineage",
                                 column_key(src["namespace"], src["name"], src["field"])))
    for where, key in keys:
        if len(key) > KEY_LIMIT:
            out.append(EventProblem(where, f"names {key[:60]}…, {len(key)} characters; meshfabric keys a dataset, "
                                           f"job or column by at most {KEY_LIMIT}"))
    return sorted(dict.fromkeys(out), key=lambda p: p.path)


def _with_run_id(parsed: ParsedEvent, run_id: str) -> ParsedEvent:
    from dataclasses import replace

    return replace(parsed, run_id=run_id)


def _result(row_id: int, parsed: ParsedEvent, *, duplicate: bool, warnings: list[EventProblem]) -> IngestResult:
    return IngestResult(id=row_id, kind=parsed.kind, event_type=parsed.event_type, event_time=parsed.event_time,
                        run_id=parsed.run_id, job=parsed.job_key, duplicate=duplicate, warnings=tuple(warnings))


# --------------------------------------------------------------------------------------------
# folding into the graph
#
# nodes   job  namespace/name            {namespace, name, facets, facetTimes, latestRun…}
#         run  <runId>                   {state, eventTime, startedAt, endedAt, facets, job, nominal…}
#         dataset namespace/name         {namespace, name, facets, facetTimes, fields}
#         column  namespace/name.field   {dataset, namespace, datasetName, field, type, description}
#                 (nested: a.b.c; namespace and datasetName are read back as they are, never re-split
#                 from the key, since both may hold '/' and '.')
# edges   run -run_of-> job, run -reads/writes-> dataset, run -child_of-> parent run
#         job -reads-> input, job -writes-> output, output -derived_from-> input
#         dataset -has_column-> column, column -derived_from-> column {type, subtype, transformations}


def _flat_fields(fields: Any, prefix: str = "") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for f in fields or []:
        if not isinstance(f, dict) or not isinstance(f.get("name"), str):
            continue
        path = prefix + f["name"]
        entry = {"name": path}
        for k in ("type", "description", "ordinal_position"):
            if f.get(k) is not None:
                entry[k] = f[k]
        out.append(entry)
        out += _flat_fields(f.get("fields"), path + ".")
    return out


def _iso_utc(value: datetime) -> str:
    """Fixed-width UTC ISO 8601, so that text order is time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _merge_facets(stored: dict[str, Any], facets: dict[str, Any], when: str) -> tuple[dict[str, Any], dict[str, Any],
                                                                                     set[str]]:
    """Facets of a node after an event at ``when``: a facet replaces the stored one unless the
    stored one came from a later event; ``_deleted`` removes it. Returns the facets, their times
    and the keys whose value this event changed."""
    current = dict(stored.get("facets") or {})
    times = dict(stored.get("facetTimes") or {})
    changed: set[str] = set()
    for key, facet in facets.items():
        if times.get(key, "") > when:
            continue
        times[key] = when
        if isinstance(facet, dict) and facet.get("_deleted") is True:
            if key in current:
                current.pop(key)
                changed.add(key)
        elif current.get(key) != facet:
            current[key] = facet
            changed.add(key)
    return current, times, changed


class _Fold:
    """One event's changes to the graph, gathered and then written in a few set-based statements:
    one read of the nodes it touches, one upsert of the changed nodes, one upsert of its edges."""

    def __init__(self, store: Store, session: Session, parsed: ParsedEvent) -> None:
        from meshfabric.graph import MetadataGraph

        self.graph = MetadataGraph(store)
        self.s = session
        self.p = parsed
        self.when = _iso_utc(parsed.event_time)
        self.edges: list[tuple[Ref, str, Ref, dict[str, Any] | None]] = []
        self.stored: dict[Ref, tuple[str, dict[str, Any]]] = {}
        self.nodes: dict[Ref, tuple[str, dict[str, Any]]] = {}
        self.columns: dict[Ref, tuple[str, dict[str, Any]]] = {}
        self.new_schema: list[Ref] = []
        #: columns and datasets an event names (in columnLineage), with their OpenLineage names
        self.named: dict[Ref, tuple[str, dict[str, Any]]] = {}
        #: the run's properties when this event moved it into COMPLETE, FAIL or ABORT
        self.finished: dict[str, Any] | None = None

    def load(self, refs: list[Ref]) -> None:
        from sqlalchemy import select

        from meshfabric.store.models_graph import GraphNodeRow

        wanted = [r for r in dict.fromkeys(refs) if r not in self.stored]
        for i in range(0, len(wanted), 400):
            for kind, key, name, props in self.s.execute(
                    select(GraphNodeRow.kind, GraphNodeRow.key, GraphNodeRow.name, GraphNodeRow.properties)
                    .where(refs_in(GraphNodeRow.kind, GraphNodeRow.key, wanted[i:i + 400]))):
                self.stored[(kind, key)] = (name, dict(props or {}))

    def current(self, ref: Ref) -> dict[str, Any]:
        if ref in self.nodes:
            return dict(self.nodes[ref][1])
        return dict(self.stored.get(ref, ("", {}))[1])

    def put(self, ref: Ref, name: str, props: dict[str, Any]) -> None:
        self.nodes[ref] = (name, {k: v for k, v in props.items() if v is not None})

    def dataset(self, ds: DatasetRef) -> Ref:
        ref = ds.ref
        if ref[0] == "product":
            # a mesh product: its spec owns its properties and columns; the event only links to it
            return ref
        stored = self.current(ref)
        facets, times, changed = _merge_facets(stored, ds.facets, self.when)
        props = {**stored, "namespace": ds.namespace, "name": ds.name, "facets": facets, "facetTimes": times,
                 "firstSeen": min(stored.get("firstSeen", self.when), self.when)}
        if "schema" in changed:
            fields = _flat_fields((facets.get("schema") or {}).get("fields"))
            props["fields"] = fields
            self.new_schema.append(ref)
            for f in fields:
                col = ("column", column_key(ds.namespace, ds.name, f["name"]))
                self.columns[col] = (f["name"], {"dataset": ds.key, "namespace": ds.namespace,
                                                 "datasetName": ds.name, "field": f["name"], "type": f.get("type"),
                                                 "description": f.get("description")})
                self.edges.append((ref, "has_column", col, None))
        if "dataSource" in changed:
            props["source"] = (facets.get("dataSource") or {}).get("name")
        if "documentation" in changed:
            props["description"] = (facets.get("documentation") or {}).get("description")
        self.put(ref, ds.name, props)
        return ref

    def name_column(self, namespace: str, name: str, field_name: str) -> Ref:
        """The column's node, remembered with its dataset's namespace and name (unless a product's)."""
        col = ("column", column_key(namespace, name, field_name))
        ds = dataset_ref(namespace, name)
        if ds[0] == "dataset":
            self.named[col] = (field_name, {"dataset": ds[1], "namespace": namespace, "datasetName": name,
                                            "field": field_name})
            self.named.setdefault(ds, (name, {"namespace": namespace, "name": name}))
        return col

    def column_lineage(self, ds: DatasetRef, job: str | None) -> None:
        """``derived_from`` edges from each output field to each of its input fields, one per pair:
        an input listed for the field and in the facet's dataset-wide inputs (a join key that is
        also selected) keeps both its DIRECT and INDIRECT transformations, and an input sent
        without transformations keeps none."""
        facet = ds.facets.get("columnLineage")
        if not isinstance(facet, dict) or facet.get("_deleted") is True:
            return
        fields = facet.get("fields") or {}
        whole = [f for f in facet.get("dataset") or [] if isinstance(f, dict)]
        for out_field, spec in fields.items():
            target = self.name_column(ds.namespace, ds.name, out_field)
            self.edges.append((ds.ref, "has_column", target, None))
            merged: dict[tuple[str, str, str], tuple[list[dict[str, Any]], bool]] = {}
            for src in spec.get("inputFields") or []:
                transformations = [t for t in src.get("transformations") or [] if isinstance(t, dict)]
                if not transformations and spec.get("transformationType"):  # the deprecated form
                    transformations = [{"type": "DIRECT", "subtype": spec["transformationType"],
                                        "description": spec.get("transformationDescription", "")}]
                listed, _ = merged.get((src["namespace"], src["name"], src["field"]), ([], False))
                merged[(src["namespace"], src["name"], src["field"])] = (listed + transformations, True)
            for src in whole:
                transformations = [t for t in src.get("transformations") or [] if isinstance(t, dict)]
                listed, direct = merged.get((src["namespace"], src["name"], src["field"]), ([], False))
                merged[(src["namespace"], src["name"], src["field"])] = (listed + transformations, direct)
            for (ns, name, field_name), (listed, per_field) in merged.items():
                transformations = list({json.dumps(t, sort_keys=True): t for t in listed}.values())
                direct = [t for t in transformations if t.get("type") == "DIRECT"]
                first = direct[0] if direct else transformations[0] if transformations else {}
                kind = first.get("type") or (None if per_field else "INDIRECT")
                props = {"type": kind, "subtype": first.get("subtype"), "transformations": transformations,
                         "job": job, "via": "openlineage"}
                src_ds = dataset_ref(ns, name)
                source = self.name_column(ns, name, field_name)
                self.edges += [(src_ds, "has_column", source, None), (target, "derived_from", source, props)]
                if src_ds != ds.ref:
                    self.edges.append((ds.ref, "derived_from", src_ds, {"job": job, "via": "openlineage"}))

    def job(self) -> Ref:
        p = self.p
        ref = ("job", p.job_key or "")
        stored = self.current(ref)
        facets, times, changed = _merge_facets(stored, p.job_facets, self.when)
        props: dict[str, Any] = {**stored, "namespace": p.job_namespace, "name": p.job_name, "facets": facets,
                                 "facetTimes": times}
        if "documentation" in changed:
            props["description"] = (facets.get("documentation") or {}).get("description")
        if "jobType" in changed:
            props["type"] = (facets.get("jobType") or {}).get("processingType")
        if p.run_id is not None and stored.get("latestRunTime", "") <= self.when:
            props["latestRun"], props["latestRunTime"] = p.run_id, self.when
        # the job's current inputs/outputs: those of its latest run (the union over that run's
        # events, which may each name a part), or of a newer JobEvent
        ins, outs = {(d.namespace, d.name) for d in p.inputs}, {(d.namespace, d.name) for d in p.outputs}
        same_run = p.run_id is not None and p.run_id == stored.get("ioRun")
        if same_run:
            ins |= {(d["namespace"], d["name"]) for d in stored.get("inputs") or []}
            outs |= {(d["namespace"], d["name"]) for d in stored.get("outputs") or []}
        if same_run or ((ins or outs or p.kind == "job") and stored.get("ioTime", "") <= self.when):
            props.update(inputs=[{"namespace": a, "name": b} for a, b in sorted(ins)],
                         outputs=[{"namespace": a, "name": b} for a, b in sorted(outs)],
                         ioTime=max(self.when, stored.get("ioTime", "")), ioRun=p.run_id)
        self.put(ref, p.job_name or ref[1], props)
        return ref

    def run(self, job_ref: Ref) -> Ref:
        """The run's state, times and facets, merged with what earlier events said: the state of
        the latest event by eventTime (OTHER never sets one), the first START, the latest end —
        each a max/min, so any arrival order gives the same run."""
        p = self.p
        assert p.run_id is not None
        ref = ("run", p.run_id)
        stored = self.current(ref)
        facets, times, _ = _merge_facets(stored, p.run_facets, self.when)
        props = {**stored, "runId": p.run_id, "job": job_ref[1], "facets": facets, "facetTimes": times,
                 "events": int(stored.get("events", 0)) + 1,
                 "eventTime": max(stored.get("eventTime", ""), self.when),
                 "firstEventTime": min(stored.get("firstEventTime", self.when), self.when)}
        kind = p.event_type
        if kind and kind != "OTHER" and stored.get("stateTime", "") <= self.when:
            props["state"], props["stateTime"] = kind, self.when
        props.setdefault("state", "NEW")
        first_start = stored.get("firstStart")
        if kind == "START":
            first_start = min(first_start or self.when, self.when)
        props["firstStart"] = first_start
        props["startedAt"] = first_start or props["firstEventTime"]
        if kind in TERMINAL_STATES:
            props["endedAt"] = max(stored.get("endedAt") or self.when, self.when)
        # per-run facets of its datasets (row counts, bytes, data quality), keyed namespace/name
        for side, items in (("inputFacets", p.inputs), ("outputFacets", p.outputs)):
            merged = dict(stored.get(side) or {})
            for d in items:
                if d.io_facets:
                    merged[d.key] = {**merged.get(d.key, {}), **d.io_facets}
            props[side] = merged or None
        nominal = facets.get("nominalTime") or {}
        props["nominalStartTime"] = nominal.get("nominalStartTime")
        props["nominalEndTime"] = nominal.get("nominalEndTime")
        parent = facets.get("parent")
        if isinstance(parent, dict) and isinstance(parent.get("run"), dict):
            try:
                parent_id = canonical_run_id(str(parent["run"].get("runId")))
            except ValueError:
                parent_id = None
            pjob = parent.get("job") or {}
            if parent_id and parent_id != p.run_id:
                props["parentRun"] = parent_id
                self.edges.append((ref, "child_of", ("run", parent_id), None))
            if pjob.get("name"):
                props["parentJob"] = f"{pjob.get('namespace')}/{pjob['name']}"
        self.put(ref, p.run_id, props)
        if kind in TERMINAL_STATES and props.get("stateTime") == self.when and stored.get("state") != kind:
            self.finished = props
        self.edges.append((ref, "run_of", job_ref, None))
        return ref

    def flush(self) -> None:
        if self.columns or self.named:
            self.load([*self.columns, *self.named])
            for col, (name, props) in self.columns.items():
                self.put(col, name, {**self.current(col), **props})
            for ref, (name, props) in self.named.items():
                current = self.current(ref)
                if ref in self.columns or all(current.get(k) == v for k, v in props.items()):
                    continue
                self.put(ref, name, {**current, **props})
        for ref in self.new_schema:
            self.graph.remove_edges(src=ref, rel="has_column", session=self.s)
        changed = [(ref, name, props) for ref, (name, props) in self.nodes.items()
                   if self.stored.get(ref) != (name, props)]
        if changed:
            _upsert_nodes(self.s, changed)
        if self.edges:
            merged: dict[tuple[Any, str, Any], dict[str, Any] | None] = {}
            for src, rel, dst, props in self.edges:
                if (src, rel, dst) not in merged or props:
                    merged[(src, rel, dst)] = props
            self.graph.add_edges([(a, r, b, pr) for (a, r, b), pr in merged.items()], session=self.s)


def _upsert_nodes(session: Session, nodes: list[tuple[Ref, str, dict[str, Any]]]) -> None:
    """Insert or replace graph nodes (name and properties) in one statement. The caller holds the
    store's write lock and built each node's properties from the stored ones, so replacing them
    loses nothing."""
    from meshfabric.store.models import utcnow
    from meshfabric.store.models_graph import GraphNodeRow

    if session.get_bind().dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    stmt = insert(GraphNodeRow.__table__)
    stmt = stmt.on_conflict_do_update(index_elements=["kind", "key"], set_={
        "name": stmt.excluded.name, "properties": stmt.excluded.properties, "updated_at": stmt.excluded.updated_at})
    now = utcnow()
    session.execute(stmt, [{"kind": k, "key": key, "name": name[:512], "properties": props, "created_at": now,
                            "updated_at": now} for (k, key), name, props in nodes])


def fold_event(store: Store, session: Session, parsed: ParsedEvent) -> None:
    """Fold one parsed (and already stored) event into the metadata graph inside ``session``,
    the caller's write transaction. Folding the same events again, in any order, gives the same
    graph."""
    fold = _Fold(store, session, parsed)
    refs = [d.ref for d in (*parsed.inputs, *parsed.outputs)] + ([parsed.dataset.ref] if parsed.dataset else [])
    if parsed.job_key is not None:
        refs.append(("job", parsed.job_key))
    if parsed.run_id is not None:
        refs.append(("run", parsed.run_id))
    fold.load(refs)
    if parsed.kind == "dataset":
        assert parsed.dataset is not None
        fold.dataset(parsed.dataset)
        fold.column_lineage(parsed.dataset, None)
        fold.flush()
        return
    job_ref = fold.job()
    run_ref = fold.run(job_ref) if parsed.kind == "run" else None
    inputs = [fold.dataset(d) for d in parsed.inputs]
    outputs = [fold.dataset(d) for d in parsed.outputs]
    link = {"job": job_ref[1], "via": "openlineage"}
    for ref in inputs:
        fold.edges.append((job_ref, "reads", ref, None))
        if run_ref is not None:
            fold.edges.append((run_ref, "reads", ref, None))
    for ref in outputs:
        fold.edges.append((job_ref, "writes", ref, None))
        if run_ref is not None:
            fold.edges.append((run_ref, "writes", ref, None))
        fold.edges += [(ref, "derived_from", src, dict(link)) for src in inputs if src != ref]
    for ds in parsed.outputs:
        fold.column_lineage(ds, job_ref[1])
    fold.flush()
    if fold.finished is not None:
        _announce(session, parsed, fold.finished)


def _announce(session: Session, parsed: ParsedEvent, run: dict[str, Any]) -> None:
    """``lineage.run_finished`` in the domain event log (same transaction) when a run reaches
    COMPLETE, FAIL or ABORT — for subscribers such as alerting; the domain is that of the first
    mesh product it wrote, if any. Correlated by run id, so a run's events group together."""
    from meshfabric.events import DomainEvent, append

    products = [d.name for d in parsed.outputs if d.namespace == MESH_NAMESPACE]
    data = {"runId": parsed.run_id, "job": parsed.job_key, "state": run.get("state"),
            "startedAt": run.get("startedAt"), "endedAt": run.get("endedAt"), "producer": parsed.producer,
            "inputs": [{"namespace": d.namespace, "name": d.name} for d in parsed.inputs],
            "outputs": [{"namespace": d.namespace, "name": d.name} for d in parsed.outputs]}
    error = (run.get("facets") or {}).get("errorMessage")
    if isinstance(error, dict) and error.get("message"):
        data["error"] = str(error["message"])[:2000]
    domain = products[0].partition(".")[0] if products else None
    append(session, DomainEvent("lineage.run_finished", domain, data,
                                correlation_id=(parsed.run_id or "").replace("-", "")))
