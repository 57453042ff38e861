"""Queries of the outgoing archive: sent faxes (completed jobs) newest first, one by id, and deleting one."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.enums import JobStatus
from gateway.model import OutgoingJob
from gateway.storage.schema import attempts, outgoing_jobs

SENT = int(JobStatus.COMPLETED)


async def list_sent(conn: AsyncConnection, *, before_id: int | None = None, limit: int = 100) -> list[OutgoingJob]:
    """Sent faxes, newest first; ``before_id`` pages on to older ones."""
    query = select(outgoing_jobs).where(outgoing_jobs.c.status == SENT).order_by(outgoing_jobs.c.id.desc())
    if before_id is not None:
        query = query.where(outgoing_jobs.c.id < before_id)
    return [OutgoingJob.from_row(row) for row in await conn.execute(query.limit(limit))]


async def get_sent(conn: AsyncConnection, job_id: int) -> OutgoingJob | None:
    """One sent fax, or None (also when the job exists but was not sent)."""
    query = select(outgoing_jobs).where(outgoing_jobs.c.id == job_id, outgoing_jobs.c.status == SENT)
    row = (await conn.execute(query)).first()
    return OutgoingJob.from_row(row) if row else None


async def delete_sent(conn: AsyncConnection, job_id: int) -> bool:
    """Delete a sent fax's job and its calls (IFaxOutgoingMessage.Delete); False when there is none."""
    if await get_sent(conn, job_id) is None:
        return False
    await conn.execute(delete(attempts).where(attempts.c.job_id == job_id))
    await conn.execute(delete(outgoing_jobs).where(outgoing_jobs.c.id == job_id))
    return True
