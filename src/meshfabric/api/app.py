"""The REST API: FastAPI, OpenAPI at /docs, errors as RFC 9457 problem+json.

Read endpoints for domains, products and events, and a query endpoint returning JSON or an
Arrow IPC stream. Until the access layer exists the server binds to loopback only.
"""

from __future__ import annotations

import io
import time
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from meshfabric import __version__
from meshfabric.errors import MeshfabricError, NotFound
from meshfabric.mesh import Mesh

PROBLEM = "application/problem+json"
ARROW_STREAM = "application/vnd.apache.arrow.stream"


class QueryRequest(BaseModel):
    sql: str = Field(..., description="One SELECT over products addressed as domain.product")
    limit: int | None = Field(None, ge=0, description="Return at most this many rows")


class SchemaCheckRequest(BaseModel):
    new: Any = Field(..., description="The new schema: a list of columns or a JSON Schema")
    previous: list[Any] = Field(..., min_length=1, description="Earlier schemas, latest first")
    mode: str = Field("BACKWARD", description="NONE, BACKWARD, FORWARD, FULL (+ _TRANSITIVE)")
    policy: Literal["strict", "lenient"] = "strict"


class Page(BaseModel):
    items: list[dict[str, Any]]
    total: int
    offset: int
    limit: int


def _status(exc: MeshfabricError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if exc.__class__.__name__ == "AccessDenied":
        return 403
    if exc.__class__.__name__ == "SourceError":
        return 502
    return 422 if exc.exit_code == 1 else 400


def create_app(mesh: Mesh) -> FastAPI:
    app = FastAPI(title="meshfabric", version=__version__,
                  description="Data products, their sources and federated SQL across domains.")
    app.state.mesh = mesh

    @app.exception_handler(MeshfabricError)
    async def _problem(request: Request, exc: MeshfabricError) -> JSONResponse:
        status = _status(exc)
        body = {"type": f"https://meshfabric.dev/problems/{exc.__class__.__name__}", "title": exc.title,
                "status": status, "detail": exc.message, "instance": str(request.url.path)}
        if exc.hint:
            body["hint"] = exc.hint
        return JSONResponse(body, status_code=status, media_type=PROBLEM)

    def page(items: list[dict[str, Any]], offset: int, limit: int) -> Page:
        return Page(items=items[offset: offset + limit], total=len(items), offset=offset, limit=limit)

    @app.get("/api/v1/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "store_revision": mesh.store.current_revision()}

    @app.get("/api/v1/domains", response_model=Page)
    def domains(offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)) -> Page:
        return page([d.to_dict() for d in mesh.domains()], offset, limit)

    @app.get("/api/v1/products", response_model=Page)
    def products(domain: str | None = None, status: str | None = None, tag: str | None = None,
                 offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)) -> Page:
        return page([p.to_dict() for p in mesh.products(domain=domain, status=status, tag=tag)], offset, limit)

    @app.get("/api/v1/products/{fqn}")
    def product(fqn: str) -> dict[str, Any]:
        return mesh.product(fqn).to_dict()

    @app.get("/api/v1/products/{fqn}/schemas", response_model=Page)
    def schema_versions(fqn: str, offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)) -> Page:
        return page([v.to_dict() for v in mesh.schemas.history(fqn)], offset, limit)

    @app.get("/api/v1/products/{fqn}/schemas/{version}")
    def schema_version(fqn: str, version: int) -> dict[str, Any]:
        return mesh.schemas.get(fqn, version).to_dict()

    @app.post("/api/v1/schemas/check")
    def schema_check(body: SchemaCheckRequest) -> dict[str, Any]:
        from meshfabric.contracts import check_compatibility

        return check_compatibility(body.new, body.previous, body.mode, policy=body.policy).to_dict()

    @app.get("/api/v1/contracts", response_model=Page)
    def contracts(product: str | None = None, consumer: str | None = None,
                  offset: int = Query(0, ge=0), limit: int = Query(100, ge=1, le=1000)) -> Page:
        items = [c.to_dict() for c in mesh.contracts.list(product=product, consumer=consumer)]
        return page(items, offset, limit)

    @app.get("/api/v1/contracts/{contract_id}", responses={200: {"content": {"application/json": {},
                                                                            "application/yaml": {}}}})
    def contract(contract_id: str, request: Request) -> Response:
        found = mesh.contracts.get(contract_id)
        if "yaml" in request.headers.get("accept", ""):
            from meshfabric.contracts.odcs import dump_contract

            return Response(dump_contract(found), media_type="application/yaml")
        import json

        return Response(json.dumps(found.to_dict(), default=str), media_type="application/json")

    @app.get("/api/v1/events", response_model=Page)
    def events(event_type: str | None = Query(None, alias="type"), domain: str | None = None,
               correlation_id: str | None = None, after_seq: int = Query(0, ge=0),
               limit: int = Query(100, ge=1, le=1000)) -> Page:
        items = mesh.events.list(event_type=event_type, domain=domain, correlation_id=correlation_id,
                                 after_seq=after_seq, limit=limit)
        return Page(items=[e.to_dict() for e in items], total=len(items), offset=after_seq, limit=limit)

    @app.post("/api/v1/query", responses={200: {"content": {"application/json": {}, ARROW_STREAM: {}}}})
    def query(body: QueryRequest, request: Request) -> Response:
        start = time.perf_counter()
        result = mesh.query(body.sql, limit=body.limit)
        table = result.arrow()
        if ARROW_STREAM in request.headers.get("accept", ""):
            import pyarrow as pa

            sink = io.BytesIO()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            return Response(sink.getvalue(), media_type=ARROW_STREAM)
        import json

        payload = {"columns": table.column_names, "rows": [list(r.values()) for r in table.to_pylist()],
                   "row_count": table.num_rows, "seconds": round(time.perf_counter() - start, 4)}
        return Response(json.dumps(payload, default=str), media_type="application/json")

    from meshfabric.api import access_routes, lineage_routes, quality_routes, search_routes

    for module in (quality_routes, lineage_routes, search_routes, access_routes):
        app.include_router(module.router)
    return app
