"""inbound routing: deliveries, subaddress, session log and routing decision of incoming jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Record each delivery of a received fax durably, so a crash never loses or doubles one."""
    with op.batch_alter_table("incoming_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subaddress", sa.String(length=64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("session_log", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("decision", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("archive_path", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("size", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index("ix_incoming_jobs_received", ["received_at"], unique=False)
    op.create_table(
        "incoming_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("rule", sa.String(length=64), server_default="", nullable=False),
        sa.Column("method_guid", sa.String(length=38), nullable=False),
        sa.Column("method_name", sa.String(length=64), server_default="", nullable=False),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["incoming_jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "key", name="uq_incoming_deliveries_job_key"),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("incoming_deliveries")
    with op.batch_alter_table("incoming_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_incoming_jobs_received")
        batch_op.drop_column("size")
        batch_op.drop_column("archive_path")
        batch_op.drop_column("decision")
        batch_op.drop_column("session_log")
        batch_op.drop_column("subaddress")
