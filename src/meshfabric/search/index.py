"""Keeps the search index current by folding domain events in from a persisted offset.

The index is derived state: ``search_documents`` rows (one per product and domain), the
dialect's full-text structure (FTS5 on SQLite, tsvector + GIN on PostgreSQL) and the bounded
``search_terms`` vocabulary. :func:`sync_search` reads the events after its offset (kept in
``subscriber_offsets`` under ``meshfabric.search``), collects the products and domains they name,
and re-indexes exactly those from their current rows — a deleted one leaves the index — all in
one write transaction with the new offset, so a crash never leaves the index ahead of or behind
its offset. :func:`rebuild_search` recomputes everything, for recovery.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from meshfabric.search.text import index_text, tokens, vocabulary_term
from meshfabric.store import Store
from meshfabric.store.models import DomainRow, EventRow, ProductRow, SubscriberOffsetRow
from meshfabric.store.models_search import SearchDocumentRow, SearchTermRow

#: the offset's name in subscriber_offsets
SUBSCRIBER = "meshfabric.search"
#: the vocabulary stops growing here (words of documents indexed later are still searchable,
#: only not typo-corrected)
MAX_TERMS = 50_000
#: the full-text columns, in the FTS5 table's order
FIELDS = ("name", "domain", "columns", "column_info", "tags", "owner", "description")


@dataclass
class Document:
    """What the index knows about one product or domain."""

    kind: str
    key: str
    domain: str
    name: str
    owner: str = ""
    description: str = ""
    tags: list[str] = field(default_factory=list)
    status: str = ""
    columns: list[dict[str, Any]] = field(default_factory=list)

    @property
    def classifications(self) -> list[str]:
        found: set[str] = set()
        for col in self.columns:
            found.update(str(c) for c in col.get("classification") or [])
        return sorted(found)

    def fields(self) -> dict[str, str]:
        """Each full-text column's text, tokenized."""
        info = [f"{c.get('type', '')} {c.get('description', '')} {' '.join(c.get('classification') or [])}"
                for c in self.columns]
        return {
            "name": index_text(self.name),
            "domain": index_text(self.domain),
            "columns": index_text(*(str(c.get("name", "")) for c in self.columns)),
            "column_info": index_text(*info),
            "tags": index_text(*self.tags),
            "owner": index_text(self.owner),
            "description": index_text(self.description),
        }

    def terms(self) -> list[str]:
        return sorted({w for t in self.fields().values() for w in t.split() if vocabulary_term(w)})


def product_document(row: ProductRow) -> Document:
    columns = [
        {"name": str(c.get("name", "")), "type": str(c.get("type", "")),
         "description": str(c.get("description") or ""), "classification": list(c.get("classification") or [])}
        for c in row.columns or [] if isinstance(c, dict)
    ]
    return Document("product", f"{row.domain}.{row.name}", row.domain, row.name, row.owner, row.description or "",
                    [str(t) for t in row.tags or []], row.status, columns)


def domain_document(row: DomainRow) -> Document:
    return Document("domain", row.name, row.name, row.name, ", ".join(row.owners or []), row.description or "")


# -- the dialect's full-text structure ------------------------------------------------------------
class FullText:
    """No full-text structure (a store dialect without one): every document is a candidate."""

    def put(self, session: Session, doc_id: int, fields: dict[str, str]) -> None:
        return None

    def put_many(self, session: Session, docs: list[tuple[int, dict[str, str]]]) -> None:
        for doc_id, fields in docs:
            self.put(session, doc_id, fields)

    def remove(self, session: Session, doc_id: int) -> None:
        return None

    def clear(self, session: Session) -> None:
        return None

    def match(self, session: Session, groups: list[list[str]], *, every: bool) -> set[int] | None:
        """Ids of documents having, for every group (``every``) or for any group, one word that
        starts with one of the group's terms; ``None`` when every document is a candidate."""
        return None


class SqliteFullText(FullText):
    """An FTS5 table whose rowid is the document id; each group becomes ``("a"* OR "b"*)``."""

    _INSERT = text(f"INSERT INTO search_fts (rowid, {', '.join(FIELDS)}) "
                   f"VALUES (:id, {', '.join(f':{f}' for f in FIELDS)})")

    def put(self, session: Session, doc_id: int, fields: dict[str, str]) -> None:
        self.put_many(session, [(doc_id, fields)])

    def put_many(self, session: Session, docs: list[tuple[int, dict[str, str]]]) -> None:
        if docs:
            session.execute(self._INSERT, [{"id": doc_id, **fields} for doc_id, fields in docs])

    def remove(self, session: Session, doc_id: int) -> None:
        session.execute(text("DELETE FROM search_fts WHERE rowid = :id"), {"id": doc_id})

    def clear(self, session: Session) -> None:
        session.execute(text("DELETE FROM search_fts"))

    def match(self, session: Session, groups: list[list[str]], *, every: bool) -> set[int] | None:
        # words are letters and digits only (text.tokens), and quoted all the same: FTS5 syntax
        # characters never reach MATCH from a user's query
        parts = ["(" + " OR ".join(f'"{w}"*' for w in group) + ")" for group in groups if group]
        if not parts:
            return set()
        query = (" AND " if every else " OR ").join(parts)
        return {r for (r,) in session.execute(text("SELECT rowid FROM search_fts WHERE search_fts MATCH :q"),
                                               {"q": query})}


