"""REST endpoints of the access capability; included by ``meshfabric.api.app.create_app``.

Principals, roles, grants, the effective policy of a principal on a product, and the audit log.
Reading them is for workspace admins (a principal may read itself); changes go through the CLI
or SDK, where the workspace's admins act.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from meshfabric.api.access_models import AuditEntry, EffectivePolicy, Grant, Group, Principal, Role
from meshfabric.api.deps import mesh_of, principal_of
from meshfabric.api.models import Page, page
from meshfabric.mesh import Mesh

router = APIRouter(tags=["access"])

_Offset = Query(0, ge=0, le=10**9, description="Items to skip")
_Limit = Query(100, ge=1, le=1000, description="Items per page")


@router.get("/api/v1/audit", response_model=Page[AuditEntry])
def audit_log(
    principal: str | None = Query(None, description="Only this principal"),
    action: str | None = Query(None, description="query, explain, discover, write, …"),
    decision: str | None = Query(None, description="allowed, denied or error"),
    since: datetime | None = Query(None, description="ISO 8601 time"),
    offset: int = _Offset, limit: int = _Limit,
    mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of),
) -> Any:
    """Every access decision, newest first (admins only)."""
    if since is not None and since.tzinfo is None:
        from datetime import UTC

        since = since.replace(tzinfo=UTC)
    filters: dict[str, Any] = {"user": principal, "action": action, "decision": decision, "since": since}
    entries = mesh.access.audit_log(**filters, limit=limit, offset=offset, acting=user)
    return page([e.to_dict() for e in entries], offset, limit, total=mesh.access.audit_count(**filters, acting=user))


@router.get("/api/v1/access/principals", response_model=Page[Principal])
def principals(offset: int = _Offset, limit: int = _Limit, mesh: Mesh = Depends(mesh_of),
               user: str | None = Depends(principal_of)) -> Any:
    """Users and service accounts with groups, roles and attributes (admins only)."""
    return page([p.to_dict() for p in mesh.access.principals(acting=user)], offset, limit)


@router.get("/api/v1/access/principals/{name}", response_model=Principal)
def principal(name: str, mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """One principal: yourself, or anyone for an admin."""
    return mesh.access.describe(name, acting=user).to_dict()


@router.get("/api/v1/access/roles", response_model=Page[Role])
def roles(offset: int = _Offset, limit: int = _Limit, mesh: Mesh = Depends(mesh_of),
          user: str | None = Depends(principal_of)) -> Any:
    """Roles and who holds them (admins only)."""
    return page(mesh.access.roles(acting=user), offset, limit)


@router.get("/api/v1/access/groups", response_model=Page[Group])
def groups(offset: int = _Offset, limit: int = _Limit, mesh: Mesh = Depends(mesh_of),
           user: str | None = Depends(principal_of)) -> Any:
    """Groups and their members (admins only)."""
    return page(mesh.access.groups(acting=user), offset, limit)


@router.get("/api/v1/access/grants", response_model=Page[Grant])
def grants(offset: int = _Offset, limit: int = _Limit, mesh: Mesh = Depends(mesh_of),
           user: str | None = Depends(principal_of)) -> Any:
    """Grants on domains and products (admins only)."""
    return page([g.to_dict() for g in mesh.access.grants(acting=user)], offset, limit)


@router.get("/api/v1/access/policy-test", response_model=EffectivePolicy)
def policy_test(principal: str = Query(..., description="Principal to evaluate"),
                product: str = Query(..., description="domain.product"),
                mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> Any:
    """The masks and row filter a principal gets on a product (admins only)."""
    return mesh.access.effective(principal, product, acting=user).to_dict()
