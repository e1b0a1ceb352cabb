"""Words of the search index: one tokenizer for documents and queries, highlighting, edit distance.

Documents reach the full-text index already tokenized, so SQLite FTS5 and PostgreSQL index the
same words and the ranking in Python sees what the index matched:

>>> tokens("customerEmail_v2 (Chloé's)")
['customer', 'email', 'v2', 'chloe', 's']
>>> highlight("order_total in EUR", {"total"})
'order_<mark>total</mark> in EUR'
>>> distance("custmer", "customer"), distance("emial", "email")
(1, 1)
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from itertools import pairwise

#: a run of letters and digits: underscores, dots, dashes, @ and spaces separate words
_RUN = re.compile(r"[^\W_]+")
#: camelCase and HTTPServer boundaries inside a run
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
#: every ASCII character that is not a letter or digit, as a space
_ASCII_SEPARATORS = str.maketrans({chr(i): " " for i in range(128) if not chr(i).isalnum()})
#: longer "words" are identifiers or hashes nobody types; they are indexed but kept out of the vocabulary
MAX_TERM = 40


def fold(text: str) -> str:
    """Lower case without accents: what the index stores and queries compare."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, folded word) for every word of ``text``, positions in the original."""
    for run in _RUN.finditer(text):
        if run.group().isascii() and _CAMEL.search(run.group()) is None:
            yield run.start(), run.end(), run.group().lower()
            continue
        cuts = [0, *(m.start() for m in _CAMEL.finditer(run.group())), len(run.group())]
        for a, b in pairwise(cuts):
            start, end = run.start() + a, run.start() + b
            # folding can turn one character into several, some of them separators (½ → 1⁄2)
            for word in _RUN.findall(fold(text[start:end])):
                yield start, end, word


@lru_cache(maxsize=65_536)
def words(text: str) -> tuple[str, ...]:
    """The folded words of ``text`` in order (repeats kept); cached, as catalogs repeat their texts
    (column names, types, owners) and every search scores the same documents again."""
    if not text.isascii():
        return tuple(w for _, _, w in spans(text))
    if text.islower():  # no capital letter: no camelCase cut, nothing to fold
        # the runs of letters and digits, as _RUN finds them (for ASCII, [a-zA-Z0-9]+), split faster
        return tuple(text.translate(_ASCII_SEPARATORS).split())
    found: list[str] = []
    for run in _RUN.findall(text):
        if _CAMEL.search(run) is None:
            found.append(run.lower())
        else:
            found.extend(w for _, _, w in spans(run))
    return tuple(found)


def tokens(text: str) -> list[str]:
    """The folded words of ``text`` in order (repeats kept)."""
    return list(words(text))


def index_text(*texts: str) -> str:
    """Tokens joined by spaces: the form every full-text column is written in."""
    return " ".join(w for t in texts for w in words(t))


def vocabulary_term(word: str) -> bool:
    """Whether a word belongs in the typo-correction vocabulary (3..40 characters, not a number)."""
    return 3 <= len(word) <= MAX_TERM and not word.isdigit() and not word.startswith(STEM_MARK)


# -- stemming --------------------------------------------------------------------------------------
#: a query word also accepts ``STEM_MARK + its stem``: the words of that stem (:func:`stem_forms`);
#: no word starts with the mark, so it never reads as a word
STEM_MARK = "~"
#: a word with the query word's stem (not the word itself) counts this much of the word
STEM = 0.9
#: stemming leaves shorter and longer words (identifiers, hashes) alone
_STEM_MIN, _STEM_MAX = 4, 30
#: words an ending rule would get wrong, kept as they are
_STEM_KEEP = frozenset(
    {
        "alias",
        "always",
        "analysis",
        "bias",
        "canvas",
        "during",
        "news",
        "perhaps",
        "series",
        "species",
        "thing",
        "things",
        "something",
        "nothing",
        "anything",
        "everything",
        "string",
        "strings",
    }
)
_VOWELS = frozenset("aeiouy")


@lru_cache(maxsize=65_536)
def stem(word: str) -> str:
    """A light English stem: plurals, ``-ing`` and ``-ed`` removed, then a final ``e``, so the
    forms of one word meet (``orders``/``order``, ``categories``/``category``,
    ``creating``/``created``/``creates``/``create`` → ``creat``). Conservative on purpose: only
    lower-case ASCII words of 4–30 letters, no word shortened below 3 letters or to no vowel,
    ``-ss``/``-us``/``-is`` words kept (``address``, ``status``, ``analysis``), and a few words
    an ending rule would break kept as they are.

    >>> [stem(w) for w in ("orders", "customers", "categories", "addresses", "status", "shipped",
    ...                    "billing", "pricing", "price", "boxes", "dates", "order", "ring")]
    ['order', 'customer', 'category', 'address', 'status', 'ship', 'bill', 'pric', 'pric', 'box', 'dat', \
'order', 'ring']
    """
    if (
        not (_STEM_MIN <= len(word) <= _STEM_MAX and word.isascii() and word.isalpha() and word.islower())
        or word in _STEM_KEEP
    ):
        return word
    w = word
    if w.endswith(("ies", "ied")) and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "xes", "ches", "shes", "zzes")) and len(w) > 4:
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    elif w.endswith("ing") and _vowel(w[:-3]) and len(w) >= 6:
        w = _undouble(w[:-3])
    elif w.endswith("ed") and not w.endswith("eed") and _vowel(w[:-2]) and len(w) >= 5:
        w = _undouble(w[:-2])
    if w.endswith("e") and len(w) > 3 and _vowel(w[:-1]):
        w = w[:-1]
    return w


