"""Named transitions of outgoing jobs: each one statement (or one transaction) that records its events with it.

Queue, claim, start call, record page, complete, requeue, give up, cancel, pause, resume, restart: the only ways
a job's status changes. Each records OUT_QUEUE events (added/changed/removed with the job's FaxJobStatus) and the
legacy FEI_ event in the caller's transaction, so a change and its events commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.enums import EventId, ExtendedStatus, JobOperations, JobStatus, JobType, ServerEvents
from gateway.model import OutgoingJob
from gateway.storage import events as event_log
from gateway.storage import jobs as store
from gateway.storage.schema import attempts, outgoing_jobs
from gateway.textsafe import safe_text

_RELEASED = {"claimed_by": None, "claimed_until": None}


@dataclass(frozen=True)
class CallEnd:
    """What a finished call leaves on each job of it: pages the far end confirmed, its CSID, when it ended."""

    pages_sent: int
    remote_csid: str
    ended_at: float

    def values(self, job: OutgoingJob) -> dict[str, Any]:
        """The call's columns, with the claim released."""
        return {"pages_sent": self.pages_sent, "remote_csid": safe_text(self.remote_csid, 40) or job.remote_csid,
                "transmission_end": self.ended_at, **_RELEASED}


@dataclass(frozen=True)
class Failure:
    """A failed call counted for a job: its result and reason, and the job's counters after it."""

    extended_status: ExtendedStatus
    reason: str
    retries: int
    dials: int
    tries: int
    result_counts: dict[str, int] = field(default_factory=dict)

    def values(self) -> dict[str, Any]:
        """The counters' columns."""
        return {"extended_status": int(self.extended_status), "extended_status_text": self.reason,
                "retries": self.retries, "dials": self.dials, "tries": self.tries,
                "result_counts": self.result_counts}


def available_operations(job: OutgoingJob) -> JobOperations:
    """FAX_JOB_OPERATIONS_ENUM for a job now (IFaxOutgoingJob.AvailableOperations): the transitions open to it."""
    return operations_for(job.job_status)


def operations_for(status: JobStatus) -> JobOperations:
    """The operations open to a job in ``status`` (they depend on nothing else), so listings can reuse them."""
    operations = JobOperations.VIEW | JobOperations.RECIPIENT_INFO | JobOperations.SENDER_INFO
    if status in store.WAITING:
        operations |= JobOperations.PAUSE | JobOperations.DELETE
    elif status.base in (JobStatus.PENDING, JobStatus.RETRYING) and status & JobStatus.PAUSED:
        operations |= JobOperations.RESUME | JobOperations.DELETE
    elif status.base == JobStatus.INPROGRESS:
        operations |= JobOperations.DELETE
    elif status.base == JobStatus.RETRIES_EXCEEDED:
        operations |= JobOperations.RESTART | JobOperations.DELETE
    return operations


def job_status(job: OutgoingJob, principal: str | None) -> dict[str, Any]:
    """The FaxJobStatus a Windows client gets with OnOutgoingJobChanged, plus the submitter (for filtering)."""
    return {
        "job_id": job.id, "submission_id": job.submission_id, "principal": principal or "", "status": job.status,
        "status_name": job.job_status.name or "",
        "extended_status": job.extended_status, "extended_status_name": job.ext_status.name,
        "extended_status_text": job.extended_status_text, "current_page": min(job.pages_sent + 1, job.pages),
        "pages": job.pages, "pages_sent": job.pages_sent, "device": job.device_name or "",
        "csid": job.remote_csid, "tsid": job.tsid, "recipient_number": job.recipient_number,
        "retries": job.retries, "scheduled_time": job.next_attempt_at,
        "transmission_start": job.transmission_start, "transmission_end": job.transmission_end,
        "job_type": int(JobType.SEND), "available_operations": int(available_operations(job)),
    }


