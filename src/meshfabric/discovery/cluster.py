"""Group discovered datasets into business areas and suggest a domain for each area.

Table names alone do not separate business areas (``t_0042``, ``export_3``, ``sheet1``), so the
similarity of two datasets is built from what they hold:

* **names** — TF-IDF cosine over the word tokens of the column names (snake/camel/digit split, light
  stemming, a small synonym map; bookkeeping columns such as ``created_at``/``updated_by`` and spreadsheet
  names such as ``col_1`` dropped) and the informative tokens of the table name (``t``, ``export``,
  ``sheet``, digits dropped). Words that every dataset has (``id``) get an inverse document frequency of ~0.
* **semantic types** — TF-IDF cosine over the column findings' semantic types (``~email``, ``~timestamp``,
  and ``~party`` for person-like data), weighted low: such columns occur in every area.
* **vocabularies** — TF-IDF cosine over the hashed values of categorical columns (status words, country
  codes, priorities): two order tables share ``shipped``/``pending``; codes every table has count little.
* **joins** — the hashed distinct values of key-like columns (identifiers, codes, high-distinct integers
  and strings) kept as bottom-k sketches of 64-bit hashes; the containment of one column's values in
  another's (``orders.customer_id`` ⊂ ``customers.id``) is estimated from the sketches, with values that
  many columns share weighted down, corrected for chance for integer ranges (``1..200`` lies inside any
  ``1..n`` key), scaled up for samples that hold only part of a large key, scaled down for sibling
  columns (two foreign keys to one parent) and for hub keys that many datasets reference (a customer
  key links sales, support and finance alike: degrees normalised as in a normalised graph Laplacian).

``similarity = min(1, W_JOIN·join + W_SEMANTIC·semantic + (W_NAMES·names + W_VALUES·vocabulary)
/ (W_NAMES + W_VALUES))`` where a kind of evidence that one of the two datasets lacks (no column words,
no categorical column) drops out of the fraction: absent evidence is not evidence of difference. Cosines
are smoothed (:data:`SMOOTH`) so that two datasets with one common word and nothing else are not twins.

Datasets are then split into communities of the similarity graph (edges ≥ :data:`MIN_EDGE`) by modularity
maximisation (Louvain, resolution :data:`RESOLUTION`, deterministic visiting order; :data:`PRIOR_MASS`
keeps small inputs from being over-split); communities holding registered products of different domains
never join. During development, on the generated corpora of the tests (30 tables, 6 areas, mostly opaque
table names), Louvain reached a mean adjusted Rand index of about 0.62 over ten seeds, where
average-linkage agglomeration at its best threshold reached about 0.54 and the constant Potts model 0.52.

Domains: when the workspace has registered products (``known``) or domain profiles, grouping is
semi-supervised. Each domain gets a document: its profile's words (:class:`DomainProfile`: description,
products' names, descriptions, tags, column names) plus the words of its registered datasets in this run.
Every unregistered dataset's prior for a domain is the cosine of its name vector to that document (words
only: :data:`SEMANTIC_PRIOR` measured best at 0), plus a small :data:`NO_DOMAIN` prior for "none of them".
Labels then spread over the similarity graph (edges ≥ :data:`MIN_EDGE`) by label propagation with local and
global consistency (registered datasets clamped to their domain, :data:`ALPHA`, degrees smoothed by
:data:`DEGREE_PRIOR`); a dataset takes its best domain when that scores at least :data:`REACH`, and the
datasets of one domain form one cluster. The datasets no domain reaches are split by Louvain among
themselves; such a community still joins a domain when its words' cosine to the domain's document plus
:data:`AFFINITY_WEIGHT` times its mean link to the domain's registered datasets reaches
:data:`DOMAIN_THRESHOLD`, else it is named by its top two terms (lowercase, ``_``-joined, unique in the run).
domain_similarity is the cosine of the cluster's centroid to the domain's document (1.0 for registered ones).
Without known products or profiles this is plain Louvain as above.

Measured during development (registered 1–2 datasets per area, profiles of description + registered names
and columns): the labelled benchmark (``benchmarks/discovery.py``, 45 datasets, 8 areas) went from ARI 0.38
and suggested-domain accuracy 0.62 (Louvain, then cluster-level domain matching) to 0.72 / 0.79; the test
file's generated corpora (seeds 1..10) from 0.65 / 0.84 to 0.73 / 0.84. Weak spot: an area without domain
or registered product is partly absorbed by linked domains (about 3/4 of its datasets on the generated
corpora, 1/2 before), since cross-area foreign keys carry labels.

Sampled values live in process only: sketches and vocabularies hold 64-bit hashes, and nothing
derived from a value reaches a :class:`ClusterAssignment` — terms come from column and table names.
"""

from __future__ import annotations

import hashlib
import math
import re
import zlib
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import mul
from typing import Any

from meshfabric.discovery.model import ClusterAssignment, ColumnFinding, DatasetSample, DomainProfile

__all__ = [
    "DOMAIN_THRESHOLD", "RESOLUTION", "W_JOIN", "W_NAMES", "W_SEMANTIC", "W_VALUES", "cluster_datasets",
    "similarity_matrix", "tokens",
]

