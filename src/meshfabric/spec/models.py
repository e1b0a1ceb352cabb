"""Pydantic models of the spec files: ``mesh.yaml`` and data product specs.

These models are the single definition of the spec format: the YAML loader validates with them,
the REST API returns them and ``meshfabric spec schema`` prints their JSON Schema for editors.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from meshfabric.spec.access_models import AccessSpec
from meshfabric.spec.auth_models import AuthSpec
from meshfabric.spec.observe_models import EventsSpec, ObservabilitySpec, SLOsSpec
from meshfabric.spec.quality_rules import Rule, validate_quality
from meshfabric.types import TypeParseError, parse_type

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
NAME_HINT = "use lower-case letters, digits and '_' and start with a letter (it is used in SQL as domain.product)"

#: a value that is exactly one ${ENV} reference, so no secret is written in a spec
_ENV_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$")
#: the password part of scheme://user:password@host
_URL_PASSWORD = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*:([^@]*)@")

SourceKind = Literal["postgres", "mysql", "sqlite", "duckdb", "files"]
Status = Literal["draft", "published", "deprecated", "retired"]
Compatibility = Literal[
    "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"
]
LIFECYCLE: tuple[str, ...] = ("draft", "published", "deprecated", "retired")


def check_name(value: str) -> str:
    if not NAME_RE.match(value):
        fixed = re.sub(r"[^a-z0-9_]+", "_", str(value).lower()).strip("_")[:63]
        better = f"; try '{fixed}'" if NAME_RE.match(fixed) else ""
        raise ValueError(f"'{value}' is not a valid name: {NAME_HINT}{better}")
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NetworkSpec(_Spec):
    """How far a source is from the query engine, for the cost-based planner. Unset values are
    measured: the throughput of the source's recent scans, the round trip of its connection."""

    bandwidth_mbps: float | None = Field(
        None, gt=0, description="megabits per second the engine reads from this source at")
    latency_ms: float | None = Field(None, ge=0, description="round trip of one statement, in milliseconds")


class SourceSpec(_Spec):
    """A place where data lives. Strings may reference ``${ENV_VAR}``; they are resolved only
    when connecting, so secrets never reach the store."""

    kind: SourceKind
    description: str = ""
    url: str | None = Field(None, description="postgresql://… or mysql://… (postgres, mysql)")
    host: str | None = None
    port: int | str | None = None
    database: str | None = None
    user: str | None = None
    password: str | None = None
    path: str | None = Field(None, description="database file (sqlite, duckdb) or root folder (files)")
    options: dict[str, Any] = Field(default_factory=dict)
    network: NetworkSpec | None = Field(
        None, description="the link to this source for the planner's costs (measured when unset)")

    @model_validator(mode="after")
    def _needs_location(self, info: ValidationInfo) -> SourceSpec:
        if self.kind in ("postgres", "mysql"):
            if not self.url and not (self.host or self.database):
                raise ValueError(f"a {self.kind} source needs 'url' or 'host' and 'database'")
        elif not self.path:
            raise ValueError(f"a {self.kind} source needs 'path'")
        if info.context and info.context.get("resolved"):
            return self  # ${ENV} already substituted, for connecting only
        if self.password and not _ENV_ONLY.match(self.password):
            raise ValueError("a literal password would be stored in the catalog: write it as ${ENV_VAR}")
        if self.url:
            m = _URL_PASSWORD.match(self.url)
            if m and m.group(1) and not _ENV_ONLY.match(m.group(1)):
                raise ValueError(
                    "the url holds a literal password, which would be stored in the catalog: "
                    "write it as ${ENV_VAR} (e.g. postgresql://reader:${PG_PASSWORD}@host/db)"
                )
        return self


class DomainSpec(_Spec):
    description: str = ""
    owners: list[str] = Field(default_factory=list)
    slos: SLOsSpec | None = Field(None, description="SLO defaults of the domain's products")


#: header names whose values are credentials: they must come from ${ENV} references
_SECRET_HEADER = re.compile(r"(?i)authorization|token|secret|api[-_]?key|password|cookie|signature")
_ENV_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")


def duration_seconds(text: str) -> float:
    """``30m``, ``1h``, ``1d``, ``1w`` as seconds.

    >>> duration_seconds("1d")
    86400.0
    """
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a duration: write a number and one of s, m, h, d, w (e.g. 1d)")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]


class WebhookSpec(_Spec):
    """An HTTP endpoint that receives each new (or escalated) alert as a JSON POST."""

    url: str = Field(..., description="http(s) URL; may be or contain ${ENV_VAR} references")
    headers: dict[str, str] = Field(default_factory=dict, description="credentials only as ${ENV_VAR}")
    timeout: float = Field(default=5.0, gt=0, le=120, description="seconds per attempt")
    attempts: int = Field(default=3, ge=1, le=10, description="tries before the delivery is recorded as failed")
    backoff: float = Field(default=0.5, ge=0, le=60, description="seconds before the 2nd attempt; doubles each time")
    min_severity: Literal["medium", "high"] = "medium"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        literal = _ENV_REF.sub("", value)
        if not _ENV_REF.search(value) and not literal.lower().startswith(("http://", "https://")):
            raise ValueError("a webhook url must start with http:// or https://")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if _SECRET_HEADER.search(name) and not _ENV_REF.search(str(text)):
                raise ValueError(f"header '{name}' holds a credential: write it as ${{ENV_VAR}} "
                                 f"(e.g. 'Bearer ${{ALERTS_TOKEN}}') so it never sits in a spec file")
        return value


