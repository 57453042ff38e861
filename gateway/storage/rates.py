"""Every query about sending rates: how many faxes a sender's accepted submissions hold within a window."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.schema import submissions


async def faxes_since(conn: AsyncConnection, rate_key: str, since: float) -> int:
    """Faxes stored for `rate_key` after `since` (epoch seconds) by any node: one range scan of ix_submissions_rate."""
    query = select(func.coalesce(func.sum(submissions.c.fax_count), 0)).where(
        submissions.c.rate_key == rate_key, submissions.c.created_at > since)
    return int((await conn.execute(query)).scalar_one())
