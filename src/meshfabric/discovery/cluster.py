"""Group discovered datasets into business areas and suggest a domain for each area.

Table names alone do not separate business areas (``t_0042``, ``export_3``, ``sheet1``), so the
similarity of two datasets is built from what they hold:

* **names** — a TF-IDF vector per dataset over its column-name tokens (snake/camel/digit split, light
  stemming, a small synonym map, plus the whole canonical column name), the informative tokens of its
  table name and its semantic types (``~email``, and ``~party`` for person-like data). Tokens that every
  dataset has (``id``, ``created_at``) get an inverse document frequency near zero.
* **vocabularies** — a TF-IDF vector per dataset over the hashed values of its categorical columns
  (status words, country codes, priorities): two order tables share ``shipped``/``pending``.
* **joins** — the hashed distinct values of key-like columns (identifiers, codes, high-distinct
  integers and strings), kept as bottom-k sketches of 64-bit hashes; the containment of one column's
  values in another's (``orders.customer_id`` ⊂ ``customers.id``) is estimated from the sketches,
  weighted so that values shared by many columns count little, corrected for chance for integer ranges
  (``1..200`` is inside any ``1..n`` key) and for samples that only hold part of a large key.

``similarity = min(1, W_JOIN · join + (W_NAMES · names + W_VALUES · vocabularies) / (W_NAMES + W_VALUES))``
where the vocabulary term (and its weight) only counts when both datasets have categorical columns.
Datasets are then grouped by average-linkage agglomerative clustering over that similarity, stopping
at :data:`MERGE_THRESHOLD`; two clusters holding registered products of different domains never merge.

Sampled values live in process only: the sketches keep hashes, the vocabularies keep hashes, and
nothing derived from a value reaches a :class:`ClusterAssignment` except through column and table names.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from meshfabric.discovery.model import ClusterAssignment, ColumnFinding, DatasetSample, DomainProfile

__all__ = [
    "DOMAIN_THRESHOLD", "MERGE_THRESHOLD", "W_JOIN", "W_NAMES", "W_VALUES", "cluster_datasets", "similarity_matrix",
    "tokens",
]

#: weight of the name/semantic-type TF-IDF cosine in the combined similarity
W_NAMES = 0.7
#: weight of the categorical-vocabulary TF-IDF cosine (only when both datasets have categorical columns)
W_VALUES = 0.3
#: weight of the join evidence (added on top: a clear key containment links two datasets by itself)
W_JOIN = 0.6
#: average-linkage stops when no two clusters are at least this similar on average
MERGE_THRESHOLD = 0.2
#: cosine similarity above which a cluster is said to belong to an existing domain
DOMAIN_THRESHOLD = 0.15

#: bottom-k sketch size for the values of a key-like column
SKETCH_SIZE = 128
#: a column's values are key-like evidence only with at least this many distinct values
MIN_KEY_DISTINCT = 5
#: categorical columns: at most this many distinct values ...
MAX_CATEGORY_DISTINCT = 40
#: ... and this share of distinct values among the non-null ones
MAX_CATEGORY_RATIO = 0.5
#: a containment estimate needs this many shared sketch values
MIN_SHARED = 3

_MAX_HASH = (1 << 64) - 1

# ------------------------------------------------------------------------------------------- tokens

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

#: abbreviations and synonyms, applied after stemming
_SYNONYMS: dict[str, str] = {
    "cust": "customer", "client": "customer", "clnt": "customer", "buyer": "customer", "consumer": "customer",
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
_NOISE = frozenset({"col", "column", "field", "unnamed", "var", "attr", "attribute", "untitled"})

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
_INT_TYPES = frozenset({"integer", "long", "int", "short", "byte", "bigint", "smallint", "tinyint"})
_NOT_KEY_SEMANTICS = frozenset({
    "timestamp", "date", "datetime", "currency_amount", "amount", "free_text", "text", "boolean", "percentage",
    "latitude", "longitude", "date_of_birth", "measurement", "quantity", "url",
})
_KEY_SEMANTICS = frozenset({"identifier", "uuid", "email", "sku", "iban", "national_id", "credit_card", "phone"})
_CATEGORY_SEMANTICS = frozenset({"category", "country", "country_code", "currency", "currency_code", "status",
                                 "language", "language_code", "enum", "city", "region"})
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
    weights: list[float] = field(default_factory=list)
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


def _features(position: int, dataset: DatasetSample, findings: Sequence[ColumnFinding]) -> _Features:
    names: Counter[str] = Counter()
    vocab: Counter[int] = Counter()
    keys: list[_KeyColumn] = []
    table_words = [w for w in _cached_tokens(dataset.name) if w not in _TABLE_NOISE]
    for word in table_words:
        names[word] += 2
    semantics: set[str] = set()
    for index, column in enumerate(dataset.columns):
        finding = _finding_for(findings, index, column.name)
        semantic = finding.semantic_type if finding is not None else None
        if semantic:
            semantics.add(semantic)
            names["~" + semantic] += 1
        words = _cached_tokens(column.name)
        for word in set(words):
            names[word] += 1
        if len(words) > 1:
            names["_".join(words)] += 1
        _column_values(position, dataset, column.name, column.logical_type, column.values, semantic, words,
                       vocab, keys)
    if "person_name" in semantics and semantics & _PARTY:
        names["~party"] += 2
    return _Features(names, vocab, keys)


def _column_values(position: int, dataset: DatasetSample, name: str, logical: str, values: Sequence[Any],
                   semantic: str | None, words: Sequence[str], vocab: Counter[int], keys: list[_KeyColumn]) -> None:
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
    non_null = sum(1 for v in values if v is not None)
    texts: set[str] = set()
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
    long_text = sum(len(t) for t in texts) / distinct > 80
    if long_text:
        return
    categorical = semantic in _CATEGORY_SEMANTICS or (
        distinct <= MAX_CATEGORY_DISTINCT and ratio <= MAX_CATEGORY_RATIO and not all_int)
    key_like = (semantic in _KEY_SEMANTICS or (words and words[-1] in _KEY_TOKENS) or ratio >= 0.8) \
        and distinct >= MIN_KEY_DISTINCT
    if categorical and not (semantic in _KEY_SEMANTICS or semantic == "identifier"):
        for text in texts:
            vocab[_hash(text)] += 1
        return
    if not key_like:
        return
    hashes = [_hash(t) for t in texts]
    if len(hashes) > SKETCH_SIZE:
        sketch = heapq.nsmallest(SKETCH_SIZE, hashes)
        tau = sketch[-1]
    else:
        sketch = sorted(hashes)
        tau = _MAX_HASH
    bounds = None
    if all_int:
        ints = [int(t) for t in texts]
        bounds = (min(ints), max(ints))
    coverage = 1.0
    unique = distinct >= non_null
    if unique and dataset.total_rows and dataset.total_rows > dataset.rows > 0:
        coverage = max(distinct / dataset.total_rows, 1e-6)
    keys.append(_KeyColumn(position, sketch, tau, distinct, bounds, min(coverage, 1.0)))


# ------------------------------------------------------------------------------------ similarities

def _tfidf(docs: Sequence[Mapping[Any, float]], df: Mapping[Any, int], n: int) -> list[dict[Any, float]]:
    out: list[dict[Any, float]] = []
    for doc in docs:
        vec: dict[Any, float] = {}
        for term, tf in doc.items():
            d = df.get(term, 0)
            idf = math.log((n + 1) / (d + 1)) if d else math.log(n + 1)
            if idf > 0:
                vec[term] = (1 + math.log(tf)) * idf
        norm = math.sqrt(sum(w * w for w in vec.values()))
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


def _joins(keys: Sequence[_KeyColumn], n: int) -> dict[tuple[int, int], float]:
    """Join evidence between datasets: the best chance-corrected containment between their key columns."""
    if not keys:
        return {}
    df: Counter[int] = Counter()
    for key in keys:
        df.update(key.sketch)
    total = len(keys)
    cap = max(8, total // 4)
    postings: dict[int, list[int]] = defaultdict(list)
    for k, key in enumerate(keys):
        weights = []
        for h in key.sketch:
            d = df[h]
            w = 0.0 if d > cap else math.log((total + 1) / d)
            weights.append(w)
            if 1 < d <= cap:
                postings[h].append(k)
        key.weights = weights
        running = 0.0
        prefix = []
        for w in weights:
            running += w
            prefix.append(running)
        key.prefix = prefix
    shared: dict[tuple[int, int], list[float]] = {}
    for h, plist in postings.items():
        for a in range(len(plist)):
            ka = plist[a]
            da = keys[ka].dataset
            for b in range(a + 1, len(plist)):
                kb = plist[b]
                if keys[kb].dataset == da:
                    continue
                slot = shared.get((ka, kb))
                if slot is None:
                    slot = shared[(ka, kb)] = [0.0, 0.0]
                slot[0] += 1
                slot[1] += math.log((total + 1) / df[h])
    best: dict[tuple[int, int], float] = {}
    for (ka, kb), (count, weight) in shared.items():
        if count < MIN_SHARED:
            continue
        a, b = keys[ka], keys[kb]
        tau = min(a.tau, b.tau)
        score = max(_containment(a, b, tau, weight), _containment(b, a, tau, weight))
        if score <= 0:
            continue
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
    if expected >= 0.999:
        return 0.0
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
    features = [_features(i, ds, findings[i] if i < len(findings) else ()) for i, ds in enumerate(datasets)]
    name_df: Counter[str] = Counter()
    for f in features:
        name_df.update(f.names.keys())
    extra = list(extra_docs)
    for doc in extra:
        name_df.update(doc.keys())
    docs_total = n + len(extra)
    name_vectors = _tfidf([f.names for f in features], name_df, docs_total)
    vocab_df: Counter[int] = Counter()
    for f in features:
        vocab_df.update(f.vocab.keys())
    vocab_vectors = _tfidf([f.vocab for f in features], vocab_df, n)
    max_df = max(50, n // 3)
    names_sim = _cosines(name_vectors, max_df)
    vocab_sim = _cosines(vocab_vectors, max_df)
    keys = [k for f in features for k in f.keys]
    join_sim = _joins(keys, n)
    similarity: dict[tuple[int, int], float] = {}
    for pair in set(names_sim) | set(vocab_sim) | set(join_sim):
        i, j = pair
        both_vocab = bool(vocab_vectors[i]) and bool(vocab_vectors[j])
        text = W_NAMES * names_sim.get(pair, 0.0)
        weight = W_NAMES
        if both_vocab:
            text += W_VALUES * vocab_sim.get(pair, 0.0)
            weight += W_VALUES
        value = min(1.0, W_JOIN * join_sim.get(pair, 0.0) + text / weight)
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

def _average_linkage(n: int, similarity: Mapping[tuple[int, int], float], threshold: float,
                     tags: Sequence[str | None]) -> list[int]:
    """Average-linkage agglomerative clustering over a sparse similarity; returns a cluster id per item.
    Clusters whose ``tags`` (registered domains) differ never merge."""
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    tag: dict[int, str | None] = dict(enumerate(tags))
    sums: dict[int, dict[int, float]] = {i: {} for i in range(n)}
    for (i, j), s in similarity.items():
        sums[i][j] = sums[i].get(j, 0.0) + s
        sums[j][i] = sums[j].get(i, 0.0) + s
    heap: list[tuple[float, int, int]] = []
    for (i, j), s in sorted(similarity.items()):
        if s >= threshold and _compatible(tag[i], tag[j]):
            heap.append((-s, i, j))
    heapq.heapify(heap)
    next_id = n
    while heap:
        neg, a, b = heapq.heappop(heap)
        if a not in members or b not in members:
            continue
        current = sums[a].get(b, 0.0) / (len(members[a]) * len(members[b]))
        if abs(current + neg) > 1e-12:
            continue
        merged = next_id
        next_id += 1
        members[merged] = sorted(members.pop(a) + members.pop(b))
        tag[merged] = tag[a] or tag[b]
        row: dict[int, float] = {}
        for side in (a, b):
            for other, s in sums.pop(side).items():
                if other in (a, b):
                    continue
                row[other] = row.get(other, 0.0) + s
                del sums[other][side]
        sums[merged] = row
        size = len(members[merged])
        for other in sorted(row):
            sums[other][merged] = row[other]
            avg = row[other] / (size * len(members[other]))
            if avg >= threshold and _compatible(tag[merged], tag[other]):
                heapq.heappush(heap, (-avg, min(other, merged), max(other, merged)))
    labels = [0] * n
    for cid, items in members.items():
        for i in items:
            labels[i] = cid
    return labels


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
        words = _cached_tokens(text)
        for word in words:
            doc[word] += 1
        if 1 < len(words) <= 4:
            doc["_".join(words)] += 1
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


def cluster_datasets(datasets: Sequence[DatasetSample], findings: Sequence[Sequence[ColumnFinding]], *,
                     domains: Sequence[DomainProfile] = (), known: Mapping[str, str] | None = None,
                     threshold: float = MERGE_THRESHOLD) -> list[ClusterAssignment]:
    """Group ``datasets`` into business areas; one :class:`ClusterAssignment` per dataset, in order.

    ``findings[i]`` are the column findings of ``datasets[i]``. ``known`` maps the name of a dataset that is
    already a registered product to its domain: that domain is suggested for the other members of its
    cluster, and clusters of different registered domains never merge. ``domains`` describe the workspace's
    domains; a cluster without registered members gets the most similar one when its cosine similarity
    reaches :data:`DOMAIN_THRESHOLD`, else a name made of its top terms.

    >>> from meshfabric.discovery.model import ColumnSample, DatasetSample
    >>> ds = DatasetSample("t_0001", [ColumnSample("order_id", "string", ["a1", "a2"])], rows=2)
    >>> [(a.cluster, a.suggested_domain) for a in cluster_datasets([ds], [[]])]
    [('c1', 'order')]
    """
    known = dict(known or {})
    n = len(datasets)
    if n == 0:
        return []
    domain_docs = [_domain_doc(d) for d in domains]
    corpus, features = _corpus(datasets, findings, domain_docs)
    tags = [known.get(ds.name) for ds in datasets]
    labels = _average_linkage(n, corpus.similarity, threshold, tags)

    # clusters in order of their first member
    order: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        order.setdefault(label, []).append(i)
    clusters = list(order.values())

    idf = corpus.name_idf
    domain_vectors = [_unit({t: (1 + math.log(c)) * idf.get(t, 0.0) for t, c in doc.items()}) for doc in domain_docs]

    results: list[ClusterAssignment | None] = [None] * n
    used_names: set[str] = {d.name for d in domains} | set(known.values())
    for number, items in enumerate(clusters, start=1):
        label = f"c{number}"
        centroid: dict[str, float] = defaultdict(float)
        presence: Counter[str] = Counter()
        raw: dict[str, float] = defaultdict(float)
        for i in items:
            for term, w in corpus.names[i].items():
                centroid[term] += w
            for term, count in features[i].names.items():
                raw[term] += (1 + math.log(count)) * (idf.get(term, 0.0) + 0.1)
                presence[term] += 1
        terms = _top_terms(raw, presence, len(items))
        unit_centroid = _unit(centroid)
        votes = Counter(tags[i] for i in items if tags[i] is not None)
        domain, score = "", 0.0
        if votes:
            domain = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            score = 1.0
            for d, vec in zip(domains, domain_vectors, strict=True):
                if d.name == domain:
                    score = round(_cosine(unit_centroid, vec), 4)
                    break
        else:
            best = (0.0, "")
            for d, vec in zip(domains, domain_vectors, strict=True):
                s = _cosine(unit_centroid, vec)
                if s > best[0] + 1e-12 or (abs(s - best[0]) <= 1e-12 and best[1] and d.name < best[1]):
                    best = (s, d.name)
            if best[1] and best[0] >= DOMAIN_THRESHOLD:
                domain, score = best[1], round(best[0], 4)
        if not domain:
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
