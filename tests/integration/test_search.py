"""Catalog search over an applied workspace, on a SQLite store and on a PostgreSQL store.

The workspace is built so every ranking tier has exactly one product for the query
"customer email": one named so, one whose name holds both words, one with such columns, one
tagged so, one that only says it in its description — and products that must never match.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from helpers import PG_ADMIN, cli, in_threads, pg_database, write, write_sqlite
from meshfabric import Mesh, catalog
from meshfabric.errors import QueryError
from meshfabric.search import index as search_index
from meshfabric.search import rebuild_search, sync_search
from meshfabric.spec.loader import load_workspace
from meshfabric.store.models import SubscriberOffsetRow
from meshfabric.store.models_search import SearchDocumentRow, SearchTermRow

MESH_YAML = """\
name: searchable
sources:
  db:
    kind: sqlite
    path: data/db.sqlite
domains:
  crm:
    description: Customer relationships
    owners: [crm-team@example.com]
  sales:
    description: Orders and revenue
    owners: [sales-team@example.com]
  marketing:
    description: Campaigns and newsletters
    owners: [marketing@example.com]
"""


def _product(
    domain: str,
    name: str,
    *,
    owner: str,
    description: str,
    tags: list[str],
    status: str,
    columns: list[tuple[str, str, str, str]],
) -> str:
    lines = [
        "kind: DataProduct",
        f"domain: {domain}",
        f"name: {name}",
        f"owner: {owner}",
        f"description: {description}",
        f"tags: [{', '.join(tags)}]",
        f"status: {status}",
        "version: 1.0.0",
        "output:",
        "  source: db",
        f"  table: {domain}_{name}",
        "schema:",
    ]
    for col, typ, desc, cls in columns:
        lines += [f"  - name: {col}", f"    type: {typ}"]
        if desc:
            lines.append(f"    description: {desc}")
        if cls:
            lines.append(f"    classification: {cls}")
    return "\n".join(lines) + "\n"


PRODUCTS: dict[str, dict[str, Any]] = {
    "crm.customer_email": dict(
        owner="crm-team@example.com",
        description="The address each person can be reached at",
        tags=["contact"],
        status="published",
        columns=[("customer_id", "bigint", "", ""), ("address", "string", "", "pii")],
    ),
    "crm.customer_email_history": dict(
        owner="crm-team@example.com",
        description="Every address ever recorded",
        tags=["history"],
        status="draft",
        columns=[("customer_id", "bigint", "", ""), ("changed_at", "timestamp", "", "")],
    ),
    "sales.orders": dict(
        owner="sales-team@example.com",
        description="Every order with its amount",
        tags=["revenue"],
        status="published",
        columns=[
            ("order_id", "bigint", "", ""),
            ("customer_email", "string", "", "pii"),
            ("amount", "double", "the order total in EUR", ""),
        ],
    ),
    "marketing.newsletter": dict(
        owner="marketing@example.com",
        description="Issues sent so far",
        tags=["email", "customer"],
        status="published",
        columns=[("issue_id", "bigint", "", ""), ("subject", "string", "", "")],
    ),
    "marketing.campaigns": dict(
        owner="marketing@example.com",
        description="Sends an email to every customer who opted in",
        tags=["growth"],
        status="deprecated",
        columns=[("campaign_id", "bigint", "", ""), ("budget", "double", "", "")],
    ),
    "sales.shipments": dict(
        owner="sales-team@example.com",
        description="Parcels handed to carriers",
        tags=["logistics"],
        status="published",
        columns=[("shipment_id", "bigint", "", ""), ("carrier", "string", "", "")],
    ),
}
RANKED = [
    "crm.customer_email",
    "crm.customer_email_history",
    "sales.orders",
    "marketing.newsletter",
    "marketing.campaigns",
]
SQL_TYPES = {"bigint": "INTEGER", "string": "TEXT", "double": "REAL", "timestamp": "TIMESTAMP"}


def _spec(fqn: str, **changes: Any) -> str:
    domain, name = fqn.split(".")
    return _product(domain, name, **{**PRODUCTS[fqn], **changes})


def _table(root: Path, fqn: str, columns: list[tuple[str, str, str, str]]) -> None:
    table = fqn.replace(".", "_")
    ddl = f"CREATE TABLE {table} ({', '.join(f'{c} {SQL_TYPES[t]}' for c, t, _, _ in columns)})"
    write_sqlite(root / "data" / "db.sqlite", ddl, [], table)


def build(root: Path) -> Path:
    write(root / "mesh.yaml", MESH_YAML)
    for fqn, spec in PRODUCTS.items():
        write(root / "products" / f"{fqn}.yaml", _spec(fqn))
        _table(root, fqn, spec["columns"])
    return root


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The workspace applied once on SQLite; each test gets a copy, store included."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MESHFABRIC_STORE_URL", raising=False)
        root = build(tmp_path_factory.mktemp("search") / "ws")
        with Mesh.open(root) as m:
            m.apply()
        yield root


@pytest.fixture(scope="module")
def pg_template(template: Path, pg_url: str) -> Iterator[str]:
    """A PostgreSQL store with the workspace applied, used as a CREATE DATABASE template."""
    with pg_database("mf_search_tpl") as url:
        with Mesh.open(template, store=url) as m:
            m.apply()
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def mesh(
    request: pytest.FixtureRequest, template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Mesh]:
    """An applied search workspace on a fresh store of each kind."""
    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)
    root = Path(shutil.copytree(template, tmp_path / "ws"))
    if request.param == "sqlite":
        with Mesh.open(root) as m:
            yield m
        return
    import psycopg

    source = request.getfixturevalue("pg_template")
    name = f"mf_search_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source.rsplit("/", 1)[1]}"')
    try:
        with Mesh.open(root, store=f"{source.rsplit('/', 1)[0]}/{name}") as m:
            yield m
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _reapply(mesh: Mesh) -> None:
    assert mesh.apply().applied


# -- ranking ------------------------------------------------------------------------------------
def test_ranking_exact_name_then_partial_name_then_columns_then_tags_then_description(mesh: Mesh) -> None:
    results = mesh.search("customer email")
    assert [h.fqn for h in results if h.kind == "product"] == RANKED
    by = {h.fqn: h for h in results}
    assert [m.label() for m in by["sales.orders"].matched] == ["column customer_email"]
    assert by["sales.orders"].matched[0].snippet == "<mark>customer</mark>_<mark>email</mark>"
    assert [m.label() for m in by["marketing.newsletter"].matched] == ["tag"]
    assert [m.field for m in by["marketing.campaigns"].matched] == ["description"]
    assert by["marketing.campaigns"].matched[0].snippet == (
        "Sends an <mark>email</mark> to every <mark>customer</mark> who opted in"
    )
    assert "sales.shipments" not in results.fqns
    scores = [h.score for h in results]
    assert scores == sorted(scores, reverse=True)


def test_each_hit_carries_the_product(mesh: Mesh) -> None:
    hit = mesh.search("customer email").items[0]
    assert hit.to_dict() == {
        "fqn": "crm.customer_email",
        "kind": "product",
        "domain": "crm",
        "name": "customer_email",
        "description": "The address each person can be reached at",
        "owner": "crm-team@example.com",
        "tags": ["contact"],
        "status": "published",
        "score": hit.score,
        "matched": [
            {"field": "name", "snippet": "<mark>customer</mark>_<mark>email</mark>"},
            {"field": "column", "column": "customer_id", "snippet": "<mark>customer</mark>_id"},
        ],
    }
    assert hit.score > 1000


def test_name_prefix_ranks_above_column_and_description(mesh: Mesh) -> None:
    fqns = [h.fqn for h in mesh.search("custom") if h.kind == "product"]
    # names starting with the word first (alphabetical among equals), then the column, then tags, then text
    assert fqns[:2] == ["crm.customer_email", "crm.customer_email_history"]
    assert fqns.index("sales.orders") < fqns.index("marketing.newsletter") < fqns.index("marketing.campaigns")


def test_qualified_name_is_an_exact_match(mesh: Mesh) -> None:
    assert mesh.search("sales.orders").items[0].fqn == "sales.orders"
    assert mesh.search("SALES ORDERS").items[0].fqn == "sales.orders"


def test_column_type_description_classification_and_owner_are_searchable(mesh: Mesh) -> None:
    assert mesh.search("EUR").fqns == ["sales.orders"]
    assert mesh.search("EUR").items[0].matched[0].label() == "column amount"
    assert set(mesh.search("timestamp").fqns) == {"crm.customer_email_history"}
    assert set(mesh.search("pii").fqns) == {"crm.customer_email", "sales.orders"}
    owned = mesh.search("marketing@example.com")
    assert {h.fqn for h in owned if h.kind == "product"} == {"marketing.newsletter", "marketing.campaigns"}


def test_domains_are_found_by_their_description(mesh: Mesh) -> None:
    results = mesh.search("relationships")
    assert [(h.kind, h.fqn) for h in results] == [("domain", "crm")]


# -- filters ------------------------------------------------------------------------------------
def test_filters(mesh: Mesh) -> None:
    q = "customer email"
    assert mesh.search(q, domain="crm").fqns == ["crm.customer_email", "crm.customer_email_history"]
    assert mesh.search(q, tag="EMAIL").fqns == ["marketing.newsletter"]
    assert mesh.search(q, owner="sales-team@example.com").fqns == ["sales.orders"]
    assert mesh.search("revenue", owner="SALES-team@example.com").fqns == ["sales.orders", "sales"]
    assert mesh.search(q, classification="pii").fqns == ["crm.customer_email", "sales.orders"]
    assert mesh.search(q, status="draft").fqns == ["crm.customer_email_history"]
    assert mesh.search(q, status="retired").fqns == []
    assert mesh.search(q, domain="crm", status="published").fqns == ["crm.customer_email"]
    assert mesh.search(q, domain="nowhere").total == 0


def test_empty_query_lists_what_the_filters_select(mesh: Mesh) -> None:
    assert mesh.search("", domain="marketing", tag="growth").fqns == ["marketing.campaigns"]
    everything = mesh.search("  ")
    assert everything.mode == "browse"
    assert everything.total == len(PRODUCTS) + 3


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"status": "live"}, "unknown status 'live'"),
        ({"limit": 0}, "limit must be between 1 and 1000"),
        ({"limit": 1001}, "limit must be between 1 and 1000"),
        ({"offset": -1}, "offset must be 0 or more"),
    ],
)
def test_bad_arguments_are_query_errors(mesh: Mesh, kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(QueryError, match=needle):
        mesh.search("x", **kwargs)


# -- typos --------------------------------------------------------------------------------------
def test_typos_are_corrected_from_the_vocabulary(mesh: Mesh) -> None:
    results = mesh.search("custmer emial")
    assert results.corrections == {"custmer": "customer", "emial": "email"}
    assert results.mode == "all"
    assert [h.fqn for h in results if h.kind == "product"] == RANKED
    assert mesh.search("shipmnets").items[0].fqn == "sales.shipments"
    assert mesh.search("ucstomer").corrections == {"ucstomer": "customer"}
    # correct words are not "corrected", and words of nothing stay unmatched
    assert mesh.search("customer").corrections == {}
    assert mesh.search("qqqqzzzz").total == 0


def test_words_matching_nothing_together_fall_back_to_any(mesh: Mesh) -> None:
    results = mesh.search("carrier budget")
    assert results.mode == "any"
    assert set(results.fqns) == {"sales.shipments", "marketing.campaigns"}


# -- incremental updates ------------------------------------------------------------------------
def _offset(mesh: Mesh) -> int:
    with mesh.store.read() as s:
        row = s.get(SubscriberOffsetRow, search_index.SUBSCRIBER)
        return row.last_seq if row else -1


def _docs(mesh: Mesh) -> dict[str, tuple[Any, ...]]:
    with mesh.store.read() as s:
        return {
            r.key: (r.id, r.updated_at, r.description, sorted(c["name"] for c in r.columns), r.terms)
            for r in s.scalars(select(SearchDocumentRow))
        }


def test_changed_description_is_found_by_its_new_words_only(mesh: Mesh) -> None:
    assert mesh.root is not None
    before = _docs(mesh)
    write(
        mesh.root / "products" / "sales.shipments.yaml", _spec("sales.shipments", description="Boxes given to couriers")
    )
    _reapply(mesh)
    assert _offset(mesh) == mesh.events.last_seq()
    assert mesh.search("couriers").fqns == ["sales.shipments"]
    assert "sales.shipments" not in mesh.search("parcels").fqns
    after = _docs(mesh)
    # incremental: only the changed product's document was rewritten
    assert {k for k in after if after[k] != before[k]} == {"sales.shipments"}
    assert after["sales.shipments"][0] == before["sales.shipments"][0]


def test_removed_product_disappears(mesh: Mesh) -> None:
    assert mesh.root is not None
    (mesh.root / "products" / "sales.shipments.yaml").unlink()
    _reapply(mesh)
    assert "sales.shipments" not in mesh.search("carrier").fqns
    assert mesh.search("shipments").total == 0
    with mesh.store.read() as s:
        # its words left the vocabulary; words others still use stayed
        assert s.get(SearchTermRow, "carriers") is None
        assert s.get(SearchTermRow, "parcels") is None
        # five products and the crm domain
        assert s.get(SearchTermRow, "customer").doc_count == 6


def test_added_column_is_found(mesh: Mesh) -> None:
    assert mesh.root is not None
    cols = [*PRODUCTS["sales.shipments"]["columns"], ("tracking_code", "string", "", "")]
    _table(mesh.root, "sales.shipments", cols)
    write(mesh.root / "products" / "sales.shipments.yaml", _spec("sales.shipments", columns=cols))
    _reapply(mesh)
    hit = mesh.search("tracking").items[0]
    assert hit.fqn == "sales.shipments"
    assert hit.matched[0].label() == "column tracking_code"


def test_added_product_is_found(mesh: Mesh) -> None:
    assert mesh.root is not None
    cols = [("ticket_id", "bigint", "", ""), ("opened_at", "timestamp", "when the customer wrote", "")]
    extra = dict(
        owner="support@example.com",
        description="Questions customers asked",
        tags=["support"],
        status="draft",
        columns=cols,
    )
    _table(mesh.root, "crm.tickets", cols)
    write(mesh.root / "products" / "crm.tickets.yaml", _product("crm", "tickets", **extra))
    _reapply(mesh)
    assert mesh.search("tickets").fqns == ["crm.tickets"]
    assert mesh.search("support@example.com").fqns == ["crm.tickets"]
    assert mesh.search("tikets").corrections == {"tikets": "tickets"}


def test_domain_changes_follow(mesh: Mesh) -> None:
    assert mesh.root is not None
    write(mesh.root / "mesh.yaml", MESH_YAML.replace("Customer relationships", "Accounts and contacts"))
    _reapply(mesh)
    assert mesh.search("relationships").total == 0
    assert [h.fqn for h in mesh.search("accounts") if h.kind == "domain"] == ["crm"]


def test_sync_folds_only_new_events_and_survives_a_rebuild(mesh: Mesh) -> None:
    assert sync_search(mesh.store) == 0
    mesh.events.publish(mesh_event("product.updated", "sales.orders"))
    assert sync_search(mesh.store) == 1
    assert sync_search(mesh.store) == 0
    incremental = _docs(mesh)
    with mesh.store.read() as s:
        vocabulary = {r.term: r.doc_count for r in s.scalars(select(SearchTermRow))}
    assert rebuild_search(mesh.store) == len(PRODUCTS) + 3
    rebuilt = _docs(mesh)
    # a rebuild recomputes exactly what incremental syncing kept (ids and times aside)
    assert {k: v[2:] for k, v in rebuilt.items()} == {k: v[2:] for k, v in incremental.items()}
    with mesh.store.read() as s:
        assert {r.term: r.doc_count for r in s.scalars(select(SearchTermRow))} == vocabulary
    assert [h.fqn for h in mesh.search("customer email") if h.kind == "product"] == RANKED


def test_data_written_events_leave_the_index_alone(mesh: Mesh) -> None:
    before = _docs(mesh)
    mesh.events.publish(mesh_event("product.data_written", "sales.orders"))
    assert sync_search(mesh.store) == 0
    assert _offset(mesh) == mesh.events.last_seq()
    assert _docs(mesh) == before


def mesh_event(event_type: str, fqn: str) -> Any:
    from meshfabric.events import DomainEvent

    return DomainEvent(event_type, fqn.split(".")[0], {"product": fqn})


def test_postings_follow_documents(mesh: Mesh) -> None:
    """The postings are exactly the documents' words at their best tier, also after updates and
    deletes (no orphan rows), and ordinals follow the tie order."""
    from meshfabric.search.index import postings
    from meshfabric.store.models_search import SearchPostingRow

    assert mesh.root is not None
    (mesh.root / "products" / "sales.shipments.yaml").unlink()
    write(mesh.root / "products" / "sales.orders.yaml", _spec("sales.orders", description="All orders"))
    _reapply(mesh)
    with mesh.store.read() as s:
        stored = set(s.execute(select(SearchPostingRow.term, SearchPostingRow.tier, SearchPostingRow.ordinal)))
        docs = list(s.scalars(select(SearchDocumentRow).order_by(SearchDocumentRow.ordinal)))
        expected = {p for d in docs for p in postings(d, d.ordinal)}
    assert stored == expected
    assert len(docs) == len(PRODUCTS) - 1 + 3
    assert [(d.kind, d.key) for d in docs] == sorted(
        ((d.kind, d.key) for d in docs), key=lambda kk: (kk[0] != "product", kk[1])
    )


def test_vocabulary_is_bounded(mesh: Mesh, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_index, "MAX_TERMS", 10)
    rebuild_search(mesh.store)
    with mesh.store.read() as s:
        assert s.scalar(select(func.count()).select_from(SearchTermRow)) == 10
    # the index itself is complete: only typo correction is limited
    assert [h.fqn for h in mesh.search("customer email") if h.kind == "product"] == RANKED


# -- pagination, odd input, access --------------------------------------------------------------
def test_pages_cover_every_hit_once(mesh: Mesh) -> None:
    whole = mesh.search("customer email", limit=100)
    pages = [mesh.search("customer email", limit=2, offset=o) for o in range(0, whole.total + 2, 2)]
    assert all(p.total == whole.total for p in pages)
    assert [f for p in pages for f in p.fqns] == whole.fqns
    assert pages[-1].items == []


QUERY_TEXT = st.one_of(
    st.text(max_size=40),
    st.lists(
        st.sampled_from(
            [
                '"',
                "*",
                "'",
                ":",
                ":*",
                "(",
                ")",
                "&",
                "|",
                "!",
                "^",
                "-",
                "+",
                "NEAR",
                "AND",
                "OR",
                "NOT",
                "NEAR(a b)",
                "{",
                "}",
                "\\",
                "%",
                "_",
                "<->",
                "\x00",
                "é",
                "customer",
            ]
        ),
        max_size=8,
    ).map(" ".join),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=QUERY_TEXT)
def test_any_text_is_searchable_without_error(mesh: Mesh, query: str) -> None:
    results = mesh.search(query, limit=5)
    assert results.total >= len(results.items)
    for hit in results:
        assert hit.score >= 0


def test_user_sees_only_products_the_access_layer_lets_them_discover(mesh: Mesh) -> None:
    mesh.access.create_principal("bob")
    mesh.access.grant("bob", "discover", product="sales.orders", grantee_kind="user")
    seen = mesh.search("customer email", user="bob")
    assert seen.fqns == ["sales.orders"]
    assert mesh.search("", user="bob").fqns == ["sales.orders", "sales"]
    assert mesh.search("customer email").total == len(RANKED)


def test_the_access_hook_gets_the_user(mesh: Mesh, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str | None] = []

    class Access:
        def visible_products(self, user: str | None) -> set[str] | None:
            asked.append(user)
            return {"crm.customer_email_history"} if user == "carol" else None

    monkeypatch.setattr(Mesh, "access", property(lambda self: Access()))
    assert mesh.search("customer", user="carol").fqns == ["crm.customer_email_history", "crm"]
    assert len(mesh.search("customer email", user=None)) == len(RANKED)
    assert asked == ["carol", None]


# -- CLI and API --------------------------------------------------------------------------------
def test_cli_table_json_filters_and_reindex(
    mesh: Mesh, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = mesh.root
    if not mesh.store.is_sqlite:
        monkeypatch.setenv("MESHFABRIC_STORE_URL", mesh.store.url)
    code, out, err = cli(capsys, "-w", ws, "search", "customer email", "--json", "--limit", "3")
    assert code == 0, err
    doc = json.loads(out)
    assert [i["fqn"] for i in doc["items"]] == RANKED[:3]
    assert (doc["total"], doc["offset"], doc["limit"]) == (len(RANKED), 0, 3)
    code, out, err = cli(capsys, "-w", ws, "search", "custmer emial", "--domain", "sales")
    assert code == 0, err
    assert "sales.orders" in out and "column customer_email" in out and "crm." not in out
    assert "custmer → customer" in err
    code, out, err = cli(capsys, "-w", ws, "search", "x", "--status", "live")
    assert code == 2 and "unknown status 'live'" in err and "Traceback" not in err
    code, out, err = cli(capsys, "-w", ws, "search", "--reindex")
    assert code == 0 and f"{len(PRODUCTS) + 3} documents" in err
    code, out, err = cli(
        capsys,
        "-w",
        ws,
        "search",
        "pii",
        "--classification",
        "pii",
        "--tag",
        "revenue",
        "--owner",
        "sales-team@example.com",
        "--status",
        "published",
        "--json",
    )
    assert [i["fqn"] for i in json.loads(out)["items"]] == ["sales.orders"]
    mesh.access.create_principal("dana")
    mesh.access.grant("dana", "discover", domain="marketing", grantee_kind="user")
    code, out, err = cli(capsys, "-w", ws, "search", "customer email", "--as", "dana", "--json")
    assert code == 0, err
    assert [i["fqn"] for i in json.loads(out)["items"]] == ["marketing.newsletter", "marketing.campaigns"]


def test_api_search(mesh: Mesh) -> None:
    from fastapi.testclient import TestClient

    from meshfabric.api.app import create_app

    with TestClient(create_app(mesh, auth=False)) as client:
        r = client.get("/api/v1/search", params={"q": "customer email", "limit": 2, "offset": 1})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [i["fqn"] for i in body["items"]] == RANKED[1:3]
        assert (body["total"], body["offset"], body["limit"]) == (len(RANKED), 1, 2)
        assert body["total_exact"] is True and body["truncated"] == []  # a small catalog is counted whole
        assert body["items"][1]["matched"] == [
            {"field": "column", "column": "customer_email", "snippet": "<mark>customer</mark>_<mark>email</mark>"}
        ]
        r = client.get("/api/v1/search", params={"q": "customer", "domain": "crm", "status": "draft"})
        assert [i["fqn"] for i in r.json()["items"]] == ["crm.customer_email_history"]
        r = client.get("/api/v1/search", params={"q": "x", "status": "live"})
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "unknown status" in r.json()["detail"]
        assert client.get("/api/v1/search", params={"q": "x", "limit": 0}).status_code == 422


def test_concurrent_syncs_fold_each_event_once(mesh: Mesh) -> None:
    """Processes syncing at once queue on the store's write lock; the index ends exactly right."""
    assert mesh.root is not None
    for fqn in ("sales.orders", "crm.customer_email"):
        write(mesh.root / "products" / f"{fqn}.yaml", _spec(fqn, description=f"Renamed {fqn.split('.')[1]}"))
    # apply without syncing, so the events wait for the threads below
    catalog.apply_workspace(load_workspace(mesh.root), mesh.store, mesh.connector)
    folded = in_threads(sync_search, mesh.store.url)
    assert sorted(folded)[:-1] == [0, 0, 0] and sorted(folded)[-1] >= 2
    assert set(mesh.search("renamed").fqns) == {"sales.orders", "crm.customer_email"}
    with mesh.store.read() as s:
        assert s.scalar(select(func.count()).select_from(SearchDocumentRow)) == len(PRODUCTS) + 3


def test_api_search_acts_as_the_authenticated_principal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With authentication on, a token's principal only finds what it may discover."""
    from fastapi.testclient import TestClient

    from auth_support import auth_workspace, bearer, hs_token, secret_env
    from meshfabric.api.app import create_app

    monkeypatch.delenv("MESHFABRIC_STORE_URL", raising=False)
    with secret_env():
        root = auth_workspace(tmp_path / "ws")
        with Mesh.open(root) as m:
            m.apply()
            m.access.create_principal("alice")
            m.access.grant("alice", "query", product="crm.customers", grantee_kind="user")
            with TestClient(create_app(m)) as client:
                assert client.get("/api/v1/search", params={"q": "customer"}).status_code == 401
                r = client.get("/api/v1/search", params={"q": "customer"}, headers=bearer(hs_token()))
                assert r.status_code == 200, r.text
                assert [i["fqn"] for i in r.json()["items"]] == ["crm.customers", "crm"]
                everything = m.search("customer")
                assert "sales.orders" in everything.fqns
