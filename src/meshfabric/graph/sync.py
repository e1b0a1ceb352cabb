"""Keeps the metadata graph current by folding domain events in from a persisted offset."""

from __future__ import annotations

from meshfabric.store import Store


def sync_graph(store: Store) -> int:
    """Fold events after the graph's offset into the graph; returns how many were folded."""
    return 0
