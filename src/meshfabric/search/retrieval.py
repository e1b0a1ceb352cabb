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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from meshfabric.search.ranking import LEVELS, Group, exact_bonus
from meshfabric.store.models_search import MAX_WORD, SearchDocumentRow

if TYPE_CHECKING:
    from meshfabric.search.service import Filters, Visibility

#: a query word is widened with at most this many indexed words it is a prefix of
PREFIX_CAP = 128
#: ``total`` is exact up to here
TOTAL_CAP = 1000
#: posting counts are read up to here (a size estimate that chooses which word drives a read)
SIZE_CAP = 2000
#: exact-name lookups enumerate at most this many spellings of the query (corrections multiply)
NAME_SPELLINGS = 256
_TIERS = tuple(range(len(LEVELS)))
_DOC_COLUMNS = ("ordinal", "kind", "key", "domain", "name", "owner", "tags", "status", "classifications")


@dataclass
class Doc:
    """What the retrieval reads of a candidate: enough for the filters and the exact-name bonus."""

    ordinal: int
    kind: str
    key: str
    domain: str
    name: str
    owner: str
    tags: list[Any]
    status: str
    classifications: list[Any]
    score: float = 0.0


@dataclass
class Level:
    value: float
    #: (term, tier) pairs giving this many points
    pairs: list[tuple[str, int]]
    size: int


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
        self.truncated: list[str] = []
        #: per group: indexed term -> quality (a prefix match counts 0.8 of the word)
        self.mults: list[dict[str, float]] = [self._expand(g) for g in groups]
        self.python_filters = (filters.tag is not None or filters.classification is not None
                               or filters.owner is not None or visible.products is not None)

    # -- words ------------------------------------------------------------------------------------
    def prefix_terms(self, word: str, cap: int) -> list[str]:
        """Indexed words starting with ``word``, alphabetically, at most ``cap``: a skip scan of
        the postings' primary key (one index seek per distinct word)."""
        word = word[:MAX_WORD]
        stmt = text(
            "WITH RECURSIVE t(term) AS ("
            " SELECT (SELECT p.term FROM search_postings p WHERE p.term >= :lo AND p.term < :hi"
            "  ORDER BY p.term LIMIT 1)"
            " UNION ALL"
            " SELECT (SELECT p.term FROM search_postings p WHERE p.term > t.term AND p.term < :hi"
            "  ORDER BY p.term LIMIT 1) FROM t WHERE t.term IS NOT NULL)"
            " SELECT term FROM t WHERE term IS NOT NULL LIMIT :n")
        return [str(t) for t in self.session.scalars(stmt, {"lo": word, "hi": _successor(word), "n": cap})]

    def _expand(self, group: Group) -> dict[str, float]:
        mults: dict[str, float] = {}
        for alt, quality in group.accepted.items():
            terms = self.prefix_terms(alt, PREFIX_CAP + 1)
            if len(terms) > PREFIX_CAP:
                self.truncated.append(group.word)
                terms = terms[:PREFIX_CAP]
            for t in terms:
                m = quality if t == alt[:MAX_WORD] else quality * 0.8
                if m > mults.get(t, 0.0):
                    mults[t] = m
        return mults

    def _levels(self, mults: dict[str, float]) -> list[Level]:
        """The group's levels, best first, each with the (term, tier) pairs having postings."""
        by_value: dict[float, Level] = {}
        terms = list(mults)
        for i in range(0, len(terms), 16):
            chunk = terms[i: i + 16]
            parts, params = [], {"cap": SIZE_CAP}
            for j, term in enumerate(chunk):
                params[f"t{j}"] = term
                counts = ", ".join(
                    f"(SELECT count(*) FROM (SELECT 1 FROM search_postings WHERE term = :t{j} AND tier = {r}"
                    f" LIMIT :cap) c{r})" for r in _TIERS)
                parts.append(f"SELECT {j}, {counts}")
            for row in self.session.execute(text(" UNION ALL ".join(parts)), params):
                term = chunk[row[0]]
                for tier, size in zip(_TIERS, row[1:], strict=True):
                    if size:
                        value = mults[term] * LEVELS[tier]
                        level = by_value.setdefault(value, Level(value, [], 0))
                        level.pairs.append((term, tier))
                        level.size += int(size)
        return sorted(by_value.values(), key=lambda lv: -lv.value)

    # -- documents --------------------------------------------------------------------------------
    def _sql_filters(self, params: dict[str, Any]) -> tuple[str, list[str]]:
        """A join on search_documents and its conditions for the filters SQL can apply."""
        conds = []
        f = self.filters
        if f.domain is not None:
            conds.append("d.domain = :f_domain")
            params["f_domain"] = f.domain
        if f.status is not None:
            conds.append("d.status = :f_status")
            params["f_status"] = f.status
        if f.products_only:
            conds.append("d.kind = 'product'")
        if not conds:
            return "", []
        return " JOIN search_documents d ON d.ordinal = p.ordinal", conds

    def _load(self, ordinals: Iterable[int]) -> None:
        """Read the documents not read yet and score them exactly (None: a filter drops it)."""
        todo = sorted({o for o in ordinals if o not in self.docs})
        for i in range(0, len(todo), 500):
            chunk = todo[i: i + 500]
            cols = [getattr(SearchDocumentRow, c) for c in _DOC_COLUMNS]
            found = {r[0]: Doc(*r) for r in self.session.execute(
                select(*cols).where(SearchDocumentRow.ordinal.in_(chunk)))}
            values = self._values(chunk)
            for o in chunk:
                doc = found.get(o)
                if doc is None or not self._keeps(doc):
                    self.docs[o] = None
                    continue
                total = 0.0
                for g in range(len(self.groups)):
                    total += values.get((o, g), 0.0)
                total += exact_bonus(self.groups, doc)
                doc.score = round(total, 3)
                self.docs[o] = doc

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
                text("SELECT ordinal, term, tier FROM search_postings WHERE term IN :terms AND tier IN :tiers "
                     "AND ordinal IN :ords").bindparams(
                    *(_expanding(n) for n in ("terms", "tiers", "ords"))),
                {"terms": terms[i: i + 200], "tiers": list(_TIERS), "ords": list(ordinals)})
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
        levels = [self._levels(m) for m in self.mults]
        if every and any(not lv for lv in levels):
            return Outcome([], 0, True, self.truncated)
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
                    nxt = (*idx[:g], idx[g] + 1, *idx[g + 1:])
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
            docs, exhausted = self._read(combo, need, bound)
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
        total, exact = self.count(every=every)
        return Outcome(ranked[:need], max(total, min(len(ranked), TOTAL_CAP)), exact, self.truncated)

    def _read(self, combo: list[Level], need: int, bound: int | None) -> tuple[list[Doc], bool]:
        """The documents holding each word at (at least) its level in ``combo``, in tie order, up to
        ``need`` passing the filters (and before ``bound`` in tie order); and whether that was all."""
        constrained = [lv for lv in combo if lv.pairs]
        driver = min(constrained, key=lambda lv: lv.size)
        params: dict[str, Any] = {}
        join, conds = self._sql_filters(params)
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
                probes.append(f"EXISTS (SELECT 1 FROM search_postings q WHERE q.term = :g{g}t{j} "
                              f"AND q.tier = :g{g}r{j} AND q.ordinal = p.ordinal)")
            conds.append(probes[0] if len(probes) == 1 else "(" + " OR ".join(probes) + ")")
        conds.append("p.ordinal > :after")
        if bound is not None:
            conds.append("p.ordinal < :bound")
            params["bound"] = bound
        distinct = "DISTINCT " if len(drive) > 1 else ""
        stmt = text(f"SELECT {distinct}p.ordinal FROM search_postings p{join} WHERE {' AND '.join(conds)} "
                    f"ORDER BY p.ordinal LIMIT :n")
        found: list[Doc] = []
        after, chunk = -(1 << 63), max(2 * need, 32)
        while True:
            ordinals = [int(o) for o in self.session.scalars(stmt, {**params, "after": after, "n": chunk})]
            self._load(ordinals)
            for o in ordinals:
                doc = self.docs[o]
                if doc is not None:
                    found.append(doc)
                    if len(found) >= need:
                        return found, False
            if len(ordinals) < chunk:
                return found, True
            after, chunk = ordinals[-1], chunk * 4

    def _exact_names(self) -> list[Doc]:
        """The documents whose name (or domain + name) the query is, read by their words."""
        spellings: list[str] = []
        alts = [list(g.accepted) for g in self.groups]
        for combo in itertools.islice(itertools.product(*alts), NAME_SPELLINGS + 1):
            spellings.append(" ".join(combo)[:MAX_WORD])
        doc = SearchDocumentRow
        if len(spellings) <= NAME_SPELLINGS:
            cond = or_(doc.name_words.in_(spellings), doc.full_words.in_(spellings))
        else:  # too many spellings: every name starting with one of the first word's
            cond = or_(*(c.between(a + " ", a + "!") for a in alts[0] for c in (doc.name_words, doc.full_words)))
        ordinals = list(self.session.scalars(select(doc.ordinal).where(cond)))
        self._load(ordinals)
        return [d for o in ordinals if (d := self.docs[o]) is not None and exact_bonus(self.groups, d) > 0]

    def count(self, *, every: bool) -> tuple[int, bool]:
        """How many documents match (every word, or any), up to TOTAL_CAP: (count, exact)."""
        params: dict[str, Any] = {"tiers": list(_TIERS), "n": TOTAL_CAP + 1}
        join, conds = self._sql_filters(params)
        binds = ["tiers"]
        sets = [sorted(m) for m in self.mults]
        if every:
            sizes = [sum(lv.size for lv in self._levels(m)) for m in self.mults]
            order = sorted(range(len(sets)), key=lambda g: sizes[g])
            drive, probes = sets[order[0]], [sets[g] for g in order[1:]]
        else:
            drive, probes = sorted(set().union(*sets)), []
        params["drive"] = drive
        binds.append("drive")
        conds.insert(0, "p.term IN :drive AND p.tier IN :tiers")
        for g, terms in enumerate(probes):
            params[f"probe{g}"] = terms
            binds.append(f"probe{g}")
            conds.append(f"EXISTS (SELECT 1 FROM search_postings q WHERE q.term IN :probe{g} AND q.tier IN :tiers "
                         f"AND q.ordinal = p.ordinal)")
        stmt = text(f"SELECT DISTINCT p.ordinal FROM search_postings p{join} WHERE {' AND '.join(conds)} "
                    f"LIMIT :n").bindparams(*(_expanding(b) for b in binds))
        ordinals = [int(o) for o in self.session.scalars(stmt, params)]
        if self.python_filters:
            self._load(ordinals)
            ordinals = [o for o in ordinals if self.docs[o] is not None]
        if len(ordinals) > TOTAL_CAP:
            return TOTAL_CAP, False
        return len(ordinals), True


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)
