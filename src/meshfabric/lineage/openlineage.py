"""OpenLineage ingestion: validate RunEvents, DatasetEvents and JobEvents against the spec, keep
them raw, and fold them into the lineage graph.

Validation is offline: the bundled core schema (``spec/OpenLineage.json``, 2-0-2) and every facet
schema (``spec/facets/*.json``) are registered under their ``$id`` in a ``referencing`` registry
that cannot retrieve anything else. An event is checked against the schema of its own kind (so
a problem is reported where it is, not as "not valid under any of the given schemas"), then each
known facet against its facet schema where the spec places it; unknown (custom) facets only need
the base facet fields. Every problem names its JSON path.

``ingest_openlineage`` stores the event raw and folds it into the metadata graph in one store
transaction; see :func:`ingest_openlineage` for what becomes which node and edge.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from meshfabric.errors import MeshfabricError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from meshfabric.store import Store

CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
#: the OpenLineage namespace of mesh products, whose dataset name is the product fqn (as
#: ``lineage.service`` exports them), so a job reporting it links to the product node
MESH_NAMESPACE = "meshfabric"
#: the run states that end a run (START and RUNNING do not; OTHER adds metadata without
#: changing the state)
TERMINAL_STATES = ("COMPLETE", "ABORT", "FAIL")
#: facet containers and the spec definition each facet in them extends
_LOCATIONS = {"RunFacet": "run", "JobFacet": "job", "DatasetFacet": "dataset",
              "InputDatasetFacet": "input", "OutputDatasetFacet": "output"}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S*$")


# --------------------------------------------------------------------------------------------
# problems


@dataclass(frozen=True)
class EventProblem:
    """One thing wrong in an event: where (a JSON path such as ``$.run.runId``) and why."""

    path: str
    message: str

    def render(self) -> str:
        return f"{self.path}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class InvalidOpenLineageEvent(MeshfabricError):
    """The event does not follow the OpenLineage spec; nothing was stored."""

    title = "invalid OpenLineage event"

    def __init__(self, problems: list[EventProblem]) -> None:
        self.problems = problems
        n = len(problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the OpenLineage event (nothing was stored):"
        super().__init__(head + "\n" + "\n".join("  " + p.render() for p in problems),
                         hint=f"the event must follow the OpenLineage spec ({CORE_ID})")


# --------------------------------------------------------------------------------------------
# the bundled spec


@dataclass
class _Spec:
    registry: Any
    #: (location, facet key) -> the facet's schema URI (``<$id>#/properties/<key>``)
    facets: dict[tuple[str, str], str]
    validators: dict[str, Any] = field(default_factory=dict)


def _format_checker() -> Any:
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())

    @checker.checks("uuid")
    def _uuid(value: object) -> bool:
        return not isinstance(value, str) or bool(_UUID.match(value))

    @checker.checks("date-time")
    def _date_time(value: object) -> bool:
        # ISO 8601 as producers write it: the spec's own examples omit the offset (read as UTC)
        return not isinstance(value, str) or _parse_time(value) is not None

    @checker.checks("uri")
    def _uri(value: object) -> bool:
        return not isinstance(value, str) or bool(_URI.match(value))

    return checker


@lru_cache(maxsize=1)
def _spec() -> _Spec:
    from importlib.resources import files

    from referencing import Registry, Resource

    root = files("meshfabric.lineage").joinpath("spec")
    docs = [json.loads(root.joinpath("OpenLineage.json").read_text("utf-8"))]
    facet_dir = root.joinpath("facets")
    docs += [json.loads(p.read_text("utf-8")) for p in sorted(facet_dir.iterdir(), key=lambda p: p.name)
             if p.name.endswith(".json")]
    registry: Any = Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs)
    facets: dict[tuple[str, str], str] = {}
    for doc in docs[1:]:
        text = json.dumps(doc)
        places = {loc for name, loc in _LOCATIONS.items() if f'{CORE_ID}#/$defs/{name}"' in text}
        for key in doc.get("properties", {}):
            for loc in places:
                facets[(loc, key)] = f"{doc['$id']}#/properties/{key}"
    return _Spec(registry=registry, facets=facets)


def _validator(ref: str) -> Any:
    spec = _spec()
    found = spec.validators.get(ref)
    if found is None:
        from jsonschema import Draft202012Validator

        found = Draft202012Validator({"$ref": ref}, registry=spec.registry, format_checker=_format_checker())
        spec.validators[ref] = found
    return found


def _json_path(parts: Any) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}"
        else:
            out += "[" + json.dumps(str(part)) + "]"
    return out


def _leaves(error: Any) -> list[Any]:
    """The specific errors under an anyOf/oneOf failure: all of them when only one alternative
    was tried (the spec wraps every facet map in a one-branch anyOf), else the best match."""
    from jsonschema.exceptions import best_match

    if not error.context:
        return [error]
    branches = {e.relative_schema_path[0] for e in error.context if e.relative_schema_path}
    chosen = list(error.context) if len(branches) <= 1 else [best_match(error.context)]
    return [leaf for e in chosen for leaf in _leaves(e)]


def _describe(error: Any, prefix: tuple[Any, ...]) -> EventProblem:
    path = prefix + tuple(error.absolute_path)
    if error.validator == "required":
        missing = re.match(r"'([^']*)' is a required property", error.message)
        if missing:
            return EventProblem(_json_path((*path, missing.group(1))), "is required but missing")
    if error.validator == "format":
        return EventProblem(_json_path(path), f"{error.instance!r} is not a valid {error.validator_value}")
    if error.validator == "not" and error.validator_value == {"required": ["job", "run"]}:
        return EventProblem(_json_path(path), "a DatasetEvent must not carry job and run")
    return EventProblem(_json_path(path), error.message)


def _check(instance: Any, ref: str, prefix: tuple[Any, ...]) -> list[EventProblem]:
    return [_describe(leaf, prefix) for e in _validator(ref).iter_errors(instance) for leaf in _leaves(e)]


def event_kind(event: Any) -> str | None:
    """``run``, ``dataset`` or ``job``: which of the three event schemas an event follows."""
    if not isinstance(event, dict):
        return None
    if "run" in event:
        return "run"
    if "dataset" in event:
        return "dataset"
    if "job" in event:
        return "job"
    return None


def validate_event(event: Any) -> list[EventProblem]:
    """Every way ``event`` breaks the OpenLineage spec (empty when it is valid)."""
    if not isinstance(event, dict):
        return [EventProblem("$", f"an OpenLineage event is a JSON object, not {type(event).__name__}")]
    kind = event_kind(event)
    if kind is None:
        return [EventProblem("$", "not an OpenLineage event: a RunEvent has run and job, a DatasetEvent "
                                  "has dataset, a JobEvent has job (none of them is present)")]
    name = {"run": "RunEvent", "dataset": "DatasetEvent", "job": "JobEvent"}[kind]
    problems = _check(event, f"{CORE_ID}#/$defs/{name}", ())
    for loc, path, facets in _facet_containers(event, kind):
        for key, facet in facets.items():
            ref = _spec().facets.get((loc, key))
            if ref is None or not isinstance(facet, dict) or facet.get("_deleted") is True:
                continue
            problems += _check(facet, ref, (*path, key))
    seen: set[EventProblem] = set()
    unique = [p for p in problems if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]
    return sorted(unique, key=lambda p: p.path)


def _facet_containers(event: dict[str, Any], kind: str) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    out: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def add(loc: str, path: tuple[Any, ...], owner: Any, key: str) -> None:
        if isinstance(owner, dict) and isinstance(owner.get(key), dict):
            out.append((loc, (*path, key), owner[key]))

    if kind == "dataset":
        add("dataset", ("dataset",), event.get("dataset"), "facets")
        return out
    if kind == "run":
        add("run", ("run",), event.get("run"), "facets")
    add("job", ("job",), event.get("job"), "facets")
    for side, extra, loc in (("inputs", "inputFacets", "input"), ("outputs", "outputFacets", "output")):
        items = event.get(side)
        if isinstance(items, list):
            for i, ds in enumerate(items):
                add("dataset", (side, i), ds, "facets")
                add(loc, (side, i), ds, extra)
    return out


# --------------------------------------------------------------------------------------------
# parsing


def _parse_time(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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


def dataset_ref(namespace: str, name: str) -> tuple[str, str]:
    """Graph node of an OpenLineage dataset: a mesh product when the namespace is ``meshfabric``
    (the name is its fqn) or when it names the table a product is served from (see
    :func:`physical_names`, in effect while an event is folded or lineage is read); else
    ``("dataset", "namespace/name")``."""
    if namespace == MESH_NAMESPACE:
        return ("product", name)
    physical = _PHYSICAL.get()
    if physical:
        fqn = physical.get((namespace, name))
        if fqn is not None:
            return ("product", fqn)
    return ("dataset", f"{namespace}/{name}")


#: (OpenLineage namespace, name) of the table behind each product, while folding or reading
_PHYSICAL: ContextVar[dict[tuple[str, str], str] | None] = ContextVar("meshfabric_ol_physical", default=None)
_PHYSICAL_CACHE: dict[str, tuple[Any, dict[tuple[str, str], str]]] = {}
_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}


@contextmanager
def products_by_table(target: Any) -> Iterator[None]:
    """Within the block, OpenLineage names of tables behind products resolve to the products."""
    with _store_of(target).read() as s:
        names = physical_names(s)
    token = _PHYSICAL.set(names)
    try:
        yield
    finally:
        _PHYSICAL.reset(token)


def _source_location(kind: str, spec: dict[str, Any]) -> tuple[str, int, str] | None:
    """host, port, database of a PostgreSQL/MySQL source spec, ${ENV} resolved (None if unset)."""
    from urllib.parse import urlsplit

    from meshfabric.errors import ConfigError
    from meshfabric.spec.loader import resolve_env

    try:
        def env(value: Any) -> str | None:
            return resolve_env(str(value), where="source") if value not in (None, "") else None

        host, port, database = env(spec.get("host")), env(spec.get("port")), env(spec.get("database"))
        url = env(spec.get("url"))
        if url:
            parts = urlsplit(url)
            host = host or parts.hostname
            port = port or (str(parts.port) if parts.port else None)
            database = database or (parts.path.lstrip("/").split("/")[0] or None)
    except (ConfigError, ValueError):
        return None
    if not host or not database:
        return None
    return host, int(port) if port and str(port).isdigit() else _DEFAULT_PORTS[kind], database


def physical_names(session: Session) -> dict[tuple[str, str], str]:
    """The OpenLineage (namespace, name) of the table each product is served from, by the
    OpenLineage naming conventions — PostgreSQL ``postgres://host:port`` + ``database.schema.table``
    (schema ``public`` when the port names none), MySQL/MariaDB ``mysql://host:port`` +
    ``database.table`` — so events of Airflow, dbt or Spark jobs reading or writing that table land
    on the product. Host names are compared as written (``localhost`` is not ``127.0.0.1``).
    Cached per store until a product or source changes."""
    from sqlalchemy import func, select

    from meshfabric.store.models import ProductRow, SourceRow

    stamp = session.execute(select(func.count(ProductRow.id), func.max(ProductRow.updated_at),
                                   select(func.max(SourceRow.updated_at)).scalar_subquery())).one()
    url = str(session.get_bind().engine.url)
    cached = _PHYSICAL_CACHE.get(url)
    if cached is not None and cached[0] == tuple(stamp):
        return cached[1]
    sources = {name: (kind, spec) for name, kind, spec in
               session.execute(select(SourceRow.name, SourceRow.kind, SourceRow.spec))
               if kind in _DEFAULT_PORTS}
    located = {name: (kind, _source_location(kind, dict(spec or {}))) for name, (kind, spec) in sources.items()}
    out: dict[tuple[str, str], str] = {}
    for domain, product, source, spec in session.execute(
            select(ProductRow.domain, ProductRow.name, ProductRow.source, ProductRow.spec)):
        table = ((spec or {}).get("output") or {}).get("table")
        kind, where = located.get(source, (None, None))
        if not table or where is None:
            continue
        host, port, database = where
        scheme = "postgres" if kind == "postgres" else "mysql"
        parts = str(table).split(".")
        if kind == "postgres":
            name = f"{database}.{parts[0] if len(parts) > 1 else 'public'}.{parts[-1]}"
        else:
            name = f"{parts[0] if len(parts) > 1 else database}.{parts[-1]}"
        out[(f"{scheme}://{host}:{port}", name)] = f"{domain}.{product}"
    _PHYSICAL_CACHE[url] = (tuple(stamp), out)
    return out


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
    when = _parse_time(event["eventTime"])
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


def canonical_run_id(run_id: str) -> str:
    """Lower-case hyphenated form, so a run reported with upper-case hex is the same run."""
    return str(uuid.UUID(run_id))


# --------------------------------------------------------------------------------------------
# ingestion


@dataclass(frozen=True)
class IngestResult:
    """What happened to one event: stored as row ``id``, or recognised as a ``duplicate`` of it."""

    id: int
    kind: str
    event_type: str
    event_time: datetime
    run_id: str | None
    job: str | None
    duplicate: bool

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "eventType": self.event_type or None,
                "eventTime": self.event_time.isoformat(), "runId": self.run_id, "job": self.job,
                "duplicate": self.duplicate}


def _store_of(target: Any) -> Store:
    from meshfabric.store import Store

    return target if isinstance(target, Store) else target.store  # type: ignore[no-any-return]


def ingest_openlineage(target: Any, event: Any, *, principal: str | None = None) -> IngestResult:
    """Validate one OpenLineage event, store it raw and fold it into the lineage graph, in one
    store transaction.

    ``target`` is a :class:`~meshfabric.mesh.Mesh` or a :class:`~meshfabric.store.Store`. Raises
    :class:`InvalidOpenLineageEvent` (with every problem and its JSON path) when the event breaks
    the spec. Sending the same event again is a no-op that returns the first row's id with
    ``duplicate=True``; events of one run may arrive in any order — the run's state is the one
    of its latest event by ``eventTime``.
    """
    problems = _nul_problems(event)
    if any("nests deeper" in p.message for p in problems):
        raise InvalidOpenLineageEvent(problems)
    problems = sorted(validate_event(event) + problems, key=lambda p: p.path)
    if problems:
        raise InvalidOpenLineageEvent(problems)
    parsed = parse_event(event)
    problems = _limit_problems(parsed)
    if problems:
        raise InvalidOpenLineageEvent(problems)
    if parsed.run_id is not None:
        parsed = _with_run_id(parsed, canonical_run_id(parsed.run_id))
    store = _store_of(target)
    digest = fingerprint(event)
    from sqlalchemy import select

    from meshfabric.store.models_openlineage import OpenLineageEventRow as Row

    with store.write() as session:
        existing = session.scalar(select(Row.id).where(Row.fingerprint == digest))
        if existing is not None:
            return _result(existing, parsed, duplicate=True)
        row = Row(kind=parsed.kind, event_type=parsed.event_type, event_time=parsed.event_time,
                  run_id=parsed.run_id, job_namespace=parsed.job_namespace, job_name=parsed.job_name,
                  dataset_namespace=parsed.dataset.namespace if parsed.dataset else None,
                  dataset_name=parsed.dataset.name if parsed.dataset else None,
                  producer=parsed.producer, schema_url=parsed.schema_url, principal=principal,
                  fingerprint=digest, event=event)
        session.add(row)
        session.flush()
        token = _PHYSICAL.set(physical_names(session))
        try:
            fold_event(store, session, parsed)
        finally:
            _PHYSICAL.reset(token)
        return _result(row.id, parsed, duplicate=False)


#: what the store keeps: a graph key (``namespace/name``, ``<dataset>.<field>``) is at most 512
#: characters, the raw row's producer and schemaURL 2048
KEY_LIMIT, URL_LIMIT = 512, 2048


#: deeper JSON is refused: real events nest a dozen levels, and deep recursion is a denial of service
MAX_NESTING = 64


def _nul_problems(event: Any) -> list[EventProblem]:
    """Strings holding a NUL character, which PostgreSQL text cannot store, numbers JSON cannot
    write (NaN, Infinity), and nesting deeper than MAX_NESTING; no producer sends any of them.
    Walked with an explicit stack, so no input can exhaust Python's recursion limit."""
    out: list[EventProblem] = []
    stack: list[tuple[Any, tuple[Any, ...]]] = [(event, ())]
    while stack and len(out) < 20:
        value, path = stack.pop()
        if len(path) > MAX_NESTING:
            out.append(EventProblem(_json_path(path[:MAX_NESTING]), f"nests deeper than {MAX_NESTING} levels"))
            break
        if isinstance(value, float) and not math.isfinite(value):
            out.append(EventProblem(_json_path(path), f"{value} is not a JSON number"))
        elif isinstance(value, str):
            if "\x00" in value:
                out.append(EventProblem(_json_path(path), "contains a NUL character (\\u0000), which cannot be stored"))
        elif isinstance(value, dict):
            for k, v in value.items():
                if "\x00" in str(k):
                    out.append(EventProblem(_json_path(path), "has a key with a NUL character (\\u0000)"))
                stack.append((v, (*path, k)))
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
    return out


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


