"""Keeps the search index current by folding domain events in from a persisted offset.

The index is derived state: ``search_documents`` rows (one per product and domain, each with its
``ordinal``, the tie order), ``search_postings`` (one row per distinct word of a document with the
tier of its best field, :func:`meshfabric.search.ranking.impacts`) and the bounded
``search_terms`` vocabulary. :func:`sync_search` reads the events after its offset (kept in
``subscriber_offsets`` under ``meshfabric.search``), collects the products and domains they name,
and re-indexes exactly those from their current rows — a deleted one leaves the index — all in
one write transaction with the new offset, so a crash never leaves the index ahead of or behind
its offset. :func:`rebuild_search` recomputes everything in bulk, for recovery.

Ordinals follow (kind != product, key): products before domains, then by key, the order equal
scores are ranked in. The rebuild numbers documents :data:`GAP` apart; a document added later
takes a number between its neighbours' (at most :data:`STEP` after the one before it, so a run
of names added in order uses the gap up slowly); when no number is left between two neighbours,
the index is rebuilt.
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import re
import struct
import subprocess
import sys
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from itertools import chain, islice, repeat
from pathlib import Path
from queue import Empty, Full, Queue
from threading import Thread
from typing import Any

from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import URL, and_, bindparam, create_engine, delete, func, insert, or_, select, text, tuple_, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from meshfabric.search.ranking import LEVELS, impacts, name_words, tier_words
from meshfabric.search.text import tokens, vocabulary_term
from meshfabric.store import Store
from meshfabric.store.models import DomainRow, EventRow, ProductRow, SubscriberOffsetRow
from meshfabric.store.models_search import MAX_WORD, SearchDocumentRow, SearchPostingRow, SearchTermRow

#: the offset's name in subscriber_offsets
SUBSCRIBER = "meshfabric.search"
#: the vocabulary stops growing here (words of documents indexed later are still searchable,
#: only not typo-corrected)
MAX_TERMS = 50_000


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

    @cached_property
    def classifications(self) -> list[str]:
        found: set[str] = set()
        for col in self.columns:
            found.update(str(c) for c in col.get("classification") or [])
        return sorted(found)

    def terms(self) -> list[str]:
        """The distinct vocabulary words of the document (what it adds to search_terms)."""
        return sorted(t for t in impacts(self) if vocabulary_term(t))


def product_document(row: Any) -> Document:
    """The document of a product (a ProductRow, or a row with its columns)."""
    columns = [
        {
            "name": str(c.get("name", "")),
            "type": str(c.get("type", "")),
            "description": str(c.get("description") or ""),
            "classification": list(c.get("classification") or []),
        }
        for c in row.columns or []
        if isinstance(c, dict)
    ]
    return Document(
        "product",
        f"{row.domain}.{row.name}",
        row.domain,
        row.name,
        row.owner,
        row.description or "",
        [str(t) for t in row.tags or []],
        row.status,
        columns,
    )


def domain_document(row: DomainRow) -> Document:
    return Document("domain", row.name, row.name, row.name, ", ".join(row.owners or []), row.description or "")


# -- postings --------------------------------------------------------------------------------------
#: the space between two documents' ordinals after a rebuild, and the most a new document's
#: ordinal moves past the one before it
GAP = 1 << 40
STEP = 1 << 16
#: the tie order of the kinds
KINDS = ("product", "domain")
_POSTING_COLUMNS = "search_postings (term, tier, ordinal)"


def facets(doc: Any) -> list[str]:
    """The filter values of a document as posting terms (tier 0): its status, tags,
    classifications and owners, case-folded, each after a space and a letter naming the filter.
    Words never start with a space, so no word or prefix of a query ever reads them."""
    found = {f" o {o.strip().casefold()}" for o in (doc.owner or "").split(",")}
    if doc.kind == "product":
        found.add(f" s {doc.status}")
        found.update(f" t {str(t).casefold()}" for t in doc.tags or [])
        found.update(f" c {str(c).casefold()}" for c in doc.classifications or [])
    return sorted(f[:MAX_WORD] for f in found)


def facet(kind: str, value: str) -> str:
    """The posting term of one filter value (kind: o, s, t or c), as :func:`facets` writes it."""
    return f" {kind} {value.strip().casefold() if kind == 'o' else value.casefold()}"[:MAX_WORD]


def postings(doc: Any, ordinal: int) -> list[tuple[str, int, int]]:
    """The (term, tier, ordinal) rows of one document (``doc``: a Document or a search_documents
    row): its words at their best tier, and its filter values (:func:`facets`)."""
    return [(term, tier, ordinal) for term, tier in impacts(doc).items()] + [(f, 0, ordinal) for f in facets(doc)]


def _insert_postings(session: Session, rows: list[tuple[str, int, int]]) -> None:
    """Bulk insert through the driver: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    conn = session.connection()
    raw: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {_POSTING_COLUMNS} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    cur = raw.cursor()
    try:
        cur.executemany(f"INSERT INTO {_POSTING_COLUMNS} VALUES (?, ?, ?)", rows)
    finally:
        cur.close()


def _delete_postings(session: Session, rows: list[tuple[str, int, int]]) -> None:
    """Delete postings by primary key: on PostgreSQL a few hundred per statement (row values: one
    round trip where a statement per row cost ~0.8 ms each), on SQLite one statement per row in
    the process (it answers row values in a list by scanning the whole table)."""
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        session.execute(
            text("DELETE FROM search_postings WHERE term = :t AND tier = :r AND ordinal = :o"),
            [{"t": t, "r": r, "o": o} for t, r, o in rows],
        )
        return
    key = tuple_(SearchPostingRow.term, SearchPostingRow.tier, SearchPostingRow.ordinal)
    for i in range(0, len(rows), 300):
        session.execute(delete(SearchPostingRow).where(key.in_(rows[i : i + 300])))


