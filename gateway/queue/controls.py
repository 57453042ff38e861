"""Queue controls (IFaxOutgoingJob Pause/Resume/Cancel/Restart/CopyTiff, IFaxOutgoingQueue Paused/Blocked)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.config import FaxgateConfig
from gateway.enums import ConfigArea, JobStatus, ServerEvents
from gateway.model import OutgoingJob
from gateway.storage import events as event_log
from gateway.storage import get_blob, transitions
from gateway.storage import jobs as store
from gateway.storage.transitions import available_operations as available_operations

PAUSED_WAITING = [int(status | JobStatus.PAUSED) for status in store.WAITING]


class JobControlError(Exception):
    """An operation the job's state does not allow; the message says why in plain words."""


async def _job(conn: AsyncConnection, job_id: int) -> OutgoingJob:
    job = await store.get_job(conn, job_id)
    if job is None:
        raise JobControlError(f"there is no job {job_id}")
    return job


async def pause_job(conn: AsyncConnection, job_id: int, now: float) -> OutgoingJob:
    """Hold a waiting job (status gains the PAUSED modifier)."""
    job = await _job(conn, job_id)
    if job.job_status in store.WAITING:
        changed = await transitions.pause(conn, job, now)
        if changed:
            return changed
    if job.job_status & JobStatus.PAUSED:
        return job
    raise JobControlError(f"job {job_id} is {describe(job)}; only a waiting job can be paused")


async def resume_job(conn: AsyncConnection, job_id: int, now: float) -> OutgoingJob:
    """Let a paused job go again."""
    job = await _job(conn, job_id)
    if job.status in PAUSED_WAITING:
        changed = await transitions.resume(conn, job, now)
        if changed:
            return changed
    raise JobControlError(f"job {job_id} is {describe(job)}, not paused")


async def cancel_job(conn: AsyncConnection, job_id: int, now: float, by: str = "an administrator") -> OutgoingJob:
    """Cancel waiting or failed jobs at once, calls via CANCELING; ``by`` is kept for the receipt to name."""
    job = await _job(conn, job_id)
    if job.job_status.base not in (JobStatus.INPROGRESS, JobStatus.PENDING, JobStatus.RETRYING,
                                   JobStatus.RETRIES_EXCEEDED):
        raise JobControlError(f"job {job_id} is {describe(job)} and cannot be canceled")
    # A job canceled while waiting has its receipt left to the finisher's sweep (this may run in another process
    # than any queue node).
    changed = await transitions.cancel(conn, job, text=f"canceled by {by}" if by else "canceled", now=now)
    if changed is None:
        raise JobControlError(f"job {job_id} changed meanwhile; try again")
    return changed


async def restart_job(conn: AsyncConnection, job_id: int, now: float, config: FaxgateConfig) -> OutgoingJob:
    """Send a job that gave up again from its first unconfirmed page, with fresh retry counts."""
    job = await _job(conn, job_id)
    if job.job_status.base != JobStatus.RETRIES_EXCEEDED:
        raise JobControlError(f"job {job_id} is {describe(job)}; only a job whose retries ran out can be restarted")
    kill_after = config.outbound.kill_after.total_seconds()
    changed = await transitions.restart(conn, job, now, now + kill_after if kill_after > 0 else None)
    if changed is None:
        raise JobControlError(f"job {job_id} changed meanwhile; try again")
    return changed


async def job_document(conn: AsyncConnection, job_id: int, fmt: str) -> bytes:
    """The job's fax as TIFF Class F (as stored) or as PDF (CopyTiff, and its PDF twin)."""
    job = await _job(conn, job_id)
    if job.document_blob_id is None:
        raise JobControlError(f"job {job_id} has no document")
    data = await get_blob(conn, job.document_blob_id)
    if fmt == "tiff":
        return data
    from gateway.queue.documents import pages_pdf, tiff_pages

    return pages_pdf(tiff_pages(data))


async def set_switches(conn: AsyncConnection, now: float, config: FaxgateConfig, *, paused: bool | None = None,
                       blocked: bool | None = None) -> dict[str, bool]:
    """Pause/resume processing or block/unblock submissions for every node."""
    state = await queue_switches(conn, config)
    if paused is not None:
        state["paused"] = paused
    if blocked is not None:
        state["blocked"] = blocked
    await store.set_queue_state(conn, state, now)
    record_queue_state(conn, state, config)
    return state


def record_queue_state(conn: AsyncConnection, state: dict[str, bool], config: FaxgateConfig) -> None:
    """OnQueuesStatusChange: the outgoing queue's Blocked and Paused switches and the incoming queue's Blocked."""
    event_log.record(conn, ServerEvents.QUEUE_STATE, "queue.state", queue_state_payload(state, config))
    event_log.record(conn, ServerEvents.CONFIG, "config.changed", {"area": ConfigArea.OUTGOING_QUEUE.value})


def queue_state_payload(state: dict[str, bool], config: FaxgateConfig) -> dict[str, bool]:
    """OnQueuesStatusChange's arguments: bOutgoingBlocked, bOutgoingPaused, bIncomingBlocked."""
    return {"outgoing_blocked": bool(state.get("blocked")), "outgoing_paused": bool(state.get("paused")),
            "incoming_blocked": config.inbox.blocked}


async def queue_counts(conn: AsyncConnection) -> tuple[int, int]:
    """(queued, sending): waiting jobs, paused or not, without retries-exceeded ones (IFaxActivity.QueuedMessages),
    and jobs on a call now (OutgoingMessages)."""
    counts = await store.count_by_status(conn)
    queued = sum(n for status, n in counts.items()
                 if JobStatus(status).base in (JobStatus.PENDING, JobStatus.RETRYING))
    sending = sum(n for status, n in counts.items() if JobStatus(status).base == JobStatus.INPROGRESS)
    return queued, sending


async def queue_switches(conn: AsyncConnection, config: FaxgateConfig) -> dict[str, bool]:
    """The Paused and Blocked switches in force: as last set for every node, else as configured."""
    return await store.get_queue_state(conn) or {"paused": config.outbox.paused, "blocked": config.outbox.blocked}


def describe_status(status: JobStatus) -> str:
    """A status in the words of the legacy FaxJob.QueueStatus strings."""
    names = [flag.name.lower().replace("_", " ") for flag in JobStatus if flag & status and flag.name]
    return " and ".join(names) or "in an unknown state"


def describe(job: OutgoingJob) -> str:
    """The job's status in the words of the legacy FaxJob.QueueStatus strings."""
    return describe_status(job.job_status)
