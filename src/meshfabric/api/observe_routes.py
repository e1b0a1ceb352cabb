"""SLOs and domain health over REST (``/api/v1/slos``, ``/api/v1/domains/{domain}/health``).

Both pass the request's principal to ``mesh.observe``, which decides ``quality.read`` per
product: a product the principal may not discover is simply not there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from meshfabric.api.deps import MAX_OFFSET, mesh_of, principal_of
from meshfabric.api.models import Number, Page, Timestamp, page
from meshfabric.mesh import Mesh

router = APIRouter(tags=["observability"])

SLOStatus = Literal["ok", "burning", "breached", "no_data"]


class ObjectiveStatus(BaseModel):
    """One objective judged over its window."""

    name: Literal["freshness", "quality", "availability", "latency"]
    objective: Number = Field(..., description="the share of good evaluations promised, e.g. 0.99")
    window: str = Field(..., description="the compliance window, e.g. 30d")
    origin: str = Field(..., description="product, domain, workspace or default")
    max_minutes: Number | None = None
    min_score: Number | None = None
    min_value: Number | None = None
    p95_ms: Number | None = None
    column: str | None = None
    status: SLOStatus
    evaluations: int
    good: int
    bad: int
    compliance: Number | None = Field(..., description="good / evaluations in the window; null without any")
    budget_remaining: Number | None = Field(..., description="1 - bad / allowed bad; negative: overspent")
    burn_rates: dict[str, Number | None] = Field(..., description="over 5m, 30m, 1h and 6h")
    alerts: list[str] = Field(..., description="burn-rate rules firing: page (1h & 5m > 14.4x), "
                                               "ticket (6h & 30m > 6x)")
    current: Number | None = Field(..., description="the newest measured value; null when withheld")
    note: str


class ProductSLOs(BaseModel):
    product: str
    domain: str
    every: str
    at: Timestamp
    status: SLOStatus
    objectives: list[ObjectiveStatus]


class QualityTrend(BaseModel):
    dates: list[str]
    scores: list[Number]
    trend: Literal["increasing", "stable", "decreasing"]


class SLOCompliance(BaseModel):
    metrics: dict[str, Number | None]
    overall_compliance: Number | None


class UsagePatterns(BaseModel):
    hours: list[int]
    usage: list[int] = Field(..., description="queries per hour of the day (UTC) over the period")
    peak_hour: int | None
    average_usage: Number


class Latency(BaseModel):
    p50: Number | None
    p95: Number | None
    unit: str
    trend: str


class Rate(BaseModel):
    value: Number | None
    unit: str
    trend: str | None = None
    errors: int | None = None


class Performance(BaseModel):
    query_latency: Latency
    throughput: Rate
    error_rate: Rate
    queries: int


class DomainHealth(BaseModel):
    """The seed's ``generate_domain_health_metrics``, from recorded data."""

    domain: str
    start: Timestamp
    end: Timestamp
    products: list[str]
    quality_trends: QualityTrend
    slo_compliance: SLOCompliance
    usage_patterns: UsagePatterns
    performance_metrics: Performance


@router.get("/api/v1/slos", response_model=Page[ProductSLOs])
def slos(domain: str | None = None, product: str | None = None,
         offset: int = Query(0, ge=0, le=MAX_OFFSET), limit: int = Query(100, ge=1, le=1000),
         mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """Each visible product's objectives: compliance, error budget remaining, burn rates, status."""
    found = mesh.observe.status(domain=domain, product=product, user=user)
    return page([p.to_dict() for p in found], offset, limit)


@router.get("/api/v1/domains/{domain}/health", response_model=DomainHealth)
def domain_health(domain: str, since: datetime | None = Query(None, description="default: 7 days before until"),
                  until: datetime | None = Query(None, description="default: now"),
                  mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """Quality trend, SLO compliance per objective, usage by hour and query performance of the
    domain's products the principal may discover."""
    return mesh.observe.health(domain, since=since, until=until, user=user)
