"""Response bodies of the lineage routes: walks, impact, Marquez's graph shape, OpenLineage
events and SQL lineage (see ``api.models``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from meshfabric.api.models import Timestamp


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


class EventWarning(BaseModel):
    """Where an event departs from a format the spec describes, and how."""

    path: str
    message: str


class IngestResult(BaseModel):
    """One OpenLineage event stored as row ``id``, or recognised as a ``duplicate`` of it."""

    id: int
    kind: Literal["run", "dataset", "job"]
    eventType: str | None
    eventTime: Timestamp
    runId: str | None
    job: str | None
    duplicate: bool
    warnings: list[EventWarning] = Field(default_factory=list,
                                         description="values the spec describes but does not oblige (e.g. a "
                                                     "dataSource uri that is not one): stored as sent")


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
