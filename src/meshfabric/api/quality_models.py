"""Response bodies of the quality routes: rules, runs, profiles, alerts (see ``api.models``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from meshfabric.api.models import Number, Page, Timestamp
from meshfabric.spec.quality_rules import Rule


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
    silenced_until: Timestamp | None = Field(None, description="notifications are held back until this time "
                                                               "(whatever the status)")
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
