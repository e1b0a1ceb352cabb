"""Store tables of the access capability (see store/models.py for the shared Base and conventions).

Principals (users and service accounts), groups and their members, roles and who holds them,
grants of a permission on a domain or a product, the applied policy files with a version that
rises with every apply that changes them, and the audit log of every access decision.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Double, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meshfabric.store.models import Base, BigId, utcnow


class PrincipalRow(Base):
    __tablename__ = "access_principals"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    #: "user" or "service"
    kind: Mapped[str] = mapped_column(String(16))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupRow(Base):
    __tablename__ = "access_groups"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GroupMemberRow(Base):
    __tablename__ = "access_group_members"
    __table_args__ = (UniqueConstraint("group_name", "principal", name="uq_access_group_members"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_name: Mapped[str] = mapped_column(String(256))
    principal: Mapped[str] = mapped_column(String(256))


class RoleRow(Base):
    __tablename__ = "access_roles"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoleAssignmentRow(Base):
    """A role held by a principal or by every member of a group."""

    __tablename__ = "access_role_assignments"
    __table_args__ = (UniqueConstraint("role", "assignee_kind", "assignee", name="uq_access_role_assignments"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    role: Mapped[str] = mapped_column(String(256))
    #: "user" (any principal) or "group"
    assignee_kind: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GrantRow(Base):
    """``permission`` on a domain or a product for a user, a group or a role."""

    __tablename__ = "access_grants"
    __table_args__ = (
        UniqueConstraint("grantee_kind", "grantee", "resource_kind", "resource", "permission",
                         name="uq_access_grants"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    grantee_kind: Mapped[str] = mapped_column(String(16))
    grantee: Mapped[str] = mapped_column(String(256))
    #: "domain" or "product"
    resource_kind: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(130))
    permission: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PolicyRow(Base):
    """An applied ``kind: AccessPolicy`` document."""

    __tablename__ = "access_policies"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    file: Mapped[str] = mapped_column(String(1024), default="")
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PolicyVersionRow(Base):
    """One row per apply that changed the policies; the highest ``version`` is current."""

    __tablename__ = "access_policy_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    digest: Mapped[str] = mapped_column(String(64))
    policies: Mapped[list[Any]] = mapped_column(JSON, default=list)
    correlation_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditRow(Base):
    __tablename__ = "access_audit"
    __table_args__ = (
        Index("ix_access_audit_at", "at"),
        Index("ix_access_audit_principal_at", "principal", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    principal: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(32))
    resource: Mapped[str] = mapped_column(String(1024))
    #: "allowed" or "denied"
    decision: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    policy_version: Mapped[int] = mapped_column(Integer, default=0)
    sql_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Double, nullable=True)
