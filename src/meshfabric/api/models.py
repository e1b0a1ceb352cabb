"""The response bodies of the REST API, as pydantic models: the OpenAPI document (``/openapi.json``)
is generated from them, and every JSON answer is validated against its model on the way out.

The models describe what the services' ``to_dict()`` already put on the wire, byte for byte, so
they hold two habits a plain translation of the dataclasses would not:

* times are ``Timestamp`` strings, not ``datetime``: the services write ``isoformat()``
  (``+00:00``, or no offset for the catalog's naive times) and pydantic would rewrite them as ``Z``;
* measured values are ``Number`` (``int | float``): a ``float`` field turns a count of 5 into 5.0.

That is also why the service dataclasses are not used as the schema directly (pydantic takes
them, with the two rewrites above). Bodies that are open by nature — OpenLineage events and
facets, node ``properties``, profile values, principal attributes, event ``data`` — stay
``dict[str, Any]`` or ``Any``; a routes that may leave a key out of a body sets
``response_model_exclude_unset`` so that a key absent from the service's dict stays absent.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from meshfabric.spec.models import ColumnSpec, OutputPort
from meshfabric.spec.quality_rules import Rule

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


# -- quality ---------------------------------------------------------------------------------------


class QualityRules(Page[Rule]):
    """A product's quality rules as its spec writes them (the spec's rule models)."""


class RuleResult(BaseModel):
    """One rule's outcome; what it measured is null / empty for a principal who may not see it."""

    rule: str
    type: str
    columns: list[str]
    dimension: str
    severity: str
    passed: bool
    observed: Number | None
    threshold: str
    failing_rows: int | None
    total_rows: int | None = Field(..., description="the rows checked; null for rules judged as a whole")
    sample: list[Any] = Field(..., description="failing rows (at most 5)")
    detail: str
    metric: str
    extra: dict[str, Number] = Field(..., description="further observations, series {metric}.{key}")


class QualityRun(BaseModel):
    id: int | None
    product: str
    status: Literal["passed", "failed", "error"]
    score: Number | None = Field(..., description="null when the values it is computed from are withheld")
    dimension_scores: dict[str, Number]
    rules_total: int
    rules_failed: int
    error: str
    queries: int
    seconds: Number
    started_at: Timestamp
    finished_at: Timestamp
    correlation_id: str
    results: list[RuleResult]
    statements: list[str] | None = Field(None, description="the SQL sent (with ?statements=true)")


class TopValue(BaseModel):
    value: Any
    count: int


class ColumnProfile(BaseModel):
    """What one column looks like; fields that do not apply to its kind are null / empty."""

    name: str
    type: str
    kind: str = Field(..., description="numeric, string, temporal, boolean, identifier or other")
    count: int
    nulls: int
    null_pct: Number
    distinct: int | None
    min: Any
    max: Any
    mean: Number | None
    stddev: Number | None
    skewness: Number | None
    kurtosis: Number | None
    quantiles: dict[str, Number] = Field(..., description="p5, p25, p50, …")
    min_length: int | None
    max_length: int | None
    mean_length: Number | None
    top_values: list[TopValue]
    redacted: bool = Field(..., description="values withheld: the column is classified pii")


class Profile(BaseModel):
    product: str
    source: str
    dialect: str
    rows: int
    columns: list[ColumnProfile]
    statements: list[str]
    seconds: Number
    profiled_at: Timestamp


class Alert(BaseModel):
    """An alert of the monitor; ``value``, ``expected`` and ``score`` are null when withheld."""

    id: int
    series: str = Field(..., description="{product}/{metric}/{column}")
    product: str
    detector: str
    severity: str
    value: Number | None
    expected: Number | None
    score: Number | None
    message: str
    status: str = Field(..., description="open, acknowledged or resolved")
    occurrences: int
    ts: Timestamp = Field(..., description="the time of the point that fired last")
    created_at: Timestamp
    updated_at: Timestamp
    acknowledged_by: str | None
    acknowledged_at: Timestamp | None
    resolved_by: str | None
    resolved_at: Timestamp | None
    note: str
    metric: str
    column: str


class Delivery(BaseModel):
    """Delivering one alert to one webhook (all attempts together)."""

    id: int | None
    alert_id: int
    target: str
    status: str
    attempts: int
    http_status: int | None
    error: str
    created_at: Timestamp


class AlertDetail(Alert):
    deliveries: list[Delivery]


