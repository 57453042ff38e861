"""outbound queue: scheduling order, routes, per-result counts, batching and the ready-job index

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

READY = "status IN (1, 33, 64, 96)"
"""PENDING and RETRYING, with or without NOLINE: the jobs a device may take."""
ACTIVE = "status IN (2, 1024)"
"""INPROGRESS and CANCELING: a call is under way."""


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("outgoing_jobs") as batch_op:
        batch_op.add_column(sa.Column("sched_priority", sa.Integer(), server_default="127", nullable=False))
        batch_op.add_column(sa.Column("bulk", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("route", sa.String(160), server_default="", nullable=False))
        batch_op.add_column(sa.Column("document_blob_id", sa.String(36), nullable=True))
        batch_op.add_column(sa.Column("tries", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("result_counts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("final_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("receipt_sent_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("archived_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("call_id", sa.String(36), nullable=True))
    op.create_index(
        "ix_outgoing_jobs_ready",
        "outgoing_jobs",
        ["sched_priority", "next_attempt_at"],
        sqlite_where=sa.text(READY),
        postgresql_where=sa.text(READY),
    )
    op.create_index("ix_outgoing_jobs_claims", "outgoing_jobs", ["status", "claimed_until"])
    op.create_index("ix_outgoing_jobs_active", "outgoing_jobs", ["recipient_number"],
                    sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))
    with op.batch_alter_table("attempts") as batch_op:
        batch_op.add_column(sa.Column("call_id", sa.String(36), server_default="", nullable=False))
        batch_op.add_column(sa.Column("dialed", sa.String(64), server_default="", nullable=False))
        batch_op.add_column(sa.Column("start_page", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("pages_total", sa.Integer(), server_default="0", nullable=False))
    op.create_index("ix_attempts_started", "attempts", ["started_at"])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_attempts_started", table_name="attempts")
    with op.batch_alter_table("attempts") as batch_op:
        for name in ("pages_total", "start_page", "dialed", "call_id"):
            batch_op.drop_column(name)
    op.drop_index("ix_outgoing_jobs_active", table_name="outgoing_jobs")
    op.drop_index("ix_outgoing_jobs_claims", table_name="outgoing_jobs")
    op.drop_index("ix_outgoing_jobs_ready", table_name="outgoing_jobs")
    with op.batch_alter_table("outgoing_jobs") as batch_op:
        for name in ("call_id", "archived_at", "receipt_sent_at", "final_at", "result_counts", "tries",
                     "document_blob_id", "route", "bulk", "sched_priority"):
            batch_op.drop_column(name)
