"""All SQL for received faxes: incoming jobs, their deliveries (one row per method run), and extension data."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.enums import EventId, ExtendedStatus, JobStatus, JobType, ServerEvents
from gateway.model import IncomingJob
from gateway.storage import events as event_log
from gateway.storage.database import put_blob
from gateway.storage.schema import blobs, extension_data, incoming_deliveries, incoming_jobs
from gateway.textsafe import safe_text

ROUTABLE = (int(JobStatus.ROUTING), int(JobStatus.RETRYING))
"""Statuses of received faxes that still have deliveries to make."""


@dataclass
class IncomingRecord:
    """An incoming job row with the columns routing adds (subaddress, session log, decision, archive path)."""

    job: IncomingJob
    subaddress: str
    session_log: str
    decision: dict[str, Any] | None
    archive_path: str
    size: int


@dataclass
class Delivery:
    """One method run for one fax: planned once, retried until delivered, never repeated after that."""

    id: int
    job_id: int
    key: str
    rule: str
    method_guid: str
    method_name: str
    priority: int
    config: dict[str, Any]
    state: str
    attempts: int
    last_error: str
    detail: str
    delivered_at: float | None


PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def job_status(job: IncomingJob) -> dict[str, Any]:
    """The FaxJobStatus of OnIncomingJobChanged (remote ids made printable: they come from the far end)."""
    routing = job.status & JobStatus.ROUTING or job.status & JobStatus.RETRYING
    return {
        "job_id": job.id, "status": job.status, "status_name": JobStatus(job.status).name or "",
        "extended_status": job.extended_status, "extended_status_name": ExtendedStatus(job.extended_status).name,
        "extended_status_text": job.reason, "pages": job.pages, "current_page": job.pages, "device": job.device_name,
        "csid": safe_text(job.csid, 40), "tsid": safe_text(job.remote_tsid, 40),
        "caller_id": safe_text(job.caller_id, 40), "routing_information": safe_text(job.routing_status, 300),
        "retries": job.routing_retries, "scheduled_time": job.next_routing_at,
        "transmission_start": job.received_at, "transmission_end": job.ended_at,
        "job_type": int(JobType.ROUTING if routing else JobType.RECEIVE),
    }


def _announce(conn: AsyncConnection, job: IncomingJob, kind: str = "job.changed", fei: EventId | None = None,
              device_id: int = 0) -> None:
    """Record the IN_QUEUE event of a change to a received fax (and its FEI_ event) in the change's transaction."""
    event_log.record(conn, ServerEvents.IN_QUEUE, kind, job_status(job))
    if fei is not None:
        event_log.record(conn, ServerEvents.IN_QUEUE, "fei", event_log.fei_payload(
            fei, job_id=job.id, device_id=device_id, device=job.device_name))


def _record(row: Any) -> IncomingRecord:
    mapping = row._mapping
    return IncomingRecord(
        job=IncomingJob.from_row(row),
        subaddress=mapping["subaddress"],
        session_log=mapping["session_log"],
        decision=mapping["decision"],
        archive_path=mapping["archive_path"],
        size=mapping["size"],
    )


async def create_received(
    conn: AsyncConnection,
    *,
    device_name: str,
    node_id: str,
    received_at: float,
    ended_at: float,
    tiff: bytes | None,
    pages: int,
    status: JobStatus,
    extended_status: ExtendedStatus,
    reason: str = "",
    caller_id: str = "",
    caller_name: str = "",
    did: str = "",
    remote_tsid: str = "",
    csid: str = "",
    subaddress: str = "",
    quality: dict[str, Any] | None = None,
    session_log: str = "",
    device_id: int = 0,
) -> int:
    """Commit a received fax (TIFF in the blob store) as an incoming job (OnIncomingJobAdded); returns its id."""
    blob_id = await put_blob(conn, tiff, "image/tiff") if tiff else None
    now = time.time()
    result = await conn.execute(
        insert(incoming_jobs).values(
            device_name=device_name, node_id=node_id, received_at=received_at, ended_at=ended_at,
            caller_id=caller_id[:64], caller_name=caller_name, did=did[:64], remote_tsid=remote_tsid, csid=csid,
            subaddress=subaddress[:64], pages=pages, status=int(status), extended_status=int(extended_status),
            reason=reason, tiff_blob_id=blob_id, quality=quality or {}, routing_status="waiting to be routed"
            if status == JobStatus.ROUTING else reason, session_log=session_log, size=len(tiff or b""),
            updated_at=now, next_routing_at=None,
        ).returning(*incoming_jobs.c)
    )
    job = IncomingJob.from_row(result.one())
    fei = EventId.COMPLETED if tiff else event_log.FEI_OF_RESULT.get(ExtendedStatus(job.extended_status))
    _announce(conn, job, "job.added", fei, device_id)  # a call that kept no page: why (not a fax call, refused...)
    if not JobStatus(job.status) & (JobStatus.ROUTING | JobStatus.RETRYING):
        _announce(conn, job, "job.removed", EventId.DELETED, device_id)  # nothing to route: out of the queue
    return job.id