#: weight of the column/table-name word cosine in the combined similarity
W_NAMES = 0.7
#: weight of the semantic-type composition cosine (kept small: person-like or timestamped tables are everywhere)
W_SEMANTIC = 0.1
#: weight of the categorical-vocabulary cosine (only when both datasets have categorical columns)
W_VALUES = 0.3
#: weight of the join evidence, added on top: a clear key containment links two datasets by itself
W_JOIN = 0.6
#: modularity resolution: higher makes more, smaller clusters (measured on generated corpora, see the tests)
RESOLUTION = 3.5
#: a similarity below this is no edge of the clustering graph
MIN_EDGE = 0.15
#: similarity mass added to the graph's total so that a handful of datasets still merge at :data:`RESOLUTION`
PRIOR_MASS = 10.0
#: weight of the private pseudo-term every TF-IDF vector gets (see :func:`_tfidf`)
SMOOTH = 1.0
#: a cluster without registered members belongs to the existing domain whose score (cosine similarity to the
#: domain's words plus AFFINITY_WEIGHT times the members' mean similarity to its registered datasets) reaches this
DOMAIN_THRESHOLD = 0.15
AFFINITY_WEIGHT = 0.5
#: label propagation: how much of a neighbour's domain score passes over an edge (times the normalised weight)
ALPHA = 0.95
#: an unregistered dataset's own evidence for a domain: this times its cosine similarity to the domain's words
PRIOR_WEIGHT = 1.0
#: added to every degree in label propagation, so that a single weak edge does not pass a whole label on
DEGREE_PRIOR = 0.5
#: a dataset whose best propagated domain score stays below this is reached by no domain (a third of what a
#: direct text similarity of DOMAIN_THRESHOLD to a domain's words gives)
REACH = 0.05
#: weight of the semantic-type cosine in the prior. Measured at 0 .. 0.5: every step up cost accuracy (datasets
#: of every area hold identifiers, amounts and timestamps; the similarity graph already weighs them), so 0
SEMANTIC_PRIOR = 0.0
#: every unregistered dataset's prior for "no existing domain" (a label that propagates like the others:
#: a group of datasets that the domains reach only through a few edges keeps it and is clustered apart)
NO_DOMAIN = 0.05
#: label propagation sweeps at most (it converges geometrically, at least by ALPHA per sweep)
PROPAGATION_STEPS = 100

#: bottom-k sketch size for the values of a key-like column
SKETCH_SIZE = 128
#: a column's values are key-like evidence only with at least this many distinct values
MIN_KEY_DISTINCT = 5
#: categorical columns: at most this many distinct values ...
MAX_CATEGORY_DISTINCT = 40
#: ... and this share of distinct values among the non-null ones
MAX_CATEGORY_RATIO = 0.5
#: a value held by more key columns than this carries no join evidence (and would make the pass quadratic)
MAX_POSTING = 64
#: a containment estimate needs this many shared sketch values
MIN_SHARED = 3
#: key columns linked to at most this many datasets keep their full join evidence (see :func:`_joins`)
HUB_DEGREE = 2.0
#: two non-unique columns sharing values (siblings referencing one parent) are this much of a link
SIBLING = 0.3
#: a link at least this strong counts towards a key column's degree (see :func:`_joins`)
DEGREE_MIN = 0.5
#: two dense integer ranges that start together and nearly end together: at most this much of a link
DENSE_RANGE = 0.5

_MAX_HASH = (1 << 64) - 1

# ------------------------------------------------------------------------------------------- tokens

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

#: abbreviations and synonyms, applied after stemming
_SYNONYMS: dict[str, str] = {
    "ids": "id", "cust": "customer", "client": "customer",
    "clnt": "customer", "buyer": "customer", "consumer": "customer",
    "emp": "employee", "staff": "employee", "worker": "employee", "empl": "employee",
    "qty": "quantity", "amt": "amount", "addr": "address", "tel": "phone", "telephone": "phone",
    "mobile": "phone", "cell": "phone", "mail": "email", "dept": "department", "dob": "birth", "birthday": "birth",
    "dt": "date", "ts": "time", "timestamp": "time", "datetime": "time", "nbr": "number", "num": "number",
    "no": "number", "prod": "product", "sku": "product", "item": "product", "article": "product",
    "inv": "invoice", "acct": "account", "acc": "account", "txn": "transaction", "trx": "transaction",
    "tx": "transaction", "pmt": "payment", "pay": "payment", "shipping": "shipment", "shipped": "shipment",
    "ship": "shipment", "deliver": "delivery", "org": "organization", "organisation": "organization",
    "company": "organization", "desc": "description", "cat": "category", "msg": "message", "evt": "event",
    "dev": "device", "temp": "temperature", "sal": "salary", "wage": "salary", "usr": "user", "pct": "percent",
    "lng": "lon", "longitude": "lon", "latitude": "lat", "ref": "reference", "cnt": "count", "mkt": "marketing",
    "mktg": "marketing", "cmp": "campaign", "camp": "campaign", "tkt": "ticket", "case": "ticket",
    "wh": "warehouse", "whse": "warehouse", "loc": "location", "zip": "postal", "postcode": "postal",
    "sensor": "device", "vendor": "supplier", "purchase": "order", "fname": "first", "lname": "last",
    "firstname": "first", "lastname": "last", "surname": "last", "identifier": "id", "uuid": "id", "guid": "id",
    "key": "id", "pk": "id", "fk": "id", "ccy": "currency", "cur": "currency", "curr": "currency",
    "price": "amount", "cost": "amount", "total": "amount", "revenue": "amount", "value": "amount",
}

#: tokens of spreadsheet-style column names that carry nothing (``col_1``, ``Unnamed: 3``, ``field7``)
_NOISE = frozenset({"col", "column", "field", "unnamed", "var", "attr", "attribute", "untitled", "at", "by", "on",
                    "of", "the", "and", "is", "has", "to", "from", "in", "per"})

#: columns made only of these tokens are bookkeeping of the source system, not business content
_HOUSEKEEPING = frozenset({"created", "updated", "modified", "deleted", "inserted", "loaded", "load", "etl", "batch",
                           "ingested", "sync", "version", "row", "hash", "checksum", "time", "date", "last",
                           "insert", "update", "change", "changed", "audit"})