def _neighbour(session: Session, kinds: tuple[str, ...], key: str | None, before: bool) -> int | None:
    """The ordinal of the document just before (after) ``key`` among ``kinds`` (any key when None)."""
    doc = SearchDocumentRow
    for kind in reversed(kinds) if before else kinds:
        stmt = select(doc.ordinal).where(doc.kind == kind)
        if key is not None and kind == kinds[-1 if before else 0]:
            stmt = stmt.where(doc.key < key if before else doc.key > key)
        found = session.scalar(stmt.order_by(doc.key.desc() if before else doc.key).limit(1))
        if found is not None:
            return int(found)
    return None


def _new_ordinal(session: Session, kind: str, key: str) -> int | None:
    """An ordinal between the new document's neighbours in tie order; None when none is left."""
    at = KINDS.index(kind) if kind in KINDS else len(KINDS) - 1
    lo = _neighbour(session, KINDS[: at + 1], key, before=True)
    hi = _neighbour(session, KINDS[at:], key, before=False)
    if lo is None:
        return GAP if hi is None else hi - GAP
    if hi is None:
        return lo + GAP
    step = min((hi - lo) // 2, STEP)
    return lo + step if step >= 1 else None


# -- writing documents ----------------------------------------------------------------------------
def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _forget_terms(session: Session, terms: list[str]) -> None:
    for chunk in _chunks(terms):
        session.execute(
            update(SearchTermRow).where(SearchTermRow.term.in_(chunk)).values(doc_count=SearchTermRow.doc_count - 1)
        )
        # only these terms can have reached zero (the whole vocabulary is 50,000 rows)
        session.execute(delete(SearchTermRow).where(SearchTermRow.term.in_(chunk), SearchTermRow.doc_count <= 0))


def _learn_terms(session: Session, terms: list[str]) -> list[str]:
    """Count ``terms`` in the vocabulary; returns those counted (new ones only while it has room)."""
    known: set[str] = set()
    for chunk in _chunks(terms):
        known.update(session.scalars(select(SearchTermRow.term).where(SearchTermRow.term.in_(chunk))))
        session.execute(
            update(SearchTermRow).where(SearchTermRow.term.in_(chunk)).values(doc_count=SearchTermRow.doc_count + 1)
        )
    fresh = [t for t in terms if t not in known]
    if fresh:
        room = MAX_TERMS - (session.scalar(select(func.count()).select_from(SearchTermRow)) or 0)
        fresh = fresh[: max(room, 0)]
        session.add_all(SearchTermRow(term=t, length=len(t), doc_count=1) for t in fresh)
    return sorted(known | set(fresh))


class OutOfOrdinals(Exception):
    """No ordinal is left between a new document's neighbours: the index must be renumbered."""


def put_document(session: Session, kind: str, key: str, doc: Document | None) -> None:
    """Make the index hold ``doc`` under (kind, key), or nothing when ``doc`` is None."""
    row = session.scalar(select(SearchDocumentRow).where(SearchDocumentRow.kind == kind, SearchDocumentRow.key == key))
    if row is None:
        if doc is None:
            return
        ordinal = _new_ordinal(session, kind, key)
        if ordinal is None:
            raise OutOfOrdinals(key)
        row = _fill(SearchDocumentRow(ordinal=ordinal), doc, _learn_terms(session, doc.terms()))
        session.add(row)
        session.flush()
        _insert_postings(session, postings(doc, ordinal))
        return
    counted = list(row.terms or [])
    if doc is None:
        _forget_terms(session, counted)
        _delete_postings(session, postings(row, row.ordinal))
        session.delete(row)
        session.flush()
        return
    # a changed document: only what changed (a new description moves a few of its ~100 postings)
    wanted = doc.terms()
    before, after = set(postings(row, row.ordinal)), set(postings(doc, row.ordinal))
    _forget_terms(session, sorted(set(counted) - set(wanted)))
    kept = set(counted) & set(wanted)
    learned = _learn_terms(session, [t for t in wanted if t not in kept])
    _delete_postings(session, sorted(before - after))
    _fill(row, doc, sorted(kept | set(learned)))
    session.flush()
    _insert_postings(session, sorted(after - before))


def _fill(row: SearchDocumentRow, doc: Document, terms: list[str]) -> SearchDocumentRow:
    row.kind, row.key = doc.kind, doc.key
    row.domain, row.name, row.owner, row.description = doc.domain, doc.name, doc.owner, doc.description
    row.tags, row.status, row.columns = doc.tags, doc.status, doc.columns
    row.classifications = doc.classifications
    row.updated_at = datetime.now(UTC)
    row.terms = terms
    row.name_words, row.full_words = (w[:MAX_WORD] for w in name_words(doc))
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
    return and_(
        or_(EventRow.event_type.startswith("product."), EventRow.event_type.startswith("domain.")),
        EventRow.event_type.not_in(_CONTENT_UNCHANGED),
    )


# -- public entry points --------------------------------------------------------------------------
def sync_search(store: Store) -> int:
    """Fold events after the index's offset into the index; returns how many were folded.

    Product events (``product.created/updated/deleted/status_changed/schema_changed``) re-index
    the product they name, domain events the domain; each from its current row, so several events
    about one product cost one re-index and a product deleted since is removed. A store whose index
    has never been built (no offset yet) is indexed from its rows in one go.
    """
    with store.read() as session:  # one round trip when nothing is new
        last, head = session.execute(
            select(
                select(SubscriberOffsetRow.last_seq)
                .where(SubscriberOffsetRow.subscriber == SUBSCRIBER)
                .scalar_subquery(),
                select(func.max(EventRow.seq)).scalar_subquery(),
            )
        ).one()
        if last is not None and last >= (head or 0):
            return 0
    with store.write() as session:
        offset = session.get(SubscriberOffsetRow, SUBSCRIBER)
        head = session.scalar(select(func.max(EventRow.seq))) or 0
        if offset is None:
            _rebuild(session)
            _set_offset(session, head)
            folded = int(session.scalar(select(func.count()).select_from(EventRow).where(_relevant())) or 0)
        elif offset.last_seq >= head:
            return 0
        else:
            folded = _fold(session, offset.last_seq, head)[0]
            _set_offset(session, head)
    return folded


def _fold(session: Session, after: int, head: int) -> tuple[int, bool]:
    """Re-index what the events in (after, head] name; (events folded, whether it took a rebuild)."""
    products: set[str] = set()
    domains: set[str] = set()
    folded = 0
    stmt = select(EventRow.event_type, EventRow.data).where(EventRow.seq > after, EventRow.seq <= head, _relevant())
    for event_type, data in session.execute(stmt):
        folded += 1
        data = data or {}
        if event_type.startswith("product.") and data.get("product"):
            products.add(str(data["product"]))
        elif event_type.startswith("domain.") and data.get("domain"):
            domains.add(str(data["domain"]))
    try:
        for fqn in sorted(products):
            row = _product_row(session, fqn)
            put_document(session, "product", fqn, product_document(row) if row is not None else None)
        for name in sorted(domains):
            drow = session.get(DomainRow, name)
            put_document(session, "domain", name, domain_document(drow) if drow is not None else None)
    except OutOfOrdinals:
        # renumbering is a rebuild: every document from its current row, which also covers
        # the changes not folded in yet
        _rebuild(session)
        return folded, True
    return folded, False


#: documents written per batch by a rebuild
BATCH = 5_000
_DOC_FIELDS = (
    "kind",
    "key",
    "domain",
    "name",
    "owner",
    "description",
    "tags",
    "status",
    "classifications",
    "columns",
    "terms",
    "updated_at",
    "ordinal",
    "name_words",
    "full_words",
)
#: the JSON columns of a document row, encoded by the rebuild itself
_DOC_JSON = frozenset({"tags", "classifications", "columns", "terms"})


def _rebuild(session: Session) -> int:
    # millions of small objects and no cycles among them: the cyclic collector would only
    # traverse them again and again
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _rebuild_all(session)
    finally:
        if enabled:
            gc.enable()


def _rebuild_all(session: Session) -> int:
    """Everything from the catalog's rows in bulk; the vocabulary keeps the most frequent words.

    Documents are numbered in tie order (every key read and sorted first), then read and indexed
    a chunk at a time, each chunk's document rows written as it is done — no document is kept
    once written, so memory holds the postings, not the catalog. Postings are gathered per tier
    as lists of ordinals per term: each document's words grouped by tier with set operations
    (:func:`~meshfabric.search.ranking.tier_words`, one tokenizer call per field) and its ordinal
    — one object per document, the form the driver is sent — appended to its terms' lists by
    C-level iteration, no Python object per posting; they are written once every document is
    read, in primary-key order.

    SQLite (:class:`_SqliteLoad`) writes the documents in batches and the postings one statement
    per (term, tier). PostgreSQL (:class:`_PgLoad`) truncates the tables in this transaction,
    loads with ``COPY … FREEZE`` (rows written frozen and all-visible: index-only scans need no
    VACUUM) — the documents sent by a thread while the next chunk is computed, the catalog read
    through a second connection as the first one is busy with ``COPY`` — and builds the indexes
    once the rows are in. There, a catalog of :data:`PARALLEL_MIN` to :data:`PARALLEL_MAX`
    products is indexed by :data:`WORKERS` processes (:class:`_Workers`), a part of whole domains
    each, in the reading connection's snapshot; this process sends their rows and writes the
    index in its one transaction as before.
    """
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    vocabulary = _Vocabulary()
    counts: dict[str, int] = {}  # vocabulary word -> documents holding it
    now = datetime.now(UTC)
    count = 0
    with _catalog_reader(session, pg) as reader, (_PgLoad if pg else _SqliteLoad)(session) as out:
        numbers, domains = _tie_order(reader)
        workers = _workers(reader, numbers, domains, now)
        try:
            if workers is not None:  # the products are indexed by other processes, the domains here
                workers.start(out)
            catalog = _catalog(reader, products=workers is None)
            while chunk := list(islice(catalog, CHUNK)):
                out.documents(_index_chunk(chunk, numbers, out, vocabulary, now))
                count += len(chunk)
            if workers is not None:
                count += workers.finish(out, counts)
        finally:
            if workers is not None:
                workers.close()
        # a word's documents: one posting each, at its best tier
        for by_term in out.lists:
            for term, ordinals in by_term.items():
                if vocabulary.get(term):
                    counts[term] = counts.get(term, 0) + len(ordinals)
    kept = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_TERMS])
    if len(kept) < len(counts):
        _drop_terms(session, set(counts) - set(kept))
    if kept:
        session.execute(insert(SearchTermRow), [{"term": t, "length": len(t), "doc_count": n} for t, n in kept.items()])
    if pg:
        session.execute(text("ANALYZE search_postings"))
        # the columns queries select documents by (the texts and JSON are read, never compared)
        session.execute(
            text("ANALYZE search_documents (kind, key, domain, name, status, ordinal, name_words, full_words)")
        )
    return count


