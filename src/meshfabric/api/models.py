"""The response bodies of the REST API, as pydantic models — those every capability shares
(pages, problem documents, times and numbers) and the catalog's; each capability router has its
own module of models (``quality_models``, ``lineage_models``, ``search_models``,
``access_models``). The OpenAPI document (``/openapi.json``) is generated from them, and every
JSON answer is validated against its model on the way out.

The models describe what the services' ``to_dict()`` already put on the wire, byte for byte, so
they hold two habits a plain translation of the dataclasses would not:

* times are ``Timestamp`` strings, not ``datetime``: the services write ``isoformat()``
  (``+00:00``, or no offset for the catalog's naive times) and pydantic would rewrite them as ``Z``;
* measured values are ``Number`` (``int | float``): a ``float`` field turns a count of 5 into 5.0.

That is also why the service dataclasses are not used as the schema directly (pydantic takes
them, with the two rewrites above). Bodies that are open by nature — OpenLineage events and
facets, node ``properties``, profile values, principal attributes, event ``data`` — stay
``dict[str, Any]`` or ``Any``; a route that may leave a key out of a body sets
``response_model_exclude_unset`` so that a key absent from the service's dict stays absent.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from meshfabric.spec.models import ColumnSpec, OutputPort

T = TypeVar("T")

#: an ISO 8601 time as the service wrote it (``isoformat()``)
Timestamp = Annotated[str, Field(description="ISO 8601 time")]
#: a measured number, an integer kept an integer
Number = int | float


class Page(BaseModel, Generic[T]):
    """One page of a list: the items, how many there are in all, and where the page starts."""

    items: list[T]
    total: int
    offset: int
    limit: int


def page(items: list[Any], offset: int, limit: int, *, total: int | None = None) -> dict[str, Any]:
    """The body of a :class:`Page`: with ``total``, ``items`` is the page already; without, it
    is the whole list, cut here."""
    if total is None:
        total, items = len(items), items[offset: offset + limit]
    return {"items": items, "total": total, "offset": offset, "limit": limit}


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``): every error of the API."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(..., description="https://meshfabric.dev/problems/<ErrorClass or status>")
    title: str
    status: int
    detail: str
    instance: str = Field(..., description="the request path")
    hint: str | None = Field(None, description="what to do about it, when meshfabric knows")
    errors: list[dict[str, Any]] | None = Field(None, description="each invalid part of the request: "
                                                "{loc, msg, type} (422) or {path, message} (OpenLineage)")


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    store_revision: str | None = Field(..., description="the metadata store's schema migration")


# -- catalog ---------------------------------------------------------------------------------------


class Domain(BaseModel):
    name: str
    description: str
    owners: list[str]
    products: int = Field(..., description="how many products the domain holds")
    created_at: Timestamp
    updated_at: Timestamp


class Product(BaseModel):
    fqn: str = Field(..., description="domain.product")
    domain: str
    name: str
    owner: str
    description: str
    tags: list[str]
    status: str
    version: str
    revision: int = Field(..., description="bumped by every apply that changes the product")
    source: str
    output: OutputPort
    columns: list[ColumnSpec]
    file: str = Field(..., description="the spec file, relative to the workspace")
    created_at: Timestamp
    updated_at: Timestamp


class SchemaVersion(BaseModel):
    product: str
    version: int
    kind: Literal["tabular", "json"]
    schema_: Any = Field(..., alias="schema", description="a list of columns, or a JSON Schema document")
    fingerprint: str
    mode: str = Field(..., description="the compatibility mode it was checked under")
    product_version: str
    deprecated: bool
    created_at: Timestamp


class SchemaChange(BaseModel):
    type: str = Field(..., description="e.g. COLUMN_REMOVED, TYPE_NARROWED")
    path: str
    breaking: bool
    against: int = Field(..., description="the earlier schema (0 = the latest) it was found against")
    reason: str | None = None


class Compatibility(BaseModel):
    compatible: bool
    mode: str
    changes: list[SchemaChange]


class ContractSummary(BaseModel):
    id: str
    product: str
    consumer: str = Field(..., description="the consuming domain")
    version: str
    status: str
    valid_from: Timestamp | None
    valid_until: Timestamp | None
    updated_at: Timestamp


class ContractDocument(BaseModel):
    """An Open Data Contract Standard (ODCS) document, as stored; YAML with ``Accept: application/yaml``."""

    model_config = ConfigDict(extra="allow")


class Event(BaseModel):
    seq: int | None = Field(..., description="position in the event log: the cursor of ?after_seq=")
    id: str
    event_type: str
    domain: str | None
    data: dict[str, Any]
    timestamp: Timestamp
    correlation_id: str
    causation_id: str | None


class EventPage(Page[Event]):
    offset: int = Field(..., description="the after_seq cursor of this page")


class QueryResult(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    seconds: float
    truncated: bool = Field(False, description="more rows than a JSON answer carries (MESHFABRIC_MAX_JSON_ROWS): "
                                                "ask for Arrow to stream them all")
