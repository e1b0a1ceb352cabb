"""Store tables of the search capability (see store/models.py for the shared Base and conventions).

``search_documents`` holds one row per indexed product or domain, with the text the index was
built from; ``search_terms`` is the bounded vocabulary typo tolerance corrects against. The
full-text structure itself is dialect-specific and created with raw SQL by migration 0005: an
FTS5 virtual table ``search_fts`` (plus the shadow tables FTS5 keeps) on SQLite, a table of
``tsvector`` with a GIN index on PostgreSQL. Those are not models; their names are recorded in
``Base.metadata.info["unmodelled_tables"]`` so the models-vs-migrations comparison skips exactly
them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meshfabric.store.models import Base, BigId, utcnow

#: the full-text table, the same name in both dialects
FTS_TABLE = "search_fts"
#: what migration 0005 creates outside the models: the FTS5 table and its shadow tables (SQLite),
#: the tsvector table (PostgreSQL)
UNMODELLED_TABLES = frozenset(
    {FTS_TABLE} | {f"{FTS_TABLE}_{suffix}" for suffix in ("data", "idx", "content", "docsize", "config")}
)
#: FTS5's own bookkeeping: rows exist from the moment the migration creates the table (its
#: configuration version, an empty structure record) before anything is indexed
FTS_SHADOW_TABLES = UNMODELLED_TABLES - {FTS_TABLE}
Base.metadata.info.setdefault("unmodelled_tables", set()).update(UNMODELLED_TABLES)


class SearchDocumentRow(Base):
    """One indexed entity: a product (key = its fqn) or a domain (key = its name)."""

    __tablename__ = "search_documents"
    __table_args__ = (
        UniqueConstraint("kind", "key", name="uq_search_documents_kind_key"),
        Index("ix_search_documents_domain", "domain"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: product | domain
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(160))
    domain: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    #: a product's owner; a domain's owners joined with ", "
    owner: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="")
    #: every classification of any column (e.g. ["pii"])
    classifications: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: [{name, type, description, classification}] as applied
    columns: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: the distinct vocabulary terms of this document (what it added to search_terms)
    terms: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SearchTermRow(Base):
    """One word of the index's vocabulary and in how many documents it occurs."""

    __tablename__ = "search_terms"
    __table_args__ = (Index("ix_search_terms_length", "length"),)

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    length: Mapped[int] = mapped_column(Integer)
    doc_count: Mapped[int] = mapped_column(Integer, default=0)
