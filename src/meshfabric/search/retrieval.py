"""Exact top k from the impact-ordered postings, without scoring every matching document.

A document's points for a query word are ``quality × weight`` of the best field holding a word it
accepts (:mod:`meshfabric.search.ranking`); the postings hold, per word and document, the tier of
that field (``search_postings(term, tier, ordinal)``). So the points a word can give are a short
list of *levels* (a word accepted with quality q, found in tier t, gives ``q × LEVELS[t]``), and a
document's score is the sum of one level per query word (plus the exact-name bonus).

The retrieval walks the combinations of levels (one per query word) from the highest sum down,
as a best-first search. For one combination, SQL reads the documents holding every word at that
level, in tie order (ordinal) — one word's posting range read in index order, the others probed
by primary key — and stops after ``k`` documents that pass the filters. Each document found gets
its exact score from its postings (a few primary-key probes). The walk stops when the next
combination's sum is below the k-th best score found; at an equal sum only documents before the
k-th in tie order are read. Every document a combination reads scores at least its sum, and a
document left unread had ``k`` documents ahead of it with at least its score — so the top k is
the one scoring every matching document would give (``search_exhaustive`` checks that).

Documents whose name the query is (the exact-name bonus) are looked up by their name's words and
seeded first. ``total`` is counted in SQL up to :data:`TOTAL_CAP` (beyond, ``total_exact`` is
false and ``total`` the cap).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from meshfabric.search.index import SUBSCRIBER, facet
from meshfabric.search.ranking import LEVELS, Group, exact_bonus
from meshfabric.search.text import STEM, STEM_MARK, stem_forms
from meshfabric.store.models import SubscriberOffsetRow
from meshfabric.store.models_search import MAX_WORD, SearchDocumentRow

if TYPE_CHECKING:
    from meshfabric.search.service import Filters, Visibility

#: a query word is widened with at most this many indexed words it is a prefix of
PREFIX_CAP = 128
#: ``total`` is exact up to here
TOTAL_CAP = 200
#: a query whose rarest word (or, for ``any``, whose words) has at most this many postings is
#: answered by scoring all of the documents holding it
FEW_POSTINGS = 5000
#: and at most this many documents holding every word are scored all at once
FEW_MATCHES = 200
#: with filters applied in Python, counting looks at this many matching documents at most
SCAN_CAP = 400
#: a word's postings per tier are counted up to here; a tier past it is sized from the word's
#: document count in the vocabulary (its postings in every tier) less the other tiers' counts
COUNT_CAP = 200
#: a word with at least this many postings is common: counting its matches with another such
#: word reads both in tie order
SIZE_CAP = 2000
#: a filter value's documents are counted up to here (a value this common never drives a read)
FACET_CAP = 5000
#: a count of several words (or a word and filter values) reads their (term, tier) ranges in tie order up to this many
COUNT_PAIRS = 48
#: and the first window of such a count reads this many ordinals of each list (doubling after)
COUNT_WINDOW = 1024
#: exact-name lookups enumerate at most this many spellings of the query (corrections multiply)
NAME_SPELLINGS = 256
_TIERS = tuple(range(len(LEVELS)))
#: (store, index offset, visible set) -> the ordinals of the visible documents, and their share
_ALLOWED: dict[tuple[Any, ...], tuple[frozenset[int], float]] = {}
_ALLOWED_LOCK = threading.Lock()
_DOC_COLUMNS = ("ordinal", "kind", "key", "domain", "name", "owner", "tags", "status", "classifications")


@dataclass
class Doc:
    """What the retrieval reads of a candidate: enough for the filters and the exact-name bonus."""

    ordinal: int
    kind: str = ""
    key: str = ""
    domain: str = ""
    name: str = ""
    owner: str = ""
    status: str = ""
    tags: list[Any] = field(default_factory=list)
    classifications: list[Any] = field(default_factory=list)
    score: float = 0.0


@dataclass
class Level:
    value: float
    #: (term, tier) pairs giving this many points
    pairs: list[tuple[str, int]]
    size: int
    #: whether a pair's postings were more than counted (size is then a lower bound)
    capped: bool = False


@dataclass
class Outcome:
    #: the best documents, best first (at most ``need``)
    top: list[Doc]
    total: int
    total_exact: bool = True
    #: a query word matched more indexed words than PREFIX_CAP (only the first were searched)
    truncated: list[str] = field(default_factory=list)


def _successor(word: str) -> str:
    """The least string greater than every string starting with ``word``."""
    return word[:-1] + chr(ord(word[-1]) + 1)


class Retrieval:
    """One query's retrieval in one read session."""

    def __init__(self, session: Session, groups: list[Group], filters: Filters, visible: Visibility) -> None:
        self.session = session
        self.groups = groups
        self.filters = filters
        self.visible = visible
        self.docs: dict[int, Doc | None] = {}
        self.scored: set[int] = set()
        self.segments: list[tuple[int, int]] | None = None
        self.levels: list[list[Level]] | None = None
        #: the exact number of matches, when the retrieval counted them on its way
        self.known_total: int | None = None
        self.truncated: list[str] = []
        #: filters read from the documents' rows (the principal's visibility is a set of ordinals)
        self.row_filters = filters.tag is not None or filters.classification is not None or filters.owner is not None
        #: the principal's visibility is checked in Python, on ordinals; the other filters in SQL
        #: (facets), and again on the documents read (exact also for values longer than a term)
        self.python_filters = visible.products is not None
        #: the share of the documents the principal may discover (set by :meth:`_allowed`)
        self.share = 1.0
        self.allowed = self._allowed()
        self.facet_levels: list[Level] | None = None
        self.facet_terms = [
            facet(kind, value)
            for kind, value in (
                ("s", filters.status),
                ("t", filters.tag),
                ("c", filters.classification),
                ("o", filters.owner),
            )
            if value is not None
        ]
        #: term -> its postings per tier, counted up to SIZE_CAP (filled by :meth:`_prepare`)
        self.sizes: dict[str, list[int]] = {}
        #: per group: indexed term -> quality (a prefix match counts 0.8 of the word)
        self.mults: list[dict[str, float]] = self._prepare()

    def _column(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        """The first column of a statement's rows, fetched at once (not row by row)."""
        return [r[0] for r in self.session.execute(stmt, params or {}).fetchall()]

    # -- words ------------------------------------------------------------------------------------
    def _prepare(self) -> list[dict[str, float]]:
        """Every group's indexed terms with their qualities, every such term's posting counts per
        tier, and the filter values' counts — in one statement (one round trip): per prefix
        alternative the indexed words it starts, alphabetically, at most PREFIX_CAP (+1 to tell a
        cut): a skip scan of the postings' primary key, one index seek per distinct word; the stems'
        forms as given, and for each distinct term its postings per tier counted up to SIZE_CAP."""
        ctes, parts, params = [], [], {"cap": COUNT_CAP, "fcap": FACET_CAP, "n": PREFIX_CAP + 1}
        #: (group, alternative, quality, whether read as a prefix)
        alts: list[tuple[int, str, float, bool]] = []
        for g, group in enumerate(self.groups):
            for alt, quality in group.accepted.items():
                k = len(alts)
                if alt.startswith(STEM_MARK):
                    alts.append((g, alt, quality, False))
                    for j, form in enumerate(stem_forms(alt[1:])):
                        params[f"f{k}_{j}"] = form
                        parts.append(f"SELECT {k} AS k, :f{k}_{j} AS term")
                    continue
                alts.append((g, alt[:MAX_WORD], quality, True))
                params[f"lo{k}"], params[f"hi{k}"] = alt[:MAX_WORD], _successor(alt[:MAX_WORD])
                ctes.append(
                    f"t{k}(term) AS ("
                    f" SELECT (SELECT p.term FROM search_postings p WHERE p.term >= :lo{k} AND p.term < :hi{k}"
                    f"  ORDER BY p.term LIMIT 1)"
                    f" UNION ALL"
                    f" SELECT (SELECT p.term FROM search_postings p WHERE p.term > t{k}.term AND p.term < :hi{k}"
                    f"  ORDER BY p.term LIMIT 1) FROM t{k} WHERE t{k}.term IS NOT NULL)"
                )
                parts.append(f"SELECT {k} AS k, term FROM (SELECT term FROM t{k} WHERE term IS NOT NULL LIMIT :n) s{k}")
        if not parts and not self.facet_terms:
            self.facet_levels = []
            return [{} for _ in self.groups]
        for j, term in enumerate(self.facet_terms):
            params[f"facet{j}"] = term
            parts.append(f"SELECT -1 AS k, :facet{j} AS term")

        def counted(tier: int, cap: str) -> str:
            # one subquery per tier (each costs the planner): the postings counted up to the cap and
            # how far in tie order they reach, as "count:spread"
            return (
                f"(SELECT count(*) || ':' || coalesce(max(o) - min(o), 0) FROM (SELECT q.ordinal AS o"
                f" FROM search_postings q WHERE q.term = d.term AND q.tier = {tier} ORDER BY q.ordinal"
                f" LIMIT :{cap}) c{tier})"
            )

        words = ", ".join(counted(r, "cap") for r in _TIERS)
        zeros = ", ".join("'0:0'" for _ in _TIERS[1:])
        ctes.append(f"x(k, term) AS ({' UNION ALL '.join(parts)})")
        # a stem's forms are mostly no word: one seek each tells, before six count them
        ctes.append(
            "w(term) AS (SELECT DISTINCT term FROM x WHERE k >= 0"
            " AND EXISTS (SELECT 1 FROM search_postings e WHERE e.term = x.term))"
        )
        # facet terms start with a space, words never do: a term is counted once, as one or the other
        stmt = (
            f"WITH RECURSIVE {', '.join(ctes)} "
            f"SELECT x.k, x.term, c.* FROM x JOIN ("
            f"SELECT d.term AS counted, (SELECT v.doc_count FROM search_terms v WHERE v.term = d.term),"
            # two subqueries: SQLite reads a lone min() or max() off the index, both together by a scan
            f" (SELECT max(ordinal) FROM search_documents) - (SELECT min(ordinal) FROM search_documents),"
            f" {words} FROM w d"
            f" UNION ALL SELECT d.term, NULL, NULL, {counted(0, 'fcap')}, {zeros} FROM x d WHERE d.k < 0) c"
            f" ON c.counted = x.term"
        )
        found: dict[int, list[str]] = {}
        facet_sizes: dict[str, int] = {}
        for row in self.session.execute(text(stmt), params).fetchall():
            k, term = int(row[0]), str(row[1])
            counts, spreads = zip(*((int(n), int(sp)) for n, sp in (str(v).split(":") for v in row[5:])), strict=True)
            sizes = list(counts)
            if k < 0:
                facet_sizes[term] = sizes[0]
            elif any(sizes):  # a stem's forms are mostly no word: only terms with postings count
                self.sizes[term] = _sized(sizes, list(spreads), row[3], row[4])
                found.setdefault(k, []).append(term)
        # a common value (as many documents as counted, or more) never drives a read
        self.facet_levels = [
            Level(0.0, [(term, 0)], size if (size := facet_sizes.get(term, 0)) < FACET_CAP else 1 << 62)
            for term in self.facet_terms
        ]
        mults: list[dict[str, float]] = [{} for _ in self.groups]
        for k, (g, alt, quality, prefix) in enumerate(alts):
            terms = sorted(found.get(k, []))
            if not prefix:
                for t in terms:
                    if quality * STEM > mults[g].get(t, 0.0):
                        mults[g][t] = quality * STEM
                continue
            if len(terms) > PREFIX_CAP:
                self.truncated.append(self.groups[g].word)
                terms = terms[:PREFIX_CAP]
            for t in terms:
                m = quality if t == alt else quality * 0.8
                if m > mults[g].get(t, 0.0):
                    mults[g][t] = m
        return mults

    def _levels(self, mults: dict[str, float]) -> list[Level]:
        """The group's levels, best first, each with the (term, tier) pairs having postings (their
        counts read by :meth:`_prepare`)."""
        by_value: dict[float, Level] = {}
        for term, m in mults.items():
            for tier, size in enumerate(self.sizes.get(term, ())):
                if size:
                    value = m * LEVELS[tier]
                    level = by_value.setdefault(value, Level(value, [], 0))
                    level.pairs.append((term, tier))
                    level.size += abs(size)
                    level.capped = level.capped or size < 0
        return sorted(by_value.values(), key=lambda lv: -lv.value)

    # -- documents --------------------------------------------------------------------------------
    def _sql_filters(self, params: dict[str, Any]) -> tuple[str, list[str]]:
        """Conditions for the filters the postings hold as facets (status, tag, classification,
        owner): one primary-key probe each per document read."""
        conds = []
        for j, term in enumerate(self.facet_terms):
            params[f"facet{j}"] = term
            conds.append(_probe(f"q.term = :facet{j} AND q.tier = 0", facet=True))
        return "", conds

    def _facet_levels(self) -> list[Level]:
        assert self.facet_levels is not None  # counted by _prepare
        return self.facet_levels

    def _segments(self) -> list[tuple[int, int]]:
        """The ordinal ranges the domain filter and products-only filters leave: a domain's
        products are consecutive in tie order (their keys share the prefix ``domain.``), the
        domain's own document is one more, and every product comes before every domain."""
        if self.segments is not None:
            return self.segments
        doc = SearchDocumentRow
        low, high = -(1 << 63), (1 << 63) - 1
        found: list[tuple[int, int]] = []
        if self.filters.domain is not None:
            # the first and last of the domain's products in key order (the (kind, key) index)
            prefix = (doc.kind == "product", doc.key > self.filters.domain + ".", doc.key < self.filters.domain + "/")
            lo = self.session.scalar(select(doc.ordinal).where(*prefix).order_by(doc.key).limit(1))
            hi = self.session.scalar(select(doc.ordinal).where(*prefix).order_by(doc.key.desc()).limit(1))
            if lo is not None and hi is not None:
                found.append((int(lo), int(hi)))
            if not self.filters.products_only:
                own = self.session.scalar(
                    select(doc.ordinal).where(doc.kind == "domain", doc.key == self.filters.domain)
                )
                if own is not None:
                    found.append((int(own), int(own)))
        elif self.filters.products_only:
            last = self.session.scalar(
                select(doc.ordinal).where(doc.kind == "product").order_by(doc.key.desc()).limit(1)
            )
            if last is not None:
                found.append((low, int(last)))
        else:
            found.append((low, high))
        self.segments = sorted(found)
        return self.segments

    def _allowed(self) -> frozenset[int] | None:
        """The ordinals of the documents the principal may discover (None: every document),
        remembered per index state and visible set (a principal searching again costs nothing)."""
        visible = self.visible
        if visible.products is None:
            return None
        seq = self.session.scalar(
            select(SubscriberOffsetRow.last_seq).where(SubscriberOffsetRow.subscriber == SUBSCRIBER)
        )
        # made by Visibility.of, the domains follow from the products
        key = (
            str(self.session.get_bind().url),
            seq,
            visible.key if visible.key is not None else (frozenset(visible.products), frozenset(visible.domains or ())),
        )
        with _ALLOWED_LOCK:
            found = _ALLOWED.get(key)
        if found is None:
            doc = SearchDocumentRow
            ordinals: set[int] = set()
            for kind, keys in (("product", sorted(visible.products)), ("domain", sorted(visible.domains or ()))):
                for i in range(0, len(keys), 500):
                    ordinals.update(
                        self._column(select(doc.ordinal).where(doc.kind == kind, doc.key.in_(keys[i : i + 500])))
                    )
            documents = int(self.session.scalar(select(func.count()).select_from(doc)) or 0)
            found = (frozenset(ordinals), len(ordinals) / documents if documents else 1.0)
            with _ALLOWED_LOCK:
                _ALLOWED[key] = found
                while len(_ALLOWED) > 8:
                    _ALLOWED.pop(next(iter(_ALLOWED)))
        self.share = found[1]
        return found[0]

    def _admit(self, ordinals: Iterable[int]) -> None:
        """Decide for documents not seen yet whether they pass the filters and the principal's
        visibility (``self.docs[o]``: a Doc, or None); only what those need is read."""
        todo = sorted({o for o in ordinals if o not in self.docs})
        if self.allowed is not None:
            for o in todo:
                if o not in self.allowed:
                    self.docs[o] = None
            todo = [o for o in todo if o in self.allowed]
        f = self.filters
        doc = SearchDocumentRow
        cols = [doc.ordinal, doc.kind, doc.key, doc.domain, doc.name, doc.owner, doc.status]
        if f.tag is not None or f.classification is not None:
            cols += [doc.tags, doc.classifications]
        for i in range(0, len(todo), 500):
            chunk = todo[i : i + 500]
            for r in self.session.execute(select(*cols).where(doc.ordinal.in_(chunk))):
                d = Doc(*r)
                self.docs[d.ordinal] = d if self._keeps(d) else None
            for o in chunk:
                self.docs.setdefault(o, None)

    def _welcome(self, ordinals: list[int], total: float) -> None:
        """Documents met by the walk: admitted (visibility from the ordinals; the rows read only
        for the filters checked on them) and, when new, scored ``total``."""
        fresh = [o for o in ordinals if o not in self.docs]
        if self.row_filters:
            self._admit(fresh)
        else:
            for o in fresh:
                self.docs[o] = None if self.allowed is not None and o not in self.allowed else Doc(o)
        score = round(total, 3)
        for o in fresh:
            doc = self.docs[o]
            if doc is not None and o not in self.scored:
                doc.score = score
                self.scored.add(o)

    def _load(self, ordinals: Iterable[int]) -> None:
        """Admit the documents and give those passing their exact score (from their postings)."""
        ordinals = list(ordinals)
        self._admit(ordinals)
        todo = sorted({o for o in ordinals if (d := self.docs[o]) is not None and o not in self.scored})
        for i in range(0, len(todo), 500):
            chunk = todo[i : i + 500]
            values = self._values(chunk)
            for o in chunk:
                d = self.docs[o]
                assert d is not None
                self._score(d, values)

    def _keeps(self, doc: Doc) -> bool:
        f = self.filters
        if (f.domain is not None and doc.domain != f.domain) or (f.status is not None and doc.status != f.status):
            return False
        return f.keeps(doc, self.visible)

    def _values(self, ordinals: Sequence[int]) -> dict[tuple[int, int], float]:
        """(ordinal, group) -> the group's points in that document, from the postings."""
        terms = sorted(set().union(*self.mults))
        out: dict[tuple[int, int], float] = {}
        if not terms:
            return out
        for i in range(0, len(terms), 200):
            rows = self.session.execute(
                text(
                    "SELECT ordinal, term, tier FROM search_postings WHERE term IN :terms AND tier IN :tiers "
                    "AND ordinal IN :ords"
                ).bindparams(*(_expanding(n) for n in ("terms", "tiers", "ords"))),
                {"terms": terms[i : i + 200], "tiers": list(_TIERS), "ords": list(ordinals)},
            )
            for o, term, tier in rows:
                for g, mults in enumerate(self.mults):
                    m = mults.get(term)
                    if m is not None:
                        v = m * LEVELS[tier]
                        if v > out.get((o, g), 0.0):
                            out[(o, g)] = v
        return out

    # -- the top k --------------------------------------------------------------------------------
    def top(self, need: int, *, every: bool) -> Outcome:
        levels = self.levels = [self._levels(m) for m in self.mults]
        if every and any(not lv for lv in levels):
            return Outcome([], 0, True, self.truncated)
        small = self._few(levels, need, every)
        if small is not None:
            return small
        if not every:
            levels = [[*lv, Level(0.0, [], 1 << 62)] for lv in levels]
        best: dict[int, Doc] = {}
        for doc in self._exact_names():
            best[doc.ordinal] = doc
        complete = True

        def kth() -> Doc | None:
            if len(best) < need:
                return None
            return sorted(best.values(), key=lambda d: (-d.score, d.ordinal))[need - 1]

        start = (0,) * len(levels)
        heap = [(-sum(lv[0].value for lv in levels), start)]
        seen = {start}
        while heap:
            neg, idx = heapq.heappop(heap)
            for g in range(len(levels)):
                if idx[g] + 1 < len(levels[g]):
                    nxt = (*idx[:g], idx[g] + 1, *idx[g + 1 :])
                    if nxt not in seen:
                        seen.add(nxt)
                        heapq.heappush(heap, (-sum(levels[h][i].value for h, i in enumerate(nxt)), nxt))
            combo = [levels[g][i] for g, i in enumerate(idx)]
            if all(lv.value == 0.0 for lv in combo):
                continue
            total = round(-neg, 3)
            cut = kth()
            bound = None
            if cut is not None:
                if total < cut.score:
                    complete = False
                    break
                if total == cut.score:
                    bound = cut.ordinal
            docs, exhausted = self._read(combo, need, bound, -neg)
            for doc in docs:
                best[doc.ordinal] = doc
            complete = complete and exhausted and bound is None
            if len(best) > 4 * need:
                ranked = sorted(best.values(), key=lambda d: (-d.score, d.ordinal))[:need]
                best = {d.ordinal: d for d in ranked}
                complete = False
        ranked = sorted(best.values(), key=lambda d: (-d.score, d.ordinal))
        if complete and len(ranked) < need:
            return Outcome(ranked, len(ranked), True, self.truncated)
        total, exact = (self.known_total, True) if self.known_total is not None else self.count(every=every)
        return Outcome(ranked[:need], max(total, min(len(ranked), TOTAL_CAP)), exact, self.truncated)

    def _few(self, levels: list[list[Level]], need: int, every: bool) -> Outcome | None:
        """When the query's rarest word is rare (at most FEW_POSTINGS postings): its documents,
        narrowed by the other words (their documents too when as rare, else probed) and the
        filters, give the exact total; when at most FEW_MATCHES remain they are all scored here
        (no walk). None: go on with the walk (``self.known_total`` set when it was counted)."""
        sizes = sorted(
            (sum(lv.size for lv in group), any(lv.capped for lv in group), g) for g, group in enumerate(levels)
        )
        rare = [g for size, capped, g in sizes if not capped and size <= FEW_POSTINGS]
        if not rare or (not every and len(rare) < len(sizes)):
            return None
        found: set[int] | None = None
        for g in rare:
            ordinals = self._ordinals(sorted(self.mults[g]))
            found = ordinals if found is None else (found & ordinals if every else found | ordinals)
        assert found is not None
        segments = self._segments()
        cands = sorted(
            o
            for o in found
            if any(lo <= o <= hi for lo, hi in segments) and (self.allowed is None or o in self.allowed)
        )
        for term in self.facet_terms:
            cands = self._ordinals([term], cands, tiers=[0])
        for g in [g for _, _, g in sizes if g not in rare]:
            if len(cands) > FEW_MATCHES:
                return None
            cands = self._ordinals(sorted(self.mults[g]), cands)
        if len(cands) > FEW_MATCHES:
            # the facets, ranges and visible ordinals were every filter: this is the total
            self.known_total = len(cands)
            return None
        self._admit(cands)
        cands = [o for o in cands if self.docs[o] is not None]
        values = self._values(cands) if cands else {}
        docs = []
        for o in cands:
            doc = self.docs[o]
            assert doc is not None
            self._score(doc, values)
            docs.append(doc)
        docs.sort(key=lambda d: (-d.score, d.ordinal))
        return Outcome(docs[:need], len(docs), True, self.truncated)

    def _ordinals(self, terms: list[str], among: list[int] | None = None, tiers: list[int] | None = None) -> Any:
        """The documents holding one of ``terms`` (in ``tiers``, default all): a set; or, with
        ``among``, those of ``among`` (sorted) holding one, as a sorted list."""
        tiers = list(_TIERS) if tiers is None else tiers
        out: set[int] = set()
        stmt = text(
            "SELECT ordinal FROM search_postings WHERE term IN :t AND tier IN :tiers"
            + (" AND ordinal IN :o" if among is not None else "")
        ).bindparams(*(_expanding(b) for b in (("t", "tiers", "o") if among is not None else ("t", "tiers"))))
        for i in range(0, len(terms), 200):
            if among is None:
                out.update(int(o) for o in self._column(stmt, {"t": terms[i : i + 200], "tiers": tiers}))
                continue
            for j in range(0, len(among), 500):
                out.update(
                    int(o)
                    for o in self._column(stmt, {"t": terms[i : i + 200], "tiers": tiers, "o": among[j : j + 500]})
                )
        return out if among is None else sorted(out)

    def _score(self, doc: Doc, values: dict[tuple[int, int], float]) -> None:
        total = 0.0
        for g in range(len(self.groups)):
            total += values.get((doc.ordinal, g), 0.0)
        total += exact_bonus(self.groups, doc)
        doc.score = round(total, 3)
        self.scored.add(doc.ordinal)

    def _read(self, combo: list[Level], need: int, bound: int | None, total: float) -> tuple[list[Doc], bool]:
        """The documents holding each word at (at least) its level in ``combo``, in tie order, up to
        ``need`` passing the filters (and before ``bound`` in tie order); and whether that was all.

        A document read here for the first time scores the combination's ``total``: had it more,
        it would hold a better combination, read before this one, and be missing from that read
        only behind ``need`` documents scoring at least as much — so the walk would have ended
        before this combination. (Documents the query names exactly, with the bonus, are seeded
        before the walk with their own score.) So no document's postings are read again here."""
        # the filters' facets are constraints like the words': the smallest drives the read
        constrained = [lv for lv in combo if lv.pairs] + self._facet_levels()
        driver = min(constrained, key=lambda lv: lv.size)
        params: dict[str, Any] = {}
        join, conds = "", []
        drive = []
        for j, (term, tier) in enumerate(driver.pairs):
            params[f"dt{j}"], params[f"dr{j}"] = term, tier
            drive.append(f"(p.term = :dt{j} AND p.tier = :dr{j})")
        conds.insert(0, drive[0] if len(drive) == 1 else "(" + " OR ".join(drive) + ")")
        for g, lv in enumerate(constrained):
            if lv is driver:
                continue
            probes = []
            for j, (term, tier) in enumerate(lv.pairs):
                params[f"g{g}t{j}"], params[f"g{g}r{j}"] = term, tier
                probes.append(_probe(f"q.term = :g{g}t{j} AND q.tier = :g{g}r{j}", facet=lv.value == 0.0))
            conds.append(probes[0] if len(probes) == 1 else "(" + " OR ".join(probes) + ")")
        conds.append("p.ordinal > :after AND p.ordinal <= :hi")
        if bound is not None:
            conds.append("p.ordinal < :bound")
            params["bound"] = bound
        distinct = "DISTINCT " if len(drive) > 1 else ""
        stmt = text(
            f"SELECT {distinct}p.ordinal FROM search_postings p{join} WHERE {' AND '.join(conds)} "
            f"ORDER BY p.ordinal LIMIT :n"
        )
        found: list[Doc] = []
        for lo, hi in self._segments():
            if bound is not None and lo >= bound:
                break
            # a principal seeing a share of the catalog needs about 1/share as many ordinals read
            after, chunk = (
                lo - 1 if lo > -(1 << 63) else lo,
                min(int(max(2 * need, 32) / max(self.share, 1 / 64)), max(4096, 2 * need)),
            )
            while True:
                ordinals = [int(o) for o in self._column(stmt, {**params, "after": after, "hi": hi, "n": chunk})]
                self._welcome(ordinals, total)
                for o in ordinals:
                    doc = self.docs[o]
                    if doc is not None:
                        found.append(doc)
                        if len(found) >= need:
                            return found, False
                if len(ordinals) < chunk:
                    break
                after, chunk = ordinals[-1], chunk * 4
        return found, True

    def _exact_names(self) -> list[Doc]:
        """The documents whose name (or domain + name) the query is, read by their words."""
        spellings: list[str] = []
        # a stem's forms that some name holds (a name's words are at tier 0)
        names = {t for group in self.levels or () for lv in group for t, tier in lv.pairs if tier == 0}
        alts = [
            [
                *(a for a in g.accepted if not a.startswith(STEM_MARK)),
                *(
                    f
                    for a in g.accepted
                    if a.startswith(STEM_MARK)
                    for f in stem_forms(a[1:])
                    if f in names and f not in g.accepted
                ),
            ]
            for g in self.groups
        ]
        for combo in itertools.islice(itertools.product(*alts), NAME_SPELLINGS + 1):
            spellings.append(" ".join(combo)[:MAX_WORD])
        doc = SearchDocumentRow
        if len(spellings) <= NAME_SPELLINGS:
            cond = or_(doc.name_words.in_(spellings), doc.full_words.in_(spellings))
        else:  # too many spellings: every name starting with one of the first word's
            cond = or_(*(c.between(a + " ", a + "!") for a in alts[0] for c in (doc.name_words, doc.full_words)))
        ordinals = list(self._column(select(doc.ordinal).where(cond)))
        self._load(ordinals)
        return [d for o in ordinals if (d := self.docs[o]) is not None and exact_bonus(self.groups, d) > 0]

    def count(self, *, every: bool) -> tuple[int, bool]:
        """How many documents match (every word, or any), up to TOTAL_CAP: (count, exact).

        With filters read in Python (tag, owner, classification, a restricted principal), at most
        SCAN_CAP matching documents are looked at; when more match, the count is a lower bound.
        """
        if every and len(self.groups) > 1 and self._dense():
            merged = self._count_in_order()
            if merged is not None:
                return merged
        params: dict[str, Any] = {}
        binds = []
        sets = [sorted(m) for m in self.mults]
        # constraints: (size, terms, tiers) — a query word (any of its terms, any tier), or a facet
        if every:
            levels = self.levels or [self._levels(m) for m in self.mults]
            constraints = [
                (sum(lv.size for lv in group), terms, True) for group, terms in zip(levels, sets, strict=True)
            ]
        else:
            constraints = [(1 << 62, sorted(set().union(*sets)), True)]
        constraints += [(lv.size, [lv.pairs[0][0]], False) for lv in self._facet_levels()]
        constraints.sort(key=lambda c: c[0])
        conds = []
        for g, (_, terms, words) in enumerate(constraints):
            params[f"c{g}"] = terms
            binds.append(f"c{g}")
            tiers = "= 0"
            if words:  # only the tiers the terms have postings in: a probe seeks once per tier
                params[f"r{g}"] = sorted({t for w in terms for t, n in enumerate(self.sizes.get(w, ())) if n}) or [0]
                binds.append(f"r{g}")
                tiers = f"IN :r{g}"
            if g == 0:
                conds.append(f"p.term IN :c0 AND p.tier {tiers} AND p.ordinal >= :lo AND p.ordinal <= :hi")
            else:
                # probed per document: a hash of a common word's every posting (the planner's choice for
                # EXISTS) costs more than the probes the LIMIT lets the read stop after
                conds.append(_probe(f"q.term IN :c{g} AND q.tier {tiers}", facet=True))
        join = ""
        # a document holds a term once: only several terms driving can repeat a document
        distinct = "DISTINCT " if len(constraints[0][1]) > 1 else ""
        inner = f"SELECT {distinct}p.ordinal FROM search_postings p{join} WHERE {' AND '.join(conds)} LIMIT :n"
        stmt = text(f"SELECT count(*) FROM ({inner}) m") if not self.python_filters else text(inner)
        stmt = stmt.bindparams(*(_expanding(b) for b in binds))
        limit = SCAN_CAP if self.python_filters else TOTAL_CAP
        counted, exact = 0, True
        for lo, hi in self._segments():
            bound = {**params, "lo": lo, "hi": hi, "n": limit + 1}
            if not self.python_filters:
                found = int(self.session.scalar(stmt, bound) or 0)
                counted += min(found, limit)
                exact = found <= limit
            else:
                ordinals = [int(o) for o in self._column(stmt, bound)]
                if len(ordinals) > limit:
                    ordinals, exact = ordinals[:limit], False
                if self.allowed is not None:
                    ordinals = [o for o in ordinals if o in self.allowed]
                counted += len(ordinals)
            if not exact or counted > TOTAL_CAP:
                break
        if counted > TOTAL_CAP:
            return TOTAL_CAP, False
        return counted, exact

    def _dense(self) -> bool:
        """Whether a count of several words reads them in tie order (:meth:`_count_in_order`):
        when every word is common, the matches come after a few thousand ordinals of each. A rarer
        word, or a filter value, is better the driver with the others probed per document (a tag
        with a common word: 7.6 ms probing, 28 ms in order, at 100,000 products on PostgreSQL). A
        restricted principal without filters: always in order (probes would find mostly hidden
        documents)."""
        if self.facet_terms:
            return False
        if self.allowed is not None:
            return True
        levels = self.levels or [self._levels(m) for m in self.mults]
        return all(any(lv.capped for lv in group) or sum(lv.size for lv in group) >= SIZE_CAP for group in levels)

    def _count_in_order(self) -> tuple[int, bool] | None:
        """:meth:`count` of the documents holding every word, reading the matches in tie order:
        each word's first documents (ordinals) from the window's start, merged over its
        (term, tier) ranges, read in one statement and intersected here, up to the last ordinal
        every word was read to; then the next window. Counts up to TOTAL_CAP matches — for a
        restricted principal, checks the first SCAN_CAP matching documents in tie order for
        visibility — without probing a word's
        postings for each document of another (two common words: the 201st match lies past
        ~1,000 documents of either, each one a primary-key probe; PostgreSQL, asked as a join,
        hashes every posting of the second word). None when the lists have too many (term, tier)
        ranges (short prefixes): :meth:`count` probes in SQL then (as it does for one word, whose
        first postings are the matches)."""
        levels = self.levels or [self._levels(m) for m in self.mults]
        pairs = [[p for lv in group for p in lv.pairs] for group in levels]
        if not all(pairs) or sum(map(len, pairs)) > COUNT_PAIRS:
            return None
        allowed = self.allowed
        params: dict[str, Any] = {}
        #: (g, j) -> the range's SELECT, and its share of its word's postings
        ranges: dict[tuple[int, int], str] = {}
        shares: dict[tuple[int, int], float] = {}
        # a range's ordinals come as one text (thousands of rows cost the driver more than the read)
        joined = "string_agg(CAST(o AS TEXT), ',')" if self.session.get_bind().dialect.name == "postgresql" else (
            "group_concat(o, ',')"
        )
        for g, found in enumerate(pairs):
            sizes = [max(abs(self.sizes.get(term, [1] * len(_TIERS))[tier]), 1) for term, tier in found]
            for j, (term, tier) in enumerate(found):
                params[f"t{g}_{j}"], params[f"r{g}_{j}"] = term, tier
                # each range reads its share of the word's window: they reach about as far in tie order
                shares[(g, j)] = sizes[j] / sum(sizes)
                ranges[(g, j)] = (
                    f"SELECT {g} AS g, {j} AS j, count(*) AS n, max(o) AS last, {joined} AS os FROM"
                    f" (SELECT ordinal AS o FROM search_postings"
                    f" WHERE term = :t{g}_{j} AND tier = :r{g}_{j} AND ordinal > :a{g}_{j} AND ordinal <= :hi"
                    f" ORDER BY ordinal LIMIT :k{g}_{j}) a{g}_{j}"
                )
        counted, exact = 0, True
        for lo, hi in self._segments():
            start, k, checked = (lo - 1 if lo > -(1 << 63) else lo), COUNT_WINDOW, 0
            # each range is read on from where it stopped (no ordinal read twice); what it read past
            # the point every range has reached waits in its word's pending set for the next round
            cursor = dict.fromkeys(ranges, start)
            active = set(ranges)
            pending: list[set[int]] = [set() for _ in pairs]
            while exact and counted <= TOTAL_CAP:
                limits = {f"k{g}_{j}": int(k * 1.25 * shares[(g, j)]) + 16 for g, j in active}
                after = {f"a{g}_{j}": cursor[(g, j)] for g, j in active}
                stmt = text(" UNION ALL ".join(ranges[r] for r in sorted(active)))
                for g, j, n, last, found in self.session.execute(
                    stmt, {**params, **limits, **after, "hi": hi}
                ).fetchall():
                    if n:
                        pending[g].update(map(int, found.split(",")))
                    if n < limits[f"k{g}_{j}"]:
                        active.discard((g, j))  # read to the end of the segment
                    else:
                        cursor[(g, j)] = int(last)
                # every range is read completely up to here
                upto = min((cursor[r] for r in active), default=hi)
                common = pending[0].intersection(*pending[1:])
                done = sorted(o for o in common if o <= upto)
                if allowed is None:
                    counted += len(done)
                else:
                    for o in done:
                        if checked == SCAN_CAP:
                            exact = False
                            break
                        checked += 1
                        counted += o in allowed
                if not active:
                    break
                pending = [{o for o in found if o > upto} for found in pending]
                k = min(k * 2, 8 * COUNT_WINDOW)
            if not exact or counted > TOTAL_CAP:
                break
        if counted > TOTAL_CAP:
            return TOTAL_CAP, False
        return counted, exact


def _sized(counts: list[int], spreads: list[Any], documents: int | None, everything: int | None) -> list[int]:
    """A term's postings per tier from its counts up to COUNT_CAP. A tier that reached the cap is
    estimated from how far in tie order its first COUNT_CAP postings reach (``spreads``) against
    the span of every document's ordinal (``everything``): documents holding a word are spread
    over the catalog's order. When the vocabulary knows the word's documents (one posting each),
    the capped tiers share exactly the postings the counted tiers do not account for, in those
    proportions; else each estimate is marked negative (not known). Sizes only choose how to read
    (which list drives, whether a word is rare): never an answer.

    >>> _sized([3, 200, 0, 200], [None, 100, None, 300], 1003, 1000)
    [3, 750, 0, 250]
    >>> _sized([3, 200, 0, 200], [None, 100, None, 300], None, 1000)
    [3, -2000, 0, -666]
    """
    capped = [t for t, c in enumerate(counts) if c >= COUNT_CAP]
    if not capped:
        return counts
    weight = {t: COUNT_CAP * (everything or 1) / max(int(spreads[t] or 0), 1) for t in capped}
    out = list(counts)
    if documents is None:
        for t in capped:
            out[t] = -max(COUNT_CAP, int(weight[t]))
        return out
    rest = int(documents) - sum(c for c in counts if c < COUNT_CAP)
    total = sum(weight.values())
    for t in capped:
        out[t] = max(COUNT_CAP, int(rest * weight[t] / total))
    return out


def _probe(cond: str, *, facet: bool = False) -> str:
    """A primary-key probe of the postings for the document ``p`` being read. A facet's is a
    scalar subquery with LIMIT rather than EXISTS: PostgreSQL turns EXISTS into a join and, as it
    misjudges how often a term comes with a tier (a facet is in nearly every document at tier 0,
    which few words are), would hash a whole facet's posting list where probing the few rows
    read is what the outer read's LIMIT asks for. Words' probes stay EXISTS (the planner may
    rightly prefer a join for them)."""
    if facet:
        return f"(SELECT 1 FROM search_postings q WHERE {cond} AND q.ordinal = p.ordinal LIMIT 1) IS NOT NULL"
    return f"EXISTS (SELECT 1 FROM search_postings q WHERE {cond} AND q.ordinal = p.ordinal)"


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)
