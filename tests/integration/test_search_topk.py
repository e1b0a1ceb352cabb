"""The top k retrieved from the postings equals what scoring every document ranks.

A small random catalog with a tiny vocabulary (so scores tie massively, as in a real catalog
where most documents hold a common word in the same field) is searched with many queries —
common and rare words, prefixes, typos, several words, filters, a restricted principal, pages
further down — and every page, score and total is compared with ``search_exhaustive``, which
scores every document holding a query word with :func:`meshfabric.search.ranking.score`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from helpers import pg_database
from meshfabric.events import DomainEvent, append
from meshfabric.mesh import Mesh
from meshfabric.search import rebuild_search, retrieval, service, sync_search
from meshfabric.search.index import GAP, STEP
from meshfabric.search.retrieval import TOTAL_CAP
from meshfabric.store import open_store
from meshfabric.store.models import DomainRow, ProductRow
from meshfabric.store.models_search import SearchDocumentRow

COMMON = ["customer", "customers", "email", "order", "orders", "ordering", "invoice", "payment", "pay", "cust"]
RARE = ["zorba", "zorbas", "quill", "quilted", "mango", "ember", "embers", "tundra"]
TYPES = ("bigint", "string", "decimal(10,2)")


def _populate(url: str, n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    store = open_store(url)
    domains = ["crm", "sales", "ops"]
    fqns = []
    with store.write() as s:
        for d in domains:
            s.add(DomainRow(name=d, description=" ".join(rng.sample(COMMON + RARE, 2)), owners=[f"{d}@example.com"]))
            append(s, DomainEvent("domain.created", d, {"domain": d}))
        for i in range(n):
            d = rng.choice(domains)
            words = rng.sample(COMMON + RARE, rng.randint(1, 2))
            name = "_".join(words) + ("" if rng.random() < 0.2 else f"_{i}")
            if f"{d}.{name}" in fqns:
                continue
            cols = [
                {
                    "name": "_".join(rng.sample(COMMON + RARE, rng.randint(1, 2))),
                    "type": rng.choice(TYPES),
                    "description": " ".join(rng.sample(COMMON + RARE, 2)) if rng.random() < 0.5 else "",
                    "classification": ["pii"] if rng.random() < 0.1 else [],
                }
                for _ in range(rng.randint(0, 4))
            ]
            s.add(
                ProductRow(
                    domain=d,
                    name=name,
                    owner=rng.choice(["ann@example.com", "bob@example.com"]),
                    description=" ".join(rng.choices(COMMON + RARE, k=rng.randint(0, 5))),
                    tags=rng.sample(["gold", "Finance", "embers"], rng.randint(0, 2)),
                    status=rng.choice(["published", "draft"]),
                    version="1.0.0",
                    source="db",
                    spec={},
                    spec_hash="x",
                    columns=cols,
                    file="",
                )
            )
            append(s, DomainEvent("product.created", d, {"product": f"{d}.{name}"}))
            fqns.append(f"{d}.{name}")
    store.close()
    return fqns


QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("customer", {}),
    ("customer email", {}),
    ("order", {}),
    ("ord", {}),
    ("cust", {}),
    ("c", {}),
    ("pay", {}),
    ("zorba", {}),
    ("zorba mango", {}),
    ("customer email order", {}),
    ("custmer", {}),
    ("emial", {}),
    ("zorbaa quill", {}),
    ("nothing here", {}),
    ("crm customer", {}),
    ("embers", {}),
    ("customer", {"offset": 20}),
    ("order", {"offset": 57, "limit": 7}),
    ("email", {"limit": 1}),
    ("customer", {"domain": "crm"}),
    ("order", {"domain": "ops", "status": "draft"}),
    ("email", {"tag": "finance"}),
    ("customer", {"classification": "pii"}),
    ("order", {"owner": "ann@example.com"}),
    ("customer", {"user": "some"}),
    ("customer email", {"user": "some"}),
    ("ember", {"user": "some", "tag": "gold"}),
    ("mango", {"status": "published"}),
    ("", {"domain": "sales"}),
    ("", {"user": "some", "limit": 5}),
    # stems: plurals, -ing, -ed meet their word (below the word itself), also with filters and a principal
    ("customers", {}),
    ("orders", {}),
    ("ordered customers", {}),
    ("quills", {}),
    ("quilting", {}),
    ("zorbas mango", {}),
    ("emails", {"offset": 30}),
    ("orders", {"user": "some"}),
    ("ordering", {"tag": "finance"}),
    ("embers", {"domain": "crm"}),
    ("customers emails orders", {}),
    ("custmers", {}),
    ("invoices zorbas", {}),
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Mesh, list[str]]]:
    def make(url: str) -> tuple[Mesh, list[str]]:
        fqns = _populate(url, 400)
        mesh = Mesh.from_store(url)
        sync_search(mesh.store)
        return mesh, fqns

    if request.param == "sqlite":
        mesh, fqns = make(f"sqlite:///{tmp_path / 'store.db'}")
        yield mesh, fqns
        mesh.close()
    else:
        request.getfixturevalue("pg_url")
        with pg_database() as url:
            mesh, fqns = make(url)
            yield mesh, fqns
            mesh.close()


def _restrict(monkeypatch: pytest.MonkeyPatch, fqns: list[str]) -> None:
    some = set(fqns[::3])
    monkeypatch.setattr(service, "visible_products", lambda access, user: some if user == "some" else None)


def _same(mesh: Mesh, q: str, kw: dict[str, Any]) -> None:
    fast = mesh.search(q, **kw)
    full = service.search_exhaustive(mesh.store, mesh.access, q, **kw)
    assert [(h.fqn, h.score) for h in fast] == [(h.fqn, h.score) for h in full], (q, kw)
    assert [h.to_dict() for h in fast] == [h.to_dict() for h in full]
    assert (fast.mode, fast.corrections) == (full.mode, full.corrections)
    if fast.total_exact:
        assert fast.total == full.total, (q, kw)
    else:
        assert TOTAL_CAP <= fast.total <= full.total or fast.total <= full.total


@pytest.mark.parametrize("few", [0, retrieval.FEW_POSTINGS, -1], ids=["walk", "few", "common"])
def test_top_k_equals_exhaustive_scoring(
    catalog: tuple[Mesh, list[str]], monkeypatch: pytest.MonkeyPatch, few: int
) -> None:
    """Both ways of retrieving — the walk over score levels, and scoring every document of a
    rare word — give what scoring every matching document gives; and so does the walk when every
    word and filter value counts as common (counts read in tie order, in windows of a few
    ordinals, as for two common words of a large catalog)."""
    mesh, fqns = catalog
    _restrict(monkeypatch, fqns)
    monkeypatch.setattr(retrieval, "FEW_POSTINGS", max(few, 0))
    if few < 0:
        monkeypatch.setattr(retrieval, "SIZE_CAP", 1)
        monkeypatch.setattr(retrieval, "COUNT_CAP", 1)
        monkeypatch.setattr(retrieval, "FACET_CAP", 1)
        monkeypatch.setattr(retrieval, "COUNT_WINDOW", 4)
    for q, kw in QUERIES:
        _same(mesh, q, kw)


def test_pages_of_massive_ties_follow_tie_order(catalog: tuple[Mesh, list[str]]) -> None:
    mesh, _ = catalog
    whole = service.search_exhaustive(mesh.store, mesh.access, "customer", limit=1000)
    pages = [h.fqn for o in range(0, whole.total, 13) for h in mesh.search("customer", limit=13, offset=o)]
    assert pages == whole.fqns


def test_added_products_take_ordinals_in_tie_order(
    catalog: tuple[Mesh, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Products added after the build (before, between and after existing keys, and a run of
    names in order that uses the gap up) keep the tie order, also when the index must renumber."""
    mesh, _fqns = catalog
    assert GAP > 4 and STEP > 1
    monkeypatch.setattr("meshfabric.search.index.GAP", 4)  # room for two insertions between neighbours
    monkeypatch.setattr(retrieval, "FEW_POSTINGS", 0)
    rebuild_search(mesh.store)
    names = ["aaa_customer", "zzz_customer", "customer_email_0", *(f"customer_email_1{i:02d}" for i in range(45))]
    with mesh.store.write() as s:
        for i, name in enumerate(names):
            d = ["crm", "sales", "ops"][i % 3]
            s.add(
                ProductRow(
                    domain=d,
                    name=name,
                    owner="ann@example.com",
                    description="customer",
                    tags=[],
                    status="draft",
                    version="1.0.0",
                    source="db",
                    spec={},
                    spec_hash="x",
                    columns=[],
                    file="",
                )
            )
            append(s, DomainEvent("product.created", d, {"product": f"{d}.{name}"}))
    for q, kw in QUERIES[:12]:
        _same(mesh, q, kw)
    with mesh.store.read() as s:
        docs = [
            (k, key)
            for k, key in s.execute(
                select(SearchDocumentRow.kind, SearchDocumentRow.key).order_by(SearchDocumentRow.ordinal)
            )
        ]
    assert docs == sorted(docs, key=lambda kk: (kk[0] != "product", kk[1]))
    with mesh.store.read() as s:
        ordinals = list(s.scalars(select(SearchDocumentRow.ordinal).order_by(SearchDocumentRow.ordinal)))
    assert len(ordinals) == len(docs)
    monkeypatch.undo()
    rebuild_search(mesh.store)
    _same(mesh, "customer", {})