async def announce(conn: AsyncConnection, job: OutgoingJob, kind: str = "job.changed", fei: EventId | None = None,
                   device_id: int = 0, then: EventId | None = None) -> None:
    """Record a job's OUT_QUEUE event (and its FEI_ event, and a second one ``then``) in the transaction that
    changed it."""
    principal = await store.job_principal(conn, job.id)
    payload = job_status(job, principal)
    event_log.record(conn, ServerEvents.OUT_QUEUE, kind, payload)
    for code in (fei, then):
        if code is not None:
            _record_fei(conn, code, job.id, device_id, job.device_name or "", principal)


def _record_fei(conn: AsyncConnection, fei: EventId, job_id: int, device_id: int, device: str,
                principal: str | None) -> None:
    """A job's legacy FEI_ event (FAX_EVENT: job id, device id), with the submitter for the stream's filter."""
    event_log.record(conn, ServerEvents.OUT_QUEUE, "fei", event_log.fei_payload(
        fei, job_id=job_id, device_id=device_id, device=device, principal=principal or ""))


async def _change(conn: AsyncConnection, job_id: int, *, held_by: str | None = None,
                  statuses: Sequence[int] | None = None, fei: EventId | None = None, device_id: int = 0,
                  removed: bool = False, **values: Any) -> OutgoingJob | None:
    """One UPDATE of one job (only while ``held_by`` holds it / while its status is one of ``statuses``) and its
    events; the changed job, or None when the guard did not match."""
    statement = update(outgoing_jobs).where(outgoing_jobs.c.id == job_id)
    if held_by is not None:
        statement = statement.where(outgoing_jobs.c.claimed_by == held_by)
    if statuses is not None:
        statement = statement.where(outgoing_jobs.c.status.in_([int(s) for s in statuses]))
    row = (await conn.execute(statement.values(**values).returning(*outgoing_jobs.c))).first()
    if row is None:
        return None
    job = OutgoingJob.from_row(row)
    await announce(conn, job, fei=fei, device_id=device_id)
    if removed:
        await announce(conn, job, "job.removed", EventId.DELETED, device_id)
    return job


# ------------------------------------------------------------------------------------------------ transitions

async def queue(conn: AsyncConnection, **columns: Any) -> OutgoingJob:
    """Add a new job: OnOutgoingJobAdded and FEI_JOB_QUEUED; a number refused at once (RETRIES_EXCEEDED, never
    dialled) then also gets its FEI_BAD_ADDRESS or FEI_CALL_BLACKLISTED with the job's id, as a dial would."""
    row = (await conn.execute(insert(outgoing_jobs).values(**columns).returning(*outgoing_jobs.c))).one()
    job = OutgoingJob.from_row(row)
    final = job.job_status.base == JobStatus.RETRIES_EXCEEDED  # refused at queueing (gateway.queue.enqueue)
    refused = event_log.FEI_OF_RESULT.get(job.ext_status) if final else None
    await announce(conn, job, "job.added", EventId.JOB_QUEUED, then=refused)
    return job


async def claim(conn: AsyncConnection, *, node_id: str, now: float, lease_s: float, routes: Sequence[str],
                max_concurrent: int, batch_limit: int) -> list[OutgoingJob]:
    """Take the first due job and the other due jobs to its number (one call): INPROGRESS, held by this node."""
    lead = await store.claim_next(conn, node_id=node_id, now=now, lease_s=lease_s, routes=routes,
                                  max_concurrent=max_concurrent)
    if lead is None:
        return []
    taken = [lead, *await store.claim_batch_mates(conn, lead, node_id=node_id, now=now, lease_s=lease_s,
                                                  limit=batch_limit)]
    for job in taken:
        await announce(conn, job)
    return taken


async def start_call(conn: AsyncConnection, job: OutgoingJob, *, node_id: str, device: str, device_id: int,
                     call_id: str, dialed: str, start_page: int, pages_total: int, now: float) -> int:
    """The call for a claimed job begins: FEI_HANDLED (the job handed to ``device``, Windows' "handed to the FSP"),
    its attempt row, then the job DIALING (FEI_DIALING); returns the attempt id."""
    _record_fei(conn, EventId.HANDLED, job.id, device_id, device, await store.job_principal(conn, job.id))
    result = await conn.execute(insert(attempts).values(
        job_id=job.id, device_name=device, node_id=node_id, started_at=now, call_id=call_id, dialed=dialed,
        start_page=start_page, pages_total=pages_total, extended_status=int(ExtendedStatus.DIALING),
    ).returning(attempts.c.id))
    await _change(conn, job.id, held_by=node_id, fei=EventId.DIALING, device_id=device_id, device_name=device,
                  call_id=call_id, extended_status=int(ExtendedStatus.DIALING), extended_status_text="dialing",
                  transmission_start=job.transmission_start or now, updated_at=now)
    return int(result.scalar_one())


