"""Spec models of observability: SLOs (product specs, domain and workspace defaults), alert
routing, tracing and metrics retention, and the event bus backend (``mesh.yaml``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ENV_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")


def check_duration(value: str) -> str:
    """``30s``, ``5m``, ``1h``, ``30d``, ``1w``."""
    if not _DURATION.match(str(value)):
        raise ValueError(f"'{value}' is not a duration: write a number and s, m, h, d or w (e.g. 30d)")
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Objective(_Spec):
    #: the share of evaluations in the window that must meet the threshold (0.99 = 99 %)
    objective: float = Field(0.99, gt=0, lt=1, description="share of good evaluations in the window, e.g. 0.99")
    window: str = Field("30d", description="the compliance window, e.g. 30d")

    _window = field_validator("window")(classmethod(lambda cls, v: check_duration(v)))


class FreshnessSLO(_Objective):
    """Minutes since the product's newest data, probed in its source."""

    max_minutes: float = Field(120, gt=0, description="data older than this is stale (seed default 120)")
    column: str | None = Field(None, description="the timestamp column that dates a row; default: the first "
                                                 "timestamp/date column of the schema")


class QualitySLO(_Objective):
    """The overall quality score of each quality run."""

    min_score: float = Field(0.95, ge=0, le=1, description="a run below this score is bad (seed default 0.95)")


class AvailabilitySLO(_Objective):
    """Probes that reach the product's source and read it."""

    objective: float = Field(0.999, gt=0, lt=1)


class LatencySLO(_Objective):
    """The p95 latency of queries over the product, per evaluation interval."""

    p95_ms: float = Field(1000, gt=0, description="queries slower than this at p95 are bad")


class SLOsSpec(_Spec):
    """``slos:`` of a product spec, of a domain in mesh.yaml, or of the workspace (``slos:`` at
    the top of mesh.yaml): the most specific one wins per objective."""

    freshness: FreshnessSLO | None = None
    quality: QualitySLO | None = None
    availability: AvailabilitySLO | None = None
    latency: LatencySLO | None = None
    every: str = Field("5m", description="how often probes and evaluations run for the product")

    _every = field_validator("every")(classmethod(lambda cls, v: check_duration(v)))


class SmtpSpec(_Spec):
    """The mail server alerts are sent through."""

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    sender: str = Field("meshfabric@localhost", description="the From address")
    username: str | None = None
    password: str | None = Field(None, description="as ${ENV_VAR}: never a literal in a spec")
    starttls: bool = False
    timeout: float = Field(10, gt=0)

    @field_validator("password")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_ONLY.match(value):
            raise ValueError("write the SMTP password as ${ENV_VAR}, not as a literal")
        return value


class AlertRouteSpec(_Spec):
    """Where alerts of some domains and severities go: a webhook (JSON, or Slack-compatible
    ``{"text": …}``) and/or e-mail recipients."""

    domains: list[str] = Field(default_factory=list, description="empty: every domain")
    min_severity: Literal["low", "medium", "high", "critical"] = "low"
    webhook: str | None = None
    format: Literal["json", "slack"] = "json"
    email: list[str] = Field(default_factory=list)
    attempts: int = Field(3, ge=1, le=10, description="tries per target before the delivery is recorded as failed")
    backoff: float = Field(0.5, ge=0, le=60, description="seconds before the 2nd attempt; doubles each time")
    timeout: float = Field(5.0, gt=0, le=120, description="seconds per webhook attempt")

    @model_validator(mode="after")
    def _somewhere(self) -> AlertRouteSpec:
        if not self.webhook and not self.email:
            raise ValueError("a route needs a 'webhook' or 'email' recipients")
        return self


class TracingSpec(_Spec):
    exporter: Literal["none", "console", "otlp"] = "none"
    endpoint: str | None = Field(None, description="OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318/v1/traces")
    service_name: str = "meshfabric"


class ObservabilitySpec(_Spec):
    """``observability:`` in mesh.yaml."""

    tracing: TracingSpec = Field(default_factory=TracingSpec)
    retention: str = Field("90d", description="how long raw metric points are kept")
    downsample_after: str = Field("2d", description="older points are kept as hourly aggregates")
    routes: list[AlertRouteSpec] = Field(default_factory=list, description="where SLO and product alerts go")
    smtp: SmtpSpec | None = None

    _durations = field_validator("retention", "downsample_after")(classmethod(lambda cls, v: check_duration(v)))


class EventsSpec(_Spec):
    """``events:`` in mesh.yaml: where committed domain events are relayed besides the store."""

    backend: Literal["store", "nats"] = "store"
    url: str = "nats://127.0.0.1:4222"
    stream: str = Field("MESHFABRIC", description="the JetStream stream holding meshfabric.> subjects")
    subject_prefix: str = "meshfabric"
