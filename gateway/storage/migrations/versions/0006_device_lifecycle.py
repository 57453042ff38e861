"""device lifecycle: each line's state, its reason, when it is retried next and how many starts failed in a row

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Store the lifecycle state so every node and the CLI see a line that is retrying, and why."""
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("state", sa.String(length=16), nullable=False, server_default="initializing"))
        batch.add_column(sa.Column("retry_at", sa.Float(), nullable=True))
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Undo this revision."""
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("failures")
        batch.drop_column("retry_at")
        batch.drop_column("state")