async def record_page(conn: AsyncConnection, job_id: int, *, node_id: str, sent: int, total: int, now: float,
                      device_id: int = 0) -> OutgoingJob | None:
    """A page the far end confirmed: the job's count (TRANSMITTING; a CANCELING job keeps its "canceled by")."""
    canceling = outgoing_jobs.c.status == int(JobStatus.CANCELING)
    return await _change(
        conn, job_id, held_by=node_id, fei=EventId.SENDING, device_id=device_id, pages_sent=sent, updated_at=now,
        extended_status=case((canceling, outgoing_jobs.c.extended_status), else_=int(ExtendedStatus.TRANSMITTING)),
        extended_status_text=case((canceling, outgoing_jobs.c.extended_status_text),
                                  else_=f"sent {sent} of {total} pages"))


async def complete(conn: AsyncConnection, job: OutgoingJob, *, node_id: str, now: float, call: CallEnd | None = None,
                   device_id: int = 0) -> OutgoingJob | None:
    """Every page confirmed: COMPLETED (FEI_COMPLETED) and out of the queue (OnOutgoingJobRemoved)."""
    values = {**call.values(job), "dials": job.dials + 1} if call is not None else {"transmission_end": now,
                                                                                   **_RELEASED}
    return await _change(conn, job.id, held_by=node_id, fei=EventId.COMPLETED, device_id=device_id, removed=True,
                         **values, status=int(JobStatus.COMPLETED), extended_status=int(ExtendedStatus.CALL_COMPLETED),
                         extended_status_text=f"{job.pages} pages sent", final_at=now, updated_at=now)


async def requeue(conn: AsyncConnection, job: OutgoingJob, *, reason: str, extended_status: ExtendedStatus,
                  now: float, next_attempt_at: float, failure: Failure | None = None, sched_priority: int | None = None,
                  call: CallEnd | None = None, held_by: str | None = None,
                  statuses: Sequence[int] | None = None, device_id: int = 0) -> OutgoingJob | None:
    """Back to waiting: RETRYING at ``next_attempt_at`` after a counted ``failure``, else PENDING (a call cut off,
    a shutdown) with its counters as they were; the claim is released. The result's FEI_ names ``device_id``."""
    values: dict[str, Any] = {**(call.values(job) if call is not None else _RELEASED),
                              "extended_status": int(extended_status), "extended_status_text": reason}
    if failure is not None:
        values.update(failure.values())
    if sched_priority is not None:
        values["sched_priority"] = sched_priority
    status = JobStatus.RETRYING if failure is not None else JobStatus.PENDING
    return await _change(conn, job.id, held_by=held_by, statuses=statuses, device_id=device_id,
                         fei=event_log.FEI_OF_RESULT.get(extended_status),
                         **values, status=int(status), next_attempt_at=next_attempt_at, updated_at=now)


async def give_up(conn: AsyncConnection, job: OutgoingJob, *, reason: str, now: float,
                  failure: Failure | None = None, call: CallEnd | None = None, held_by: str | None = None,
                  statuses: Sequence[int] | None = None, device_id: int = 0) -> OutgoingJob | None:
    """No more tries: RETRIES_EXCEEDED (final until restarted); ``statuses`` guards a sweep against a change."""
    values: dict[str, Any] = dict(call.values(job) if call is not None else _RELEASED)
    if failure is not None:
        values.update(failure.values())
    values["extended_status_text"] = reason
    fei = event_log.FEI_OF_RESULT.get(failure.extended_status) if failure is not None else None
    return await _change(conn, job.id, held_by=held_by, statuses=statuses, fei=fei, device_id=device_id, **values,
                         status=int(JobStatus.RETRIES_EXCEEDED), final_at=now, updated_at=now)


