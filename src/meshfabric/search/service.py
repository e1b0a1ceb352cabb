"""The search itself: candidates from the full-text index, typo correction, filters, access, ranking.

1. The index is brought up to date (:func:`sync_search`, a no-op when no event is new).
2. Every query word must match (as a word or the start of one) somewhere in a document.
3. When that finds fewer than :data:`FEW` hits, each query word the vocabulary does not hold is
   widened with the vocabulary words within edit distance 1 (words up to 4 letters) or 2, and
   the search runs again; when still nothing matches, any word may match (``mode: any``).
4. Filters and the access layer's verdict (products the user may not discover never appear),
   then ranking (:mod:`meshfabric.search.ranking`) and the page.

A query without any word (empty, or only punctuation) lists what the filters select, by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from meshfabric.errors import QueryError
from meshfabric.search.index import full_text, query_words, sync_search
from meshfabric.search.ranking import Group, Match, Scored, score
from meshfabric.search.text import distance, vocabulary_term
from meshfabric.spec.models import LIFECYCLE
from meshfabric.store.models_search import SearchDocumentRow, SearchTermRow

if TYPE_CHECKING:
    from meshfabric.access.service import AccessService
    from meshfabric.store import Store

#: fewer hits than this and typo correction is tried
FEW = 3
MAX_LIMIT = 1000
#: corrections kept per query word (the closest, then the most frequent)
MAX_CORRECTIONS = 3


@dataclass
class SearchHit:
    fqn: str
    kind: str
    domain: str
    name: str
    description: str
    owner: str
    tags: list[str]
    status: str
    score: float
    matched: list[Match] = field(default_factory=list)

    @property
    def matched_on(self) -> str:
        return ", ".join(m.label() for m in self.matched)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fqn": self.fqn, "kind": self.kind, "domain": self.domain, "name": self.name,
            "description": self.description, "owner": self.owner, "tags": self.tags, "status": self.status,
            "score": self.score, "matched": [m.to_dict() for m in self.matched],
        }


@dataclass
class SearchResults:
    query: str
    items: list[SearchHit]
    total: int
    offset: int
    limit: int
    #: all (every word matched) | any (some word matched) | browse (the query had no words)
    mode: str = "all"
    #: query word -> the vocabulary word it was read as, when typo correction was used
    corrections: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[SearchHit]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def fqns(self) -> list[str]:
        return [h.fqn for h in self.items]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query, "items": [h.to_dict() for h in self.items], "total": self.total,
            "offset": self.offset, "limit": self.limit, "mode": self.mode, "corrections": self.corrections,
        }


@dataclass(frozen=True)
class Filters:
    domain: str | None = None
    tag: str | None = None
    owner: str | None = None
    classification: str | None = None
    status: str | None = None

    @property
    def products_only(self) -> bool:
        return any(v is not None for v in (self.tag, self.classification, self.status))

    def keeps(self, row: SearchDocumentRow, visible: Visibility) -> bool:
        if row.kind == "product":
            if visible.products is not None and row.key not in visible.products:
                return False
        else:
            if self.products_only:
                return False
            if visible.domains is not None and row.key not in visible.domains:
                return False
        if self.tag is not None and self.tag.casefold() not in {str(t).casefold() for t in row.tags or []}:
            return False
        if self.classification is not None and self.classification.casefold() not in {
                str(c).casefold() for c in row.classifications or []}:
            return False
        if self.owner is not None:
            owners = {o.strip().casefold() for o in row.owner.split(",")}
            if self.owner.strip().casefold() not in owners:
                return False
        return True


@dataclass(frozen=True)
class Visibility:
    """What a user may discover: product fqns, and the domains holding one of them (None: all)."""

    products: set[str] | None = None
    domains: set[str] | None = None

    @classmethod
    def of(cls, products: set[str] | None) -> Visibility:
        return cls(products, None if products is None else {fqn.split(".", 1)[0] for fqn in products})


def visible_products(access: Any, user: str | None) -> set[str] | None:
    """The fqns ``user`` may discover, from the access layer; ``None`` when everything is visible."""
    found = access.visible_products(user)
    return None if found is None else set(found)


def _check(text: str, limit: int, offset: int, filters: Filters) -> None:
    if not isinstance(text, str):
        raise QueryError(f"the search text must be a string, not {type(text).__name__}")
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT} (got {limit})", hint="e.g. --limit 20")
    if offset < 0:
        raise QueryError(f"offset must be 0 or more (got {offset})")
    if filters.status is not None and filters.status not in LIFECYCLE:
        raise QueryError(f"unknown status '{filters.status}'", hint=f"use one of: {', '.join(LIFECYCLE)}")


def _candidates(session: Session, ids: set[int] | None, filters: Filters) -> list[SearchDocumentRow]:
    # the vocabulary terms of each document are for the index's bookkeeping, not for ranking
    stmt = select(SearchDocumentRow).options(defer(SearchDocumentRow.terms))
    if filters.domain is not None:
        stmt = stmt.where(SearchDocumentRow.domain == filters.domain)
    if filters.status is not None:
        stmt = stmt.where(SearchDocumentRow.status == filters.status)
    if ids is None:
        return list(session.scalars(stmt))
    found: list[SearchDocumentRow] = []
    ordered = sorted(ids)
    for i in range(0, len(ordered), 500):
        found.extend(session.scalars(stmt.where(SearchDocumentRow.id.in_(ordered[i: i + 500]))))
    return found


def _vocabulary(session: Session, visible: Visibility) -> set[str] | None:
    """The terms of the documents a principal may discover (None: every term): corrections
    drawn from a hidden product's words would spell out its name, columns and owners."""
    if visible.products is None:
        return None
    terms: set[str] = set()
    rows = session.execute(select(SearchDocumentRow.kind, SearchDocumentRow.key, SearchDocumentRow.terms))
    for kind, key, found in rows:
        shown = visible.products if kind == "product" else visible.domains or set()
        if key in shown:
            terms.update(str(t) for t in found or [])
    return terms