#: documents indexed and written together by a rebuild
CHUNK = 2_500


def _tie_order(session: Session) -> tuple[dict[tuple[str, str], int], dict[str, list[str]]]:
    """(kind, key) -> the document's number (1, 2, …) in tie order: products before domains, then by
    key; and each domain's products' keys."""
    keys = []
    domains: dict[str, list[str]] = defaultdict(list)
    for d, n in session.execute(select(ProductRow.domain, ProductRow.name)):
        key = f"{d}.{n}"
        keys.append(("product", key))
        domains[d].append(key)
    keys.sort(key=lambda k: k[1])
    keys += sorted(("domain", n) for n in session.scalars(select(DomainRow.name)))
    return {k: number for number, k in enumerate(keys, 1)}, domains


def _index_chunk(
    chunk: list[tuple[str, Document]],
    numbers: dict[tuple[str, str], int],
    out: _Load,
    vocabulary: _Vocabulary,
    now: datetime,
) -> list[tuple[Any, ...]]:
    """Gather a chunk of documents' postings into ``out.lists`` (per tier: term -> the ordinals of
    the documents holding it at that tier); returns the documents' rows."""
    lists = out.lists
    rows: list[tuple[Any, ...]] = []
    for kind, d in chunk:
        ordinal = numbers.pop((kind, d.key)) * GAP
        token = out.token(ordinal)
        by_tier = tier_words(d)
        by_tier[0].update(facets(d))  # the filter values: tier 0, never a word (they start with a space)
        for tier, found in enumerate(by_tier):
            # lists[tier][term].append(token) for each term, iterated in C
            deque(map(list.append, map(lists[tier].__getitem__, found), repeat(token)), maxlen=0)
        # the document's vocabulary words (filtered below when the vocabulary is full)
        terms = sorted(filter(None, map(vocabulary.__getitem__, chain.from_iterable(by_tier))))
        name_, full = name_words(d)
        rows.append(
            (
                d.kind,
                d.key,
                d.domain,
                d.name,
                d.owner,
                d.description,
                _json(d.tags),
                d.status,
                _json(d.classifications),
                json.dumps(d.columns),
                _json_words(terms),
                now,
                ordinal,
                name_[:MAX_WORD],
                full[:MAX_WORD],
            )
        )
    return rows


