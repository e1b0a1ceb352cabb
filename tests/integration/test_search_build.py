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
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from helpers import pg_database
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        yield s
        s.close()
    else:
        request.getfixturevalue("pg_url")
        with pg_database() as url:
            s = open_store(url)
            yield s
            s.close()


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


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    with pg_database() as url:
        s = open_store(url)
        yield s
        s.close()


@pytest.mark.postgres
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(catalog=CATALOG)
def test_rebuild_in_worker_processes_writes_the_same_index(
    pg_store: Store, catalog: tuple[list[dict[str, Any]], list[list[str]], int]
) -> None:
    """On PostgreSQL a large catalog is indexed by worker processes, a part of whole domains
    each: the index is the one its definition gives, as from one process."""
    products, owners, max_terms = catalog
    _write(pg_store, products, owners)
    finished = []
    finish = search_index._Workers.finish

    def spy(self: Any, *args: Any) -> int:
        finished.append(len(self.jobs))
        return finish(self, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search_index, "MAX_TERMS", max_terms)
        mp.setattr(search_index, "PARALLEL_MIN", 1)
        mp.setattr(search_index, "WORKERS", 2)
        mp.setattr(search_index, "_cores_to_spare", lambda: True)
        mp.setattr(search_index._Workers, "finish", spy)
        assert rebuild_search(pg_store) == len(products) + len(DOMAINS)
    assert _stored(pg_store) == _expected(pg_store, max_terms)
    if len({p["domain"] for p in products}) > 1:  # two parts of whole domains
        assert finished == [2]


@pytest.mark.postgres
def test_a_failed_worker_fails_the_rebuild_and_leaves_the_index(pg_store: Store) -> None:
    products = [
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
        for i in range(3)
    ]
    _write(pg_store, products, [[] for _ in DOMAINS])
    rebuild_search(pg_store)
    before = _stored(pg_store)
    with store_changed(pg_store):
        make = search_index._workers

        def broken(*args: Any) -> Any:
            workers = make(*args)
            assert workers is not None
            workers.jobs[-1] = (*workers.jobs[-1][:1], "not-a-snapshot", *workers.jobs[-1][2:])
            return workers

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(search_index, "PARALLEL_MIN", 1)
            mp.setattr(search_index, "WORKERS", 2)
            mp.setattr(search_index, "_cores_to_spare", lambda: True)
            mp.setattr(search_index, "_workers", broken)
            with pytest.raises(RuntimeError, match="worker failed"):
                rebuild_search(pg_store)
    assert _stored(pg_store) == before  # nothing of the failed rebuild was written


@contextmanager
def store_changed(store: Store) -> Iterator[None]:
    """A product renamed (not indexed yet), so a rebuild would change the index."""
    with store.write() as s:
        row = s.scalars(select(ProductRow).limit(1)).one()
        row.description = "a quarantined zeppelin"
    yield