def _result(row_id: int, parsed: ParsedEvent, *, duplicate: bool) -> IngestResult:
    return IngestResult(id=row_id, kind=parsed.kind, event_type=parsed.event_type, event_time=parsed.event_time,
                        run_id=parsed.run_id, job=parsed.job_key, duplicate=duplicate)


# --------------------------------------------------------------------------------------------
# folding into the graph
#
# nodes   job  namespace/name            {namespace, name, facets, facetTimes, latestRun…}
#         run  <runId>                   {state, eventTime, startedAt, endedAt, facets, job, nominal…}
#         dataset namespace/name         {namespace, name, facets, facetTimes, fields}
#         column  namespace/name#field   {dataset, field, type, description}  (nested: a.b.c)
# edges   run -run_of-> job, run -reads/writes-> dataset, run -child_of-> parent run
#         job -reads-> input, job -writes-> output, output -derived_from-> input
#         dataset -has_column-> column, column -derived_from-> column {type, subtype, transformations}


def column_key(namespace: str, name: str, field_name: str) -> str:
    """Graph key of a column: ``<dataset key>.<field>`` (``namespace/name.field``, or
    ``domain.product.column`` for a mesh product), as ``lineage.service`` names columns."""
    return f"{dataset_ref(namespace, name)[1]}.{field_name}"


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


