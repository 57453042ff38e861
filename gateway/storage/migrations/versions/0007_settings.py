"""runtime settings: configuration the API changes, by area and key, with a version every node polls

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Keep API configuration changes in the shared store, so every node applies them and they survive restarts."""
    op.create_table(
        "settings",
        sa.Column("area", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("area", "key"),
    )
    op.create_table(
        "settings_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    version = sa.table("settings_version", sa.column("id", sa.Integer), sa.column("version", sa.Integer),
                       sa.column("updated_at", sa.Float))
    op.bulk_insert(version, [{"id": 1, "version": 0, "updated_at": time.time()}])


def downgrade() -> None:
    """Undo this revision."""
    op.drop_table("settings_version")
    op.drop_table("settings")
