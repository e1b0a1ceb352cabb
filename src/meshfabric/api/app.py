"""The REST API: FastAPI, OpenAPI at /docs, errors as RFC 9457 problem+json.

Every route except ``/api/v1/health`` (and the OpenAPI document and its pages) requires a
credential — a JWT or an API key as ``Authorization: Bearer …``, or an API key as ``X-API-Key``
— checked by one dependency applied to every router, this module's and the capability routers
it includes. The authenticated principal's name goes to the SDK as ``user=``, and the access
layer decides what it may see. ``create_app(mesh, auth=False)`` serves as the workspace's local
principal; ``meshfabric serve --no-auth`` allows that on loopback addresses only.

Every error is a problem document (``application/problem+json``): meshfabric's own errors,
request validation (422), unknown routes (404), wrong methods (405) and, should a bug slip
through, a 500 that reveals nothing of the server. See docs/API.md.
"""

from __future__ import annotations

import io
import time
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from meshfabric import __version__
from meshfabric.api.deps import MAX_OFFSET, authenticate, mesh_of, principal_of
from meshfabric.api.models import (
    Compatibility,
    ContractDocument,
    ContractSummary,
    Domain,
    EventPage,
    Health,
    Page,
    Problem,
    Product,
    QueryResult,
    SchemaVersion,
    page,
)
from meshfabric.errors import ConfigError, MeshfabricError
from meshfabric.mesh import Mesh

PROBLEM = "application/problem+json"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
#: how an Arrow stream that failed after its first bytes ends: a continuation marker and the
#: length of a message (2 GiB - 1) that never follows, which every Arrow reader reports as a
#: truncated stream; a stream that ends well ends with Arrow's end-of-stream marker instead
ARROW_ABORTED = b"\xff\xff\xff\xff\xff\xff\xff\x7f"
PROBLEM_BASE = "https://meshfabric.dev/problems/"


#: the largest request body read, unless ``create_app(max_body_bytes=…)`` or the environment
#: variable MESHFABRIC_MAX_BODY_BYTES says otherwise (an OpenLineage event has its own bound)
MAX_BODY_BYTES = 16 * 1024 * 1024


class QueryRequest(BaseModel):
    sql: str = Field(..., max_length=1_000_000, description="One SELECT over products addressed as domain.product")
    limit: int | None = Field(None, ge=0, le=2**63 - 1, description="Return at most this many rows")
    engine: Literal["duckdb", "spark"] | None = Field(
        None, description="Where the query runs; default the workspace's engine (mesh.yaml engine:)")


class _BodyLimit:
    """ASGI middleware: a request whose body is larger than its bound is answered 413 — from its
    Content-Length before anything is read, or as soon as a streamed body passes the bound."""

    def __init__(self, app: Any, max_bytes: int, paths: dict[str, int]) -> None:
        self.app, self.max_bytes, self.paths = app, max_bytes, paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bound = self.paths.get(scope["path"], self.max_bytes)
        detail = (f"the request body is larger than {bound:,} bytes, the most this endpoint reads; "
                  "send less (e.g. a shorter query or fewer items per request)")
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > bound:
            response = problem(413, "content too large", detail, scope["path"], kind="ContentTooLarge")
            await response(scope, receive, send)
            return
        received = 0

        async def bounded() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > bound:
                    raise StarletteHTTPException(413, detail)
            return message

        await self.app(scope, bounded, send)