#: table-name tokens that say nothing about the business area
_TABLE_NOISE = frozenset({
    "t", "tbl", "table", "tmp", "temp", "data", "dataset", "export", "exports", "sheet", "file", "files", "copy",
    "new", "old", "final", "v", "dim", "fact", "stg", "staging", "raw", "src", "x", "df", "csv", "parquet", "xlsx",
    "json", "backup", "bak", "test", "sample", "output", "out", "in", "input", "dump", "extract", "untitled",
    "book", "report", "the", "of", "and", "public", "dbo", "main", "default", "view", "vw",
})

#: column tokens too generic to name a business area
_GENERIC = frozenset({
    "id", "name", "date", "time", "created", "updated", "modified", "at", "on", "by", "code", "type", "status",
    "amount", "number", "description", "is", "flag", "count", "value", "note", "comment", "label", "first",
    "last", "col", "column", "field", "unnamed", "index", "row", "version", "deleted", "active", "start", "end",
    "from", "to", "of", "the", "and", "level", "category", "text", "total", "percent", "year", "month", "day",
})

_STEM_KEEP = frozenset({"status", "address", "class", "business", "process", "access", "analysis", "bus", "gas",
                        "news", "series", "sales", "campus", "canvas", "alias", "bonus", "census", "radius"})


def _stem(word: str) -> str:
    if word in _STEM_KEEP or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokens(name: str) -> list[str]:
    """The canonical word tokens of a column or table name.

    >>> tokens("customerID")
    ['customer', 'id']
    >>> tokens("Cust_Addresses2")
    ['customer', 'address']
    """
    out: list[str] = []
    for raw in _WORD.findall(name.replace("IDs", "Ids")):
        if raw.isdigit():
            continue
        word = raw.lower()
        word = _SYNONYMS.get(word, word)
        word = _stem(word)
        word = _SYNONYMS.get(word, word)
        if len(word) >= 2 and word not in _NOISE:
            out.append(word)
    return out


_TOKEN_CACHE: dict[str, tuple[str, ...]] = {}


def _cached_tokens(name: str) -> tuple[str, ...]:
    hit = _TOKEN_CACHE.get(name)
    if hit is None:
        if len(_TOKEN_CACHE) > 50_000:
            _TOKEN_CACHE.clear()
        hit = _TOKEN_CACHE[name] = tuple(tokens(name))
    return hit


# ---------------------------------------------------------------------------------------- features

_NUMERIC_TYPES = frozenset({"double", "float", "decimal", "real", "number", "numeric"})
_TIME_TYPES = frozenset({"date", "timestamp", "time", "datetime", "timestamp_ntz", "timestamp_tz", "interval"})
#: columns of these types are no join keys, however distinct their values (names and texts repeat by chance)
_NOT_KEY_SEMANTICS = frozenset({
    "timestamp", "date", "datetime", "currency_amount", "amount", "free_text", "text", "boolean", "percentage",
    "latitude", "longitude", "date_of_birth", "measurement", "quantity", "url", "person_name", "address",
    "postal_code", "ip_address", "phone",
})
_KEY_SEMANTICS = frozenset({"identifier", "uuid", "email", "sku", "iban", "national_id", "credit_card"})
_CATEGORY_SEMANTICS = frozenset({"category", "country", "country_code", "currency", "currency_code", "status",
                                 "language", "language_code", "enum", "city", "region"})
#: categorical columns of these types hold reference data that every business area uses
_REFERENCE_SEMANTICS = frozenset({"country", "country_code", "currency", "currency_code", "language",
                                  "language_code", "boolean", "timezone", "unit"})
_KEY_TOKENS = frozenset({"id", "code", "number", "product", "reference", "account"})
_PARTY = frozenset({"email", "phone", "address", "postal_code"})


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest())


