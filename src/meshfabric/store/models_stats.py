"""Store table of the planner statistics cache (see store/models.py for the shared Base).

``product_statistics`` holds one row per product: the :class:`~meshfabric.connectors.base.TableStatistics`
its source's catalog gave last (JSON, values tagged so dates, decimals and timestamps come back
exactly: :func:`meshfabric.connectors.statistics.encode`), when they were taken and where from,
and the fingerprint of the output port and columns they describe, so an apply that changes the
port makes them invalid at once. A refresh that failed keeps the statistics it had and records
when and why (``attempted_at``, ``error``). :mod:`meshfabric.stats.service` writes it; the
query catalog reads it (``StoreCatalog.statistics``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from meshfabric.store.models import Base


class ProductStatisticsRow(Base):
    __tablename__ = "product_statistics"

    #: the product's canonical name, domain.name
    product: Mapped[str] = mapped_column(String(130), primary_key=True)
    #: sha256 of the output port and effective columns the statistics were taken for
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: the row count alone, for listing without decoding the document
    row_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: the encoded TableStatistics (None: never read successfully)
    statistics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: where the numbers come from ("postgres pg_stats", "parquet footer", ...)
    origin: Mapped[str] = mapped_column(String(200), default="")
    #: when the source's statistics were read (None: never)
    taken_at: Mapped[datetime | None] = mapped_column(nullable=True)
    #: when a refresh was last tried, and why it failed ("" when it did not)
    attempted_at: Mapped[datetime] = mapped_column()
    error: Mapped[str] = mapped_column(Text, default="")
