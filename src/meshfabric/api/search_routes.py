"""REST endpoints of the search capability; included by ``meshfabric.api.app.create_app``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from meshfabric.api.deps import mesh_of, principal_of
from meshfabric.mesh import Mesh

router = APIRouter(tags=["search"])


class SearchMatch(BaseModel):
    field: str = Field(..., description="name, column, tag, owner, domain or description")
    snippet: str = Field(..., description="the matched text, HTML-escaped, matching words in <mark>")
    column: str | None = Field(None, description="the column, for a column match")


class SearchHitModel(BaseModel):
    fqn: str
    kind: str = Field(..., description="product or domain")
    domain: str
    name: str
    description: str
    owner: str
    tags: list[str]
    status: str
    score: float
    matched: list[SearchMatch]


class SearchPage(BaseModel):
    items: list[SearchHitModel]
    total: int
    offset: int
    limit: int
    query: str
    mode: str = Field(..., description="all (every word matched), any (some word) or browse (no words)")
    corrections: dict[str, str] = Field(..., description="query word -> the word it was read as")


@router.get("/api/v1/search", response_model=SearchPage)
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
) -> dict[str, Any]:
    """Ranked search over data products (and domains) the caller may discover."""
    results = mesh.search(q, user=user, domain=domain, tag=tag, owner=owner, classification=classification,
                          status=status, limit=limit, offset=offset)
    return results.to_dict()  # type: ignore[no-any-return]