def _catalog(session: Session, *, products: bool = True) -> Iterator[tuple[str, Document]]:
    """Every product (unless not ``products``), then every domain, as documents, a batch of rows
    read at a time."""
    for batch in _row_batches(session) if products else ():
        for r in batch:
            yield "product", product_document(r)
    for drow in session.scalars(select(DomainRow).order_by(DomainRow.name)):
        yield "domain", domain_document(drow)


@contextmanager
def _catalog_reader(session: Session, pg: bool) -> Iterator[Session]:
    """Where the rebuild reads the catalog: on PostgreSQL a second connection in one repeatable
    read transaction (the first one is busy with ``COPY``). It begins after the caller read the
    event log's head, so it sees at least every change up to that offset; a change after it is
    folded in again by the next sync (re-indexing a document from its row is idempotent)."""
    if not pg:
        yield session
        return
    engine = session.get_bind().engine
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, Session(bind=conn) as reader:
        yield reader


class _Load:
    """The rebuild's writes, shared part: postings gathered for the whole catalog (a chunk's
    lists appended to the catalog's), written at the end in primary-key order (term, tier,
    ordinal) — appends at the end of SQLite's B-tree; on PostgreSQL, input already in the order
    of the key it builds. A worker process (:func:`_worker`) gathers its part in the same class
    as the store's load, without writing: its documents' rows go back encoded as the load writes
    them (:meth:`encode`), its postings as one piece per (term, tier) (:meth:`piece`)."""

    #: chunks of document rows waiting to be written, per process producing them
    AHEAD = 4
    #: how ordinals are sorted when the catalog was not read in tie order (None: as they are)
    order_key: Callable[[Any], int] | None = None

    def __init__(self, session: Session) -> None:
        self.session = session
        self.lists: list[defaultdict[str, list[Any]]] = [defaultdict(list) for _ in LEVELS]
        self.last, self.in_order = 0, True
        #: encoded document rows of the catalog's parts other processes index (:class:`_Workers`)
        self.queue: Queue[Any] = Queue(maxsize=self.AHEAD)
        #: the postings of those parts, in tie order: (term, tier) -> their piece
        self.parts: list[dict[tuple[str, int], Any]] = []

    def token(self, ordinal: int) -> Any:
        raise NotImplementedError

    def encode(self, rows: list[tuple[Any, ...]]) -> Any:
        """A chunk's document rows as this store's load writes them (and a worker sends them)."""
        raise NotImplementedError

    def piece(self, term: str, tier: int, ordinals: list[Any]) -> Any:
        """The rows of one (term, tier) as this store's load writes them."""
        raise NotImplementedError

    def drain(self, running: Callable[[], bool]) -> None:
        """Write the workers' document rows from :attr:`queue` while ``running()`` (and what is
        queued then); nothing to do where a thread of the load writes them as they come."""

    def _sorted(self) -> None:
        if not self.in_order:  # the store's key order was not the tie order
            for by_term in self.lists:
                for ordinals in by_term.values():
                    ordinals.sort(key=self.order_key)

    def _posting_rows(self) -> Iterator[tuple[str, int, list[Any]]]:
        """Each (term, tier)'s pieces in key order: the other processes' parts (they indexed the
        products, in tie order), then this process's lists."""
        self._sorted()
        if not self.parts:
            for term, tier, ordinals in _by_key(self.lists):
                yield term, tier, [self.piece(term, tier, ordinals)]
            return
        keys = set(chain.from_iterable(self.parts))
        keys.update((term, tier) for tier, by_term in enumerate(self.lists) for term in by_term)
        for term, tier in sorted(keys):
            pieces = [rows for part in self.parts if (rows := part.get((term, tier))) is not None]
            ordinals = self.lists[tier].get(term)
            if ordinals:
                pieces.append(self.piece(term, tier, ordinals))
            yield term, tier, pieces


