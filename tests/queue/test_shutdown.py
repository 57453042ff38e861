"""A shutdown in the middle of calls (virtual time): each call ends after its page in flight, or at once when
hurried; every job is left true (confirmed pages kept, fully confirmed jobs completed, the rest requeued as
interrupted by shutdown without counting a try), and the next start resumes from the first unconfirmed page."""

from __future__ import annotations

import asyncio

from gateway.enums import ExtendedStatus, JobStatus
from gateway.queue.scheduler import SHUTDOWN_REASON, Scheduler
from gateway.storage import jobs as store
from tests.queue.conftest import MakeQueue
from tests.queue.harness import MONDAY_10_UTC, QueueHarness


async def _mid_calls(make_queue: MakeQueue) -> tuple[QueueHarness, int, int, int]:
    """Two calls in progress: a 4-page job on its third page, and a batch (2 + 3 pages) on the second job's first."""
    queue = await make_queue(devices=("sim0", "sim1"))
    solo = await queue.add_job("5550101", pages=4)
    first = await queue.add_job("5550102", pages=2)
    second = await queue.add_job("5550102", pages=3)
    await queue.run_until(MONDAY_10_UTC + 30 + 2 * 20 + 5)
    assert (await queue.job(solo)).pages_sent == 2
    assert (await queue.job(first)).pages_sent == 2
    assert (await queue.job(first)).job_status == JobStatus.COMPLETED  # at its last page, though its call goes on
    assert (await queue.job(second)).job_status.base == JobStatus.INPROGRESS
    return queue, solo, first, second


def _restarted(queue: QueueHarness) -> None:
    """A new scheduler on the same store and node id, as after `faxgate serve` starts again."""
    queue.scheduler = Scheduler(db=queue.db, config=queue.config, manager=queue.manager, clock=queue.clock,
                                events=queue.events, node_id="test", workdir=queue.workdir, finisher=queue.finisher)


async def test_shutdown_finishes_the_page_in_flight_and_requeues_without_counting_a_try(
        make_queue: MakeQueue) -> None:
    queue, solo, first, second = await _mid_calls(make_queue)
    stopping = asyncio.create_task(queue.scheduler.stop(grace_s=60))
    await queue.settle()
    assert [device.finish_requests for device in (slot.device for slot in queue.manager.slots.values())] == [1, 1]
    queue.clock.advance_to(queue.clock.now() + 20)  # the page in flight ends and is confirmed
    await stopping

    job = await queue.job(solo)
    assert (job.job_status, job.ext_status, job.pages_sent) == (JobStatus.PENDING, ExtendedStatus.CALL_ABORTED, 3)
    assert job.extended_status_text == f"{SHUTDOWN_REASON} after 3 of 4 pages confirmed; resumes at page 4"
    assert (job.dials, job.tries, job.retries, job.result_counts or {}) == (0, 0, 0, {})
    assert job.claimed_by is None
    assert (await queue.job(first)).job_status == JobStatus.COMPLETED  # all its pages were confirmed
    batched = await queue.job(second)
    assert (batched.job_status, batched.pages_sent) == (JobStatus.PENDING, 1)
    assert SHUTDOWN_REASON in batched.extended_status_text
    assert [a.extended_status for a in await queue.attempts(second)] == [ExtendedStatus.CALL_ABORTED]

    _restarted(queue)
    await queue.run_for(3600)
    resumed = {call.dialed: call.pages_offered for call in queue.lines.calls[2:]}
    assert resumed == {"5550101": 1, "5550102": 2}  # confirmed pages are never sent again
    for job_id in (solo, first, second):
        assert (await queue.job(job_id)).job_status == JobStatus.COMPLETED


async def test_a_second_signal_cuts_the_calls_at_once_and_still_records_them(make_queue: MakeQueue) -> None:
    queue, solo, first, second = await _mid_calls(make_queue)
    hurry = asyncio.Event()
    stopping = asyncio.create_task(queue.scheduler.stop(grace_s=3600, hurry=hurry))
    await queue.settle()
    hurry.set()
    await stopping  # no virtual time passed: the calls were cut, not finished

    job = await queue.job(solo)
    assert (job.job_status, job.ext_status, job.pages_sent) == (JobStatus.PENDING, ExtendedStatus.CALL_ABORTED, 2)
    assert job.extended_status_text.startswith(SHUTDOWN_REASON)
    assert (await queue.job(first)).job_status == JobStatus.COMPLETED
    assert (await queue.job(second)).job_status == JobStatus.PENDING
    assert all(not slot.busy for slot in queue.manager.slots.values())


async def test_a_restarted_node_takes_back_the_submission_it_was_rendering_without_waiting_for_the_lease(
        make_queue: MakeQueue) -> None:
    queue = await make_queue()
    mine, theirs = await queue.add_submission(), await queue.add_submission()
    now = queue.clock.now()
    async with queue.db.transaction() as conn:
        first = await store.claim_submission(conn, node_id="test", now=now, lease_s=600)
        second = await store.claim_submission(conn, node_id="other", now=now, lease_s=600)
    assert first is not None and second is not None and {first.id, second.id} == {mine, theirs}
    async with queue.db.transaction() as conn:
        assert await store.release_own_submissions(conn, node_id="test", now=now) == 1
        again = await store.claim_submission(conn, node_id="test", now=now + 1, lease_s=600)
    assert again is not None and again.id == first.id  # at once, not after the 600 s lease
