"""The bulk rebuild writes exactly the index its definition gives, on generated catalogs.

The rebuild (``index._rebuild_all``) gathers postings per tier with set operations and writes them
in bulk; the index it must produce is defined document by document: each document in tie order
numbered ``GAP`` apart, its postings ``index.postings`` (every word at the tier of its best field,
``ranking.impacts``, and its filter values), its vocabulary words ``Document.terms`` (filtered to
the ``MAX_TERMS`` most frequent words), and the vocabulary those counts. Catalogs are drawn by
hypothesis: camelCase and accented names, words shared between fields at different tiers, words
longer than the postings keep, numbers, owners lists, classifications, tags that are also column
words — and a vocabulary bound the catalog exceeds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from meshfabric.search import index as search_index
from meshfabric.search import rebuild_search
from meshfabric.search.index import GAP, Document, domain_document, postings, product_document
from meshfabric.search.ranking import impacts, name_words, tier_words
from meshfabric.store import Store, open_store
from meshfabric.store.models import DomainRow, ProductRow
from meshfabric.store.models_search import MAX_WORD, SearchDocumentRow, SearchPostingRow, SearchTermRow

DOMAINS = ["crm", "sales", "Ops-EU"]
SHARED = ["customer", "Customer", "email", "orders", "order", "ORDER", "Chloé", "pii", "gold", "2024", "a1", "x"]
PIECE = st.one_of(
    st.sampled_from(SHARED),
    st.text(alphabet="abcdeXYZéüßΩ0123456789", min_size=1, max_size=8),
    st.just("w" * (MAX_WORD + 5)),  # a word the postings cut
)
SEPARATOR = st.sampled_from([" ", "_", ".", "-", "", ", ", "@"])


@st.composite
def texts(draw: st.DrawFn, max_pieces: int = 6, max_size: int | None = None) -> str:
    out = ""
    for _ in range(draw(st.integers(0, max_pieces))):
        out += draw(PIECE) + draw(SEPARATOR)
    return out[:max_size] if max_size else out


COLUMN = st.fixed_dictionaries(
    {
        "name": texts(3, 40),
        "type": st.sampled_from(["bigint", "string", "decimal(10,2)", "TIMESTAMP", ""]),
        "description": texts(5),
        "classification": st.lists(st.sampled_from(["pii", "PII", "secret", "gold"]), max_size=2),
    }
)
PRODUCT = st.fixed_dictionaries(
    {
        "domain": st.sampled_from(DOMAINS),
        "name": texts(3, 40).filter(bool),
        "owner": texts(2, 200),
        "description": texts(8),
        "tags": st.lists(texts(2, 30), max_size=3),
        "status": st.sampled_from(["draft", "published"]),
        "columns": st.lists(COLUMN, max_size=4),
    }
)
CATALOG = st.tuples(
    st.lists(PRODUCT, max_size=12, unique_by=lambda p: (p["domain"], p["name"])),
    st.lists(st.lists(texts(1, 30), max_size=2), min_size=len(DOMAINS), max_size=len(DOMAINS)),
    st.sampled_from([3, 50_000]),
)


@pytest.fixture
def store(both_stores: Store) -> Store:
    """A fresh store, on SQLite and on PostgreSQL (conftest's ``both_stores``)."""
    return both_stores


def _write(store: Store, products: list[dict[str, Any]], owners: list[list[str]]) -> None:
    with store.write() as s:
        s.execute(delete(ProductRow))
        s.execute(delete(DomainRow))
        for name, domain_owners in zip(DOMAINS, owners, strict=True):
            s.add(DomainRow(name=name, description=f"the {name} domain", owners=domain_owners))
        s.flush()
        for p in products:
            s.add(ProductRow(version="1.0.0", source="db", spec={}, spec_hash="x", file="", **p))


def _expected(
    store: Store, max_terms: int
) -> tuple[set[tuple[str, int, int]], dict[tuple[str, str], Any], dict[str, int]]:
    """The index by its definition, document by document."""
    with store.read() as s:
        docs: list[Document] = [domain_document(r) for r in s.scalars(select(DomainRow))]
        docs += [product_document(r) for r in s.scalars(select(ProductRow))]
    docs.sort(key=lambda d: (d.kind != "product", d.key))
    counts = Counter(t for d in docs for t in d.terms())
    kept = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_terms])
    rows = {
        (d.kind, d.key): (
            i * GAP,
            [t for t in d.terms() if t in kept],
            *(w[:MAX_WORD] for w in name_words(d)),
            d.domain,
            d.name,
            d.owner,
            d.description,
            d.tags,
            d.status,
            d.classifications,
            d.columns,
        )
        for i, d in enumerate(docs, 1)
    }
    return {p for i, d in enumerate(docs, 1) for p in postings(d, i * GAP)}, rows, kept


def _stored(store: Store) -> tuple[set[tuple[str, int, int]], dict[tuple[str, str], Any], dict[str, int]]:
    with store.read() as s:
        posted = [
            tuple(r) for r in s.execute(select(SearchPostingRow.term, SearchPostingRow.tier, SearchPostingRow.ordinal))
        ]
        assert len(posted) == len(set(posted))
        rows = {
            (r.kind, r.key): (
                r.ordinal,
                r.terms,
                r.name_words,
                r.full_words,
                r.domain,
                r.name,
                r.owner,
                r.description,
                r.tags,
                r.status,
                r.classifications,
                r.columns,
            )
            for r in s.scalars(select(SearchDocumentRow))
        }
        vocabulary = {r.term: r.doc_count for r in s.scalars(select(SearchTermRow))}
    return set(posted), rows, vocabulary


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(catalog=CATALOG)
def test_rebuild_writes_the_index_its_definition_gives(
    store: Store, catalog: tuple[list[dict[str, Any]], list[list[str]], int]
) -> None:
    products, owners, max_terms = catalog
    _write(store, products, owners)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search_index, "MAX_TERMS", max_terms)
        assert rebuild_search(store) == len(products) + len(DOMAINS)
    assert _stored(store) == _expected(store, max_terms)


