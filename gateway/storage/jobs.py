"""Every query about the outgoing queue: jobs, their claims by nodes, the attempts (calls) made for them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.enums import ACTIVE_STATUSES, WAITING_STATUSES, ExtendedStatus, JobStatus, status_in_sql
from gateway.model import Attempt, OutgoingJob, Submission, SubmissionState
from gateway.storage.schema import attempts, outgoing_jobs, server_state, submissions

WAITING = WAITING_STATUSES
"""Statuses a device may take a job from."""
ACTIVE = ACTIVE_STATUSES
"""A call is under way for jobs in these statuses."""
_READY_SQL = status_in_sql("j.status", WAITING)
_ACTIVE_SQL = status_in_sql("busy.status", ACTIVE)
"""Literal text (built from the enum), so both engines match them to the partial indexes of the same text."""
_QUEUE_STATE_KEY = "outbox"
_PG_CLAIM_LOCK = 0x6661786A6F627321  # "faxjobs!"


def _job(row: Any) -> OutgoingJob:
    return OutgoingJob.from_row(row)


async def get_job(conn: AsyncConnection, job_id: int) -> OutgoingJob | None:
    """One job, or None."""
    row = (await conn.execute(select(outgoing_jobs).where(outgoing_jobs.c.id == job_id))).first()
    return _job(row) if row else None


async def list_jobs(
    conn: AsyncConnection,
    *,
    statuses: Iterable[int] | None = None,
    submission_id: str | None = None,
    number: str | None = None,
    principal: str | None = None,
    after_id: int | None = None,
    limit: int = 1000,
    final: bool | None = None,
    before_id: int | None = None,
    newest_first: bool = False,
) -> list[OutgoingJob]:
    """Jobs, oldest first (or newest first), optionally filtered: ``principal`` keeps only that submitter's,
    ``final`` only the archive (True) or the queue (False), ``after_id`` / ``before_id`` page on."""
    order = outgoing_jobs.c.id.desc() if newest_first else outgoing_jobs.c.id
    query = select(outgoing_jobs).order_by(order).limit(limit)
    if final is not None:
        query = query.where(outgoing_jobs.c.final_at.is_not(None) if final else outgoing_jobs.c.final_at.is_(None))
    if before_id is not None:
        query = query.where(outgoing_jobs.c.id < before_id)
    if principal is not None:
        own = select(submissions.c.id).where(submissions.c.principal == principal)
        query = query.where(outgoing_jobs.c.submission_id.in_(own))
    if after_id is not None:
        query = query.where(outgoing_jobs.c.id > after_id)
    if statuses is not None:
        query = query.where(outgoing_jobs.c.status.in_([int(s) for s in statuses]))
    if submission_id is not None:
        query = query.where(outgoing_jobs.c.submission_id == submission_id)
    if number is not None:
        query = query.where(outgoing_jobs.c.recipient_number == number)
    return [_job(row) for row in await conn.execute(query)]


async def job_principal(conn: AsyncConnection, job_id: int) -> str | None:
    """Who submitted a job (submissions.principal), or None when there is no such job."""
    query = (select(submissions.c.principal).join(outgoing_jobs, outgoing_jobs.c.submission_id == submissions.c.id)
             .where(outgoing_jobs.c.id == job_id))
    row = (await conn.execute(query)).first()
    return str(row[0]) if row else None


def _claim_statement(limited_concurrency: bool) -> Any:
    """The claim, built once: it is the hottest statement of the queue, and building it costs more than running it."""
    j = outgoing_jobs.alias("j")
    busy = outgoing_jobs.alias("busy")
    # Uncorrelated, so it runs once per claim (few calls are active), not once per waiting job.
    full_numbers = select(busy.c.recipient_number).where(text(_ACTIVE_SQL))
    if limited_concurrency:
        full_numbers = (full_numbers.group_by(busy.c.recipient_number)
                        .having(func.count() >= bindparam("max_concurrent")))
    pick = (
        select(j.c.id)
        .where(text(_READY_SQL), j.c.next_attempt_at <= bindparam("now"),
               j.c.route.in_(bindparam("routes", expanding=True)), j.c.recipient_number.not_in(full_numbers))
        .order_by(j.c.sched_priority, j.c.next_attempt_at, j.c.id)
        .limit(1)
        .with_for_update(of=j, skip_locked=True)
        .scalar_subquery()
    )
    return (
        update(outgoing_jobs)
        .where(outgoing_jobs.c.id == pick)
        .values(status=int(JobStatus.INPROGRESS), claimed_by=bindparam("node"), claimed_until=bindparam("until"),
                extended_status=int(ExtendedStatus.NONE), extended_status_text="", updated_at=bindparam("now"))
        .returning(*outgoing_jobs.c)
    )


_CLAIM_ONE_CALL = _claim_statement(False)
_CLAIM_SOME_CALLS = _claim_statement(True)


async def claim_next(
    conn: AsyncConnection,
    *,
    node_id: str,
    now: float,
    lease_s: float,
    routes: Sequence[str],
    max_concurrent: int,
) -> OutgoingJob | None:
    """Take the first due job (priority, then due time) on one of ``routes`` whose number has a free call slot.

    One statement on both databases (``FOR UPDATE SKIP LOCKED`` on PostgreSQL); on PostgreSQL a transaction
    advisory lock first makes concurrent claims take turns, so the per-number call limit holds across nodes.
    """
    if not routes:
        return None
    if conn.dialect.name == "postgresql":
        # Claims take turns across nodes (SQLite's BEGIN IMMEDIATE does this already): a node's claim must see
        # the other's committed one, or two nodes could both call a number whose limit is one call.
        await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_CLAIM_LOCK})")
    params: dict[str, Any] = {"now": now, "routes": list(routes), "node": node_id, "until": now + lease_s}
    statement = _CLAIM_ONE_CALL
    if max_concurrent > 1:
        statement = _CLAIM_SOME_CALLS
        params["max_concurrent"] = max_concurrent
    row = (await conn.execute(statement, params)).first()
    return _job(row) if row else None


async def claim_batch_mates(
    conn: AsyncConnection, lead: OutgoingJob, *, node_id: str, now: float, lease_s: float, limit: int
) -> list[OutgoingJob]:
    """Also take the other due jobs to the lead job's number on the same route, to send them in the same call."""
    if limit <= 0:
        return []
    j = outgoing_jobs.alias("j")
    mates = (
        select(j.c.id)
        .where(text(_READY_SQL), j.c.next_attempt_at <= now, j.c.route == lead.route,
               j.c.recipient_number == lead.recipient_number, j.c.id != lead.id)
        .order_by(j.c.sched_priority, j.c.next_attempt_at, j.c.id)
        .limit(limit)
        .with_for_update(of=j, skip_locked=True)
    )
    statement = (
        update(outgoing_jobs)
        .where(outgoing_jobs.c.id.in_(mates))
        .values(status=int(JobStatus.INPROGRESS), claimed_by=node_id, claimed_until=now + lease_s,
                extended_status=int(ExtendedStatus.NONE), extended_status_text="", updated_at=now)
        .returning(*outgoing_jobs.c)
    )
    rows = (await conn.execute(statement)).all()
    return sorted((_job(row) for row in rows), key=lambda job: (job.sched_priority, job.next_attempt_at, job.id))


