"""Store tables of the OpenLineage ingestion (see store/models.py for the shared Base and conventions)."""

from __future__ import annotations

from meshfabric.store.models import Base, BigId, utcnow  # noqa: F401
