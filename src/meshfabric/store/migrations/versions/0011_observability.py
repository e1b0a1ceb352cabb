"""observability: scheduler leases, silenced alerts, delivery channels and attempt logs

Revision ID: 0011
Revises: 0010

``observe_leases`` is one row per (product, task) the scheduler runs, taken with a conditional
UPDATE so several processes on one store never run a check twice. ``alerts.silenced_until``
holds back notifications of an alert until a time. ``alert_deliveries`` gains the channel a
delivery went through (webhook, slack, email) and the outcome of each attempt.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observe_leases",
        sa.Column("product", sa.String(length=130), nullable=False),
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("product", "task"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("silenced_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=False, server_default="webhook"))
        batch_op.add_column(sa.Column("attempt_log", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_column("attempt_log")
        batch_op.drop_column("channel")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("silenced_until")
    op.drop_table("observe_leases")
