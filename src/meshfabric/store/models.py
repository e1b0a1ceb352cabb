"""SQLAlchemy tables of the metadata store.

Everything that matters is a row here: sources, domains, products, and the append-only event
log with each subscriber's offset and its dead letters. Alembic migrations in
``store/migrations`` create and evolve these tables; the models are their single definition.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}  # noqa: RUF012


class SourceRow(Base):
    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    #: the spec as written: ${ENV} references unresolved, so no secret is ever stored
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DomainRow(Base):
    __tablename__ = "domains"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    owners: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProductRow(Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("domain", "name", name="uq_products_domain_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    domain: Mapped[str] = mapped_column(String(64), ForeignKey("domains.name"))
    name: Mapped[str] = mapped_column(String(64))
    owner: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    #: the product spec document as applied
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64))
    #: the effective schema: declared columns, or the source's when the spec declares none
    columns: Mapped[list[Any]] = mapped_column(JSON)
    #: spec file path relative to the workspace root
    file: Mapped[str] = mapped_column(String(1024), default="")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_type", "event_type"),
        Index("ix_events_domain", "domain"),
        Index("ix_events_correlation", "correlation_id"),
        Index("ix_events_timestamp", "timestamp"),
    )

    #: global order of the log; subscribers track their offset in it
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    event_type: Mapped[str] = mapped_column(String(128))
    domain: Mapped[str | None] = mapped_column(String(64), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    timestamp: Mapped[datetime] = mapped_column()
    correlation_id: Mapped[str] = mapped_column(String(64))
    causation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class SubscriberOffsetRow(Base):
    __tablename__ = "subscriber_offsets"

    subscriber: Mapped[str] = mapped_column(String(256), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeadLetterRow(Base):
    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("subscriber", "event_id", name="uq_dead_letters_sub_event"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscriber: Mapped[str] = mapped_column(String(256))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SchemaVersionRow(Base):
    """One registered version of a product's schema (tabular columns or a JSON Schema)."""

    __tablename__ = "schema_versions"
    __table_args__ = (UniqueConstraint("product", "version", name="uq_schema_versions_product_version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product: Mapped[str] = mapped_column(String(130))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # tabular | json
    schema: Mapped[dict[str, Any]] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: the compatibility mode the version was checked under
    mode: Mapped[str] = mapped_column(String(32))
    #: the product version (semver from the spec) this schema came with
    product_version: Mapped[str] = mapped_column(String(64), default="")
    deprecated: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContractRow(Base):
    """A data contract between a producer product and a consumer domain, as its ODCS document."""

    __tablename__ = "contracts"
    __table_args__ = (Index("ix_contracts_product", "product"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product: Mapped[str] = mapped_column(String(130))
    consumer: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    valid_from: Mapped[datetime | None] = mapped_column(nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(nullable=True)
    #: the workspace file it was applied from ('' when stored through the CLI/SDK)
    file: Mapped[str] = mapped_column(String(1024), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContractViolationRow(Base):
    __tablename__ = "contract_violations"
    __table_args__ = (Index("ix_contract_violations_contract", "contract_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contract_id: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(128))
    actual: Mapped[float | None] = mapped_column(nullable=True)
    threshold: Mapped[str] = mapped_column(String(256))
    operator: Mapped[str] = mapped_column(String(64))
    measured_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QualityRunRow(Base):
    """One run of a product's quality rules."""

    __tablename__ = "quality_runs"
    __table_args__ = (Index("ix_quality_runs_product_started", "product", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product: Mapped[str] = mapped_column(String(130))
    #: passed | failed (an error-severity rule failed) | error (the run itself could not finish)
    status: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(nullable=True)
    dimension_scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rules_total: Mapped[int] = mapped_column(Integer, default=0)
    rules_failed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    queries: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(default=0.0)
    correlation_id: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class QualityResultRow(Base):
    """One rule's outcome in one run."""

    __tablename__ = "quality_results"
    __table_args__ = (Index("ix_quality_results_run", "run_id"), Index("ix_quality_results_product", "product"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigInteger)
    product: Mapped[str] = mapped_column(String(130))
    rule: Mapped[str] = mapped_column(String(256))
    rule_type: Mapped[str] = mapped_column(String(64))
    column: Mapped[str] = mapped_column(String(256), default="")
    dimension: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    passed: Mapped[bool] = mapped_column()
    observed: Mapped[float | None] = mapped_column(nullable=True)
    threshold: Mapped[str] = mapped_column(String(512), default="")
    failing_rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    total_rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sample: Mapped[list[Any]] = mapped_column(JSON, default=list)
    detail: Mapped[str] = mapped_column(Text, default="")
    measured_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetricPointRow(Base):
    """One point of a metric time series (every quality observation is one)."""

    __tablename__ = "metric_points"
    __table_args__ = (Index("ix_metric_points_series_ts", "series", "ts"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: e.g. "sales.orders/completeness/customer_id" — the unit a detector watches
    series: Mapped[str] = mapped_column(String(512))
    product: Mapped[str] = mapped_column(String(130), default="")
    metric: Mapped[str] = mapped_column(String(128))
    value: Mapped[float] = mapped_column()
    ts: Mapped[datetime] = mapped_column()


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_series", "series"), Index("ix_alerts_dedup", "dedup_key"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    series: Mapped[str] = mapped_column(String(512))
    product: Mapped[str] = mapped_column(String(130), default="")
    detector: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(nullable=True)
    expected: Mapped[float | None] = mapped_column(nullable=True)
    score: Mapped[float | None] = mapped_column(nullable=True)
    message: Mapped[str] = mapped_column(Text)
    #: open | acknowledged | resolved
    status: Mapped[str] = mapped_column(String(16), default="open")
    dedup_key: Mapped[str] = mapped_column(String(512))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    ts: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: the principal who acknowledged / resolved it (None: not yet, or resolved by the monitor)
    acknowledged_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: the latest note given with an acknowledgement or a resolution
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: no notification is sent for the alert before this time (it still opens, repeats, resolves)
    silenced_until: Mapped[datetime | None] = mapped_column(nullable=True)


class AlertDeliveryRow(Base):
    """One attempt series to deliver an alert to one target (a webhook URL)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_alert", "alert_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(BigInteger)
    target: Mapped[str] = mapped_column(String(1024))
    #: delivered | failed
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: webhook | slack | email
    channel: Mapped[str] = mapped_column(String(16), default="webhook", server_default="webhook")
    #: every attempt: [{"at": iso, "status": "delivered"|"failed", "http_status": int|None, "error": str}]
    attempt_log: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)


# Tables of later capabilities live in modules of their own; importing them here puts them in
# Base.metadata, the single definition Alembic migrations are checked against.
from meshfabric.store import (  # noqa: E402, F401
    models_access,
    models_auth,
    models_graph,
    models_observe,
    models_openlineage,
    models_search,
    models_stats,
)
