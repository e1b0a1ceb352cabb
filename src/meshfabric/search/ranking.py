"""How a document scores against a query, and the snippets that show why it matched.

A query is a list of groups, one per query word: the word itself (quality 1.0) plus, after typo
correction, vocabulary words close to it (quality 0.7 at edit distance 1, 0.5 at 2). For every
group a document earns the weight of the best field one of its words matches, times the match
quality (the word itself 1.0, a word of the same stem 0.9 — :func:`query_group`, a word it is a
prefix of 0.8) and the alternative's quality:

=============  ======  =====================================================
field          weight  words of
=============  ======  =====================================================
name             100   the product's (or domain's) name
columns           20   column names
tags               6   tags
owner              5   the owner (a domain's owners)
domain             5   the product's domain name
column_info        3   column types, descriptions and classifications
description        1   the description
=============  ======  =====================================================

The groups' points add up, and a query that *is* the name (every word, in order: ``customer
email`` for ``customer_email``, ``sales orders`` for ``sales.orders``) earns 1000 more. Weights
are spaced so one match in a higher field outranks up to three in the next one down: an exact name
first, then names containing the words or starting with them, then column matches, tags and
owners, and descriptions last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from meshfabric.search.text import STEM, STEM_MARK, highlight, stem, stem_forms, word_matches, words
from meshfabric.store.models_search import MAX_WORD

WEIGHTS: dict[str, float] = {
    "name": 100,
    "columns": 20,
    "tags": 6,
    "owner": 5,
    "domain": 5,
    "column_info": 3,
    "description": 1,
}
EXACT_NAME = 1000.0
#: how a field is named in a hit's ``matched`` list
LABELS = {"tags": "tag"}


@dataclass
class Group:
    """One query word and the words accepted for it, each with its quality."""

    word: str
    accepted: dict[str, float]


@dataclass
class Match:
    """One field a hit matched on, with the matching words marked."""

    field: str
    snippet: str
    column: str | None = None

    def label(self) -> str:
        return f"column {self.column}" if self.column else self.field

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "snippet": self.snippet}
        if self.column is not None:
            out["column"] = self.column
        return out


@dataclass
class Scored:
    score: float
    #: how many of the query's groups matched somewhere
    groups_matched: int = 0
    #: (field, column, text shown) -> the accepted terms that matched in it
    matched: dict[tuple[str, str | None, str], set[str]] = field(default_factory=dict)

    @property
    def matches(self) -> list[Match]:
        """The matched fields with their snippets, in field-weight order, a column once (by name
        when its name matched, else by its type/description). Built only for the hits shown."""
        order = list(WEIGHTS)
        out: list[Match] = []
        seen: set[str] = set()
        for (name, column, shown), terms in sorted(
            self.matched.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1] or "")
        ):
            if name == "column_info":
                m = Match("column", highlight(f"{column}: {shown}", terms, window=16), column)
            elif name == "columns":
                m = Match("column", highlight(shown, terms), column)
            else:
                m = Match(LABELS.get(name, name), highlight(shown, terms, window=24))
            if m.label() not in seen:
                seen.add(m.label())
                out.append(m)
        return out


class _Matcher:
    """What each document word gives one group — the best quality any accepted term reaches on it
    and the terms that reach something — remembered per word, so scoring a page of hits looks at
    each word once per query rather than every term against every field (the pages of one query
    share most of their words).

    A term matches a word it is (its quality), a word of its stem (``~`` + stem:
    :data:`~meshfabric.search.text.STEM` of it) or a word it starts (0.8 of it)."""

    def __init__(self, accepted: Sequence[tuple[str, float]]) -> None:
        self.exact = {t: q for t, q in accepted if not t.startswith(STEM_MARK)}
        self.stems = [(t, q * STEM, _forms(t[1:])) for t, q in accepted if t.startswith(STEM_MARK)]
        self.known: dict[str, tuple[float, frozenset[str]]] = {}
        #: the words known to match (quality > 0), and every word looked at
        self.matching: set[str] = set()
        self.seen: set[str] = set()

    def learn(self, found: set[str]) -> set[str]:
        """Look at the words of ``found`` not seen yet; the words of ``found`` that match."""
        for w in found - self.seen:
            best, hit = 0.0, []
            for t, q in self.exact.items():
                if w == t:
                    quality = q
                elif w.startswith(t):
                    quality = q * 0.8
                else:
                    continue
                hit.append(t)
                best = max(best, quality)
            for t, q, forms in self.stems:
                if w in forms:
                    hit.append(t)
                    best = max(best, q)
            if best > 0:
                self.known[w] = (best, frozenset(hit))
                self.matching.add(w)
            self.seen.add(w)
        return found & self.matching


#: (group's word, accepted terms) -> its matcher; a few queries' worth, the oldest dropped
_MATCHERS: dict[tuple[str, tuple[tuple[str, float], ...]], _Matcher] = {}
_MATCHER_WORDS = 50_000


def _matcher(group: Group) -> _Matcher:
    key = (group.word, tuple(group.accepted.items()))
    found = _MATCHERS.get(key)
    if found is None or len(found.seen) > _MATCHER_WORDS:
        found = _MATCHERS[key] = _Matcher(key[1])
        while len(_MATCHERS) > 64:
            _MATCHERS.pop(next(iter(_MATCHERS)))
    return found


@lru_cache(maxsize=4096)
def _forms(stem_: str) -> frozenset[str]:
    """:func:`~meshfabric.search.text.stem_forms` as a set."""
    return frozenset(stem_forms(stem_))


def query_group(word: str) -> Group:
    """A query word's group: the word itself and, when stemming changes something, its stem
    (``orders`` also accepts the words stemming to ``order``, :data:`~meshfabric.search.text.STEM`
    of the word's points)."""
    return Group(word, {word: 1.0, STEM_MARK + stem(word): 1.0})


def _exact(groups: list[Group], name: Sequence[str]) -> float:
    if not name or len(name) != len(groups):
        return 0.0
    qualities = [
        max((q * word_matches(w, t) for t, q in g.accepted.items() if t == w or t.startswith(STEM_MARK)), default=0.0)
        for g, w in zip(groups, name, strict=True)
    ]
    return min(qualities)


#: the distinct field weights, best first: a posting's ``tier`` is an index into this
LEVELS: tuple[float, ...] = tuple(sorted(set(WEIGHTS.values()), reverse=True))
TIER = {name: LEVELS.index(w) for name, w in WEIGHTS.items()}

FieldEntries = dict[str, list[tuple[str | None, str, tuple[str, ...]]]]


def fields(doc: Any) -> FieldEntries:
    """Each scored field of a document (a search_documents row or an index Document): entries of
    (column, text shown, its words)."""
    columns = [c for c in doc.columns or [] if isinstance(c, dict)]
    return {
        "name": [(None, doc.name, words(doc.name))],
        "domain": [(None, doc.domain, words(doc.domain))] if doc.kind == "product" else [],
        "columns": [(c["name"], c["name"], words(c["name"])) for c in columns],
        "column_info": [
            (c["name"], info, words(info))
            for c in columns
            if (
                info := " ".join(
                    x
                    for x in (c.get("type", ""), c.get("description", ""), " ".join(c.get("classification") or []))
                    if x
                )
            )
        ],
        "tags": [(None, tags, words(tags))] if (tags := ", ".join(str(t) for t in doc.tags or [])) else [],
        "owner": [(None, doc.owner, words(doc.owner))],
        "description": [(None, doc.description, words(doc.description))],
    }


def impacts(doc: Any) -> dict[str, int]:
    """Every word of a document with the tier of the best field holding it: the posting list
    entries (term, tier) of the document. A query word's points in a document are the weight of
    that tier times the match quality, so these postings alone give a document's score.

    The same words as :func:`fields` (a joined text has the words of its parts), gathered from
    the lowest tier up so a better tier overwrites a worse one.
    """
    columns = [c for c in doc.columns or [] if isinstance(c, dict)]
    best = dict.fromkeys(words(doc.description), TIER["description"])
    info = TIER["column_info"]
    for c in columns:
        for part in (c.get("type", ""), c.get("description", ""), *(c.get("classification") or [])):
            if part:
                best.update(dict.fromkeys(words(str(part)), info))
    if doc.kind == "product":
        best.update(dict.fromkeys(words(doc.domain), TIER["domain"]))
    best.update(dict.fromkeys(words(doc.owner), TIER["owner"]))
    for tag in doc.tags or []:
        best.update(dict.fromkeys(words(str(tag)), TIER["tags"]))
    for c in columns:
        best.update(dict.fromkeys(words(c["name"]), TIER["columns"]))
    best.update(dict.fromkeys(words(doc.name), TIER["name"]))
    if max(map(len, best), default=0) > MAX_WORD:
        cut: dict[str, int] = {}
        for w, tier in best.items():
            cut[w[:MAX_WORD]] = min(tier, cut.get(w[:MAX_WORD], tier))
        return cut
    return best


def tier_words(doc: Any) -> list[set[str]]:
    """:func:`impacts` grouped by tier: for each tier (index into :data:`LEVELS`) the words whose
    best field is of that tier, so ``{w: t for t, found in enumerate(result) for w in found} ==
    impacts(doc)``. For the rebuild, which needs it for every document: each field's texts are
    split in one go (a joined text has the words of its parts: words never cross a space), and
    the tiers are separated with set operations."""
    split = words.__wrapped__  # texts seen once: not worth the cache
    columns = [c for c in doc.columns or [] if isinstance(c, dict)]
    # a column's type, description and classifications (falsy ones left out, as impacts() does)
    info = " ".join(
        [
            f"{c.get('type') or ''} {c.get('description') or ''} "
            f"{' '.join([str(x) for x in c.get('classification') or () if x])}"
            for c in columns
        ]
    )
    out: list[set[str]] = [set() for _ in LEVELS]
    out[TIER["name"]] |= set(split(doc.name))
    out[TIER["columns"]] |= set(split(" ".join([c["name"] for c in columns])))
    out[TIER["tags"]] |= set(split(" ".join([str(t) for t in doc.tags or []])))
    out[TIER["owner"]] |= set(split(doc.owner))
    if doc.kind == "product":
        out[TIER["domain"]] |= set(split(doc.domain))
    out[TIER["column_info"]] |= set(split(info))
    out[TIER["description"]] |= set(split(doc.description))
    seen: set[str] = set()
    for found in out:
        found -= seen
        seen |= found
    if max(map(len, seen), default=0) > MAX_WORD:  # words are cut: the cut words' tiers from impacts()
        out = [set() for _ in LEVELS]
        for w, tier in impacts(doc).items():
            out[tier].add(w)
    return out


def _impacts_slow(doc: Any) -> dict[str, int]:
    """:func:`impacts` from :func:`fields`, the definition (tests compare the two)."""
    best: dict[str, int] = {}
    for name, entries in fields(doc).items():
        tier = TIER[name]
        for _, _, found in entries:
            for w in found:
                w = w[:MAX_WORD]
                if best.get(w, len(LEVELS)) > tier:
                    best[w] = tier
    return best


def name_words(doc: Any) -> tuple[str, str]:
    """The words of the name, and of domain + name for a product ("" for a domain): what a query
    must equal for the exact-name bonus."""
    name = words(doc.name)
    return " ".join(name), " ".join(words(doc.domain) + name) if doc.kind == "product" else ""


def exact_bonus(groups: list[Group], doc: Any) -> float:
    """The exact-name points of a document (0 unless the query is its name)."""
    name_words_ = words(doc.name)
    exact = max(
        _exact(groups, name_words_), _exact(groups, words(doc.domain) + name_words_) if doc.kind == "product" else 0.0
    )
    return EXACT_NAME * exact


def score(doc: Any, groups: list[Group]) -> Scored:
    """Score a search_documents row (anything with its attributes) against the query's groups."""
    fields_ = fields(doc)
    every: set[str] = set().union(*(found for entries in fields_.values() for _, _, found in entries))
    total = 0.0
    hit_groups = 0
    matched: dict[tuple[str, str | None, str], set[str]] = {}
    for group in groups:
        matcher = _matcher(group)
        here = matcher.learn(every)  # the document's words that match: most fields hold none
        best = 0.0
        if here:
            for name, entries in fields_.items():
                for column, shown, found in entries:
                    if here.isdisjoint(found):
                        continue
                    quality, hit = 0.0, set()
                    for w in here.intersection(found):
                        q, terms = matcher.known[w]
                        quality = max(quality, q)
                        hit |= terms
                    best = max(best, WEIGHTS[name] * quality)
                    matched.setdefault((name, column, shown), set()).update(hit)
        total += best
        hit_groups += best > 0
    total += exact_bonus(groups, doc)
    return Scored(round(total, 3), hit_groups, matched)