# -- lineage ---------------------------------------------------------------------------------------


class LineageNode(BaseModel):
    kind: str = Field(..., description="product, dataset, column, job, …")
    key: str
    name: str
    distance: int = Field(..., description="steps from the root")
    properties: dict[str, Any]


class NodeRef(BaseModel):
    kind: str
    key: str


class LineageEdge(BaseModel):
    src: NodeRef
    rel: str = Field(..., description="derived_from, has_column, reads, writes, …")
    dst: NodeRef
    properties: dict[str, Any]


class LineageWalk(BaseModel):
    """One walk: the root, a page of the nodes reached (nearest first) and the edges among them."""

    root: LineageNode
    direction: Literal["upstream", "downstream"]
    depth: int | None
    total: int
    limit: int
    offset: int
    nodes: list[LineageNode]
    edges: list[LineageEdge]


class LineageExport(BaseModel):
    """``/lineage/export?format=json``: both ways around the root; downstream distances are negative."""

    root: LineageNode
    depth: int | None
    nodes: list[LineageNode]
    edges: list[LineageEdge]


class ImpactProduct(BaseModel):
    product: str
    domain: str
    owner: str | None = None
    distance: int
    columns: list[str] = Field(..., description="its affected columns")


class ImpactDataset(BaseModel):
    dataset: str
    distance: int
    columns: list[str]


class ImpactContract(BaseModel):
    contract: str
    product: str
    consumer: str | None = None
    status: str | None = None
    version: str | None = None
    consumer_owners: list[str] = []


class Impact(BaseModel):
    """What a change to the root reaches downstream, in the products the principal may discover."""

    root: LineageNode
    products: list[ImpactProduct]
    datasets: list[ImpactDataset] = Field(..., description="affected datasets that are not mesh products")
    contracts: list[ImpactContract]
    owners: list[str]
    domains: list[str]
    columns: list[str]
    truncated: bool


class MarquezName(BaseModel):
    namespace: str
    name: str


class MarquezEdge(BaseModel):
    origin: str
    destination: str


class MarquezField(BaseModel):
    name: str
    type: str | None
    tags: list[Any]
    description: str | None


class MarquezDataset(BaseModel):
    id: MarquezName
    type: str
    name: str
    physicalName: str
    createdAt: str | None
    updatedAt: str | None
    namespace: str
    sourceName: str
    fields: list[MarquezField]
    tags: list[str]
    lastModifiedAt: str | None
    description: str | None
    facets: dict[str, Any] = Field(..., description="the latest OpenLineage dataset facets")


class MarquezRun(BaseModel):
    id: str
    createdAt: str | None
    updatedAt: str | None
    nominalStartTime: str | None
    nominalEndTime: str | None
    state: str | None
    startedAt: str | None
    endedAt: str | None
    durationMs: int | None
    facets: dict[str, Any]
    inputFacets: dict[str, Any]
    outputFacets: dict[str, Any]


class MarquezJob(BaseModel):
    id: MarquezName
    type: str
    name: str
    simpleName: str
    parentJobName: str | None
    createdAt: str | None
    updatedAt: str | None
    namespace: str
    inputs: list[MarquezName]
    outputs: list[MarquezName]
    location: str | None
    description: str | None
    latestRun: MarquezRun | None
    facets: dict[str, Any]


class MarquezInputField(BaseModel):
    namespace: str
    dataset: str
    datasetVersion: str | None
    field: str
    transformationDescription: str | None
    transformationType: str | None
    transformations: list[dict[str, Any]]


class MarquezFieldData(BaseModel):
    namespace: str
    dataset: str
    datasetVersion: str | None
    field: str
    fieldType: str | None
    inputFields: list[MarquezInputField]


class _MarquezNode(BaseModel):
    id: str = Field(..., description="dataset:<ns>:<name>, job:<ns>:<name> or datasetField:<ns>:<name>:<field>")
    inEdges: list[MarquezEdge]
    outEdges: list[MarquezEdge]


class MarquezDatasetNode(_MarquezNode):
    type: Literal["DATASET"]
    data: MarquezDataset


class MarquezJobNode(_MarquezNode):
    type: Literal["JOB"]
    data: MarquezJob


class MarquezFieldNode(_MarquezNode):
    type: Literal["DATASET_FIELD"]
    data: MarquezFieldData


