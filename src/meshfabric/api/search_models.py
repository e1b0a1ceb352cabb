"""Response bodies of the search route (see ``api.models``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from meshfabric.api.models import Page


class SearchMatch(BaseModel):
    field: str = Field(..., description="name, column, tag, owner, domain or description")
    snippet: str = Field(..., description="the matched text, HTML-escaped, matching words in <mark>")
    column: str | None = Field(None, description="the column, for a column match")


class SearchHit(BaseModel):
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


class SearchResults(Page[SearchHit]):
    query: str
    mode: str = Field(..., description="all (every word matched), any (some word) or browse (no words)")
    corrections: dict[str, str] = Field(..., description="query word -> the word it was read as")
    total_exact: bool = Field(True, description="false when more products matched than were counted: "
                                                "total is then a lower bound")
    truncated: list[str] = Field(default_factory=list,
                                 description="query words with more completions than a prefix search reads")
