"""submission rates: each accepted submission's sender rate key and fax count, indexed for the window query

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

RATED = "rate_key IS NOT NULL"
"""Only submissions taken under a rate limit are indexed, so intake without a limit maintains no extra index."""


def upgrade() -> None:
    """Count rate limits from the shared store, so every node sees every node's faxes and restarts forget nothing."""
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("fax_count", sa.Integer(), nullable=True))
    op.create_index("ix_submissions_rate", "submissions", ["rate_key", "created_at"],
                    sqlite_where=sa.text(RATED), postgresql_where=sa.text(RATED))


def downgrade() -> None:
    """Undo this revision."""
    op.drop_index("ix_submissions_rate", table_name="submissions")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_column("fax_count")
        batch_op.drop_column("rate_key")
