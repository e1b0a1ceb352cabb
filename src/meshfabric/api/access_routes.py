"""REST endpoints of the access capability; included by ``meshfabric.api.app.create_app``.

Principals, roles, grants, the effective policy of a principal on a product, and the audit log.
Reading them is for workspace admins (a principal may read itself); changes go through the CLI
or SDK, where the workspace's admins act.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query

from meshfabric.api.deps import mesh_of, principal_of
from meshfabric.mesh import Mesh

router = APIRouter(tags=["access"])

_Offset = Query(0, ge=0, le=10**9, description="Items to skip")
_Limit = Query(100, ge=1, le=1000, description="Items per page")


def _page(items: list[dict[str, Any]], offset: int, limit: int, total: int | None = None) -> dict[str, Any]:
    if total is None:
        total, items = len(items), items[offset: offset + limit]
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.get("/api/v1/audit")
def audit_log(
    principal: str | None = Query(None, description="Only this principal"),
    action: str | None = Query(None, description="query, explain, discover, write, …"),
    decision: str | None = Query(None, description="allowed, denied or error"),
    since: datetime | None = Query(None, description="ISO 8601 time"),
    offset: int = _Offset, limit: int = _Limit,
    mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of),
) -> dict[str, Any]:
    """Every access decision, newest first (admins only)."""
    if since is not None and since.tzinfo is None:
        from datetime import UTC

        since = since.replace(tzinfo=UTC)
    filters: dict[str, Any] = {"user": principal, "action": action, "decision": decision, "since": since}
    entries = mesh.access.audit_log(**filters, limit=limit, offset=offset, acting=user)
    return _page([e.to_dict() for e in entries], offset, limit, mesh.access.audit_count(**filters, acting=user))


@router.get("/api/v1/access/principals")
def principals(offset: int = _Offset, limit: int = _Limit, mesh: Mesh = Depends(mesh_of),
               user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Users and service accounts with groups, roles and attributes (admins only)."""
    return _page([p.to_dict() for p in mesh.access.principals(acting=user)], offset, limit)


@router.get("/api/v1/access/principals/{name}")
def principal(name: str, mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """One principal: yourself, or anyone for an admin."""
    return mesh.access.describe(name, acting=user).to_dict()


@router.get("/api/v1/access/roles")
def roles(offset: int = _Offset, limit: int = _Limit, mesh: Mesh = Depends(mesh_of),
          user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Roles and who holds them (admins only)."""
    return _page(mesh.access.roles(acting=user), offset, limit)


@router.get("/api/v1/access/groups")
def groups(offset: int = _Offset, limit: int = _Limit, mesh: Mesh = Depends(mesh_of),
           user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Groups and their members (admins only)."""
    return _page(mesh.access.groups(acting=user), offset, limit)


@router.get("/api/v1/access/grants")
def grants(offset: int = _Offset, limit: int = _Limit, mesh: Mesh = Depends(mesh_of),
           user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """Grants on domains and products (admins only)."""
    return _page([g.to_dict() for g in mesh.access.grants(acting=user)], offset, limit)


@router.get("/api/v1/access/policy-test")
def policy_test(principal: str = Query(..., description="Principal to evaluate"),
                product: str = Query(..., description="domain.product"),
                mesh: Mesh = Depends(mesh_of), user: str | None = Depends(principal_of)) -> dict[str, Any]:
    """The masks and row filter a principal gets on a product (admins only)."""
    return mesh.access.effective(principal, product, acting=user).to_dict()