async def get(conn: AsyncConnection, job_id: int) -> IncomingRecord | None:
    """One incoming job with its routing columns."""
    row = (await conn.execute(select(incoming_jobs).where(incoming_jobs.c.id == job_id))).first()
    return _record(row) if row is not None else None


async def list_jobs(conn: AsyncConnection, *, limit: int = 50, status: int | None = None,
                    before_id: int | None = None) -> list[IncomingRecord]:
    """The newest incoming jobs first; ``before_id`` pages on to older ones."""
    query = select(incoming_jobs).order_by(incoming_jobs.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(incoming_jobs.c.id < before_id)
    if status is not None:
        query = query.where(incoming_jobs.c.status == status)
    return [_record(row) for row in (await conn.execute(query)).all()]


async def count_routing(conn: AsyncConnection) -> int:
    """Received faxes still being routed (IFaxActivity.RoutingMessages)."""
    query = select(func.count()).select_from(incoming_jobs).where(incoming_jobs.c.status.in_(ROUTABLE))
    return int((await conn.execute(query)).scalar_one())


async def tiff(conn: AsyncConnection, job_id: int) -> bytes | None:
    """The received TIFF as stored, or None (no such fax, or a call that brought no pages)."""
    query = select(blobs.c.data).join(incoming_jobs, incoming_jobs.c.tiff_blob_id == blobs.c.id).where(
        incoming_jobs.c.id == job_id)
    row = (await conn.execute(query)).first()
    return bytes(row.data) if row else None


async def claim_due(conn: AsyncConnection, node_id: str, now: float, lease: float,
                    device_ids: Mapping[str, int] | None = None) -> int | None:
    """Take the oldest job due for routing that no live node holds (FEI_ROUTING with the id of the device that
    received it, from ``device_ids``); returns its id, or None."""
    candidates = (
        await conn.execute(
            select(incoming_jobs.c.id)
            .where(
                incoming_jobs.c.status.in_(ROUTABLE),
                or_(incoming_jobs.c.next_routing_at.is_(None), incoming_jobs.c.next_routing_at <= now),
                or_(incoming_jobs.c.claimed_until.is_(None), incoming_jobs.c.claimed_until < now),
            )
            .order_by(incoming_jobs.c.received_at)
            .limit(5)
        )
    ).scalars().all()
    for job_id in candidates:
        taken = await conn.execute(
            update(incoming_jobs)
            .where(
                incoming_jobs.c.id == job_id,
                incoming_jobs.c.status.in_(ROUTABLE),
                or_(incoming_jobs.c.claimed_until.is_(None), incoming_jobs.c.claimed_until < now),
            )
            .values(claimed_by=node_id, claimed_until=now + lease)
            .returning(*incoming_jobs.c)
        )
        row = taken.first()
        if row is not None:
            job = IncomingJob.from_row(row)
            _announce(conn, job, fei=EventId.ROUTING, device_id=(device_ids or {}).get(job.device_name, 0))
            return int(job_id)
    return None


async def extend_claim(conn: AsyncConnection, job_id: int, node_id: str, until: float) -> None:
    """Keep owning a job while its deliveries run, so a slow pass is not mistaken for a dead node."""
    await conn.execute(update(incoming_jobs)
                       .where(incoming_jobs.c.id == job_id, incoming_jobs.c.claimed_by == node_id)
                       .values(claimed_until=until))


async def release_claims(conn: AsyncConnection, node_id: str) -> list[int]:
    """Free the jobs this node id held when it stopped (a crash): a restarted node routes them at once."""
    held = (await conn.execute(select(incoming_jobs.c.id).where(
        incoming_jobs.c.claimed_by == node_id, incoming_jobs.c.status.in_(ROUTABLE)))).scalars().all()
    if held:
        await conn.execute(update(incoming_jobs).where(incoming_jobs.c.id.in_(held))
                           .values(claimed_by=None, claimed_until=None))
    return [int(job_id) for job_id in held]


async def next_due_at(conn: AsyncConnection) -> float | None:
    """When the next routing retry is due (None: nothing scheduled)."""
    value = (
        await conn.execute(
            select(func.min(incoming_jobs.c.next_routing_at)).where(incoming_jobs.c.status.in_(ROUTABLE))
        )
    ).scalar()
    return float(value) if value is not None else None


async def save_plan(conn: AsyncConnection, job_id: int, decision: dict[str, Any],
                    deliveries: list[dict[str, Any]]) -> None:
    """Store the routing decision and the deliveries it plans, once, in one transaction."""
    now = time.time()
    await conn.execute(update(incoming_jobs).where(incoming_jobs.c.id == job_id)
                       .values(decision=decision, updated_at=now))
    for planned in deliveries:
        await conn.execute(insert(incoming_deliveries).values(job_id=job_id, state=PENDING, updated_at=now,
                                                              **planned))


async def deliveries(conn: AsyncConnection, job_id: int) -> list[Delivery]:
    """A job's deliveries in the order they run (priority, then plan order)."""
    rows = (
        await conn.execute(
            select(incoming_deliveries).where(incoming_deliveries.c.job_id == job_id)
            .order_by(incoming_deliveries.c.priority, incoming_deliveries.c.id)
        )
    ).all()
    return [Delivery(**{key: value for key, value in row._mapping.items() if key != "updated_at"}) for row in rows]


async def mark_delivered(conn: AsyncConnection, delivery_id: int, detail: str, now: float) -> None:
    """Record that a delivery happened; it will not run again."""
    await conn.execute(
        update(incoming_deliveries).where(incoming_deliveries.c.id == delivery_id)
        .values(state=DELIVERED, detail=detail, delivered_at=now, attempts=incoming_deliveries.c.attempts + 1,
                last_error="", updated_at=now)
    )


async def mark_failed(conn: AsyncConnection, delivery_id: int, error: str, *, final: bool, now: float) -> None:
    """Record a failed attempt; ``final`` means it will not be retried."""
    await conn.execute(
        update(incoming_deliveries).where(incoming_deliveries.c.id == delivery_id)
        .values(state=FAILED if final else PENDING, last_error=error,
                attempts=incoming_deliveries.c.attempts + 1, updated_at=now)
    )


async def finish_routing(
    conn: AsyncConnection, job_id: int, *, status: JobStatus, routing_status: str, now: float,
    next_routing_at: float | None = None, count_retry: bool = False,
) -> None:
    """Set the job's routing outcome and release the claim."""
    values: dict[str, Any] = {
        "status": int(status), "routing_status": routing_status, "next_routing_at": next_routing_at,
        "claimed_by": None, "claimed_until": None, "updated_at": now,
    }
    if status == JobStatus.COMPLETED:
        values["routed_at"] = now
    if count_retry:
        values["routing_retries"] = incoming_jobs.c.routing_retries + 1
    row = (await conn.execute(update(incoming_jobs).where(incoming_jobs.c.id == job_id).values(**values)
                              .returning(*incoming_jobs.c))).first()
    if row is not None:
        job = IncomingJob.from_row(row)
        _announce(conn, job)
        if status == JobStatus.COMPLETED:  # routed: out of the incoming queue (a failed one stays, to reroute)
            _announce(conn, job, "job.removed", EventId.DELETED)


async def set_archive_path(conn: AsyncConnection, job_id: int, path: str) -> None:
    """Remember where the incoming archive keeps this fax (OnIncomingMessageAdded)."""
    await conn.execute(update(incoming_jobs).where(incoming_jobs.c.id == job_id).values(archive_path=path))
    event_log.record(conn, ServerEvents.IN_ARCHIVE, "message.added", {"message_id": str(job_id), "job_id": job_id})


async def reroute(conn: AsyncConnection, job_id: int, now: float) -> bool:
    """Forget the decision and every delivery and route the fax again from the rules as they are now."""
    await conn.execute(delete(incoming_deliveries).where(incoming_deliveries.c.job_id == job_id))
    result = await conn.execute(
        update(incoming_jobs)
        .where(incoming_jobs.c.id == job_id, incoming_jobs.c.tiff_blob_id.is_not(None))
        .values(status=int(JobStatus.ROUTING), decision=None, routing_retries=0, next_routing_at=None,
                routed_at=None, claimed_by=None, claimed_until=None, routing_status="waiting to be routed again",
                updated_at=now)
        .returning(*incoming_jobs.c)
    )
    row = result.first()
    if row is not None:
        _announce(conn, IncomingJob.from_row(row), "job.added")
    return row is not None


async def delete_job(conn: AsyncConnection, job_id: int) -> bool:
    """Remove a received fax, its deliveries and its TIFF."""
    record = await get(conn, job_id)
    if record is None:
        return False
    await conn.execute(delete(incoming_deliveries).where(incoming_deliveries.c.job_id == job_id))
    await conn.execute(delete(incoming_jobs).where(incoming_jobs.c.id == job_id))
    _announce(conn, record.job, "job.removed", EventId.DELETED)
    if record.archive_path:
        event_log.record(conn, ServerEvents.IN_ARCHIVE, "message.removed", {"message_id": str(job_id),
                                                                            "job_id": job_id})
    if record.job.tiff_blob_id:
        await conn.execute(delete(blobs).where(blobs.c.id == record.job.tiff_blob_id))
    return True


async def get_extension_data(conn: AsyncConnection, device_id: int, guid: str) -> bytes | None:
    """The blob stored for (device, GUID), or None."""
    row = (
        await conn.execute(
            select(extension_data.c.data).where(
                and_(extension_data.c.device_id == device_id, extension_data.c.guid == guid)
            )
        )
    ).first()
    return bytes(row.data) if row is not None else None


async def set_extension_data(conn: AsyncConnection, device_id: int, guid: str, data: bytes, writer: str) -> None:
    """Store the blob for (device, GUID), replacing any earlier one."""
    now = time.time()
    updated = await conn.execute(
        update(extension_data)
        .where(extension_data.c.device_id == device_id, extension_data.c.guid == guid)
        .values(data=data, writer=writer, updated_at=now)
    )
    if updated.rowcount == 0:
        await conn.execute(insert(extension_data).values(device_id=device_id, guid=guid, data=data, writer=writer,
                                                         updated_at=now))