Ref = tuple[str, str]


def _refs_in(kind_col: Any, key_col: Any, refs: list[Ref]) -> Any:
    """``(kind, key) IN refs`` as one ``kind = … AND key IN (…)`` per kind: SQLite answers a
    row-value IN by scanning the whole index, this form by one index search per key."""
    from sqlalchemy import and_, false, or_

    by_kind: dict[str, list[str]] = {}
    for kind, key in refs:
        by_kind.setdefault(kind, []).append(key)
    if not by_kind:
        return false()
    return or_(*(and_(kind_col == kind, key_col.in_(keys)) for kind, keys in by_kind.items()))


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
        #: the run's properties when this event moved it into COMPLETE, FAIL or ABORT
        self.finished: dict[str, Any] | None = None

    def load(self, refs: list[Ref]) -> None:
        from sqlalchemy import select

        from meshfabric.store.models_graph import GraphNodeRow

        wanted = [r for r in dict.fromkeys(refs) if r not in self.stored]
        for i in range(0, len(wanted), 400):
            for kind, key, name, props in self.s.execute(
                    select(GraphNodeRow.kind, GraphNodeRow.key, GraphNodeRow.name, GraphNodeRow.properties)
                    .where(_refs_in(GraphNodeRow.kind, GraphNodeRow.key, wanted[i:i + 400]))):
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
                self.columns[col] = (f["name"], {"dataset": ds.key, "field": f["name"], "type": f.get("type"),
                                                 "description": f.get("description")})
                self.edges.append((ref, "has_column", col, None))
        if "dataSource" in changed:
            props["source"] = (facets.get("dataSource") or {}).get("name")
        if "documentation" in changed:
            props["description"] = (facets.get("documentation") or {}).get("description")
        self.put(ref, ds.name, props)
        return ref

    def column_lineage(self, ds: DatasetRef, job: str | None) -> None:
        facet = ds.facets.get("columnLineage")
        if not isinstance(facet, dict) or facet.get("_deleted") is True:
            return
        fields = facet.get("fields") or {}
        whole = facet.get("dataset") or []
        for out_field, spec in fields.items():
            target = ("column", column_key(ds.namespace, ds.name, out_field))
            self.edges.append((ds.ref, "has_column", target, None))
            sources = [(f, False) for f in spec.get("inputFields") or []] + [(f, True) for f in whole]
            for src, indirect in sources:
                transformations = [t for t in src.get("transformations") or [] if isinstance(t, dict)]
                if not transformations and not indirect and spec.get("transformationType"):
                    transformations = [{"type": "DIRECT", "subtype": spec["transformationType"],
                                        "description": spec.get("transformationDescription", "")}]
                if indirect and not transformations:
                    transformations = [{"type": "INDIRECT"}]
                first = transformations[0] if transformations else {}
                kind = "DIRECT" if any(t.get("type") == "DIRECT" for t in transformations) else first.get("type")
                props = {"type": kind, "subtype": first.get("subtype"), "transformations": transformations,
                         "job": job, "via": "openlineage"}
                src_ds = dataset_ref(src["namespace"], src["name"])
                source = ("column", column_key(src["namespace"], src["name"], src["field"]))
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
        if self.columns:
            self.load(list(self.columns))
            for col, (name, props) in self.columns.items():
                self.put(col, name, {**self.current(col), **props})
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


