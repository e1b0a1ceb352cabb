"""The access layer: principals, roles, grants, policies (masks, row filters), enforcement on every
query path, and the audit log.

``mesh.access`` is an :class:`~meshfabric.access.service.AccessService`; ``Principal`` is what
authentication resolves a request to.
"""

from __future__ import annotations

from meshfabric.access.model import PERMISSIONS, AuditEntry, Grant, Principal

__all__ = ["PERMISSIONS", "AuditEntry", "Grant", "Principal"]
