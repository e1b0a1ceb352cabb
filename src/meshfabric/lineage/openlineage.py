"""OpenLineage ingestion: validate RunEvents, DatasetEvents and JobEvents against the spec, keep
them raw, and fold them into the lineage graph."""

from __future__ import annotations