def resolve_node_id(target: Any, node_id: str) -> tuple[str, str]:
    """The graph node of a Marquez node id ``dataset:<namespace>:<name>`` or ``job:<namespace>:<name>``."""
    from sqlalchemy import select

    from meshfabric.errors import NotFound
    from meshfabric.store.models_graph import GraphNodeRow

    kind, sep, rest = str(node_id).partition(":")
    if not sep or kind not in ("dataset", "job") or ":" not in rest:
        raise _bad_input(f"nodeId {node_id!r} is not dataset:<namespace>:<name> or job:<namespace>:<name>",
                         "e.g. nodeId=dataset:postgres://db:5432:public.orders or nodeId=job:airflow:etl.load")
    candidates = _node_candidates(kind, rest)
    with _store_of(target).read() as s:
        found = set(s.execute(select(GraphNodeRow.kind, GraphNodeRow.key)
                              .where(_refs_in(GraphNodeRow.kind, GraphNodeRow.key, candidates))).all())
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
    ns, name = props.get("namespace"), props.get("name")
    if not (isinstance(ns, str) and isinstance(name, str)):
        ns, _, name = key.partition("/")
    return f"{'job' if kind == 'job' else 'dataset'}:{ns}:{name}"


def _ts(value: Any) -> str | None:
    if isinstance(value, datetime):
        return _iso(value)
    return value if isinstance(value, str) else None


