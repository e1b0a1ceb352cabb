"""Response bodies of the access routes: audit, principals, roles, groups, grants, policies
(see ``api.models``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from meshfabric.api.models import Number, Timestamp


class AuditEntry(BaseModel):
    id: int
    at: Timestamp
    principal: str
    action: str
    resource: str
    decision: str = Field(..., description="allowed, denied or error")
    reason: str
    policy_version: int
    sql_fingerprint: str
    rows: int | None
    latency_ms: Number | None


class Principal(BaseModel):
    name: str
    kind: str = Field(..., description="user or service")
    groups: list[str]
    roles: list[str] = Field(..., description="its own roles and its groups'")
    attributes: dict[str, Any] = Field(..., description="e.g. region, read by row filters")
    is_admin: bool = Field(..., description="administers the whole workspace")


class Role(BaseModel):
    name: str
    description: str
    assigned_to: list[str] = Field(..., description="user:<name> or group:<name>")


class Group(BaseModel):
    name: str
    description: str
    members: list[str]


class Grant(BaseModel):
    grantee_kind: str = Field(..., description="user, group or role")
    grantee: str
    resource_kind: str = Field(..., description="product or domain")
    resource: str
    permission: str = Field(..., description="discover, query, write or admin")
    granted_by: str
    created_at: Timestamp | None


class AppliedMask(BaseModel):
    column: str
    mask: str = Field(..., description="redact, null, hash, date_year, show_first_n:4, show_last_n:4, sql:<text>")
    policy: str
    rank: list[int]


class RowFilter(BaseModel):
    policy: str
    sql: str = Field(..., description="as written in the policy")


class EffectivePolicy(BaseModel):
    """The masks and row filter a principal gets on a product."""

    product: str
    principal: str
    exempt: bool = Field(..., description="a workspace admin: no mask, no filter")
    masks: list[AppliedMask]
    row_filters: list[RowFilter]
    row_filter: str | None = Field(..., description="the filters bound and combined, as DuckDB SQL")
