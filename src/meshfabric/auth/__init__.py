"""Authentication for the REST API: JWT bearer tokens and hashed API keys."""

from __future__ import annotations