class _SqliteGather(_Load):
    """Postings gathered for SQLite: an ordinal is sent as the decimal text of its document's
    number (the ordinal over :data:`GAP`: 6 digits at 100,000 documents, not 18), a (term, tier)'s
    rows as those numbers joined by commas — a JSON array's inside, which the insert multiplies
    back; document rows as the driver's parameters (the dialect's bind processors applied)."""

    order_key = int

    def token(self, ordinal: int) -> str:
        self.in_order, self.last = self.in_order and ordinal > self.last, ordinal
        return str(ordinal // GAP)

    def piece(self, term: str, tier: int, ordinals: list[str]) -> str:
        return ",".join(ordinals)

    def encode(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        dialect = self.session.get_bind().dialect
        table = SearchDocumentRow.__table__
        procs = [None if n in _DOC_JSON else table.c[n].type._cached_bind_processor(dialect) for n in _DOC_FIELDS]
        return [tuple(p(v) if p is not None else v for p, v in zip(procs, row, strict=True)) for row in rows]


class _SqliteLoad(_SqliteGather):
    """On SQLite: documents in batches of ``executemany``; every posting at the end, one
    statement per (term, tier), its documents' numbers a JSON array expanded in C."""

    def __enter__(self) -> _SqliteLoad:
        for table in (SearchPostingRow, SearchDocumentRow, SearchTermRow):
            self.session.execute(delete(table))
        return self

    def documents(self, rows: list[tuple[Any, ...]]) -> None:
        self._insert(self.encode(rows))

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        cur: Any = self.session.connection().connection.driver_connection.cursor()
        try:
            cur.executemany(
                f"INSERT INTO search_documents ({', '.join(_DOC_FIELDS)}) VALUES ({', '.join('?' * len(_DOC_FIELDS))})",
                rows,
            )
        finally:
            cur.close()

    def drain(self, running: Callable[[], bool]) -> None:
        # the one connection is this thread's: the workers' rows are inserted here as they come
        while True:
            try:
                payload = self.queue.get(timeout=0.05)
            except Empty:
                if not running():  # raises when a worker failed
                    return
            else:
                self._insert(payload)

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        cur: Any = self.session.connection().connection.driver_connection.cursor()
        try:
            cur.executemany(
                f"INSERT INTO search_postings (term, tier, ordinal) SELECT ?, ?, value * {GAP} FROM json_each(?)",
                ((term, tier, f"[{','.join(pieces)}]") for term, tier, pieces in self._posting_rows()),
            )
        finally:
            cur.close()
        self.lists.clear()
        self.parts.clear()


#: an ordinal as a field of PostgreSQL's binary COPY format: its length, then the bigint
_PG_ORDINAL = struct.Struct("!iq")
#: PostgreSQL's binary COPY: the signature, flags and header extension; the end
_PG_BINARY_START = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_PG_BINARY_END = struct.pack("!h", -1)
_PG_TIERS = [struct.pack("!ih", 2, tier) for tier in range(len(LEVELS))]
#: COPY's text format: a field separator no value holds (PostgreSQL text cannot hold NUL)
_SEP = "\x00"
_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), (_SEP, "\t"))


class _Gather(_Load):
    """Postings gathered for PostgreSQL: an ordinal is sent as its binary ``COPY`` field (the
    fields of positive bigints sort as bytes in numeric order), a (term, tier)'s rows as binary
    ``COPY`` rows (:func:`_pg_rows`), document rows in ``COPY``'s text format."""

    def token(self, ordinal: int) -> bytes:
        self.in_order, self.last = self.in_order and ordinal > self.last, ordinal
        return _PG_ORDINAL.pack(8, ordinal)

    def piece(self, term: str, tier: int, ordinals: list[bytes]) -> bytes:
        return _pg_rows(term, tier, ordinals)

    def encode(self, rows: list[tuple[Any, ...]]) -> bytes:
        return _copy_text(rows)


