"""The access layer: principals, roles, grants, policies (masks, row filters), enforcement on every
query path, and the audit log."""

from __future__ import annotations
