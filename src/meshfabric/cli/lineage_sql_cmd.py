"""``lineage sql FILE|-``: table and column lineage derived from SQL text."""

from __future__ import annotations

import typer


def register(lineage: typer.Typer) -> None:
    """Add the ``sql`` command to the ``lineage`` group."""