class _PgLoad(_Gather):
    """On PostgreSQL: the tables truncated, so every ``COPY … FREEZE`` writes rows frozen and
    all-visible (index-only scans need no VACUUM). Each chunk's documents are encoded in COPY's
    text format and sent by a thread while the next chunk is computed (at most :data:`AHEAD`
    chunks wait). Then every posting, in key order, in one binary ``COPY`` into the table with its
    primary key dropped (a (term, tier)'s rows are one ``join`` over its ordinals' fields), and
    the key built once (a sort of presorted input, not 10 M insertions)."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.error: BaseException | None = None
        self.thread = Thread(target=self._send, name="meshfabric-search-copy", daemon=True)

    def __enter__(self) -> _PgLoad:
        self.session.execute(text("TRUNCATE search_postings, search_documents, search_terms"))
        # the documents' own indexes (not their constraints') are built once after the load, not
        # maintained row by row while the server also stores the rows
        self.indexes: list[tuple[str, str]] = [
            (str(n), str(d))
            for n, d in self.session.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                    "AND tablename = 'search_documents' AND indexname NOT IN "
                    "(SELECT conname FROM pg_constraint WHERE conrelid = 'search_documents'::regclass)"
                )
            )
        ]
        for name, _ in self.indexes:
            self.session.execute(text(f'DROP INDEX "{name}"'))
        self.raw: Any = self.session.connection().connection.driver_connection
        self.thread.start()
        return self

    def _send(self) -> None:
        with self.raw.cursor() as cur:
            while (payload := self.queue.get()) is not None:
                if self.error is not None:
                    continue  # after a failure: take what is queued, so the rebuild is never blocked
                try:
                    with cur.copy(f"COPY search_documents ({', '.join(_DOC_FIELDS)}) FROM STDIN (FREEZE)") as copy:
                        copy.write(payload)
                except BaseException as exc:  # raised again in the rebuild's thread
                    self.error = exc

    def documents(self, rows: list[tuple[Any, ...]]) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(self.encode(rows))

    def __exit__(self, *exc: object) -> None:
        self.queue.put(None)
        self.thread.join()
        if exc[0] is not None:
            return
        if self.error is not None:
            raise self.error
        session = self.session
        for _, definition in self.indexes:
            session.execute(text(definition))
        raw = self.raw
        pkey = session.scalar(
            text("SELECT conname FROM pg_constraint WHERE conrelid = 'search_postings'::regclass AND contype = 'p'")
        )
        session.execute(text(f'ALTER TABLE search_postings DROP CONSTRAINT "{pkey}"'))
        with (
            raw.cursor() as cur,
            cur.copy(
                f"COPY {_POSTING_COLUMNS} FROM STDIN (FORMAT BINARY, FREEZE)", writer=QueuedLibpqWriter(cur)
            ) as copy,
        ):
            buf: list[bytes] = [_PG_BINARY_START]
            size = 0
            for _, _, pieces in self._posting_rows():
                buf.extend(pieces)
                size += sum(map(len, pieces))
                if size >= 1 << 20:
                    copy.write(b"".join(buf))
                    buf.clear()
                    size = 0
            buf.append(_PG_BINARY_END)
            copy.write(b"".join(buf))
        self.lists.clear()
        self.parts.clear()
        session.execute(text(f'ALTER TABLE search_postings ADD CONSTRAINT "{pkey}" PRIMARY KEY (term, tier, ordinal)'))


def _pg_rows(term: str, tier: int, ordinals: list[bytes]) -> bytes:
    """The rows of one (term, tier) in PostgreSQL's binary COPY format: each 3 fields, the term,
    the tier, then the ordinal (its length and value, :meth:`_Gather.token`)."""
    word = term.encode()
    head = struct.pack("!hi", 3, len(word)) + word + _PG_TIERS[tier]
    return head + head.join(ordinals)


def _copy_text(rows: list[tuple[Any, ...]]) -> bytes:
    """Document rows in COPY's text format."""
    lines = []
    for row in rows:
        line = _SEP.join(
            [v if isinstance(v, str) else v.isoformat() if isinstance(v, datetime) else str(v) for v in row]
        )
        for old, new in _COPY_ESCAPES:
            if old in line:
                line = line.replace(old, new)
        lines.append(line)
    lines.append("")
    return "\n".join(lines).encode()


#: a rebuild indexes the products in up to this many other processes …
WORKERS = min(4, os.cpu_count() or 1)
#: … when the catalog holds at least this many (fewer are indexed in the rebuilding process) and
#: at most this many: the rebuilding process holds every part's postings before writing them
#: (~1.2 KB per product on PostgreSQL, ~0.7 KB on SQLite), on top of the workers' lists — a
#: larger catalog is indexed in one process, which holds only its lists (the streamed rebuild's
#: memory)
PARALLEL_MIN, PARALLEL_MAX = 20_000, 400_000


def _workers(
    reader: Session, numbers: dict[tuple[str, str], int], domains: dict[str, list[str]], now: datetime
) -> _Workers | None:
    """Split the products into parts of whole domains, each part's documents numbered before the
    next part's (so a (term, tier)'s rows are the parts' rows one after the other), to be indexed
    by :func:`_worker` processes; None when the catalog is small, one core is all there is, the
    store cannot be read by other processes in the rebuild's view of it (:func:`_part_source`),
    or no such split exists."""
    products = sum(map(len, domains.values()))
    if WORKERS < 2 or not max(PARALLEL_MIN, 1) <= products <= PARALLEL_MAX or not _cores_to_spare():
        return None
    spans = sorted(
        (min(found), max(found), d) for d, keys in domains.items() if (found := [numbers["product", k] for k in keys])
    )
    # where a part may end: every document before numbered before every one after
    cuts: list[tuple[int, int]] = []  # (position in spans, products before)
    done = top = 0
    for j, (lo, hi, d) in enumerate(spans):
        if j and top < lo:
            cuts.append((j, done))
        done += len(domains[d])
        top = max(top, hi)
    chosen: list[int] = []
    for i in range(1, WORKERS):  # the cut nearest to an equal share
        best = min(
            (c for c in cuts if not chosen or c[0] > chosen[-1]),
            key=lambda c: abs(c[1] - products * i / WORKERS),
            default=None,
        )
        if best is not None:
            chosen.append(best[0])
    if not chosen:
        return None
    source = _part_source(reader)
    if source is None:
        return None
    groups = [[d for _, _, d in spans[a:b]] for a, b in zip([0, *chosen], [*chosen, len(spans)], strict=True)]
    return _Workers(
        [
            (
                *source,
                group,
                {("product", k): numbers.pop(("product", k)) for d in group for k in domains[d]},
                now,
            )
            for group in groups
        ]
    )