def _normalise(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    text = str(value).strip().lower()
    return text or None


@dataclass
class _KeyColumn:
    dataset: int
    #: sorted bottom-k hashes of the distinct values
    sketch: list[int]
    #: the largest hash the sketch could hold (every distinct value below it is in the sketch)
    tau: int
    distinct: int
    #: inclusive bounds when every value is an integer, for the chance correction
    bounds: tuple[int, int] | None
    #: share of the key's population the sample holds (1 when the sample is the whole table)
    coverage: float
    #: every sampled value distinct (a primary key, or a one-to-one column)
    unique: bool = False
    prefix: list[float] = field(default_factory=list)


@dataclass
class _Features:
    names: Counter[str]
    vocab: Counter[int]
    keys: list[_KeyColumn]


def _finding_for(findings: Sequence[ColumnFinding], index: int, name: str) -> ColumnFinding | None:
    if index < len(findings) and findings[index].name == name:
        return findings[index]
    for finding in findings:
        if finding.name == name:
            return finding
    return None


def _features(position: int, dataset: DatasetSample, findings: Sequence[ColumnFinding],
              hashes: dict[str, int]) -> _Features:
    names: Counter[str] = Counter()
    vocab: Counter[int] = Counter()
    keys: list[_KeyColumn] = []
    table_words = [w for w in _cached_tokens(dataset.name) if w not in _TABLE_NOISE]
    for word in table_words:
        names[word] += 2
    semantics: set[str] = set()
    for index, column in enumerate(dataset.columns):
        words = _cached_tokens(column.name)
        if words and all(w in _HOUSEKEEPING for w in words) and any(w not in ("time", "date") for w in words):
            continue
        finding = _finding_for(findings, index, column.name)
        semantic = finding.semantic_type if finding is not None else None
        if semantic:
            semantics.add(semantic)
            names["~" + semantic] += 1
        for word in sorted(set(words)):  # sorted: the same float sums whatever the hash seed
            names[word] += 1
        _column_values(position, dataset, column.logical_type, column.values, semantic, words, vocab, keys, hashes)
    if "person_name" in semantics and semantics & _PARTY:
        names["~party"] += 2
    return _Features(names, vocab, keys)


def _column_values(position: int, dataset: DatasetSample, logical: str, values: Sequence[Any], semantic: str | None,
                   words: Sequence[str], vocab: Counter[int], keys: list[_KeyColumn], hashes: dict[str, int]) -> None:
    logical = (logical or "").lower()
    if logical in _NUMERIC_TYPES or logical in _TIME_TYPES or logical == "boolean":
        return
    if semantic in _NOT_KEY_SEMANTICS:
        return
    try:
        distinct_raw = set(values)
    except TypeError:  # unhashable values (lists, dicts): not keys, not categories
        return
    distinct_raw.discard(None)
    if not distinct_raw:
        return
    non_null = len(values) - values.count(None) if isinstance(values, list) else sum(v is not None for v in values)
    named_key = semantic in _KEY_SEMANTICS or semantic == "identifier" or bool(words and words[-1] in _KEY_TOKENS)
    raw_ratio = len(distinct_raw) / max(non_null, 1)
    if not named_key and semantic not in _CATEGORY_SEMANTICS and len(distinct_raw) > MAX_CATEGORY_DISTINCT \
            and raw_ratio < 0.8:
        return  # neither a vocabulary nor a key: measurements, free text
    kinds = set(map(type, distinct_raw))
    texts: set[str]
    if kinds == {str}:  # the common cases at C speed
        texts = set(map(str.lower, map(str.strip, distinct_raw)))
        texts.discard("")
        all_int = False
    elif kinds == {int}:
        texts = set(map(str, distinct_raw))
        all_int = True
    else:
        texts = set()
        all_int = True
        for value in distinct_raw:
            text = _normalise(value)
            if text is None:
                continue
            if all_int and not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
                all_int = False
            texts.add(text)
    distinct = len(texts)
    if distinct == 0:
        return
    ratio = distinct / max(non_null, 1)
    if sum(map(len, texts)) / distinct > 80:
        return  # long free text
    categorical = semantic in _CATEGORY_SEMANTICS or (
        distinct <= MAX_CATEGORY_DISTINCT and ratio <= MAX_CATEGORY_RATIO and not all_int)
    if categorical and not (semantic in _KEY_SEMANTICS or semantic == "identifier"):
        if semantic in _REFERENCE_SEMANTICS:
            return  # country and currency codes are everybody's: they say nothing about the area
        for text in sorted(texts):
            vocab[_cached_hash(text, hashes)] += 1
        return
    if not (named_key or ratio >= 0.8) or distinct < MIN_KEY_DISTINCT:
        return
    sketch, tau = _sketch(texts)
    bounds = None
    if all_int:
        ints = [int(t) for t in texts]
        bounds = (min(ints), max(ints))
    coverage = 1.0
    unique = distinct >= non_null
    if unique and dataset.total_rows and dataset.total_rows > dataset.rows > 0:
        coverage = max(distinct / dataset.total_rows, 1e-6)
    if any(k.dataset == position and k.sketch == sketch for k in keys[-20:]):
        return  # the same values twice in one dataset (a copied column) are one piece of evidence
    keys.append(_KeyColumn(position, sketch, tau, distinct, bounds, min(coverage, 1.0), unique))


def _sketch(texts: set[str]) -> tuple[list[int], int]:
    """The bottom-k sketch of a set of normalised values: the :data:`SKETCH_SIZE` values smallest under
    CRC-32 (cheap, deterministic, the same choice in every column), each kept as a 64-bit hash whose high
    half is that CRC (so the sketch sorts by it) and whose low half is the value's Adler-32 (so that two
    values collide only when both checksums do); and the largest hash the sketch could hold."""
    try:
        encoded = list(map(str.encode, texts))
    except UnicodeEncodeError:
        encoded = [t.encode("utf-8", "surrogatepass") for t in texts]
    crcs = list(map(zlib.crc32, encoded))
    if len(crcs) > SKETCH_SIZE:
        limit = sorted(crcs)[SKETCH_SIZE - 1]
        chosen = [(c, b) for c, b in zip(crcs, encoded, strict=True) if c <= limit]
    else:
        limit = -1
        chosen = list(zip(crcs, encoded, strict=True))
    sketch = sorted((c << 32) | zlib.adler32(b) for c, b in chosen)
    tau = _MAX_HASH if limit < 0 else (limit << 32) | 0xFFFFFFFF
    return sketch, tau


def _cached_hash(text: str, cache: dict[str, int]) -> int:
    h = cache.get(text)
    if h is None:
        h = cache[text] = _hash(text)
    return h


# ------------------------------------------------------------------------------------ similarities

def _tfidf(docs: Sequence[Mapping[Any, float]], df: Mapping[Any, int], n: int,
           smooth: float = 0.0) -> list[dict[Any, float]]:
    """TF-IDF vectors scaled to length 1 — or, with ``smooth``, as if each had one more private term of that
    weight, so that two datasets with one common word and little else are not "identical"."""
    out: list[dict[Any, float]] = []
    for doc in docs:
        vec: dict[Any, float] = {}
        for term, tf in doc.items():
            d = df.get(term, 0)
            idf = math.log((n + 1) / (d + 1)) if d else math.log(n + 1)
            if idf > 0:
                vec[term] = (1 + math.log(tf)) * idf
        norm = math.sqrt(sum(w * w for w in vec.values()) + smooth * smooth)
        out.append({t: w / norm for t, w in vec.items()} if norm else {})
    return out


def _cosines(vectors: Sequence[Mapping[Any, float]], max_df: int) -> dict[tuple[int, int], float]:
    """Pairwise cosine of unit vectors through an inverted index; terms in more than ``max_df`` vectors
    are skipped (their weight is tiny and they would make the pass quadratic)."""
    postings: dict[Any, list[tuple[int, float]]] = defaultdict(list)
    for i, vec in enumerate(vectors):
        for term, w in vec.items():
            postings[term].append((i, w))
    acc: dict[tuple[int, int], float] = defaultdict(float)
    for plist in postings.values():
        if len(plist) < 2 or len(plist) > max_df:
            continue
        for a in range(len(plist)):
            i, wi = plist[a]
            for b in range(a + 1, len(plist)):
                j, wj = plist[b]
                acc[(i, j)] += wi * wj
    return acc


def _joins(keys: Sequence[_KeyColumn]) -> dict[tuple[int, int], float]:
    """Join evidence between datasets: the best chance-corrected containment between their key columns."""
    if not keys:
        return {}
    df: Counter[int] = Counter()
    for key in keys:
        df.update(key.sketch)
    total = len(keys)
    # a value in very many key columns (small integers, "unknown") tells nothing about who joins whom
    cap = min(MAX_POSTING, max(8, total // 4))
    value_weight = {h: (0.0 if d > cap else math.log((total + 1) / d)) for h, d in df.items()}
    postings: dict[int, list[int]] = defaultdict(list)
    for k, key in enumerate(keys):
        for h in key.sketch:
            if 1 < df[h] <= cap:
                postings[h].append(k)
        key.prefix = list(accumulate(map(value_weight.__getitem__, key.sketch)))
    # the columns sharing at least MIN_SHARED sketch values with each column, counted at C speed
    owner = [key.dataset for key in keys]
    members = [frozenset(key.sketch) for key in keys]
    shared: dict[tuple[int, int], float] = {}
    for ka, key in enumerate(keys):
        hits: list[int] = []
        for h in key.sketch:
            plist = postings.get(h)
            if plist is not None:
                hits.extend(plist)
        da = owner[ka]
        for kb, count in Counter(hits).items():
            if kb > ka and count >= MIN_SHARED and owner[kb] != da:
                shared[(ka, kb)] = sum(map(value_weight.__getitem__, members[ka] & members[kb]))
    links: list[tuple[int, int, float]] = []
    degree: dict[int, set[int]] = defaultdict(set)
    for (ka, kb), weight in shared.items():
        a, b = keys[ka], keys[kb]
        tau = min(a.tau, b.tau)
        score = max(_containment(a, b, tau, weight), _containment(b, a, tau, weight))
        if score <= 0:
            continue
        if not a.unique and not b.unique:
            score *= SIBLING
        links.append((ka, kb, score))
        if score >= DEGREE_MIN - 1e-9:  # tolerance: DENSE_RANGE links land on the boundary
            degree[ka].add(b.dataset)
            degree[kb].add(a.dataset)
    best: dict[tuple[int, int], float] = {}
    for ka, kb, score in links:
        # a key that many datasets share (customers referenced by orders, tickets, invoices ...) links
        # business areas together: normalise by the degrees of both columns, as a normalised graph Laplacian does
        spread = math.sqrt(max(1, len(degree[ka])) * max(1, len(degree[kb])))
        score *= min(1.0, HUB_DEGREE / spread)
        a, b = keys[ka], keys[kb]
        pair = (a.dataset, b.dataset) if a.dataset < b.dataset else (b.dataset, a.dataset)
        if score > best.get(pair, 0.0):
            best[pair] = score
    return best


def _containment(a: _KeyColumn, b: _KeyColumn, tau: int, shared_weight: float) -> float:
    """How much of ``a``'s values are in ``b``, beyond chance, scaled to a full sample of ``b``."""
    upto = bisect_right(a.sketch, tau)
    if upto == 0:
        return 0.0
    denominator = a.prefix[upto - 1]
    if denominator <= 0:
        return 0.0
    observed = min(shared_weight / denominator, 1.0)
    expected = 0.0
    if a.bounds is not None and b.bounds is not None:
        (alo, ahi), (blo, bhi) = a.bounds, b.bounds
        overlap = max(0, min(ahi, bhi) - max(alo, blo) + 1) / (ahi - alo + 1)
        density = min(1.0, b.distinct / (bhi - blo + 1))
        expected = overlap * density
    if expected >= 0.9 and a.bounds is not None and b.bounds is not None:
        # both are dense integer ranges (auto-increment keys): any 1..m lies inside any 1..n, so containment
        # says little — except when the ranges start together and nearly end together (a foreign key's sample
        # reaches the end of its parent's range; an unrelated key's does when the tables have similar sizes)
        if observed < 0.95 or a.bounds[0] != b.bounds[0]:
            return 0.0
        fit = (a.bounds[1] - a.bounds[0] + 1) / (b.bounds[1] - b.bounds[0] + 1)
        return DENSE_RANGE * max(0.0, (fit - 0.8) / 0.2) * min(1.0, a.distinct / 20)
    lift = max(0.0, (observed - expected) / (1 - expected))
    lift = min(1.0, lift / b.coverage)
    # few distinct values are weak evidence
    return lift * min(1.0, a.distinct / 20)


@dataclass
class _Corpus:
    names: list[dict[str, float]]
    name_idf: dict[str, float]
    similarity: dict[tuple[int, int], float]


def _corpus(datasets: Sequence[DatasetSample], findings: Sequence[Sequence[ColumnFinding]],
            extra_docs: Iterable[Mapping[str, float]] = ()) -> tuple[_Corpus, list[_Features]]:
    n = len(datasets)
    hashes: dict[str, int] = {}
    features = [_features(i, ds, findings[i] if i < len(findings) else (), hashes) for i, ds in enumerate(datasets)]
    dataset_df: Counter[str] = Counter()
    for f in features:
        dataset_df.update(f.names.keys())
    # the domains' texts count as documents for matching clusters to domains, not for dataset similarity
    name_df = Counter(dataset_df)
    extra = list(extra_docs)
    for doc in extra:
        name_df.update(doc.keys())
    docs_total = n + len(extra)
    name_vectors = _tfidf([f.names for f in features], name_df, docs_total)
    vocab_df: Counter[int] = Counter()
    for f in features:
        vocab_df.update(f.vocab.keys())
    vocab_vectors = _tfidf([f.vocab for f in features], vocab_df, n, SMOOTH)
    max_df = max(50, n // 3)
    word_vectors = _tfidf([Counter({t: c for t, c in f.names.items() if not t.startswith("~")}) for f in features],
                          dataset_df, n, SMOOTH)
    semantic_vectors = _tfidf([Counter({t: c for t, c in f.names.items() if t.startswith("~")}) for f in features],
                              dataset_df, n, SMOOTH)
    names_sim = _cosines(word_vectors, max_df)
    semantic_sim = _cosines(semantic_vectors, max_df)
    vocab_sim = _cosines(vocab_vectors, max_df)
    keys = [k for f in features for k in f.keys]
    join_sim = _joins(keys)
    similarity: dict[tuple[int, int], float] = {}
    for pair in sorted(set(names_sim) | set(vocab_sim) | set(join_sim) | set(semantic_sim)):
        i, j = pair
        # a kind of evidence that one of the two lacks (no column words, no categorical column) is no evidence
        text = weight = 0.0
        for w_kind, vectors, sims in ((W_NAMES, word_vectors, names_sim), (W_VALUES, vocab_vectors, vocab_sim)):
            if vectors[i] and vectors[j]:
                text += w_kind * sims.get(pair, 0.0)
                weight += w_kind
        value = W_JOIN * join_sim.get(pair, 0.0) + W_SEMANTIC * semantic_sim.get(pair, 0.0)
        value = min(1.0, value + (text / weight if weight else 0.0))
        if value > 0.01:
            similarity[pair] = value
    idf = {t: math.log((docs_total + 1) / (d + 1)) for t, d in name_df.items()}
    return _Corpus(name_vectors, idf, similarity), features


def similarity_matrix(datasets: Sequence[DatasetSample],
                      findings: Sequence[Sequence[ColumnFinding]]) -> dict[tuple[int, int], float]:
    """The combined similarity of every pair ``(i, j)``, ``i < j``, that has any (absent pairs are 0)."""
    corpus, _ = _corpus(datasets, findings)
    return dict(sorted(corpus.similarity.items()))


# -------------------------------------------------------------------------------------- clustering

def _louvain(n: int, similarity: Mapping[tuple[int, int], float], resolution: float,
             tags: Sequence[str | None]) -> list[int]:
    """Modularity communities (Louvain: local moves, then aggregation, until nothing moves); deterministic:
    nodes are visited in index order and ties go to the lowest community. Communities whose ``tags`` differ
    never join."""
    adjacency: list[dict[int, float]] = [{} for _ in range(n)]
    for (i, j), s in similarity.items():
        if s >= MIN_EDGE:
            adjacency[i][j] = adjacency[i].get(j, 0.0) + s
            adjacency[j][i] = adjacency[j].get(i, 0.0) + s
    membership = list(range(n))
    node_tags: list[str | None] = list(tags)
    self_loops = [0.0] * n
    while True:
        size = len(adjacency)
        degree = [sum(row.values()) + 2 * self_loops[v] for v, row in enumerate(adjacency)]
        m2 = sum(degree)
        if m2 <= 0:
            break
        m2 += PRIOR_MASS
        community = list(range(size))
        total = list(degree)
        ctag: list[str | None] = list(node_tags)
        moved_any = False
        improved = True
        passes = 0
        while improved and passes < 100:
            improved = False
            passes += 1
            for v in range(size):
                current = community[v]
                links: dict[int, float] = defaultdict(float)
                for u, w in adjacency[v].items():
                    if u != v:
                        links[community[u]] += w
                total[current] -= degree[v]
                best, best_gain = current, links.get(current, 0.0) - resolution * total[current] * degree[v] / m2
                for c in sorted(links):
                    if c == current or not _compatible(ctag[c], node_tags[v]):
                        continue
                    gain = links[c] - resolution * total[c] * degree[v] / m2
                    if gain > best_gain + 1e-12:
                        best, best_gain = c, gain
                total[best] += degree[v]
                if best != current:
                    community[v] = best
                    if ctag[best] is None:
                        ctag[best] = node_tags[v]
                    improved = moved_any = True
        if not moved_any:
            break
        renumber: dict[int, int] = {}
        for c in community:
            renumber.setdefault(c, len(renumber))
        membership = [renumber[community[c]] for c in membership]
        new_adjacency: list[dict[int, float]] = [{} for _ in renumber]
        new_loops = [0.0] * len(renumber)
        new_tags: list[str | None] = [None] * len(renumber)
        for v in range(size):
            cv = renumber[community[v]]
            new_loops[cv] += self_loops[v]
            new_tags[cv] = new_tags[cv] or node_tags[v]
            for u, w in adjacency[v].items():
                cu = renumber[community[u]]
                if cu == cv:
                    new_loops[cv] += w / 2
                else:
                    new_adjacency[cv][cu] = new_adjacency[cv].get(cu, 0.0) + w
        adjacency, self_loops, node_tags = new_adjacency, new_loops, new_tags
    return membership


def _compatible(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


# ----------------------------------------------------------------------------------------- domains

def _unit(vec: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(w * w for w in vec.values()))
    return {t: w / norm for t, w in vec.items()} if norm else {}


def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b.get(t, 0.0) for t, w in a.items())


def _domain_doc(domain: DomainProfile) -> Counter[str]:
    doc: Counter[str] = Counter()
    for text in domain.texts:
        for word in _cached_tokens(text):
            doc[word] += 1
    for word in _cached_tokens(domain.name):
        doc[word] += 2
    for semantic in domain.semantic_types:
        doc["~" + semantic] += 1
    return doc


_IDENT = re.compile(r"[^a-z0-9_]+")


def _identifier(words: Sequence[str]) -> str:
    name = _IDENT.sub("_", "_".join(words).lower()).strip("_")
    name = re.sub(r"_+", "_", name)
    if not name:
        return ""
    if not name[0].isalpha():
        name = "d_" + name
    return name


def _domain_vectors(domains: Sequence[DomainProfile], features: Sequence[_Features], tags: Sequence[str | None],
                    ) -> tuple[list[str], list[Counter[str]]]:
    """Each domain's words: its profiles' texts and semantic types plus the words and semantic types of its
    registered datasets in this run (what a domain's tables look like is learned from its members)."""
    docs: dict[str, Counter[str]] = {}
    for profile in domains:
        docs.setdefault(profile.name, Counter()).update(_domain_doc(profile))
    for i, tag in enumerate(tags):
        if tag is not None:
            docs.setdefault(tag, Counter()).update(features[i].names)
    names = sorted(docs)
    return names, [docs[name] for name in names]


def _split(vec: Mapping[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """A name vector's words and its semantic types (``~...``), each scaled to length 1."""
    return (_unit({t: w for t, w in vec.items() if not t.startswith("~")}),
            _unit({t: w for t, w in vec.items() if t.startswith("~")}))


def _propagate(n: int, similarity: Mapping[tuple[int, int], float], tags: Sequence[str | None],
               priors: Sequence[Mapping[str, float]]) -> list[dict[str, float]]:
    """Label propagation over the similarity graph (Zhou et al., "learning with local and global
    consistency"): ``F = ALPHA·D^-1/2·W·D^-1/2·F + Y`` iterated to a fixed point, where ``Y`` is a registered
    dataset's own domain (clamped) or an unregistered dataset's prior (:data:`PRIOR_WEIGHT` times its
    similarity to each domain's words). Degrees get :data:`DEGREE_PRIOR` added so that a dataset with a single
    weak edge does not pass its neighbour's whole label on."""
    adjacency: list[dict[int, float]] = [{} for _ in range(n)]
    for (i, j), s in similarity.items():
        if s >= MIN_EDGE:
            adjacency[i][j] = s
            adjacency[j][i] = s
    degree = [sum(row.values()) + DEGREE_PRIOR for row in adjacency]
    norm = [[(j, ALPHA * w / math.sqrt(degree[i] * degree[j])) for j, w in sorted(row.items())]
            for i, row in enumerate(adjacency)]
    seed: list[dict[str, float]] = [
        {tags[i]: 1.0} if tags[i] is not None
        else {"": NO_DOMAIN, **{d: PRIOR_WEIGHT * p for d, p in priors[i].items() if p > 0}}
        for i in range(n)]
    sources = [[j for j, _ in row] for row in norm]
    weights = [[w for _, w in row] for row in norm]
    free = [i for i in range(n) if tags[i] is None and norm[i]]
    labels = sorted({d for s in seed for d in s})
    scores: list[dict[str, float]] = [{} for _ in range(n)]
    for label in labels:
        # one label at a time, Gauss-Seidel sweeps in index order (the same fixed point, fewer sweeps)
        y = [s.get(label, 0.0) for s in seed]
        f = list(y)
        for _ in range(PROPAGATION_STEPS):
            change = 0.0
            for i in free:
                value = y[i] + sum(map(mul, weights[i], map(f.__getitem__, sources[i])))
                if abs(value - f[i]) > change:
                    change = abs(value - f[i])
                f[i] = value
            if change < 1e-6:
                break
        for i, value in enumerate(f):
            if value > 0:
                scores[i][label] = value
    return scores


def cluster_datasets(datasets: Sequence[DatasetSample], findings: Sequence[Sequence[ColumnFinding]], *,
                     domains: Sequence[DomainProfile] = (), known: Mapping[str, str] | None = None,
                     resolution: float = RESOLUTION) -> list[ClusterAssignment]:
    """Group ``datasets`` into business areas; one :class:`ClusterAssignment` per dataset, in order.

    ``findings[i]`` are the column findings of ``datasets[i]``. ``known`` maps the name of a dataset that is
    already a registered product to its domain; ``domains`` describe the workspace's domains. Domain labels
    are propagated over the similarity graph from the registered datasets and from each dataset's
    similarity to the domains' words; the datasets that one domain reaches form its cluster. Datasets no
    domain reaches are clustered by modularity and named after their top terms (or the nearest domain when
    the cluster as a whole is near enough to one).

    >>> from meshfabric.discovery.model import ColumnSample, DatasetSample
    >>> ds = DatasetSample("t_0001", [ColumnSample("order_id", "string", ["a1", "a2"])], rows=2)
    >>> [(a.cluster, a.suggested_domain) for a in cluster_datasets([ds], [[]])]
    [('c1', 'order')]
    """
    known = dict(known or {})
    n = len(datasets)
    if n == 0:
        return []
    tags = [known.get(ds.name) for ds in datasets]
    corpus, features = _corpus(datasets, findings, [_domain_doc(d) for d in domains])
    domain_names, domain_docs = _domain_vectors(domains, features, tags)
    idf = corpus.name_idf
    default_idf = math.log(n + len(domain_docs) + 1)
    domain_vectors = [_unit({t: (1 + math.log(c)) * idf.get(t, default_idf) for t, c in doc.items()})
                      for doc in domain_docs]
    # the prior: the cosine of a dataset's words to a domain's words, plus SEMANTIC_PRIOR times that of their
    # semantic types (an area's kinds of data: a domain whose tables hold names and e-mails attracts party data)
    split_domains = [_split(vec) for vec in domain_vectors]
    priors: list[dict[str, float]] = []
    for i in range(n):
        prior: dict[str, float] = {}
        if tags[i] is None:
            words, kinds = _split(corpus.names[i])
            for d, (d_words, d_kinds) in zip(domain_names, split_domains, strict=True):
                prior[d] = _cosine(words, d_words) + SEMANTIC_PRIOR * _cosine(kinds, d_kinds)
        priors.append(prior)
    reached: list[str | None] = list(tags)
    if domain_names:
        scores = _propagate(n, corpus.similarity, tags, priors)
        for i in range(n):
            if tags[i] is None and scores[i]:
                d, s = sorted(scores[i].items(), key=lambda kv: (-round(kv[1], 12), kv[0]))[0]
                if d and s >= REACH:
                    reached[i] = d

    # datasets no domain reaches: modularity communities among themselves
    rest = [i for i in range(n) if reached[i] is None]
    position = {i: k for k, i in enumerate(rest)}
    sub = {(position[i], position[j]): s for (i, j), s in corpus.similarity.items()
           if i in position and j in position}
    communities = _louvain(len(rest), sub, resolution, [None] * len(rest))
    group_of: list[tuple[str, Any]] = [("", None)] * n
    for i in range(n):
        group_of[i] = ("d", reached[i]) if reached[i] is not None else ("c", communities[position[i]])

    neighbours: list[dict[int, float]] = [{} for _ in range(n)]
    for (i, j), sim in corpus.similarity.items():
        neighbours[i][j] = neighbours[j][i] = sim
    by_domain: dict[str, list[int]] = defaultdict(list)
    for i, tag in enumerate(tags):
        if tag is not None:
            by_domain[tag].append(i)

    def centroid_of(items: Sequence[int]) -> dict[str, float]:
        centroid: dict[str, float] = defaultdict(float)
        for i in items:
            for term, w in corpus.names[i].items():
                centroid[term] += w
        return _unit(centroid)

    # a community of unreached datasets as a whole may still be near a domain's words and members
    members: dict[tuple[str, Any], list[int]] = defaultdict(list)
    for i in range(n):
        members[group_of[i]].append(i)
    for key, items in list(members.items()):
        if key[0] != "c":
            continue
        words, kinds = _split(centroid_of(items))
        best: dict[str, float] = defaultdict(float)
        for d, (d_words, d_kinds) in zip(domain_names, split_domains, strict=True):
            best[d] = _cosine(words, d_words) + SEMANTIC_PRIOR * _cosine(kinds, d_kinds)
        for name, registered in sorted(by_domain.items()):
            link = sum(max((neighbours[i].get(r, 0.0) for r in registered), default=0.0) for i in items)
            best[name] += AFFINITY_WEIGHT * link / len(items)
        ranked = sorted(best.items(), key=lambda kv: (-round(kv[1], 12), kv[0]))
        if ranked and ranked[0][1] >= DOMAIN_THRESHOLD:
            for i in items:
                group_of[i] = ("d", ranked[0][0])

    # clusters in order of their first member
    order: dict[tuple[str, Any], list[int]] = {}
    for i in range(n):
        order.setdefault(group_of[i], []).append(i)
    vectors = dict(zip(domain_names, domain_vectors, strict=True))
    results: list[ClusterAssignment | None] = [None] * n
    used_names: set[str] = {d.name for d in domains} | set(known.values())
    for number, (key, items) in enumerate(order.items(), start=1):
        label = f"c{number}"
        presence: Counter[str] = Counter()
        raw: dict[str, float] = defaultdict(float)
        for i in items:
            for term, count in features[i].names.items():
                raw[term] += (1 + math.log(count)) * (idf.get(term, 0.0) + 0.1)
                presence[term] += 1
        terms = _top_terms(raw, presence, len(items))
        if key[0] == "d":
            domain = key[1]
            vec = vectors.get(domain)
            score = round(min(1.0, max(0.0, _cosine(centroid_of(items), vec))), 4) if vec else 1.0
        else:
            domain = _term_name(terms, used_names, label)
            used_names.add(domain)
            score = 0.0
        for i in items:
            own = tags[i]
            results[i] = ClusterAssignment(
                dataset=datasets[i].name, cluster=label, terms=list(terms),
                suggested_domain=own if own is not None else domain,
                domain_similarity=1.0 if own is not None else score)
    return [r for r in results if r is not None]


def _top_terms(centroid: Mapping[str, float], presence: Mapping[str, int], size: int, limit: int = 5) -> list[str]:
    scored = []
    for term, weight in centroid.items():
        if term.startswith("~") or "_" in term:
            continue
        share = presence[term] / size
        bonus = 0.3 if term in _GENERIC else 1.0
        scored.append((-(weight / size) * share * bonus, term))
    scored.sort()
    return [term for _, term in scored[:limit]]


def _term_name(terms: Sequence[str], used: set[str], label: str) -> str:
    words = [t for t in terms if t not in _GENERIC] or list(terms)
    base = _identifier(words[:2]) or f"area_{label}"
    if base not in used:
        return base
    for extra in words[2:]:
        candidate = _identifier([*words[:2], extra])
        if candidate and candidate not in used:
            return candidate
    suffix = 2
    while f"{base}_{suffix}" in used:
        suffix += 1
    return f"{base}_{suffix}"