def _dataset_data(kind: str, key: str, props: dict[str, Any], created: Any, updated: Any) -> dict[str, Any]:
    if kind == "product":
        ns, name = MESH_NAMESPACE, key
    else:
        ns, name = props.get("namespace") or key.partition("/")[0], props.get("name") or key.partition("/")[2]
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
        a, b = _parse_time(started), _parse_time(ended)
        if a and b:
            duration = int((b - a).total_seconds() * 1000)
    return {"id": key, "createdAt": _ts(created), "updatedAt": _ts(updated),
            "nominalStartTime": props.get("nominalStartTime"), "nominalEndTime": props.get("nominalEndTime"),
            "state": props.get("state"), "startedAt": started, "endedAt": ended, "durationMs": duration,
            "facets": props.get("facets") or {}, "inputFacets": props.get("inputFacets") or {},
            "outputFacets": props.get("outputFacets") or {}}


def _job_data(key: str, props: dict[str, Any], created: Any, updated: Any,
              latest: dict[str, Any] | None) -> dict[str, Any]:
    ns, name = props.get("namespace") or key.partition("/")[0], props.get("name") or key.partition("/")[2]
    facets = props.get("facets") or {}
    location = (facets.get("sourceCodeLocation") or {}).get("url") if isinstance(facets.get("sourceCodeLocation"),
                                                                                   dict) else None
    parent = props.get("parentJob")
    return {"id": {"namespace": ns, "name": name}, "type": props.get("type") or "BATCH", "name": name,
            "simpleName": name.rpartition(".")[2], "parentJobName": parent.partition("/")[2] if parent else None,
            "createdAt": _ts(created), "updatedAt": _ts(updated), "namespace": ns,
            "inputs": props.get("inputs") or [], "outputs": props.get("outputs") or [], "location": location,
            "description": props.get("description"), "latestRun": latest, "facets": facets}


