"""Principals, roles, grants, policies and the audit log: ``users``, ``roles``, ``grants``,
``policy``, ``audit``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the access-control command groups."""
