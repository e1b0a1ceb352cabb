"""Store tables of the search capability (see store/models.py for the shared Base and conventions).

``search_documents`` holds one row per indexed product or domain, with the text the index was
built from and its ``ordinal`` (the tie order of equal scores: products before domains, then by
key); ``search_postings`` is the impact-ordered inverted index — one row per distinct word of a
document with the tier of the best field holding it, keyed (term, tier, ordinal) so each word's
documents read best tier first and, within a tier, in tie order; ``search_terms`` is the bounded
vocabulary typo tolerance corrects against. Migration 0010 replaced the full-text structures of
migration 0005 (FTS5 / tsvector) with the postings, so every table is modelled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meshfabric.store.models import Base, BigId, utcnow

#: the longest word the postings keep (longer ones are cut: identifiers or hashes nobody types)
MAX_WORD = 200
#: tables a migration creates outside the models (skipped by the models-vs-migrations check) and
#: the rows migrations themselves write into them: none since migration 0010 dropped the
#: full-text tables of 0005
UNMODELLED_TABLES: frozenset[str] = frozenset()
FTS_SHADOW_TABLES: frozenset[str] = frozenset()
Base.metadata.info.setdefault("unmodelled_tables", set()).update(UNMODELLED_TABLES)


class SearchDocumentRow(Base):
    """One indexed entity: a product (key = its fqn) or a domain (key = its name)."""

    __tablename__ = "search_documents"
    __table_args__ = (
        UniqueConstraint("kind", "key", name="uq_search_documents_kind_key"),
        Index("ix_search_documents_domain", "domain"),
        Index("ix_search_documents_ordinal", "ordinal", unique=True),
        Index("ix_search_documents_name_words", "name_words"),
        Index("ix_search_documents_full_words", "full_words"),
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
    #: the tie order of equal scores, (kind != product, key) ascending, with gaps for insertions
    ordinal: Mapped[int] = mapped_column(BigInteger)
    #: the name's words ("customer email"), and a product's domain + name words ("crm customer
    #: email"): an exact-name query is one index lookup
    name_words: Mapped[str] = mapped_column(String(MAX_WORD), default="")
    full_words: Mapped[str] = mapped_column(String(MAX_WORD), default="")


class SearchTermRow(Base):
    """One word of the index's vocabulary and in how many documents it occurs."""

    __tablename__ = "search_terms"
    __table_args__ = (Index("ix_search_terms_length", "length"),)

    term: Mapped[str] = mapped_column(String(64), primary_key=True)
    length: Mapped[int] = mapped_column(Integer)
    doc_count: Mapped[int] = mapped_column(Integer, default=0)


class SearchPostingRow(Base):
    """One word of one document: the tier (0 = name … 5 = description, ``ranking.LEVELS``) of the
    best field holding it. The primary key is the read order: a word's documents by tier, then in
    tie order, so the best documents for a word are the first rows of its range."""

    __tablename__ = "search_postings"
    __table_args__ = ({"sqlite_with_rowid": False},)

    term: Mapped[str] = mapped_column(String(MAX_WORD), primary_key=True)
    tier: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    ordinal: Mapped[int] = mapped_column(BigInteger, primary_key=True)
