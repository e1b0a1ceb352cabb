"""planner statistics cache: product_statistics

Revision ID: 0012
Revises: 0011

One row per product with the statistics its source's catalog gave (row count, per column
distinct count, null fraction, min/max, histogram) as tagged JSON, when they were taken, where
from, and the fingerprint of the output port they describe. The cost-based planner reads them;
missing or stale statistics change a plan, never an answer.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_statistics",
        sa.Column("product", sa.String(length=130), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("statistics", sa.JSON(), nullable=True),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("product"),
    )


def downgrade() -> None:
    op.drop_table("product_statistics")