def _part_source(reader: Session) -> tuple[str, str | None] | None:
    """Where a worker reads the catalog the rebuild sees: (the store's URL, the snapshot to read
    in — None on SQLite), or None when no other process can.

    On PostgreSQL the reading connection exports its snapshot (``pg_export_snapshot()``); each
    worker reads in it (``SET TRANSACTION SNAPSHOT``), so every process sees the same catalog.

    SQLite has no snapshot to hand over; it needs none. The rebuild runs in the store's write
    transaction (``BEGIN IMMEDIATE``: it holds the write lock from its start), so no other
    connection can commit until it ends, and the catalog last committed is the one it read.
    In WAL mode (the store's) a reader is never blocked by that writer and sees the last commit:
    not the writer's own uncommitted pages, even those it spilled into the WAL file — so each
    worker, reading the file in its own transaction, sees exactly that catalog, while this
    process deletes the old index and writes the new one. What the rebuild's transaction wrote
    itself is not seen by the workers; it has written index tables only (the callers here change
    no catalog row before rebuilding), and a product row added or removed in it would fail the
    rebuild (a worker finds a key it was not given, or fewer products). Without WAL (a rollback
    journal, an in-memory database) readers would wait for the writer or see another database,
    so the rebuild runs in one process; workers are given the file's absolute path, not the URL
    (which may be relative to another directory)."""
    if reader.get_bind().dialect.name == "postgresql":
        url = reader.get_bind().engine.url.render_as_string(hide_password=False)
        return url, str(reader.execute(text("SELECT pg_export_snapshot()")).scalar())
    mode = str(reader.execute(text("PRAGMA journal_mode")).scalar()).lower()
    path = next((str(f) for _, name, f in reader.execute(text("PRAGMA database_list")) if name == "main"), "")
    if mode != "wal" or not path:
        return None
    return URL.create("sqlite", database=path).render_as_string(), None


def _cores_to_spare() -> bool:
    """Whether the machine is idle enough for worker processes: on a busy one (a 1-minute load
    average of more than one above its cores) they cost more CPU than they save wall-clock time —
    on 2 cores at load 4–6 the workers' CPU rose from 24–26 s to 29–38 s and the build took
    41–88 s against 38–50 s in one process; at load 1.5–2.6, 25.0–28.6 s against 29.5–37.4 s."""
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1) + 1
    except OSError:  # no load average here
        return True


