"""The search itself: typo correction, filters, access, and the top k from the postings.

1. The index is brought up to date (:func:`sync_search`, a no-op when no event is new).
2. Every query word must match (as a word, a form of its stem, or the start of a word) somewhere
   in a document.
3. When that finds fewer than :data:`FEW` hits, each query word the vocabulary does not hold is
   widened with the vocabulary words within edit distance 1 (words up to 4 letters) or 2, and
   the search runs again; when still nothing matches, any word may match (``mode: any``).
4. The page is the top ``offset + limit`` of the ranking (:mod:`meshfabric.search.ranking`),
   retrieved exactly from the impact-ordered postings (:mod:`meshfabric.search.retrieval`)
   with the filters and the access layer's verdict applied while reading (products the user may
   not discover never appear); only the page's documents are scored field by field, for their
   snippets. :func:`search_exhaustive` scores every matching document instead: the reference
   the retrieval must equal.

A query without any word (empty, or only punctuation) lists what the filters select, by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, defer

from meshfabric.errors import QueryError
from meshfabric.search.index import query_words, sync_search
from meshfabric.search.ranking import Group, Match, query_group, score
from meshfabric.search.retrieval import Outcome, Retrieval
from meshfabric.search.text import distance, vocabulary_term
from meshfabric.spec.models import LIFECYCLE
from meshfabric.store.models_search import MAX_WORD, SearchDocumentRow

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
            "fqn": self.fqn,
            "kind": self.kind,
            "domain": self.domain,
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "tags": self.tags,
            "status": self.status,
            "score": self.score,
            "matched": [m.to_dict() for m in self.matched],
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
    #: False when more documents matched than were counted (``total`` is then a lower bound)
    total_exact: bool = True
    #: query words matching more indexed words than are searched as their completions
    truncated: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[SearchHit]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def fqns(self) -> list[str]:
        return [h.fqn for h in self.items]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "items": [h.to_dict() for h in self.items],
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "mode": self.mode,
            "corrections": self.corrections,
            "total_exact": self.total_exact,
            "truncated": self.truncated,
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

    def keeps(self, row: Any, visible: Visibility) -> bool:
        """Whether a document (a search_documents row or anything with its attributes) passes."""
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
            str(c).casefold() for c in row.classifications or []
        }:
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
    #: the visible products as one hashable value (what the retrieval remembers its ordinals by)
    key: frozenset[str] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, products: set[str] | None) -> Visibility:
        if products is None:
            return cls(None, None)
        # a principal searching again has the same visible set: its domains are remembered
        key = frozenset(products)
        domains = _DOMAINS.get(key)
        if domains is None:
            domains = frozenset(fqn.partition(".")[0] for fqn in products)
            _DOMAINS[key] = domains
            while len(_DOMAINS) > 8:
                _DOMAINS.pop(next(iter(_DOMAINS)))
        return cls(products, set(domains), key)


#: visible products -> their domains (the last few visible sets)
_DOMAINS: dict[frozenset[str], frozenset[str]] = {}


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


def _visible_term(session: Session, term: str, visible: Visibility) -> bool:
    """Whether a document the principal may discover holds ``term`` (always, for everyone); a
    common word is looked for in its first few thousand documents only (then deemed hidden):
    a correction never spells out a hidden product's words, at a bounded cost."""
    if visible.products is None:
        return True
    rows = session.execute(
        text(
            "SELECT d.kind, d.key FROM search_postings p JOIN search_documents d "
            "ON d.ordinal = p.ordinal WHERE p.term = :t LIMIT 5000"
        ),
        {"t": term[:MAX_WORD]},
    )
    return any(key in (visible.products if kind == "product" else visible.domains or set()) for kind, key in rows)


def _corrections(session: Session, words: list[str], visible: Visibility) -> list[dict[str, float]]:
    """Per query word: vocabulary words within the allowed edit distance of it, with their
    quality, best first; only words of documents the principal may discover; nothing for a word
    the vocabulary holds (visibly). The candidates of every word are read in one statement."""
    parts, params = [], {}
    for i, word in enumerate(words):
        if not vocabulary_term(word):
            continue
        allowed = 1 if len(word) <= 4 else 2
        # a typo rarely changes both of the first two letters: keeping the first, the second, or
        # swapping them narrows the candidates in SQL before the edit distances are computed (the
        # word itself, when the vocabulary holds it, is among them)
        params.update(
            {
                f"lo{i}": len(word) - allowed,
                f"hi{i}": len(word) + allowed,
                f"a{i}": word[0],
                f"b{i}": word[1],
                f"ba{i}": word[1] + word[0],
            }
        )
        parts.append(
            f"SELECT {i}, term, doc_count FROM search_terms WHERE length BETWEEN :lo{i} AND :hi{i}"
            f" AND (substr(term, 1, 1) = :a{i} OR substr(term, 2, 1) = :b{i} OR substr(term, 1, 2) = :ba{i})"
        )
    found: list[list[tuple[str, int]]] = [[] for _ in words]
    if parts:
        for i, term, count in session.execute(text(" UNION ALL ".join(parts)), params).fetchall():
            found[int(i)].append((str(term), int(count)))
    return [_closest(session, word, rows, visible) for word, rows in zip(words, found, strict=True)]