def marquez_lineage(target: Any, node_id: str, depth: int = DEFAULT_DEPTH, *, limit: int = 1000) -> dict[str, Any]:
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
    store = _store_of(target)
    with products_by_table(store):
        root = resolve_node_id(store, node_id)
    service = LineageService(target if not _is_store(target) else None, store=store)
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
                           GraphNodeRow.updated_at).where(_refs_in(GraphNodeRow.kind, GraphNodeRow.key, part))):
                nodes[(kind, key)] = (dict(props or {}), created, updated)
            j, d = aliased(GraphNodeRow), aliased(GraphNodeRow)
            ds_part = [r for r in part if r[0] in DATASET_KINDS]
            if ds_part:
                io.update(((jk, jkey), rel, (dk, dkey)) for jk, jkey, rel, dk, dkey in s.execute(
                    select(j.kind, j.key, GraphEdgeRow.rel, d.kind, d.key).select_from(GraphEdgeRow)
                    .join(j, j.id == GraphEdgeRow.src_id).join(d, d.id == GraphEdgeRow.dst_id)
                    .where(j.kind == "job", GraphEdgeRow.rel.in_(["reads", "writes"]),
                           _refs_in(d.kind, d.key, ds_part))))
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
                              .where(_refs_in(GraphNodeRow.kind, GraphNodeRow.key, candidates))).all())
    for ref in candidates:
        if tuple(ref) in found:
            return ref, False
    raise NotFound(f"no field {rest!r} in the lineage graph",
                   hint="fields appear with a schema or columnLineage facet of an OpenLineage event")