class _Tracing:
    """ASGI middleware: each HTTP request is a server span (when the process traces) that
    continues the caller's trace from a W3C ``traceparent`` header, with
    ``http.request.method``, ``url.path``, ``http.route`` and ``http.response.status_code``;
    the request's work (a query and its scans) nests under it. Without tracing: one lookup."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from meshfabric.observe.tracing import active_tracer

        tracer = active_tracer()
        if scope["type"] != "http" or tracer is None:
            await self.app(scope, receive, send)
            return
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind, Status, StatusCode

        carrier = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope.get("method", "GET")
        attributes = {"http.request.method": method, "url.path": scope.get("path", ""),
                      "url.scheme": scope.get("scheme", "http")}
        with tracer.start_as_current_span(method, context=extract(carrier), kind=SpanKind.SERVER,
                                          attributes=attributes) as span:

            async def traced_send(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    span.set_attribute("http.route", route)
                    span.update_name(f"{method} {route}")


def _native_telemetry_off() -> dict[str, Any]:
    """FastAPI ≥ 0.16x traces requests itself once OpenTelemetry is configured, and logs
    exception messages (which may quote values) as OpenTelemetry logs: :class:`_Tracing` is
    the one request span, so that is switched off where FastAPI offers it."""
    import inspect

    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}}


def _max_body_bytes(given: int | None) -> int:
    import os

    if given is not None:
        value: int | str = given
    else:
        value = os.environ.get("MESHFABRIC_MAX_BODY_BYTES", str(MAX_BODY_BYTES)).strip()
    if (isinstance(value, str) and not value.isdigit()) or int(value) < 1:
        raise ConfigError(f"the request body limit must be a positive number of bytes, not {value!r}",
                          hint="set MESHFABRIC_MAX_BODY_BYTES to e.g. 16777216, or leave it unset")
    return int(value)


#: rows a JSON query answer carries at most (MESHFABRIC_MAX_JSON_ROWS overrides): a larger
#: answer is cut and says so; Arrow answers stream every row
MAX_JSON_ROWS = 100_000


def _max_json_rows() -> int:
    import os

    value = os.environ.get("MESHFABRIC_MAX_JSON_ROWS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else MAX_JSON_ROWS


async def _cancel_when_gone(request: Request, token: Any, work: Any) -> Any:
    """Run ``work`` in a worker thread; if the client disconnects meanwhile, cancel it through
    ``token`` (its statements stop in the engine and the sources)."""
    import anyio

    async def watch() -> None:
        while True:
            await anyio.sleep(0.2)
            if await request.is_disconnected():
                token.cancel("the client disconnected")
                return

    outcome: dict[str, Any] = {}
    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            outcome["value"] = await anyio.to_thread.run_sync(work)
        except Exception as exc:  # re-raised below, not wrapped in the task group's ExceptionGroup
            outcome["error"] = exc
        finally:
            group.cancel_scope.cancel()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


async def _arrow_stream(stream: Any) -> Any:
    """A :class:`~meshfabric.query.result.QueryStream` as an Arrow IPC stream: each batch is read
    from the engine and written out in a worker thread as the client takes the previous one,
    so the server holds one batch at a time, never the result.

    The stream is closed (the engine's session released, the statement interrupted if it still
    runs) whichever way this ends: the last batch sent, the client gone (the generator is
    cancelled or closed), or a failure. A failure after the first bytes cannot change the
    status any more. Arrow's end-of-stream marker is then never sent; instead the body ends
    with :data:`ARROW_ABORTED`, the start of a message that never comes, so an Arrow reader
    fails ("expected to read ... bytes") rather than taking the rows so far for the result, and
    the error is raised, so the server cuts the connection before the chunked body's end
    (HTTP clients report an incomplete body).
    """
    import anyio
    import pyarrow as pa

    sink = io.BytesIO()
    batches = iter(stream)
    writer = pa.ipc.new_stream(sink, stream.schema)

    def taken() -> bytes:
        data = sink.getvalue()
        sink.seek(0)
        sink.truncate()
        return data

    def next_chunk() -> bytes | None:
        batch = next(batches, None)
        if batch is None:
            if not stream.exhausted:  # closed under us (the client went away)
                return None
            writer.close()  # the end-of-stream marker: only after the last batch
            return taken()
        writer.write_batch(batch)
        return taken()

    try:
        yield taken()  # the schema: the client knows the columns at once
        while not stream.exhausted:
            try:
                chunk = await anyio.to_thread.run_sync(next_chunk)
            except Exception:
                yield ARROW_ABORTED
                raise
            if chunk is None:
                return
            yield chunk
    finally:
        stream.close()


class ColumnIn(BaseModel):
    """One column of a tabular schema (further keys, e.g. ``description``, are kept)."""

    model_config = ConfigDict(extra="allow")
    name: str = Field(..., min_length=1, max_length=256)
    type: str = Field(..., min_length=1, max_length=256, description="a logical type, e.g. bigint, decimal(10,2)")
    nullable: bool = True
    aliases: list[str] = Field(default_factory=list, description="earlier names of this column")


class ColumnsIn(BaseModel):
    columns: list[ColumnIn]


#: a tabular schema (a list of columns, or {"columns": [...]}) or a JSON Schema document
SchemaIn = list[ColumnIn] | ColumnsIn | dict[str, Any] | bool


class SchemaCheckRequest(BaseModel):
    new: SchemaIn = Field(..., description="The new schema: a list of columns or a JSON Schema")
    previous: list[SchemaIn] = Field(..., min_length=1, max_length=100, description="Earlier schemas, latest first")
    mode: str = Field("BACKWARD", max_length=64, description="NONE, BACKWARD, FORWARD, FULL (+ _TRANSITIVE)")
    policy: Literal["strict", "lenient"] = "strict"


def _schema_doc(schema: Any) -> Any:
    """The plain document of a validated schema; a JSON Schema must itself be valid."""
    if isinstance(schema, list):
        return [c.model_dump(exclude_unset=False) for c in schema]
    if isinstance(schema, ColumnsIn):
        return {"columns": [c.model_dump() for c in schema.columns]}
    if isinstance(schema, dict):
        from jsonschema.exceptions import SchemaError
        from jsonschema.validators import validator_for

        try:
            validator_for(schema).check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.path) or "the root"
            raise ConfigError(f"not a valid JSON Schema at {where}: {exc.message}") from None
    return schema


def _status(exc: MeshfabricError) -> int:
    """The HTTP status of a meshfabric error: each error class carries its own."""
    return exc.http_status


def problem(status: int, title: str, detail: str, instance: str, *, kind: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem document."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + (kind or str(status)), "title": title, "status": status,
                            "detail": detail, "instance": instance, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _www_authenticate(exc: MeshfabricError) -> dict[str, str]:
    if getattr(exc, "missing", False):
        return {"WWW-Authenticate": 'Bearer realm="meshfabric"'}
    detail = exc.message.replace("\\", "").replace('"', "'")
    return {"WWW-Authenticate": f'Bearer realm="meshfabric", error="invalid_token", error_description="{detail}"'}


def _install_problem_handlers(app: FastAPI) -> None:
    from http import HTTPStatus

    @app.exception_handler(MeshfabricError)
    async def _meshfabric(request: Request, exc: MeshfabricError) -> JSONResponse:
        status = _status(exc)
        extra = {"hint": exc.hint} if exc.hint else {}
        headers = _www_authenticate(exc) if status == 401 else None
        return problem(status, exc.title, exc.message, request.url.path, kind=exc.__class__.__name__,
                       headers=headers, **extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem(422, "invalid request", f"the request does not match the API: {where}", request.url.path,
                       kind="RequestValidationError", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        try:
            title = HTTPStatus(exc.status_code).phrase.lower()
        except ValueError:
            title = "error"
        detail = exc.detail if isinstance(exc.detail, str) else title
        kind = None
        if exc.status_code == 413:
            title, kind = "content too large", "ContentTooLarge"
        elif exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):  # FastAPI's JSON parse
            detail = "the JSON body nests too deeply to be read"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}; the endpoints are listed at /docs"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem(exc.status_code, title, detail, request.url.path, kind=kind,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(RecursionError)
    async def _too_deep(request: Request, exc: RecursionError) -> JSONResponse:
        # only input nested beyond Python's stack gets here (e.g. a JSON Schema 900 levels deep)
        return problem(400, "input nested too deeply", "the request nests deeper than meshfabric can read",
                       request.url.path, kind="NestedTooDeeply", hint="flatten the nesting")

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # SQLite refuses to bind an integer beyond 64 bits: a number from the request that no
        # parameter bound caught (a router should bound its integers; this keeps it a 4xx)
        if "too large" in str(exc):
            return problem(400, "number out of range", "a number in the request is too large (at most 2^63-1)",
                           request.url.path, kind="NumberOutOfRange")
        return await _bug(request, exc)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        return problem(500, "internal error", "the server failed to handle this request; it is a bug in "
                       "meshfabric, please report it with the request that caused it", request.url.path)


def _document_problems(app: FastAPI) -> None:
    """Say in the OpenAPI document what every error is: a problem document. Each operation gets
    a ``default`` response with the :class:`Problem` schema, and the 422s FastAPI lists (with
    its ``HTTPValidationError``, which this API never sends) are problem documents too."""
    generate = app.openapi
    ref = {"$ref": "#/components/schemas/Problem"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            for operations in doc.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    for code, response in responses.items():
                        if code[0] in "45":
                            response["content"] = {PROBLEM: {"schema": ref}}
                    responses.setdefault("default", {"description": "An error: a problem document (RFC 9457)",
                                                     "content": {PROBLEM: {"schema": ref}}})
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(mesh: Mesh, *, auth: bool = True, max_body_bytes: int | None = None) -> FastAPI:
    """The API over ``mesh``. With ``auth`` (the default) every route but health requires a
    credential; key material from mesh.yaml's ``auth:`` is loaded now, so a bad configuration
    fails here rather than on the first request. A request body larger than ``max_body_bytes``
    (default: MESHFABRIC_MAX_BODY_BYTES, else :data:`MAX_BODY_BYTES`) is answered 413; an
    OpenLineage event keeps its own bound. The web UI is served at ``/`` (docs/UI.md), and
    ``/docs`` and ``/redoc`` load their assets from this server."""
    body_bound = _max_body_bytes(max_body_bytes)
    app = FastAPI(title="meshfabric", version=__version__,
                  description="Data products, their sources and federated SQL across domains. "
                              "Authenticate with a JWT or an API key (docs/API.md).",
                  docs_url=None, redoc_url=None, **_native_telemetry_off())
    app.state.mesh = mesh
    app.state.auth = None
    if auth:
        service = mesh.auth
        service.verifier  # noqa: B018  (load keys now: a bad configuration stops the server at start)
        app.state.auth = service
    _install_problem_handlers(app)
    _document_problems(app)
    secured = [Depends(authenticate)]

    public = APIRouter(tags=["health"])

    @public.get("/api/v1/health", response_model=Health)
    def health() -> Health:
        return Health(status="ok", version=__version__, store_revision=mesh.store.current_revision())

    app.include_router(public)
    app.include_router(_catalog_router(), dependencies=secured)
    app.include_router(_metrics_router(), dependencies=secured)

    from meshfabric.api import access_routes, lineage_routes, observe_routes, quality_routes, search_routes

    for module in (quality_routes, lineage_routes, search_routes, access_routes, observe_routes):
        app.include_router(module.router, dependencies=secured)
    from meshfabric.ui.web import mount_ui

    mount_ui(app)  # the web UI at /, and /docs and /redoc with local assets (docs/UI.md)
    app.add_middleware(_BodyLimit, max_bytes=body_bound,
                       paths={"/api/v1/lineage": max(body_bound, lineage_routes.MAX_EVENT_BYTES)})
    app.add_middleware(_Tracing)
    return app


def _metrics_router() -> APIRouter:
    router = APIRouter(tags=["observability"])

    # the Prometheus text exposition format; the credential needs metrics.read
    @router.get("/metrics", response_class=Response,
                responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics(mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Response:
        from meshfabric.observe.prometheus import CONTENT_TYPE

        return Response(mesh.metrics.scrape(user=user), media_type=CONTENT_TYPE)

    return router


Offset = Query(0, ge=0, le=MAX_OFFSET, description="Items to skip")
Limit = Query(100, ge=1, le=1000, description="Items per page")


def _catalog_router() -> APIRouter:
    router = APIRouter()
    Mesh_ = Depends(mesh_of)
    User = Depends(principal_of)

    @router.get("/api/v1/domains", response_model=Page[Domain], tags=["catalog"])
    def domains(offset: int = Offset, limit: int = Limit, mesh: Mesh = Mesh_, user: str | None = User) -> Any:
        return page([d.to_dict() for d in mesh.domains(user=user)], offset, limit)

    # a product's output port is stored without its unset keys: they stay out of the answer
    @router.get("/api/v1/products", response_model=Page[Product], response_model_exclude_unset=True,
                tags=["catalog"])
    def products(domain: str | None = None, status: str | None = None, tag: str | None = None,
                 offset: int = Offset, limit: int = Limit, mesh: Mesh = Mesh_, user: str | None = User) -> Any:
        found = mesh.products(domain=domain, status=status, tag=tag, user=user)
        return page([p.to_dict() for p in found], offset, limit)

    @router.get("/api/v1/products/{fqn}", response_model=Product, response_model_exclude_unset=True,
                tags=["catalog"])
    def product(fqn: str, mesh: Mesh = Mesh_, user: str | None = User) -> Any:
        return mesh.product(fqn, user=user).to_dict()

    @router.get("/api/v1/products/{fqn}/schemas", response_model=Page[SchemaVersion], tags=["schemas"])
    def schema_versions(fqn: str, offset: int = Offset, limit: int = Limit, mesh: Mesh = Mesh_,
                        user: str | None = User) -> Any:
        return page([v.to_dict() for v in mesh.schemas.history(fqn, user=user)], offset, limit)

    @router.get("/api/v1/products/{fqn}/schemas/{version}", response_model=SchemaVersion, tags=["schemas"])
    def schema_version(fqn: str, version: int = Path(..., ge=1, le=2**63 - 1), mesh: Mesh = Mesh_,
                       user: str | None = User) -> Any:
        return mesh.schemas.get(fqn, version, user=user).to_dict()

    # a change's ``reason`` is there only when it has one
    @router.post("/api/v1/schemas/check", response_model=Compatibility, response_model_exclude_unset=True,
                 tags=["schemas"])
    def schema_check(body: SchemaCheckRequest) -> Any:
        from meshfabric.contracts import check_compatibility

        new, previous = _schema_doc(body.new), [_schema_doc(p) for p in body.previous]
        try:
            return check_compatibility(new, previous, body.mode, policy=body.policy).to_dict()
        except MeshfabricError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            # the schemas passed validation but still hold something the comparison cannot read
            raise ConfigError(f"cannot compare these schemas: {exc.__class__.__name__}: {exc}",
                              hint="each column needs a name and a logical type; JSON Schemas must be valid") from None

    @router.get("/api/v1/contracts", response_model=Page[ContractSummary], tags=["contracts"])
    def contracts(product: str | None = None, consumer: str | None = None, offset: int = Offset,
                  limit: int = Limit, mesh: Mesh = Mesh_, user: str | None = User) -> Any:
        found = mesh.contracts.list(product=product, consumer=consumer, user=user)
        return page([c.to_dict() for c in found], offset, limit)

    # the document is returned as it is stored (JSON or, with Accept: application/yaml, YAML)
    @router.get("/api/v1/contracts/{contract_id}", tags=["contracts"], response_model=ContractDocument,
                responses={200: {"content": {"application/yaml": {"schema": {"type": "string"}}}}})
    def contract(contract_id: str, request: Request, mesh: Mesh = Mesh_, user: str | None = User) -> Response:
        found = mesh.contracts.get(contract_id, user=user)
        if "yaml" in request.headers.get("accept", ""):
            from meshfabric.contracts.odcs import dump_contract

            return Response(dump_contract(found), media_type="application/yaml")
        import json

        return Response(json.dumps(found.to_dict(), default=str), media_type="application/json")

    @router.get("/api/v1/events", response_model=EventPage, tags=["events"])
    def events(event_type: str | None = Query(None, alias="type"), domain: str | None = None,
               correlation_id: str | None = None,
               after_seq: int = Query(0, ge=0, le=2**63 - 1, description="Only events after this sequence (a cursor)"),
               limit: int = Limit, mesh: Mesh = Mesh_, user: str | None = User) -> Any:
        items = mesh.events.list(event_type=event_type, domain=domain, correlation_id=correlation_id,
                                 after_seq=after_seq, limit=limit, user=user)
        return {"items": [e.to_dict() for e in items], "total": len(items), "offset": after_seq, "limit": limit}

    # the JSON answer is written by json_dumps: exact numbers (decimals, big integers), NaN as null
    @router.post("/api/v1/query", tags=["query"], response_model=QueryResult,
                 responses={200: {"content": {ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}}}})
    async def query(body: QueryRequest, request: Request, mesh: Mesh = Mesh_, user: str | None = User) -> Response:
        """Run one SELECT. A JSON answer carries at most MESHFABRIC_MAX_JSON_ROWS rows (default
        100,000; ``truncated`` says when more were cut); ask for Arrow (``Accept:
        application/vnd.apache.arrow.stream``) to stream every row in batches. A client that
        goes away cancels its query, in the engine and in the sources."""
        from meshfabric.connectors.base import CancelToken

        start = time.perf_counter()
        arrow = ARROW_STREAM in request.headers.get("accept", "")
        cap = None if arrow else _max_json_rows()
        limit = body.limit
        if cap is not None and (limit is None or limit > cap):
            limit = cap + 1  # one more than the cap tells whether rows were cut
        token = CancelToken()
        if arrow:  # streamed from the engine: errors up to the first batch still get their status
            from fastapi.responses import StreamingResponse
            from starlette.background import BackgroundTask

            stream = await _cancel_when_gone(request, token, lambda: mesh.query(
                body.sql, limit=limit, user=user, engine=body.engine, cancel=token, stream=True))
            return StreamingResponse(_arrow_stream(stream), media_type=ARROW_STREAM,
                                     background=BackgroundTask(stream.close))
        result = await _cancel_when_gone(request, token, lambda: mesh.query(
            body.sql, limit=limit, user=user, engine=body.engine, cancel=token))
        table = result.arrow()
        from meshfabric.query.result import QueryResult as Rows
        from meshfabric.query.result import json_dumps

        truncated = cap is not None and table.num_rows > cap
        if truncated:
            table = table.slice(0, cap)
        payload = {"columns": table.column_names, "rows": Rows(table, result.stats).rows,
                   "row_count": table.num_rows, "seconds": round(time.perf_counter() - start, 4),
                   "truncated": truncated}
        return Response(json_dumps(payload), media_type="application/json")

    return router

