"""catalog search index (SQLite FTS5 / PostgreSQL full-text)

Revision ID: 0005
Revises: 0004

The documents and the vocabulary are ordinary tables (models in store/models_search.py). The
full-text structure differs per dialect and is created with raw SQL: SQLite gets an FTS5
virtual table whose rowid is the document id; PostgreSQL a table of tsvectors with a GIN index,
rows removed with their document. Text reaches both already tokenized (meshfabric.search.text),
so the two index exactly the same words.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_documents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("domain", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("classifications", sa.JSON(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key", name="uq_search_documents_kind_key"),
    )
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.create_index("ix_search_documents_domain", ["domain"], unique=False)

    op.create_table(
        "search_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("doc_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term"),
    )
    with op.batch_alter_table("search_terms", schema=None) as batch_op:
        batch_op.create_index("ix_search_terms_length", ["length"], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # prefix indexes make 2- and 3-letter prefix queries (what a user types first) cheap
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


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS search_fts")
    with op.batch_alter_table("search_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_search_terms_length")

    op.drop_table("search_terms")
    with op.batch_alter_table("search_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_search_documents_domain")

    op.drop_table("search_documents")
