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
from meshfabric.api.lineage_models import (
    Impact,
    IngestResult,
    LineageEventRecord,
    LineageExport,
    LineageWalk,
    MarquezGraph,
    SqlLineage,
)
from meshfabric.api.models import Page, page
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


@router.post("/api/v1/lineage", status_code=201, response_model=IngestResult,
             openapi_extra={"requestBody": _EVENT_BODY},
             responses={**_PROBLEM_RESPONSE, 200: {"model": IngestResult, "description": "The same event was "
                                                   "received before; nothing new was stored"}})
async def post_lineage(request: Request, response: Response, mesh: Mesh = Depends(mesh_of),
                       user: str | None = Depends(principal_of)) -> Any:
    """Receive one OpenLineage event (what the OpenLineage clients' HTTP transport sends)."""
    from starlette.concurrency import run_in_threadpool

    from meshfabric.lineage.openlineage import InvalidOpenLineageEvent

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
        result = await run_in_threadpool(lambda: mesh.lineage.ingest(event, user=user))
    except InvalidOpenLineageEvent as exc:
        detail = "; ".join(p.render() for p in exc.problems[:5])
        if len(exc.problems) > 5:
            detail += f"; and {len(exc.problems) - 5} more"
        return _problem(request, 400, "InvalidOpenLineageEvent", exc.title, detail, hint=exc.hint,
                        errors=[p.to_dict() for p in exc.problems])
    response.status_code = 200 if result.duplicate else 201
    return result.to_dict()


@router.get("/api/v1/lineage", response_model=MarquezGraph)
def get_lineage(node_id: str = Query(..., alias="nodeId", description="dataset:<namespace>:<name> or "
                                     "job:<namespace>:<name>"),
                depth: int = Query(20, ge=0, le=100, description="dataset-to-dataset steps each way"),
                limit: int = Query(1000, ge=1, le=10_000, description="at most this many datasets each way"),
                mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """The lineage graph around a dataset or job, shaped like Marquez's lineage API."""
    return mesh.lineage.marquez(node_id, depth, limit=limit, user=user)


@router.get("/api/v1/column-lineage", response_model=MarquezGraph)
def get_column_lineage(node_id: str = Query(..., alias="nodeId", description="datasetField:<namespace>:<name>:"
                                            "<field> or dataset:<namespace>:<name>"),
                       depth: int = Query(20, ge=0, le=100),
                       with_downstream: bool = Query(False, alias="withDownstream"),
                       limit: int = Query(1000, ge=1, le=10_000),
                       mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """Column lineage of a field or of every field of a dataset, shaped like Marquez's column-lineage API."""
    return mesh.lineage.column_lineage(node_id, depth, with_downstream=with_downstream, limit=limit, user=user)


@router.get("/api/v1/lineage/events", response_model=Page[LineageEventRecord])
def lineage_events(namespace: str | None = None,
                   job: str | None = Query(None, description="job name (with namespace=) or namespace/name"),
                   dataset: str | None = Query(None, description="DatasetEvents about this dataset"),
                   run_id: str | None = Query(None, alias="runId"),
                   event_type: str | None = Query(None, alias="eventType", description="START, COMPLETE, …"),
                   kind: str | None = Query(None, pattern="^(run|dataset|job)$"),
                   since: datetime | None = Query(None, description="eventTime at or after (ISO 8601)"),
                   until: datetime | None = Query(None, description="eventTime before (ISO 8601)"),
                   offset: int = Query(0, ge=0, le=1_000_000_000), limit: int = Query(100, ge=1, le=1000),
                   mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """Stored OpenLineage events exactly as received, newest eventTime first."""
    items, total = mesh.lineage.events(namespace=namespace, job=job, dataset=dataset, run_id=run_id,
                                       event_type=event_type, kind=kind, since=since, until=until,
                                       offset=offset, limit=limit, user=user)
    return page(items, offset, limit, total=total)


@router.get("/api/v1/lineage/upstream", response_model=LineageWalk)
def upstream(node: str = Query(..., description="domain.product, namespace/name, a column, or kind:key"),
             depth: int | None = Query(None, ge=0, le=10_000), columns: bool = False,
             offset: int = Query(0, ge=0, le=1_000_000_000), limit: int = Query(1000, ge=1, le=10_000),
             mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """What a product, dataset or column was derived from, nearest first."""
    return mesh.lineage.upstream(node, depth=depth, columns=columns, limit=limit, offset=offset,
                                 user=user).to_dict()


@router.get("/api/v1/lineage/downstream", response_model=LineageWalk)
def downstream(node: str = Query(..., description="domain.product, namespace/name, a column, or kind:key"),
               depth: int | None = Query(None, ge=0, le=10_000), columns: bool = False,
               offset: int = Query(0, ge=0, le=1_000_000_000), limit: int = Query(1000, ge=1, le=10_000),
               mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """What was derived from a product, dataset or column, nearest first."""
    return mesh.lineage.downstream(node, depth=depth, columns=columns, limit=limit, offset=offset,
                                   user=user).to_dict()


# the contracts and products of an impact are collected from graph properties: a key the
# graph does not hold stays out of the answer
@router.get("/api/v1/lineage/impact", response_model=Impact, response_model_exclude_unset=True)
def impact(node: str = Query(..., description="a product, dataset or column"),
           mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """Everything downstream of a dataset or column: products, their columns, contracts, owners.
    A principal sees the products it may discover; ``hidden_products`` counts the others reached."""
    return mesh.lineage.impact(node, user=user).to_dict()


@router.get("/api/v1/lineage/export", response_class=Response, responses={200: {
    "model": LineageExport | list[dict[str, Any]], "content": {"text/plain": {"schema": {"type": "string"}}},
    "description": "json: the graph around the node; openlineage: a list of RunEvents; dot, mermaid: text"}})
def export(node: str = Query(...), format: str = Query("json", pattern="^(json|openlineage|dot|mermaid)$"),
           depth: int | None = Query(None, ge=0, le=10_000),
           mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Response:
    """The lineage around a node as JSON, OpenLineage RunEvents, Graphviz DOT or Mermaid."""
    media = "application/json" if format in ("json", "openlineage") else "text/plain; charset=utf-8"
    return Response(mesh.lineage.export(node, format=format, depth=depth, user=user), media_type=media)


class SqlLineageRequest(BaseModel):
    sql: str = Field(..., min_length=1, max_length=1_000_000, description="A statement or a whole script")
    dialect: str | None = Field(None, max_length=32, description="postgres, mysql, duckdb, sqlite, spark, hive, "
                                "snowflake, bigquery, tsql, …; default: sqlglot's generic dialect")
    schema_: dict[str, Any] | None = Field(None, alias="schema",
                                           description="{table: {column: type}}: expands * and qualifies columns")
    detail: bool = Field(False, description="add typed column edges and indirect dependencies per statement")


# ``statements`` is in the answer only with ``detail``
@router.post("/api/v1/lineage/sql", response_model=SqlLineage, response_model_exclude_unset=True)
def lineage_of_sql(body: SqlLineageRequest, user: str | None = Depends(principal_of)) -> Any:
    """Table and column lineage of SQL text (nothing is stored): ``sources``, ``targets`` and
    ``columns`` as ``[source_table.column, target_table.column]`` pairs, as ``lineage sql`` prints."""
    from meshfabric.query.lineage import analyze_sql

    result = analyze_sql(body.sql, dialect=body.dialect, schema=body.schema_)
    return result.to_detail_dict() if body.detail else result.to_dict()
