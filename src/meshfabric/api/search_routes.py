"""REST endpoints of the search capability; included by ``meshfabric.api.app.create_app``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from meshfabric.api.deps import mesh_of, principal_of
from meshfabric.api.search_models import SearchResults
from meshfabric.mesh import Mesh

router = APIRouter(tags=["search"])


@router.get("/api/v1/search", response_model=SearchResults)
def search(
    q: str = Query("", max_length=1000, description="Words to look for; typos are tolerated"),
    domain: str | None = None,
    tag: str | None = None,
    owner: str | None = None,
    classification: str | None = None,
    status: str | None = None,
    offset: int = Query(0, ge=0),
    limit: int = Query(20, ge=1, le=1000),
    mesh: Mesh = Depends(mesh_of),
    user: str | None = Depends(principal_of),
) -> Any:
    """Ranked search over data products (and domains) the caller may discover."""
    results = mesh.search(q, user=user, domain=domain, tag=tag, owner=owner, classification=classification,
                          status=status, limit=limit, offset=offset)
    return results.to_dict()
