"""The figures of the console's dashboard: aggregate queries on the shared store (so every node shows the same)."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api.models import Statistics
from gateway.enums import JobStatus
from gateway.storage.incoming import FAILED, PENDING
from gateway.storage.schema import incoming_deliveries, incoming_jobs, outgoing_jobs


async def statistics(conn: AsyncConnection, since: float) -> Statistics:
    """Counts by status, since ``since``, and what failed."""
    by_status: dict[str, int] = {}
    queue = archive = sent = pages_sent = failed = 0
    recent = outgoing_jobs.c.final_at >= since
    recent_pages = func.coalesce(func.sum(case((recent, outgoing_jobs.c.pages_sent))), 0)
    # One pass over the jobs: counts by status and finality, and how many of each ended since ``since``.
    for status, final, count, ended, ended_pages in await conn.execute(
            select(outgoing_jobs.c.status, outgoing_jobs.c.final_at.is_not(None), func.count(),
                   func.count(case((recent, 1))), recent_pages)
            .group_by(outgoing_jobs.c.status, outgoing_jobs.c.final_at.is_not(None))):
        name = str(JobStatus(status).base.name or status).lower()
        by_status[name] = by_status.get(name, 0) + count
        if final:
            archive += count
        else:
            queue += count
        if status == JobStatus.COMPLETED:
            sent += ended
            pages_sent += ended_pages
        elif status in (JobStatus.FAILED, JobStatus.CANCELED):
            failed += ended
    # The received side in one round trip: each figure a scalar subquery on its own index.
    received = incoming_jobs.c.received_at >= since
    incoming_total, received_count, received_pages, routing_failed, retrying = (await conn.execute(select(
        select(func.count()).select_from(incoming_jobs).scalar_subquery(),
        select(func.count()).select_from(incoming_jobs).where(received).scalar_subquery(),
        select(func.coalesce(func.sum(incoming_jobs.c.pages), 0)).where(received).scalar_subquery(),
        select(func.count(func.distinct(incoming_deliveries.c.job_id)))
        .where(incoming_deliveries.c.state == FAILED).scalar_subquery(),
        select(func.count(func.distinct(incoming_deliveries.c.job_id)))
        .where(incoming_deliveries.c.state == PENDING, incoming_deliveries.c.last_error != "").scalar_subquery(),
    ))).one()
    return Statistics(outgoing_by_status=by_status, queue=queue, archive=archive, incoming=int(incoming_total),
                      sent_since=int(sent), pages_sent_since=int(pages_sent), failed_since=int(failed),
                      received_since=int(received_count), pages_received_since=int(received_pages),
                      routing_failed=int(routing_failed), routing_retrying=int(retrying))