class DeviationDetectorSpec(_Spec):
    """A window detector (zscore, mad): alert when |score| > threshold, high severity above ``high``."""

    enabled: bool = True
    window: int = Field(default=100, ge=2, le=10000)
    min_points: int = Field(default=30, ge=2, description="warm-up: no alert before this many earlier points")
    threshold: float = Field(default=3.0, gt=0)
    high: float = Field(default=4.0, gt=0)

    @model_validator(mode="after")
    def _order(self) -> DeviationDetectorSpec:
        if self.high < self.threshold:
            raise ValueError("'high' must be at least 'threshold'")
        if self.min_points > self.window:
            raise ValueError("'min_points' cannot exceed 'window'")
        return self


def _mad_defaults() -> DeviationDetectorSpec:
    return DeviationDetectorSpec(threshold=3.5, high=5.0)


class SeasonalDetectorSpec(_Spec):
    """Same phase of earlier periods (``period: 1d`` = same hour on earlier days, ``7d`` = same weekday)."""

    enabled: bool = True
    period: str = "1d"
    seasons: int = Field(default=7, ge=1, le=100, description="how many earlier periods give references")
    tolerance: str | None = Field(
        default=None, description="how far a reference may sit from its phase; default period/48"
    )
    min_seasons: int = Field(default=3, ge=1)
    baseline: int = Field(default=72, ge=2, le=5000, description="recent residuals the verdict is judged against")
    min_baseline: int = Field(default=48, ge=2)
    baseline_periods: int = Field(default=3, ge=1, le=100)
    threshold: float = Field(default=4.0, gt=0)
    high: float = Field(default=6.0, gt=0)

    @field_validator("period", "tolerance")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            duration_seconds(value)
        return value

    @model_validator(mode="after")
    def _order(self) -> SeasonalDetectorSpec:
        if self.high < self.threshold:
            raise ValueError("'high' must be at least 'threshold'")
        if self.min_seasons > self.seasons:
            raise ValueError("'min_seasons' cannot exceed 'seasons'")
        if self.min_baseline > self.baseline:
            raise ValueError("'min_baseline' cannot exceed 'baseline'")
        return self


class DetectorsSpec(_Spec):
    zscore: DeviationDetectorSpec = Field(default_factory=DeviationDetectorSpec)
    mad: DeviationDetectorSpec = Field(default_factory=_mad_defaults)
    seasonal: SeasonalDetectorSpec = Field(default_factory=SeasonalDetectorSpec)


class AlertsSpec(_Spec):
    """``alerts:`` in mesh.yaml: how metric series are watched and where alerts go."""

    webhooks: list[WebhookSpec] = Field(default_factory=list)
    detectors: DetectorsSpec = Field(default_factory=DetectorsSpec)
    resolve_after: int = Field(
        default=10, ge=0, description="resolve an alert after this many normal points of its series (0: never)"
    )


#: a Spark master meshfabric can start a session against: local mode or a standalone cluster
_SPARK_MASTER = re.compile(r"^(local(\[(\*|[1-9][0-9]*)\])?|spark://[^\s/:]+(:[0-9]{1,5})?(,[^\s/:]+(:[0-9]{1,5})?)*)$")
#: Spark settings that fetch jars from the network when the session starts (nothing is downloaded at run time)
_SPARK_DOWNLOADS = ("spark.jars.packages", "spark.jars.repositories", "spark.jars.ivy", "spark.jars.ivySettings")


