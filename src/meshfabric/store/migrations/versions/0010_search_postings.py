"""catalog search: impact-ordered postings replace the full-text tables

Revision ID: 0010
Revises: 0009

Search now retrieves its top k from ``search_postings`` (term, tier, ordinal): one row per
distinct word of a document with the tier of the best field holding it, read best tier first
and in tie order. ``search_documents`` gains the tie order (``ordinal``) and the name's words for
exact-name lookups. The FTS5 table (SQLite) and the tsvector table (PostgreSQL) of 0005 are
dropped. The index is derived state: the upgrade empties it and forgets the search offset, so
the first sync rebuilds it from the catalog; the downgrade does the same for the old layout.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _forget_index() -> None:
    op.execute("DELETE FROM subscriber_offsets WHERE subscriber = 'meshfabric.search'")
    op.execute("DELETE FROM search_terms")
    op.execute("DELETE FROM search_documents")


def upgrade() -> None:
    op.execute("DROP TABLE IF EXISTS search_fts")
    _forget_index()
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ordinal", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("name_words", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("full_words", sa.String(length=200), nullable=False, server_default=""))
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.alter_column("ordinal", server_default=None)
        batch_op.alter_column("name_words", server_default=None)
        batch_op.alter_column("full_words", server_default=None)
        batch_op.create_index("ix_search_documents_ordinal", ["ordinal"], unique=True)
        batch_op.create_index("ix_search_documents_name_words", ["name_words"], unique=False)
        batch_op.create_index("ix_search_documents_full_words", ["full_words"], unique=False)
    op.create_table(
        "search_postings",
        sa.Column("term", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.SmallInteger(), nullable=False),
        sa.Column("ordinal", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("term", "tier", "ordinal"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("search_postings")
    _forget_index()
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_search_documents_full_words")
        batch_op.drop_index("ix_search_documents_name_words")
        batch_op.drop_index("ix_search_documents_ordinal")
        batch_op.drop_column("full_words")
        batch_op.drop_column("name_words")
        batch_op.drop_column("ordinal")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "name, domain, columns, column_info, tags, owner, description, "
            "tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3')"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE TABLE search_fts ("
            "doc_id BIGINT PRIMARY KEY REFERENCES search_documents (id) ON DELETE CASCADE, "
            "tsv TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_search_fts_tsv ON search_fts USING GIN (tsv)")
