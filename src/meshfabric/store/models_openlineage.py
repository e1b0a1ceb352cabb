"""Store tables of the OpenLineage ingestion (see store/models.py for the shared Base and conventions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from meshfabric.store.models import Base, BigId, utcnow


class OpenLineageEventRow(Base):
    """One OpenLineage event exactly as it was received (RunEvent, DatasetEvent or JobEvent).

    The lineage graph is derived from these rows; ``fingerprint`` (SHA-256 of the canonical JSON)
    makes a resent event — a client retrying after a timeout — a no-op instead of a second row.
    """

    __tablename__ = "openlineage_events"
    __table_args__ = (
        Index("ix_openlineage_events_run", "run_id", "event_time"),
        Index("ix_openlineage_events_job", "job_namespace", "job_name", "event_time"),
        Index("ix_openlineage_events_time", "event_time"),
        Index("ix_openlineage_events_fingerprint", "fingerprint", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: run | dataset | job — which of the three event schemas the event follows
    kind: Mapped[str] = mapped_column(String(16))
    #: START, RUNNING, COMPLETE, ABORT, FAIL, OTHER for RunEvents ('' when the event has none)
    event_type: Mapped[str] = mapped_column(String(16), default="")
    event_time: Mapped[datetime] = mapped_column()
    run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    job_namespace: Mapped[str | None] = mapped_column(String(512), nullable=True)
    job_name: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    #: the dataset of a DatasetEvent
    dataset_namespace: Mapped[str | None] = mapped_column(String(512), nullable=True)
    dataset_name: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    producer: Mapped[str] = mapped_column(String(2048))
    schema_url: Mapped[str] = mapped_column(String(2048))
    #: the authenticated principal that sent it (None: a server without authentication, or the SDK)
    principal: Mapped[str | None] = mapped_column(String(256), nullable=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    event: Mapped[dict[str, Any]] = mapped_column(JSON)
