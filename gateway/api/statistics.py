"""The figures of the console's dashboard: aggregate queries on the shared store (so every node shows the same)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api.models import Statistics
from gateway.enums import JobStatus
from gateway.storage.incoming import FAILED, PENDING
from gateway.storage.schema import incoming_deliveries, incoming_jobs, outgoing_jobs


async def statistics(conn: AsyncConnection, since: float) -> Statistics:
    """Counts by status, since ``since``, and what failed."""
    by_status: dict[str, int] = {}
    queue = archive = 0
    for status, final, count in await conn.execute(
            select(outgoing_jobs.c.status, outgoing_jobs.c.final_at.is_not(None), func.count())
            .group_by(outgoing_jobs.c.status, outgoing_jobs.c.final_at.is_not(None))):
        name = str(JobStatus(status).base.name or status).lower()
        by_status[name] = by_status.get(name, 0) + count
        if final:
            archive += count
        else:
            queue += count
    recent = outgoing_jobs.c.final_at >= since
    sent = (await conn.execute(select(func.count(), func.coalesce(func.sum(outgoing_jobs.c.pages_sent), 0))
                               .where(recent, outgoing_jobs.c.status == int(JobStatus.COMPLETED)))).one()
    failed = (await conn.execute(select(func.count()).where(
        recent, outgoing_jobs.c.status.in_([int(JobStatus.FAILED), int(JobStatus.CANCELED)])))).scalar_one()
    incoming_total = (await conn.execute(select(func.count()).select_from(incoming_jobs))).scalar_one()
    received = (await conn.execute(select(func.count(), func.coalesce(func.sum(incoming_jobs.c.pages), 0))
                                   .where(incoming_jobs.c.received_at >= since))).one()
    routing_failed = (await conn.execute(select(func.count(func.distinct(incoming_deliveries.c.job_id)))
                                         .where(incoming_deliveries.c.state == FAILED))).scalar_one()
    retrying = (await conn.execute(select(func.count(func.distinct(incoming_deliveries.c.job_id))).where(
        incoming_deliveries.c.state == PENDING, incoming_deliveries.c.last_error != ""))).scalar_one()
    return Statistics(outgoing_by_status=by_status, queue=queue, archive=archive, incoming=int(incoming_total),
                      sent_since=int(sent[0]), pages_sent_since=int(sent[1]), failed_since=int(failed),
                      received_since=int(received[0]), pages_received_since=int(received[1]),
                      routing_failed=int(routing_failed), routing_retrying=int(retrying))
