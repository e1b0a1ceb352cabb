"""REST endpoints of the lineage capability; included by ``meshfabric.api.app.create_app``.

* ``POST /api/v1/lineage`` — the OpenLineage HTTP transport's endpoint: one RunEvent,
  DatasetEvent or JobEvent per request, JSON, optionally gzip-compressed
  (``Content-Encoding: gzip``). 201 when stored, 200 when it repeats a stored event, 400
  problem+json naming each wrong field by JSON path.
* ``GET /api/v1/lineage?nodeId=dataset:<ns>:<name>|job:<ns>:<name>&depth=N`` — Marquez's
  lineage graph shape.
* ``GET /api/v1/lineage/events`` — stored raw events, newest first, paginated.
* ``GET /api/v1/lineage/upstream|downstream|impact|export?node=…`` — the lineage service.
"""

from __future__ import annotations

import json
import zlib
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from meshfabric.api.deps import mesh_of, principal_of
from meshfabric.lineage.openlineage import MESH_NAMESPACE
from meshfabric.mesh import Mesh

router = APIRouter(tags=["lineage"])

PROBLEM = "application/problem+json"
#: the largest event accepted, after decompression (Spark events with many facets run to megabytes)
MAX_EVENT_BYTES = 64 * 1024 * 1024

_PROBLEM_RESPONSE: dict[int | str, dict[str, Any]] = {
    400: {"description": "Not an OpenLineage event: every problem with its JSON path",
          "content": {PROBLEM: {}}},
}