def _vowel(word: str) -> bool:
    return len(word) >= 2 and any(c in _VOWELS for c in word)


def _undouble(word: str) -> str:
    """``shipp`` → ``ship`` (``bill``, ``add``, ``miss`` stay)."""
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "lsz" and word[-1] not in _VOWELS:
        return word[:-1]
    return word


@lru_cache(maxsize=4096)
def stem_forms(stem_: str) -> tuple[str, ...]:
    """Every word having ``stem_`` as :func:`stem`: the stem's forms each ending rule could have
    come from (``order`` ← ``orders``, ``ordered``, ``ordering``; ``ship`` ← ``shipped``;
    ``category`` ← ``categories``; ``creat`` ← ``create``, ``creates``, ``creating``), kept when
    they do stem to it (most are no word anyone writes and have no postings). A query reads these
    words for a stem, so the postings need no stem terms and the index is the same as without
    stemming; that every word is among its stem's forms is tested.

    >>> [w for w in stem_forms("order") if w in ("order", "orders", "ordered", "ordering", "orderly")]
    ['order', 'ordered', 'ordering', 'orders']
    """
    if not stem_:
        return ()
    s = stem_
    candidates = {s, s + "e", s + "s", s + "es", s + "ed", s + "ing", s + "eing", s + s[-1] + "ed", s + s[-1] + "ing"}
    if s.endswith("y"):
        candidates.update((s[:-1] + "ies", s[:-1] + "ied"))
    return tuple(sorted(w for w in candidates if stem(w) == stem_))


def word_matches(word: str, term: str) -> float:
    """1.0 when ``word`` is ``term``, 0.8 when it starts with it (a prefix), else 0; a stem term
    (``~`` + stem) matches a word with that stem, :data:`STEM`."""
    if word == term:
        return 1.0
    if term.startswith(STEM_MARK):
        return STEM if word in stem_forms(term[1:]) else 0.0
    if word.startswith(term):
        return 0.8
    return 0.0


def highlight(text: str, terms: set[str], *, window: int | None = None) -> str:
    """``text`` HTML-escaped with every word matching one of ``terms`` wrapped in ``<mark>``.

    With ``window``, only about that many words around the first match are kept (``…`` marks a cut).

    >>> highlight("a <b> & c", {"c"})
    'a &lt;b&gt; &amp; <mark>c</mark>'
    >>> highlight("one two three four five six", {"five"}, window=3)
    '… four <mark>five</mark> six'
    """
    words = list(spans(text))
    # word_matches(w, t) for any t, in one or two C calls per word: a word matches a plain term it
    # is or starts with, and a stem term when it is one of the stem's forms
    starts = tuple(t for t in terms if not t.startswith(STEM_MARK))
    forms = {f for t in terms if t.startswith(STEM_MARK) for f in stem_forms(t[1:])}
    hits = [i for i, (_, _, w) in enumerate(words) if (starts and w.startswith(starts)) or w in forms]
    lo, hi = 0, len(text)
    if window is not None and words and len(words) > window:
        first = hits[0] if hits else 0
        begin = max(0, min(first - window // 3, len(words) - window))
        end = min(len(words), begin + window)
        lo = 0 if begin == 0 else words[begin][0]
        hi = len(text) if end == len(words) else words[end - 1][1]
    marked = {(words[i][0], words[i][1]) for i in hits}
    out: list[str] = ["… " if lo > 0 else ""]
    pos = lo
    for start, end in sorted(marked):
        if start < lo or end > hi or start < pos:
            continue
        out.append(html.escape(text[pos:start], quote=False))
        out.append(f"<mark>{html.escape(text[start:end], quote=False)}</mark>")
        pos = end
    out.append(html.escape(text[pos:hi], quote=False))
    out.append(" …" if hi < len(text) else "")
    return "".join(out)


def distance(a: str, b: str, limit: int = 3) -> int:
    """Edit distance with adjacent transpositions (optimal string alignment), capped at ``limit + 1``.

    Only the band of cells within ``limit`` of the diagonal is computed (a cell outside it is more
    than ``limit`` away), and a row whose every cell exceeds ``limit`` ends the computation.

    >>> distance("form", "from"), distance("abc", "abc"), distance("abc", "xyz", limit=1)
    (1, 0, 2)
    """
    la, lb = len(a), len(b)
    big = limit + 1
    if abs(la - lb) > limit:
        return big
    if a == b:
        return 0
    prev2: list[int] = []
    prev = [j if j <= limit else big for j in range(lb + 1)]
    for i in range(1, la + 1):
        ca = a[i - 1]
        cur = [big] * (lb + 1)
        cur[0] = i if i <= limit else big
        low = cur[0]
        for j in range(max(1, i - limit), min(lb, i + limit) + 1):
            cb = b[j - 1]
            v = prev[j - 1] + (ca != cb)
            if prev[j] + 1 < v:
                v = prev[j] + 1
            if cur[j - 1] + 1 < v:
                v = cur[j - 1] + 1
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb and prev2[j - 2] + 1 < v:
                v = prev2[j - 2] + 1
            cur[j] = v if v < big else big
            if v < low:
                low = v
        if low > limit:
            return big
        prev2, prev = prev, cur
    return min(prev[lb], big)
