"""metadata graph: nodes, typed edges, lineage jobs, runs and raw OpenLineage events

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "graph_nodes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key", name="uq_graph_nodes_kind_key"),
    )
    with op.batch_alter_table("graph_nodes", schema=None) as batch_op:
        batch_op.create_index("ix_graph_nodes_name", ["name"], unique=False)

    op.create_table(
        "graph_edges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("src_id", sa.BigInteger(), nullable=False),
        sa.Column("rel", sa.String(length=64), nullable=False),
        sa.Column("dst_id", sa.BigInteger(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("src_id", "rel", "dst_id", name="uq_graph_edges_src_rel_dst"),
    )
    with op.batch_alter_table("graph_edges", schema=None) as batch_op:
        batch_op.create_index("ix_graph_edges_dst_rel", ["dst_id", "rel", "src_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("graph_edges", schema=None) as batch_op:
        batch_op.drop_index("ix_graph_edges_dst_rel")

    op.drop_table("graph_edges")
    with op.batch_alter_table("graph_nodes", schema=None) as batch_op:
        batch_op.drop_index("ix_graph_nodes_name")

    op.drop_table("graph_nodes")