@settings(max_examples=300, deadline=None)
@given(product=PRODUCT, kind=st.sampled_from(["product", "domain"]))
def test_tier_words_group_impacts_by_tier(product: dict[str, Any], kind: str) -> None:
    """The rebuild's per-field word sets give every word the tier ``impacts`` gives it."""
    d = Document(kind, f"{product['domain']}.{product['name']}", **product)
    by_tier = tier_words(d)
    assert sum(map(len, by_tier)) == len(set().union(*by_tier))  # each word at one tier
    assert {w: tier for tier, found in enumerate(by_tier) for w in found} == impacts(d)


@contextmanager
def in_workers(workers: int = 2) -> Iterator[list[int]]:
    """Rebuilds of any size use ``workers`` processes while the machine's load is ignored; yields
    the number of processes each rebuild that used them started."""
    started: list[int] = []
    finish = search_index._Workers.finish

    def spy(self: Any, *args: Any) -> int:
        started.append(len(self.jobs))
        return finish(self, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search_index, "PARALLEL_MIN", 1)
        mp.setattr(search_index, "WORKERS", workers)
        mp.setattr(search_index, "_cores_to_spare", lambda: True)
        mp.setattr(search_index._Workers, "finish", spy)
        yield started


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(catalog=CATALOG)
def test_rebuild_in_worker_processes_writes_the_same_index(
    store: Store, catalog: tuple[list[dict[str, Any]], list[list[str]], int]
) -> None:
    """A large catalog is indexed by worker processes, a part of whole domains each (on SQLite
    reading the file while the rebuild holds the write transaction and has deleted the old index):
    the index is the one its definition gives, row for row the one a single process writes."""
    products, owners, max_terms = catalog
    _write(store, products, owners)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search_index, "MAX_TERMS", max_terms)
        mp.setattr(search_index, "WORKERS", 1)
        rebuild_search(store)
        alone = _stored(store)
        with in_workers() as started:
            assert rebuild_search(store) == len(products) + len(DOMAINS)
    assert _stored(store) == alone == _expected(store, max_terms)
    if len({p["domain"] for p in products}) > 1:  # two parts of whole domains
        assert started == [2]


def _products(per_domain: int) -> list[dict[str, Any]]:
    return [
        {
            "domain": d,
            "name": f"{d.lower()}_orders_{i}",
            "owner": "ann",
            "description": "orders",
            "tags": [],
            "status": "published",
            "columns": [{"name": "order_id", "type": "bigint"}],
        }
        for d in DOMAINS
        for i in range(per_domain)
    ]


def _broken(how: str) -> Any:
    """``_workers`` with the last worker's job broken: a snapshot that is none (PostgreSQL), a
    product key missing from its numbers (the worker fails after the other one sent its
    documents), or a product less to index than the rebuild counts on."""
    make = search_index._workers

    def broken(*args: Any) -> Any:
        workers = make(*args)
        assert workers is not None
        url, snapshot, domains, numbers, now = workers.jobs[-1]
        if how == "snapshot":
            snapshot = "not-a-snapshot"
        elif how == "key":
            numbers = dict(list(numbers.items())[1:])
        else:  # a domain of the part not read: its products never indexed
            domains = domains[1:]
        workers.jobs[-1] = (url, snapshot, domains, numbers, now)
        return workers

    return broken


@pytest.mark.parametrize("how", ["snapshot", "key", "fewer"])
def test_a_failed_worker_fails_the_rebuild_and_leaves_the_index(store: Store, how: str) -> None:
    if how == "snapshot" and store.is_sqlite:
        pytest.skip("SQLite workers read no snapshot")
    _write(store, _products(3), [[] for _ in DOMAINS])
    rebuild_search(store)
    before = _stored(store)
    with store_changed(store), in_workers(3), pytest.MonkeyPatch.context() as mp:
        mp.setattr(search_index, "_workers", _broken(how))
        with pytest.raises(RuntimeError, match="worker failed" if how != "fewer" else "indexed 6 products of 9"):
            rebuild_search(store)
    assert _stored(store) == before  # nothing of the failed rebuild was written
    with in_workers(3) as started:  # the store is not left locked or busy
        rebuild_search(store)
    assert started == [3]
    assert _stored(store) != before


def test_without_wal_sqlite_rebuilds_in_one_process() -> None:
    """An in-memory SQLite store (no WAL: no other process can read it) is indexed in one process."""
    store = open_store("sqlite://")
    try:
        _write(store, _products(2), [[] for _ in DOMAINS])
        with in_workers() as started:
            assert rebuild_search(store) == 2 * len(DOMAINS) + len(DOMAINS)
        assert started == []
        assert _stored(store) == _expected(store, search_index.MAX_TERMS)
    finally:
        store.close()


@contextmanager
def store_changed(store: Store) -> Iterator[None]:
    """A product renamed (not indexed yet), so a rebuild would change the index."""
    with store.write() as s:
        row = s.scalars(select(ProductRow).limit(1)).one()
        row.description = "a quarantined zeppelin"
    yield