class _Workers:
    """The processes indexing parts of the catalog for a rebuild (Python's indexing is the
    build's longest part and runs on one core). Each reads its products in the rebuild's view of
    the catalog (:func:`_part_source`), indexes them as the rebuild does, and streams back each
    chunk's document rows as the store's load writes them (:meth:`_Load.encode`) — written by the
    rebuild's connection, in its transaction, as they come: on PostgreSQL by the load's sending
    thread, on SQLite by the rebuilding thread once it has indexed the domains (:meth:`_Load.drain`)
    — and at the end its postings, one piece per (term, tier) (:meth:`_Load.piece`). A failed
    process fails the rebuild (which then writes nothing)."""

    def __init__(self, jobs: list[tuple[Any, ...]]) -> None:
        self.jobs = jobs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.threads: list[Thread] = []
        self.results: list[Any] = [None] * len(jobs)
        self.closed = False

    def start(self, out: _Load) -> None:
        # room for more chunks on their way to the store: a worker waiting on a busy machine for
        # the writing thread would idle (on 2 cores at load 5 the build took longer than in one process)
        out.queue.maxsize = out.AHEAD * 4 * len(self.jobs)
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # where this meshfabric is imported from
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (root, env.get("PYTHONPATH"))))
        for i, job in enumerate(self.jobs):
            proc = subprocess.Popen(
                [sys.executable, "-c", "from meshfabric.search.index import _worker; _worker()"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            self.procs.append(proc)
            thread = Thread(
                target=self._receive, args=(i, proc, job, out), name=f"meshfabric-search-worker-{i}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def _receive(self, i: int, proc: subprocess.Popen[bytes], job: tuple[Any, ...], out: _Load) -> None:
        try:
            assert proc.stdin is not None and proc.stdout is not None
            with proc.stdin:
                pickle.dump(job, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            while True:
                kind, *body = pickle.load(proc.stdout)
                if kind != "docs":
                    self.results[i] = body
                    return
                while not self.closed:
                    try:
                        out.queue.put(body[0], timeout=1)
                        break
                    except Full:
                        pass
        except BaseException as exc:  # raised by running() or finish()
            self.results[i] = exc

    def running(self) -> bool:
        """Whether a process is still sending; raises when one failed."""
        for i, proc in enumerate(self.procs):
            if isinstance(self.results[i], BaseException) or proc.poll() not in (None, 0):
                self._failed(i)
        return any(thread.is_alive() for thread in self.threads)

    def _failed(self, i: int) -> None:
        found = self.results[i]
        raise RuntimeError(
            f"a search index worker failed (exit code {self.procs[i].wait()}; its error is above)"
        ) from (found if isinstance(found, BaseException) else None)

    def finish(self, out: _Load, counts: dict[str, int]) -> int:
        """Wait for every process (their document rows written meanwhile); their postings to
        ``out``, vocabulary counts to ``counts``; returns the documents they indexed."""
        out.drain(self.running)
        for thread in self.threads:
            thread.join()
        for i, proc in enumerate(self.procs):
            if isinstance(self.results[i], BaseException) or self.results[i] is None or proc.wait() != 0:
                self._failed(i)
        count = 0
        for n, found_counts, part in self.results:
            count += n
            for term, c in found_counts.items():
                counts[term] = counts.get(term, 0) + c
            out.parts.append(part)
        if count != sum(len(job[3]) for job in self.jobs):
            raise RuntimeError(
                f"the search index workers indexed {count} products of {sum(len(job[3]) for job in self.jobs)}"
            )
        return count

    def close(self) -> None:
        self.closed = True
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def _worker() -> None:
    """A rebuild's worker process (:class:`_Workers`): its job from stdin; to stdout, each chunk's
    document rows as the store's load writes them, then its document count, vocabulary counts and
    postings."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything else printed goes to stderr, not into the stream
    url, snapshot, domains, numbers, now = pickle.load(sys.stdin.buffer)
    gc.disable()  # as in _rebuild
    vocabulary = _Vocabulary()
    count = 0
    with _part_reader(url, snapshot) as session:
        gather: _Load = _Gather(session) if snapshot is not None else _SqliteGather(session)
        catalog = (("product", product_document(r)) for batch in _row_batches(session, domains) for r in batch)
        while chunk := list(islice(catalog, CHUNK)):
            rows = gather.encode(_index_chunk(chunk, numbers, gather, vocabulary, now))
            pickle.dump(("docs", rows), out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
            count += len(chunk)
    gather._sorted()
    counts: dict[str, int] = {}
    for by_term in gather.lists:
        for term, ordinals in by_term.items():
            if vocabulary.get(term):
                counts[term] = counts.get(term, 0) + len(ordinals)
    parts = {(term, tier): gather.piece(term, tier, ordinals) for term, tier, ordinals in _by_key(gather.lists)}
    pickle.dump(("end", count, counts, parts), out, protocol=pickle.HIGHEST_PROTOCOL)
    out.close()


@contextmanager
def _part_reader(url: str, snapshot: str | None) -> Iterator[Session]:
    """A worker's session on the catalog the rebuild sees (:func:`_part_source`): on PostgreSQL
    in the exported snapshot; on SQLite one read-only transaction on the store's file."""
    if snapshot is None:
        store = Store(url)  # the store's connection settings: WAL, busy timeout, BEGIN on begin
        try:
            with store.read() as session:
                session.execute(text("PRAGMA query_only = ON"))
                yield session
        finally:
            store.close()
        return
    if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
        raise ValueError(f"not a snapshot: {snapshot!r}")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with (
            engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
            Session(bind=conn) as session,
        ):
            session.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
            yield session
    finally:
        engine.dispose()


def _drop_terms(session: Session, dropped: set[str]) -> None:
    """The vocabulary is full: take the words it does not keep out of the documents' lists of
    their vocabulary words (written in full as the documents were read)."""
    post, table = SearchPostingRow.__table__, SearchDocumentRow.__table__
    words_ = sorted(dropped)
    affected: set[int] = set()
    for start in range(0, len(words_), 500):
        affected.update(session.scalars(select(post.c.ordinal).where(post.c.term.in_(words_[start : start + 500]))))
    ordinals = sorted(affected)
    for start in range(0, len(ordinals), 500):
        found = session.execute(
            select(table.c.ordinal, table.c.terms).where(table.c.ordinal.in_(ordinals[start : start + 500]))
        ).all()
        session.execute(
            table.update().where(table.c.ordinal == bindparam("o")).values(terms=bindparam("t")),
            [{"o": o, "t": [t for t in terms if t not in dropped]} for o, terms in found],
        )


class _Vocabulary(dict[str, str]):
    """Posting term -> the term when it belongs in the vocabulary (:func:`vocabulary_term`; a
    filter value never does), else "": remembered per term, so every document's list of its
    vocabulary words refers to one string per word (not a copy per document)."""

    def __missing__(self, term: str) -> str:
        found = self[term] = term if vocabulary_term(term) and not term.startswith(" ") else ""
        return found


def _json(value: list[str]) -> str:
    return "[]" if not value else json.dumps(value)


def _json_words(words_: list[str]) -> str:
    """``json.dumps(words_)`` for a list of words, without the encoder when no word needs
    escaping (ASCII letters and digits: every word of an English catalog)."""
    if not words_:
        return "[]"
    joined = '", "'.join(words_)
    if joined.isascii() and joined.isprintable() and "\\" not in joined and joined.count('"') == 2 * len(words_) - 2:
        return f'["{joined}"]'
    return json.dumps(words_)


def _by_key(lists: list[defaultdict[str, list[Any]]]) -> Iterable[tuple[str, int, list[Any]]]:
    """(term, tier, ordinals) in primary-key order."""
    for term in sorted(set().union(*lists)):
        for tier, by_term in enumerate(lists):
            ordinals = by_term.get(term)
            if ordinals is not None:
                yield term, tier, ordinals


_PRODUCT_COLUMNS = (
    ProductRow.domain,
    ProductRow.name,
    ProductRow.owner,
    ProductRow.description,
    ProductRow.tags,
    ProductRow.status,
    ProductRow.columns,
)


def _row_batches(session: Session, domains: list[str] | None = None) -> Iterable[list[Any]]:
    """The catalog's products (the columns the index reads; only ``domains``' when given), a batch
    at a time."""
    last: tuple[str, str] | None = None
    while True:
        stmt = select(*_PRODUCT_COLUMNS).order_by(ProductRow.domain, ProductRow.name).limit(BATCH)
        if domains is not None:
            stmt = stmt.where(ProductRow.domain.in_(domains))
        if last is not None:
            stmt = stmt.where(ProductRow.domain >= last[0], or_(ProductRow.domain > last[0], ProductRow.name > last[1]))
        batch = list(session.execute(stmt))
        if not batch:
            return
        last = (batch[-1].domain, batch[-1].name)
        yield batch


def rebuild_search(store: Store) -> int:
    """Recompute the whole index from the catalog's rows (recovery); returns the documents indexed.

    The offset moves to the end of the log in the same transaction, so incremental syncing goes
    on from there.
    """
    with store.write() as session:
        head = session.scalar(select(func.max(EventRow.seq))) or 0
        count = _rebuild(session)
        _set_offset(session, head)
    return count


def query_words(text_: str) -> list[str]:
    """The distinct words of a query, in order (at most 16: more adds nothing but cost)."""
    seen: dict[str, None] = {}
    for w in tokens(text_):
        seen.setdefault(w, None)
    return list(seen)[:16]