def marquez_column_lineage(target: Any, node_id: str, depth: int = DEFAULT_DEPTH, *, with_downstream: bool = False,
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
    store = _store_of(target)
    with products_by_table(store):
        root, is_dataset = resolve_field_id(store, node_id)
    service = LineageService(target if not _is_store(target) else None, store=store)
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
        props = columns.get(ref, {})
        if ref[1] in owner:
            dkind, dkey, dprops = owner[ref[1]]
            field = ref[1][len(dkey) + 1:] if ref[1].startswith(dkey + ".") else ref[1].rpartition(".")[2]
            if dkind == "product":
                return MESH_NAMESPACE, dkey, field
            return (str(dprops.get("namespace") or dkey.partition("/")[0]),
                    str(dprops.get("name") or dkey.partition("/")[2]), field)
        dkey, _, field = ref[1].rpartition(".")
        if "/" in dkey:
            ns, _, name = dkey.partition("/")
            return ns, name, str(props.get("field") or field)
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
            inputs.append({"namespace": sns, "dataset": sname, "datasetVersion": None, "field": sfield,
                           "transformationDescription": (eprops.get("transformations") or [{}])[0].get("description"),
                           "transformationType": eprops.get("type"), "transformations": eprops.get("transformations")
                           or [{"type": eprops.get("type"), "subtype": eprops.get("subtype")}]})
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


def _is_store(target: Any) -> bool:
    from meshfabric.store import Store

    return isinstance(target, Store)


# --------------------------------------------------------------------------------------------
# reading raw events


def list_events(target: Any, *, namespace: str | None = None, job: str | None = None, run_id: str | None = None,
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
    store = _store_of(target)
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


__all__ = [
    "CORE_ID",
    "MESH_NAMESPACE",
    "EventProblem",
    "IngestResult",
    "InvalidOpenLineageEvent",
    "ParsedEvent",
    "column_key",
    "dataset_ref",
    "event_kind",
    "fingerprint",
    "fold_event",
    "ingest_openlineage",
    "list_events",
    "marquez_column_lineage",
    "marquez_lineage",
    "parse_event",
    "products_by_table",
    "resolve_field_id",
    "resolve_node_id",
    "validate_event",
]
