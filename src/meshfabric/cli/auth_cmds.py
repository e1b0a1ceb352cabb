"""Credentials for the REST API: ``token create|revoke`` (JWT) and ``apikey create|list|revoke``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the credential command groups."""