def _problem(request: Request, status: int, name: str, title: str, detail: str,
             **extra: Any) -> JSONResponse:
    body = {"type": f"https://meshfabric.dev/problems/{name}", "title": title, "status": status,
            "detail": detail, "instance": str(request.url.path), **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _decode(raw: bytes, encoding: str) -> bytes:
    """The request body without its content coding; raises ValueError when it cannot be read."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(raw) > MAX_EVENT_BYTES:
            raise ValueError(f"the event is larger than {MAX_EVENT_BYTES} bytes")
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise LookupError(encoding)
    inflater = zlib.decompressobj(wbits=47 if encoding != "deflate" else 15)  # 47: gzip or zlib header
    try:
        out = inflater.decompress(raw, MAX_EVENT_BYTES + 1)
    except zlib.error as exc:
        raise ValueError(f"the body is not valid {encoding} data ({exc})") from None
    if len(out) > MAX_EVENT_BYTES or inflater.unconsumed_tail:
        raise ValueError(f"the decompressed event is larger than {MAX_EVENT_BYTES} bytes")
    return out


_EVENT_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "title": "OpenLineage event",
    "description": "One RunEvent, DatasetEvent or JobEvent of the OpenLineage spec "
                   "(https://openlineage.io/spec/2-0-2/OpenLineage.json); may be sent gzip-compressed "
                   "with Content-Encoding: gzip",
    "required": ["eventTime", "producer", "schemaURL"]}}}}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


@router.post("/api/v1/lineage", status_code=201, openapi_extra={"requestBody": _EVENT_BODY},
             responses={**_PROBLEM_RESPONSE, 200: {"description": "The same event was received before; nothing "
                                                                  "new was stored"}})
async def post_lineage(request: Request, mesh: Mesh = Depends(mesh_of),
                       user: str | None = Depends(principal_of)) -> Response:
    """Receive one OpenLineage event (what the OpenLineage clients' HTTP transport sends)."""
    from starlette.concurrency import run_in_threadpool

    from meshfabric.lineage.openlineage import InvalidOpenLineageEvent, ingest_openlineage

    raw = await request.body()
    try:
        body = _decode(raw, request.headers.get("content-encoding", ""))
    except LookupError as exc:
        return _problem(request, 415, "UnsupportedContentEncoding", "unsupported content encoding",
                        f"Content-Encoding {exc.args[0]!r} is not supported; send the event as plain JSON or gzip")
    except ValueError as exc:
        return _problem(request, 400, "InvalidOpenLineageEvent", "invalid OpenLineage event", str(exc))
    try:
        event = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, NaN, too deep
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        return _problem(request, 400, "InvalidOpenLineageEvent", "invalid OpenLineage event",
                        f"the body is not JSON{where}: {exc}",
                        errors=[{"path": "$", "message": "not JSON"}])
    try:
        result = await run_in_threadpool(ingest_openlineage, mesh, event, principal=user)
    except InvalidOpenLineageEvent as exc:
        detail = "; ".join(p.render() for p in exc.problems[:5])
        if len(exc.problems) > 5:
            detail += f"; and {len(exc.problems) - 5} more"
        return _problem(request, 400, "InvalidOpenLineageEvent", exc.title, detail, hint=exc.hint,
                        errors=[p.to_dict() for p in exc.problems])
    return JSONResponse(result.to_dict(), status_code=200 if result.duplicate else 201)


# ---- what the caller may see -------------------------------------------------------------------
#
# Lineage is metadata about products, so a principal sees in it only the products it may
# discover (the access layer's ``visible_products``): a hidden product and its columns are left
# out of every answer, and asking for one is a 404 as for a product that does not exist.
# OpenLineage datasets and jobs outside the mesh carry no policy and are visible to every
# authenticated principal.


class _Visibility:
    def __init__(self, mesh: Mesh, user: str | None) -> None:
        self.hidden: set[str] = set()
        if user is None:  # a server without authentication acts as the local principal
            return
        visible = mesh.access.visible_products(user)
        if visible is not None:
            self.hidden = set(mesh.access.snapshot().product_owner) - set(visible)

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

    def require(self, mesh: Mesh, node: str) -> None:
        if not self.hidden:
            return
        kind, key = mesh.lineage.resolve(node)
        if not self.ok(kind, key):
            from meshfabric.errors import NotFound

            raise NotFound(f"'{node}' is not in the lineage graph",
                           hint="name a product as domain.product, an OpenLineage dataset as namespace/name")


def _root_hidden(mesh: Mesh, vis: _Visibility, node_id: str, *, field: bool) -> bool:
    """Whether a Marquez node id names a product (or a product's field) the caller may not
    discover — also when named by the table behind it."""
    if not vis.restricted:
        return False
    from meshfabric.lineage.openlineage import products_by_table, resolve_field_id, resolve_node_id

    with products_by_table(mesh):
        ref = resolve_field_id(mesh.store, node_id)[0] if field else resolve_node_id(mesh, node_id)
    return not vis.ok(*ref)


def _filtered_walk(mesh: Mesh, vis: _Visibility, direction: str, node: str, depth: int | None, columns: bool,
                   offset: int, limit: int) -> dict[str, Any]:
    walk = getattr(mesh.lineage, direction)
    if not vis.restricted:
        return walk(node, depth=depth, columns=columns, limit=limit, offset=offset).to_dict()  # type: ignore[no-any-return]
    vis.require(mesh, node)
    full = walk(node, depth=depth, columns=columns, limit=100_000, offset=0)
    nodes = [n for n in full.nodes if vis.ok(n.kind, n.key)]
    body: dict[str, Any] = full.to_dict()
    body.update(nodes=[n.to_dict() for n in nodes[offset:offset + limit]], total=len(nodes), offset=offset,
                limit=limit, edges=[e.to_dict() for e in full.edges if vis.ok(*e.src) and vis.ok(*e.dst)])
    return body


@router.get("/api/v1/lineage")
def get_lineage(node_id: str = Query(..., alias="nodeId", description="dataset:<namespace>:<name> or "
                                     "job:<namespace>:<name>"),
                depth: int = Query(20, ge=0, le=100, description="dataset-to-dataset steps each way"),
                limit: int = Query(1000, ge=1, le=10_000, description="at most this many datasets each way"),
                mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """The lineage graph around a dataset or job, shaped like Marquez's lineage API."""
    from meshfabric.errors import NotFound
    from meshfabric.lineage.openlineage import marquez_lineage

    vis = _Visibility(mesh, user)
    if _root_hidden(mesh, vis, node_id, field=False):
        raise NotFound(f"no dataset {node_id.partition(':')[2]!r} in the lineage graph")
    graph = marquez_lineage(mesh, node_id, depth, limit=limit)
    if vis.restricted:
        from meshfabric.lineage.openlineage import dataset_ref, products_by_table

        kept = [n for n in graph["graph"] if vis.ok_id(n["id"])]
        with products_by_table(mesh):
            for n in kept:
                n["inEdges"] = [e for e in n["inEdges"] if vis.ok_id(e["origin"])]
                n["outEdges"] = [e for e in n["outEdges"] if vis.ok_id(e["destination"])]
                if n["type"] == "JOB":
                    for side in ("inputs", "outputs"):
                        n["data"][side] = [d for d in n["data"][side]
                                           if vis.ok(*dataset_ref(d["namespace"], d["name"]))]
        graph = {"graph": kept}
    return graph


@router.get("/api/v1/column-lineage")
def get_column_lineage(node_id: str = Query(..., alias="nodeId", description="datasetField:<namespace>:<name>:"
                                            "<field> or dataset:<namespace>:<name>"),
                       depth: int = Query(20, ge=0, le=100),
                       with_downstream: bool = Query(False, alias="withDownstream"),
                       limit: int = Query(1000, ge=1, le=10_000),
                       mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Column lineage of a field or of every field of a dataset, shaped like Marquez's column-lineage API."""
    from meshfabric.errors import NotFound
    from meshfabric.lineage.openlineage import marquez_column_lineage

    vis = _Visibility(mesh, user)
    if _root_hidden(mesh, vis, node_id, field=node_id.startswith("datasetField:")):
        raise NotFound(f"no field or dataset {node_id.partition(':')[2]!r} in the lineage graph")
    graph = marquez_column_lineage(mesh, node_id, depth, with_downstream=with_downstream, limit=limit)
    if vis.restricted:
        def ok(field_id: str) -> bool:
            return vis.ok_id("dataset:" + field_id.partition(":")[2].rpartition(":")[0])

        kept = [n for n in graph["graph"] if ok(n["id"])]
        for n in kept:
            n["inEdges"] = [e for e in n["inEdges"] if ok(e["origin"])]
            n["outEdges"] = [e for e in n["outEdges"] if ok(e["destination"])]
            n["data"]["inputFields"] = [f for f in n["data"]["inputFields"]
                                        if vis.ok_id(f"dataset:{f['namespace']}:{f['dataset']}")]
        graph = {"graph": kept}
    return graph


@router.get("/api/v1/lineage/events")
def lineage_events(namespace: str | None = None,
                   job: str | None = Query(None, description="job name (with namespace=) or namespace/name"),
                   dataset: str | None = Query(None, description="DatasetEvents about this dataset"),
                   run_id: str | None = Query(None, alias="runId"),
                   event_type: str | None = Query(None, alias="eventType", description="START, COMPLETE, …"),
                   kind: str | None = Query(None, pattern="^(run|dataset|job)$"),
                   since: datetime | None = Query(None, description="eventTime at or after (ISO 8601)"),
                   until: datetime | None = Query(None, description="eventTime before (ISO 8601)"),
                   offset: int = Query(0, ge=0, le=1_000_000_000), limit: int = Query(100, ge=1, le=1000),
                   mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Stored OpenLineage events exactly as received, newest eventTime first."""
    from meshfabric.lineage.openlineage import list_events

    items, total = list_events(mesh, namespace=namespace, job=job, dataset=dataset, run_id=run_id,
                               event_type=event_type, kind=kind, since=since, until=until,
                               offset=offset, limit=limit)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.get("/api/v1/lineage/upstream")
def upstream(node: str = Query(..., description="domain.product, namespace/name, a column, or kind:key"),
             depth: int | None = Query(None, ge=0, le=10_000), columns: bool = False,
             offset: int = Query(0, ge=0, le=1_000_000_000), limit: int = Query(1000, ge=1, le=10_000),
             mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """What a product, dataset or column was derived from, nearest first."""
    return _filtered_walk(mesh, _Visibility(mesh, user), "upstream", node, depth, columns, offset, limit)


@router.get("/api/v1/lineage/downstream")
def downstream(node: str = Query(..., description="domain.product, namespace/name, a column, or kind:key"),
               depth: int | None = Query(None, ge=0, le=10_000), columns: bool = False,
               offset: int = Query(0, ge=0, le=1_000_000_000), limit: int = Query(1000, ge=1, le=10_000),
               mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """What was derived from a product, dataset or column, nearest first."""
    return _filtered_walk(mesh, _Visibility(mesh, user), "downstream", node, depth, columns, offset, limit)


@router.get("/api/v1/lineage/impact")
def impact(node: str = Query(..., description="a product, dataset or column"),
           mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Everything downstream of a dataset or column: products, their columns, contracts, owners.
    A principal sees the products it may discover; ``hidden_products`` counts the others reached."""
    vis = _Visibility(mesh, user)
    vis.require(mesh, node)
    body: dict[str, Any] = mesh.lineage.impact(node).to_dict()
    if vis.restricted:
        shown = [p for p in body["products"] if vis.ok("product", p["product"])]
        body["hidden_products"] = len(body["products"]) - len(shown)
        body["products"] = shown
        body["contracts"] = [c for c in body["contracts"] if vis.ok("product", c["product"])]
        body["columns"] = [c for c in body["columns"] if vis.ok("column", c)]
        body["domains"] = sorted({p["domain"] for p in shown} | {c["consumer"] for c in body["contracts"]
                                                                 if c.get("consumer")})
        body["owners"] = sorted({p["owner"] for p in shown if p.get("owner")}
                                | {o for c in body["contracts"] for o in c.get("consumer_owners", [])})
    return body


@router.get("/api/v1/lineage/export")
def export(node: str = Query(...), format: str = Query("json", pattern="^(json|openlineage|dot|mermaid)$"),
           depth: int | None = Query(None, ge=0, le=10_000),
           mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Response:
    """The lineage around a node as JSON, OpenLineage RunEvents, Graphviz DOT or Mermaid."""
    vis = _Visibility(mesh, user)
    media = "application/json" if format in ("json", "openlineage") else "text/plain; charset=utf-8"
    if not vis.restricted:
        return Response(mesh.lineage.export(node, format=format, depth=depth), media_type=media)
    vis.require(mesh, node)
    return Response(_restricted_export(mesh, vis, node, format, depth), media_type=media)


def _restricted_export(mesh: Mesh, vis: _Visibility, node: str, format: str, depth: int | None) -> str:
    """``LineageService.export`` over walks without the products the caller may not discover."""
    from meshfabric.lineage import service as svc

    up = mesh.lineage.upstream(node, depth=depth, columns=True, limit=100_000)
    down = mesh.lineage.downstream(node, depth=depth, columns=True, limit=100_000)
    nodes = {up.root.ref: up.root}
    for n in up.nodes:
        if vis.ok(n.kind, n.key):
            nodes[n.ref] = n
    for n in down.nodes:
        if vis.ok(n.kind, n.key):
            nodes.setdefault(n.ref, svc.LineageNode(n.kind, n.key, n.name, -n.distance, n.properties))
    edges = sorted({(e.src, e.rel, e.dst): e for e in up.edges + down.edges
                    if e.src in nodes and e.dst in nodes}.values(), key=lambda e: (e.src, e.rel, e.dst))
    if format == "json":
        return json.dumps({"root": up.root.to_dict(), "depth": depth, "nodes": [n.to_dict() for n in nodes.values()],
                           "edges": [e.to_dict() for e in edges]}, indent=2, default=str)
    if format == "openlineage":
        return json.dumps(svc._openlineage(nodes, edges), indent=2)
    if format == "dot":
        return svc._dot(nodes, edges, up.root.ref)
    return svc._mermaid(nodes, edges, up.root.ref)


class SqlLineageRequest(BaseModel):
    sql: str = Field(..., min_length=1, max_length=1_000_000, description="A statement or a whole script")
    dialect: str | None = Field(None, max_length=32, description="postgres, mysql, duckdb, sqlite, spark, hive, "
                                "snowflake, bigquery, tsql, …; default: sqlglot's generic dialect")
    schema_: dict[str, Any] | None = Field(None, alias="schema",
                                           description="{table: {column: type}}: expands * and qualifies columns")
    detail: bool = Field(False, description="add typed column edges and indirect dependencies per statement")


@router.post("/api/v1/lineage/sql")
def lineage_of_sql(body: SqlLineageRequest, user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Table and column lineage of SQL text (nothing is stored): ``sources``, ``targets`` and
    ``columns`` as ``[source_table.column, target_table.column]`` pairs, as ``lineage sql`` prints."""
    from meshfabric.lineage.sql import analyze_sql

    result = analyze_sql(body.sql, dialect=body.dialect, schema=body.schema_)
    return result.to_detail_dict() if body.detail else result.to_dict()