class MarquezGraph(BaseModel):
    """Marquez's lineage shape (``GET /api/v1/lineage`` and ``/api/v1/column-lineage`` of Marquez)."""

    graph: list[Annotated[MarquezDatasetNode | MarquezJobNode | MarquezFieldNode, Field(discriminator="type")]]


class IngestResult(BaseModel):
    """One OpenLineage event stored as row ``id``, or recognised as a ``duplicate`` of it."""

    id: int
    kind: Literal["run", "dataset", "job"]
    eventType: str | None
    eventTime: Timestamp
    runId: str | None
    job: str | None
    duplicate: bool


class LineageEventRecord(BaseModel):
    id: int
    receivedAt: Timestamp | None
    kind: Literal["run", "dataset", "job"]
    eventType: str | None
    eventTime: Timestamp | None
    runId: str | None
    job: MarquezName | None
    dataset: MarquezName | None
    producer: str | None
    schemaURL: str | None
    principal: str | None = Field(..., description="who sent it")
    event: dict[str, Any] = Field(..., description="the OpenLineage event exactly as received")


class SqlColumnInput(BaseModel):
    source: str = Field(..., description="table.column")
    type: str = Field(..., description="DIRECT or INDIRECT (OpenLineage's transformation type)")
    subtype: str
    masking: bool


class SqlColumn(BaseModel):
    target: str
    inputs: list[SqlColumnInput]


class SqlStatement(BaseModel):
    index: int
    kind: str
    sources: list[str]
    targets: list[str]
    columns: list[SqlColumn]
    dataset: list[SqlColumnInput] = Field(..., description="dataset-wide (indirect) dependencies")
    warnings: list[str]


class SqlLineage(BaseModel):
    sources: list[str]
    targets: list[str]
    columns: list[list[str]] = Field(..., description="[source_table.column, target_table.column] pairs")
    statements: list[SqlStatement] | None = Field(None, description="per statement, with detail=true")


# -- search ----------------------------------------------------------------------------------------


class SearchMatch(BaseModel):
    field: str = Field(..., description="name, column, tag, owner, domain or description")
    snippet: str = Field(..., description="the matched text, HTML-escaped, matching words in <mark>")
    column: str | None = Field(None, description="the column, for a column match")


class SearchHit(BaseModel):
    fqn: str
    kind: str = Field(..., description="product or domain")
    domain: str
    name: str
    description: str
    owner: str
    tags: list[str]
    status: str
    score: float
    matched: list[SearchMatch]


class SearchResults(Page[SearchHit]):
    query: str
    mode: str = Field(..., description="all (every word matched), any (some word) or browse (no words)")
    corrections: dict[str, str] = Field(..., description="query word -> the word it was read as")


# -- access ----------------------------------------------------------------------------------------


class AuditEntry(BaseModel):
    id: int
    at: Timestamp
    principal: str
    action: str
    resource: str
    decision: str = Field(..., description="allowed, denied or error")
    reason: str
    policy_version: int
    sql_fingerprint: str
    rows: int | None
    latency_ms: Number | None


class Principal(BaseModel):
    name: str
    kind: str = Field(..., description="user or service")
    groups: list[str]
    roles: list[str] = Field(..., description="its own roles and its groups'")
    attributes: dict[str, Any] = Field(..., description="e.g. region, read by row filters")
    is_admin: bool


class Role(BaseModel):
    name: str
    description: str
    assigned_to: list[str] = Field(..., description="user:<name> or group:<name>")


class Group(BaseModel):
    name: str
    description: str
    members: list[str]


class Grant(BaseModel):
    grantee_kind: str = Field(..., description="user, group or role")
    grantee: str
    resource_kind: str = Field(..., description="product or domain")
    resource: str
    permission: str = Field(..., description="discover, query, write or admin")
    granted_by: str
    created_at: Timestamp | None


class AppliedMask(BaseModel):
    column: str
    mask: str = Field(..., description="redact, null, hash, date_year, show_first_n:4, show_last_n:4, sql:<text>")
    policy: str
    rank: list[int]


class RowFilter(BaseModel):
    policy: str
    sql: str = Field(..., description="as written in the policy")


class EffectivePolicy(BaseModel):
    """The masks and row filter a principal gets on a product."""

    product: str
    principal: str
    exempt: bool = Field(..., description="a workspace admin: no mask, no filter")
    masks: list[AppliedMask]
    row_filters: list[RowFilter]
    row_filter: str | None = Field(..., description="the filters bound and combined, as DuckDB SQL")
