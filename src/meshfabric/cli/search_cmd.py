"""``search TEXT``: ranked full-text search over products, columns, tags and owners."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``search`` command."""