async def cancel(conn: AsyncConnection, job: OutgoingJob, *, text: str, now: float) -> OutgoingJob | None:
    """Cancel: a job on a call becomes CANCELING (its call ends at the next page); a waiting or given-up one
    CANCELED at once. None when the job is in neither state any more."""
    if job.job_status.base == JobStatus.INPROGRESS:
        return await _change(conn, job.id, statuses=[job.status], fei=EventId.ABORTING,
                             status=int(JobStatus.CANCELING), extended_status_text=text, updated_at=now)
    if job.job_status.base in (JobStatus.PENDING, JobStatus.RETRYING, JobStatus.RETRIES_EXCEEDED):
        return await _change(conn, job.id, statuses=[job.status], removed=True, status=int(JobStatus.CANCELED),
                             final_at=now, extended_status=int(ExtendedStatus.CALL_ABORTED),
                             extended_status_text=text, updated_at=now)
    return None


async def end_cancel(conn: AsyncConnection, job: OutgoingJob, *, now: float, extended_status: ExtendedStatus,
                     call: CallEnd | None = None, held_by: str | None = None,
                     device_id: int = 0) -> OutgoingJob | None:
    """The call of a CANCELING job ended (or its node died): CANCELED, keeping "canceled by ..." for the receipt."""
    values = {**call.values(job), "dials": job.dials + 1} if call is not None else dict(_RELEASED)
    return await _change(conn, job.id, held_by=held_by, statuses=[int(JobStatus.CANCELING)], removed=True,
                         device_id=device_id, **values,
                         status=int(JobStatus.CANCELED), extended_status=int(extended_status),
                         extended_status_text=job.extended_status_text or "canceled", final_at=now, updated_at=now)


async def pause(conn: AsyncConnection, job: OutgoingJob, now: float) -> OutgoingJob | None:
    """Hold a waiting job (the PAUSED modifier)."""
    return await _change(conn, job.id, statuses=[job.status], status=int(job.job_status | JobStatus.PAUSED),
                         updated_at=now)


async def resume(conn: AsyncConnection, job: OutgoingJob, now: float) -> OutgoingJob | None:
    """Let a paused job go again."""
    return await _change(conn, job.id, statuses=[job.status], status=int(job.job_status & ~JobStatus.PAUSED),
                         updated_at=now)


async def restart(conn: AsyncConnection, job: OutgoingJob, now: float, kill_at: float | None) -> OutgoingJob | None:
    """Send a job that gave up again from its first unconfirmed page, with fresh counters."""
    return await _change(
        conn, job.id, statuses=[int(JobStatus.RETRIES_EXCEEDED)], fei=EventId.JOB_QUEUED,
        status=int(JobStatus.PENDING), next_attempt_at=now, retries=0, dials=0, tries=0, result_counts={},
        final_at=None, receipt_sent_at=None, extended_status=int(ExtendedStatus.NONE),
        extended_status_text="restarted", kill_at=kill_at, updated_at=now)


async def mark_no_line(conn: AsyncConnection, routes: Sequence[str], now: float) -> int:
    """Flag due jobs that wait only for a free line (the NOLINE modifier; claiming them clears it)."""
    if not routes:
        return 0
    rows = (await conn.execute(
        update(outgoing_jobs)
        .where(outgoing_jobs.c.status.in_([int(JobStatus.PENDING), int(JobStatus.RETRYING)]),
               outgoing_jobs.c.next_attempt_at <= now, outgoing_jobs.c.route.in_(list(routes)))
        .values(status=outgoing_jobs.c.status.op("|")(int(JobStatus.NOLINE)))
        .returning(*outgoing_jobs.c)
    )).all()
    for row in rows:
        await announce(conn, OutgoingJob.from_row(row))
    return len(rows)


async def remove(conn: AsyncConnection, jobs: Sequence[OutgoingJob]) -> None:
    """Delete jobs and their attempts (the age limit): OnOutgoingJobRemoved, FEI_DELETED."""
    for job in jobs:
        await announce(conn, job, "job.removed", EventId.DELETED)
    await store.delete_jobs(conn, [job.id for job in jobs])