async def renew_claims(conn: AsyncConnection, node_id: str, job_ids: Sequence[int], until: float) -> None:
    """Extend this node's lease on jobs it is still calling for."""
    if job_ids:
        await conn.execute(
            update(outgoing_jobs)
            .where(outgoing_jobs.c.id.in_(list(job_ids)), outgoing_jobs.c.claimed_by == node_id)
            .values(claimed_until=until)
        )


async def expired_claims(conn: AsyncConnection, now: float) -> list[OutgoingJob]:
    """Jobs whose claiming node stopped renewing (it died mid-call): they must go back to the queue."""
    query = select(outgoing_jobs).where(
        outgoing_jobs.c.status.in_([int(s) for s in ACTIVE]), outgoing_jobs.c.claimed_until < now
    ).with_for_update(skip_locked=True)
    return [_job(row) for row in await conn.execute(query)]


async def waiting_jobs_to(conn: AsyncConnection, number: str, exclude: Sequence[int]) -> list[OutgoingJob]:
    """Jobs waiting for the same number (to share a call failure with them)."""
    query = select(outgoing_jobs).where(
        outgoing_jobs.c.recipient_number == number,
        outgoing_jobs.c.status.in_([int(s) for s in WAITING]),
        outgoing_jobs.c.id.not_in(list(exclude)),
    )
    return [_job(row) for row in await conn.execute(query)]


async def overdue_jobs(conn: AsyncConnection, now: float) -> list[OutgoingJob]:
    """Waiting or paused jobs past their kill time."""
    waiting = [int(s) for s in WAITING] + [int(s | JobStatus.PAUSED) for s in WAITING]
    query = select(outgoing_jobs).where(
        outgoing_jobs.c.status.in_(waiting), outgoing_jobs.c.kill_at.is_not(None), outgoing_jobs.c.kill_at <= now
    )
    return [_job(row) for row in await conn.execute(query)]


