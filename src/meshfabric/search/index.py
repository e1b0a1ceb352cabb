"""Keeps the search index current by folding domain events in from a persisted offset."""

from __future__ import annotations

from meshfabric.store import Store


def sync_search(store: Store) -> int:
    """Fold events after the index's offset into the index; returns how many were folded."""
    return 0
