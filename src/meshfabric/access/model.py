"""The access layer's vocabulary: principals, permissions, grants, audit entries."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

#: permissions, weakest first: each implies those before it (admin ⊃ write ⊃ query ⊃ discover)
PERMISSIONS: tuple[str, ...] = ("discover", "query", "write", "admin")
PRINCIPAL_KINDS: tuple[str, ...] = ("user", "service")
GRANTEE_KINDS: tuple[str, ...] = ("user", "group", "role")


def level(permission: str) -> int:
    """``discover`` 1 … ``admin`` 4; 0 for nothing."""
    return PERMISSIONS.index(permission) + 1


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user or a service account, with its groups, roles (its own and its
    groups'), attributes (e.g. ``region``, used by row filters) and whether it administers the
    whole workspace."""

    name: str
    kind: str = "user"
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    is_admin: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["groups"], d["roles"] = list(self.groups), list(self.roles)
        return d


@dataclass(frozen=True)
class Grant:
    grantee_kind: str
    grantee: str
    resource_kind: str
    resource: str
    permission: str
    granted_by: str = ""
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["created_at"] = self.created_at.isoformat() if self.created_at else None
        return d


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    principal: str
    action: str
    resource: str
    decision: str
    reason: str
    policy_version: int
    sql_fingerprint: str
    rows: int | None
    latency_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat()
        return d