def _closest(session: Session, word: str, rows: list[tuple[str, int]], visible: Visibility) -> dict[str, float]:
    if not rows or (any(term == word for term, _ in rows) and _visible_term(session, word, visible)):
        return {}
    allowed = 1 if len(word) <= 4 else 2
    # an edit adds at most one letter to a word's set of letters and takes at most one away:
    # a word whose letters differ in more than 2 × allowed is too far, without the distance
    letters, most = set(word), 2 * allowed
    near = sorted(
        (d, -count, term)
        for term, count in rows
        if term != word
        and len(letters.symmetric_difference(term)) <= most
        and (d := distance(word, term, allowed)) <= allowed
    )
    picked: list[tuple[int, int, str]] = []
    for candidate in near:
        if picked and (candidate[0] > picked[0][0] or len(picked) == MAX_CORRECTIONS):
            break
        if _visible_term(session, candidate[2], visible):
            picked.append(candidate)
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
    return _search(
        store, access, text, Filters(domain, tag, owner, classification, status), user, limit, offset, exhaustive=False
    )


def search_exhaustive(
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
    """:func:`search` scoring every document holding a query word with :func:`ranking.score`
    (slow: the reference the retrieval is checked against by tests and benchmarks/search.py)."""
    return _search(
        store, access, text, Filters(domain, tag, owner, classification, status), user, limit, offset, exhaustive=True
    )


def _search(
    store: Store,
    access: AccessService,
    text: str,
    filters: Filters,
    user: str | None,
    limit: int,
    offset: int,
    *,
    exhaustive: bool,
) -> SearchResults:
    _check(text, limit, offset, filters)
    sync_search(store)
    visible = Visibility.of(visible_products(access, user))
    words = query_words(text)
    corrections: dict[str, str] = {}
    mode = "all"
    need = offset + limit
    with store.read() as session:
        if not words:
            return _browse(session, text, filters, visible, limit, offset)
        groups = [query_group(w) for w in words]

        def run(every: bool) -> Outcome:
            if exhaustive:
                return _score_all(session, groups, filters, visible, every)
            return Retrieval(session, groups, filters, visible).top(need, every=every)

        found = run(True)
        if found.total < FEW:
            for g, extra in zip(groups, _corrections(session, [g.word for g in groups], visible), strict=True):
                if extra:
                    corrections[g.word] = next(iter(extra))  # the closest, most frequent
                    g.accepted.update(extra)
            if corrections:
                found = run(True)
        if not found.top and len(groups) > 1:
            mode = "any"
            found = run(False)
        page = found.top[offset : offset + limit]
        rows = {
            r.ordinal: r
            for r in session.scalars(
                select(SearchDocumentRow)
                .options(defer(SearchDocumentRow.terms))
                .where(SearchDocumentRow.ordinal.in_([d.ordinal for d in page]))
            )
        }
        hits = []
        for d in page:
            row = rows[d.ordinal]
            scored = score(row, groups)
            hits.append(_hit(row, scored.score, scored.matches))
    return SearchResults(
        text, hits, found.total, offset, limit, mode, corrections, found.total_exact, sorted(set(found.truncated))
    )


def _score_all(session: Session, groups: list[Group], filters: Filters, visible: Visibility, every: bool) -> Outcome:
    """Every document holding a word one of the groups accepts (or starts with), scored."""
    from meshfabric.search.retrieval import Doc

    retrieval = Retrieval(session, groups, filters, visible)
    terms = sorted(set().union(*retrieval.mults))
    ordinals: set[int] = set()
    for i in range(0, len(terms), 200):
        ordinals.update(
            session.scalars(
                text("SELECT ordinal FROM search_postings WHERE term IN :t").bindparams(_expanding("t")),
                {"t": terms[i : i + 200]},
            )
        )
    stmt = select(SearchDocumentRow).options(defer(SearchDocumentRow.terms))
    if filters.domain is not None:
        stmt = stmt.where(SearchDocumentRow.domain == filters.domain)
    if filters.status is not None:
        stmt = stmt.where(SearchDocumentRow.status == filters.status)
    found: list[tuple[float, int, SearchDocumentRow]] = []
    ordered = sorted(ordinals)
    for i in range(0, len(ordered), 500):
        for row in session.scalars(stmt.where(SearchDocumentRow.ordinal.in_(ordered[i : i + 500]))):
            if not filters.keeps(row, visible):
                continue
            scored = score(row, groups)
            if scored.matched and (scored.groups_matched == len(groups) if every else scored.score > 0):
                found.append((scored.score, row.ordinal, row))
            session.expunge(row)
    # the ranking's own tie order: products before domains, then by key
    found.sort(key=lambda t: (-t[0], t[2].kind != "product", t[2].key))
    docs = [
        Doc(r.ordinal, r.kind, r.key, r.domain, r.name, r.owner, r.status, r.tags, r.classifications, s)
        for s, _, r in found
    ]
    return Outcome(docs, len(docs), True, retrieval.truncated)


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)


def _browse(
    session: Session, text_: str, filters: Filters, visible: Visibility, limit: int, offset: int
) -> SearchResults:
    """No words: what the filters select, in tie order (products, then domains, by key)."""
    stmt = select(SearchDocumentRow).options(defer(SearchDocumentRow.terms), defer(SearchDocumentRow.columns))
    if filters.domain is not None:
        stmt = stmt.where(SearchDocumentRow.domain == filters.domain)
    if filters.status is not None:
        stmt = stmt.where(SearchDocumentRow.status == filters.status)
    if filters.products_only:
        stmt = stmt.where(SearchDocumentRow.kind == "product")
    hits: list[SearchHit] = []
    total = 0
    for row in session.scalars(stmt.order_by(SearchDocumentRow.ordinal).execution_options(yield_per=1000)):
        if filters.keeps(row, visible):
            if offset <= total < offset + limit:
                hits.append(_hit(row, 0.0, []))
            total += 1
    return SearchResults(text_, hits, total, offset, limit, "browse")


def _hit(row: SearchDocumentRow, points: float, matches: list[Match]) -> SearchHit:
    return SearchHit(
        row.key,
        row.kind,
        row.domain,
        row.name,
        row.description,
        row.owner,
        [str(t) for t in row.tags or []],
        row.status,
        points,
        matches,
    )
