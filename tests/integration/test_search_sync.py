"""Incremental sync keeps the index a rebuild would write: only what a change touches is rewritten
(the postings and vocabulary counts of the words that came or went), and after any sequence of
changes the postings, each document's vocabulary list and the vocabulary's counts equal those of
a fresh rebuild. Catalogs and changes are drawn by hypothesis, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from meshfabric.events import DomainEvent, append
from meshfabric.search import rebuild_search, sync_search
from meshfabric.store import Store
from meshfabric.store.models import DomainRow, ProductRow
from meshfabric.store.models_search import SearchDocumentRow, SearchPostingRow, SearchTermRow

DOMAINS = ["crm", "sales"]
WORDS = ["customer", "email", "order", "orders", "parcel", "zeppelin", "pii", "gold", "x1", "Chloé", "ship_date"]
TEXT = st.lists(st.sampled_from(WORDS), max_size=5).map(" ".join)
COLUMNS = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(WORDS), "type": st.sampled_from(["bigint", "string"]), "description": TEXT}
    ),
    max_size=3,
    unique_by=lambda c: c["name"],
)
PRODUCT = st.fixed_dictionaries(
    {
        "description": TEXT,
        "tags": st.lists(st.sampled_from(WORDS), max_size=2, unique=True),
        "columns": COLUMNS,
        "status": st.sampled_from(["draft", "published"]),
    }
)
NAMES = [f"{d}.{n}" for d in DOMAINS for n in ("orders", "emails", "parcel_log", "gold_customers")]
#: (fqn, None: delete it | the product's new fields)
CHANGES = st.lists(st.tuples(st.sampled_from(NAMES), st.one_of(st.none(), PRODUCT)), min_size=1, max_size=6)


@pytest.fixture
def store(both_stores: Store) -> Store:
    """A fresh store, on SQLite and on PostgreSQL (conftest's ``both_stores``)."""
    return both_stores


def _put(store: Store, fqn: str, fields: dict[str, Any] | None) -> None:
    """Write one product's row (or delete it) with the event sync folds."""
    domain, _, name = fqn.partition(".")
    with store.write() as s:
        row = s.scalar(select(ProductRow).where(ProductRow.domain == domain, ProductRow.name == name))
        if fields is None:
            if row is None:
                return
            s.delete(row)
            kind = "product.deleted"
        elif row is None:
            s.add(
                ProductRow(
                    domain=domain, name=name, owner="ann@example.com", version="1.0.0", source="db", spec={},
                    spec_hash="x", file="", **fields,
                )
            )
            kind = "product.created"
        else:
            for k, v in fields.items():
                setattr(row, k, v)
            kind = "product.updated"
        append(s, DomainEvent(kind, domain, {"product": fqn}))


def _index(store: Store) -> tuple[set[tuple[str, int, str]], dict[str, list[str]], dict[str, int]]:
    """The index by document key (ordinals differ between a sync and a rebuild)."""
    with store.read() as s:
        keys = {o: k for o, k in s.execute(select(SearchDocumentRow.ordinal, SearchDocumentRow.key))}
        posted = {
            (t, r, keys[o])
            for t, r, o in s.execute(select(SearchPostingRow.term, SearchPostingRow.tier, SearchPostingRow.ordinal))
        }
        terms = {r.key: list(r.terms or []) for r in s.scalars(select(SearchDocumentRow))}
        vocabulary = {r.term: r.doc_count for r in s.scalars(select(SearchTermRow))}
    return posted, terms, vocabulary


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=st.lists(PRODUCT, min_size=len(NAMES), max_size=len(NAMES)), changes=CHANGES)
def test_synced_changes_leave_the_index_a_rebuild_writes(
    store: Store, first: list[dict[str, Any]], changes: list[tuple[str, dict[str, Any] | None]]
) -> None:
    with store.write() as s:
        s.execute(delete(ProductRow))
        s.execute(delete(DomainRow))
        s.add_all(DomainRow(name=d, description=f"the {d} domain", owners=[f"{d}@example.com"]) for d in DOMAINS)
    for fqn, fields in zip(NAMES, first, strict=True):
        _put(store, fqn, fields)
    rebuild_search(store)
    for fqn, fields in changes:
        _put(store, fqn, fields)
        sync_search(store)
    synced = _index(store)
    rebuild_search(store)
    assert synced == _index(store)