async def next_due_time(conn: AsyncConnection, routes: Sequence[str]) -> float | None:
    """The earliest next-attempt time of any waiting job on these routes."""
    if not routes:
        return None
    j = outgoing_jobs.alias("j")
    query = select(func.min(j.c.next_attempt_at)).where(text(_READY_SQL), j.c.route.in_(list(routes)))
    value = (await conn.execute(query)).scalar()
    return float(value) if value is not None else None


async def next_kill_time(conn: AsyncConnection) -> float | None:
    """The earliest kill time of a waiting job."""
    query = select(func.min(outgoing_jobs.c.kill_at)).where(
        outgoing_jobs.c.status.in_([int(s) for s in WAITING]), outgoing_jobs.c.kill_at.is_not(None)
    )
    value = (await conn.execute(query)).scalar()
    return float(value) if value is not None else None


async def failed_jobs_older_than(conn: AsyncConnection, cutoff: float) -> list[OutgoingJob]:
    """Given-up or canceled jobs that reached that state before ``cutoff`` (sent ones stay as history)."""
    query = select(outgoing_jobs).where(
        outgoing_jobs.c.status.in_([int(JobStatus.RETRIES_EXCEEDED), int(JobStatus.CANCELED)]),
        outgoing_jobs.c.final_at.is_not(None), outgoing_jobs.c.final_at < cutoff)
    return [_job(row) for row in await conn.execute(query)]


async def waiting_jobs_submitted_before(conn: AsyncConnection, cutoff: float) -> list[OutgoingJob]:
    """Jobs still waiting (paused or not) that were submitted before ``cutoff``."""
    waiting = [int(s) for s in WAITING] + [int(s | JobStatus.PAUSED) for s in WAITING]
    query = select(outgoing_jobs).where(outgoing_jobs.c.status.in_(waiting), outgoing_jobs.c.submitted_at < cutoff)
    return [_job(row) for row in await conn.execute(query)]


async def delete_jobs(conn: AsyncConnection, job_ids: Sequence[int]) -> None:
    """Remove jobs and their attempts."""
    if job_ids:
        await conn.execute(delete(attempts).where(attempts.c.job_id.in_(list(job_ids))))
        await conn.execute(delete(outgoing_jobs).where(outgoing_jobs.c.id.in_(list(job_ids))))


async def finish_attempt(conn: AsyncConnection, attempt_id: int, **values: Any) -> None:
    """Record how a call ended."""
    await conn.execute(update(attempts).where(attempts.c.id == attempt_id).values(**values))


async def open_attempts(conn: AsyncConnection, job_ids: Sequence[int]) -> list[Attempt]:
    """Attempts of these jobs that never recorded an end (their node died)."""
    query = select(attempts).where(attempts.c.job_id.in_(list(job_ids)), attempts.c.ended_at.is_(None))
    return [Attempt.from_row(row) for row in await conn.execute(query)]


async def list_attempts(
    conn: AsyncConnection, *, job_id: int | None = None, since: float | None = None, limit: int = 100000
) -> list[Attempt]:
    """Attempts in the order they started."""
    query = select(attempts).order_by(attempts.c.started_at, attempts.c.id).limit(limit)
    if job_id is not None:
        query = query.where(attempts.c.job_id == job_id)
    if since is not None:
        query = query.where(attempts.c.started_at >= since)
    return [Attempt.from_row(row) for row in await conn.execute(query)]


async def count_by_status(conn: AsyncConnection) -> dict[int, int]:
    """How many jobs are in each status (for IFaxActivity counters)."""
    query = select(outgoing_jobs.c.status, func.count()).group_by(outgoing_jobs.c.status)
    return {int(status): int(count) for status, count in await conn.execute(query)}


async def get_queue_state(conn: AsyncConnection) -> dict[str, bool] | None:
    """The shared pause/block switches, or None if no one has set them yet."""
    row = (await conn.execute(select(server_state.c.value).where(server_state.c.key == _QUEUE_STATE_KEY))).first()
    return {str(k): bool(v) for k, v in dict(row[0]).items()} if row else None


async def set_queue_state(conn: AsyncConnection, state: dict[str, bool], now: float) -> None:
    """Store the pause/block switches where every node sees them."""
    exists = await get_queue_state(conn)
    if exists is None:
        await conn.execute(insert(server_state).values(key=_QUEUE_STATE_KEY, value=state, updated_at=now))
    else:
        await conn.execute(
            update(server_state).where(server_state.c.key == _QUEUE_STATE_KEY).values(value=state, updated_at=now)
        )



