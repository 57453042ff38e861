"""mailbox intake: each mail taken from a polled mailbox, recorded before it is moved out of the polled folder

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A row per mail (keyed by mailbox and Message-ID): after a crash the move is finished, not the fax repeated."""
    op.create_table(
        "mailbox_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("mailbox", sa.String(length=40), nullable=False),
        sa.Column("message_key", sa.String(length=255), nullable=False),
        sa.Column("item_id", sa.String(length=255), nullable=False, server_default=""),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("submission_id", sa.String(length=36), sa.ForeignKey("submissions.id"), nullable=True),
        sa.Column("target_folder", sa.String(length=255), nullable=False),
        sa.Column("bounced", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("moved", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("claimed_by", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("claimed_until", sa.Float(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("mailbox", "message_key", name="uq_mailbox_items_key"),
    )


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("mailbox_items")
