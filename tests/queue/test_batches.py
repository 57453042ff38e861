"""Jobs batched into one call on the simulated network (virtual time): each job completes when the far end confirms
its last page, and a job cancelled mid-call ends its pages at the next page boundary while the call goes on."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from gateway.enums import ExtendedStatus, JobStatus, ServerEvents
from gateway.events import Subscription
from gateway.queue.controls import cancel_job
from tests.queue.harness import MONDAY_10_UTC, QueueHarness
from tests.queue.simline import REMOTE, document, line_queue, wait_on_line


def _changes(events: Subscription) -> list[tuple[int, JobStatus, ExtendedStatus]]:
    """The job.changed events published so far, in order."""
    found = []
    while not events.queue.empty():
        event = events.queue.get_nowait()
        if event.kind == "job.changed":
            found.append((event.payload["job_id"], JobStatus(event.payload["status"]),
                          ExtendedStatus(event.payload["extended_status"])))
    return found


async def _final(queue: QueueHarness, jobs: list[int]) -> bool:
    states = [(await queue.job(job)).job_status for job in jobs]
    return all(state.is_final for state in states) and not queue.scheduler.in_flight


def _same(received: list[np.ndarray], sent: list[np.ndarray]) -> bool:
    return len(received) == len(sent) and all(np.array_equal(a, b) for a, b in zip(received, sent, strict=True))


async def test_each_job_of_a_batch_completes_when_its_last_page_is_confirmed(tmp_path: Path) -> None:
    async with line_queue(tmp_path) as (queue, net):
        events = queue.events.subscribe(ServerEvents.OUT_QUEUE)
        with queue.clock.held():
            jobs = [await queue.add_job(REMOTE, pages=pages) for pages in (2, 3, 2)]
        queue.scheduler.wake()
        await wait_on_line(queue, lambda: _final(queue, jobs))
        changes = _changes(events)
        done = [await queue.job(job) for job in jobs]
        [call] = net.remotes[REMOTE].records
        [call_ended] = [float(line.split()[0]) for line in net.events if "call ended" in line]  # line time

    assert [job.job_status for job in done] == [JobStatus.COMPLETED] * 3
    assert len({attempt.call_id for job in jobs for attempt in await queue.attempts(job)}) == 1  # one call
    assert _same(call.pages, [page for job in jobs for page in await document(queue, job)])
    # Stored completion times (line time): each job done at its own last page, not all at the end of the call.
    assert done[0].final_at is not None and done[1].final_at is not None and done[2].final_at is not None
    assert done[0].final_at < done[1].final_at < done[2].final_at < MONDAY_10_UTC + call_ended
    assert [job.pages_sent for job in done] == [2, 3, 2]
    # The events say the same: each job was COMPLETED while the pages of the jobs after it were still going.
    first, second, third = jobs
    completed = {job: changes.index((job, JobStatus.COMPLETED, ExtendedStatus.CALL_COMPLETED)) for job in jobs}
    sending = {job: [index for index, (who, _status, extended) in enumerate(changes)
                     if who == job and extended == ExtendedStatus.TRANSMITTING] for job in jobs}
    assert completed[first] < min(sending[second]) and completed[first] < min(sending[third])
    assert completed[second] < min(sending[third])


async def test_cancelling_the_middle_job_ends_its_pages_and_the_call_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="faxgate.outbound")
    async with line_queue(tmp_path) as (queue, net):
        with queue.clock.held():
            first, middle, last = [await queue.add_job(REMOTE, pages=pages) for pages in (2, 8, 3)]
        queue.scheduler.wake()

        async def middle_started() -> bool:
            return (await queue.job(middle)).pages_sent >= 1

        await wait_on_line(queue, middle_started)
        with queue.clock.held():
            async with queue.db.transaction() as conn:
                assert (await cancel_job(conn, middle, queue.clock.now(), by="bob")).job_status == JobStatus.CANCELING
        await wait_on_line(queue, lambda: _final(queue, [first, middle, last]))
        [call] = net.remotes[REMOTE].records

    canceled = await queue.job(middle)
    sent = canceled.pages_sent
    assert (canceled.job_status, canceled.ext_status) == (JobStatus.CANCELED, ExtendedStatus.CALL_ABORTED)
    assert canceled.extended_status_text == "canceled by bob"
    # The scheduler saw the cancel (at its next heartbeat) with some pages confirmed: the page then on the line
    # was the middle job's last.
    [seen] = [record.fields for record in caplog.records if record.getMessage() == "job.cancel_pages"]
    assert seen["job"] == middle and 1 <= seen["confirmed"] < 7
    assert sent == seen["confirmed"] + 1
    [attempt] = await queue.attempts(middle)
    assert (attempt.pages_sent, attempt.extended_status) == (sent, ExtendedStatus.CALL_ABORTED)
    # The far end got the first job, the middle job's first pages only, and the last job whole, pixel for pixel.
    expected = [*await document(queue, first), *(await document(queue, middle))[:sent], *await document(queue, last)]
    assert _same(call.pages, expected)
    assert call.outcome == "completed"  # the call ended properly (EOP, MCF, DCN)
    for job_id, pages in ((first, 2), (last, 3)):
        job = await queue.job(job_id)
        assert (job.job_status, job.pages_sent, job.dials, job.retries) == (JobStatus.COMPLETED, pages, 1, 0)