async def claim_submission(conn: AsyncConnection, *, node_id: str, now: float, lease_s: float) -> Submission | None:
    """Take the oldest submission waiting to become jobs (or one whose renderer's node died) for this node."""
    s = submissions.alias("s")
    pick = (
        select(s.c.id)
        .where(or_(s.c.state == SubmissionState.RECEIVED,
                   and_(s.c.state == SubmissionState.RENDERING, s.c.claimed_until < now)))
        .order_by(s.c.created_at)
        .limit(1)
        .with_for_update(of=s, skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(submissions)
        .where(submissions.c.id == pick)
        .values(state=SubmissionState.RENDERING, claimed_by=node_id, claimed_until=now + lease_s, updated_at=now)
        .returning(*submissions.c)
    )
    row = (await conn.execute(statement)).first()
    return Submission.from_row(row) if row else None


async def release_own_submissions(conn: AsyncConnection, *, node_id: str, now: float) -> int:
    """Put back submissions this node was rendering when it stopped (a crash, a shutdown mid-render): no lease wait."""
    result = await conn.execute(
        update(submissions)
        .where(submissions.c.state == SubmissionState.RENDERING, submissions.c.claimed_by == node_id)
        .values(state=SubmissionState.RECEIVED, claimed_by=None, claimed_until=None, updated_at=now)
    )
    return int(result.rowcount or 0)


async def mark_archived(conn: AsyncConnection, job_id: int, now: float) -> None:
    """The sent fax is in the outgoing archive folder."""
    await conn.execute(update(outgoing_jobs).where(outgoing_jobs.c.id == job_id).values(archived_at=now))


async def release_receipts(conn: AsyncConnection, job_ids: Sequence[int]) -> None:
    """A claimed receipt did not go out: let the sweep send it again."""
    await conn.execute(update(outgoing_jobs).where(outgoing_jobs.c.id.in_(list(job_ids))).values(receipt_sent_at=None))


async def claim_receipt(conn: AsyncConnection, job_ids: Sequence[int], now: float) -> bool:
    """Mark jobs' receipt as being sent; False if another node already did (each receipt goes out once)."""
    result = await conn.execute(
        update(outgoing_jobs)
        .where(outgoing_jobs.c.id.in_(list(job_ids)), outgoing_jobs.c.receipt_sent_at.is_(None))
        .values(receipt_sent_at=now)
    )
    return bool(result.rowcount == len(job_ids))


async def unsent_receipts(conn: AsyncConnection, before: float, after: float,
                          canceled_before: float | None = None) -> list[OutgoingJob]:
    """Final jobs whose receipt did not go out: smarthost down, node died, or canceled with no node to send it."""
    ended = outgoing_jobs.c.final_at < before
    if canceled_before is not None:
        ended = or_(ended, and_(outgoing_jobs.c.status == int(JobStatus.CANCELED),
                                outgoing_jobs.c.final_at < canceled_before))
    query = select(outgoing_jobs).where(
        outgoing_jobs.c.final_at.is_not(None), ended, outgoing_jobs.c.final_at > after,
        outgoing_jobs.c.receipt_address != "", outgoing_jobs.c.receipt_sent_at.is_(None),
    ).limit(100)
    return [_job(row) for row in await conn.execute(query)]


async def unarchived_completed(conn: AsyncConnection, before: float) -> list[OutgoingJob]:
    """Completed jobs not yet copied to the archive folder."""
    query = select(outgoing_jobs).where(
        outgoing_jobs.c.status == int(JobStatus.COMPLETED), outgoing_jobs.c.archived_at.is_(None),
        outgoing_jobs.c.final_at < before,
    ).limit(100)
    return [_job(row) for row in await conn.execute(query)]


async def refresh_statistics(conn: AsyncConnection) -> None:
    """Let the planner see how many jobs wait (it then walks the ready index in order and stops at the first)."""
    await conn.exec_driver_sql("ANALYZE outgoing_jobs")


async def attempt_logs(conn: AsyncConnection, job_id: int) -> list[tuple[float, str, str]]:
    """Each call's T.30 session log for a job, oldest first: (started_at, device, log)."""
    rows = await conn.execute(select(attempts.c.started_at, attempts.c.device_name, attempts.c.session_log)
                              .where(attempts.c.job_id == job_id).order_by(attempts.c.id))
    return [(row.started_at, row.device_name, row.session_log) for row in rows]