class SparkEngineSpec(_Spec):
    """``engine: {kind: spark, …}`` in mesh.yaml: queries run on Apache Spark (``meshfabric[spark]``)."""

    kind: Literal["spark"] = "spark"
    master: str = Field("local[2]", description="local, local[N], local[*] or spark://host:port (standalone)")
    conf: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Spark settings passed to the session (spark.executor.memory: 2g, …)")
    jars: list[str] = Field(
        default_factory=list, description="local JDBC driver jar files; default the Debian ones in /usr/share/java")
    connect_timeout: float = Field(10.0, gt=0, le=600, description="seconds to wait for the cluster's master")

    @field_validator("master")
    @classmethod
    def _master(cls, value: str) -> str:
        if not _SPARK_MASTER.match(value.strip()):
            raise ValueError(f"'{value}' is not a Spark master meshfabric can use: write local[2], local[*] "
                             "or spark://host:7077")
        return value.strip()

    @field_validator("conf")
    @classmethod
    def _no_downloads(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key in _SPARK_DOWNLOADS:
                raise ValueError(f"'{key}' would download jars when the session starts: list local jar files "
                                 "under 'jars' instead (nothing is downloaded at run time)")
        return value


def _engine(value: Any) -> Any:
    """``engine: spark`` is short for ``{kind: spark}``; ``duckdb`` stays the string."""
    if value == "spark":
        return {"kind": "spark"}
    if isinstance(value, dict) and value.get("kind") == "duckdb" and len(value) == 1:
        return "duckdb"
    return value


class MeshSpec(_Spec):
    """``mesh.yaml``: the workspace's name, store, sources and domains."""

    name: str
    description: str = ""
    store: str | None = Field(None, description="SQLAlchemy URL of the metadata store; default a SQLite file")
    sources: dict[str, SourceSpec] = Field(default_factory=dict)
    domains: dict[str, DomainSpec] = Field(default_factory=dict)
    alerts: AlertsSpec = Field(default_factory=AlertsSpec, description="anomaly detectors and alert webhooks")
    access: AccessSpec = Field(default_factory=AccessSpec, description="local principal, admins, policy files")
    auth: AuthSpec = Field(default_factory=AuthSpec, description="REST authentication: JWT and API keys")
    slos: SLOsSpec | None = Field(None, description="SLO defaults of every product (seed: freshness 120 min, "
                                                    "quality 0.95)")
    observability: ObservabilitySpec = Field(default_factory=ObservabilitySpec,
                                             description="tracing, metric retention, alert routes")
    events: EventsSpec = Field(default_factory=EventsSpec, description="the event bus besides the store log")
    engine: Literal["duckdb"] | SparkEngineSpec = Field(
        "duckdb", description="where queries run by default: duckdb (embedded) or {kind: spark, master: …}")

    @field_validator("engine", mode="before")
    @classmethod
    def _engine(cls, value: Any) -> Any:
        return _engine(value)

    @field_validator("sources", "domains")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            check_name(key)
        return value


class ColumnSpec(_Spec):
    name: str
    type: str
    nullable: bool = True
    description: str = ""
    classification: list[str] = Field(default_factory=list, description="e.g. [pii]")
    primary_key: bool = False
    default: Any = Field(None, description="value readers use when older data lacks the column")
    aliases: list[str] = Field(default_factory=list, description="former names: a rename keeps compatibility")

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        try:
            return str(parse_type(value))
        except TypeParseError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("classification", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class OutputPort(_Spec):
    """Where the product's data is served from: exactly one of table, path or sql."""

    source: str
    table: str | None = Field(None, description="table name, optionally schema-qualified")
    path: str | None = Field(None, description="file or glob below the files source's root")
    sql: str | None = Field(None, description="a SELECT over the source, in its dialect")
    format: Literal["parquet", "csv", "json"] | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _exactly_one(self) -> OutputPort:
        given = [k for k in ("table", "path", "sql") if getattr(self, k)]
        if len(given) != 1:
            found = " and ".join(f"'{k}'" for k in given) or "none of them"
            raise ValueError(f"an output port needs exactly one of 'table', 'path' or 'sql' (found {found})")
        return self


class ProductSpec(_Spec):
    """A data product spec file (``kind: DataProduct``)."""

    kind: Literal["DataProduct"] = "DataProduct"
    domain: str
    name: str
    owner: str
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    status: Status = "draft"
    version: str = "1.0.0"
    output: OutputPort
    columns: list[ColumnSpec] = Field(default_factory=list, alias="schema")
    compatibility: Compatibility = Field(
        "BACKWARD", description="how each new schema version must relate to earlier ones (Confluent's modes)"
    )
    json_schema: dict[str, Any] | None = Field(
        None, description="for JSON/event products: the JSON Schema (draft-07 or 2020-12) of each record"
    )
    quality: list[Rule] | None = Field(
        None, description="quality rules run inside the source by `meshfabric quality run` (see meshfabric.quality)"
    )
    slos: SLOsSpec | None = Field(None, description="service level objectives: freshness, quality, availability, "
                                                    "latency")

    _check_domain = field_validator("domain", "name")(classmethod(lambda cls, v: check_name(v)))

    @field_validator("columns")
    @classmethod
    def _unique_columns(cls, value: list[ColumnSpec]) -> list[ColumnSpec]:
        seen: set[str] = set()
        for col in value:
            if col.name.lower() in seen:
                raise ValueError(f"column '{col.name}' is declared twice")
            seen.add(col.name.lower())
        return value

    @field_validator("quality", mode="wrap")
    @classmethod
    def _quality(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        declared = [(c.name, c.type) for c in info.data.get("columns") or []]
        return validate_quality(value, handler, declared)

    @property
    def fqn(self) -> str:
        return f"{self.domain}.{self.name}"

    def to_doc(self) -> dict[str, Any]:
        """The spec as stored: JSON-able, aliases as written in YAML."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


SPEC_KINDS: dict[str, type[_Spec]] = {"DataProduct": ProductSpec}