class PostgresFullText(FullText):
    """A ``tsvector`` per document under a GIN index, matched with ``to_tsquery('simple', …)``
    prefix terms; the ``simple`` configuration keeps words as they are (no stemming, no stop
    words), as the SQLite side does."""

    _INSERT = text("INSERT INTO search_fts (doc_id, tsv) VALUES (:id, to_tsvector('simple', :body)) "
                   "ON CONFLICT (doc_id) DO UPDATE SET tsv = EXCLUDED.tsv")

    def put(self, session: Session, doc_id: int, fields: dict[str, str]) -> None:
        self.put_many(session, [(doc_id, fields)])

    def put_many(self, session: Session, docs: list[tuple[int, dict[str, str]]]) -> None:
        if docs:
            session.execute(self._INSERT, [{"id": i, "body": " ".join(f[k] for k in FIELDS)} for i, f in docs])

    def remove(self, session: Session, doc_id: int) -> None:
        session.execute(text("DELETE FROM search_fts WHERE doc_id = :id"), {"id": doc_id})

    def clear(self, session: Session) -> None:
        session.execute(text("DELETE FROM search_fts"))

    def match(self, session: Session, groups: list[list[str]], *, every: bool) -> set[int] | None:
        parts = ["(" + " | ".join(f"'{w}':*" for w in group) + ")" for group in groups if group]
        if not parts:
            return set()
        query = (" & " if every else " | ").join(parts)
        stmt = text("SELECT doc_id FROM search_fts WHERE tsv @@ to_tsquery('simple', :q)")
        return {r for (r,) in session.execute(stmt, {"q": query})}


def full_text(store: Store) -> FullText:
    dialect = store.engine.dialect.name
    if dialect == "sqlite":
        return SqliteFullText()
    if dialect == "postgresql":
        return PostgresFullText()
    return FullText()


# -- writing documents ----------------------------------------------------------------------------
def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i: i + size]


def _forget_terms(session: Session, terms: list[str]) -> None:
    for chunk in _chunks(terms):
        session.execute(update(SearchTermRow).where(SearchTermRow.term.in_(chunk))
                        .values(doc_count=SearchTermRow.doc_count - 1))
    if terms:
        session.execute(delete(SearchTermRow).where(SearchTermRow.doc_count <= 0))


def _learn_terms(session: Session, terms: list[str]) -> list[str]:
    """Count ``terms`` in the vocabulary; returns those counted (new ones only while it has room)."""
    known: set[str] = set()
    for chunk in _chunks(terms):
        known.update(session.scalars(select(SearchTermRow.term).where(SearchTermRow.term.in_(chunk))))
        session.execute(update(SearchTermRow).where(SearchTermRow.term.in_(chunk))
                        .values(doc_count=SearchTermRow.doc_count + 1))
    fresh = [t for t in terms if t not in known]
    if fresh:
        room = MAX_TERMS - (session.scalar(select(func.count()).select_from(SearchTermRow)) or 0)
        fresh = fresh[: max(room, 0)]
        session.add_all(SearchTermRow(term=t, length=len(t), doc_count=1) for t in fresh)
    return sorted(known | set(fresh))


def put_document(session: Session, fts: FullText, kind: str, key: str, doc: Document | None) -> None:
    """Make the index hold ``doc`` under (kind, key), or nothing when ``doc`` is None."""
    row = session.scalar(select(SearchDocumentRow).where(SearchDocumentRow.kind == kind,
                                                         SearchDocumentRow.key == key))
    if row is not None:
        _forget_terms(session, list(row.terms or []))
        fts.remove(session, row.id)
        if doc is None:
            session.delete(row)
            session.flush()
            return
    if doc is None:
        return
    terms = _learn_terms(session, doc.terms())
    if row is None:
        row = _fill(SearchDocumentRow(), doc, terms)
        session.add(row)
    else:
        _fill(row, doc, terms)
    session.flush()
    fts.put(session, row.id, doc.fields())


def _fill(row: SearchDocumentRow, doc: Document, terms: list[str]) -> SearchDocumentRow:
    row.kind, row.key = doc.kind, doc.key
    row.domain, row.name, row.owner, row.description = doc.domain, doc.name, doc.owner, doc.description
    row.tags, row.status, row.columns = doc.tags, doc.status, doc.columns
    row.classifications = doc.classifications
    row.updated_at = datetime.now(UTC)
    row.terms = terms
    return row