def _corrections(session: Session, word: str, vocabulary: set[str] | None = None) -> dict[str, float]:
    """Vocabulary words within the allowed edit distance of ``word``, with their quality, best
    first; only words in ``vocabulary`` when given."""
    if not vocabulary_term(word):
        return {}
    if (word in vocabulary) if vocabulary is not None else session.get(SearchTermRow, word) is not None:
        return {}
    allowed = 1 if len(word) <= 4 else 2
    term = SearchTermRow.term
    # a typo rarely changes both of the first two letters: keeping the first, the second, or
    # swapping them narrows the candidates in SQL before the edit distances are computed
    rows = session.execute(select(term, SearchTermRow.doc_count).where(
        SearchTermRow.length.between(len(word) - allowed, len(word) + allowed),
        or_(func.substr(term, 1, 1) == word[0], func.substr(term, 2, 1) == word[1],
            func.substr(term, 1, 2) == word[1] + word[0]),
    ))
    near = [(d, -count, term) for term, count in rows if (d := distance(word, term, allowed)) <= allowed]
    if vocabulary is not None:
        near = [n for n in near if n[2] in vocabulary]
    if not near:
        return {}
    closest = min(d for d, _, _ in near)
    picked = sorted(t for t in near if t[0] == closest)[:MAX_CORRECTIONS]
    return {term: 0.7 if d == 1 else 0.5 for d, _, term in picked}


def search(
    store: Store,
    access: AccessService,
    text: str,
    *,
    user: str | None = None,
    domain: str | None = None,
    tag: str | None = None,
    owner: str | None = None,
    classification: str | None = None,
    status: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> SearchResults:
    """Ranked search over products (and domains): names, columns, tags, owners, descriptions.

    >>> mesh.search("custmer emial", domain="crm").items[0].fqn   # doctest: +SKIP
    'crm.customers'
    """
    filters = Filters(domain, tag, owner, classification, status)
    _check(text, limit, offset, filters)
    sync_search(store)
    visible = Visibility.of(visible_products(access, user))
    words = query_words(text)
    fts = full_text(store)
    corrections: dict[str, str] = {}
    mode = "all"
    with store.read() as session:
        if not words:
            mode = "browse"
            rows = [r for r in _candidates(session, None, filters) if filters.keeps(r, visible)]
            rows.sort(key=lambda r: (r.kind != "product", r.key))
            hits = [_hit(r, 0.0, []) for r in rows]
            return SearchResults(text, hits[offset: offset + limit], len(hits), offset, limit, mode)
        groups = [Group(w, {w: 1.0}) for w in words]

        def run(every: bool) -> list[tuple[SearchDocumentRow, Scored]]:
            ids = fts.match(session, [list(g.accepted) for g in groups], every=every)
            found = []
            for row in _candidates(session, ids, filters):
                if not filters.keeps(row, visible):
                    continue
                scored = score(row, groups)
                # the index selects candidates; what counts is what the words of the document say
                if scored.matched and (scored.groups_matched == len(groups) if every else scored.score > 0):
                    found.append((row, scored))
            return found

        ranked = run(True)
        if len(ranked) < FEW:
            vocabulary = _vocabulary(session, visible)
            for g in groups:
                extra = _corrections(session, g.word, vocabulary)
                if extra:
                    corrections[g.word] = next(iter(extra))  # the closest, most frequent
                    g.accepted.update(extra)
            if corrections:
                ranked = run(True)
        if not ranked and len(groups) > 1:
            mode = "any"
            ranked = run(False)
    ranked.sort(key=lambda rs: (-rs[1].score, rs[0].kind != "product", rs[0].key))
    page = [_hit(row, scored.score, scored.matches) for row, scored in ranked[offset: offset + limit]]
    return SearchResults(text, page, len(ranked), offset, limit, mode, corrections)


def _hit(row: SearchDocumentRow, points: float, matches: list[Match]) -> SearchHit:
    return SearchHit(row.key, row.kind, row.domain, row.name, row.description, row.owner,
                     [str(t) for t in row.tags or []], row.status, points, matches)
