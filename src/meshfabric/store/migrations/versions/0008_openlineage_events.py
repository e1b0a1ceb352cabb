"""raw OpenLineage events as received

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "openlineage_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("job_namespace", sa.String(length=512), nullable=True),
        sa.Column("job_name", sa.String(length=1024), nullable=True),
        sa.Column("dataset_namespace", sa.String(length=512), nullable=True),
        sa.Column("dataset_name", sa.String(length=1024), nullable=True),
        sa.Column("producer", sa.String(length=2048), nullable=False),
        sa.Column("schema_url", sa.String(length=2048), nullable=False),
        sa.Column("principal", sa.String(length=256), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("openlineage_events", schema=None) as batch_op:
        batch_op.create_index("ix_openlineage_events_fingerprint", ["fingerprint"], unique=True)
        batch_op.create_index("ix_openlineage_events_job", ["job_namespace", "job_name", "event_time"], unique=False)
        batch_op.create_index("ix_openlineage_events_run", ["run_id", "event_time"], unique=False)
        batch_op.create_index("ix_openlineage_events_time", ["event_time"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("openlineage_events", schema=None) as batch_op:
        batch_op.drop_index("ix_openlineage_events_time")
        batch_op.drop_index("ix_openlineage_events_run")
        batch_op.drop_index("ix_openlineage_events_job")
        batch_op.drop_index("ix_openlineage_events_fingerprint")

    op.drop_table("openlineage_events")