def _product_row(session: Session, fqn: str) -> ProductRow | None:
    domain, _, name = fqn.partition(".")
    return session.scalar(select(ProductRow).where(ProductRow.domain == domain, ProductRow.name == name))


def _set_offset(session: Session, seq: int) -> None:
    row = session.get(SubscriberOffsetRow, SUBSCRIBER)
    if row is None:
        session.add(SubscriberOffsetRow(subscriber=SUBSCRIBER, last_seq=seq))
    else:
        row.last_seq, row.updated_at = seq, datetime.now(UTC)


#: product events that change nothing the index holds (new rows in the product's data)
_CONTENT_UNCHANGED = ("product.data_written",)


def _relevant() -> Any:
    return and_(or_(EventRow.event_type.startswith("product."), EventRow.event_type.startswith("domain.")),
                EventRow.event_type.not_in(_CONTENT_UNCHANGED))


# -- public entry points --------------------------------------------------------------------------
def sync_search(store: Store) -> int:
    """Fold events after the index's offset into the index; returns how many were folded.

    Product events (``product.created/updated/deleted/status_changed/schema_changed``) re-index
    the product they name, domain events the domain; each from its current row, so several events
    about one product cost one re-index and a product deleted since is removed. A store whose index
    has never been built (no offset yet) is indexed from its rows in one go.
    """
    with store.read() as session:
        offset = session.get(SubscriberOffsetRow, SUBSCRIBER)
        head = session.scalar(select(func.max(EventRow.seq))) or 0
        if offset is not None and offset.last_seq >= head:
            return 0
    fts = full_text(store)
    with store.write() as session:
        offset = session.get(SubscriberOffsetRow, SUBSCRIBER)
        head = session.scalar(select(func.max(EventRow.seq))) or 0
        if offset is None:
            _rebuild(session, fts)
            _set_offset(session, head)
            return int(session.scalar(select(func.count()).select_from(EventRow).where(_relevant())) or 0)
        if offset.last_seq >= head:
            return 0
        products: set[str] = set()
        domains: set[str] = set()
        folded = 0
        stmt = (select(EventRow.event_type, EventRow.data)
                .where(EventRow.seq > offset.last_seq, EventRow.seq <= head, _relevant()))
        for event_type, data in session.execute(stmt):
            folded += 1
            data = data or {}
            if event_type.startswith("product.") and data.get("product"):
                products.add(str(data["product"]))
            elif event_type.startswith("domain.") and data.get("domain"):
                domains.add(str(data["domain"]))
        for fqn in sorted(products):
            row = _product_row(session, fqn)
            put_document(session, fts, "product", fqn, product_document(row) if row is not None else None)
        for name in sorted(domains):
            drow = session.get(DomainRow, name)
            put_document(session, fts, "domain", name, domain_document(drow) if drow is not None else None)
        _set_offset(session, head)
        return folded


def _rebuild(session: Session, fts: FullText) -> int:
    """Everything from the catalog's rows in bulk; the vocabulary keeps the most frequent words."""
    fts.clear(session)
    session.execute(delete(SearchDocumentRow))
    session.execute(delete(SearchTermRow))
    docs = [domain_document(r) for r in session.scalars(select(DomainRow).order_by(DomainRow.name))]
    docs += [product_document(r) for r in
             session.scalars(select(ProductRow).order_by(ProductRow.domain, ProductRow.name))]
    terms = [d.terms() for d in docs]
    counts = Counter(t for ts in terms for t in ts)
    kept = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_TERMS])
    rows = [_fill(SearchDocumentRow(), d, [t for t in ts if t in kept]) for d, ts in zip(docs, terms, strict=True)]
    session.add_all(rows)
    session.flush()
    fts.put_many(session, [(row.id, d.fields()) for row, d in zip(rows, docs, strict=True)])
    if kept:
        session.execute(insert(SearchTermRow), [{"term": t, "length": len(t), "doc_count": n} for t, n in kept.items()])
    return len(docs)


def rebuild_search(store: Store) -> int:
    """Recompute the whole index from the catalog's rows (recovery); returns the documents indexed.

    The offset moves to the end of the log in the same transaction, so incremental syncing goes
    on from there.
    """
    fts = full_text(store)
    with store.write() as session:
        head = session.scalar(select(func.max(EventRow.seq))) or 0
        count = _rebuild(session, fts)
        _set_offset(session, head)
        return count


def query_words(text_: str) -> list[str]:
    """The distinct words of a query, in order (at most 16: more adds nothing but cost)."""
    seen: dict[str, None] = {}
    for w in tokens(text_):
        seen.setdefault(w, None)
    return list(seen)[:16]
