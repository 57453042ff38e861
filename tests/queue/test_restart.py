"""`faxgate serve` stopped in the middle of sends: SIGKILL (a crash) or SIGTERM (a shutdown). The jobs resume from the
first unconfirmed page and the far end gets every page exactly once."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gateway.enums import ExtendedStatus, JobStatus
from gateway.model import OutgoingJob
from gateway.queue.scheduler import SHUTDOWN_REASON
from gateway.server import STOP_MARGIN_S
from modem.faxtiff import write_fax_tiff
from tests.queue.simserver import (
    all_jobs,
    job_attempts,
    job_pages,
    received_pages,
    same_below_header,
    sim_config,
    smtp_sink,
    wait_for,
)
from tests.support.server import ServerProcess

SLOW = "5550104"
"""The demo's old machine: V.27ter 4800 bit/s, no ECM, so each page takes a while."""
PAGES = 5


def dense_pages(count: int) -> list[np.ndarray]:
    """Full fine pages with a band of noise each (slow to send), every page different."""
    rng = np.random.default_rng(7)
    pages = []
    for index in range(count):
        page = np.zeros((2200, 216), dtype=np.uint8)
        top = 200 + index * 300
        page[top:top + 40] = rng.integers(0, 256, size=(40, 216), dtype=np.uint8)
        page[100:140, 10 + index * 20: 40 + index * 20] = 0xFF
        pages.append(page)
    return pages


@pytest.mark.realtime
async def test_sigkill_mid_send_resumes_from_the_first_unconfirmed_page(tmp_path: Path) -> None:
    document = tmp_path / "report.tif"
    write_fax_tiff(document, dense_pages(PAGES), fine=True)
    with smtp_sink() as (_sink, sink_port):
        # No node id in the config: the one kept in the data folder lets the restarted node know its own claims.
        config, _smtp, http_port = sim_config(tmp_path, sink_port, devices=(("sim0", "5551000"),))
        first = ServerProcess(config, http_port).start()
        try:
            submitted = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "gateway", "submit", "--config", str(config), str(document), "--to", SLOW,
                 "--json"], capture_output=True, text=True, check=True)
            assert "submission_id" in submitted.stdout

            async def some_pages_confirmed() -> bool:
                jobs = await all_jobs(config)
                return bool(jobs) and 1 <= jobs[0].pages_sent < PAGES - 1

            await wait_for(some_pages_confirmed, 180, "the first confirmed pages", first)
        finally:
            first.kill()
        [killed] = await all_jobs(config)
        confirmed_before_kill = killed.pages_sent
        assert killed.job_status == JobStatus.INPROGRESS  # nobody closed it: the process died

        with ServerProcess(config, http_port) as second:
            async def completed() -> bool:
                jobs = await all_jobs(config)
                return jobs[0].job_status == JobStatus.COMPLETED

            await wait_for(completed, 240, "the resumed job to complete", second)
            second.terminate()

    [job] = await all_jobs(config)
    assert (job.pages_sent, job.pages) == (PAGES, PAGES)
    attempts = await job_attempts(config, job.id)
    assert [a.extended_status for a in attempts] == [ExtendedStatus.LINE_UNAVAILABLE, ExtendedStatus.CALL_COMPLETED]
    assert attempts[0].ended_at is not None  # the cut-off call is on record
    assert attempts[0].reason == "the server stopped during the call"  # taken back at start, not after the lease
    assert attempts[1].start_page == confirmed_before_kill
    # The second call carried exactly the pages not yet confirmed, and they arrived as sent.
    sent = await job_pages(config, job)
    resumed = received_pages(tmp_path / "data", SLOW)
    assert len(resumed) == PAGES - confirmed_before_kill
    assert all(same_below_header(a, b) for a, b in zip(sent[confirmed_before_kill:], resumed, strict=True))


def marked_pages(count: int, seed: int) -> list[np.ndarray]:
    """Fine pages that are quick to send yet each different (a small band of noise and a bar per page)."""
    rng = np.random.default_rng(seed)
    pages = []
    for index in range(count):
        page = np.zeros((2200, 216), dtype=np.uint8)
        top = 200 + index * 150
        page[top:top + 8] = rng.integers(0, 256, size=(8, 216), dtype=np.uint8)
        page[100:140, 10 + index * 8: 40 + index * 8] = 0xFF
        pages.append(page)
    return pages


async def _submit(config: Path, document: Path, number: str) -> None:
    await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "gateway", "submit", "--config", str(config),
                                             str(document), "--to", number], capture_output=True, check=True)


def _by_role(jobs: list[OutgoingJob]) -> list[OutgoingJob]:
    """The 7-page job alone on its line, then the 2-page and the 3-page job batched in one call."""
    return sorted(jobs, key=lambda job: {7: 0, 2: 1, 3: 2}[job.pages])


@pytest.mark.realtime
async def test_sigterm_mid_calls_records_every_job_truthfully_and_the_restart_sends_each_page_once(
        tmp_path: Path) -> None:
    solo_doc, short_doc, long_doc = tmp_path / "solo.tif", tmp_path / "short.tif", tmp_path / "long.tif"
    write_fax_tiff(solo_doc, marked_pages(7, seed=1), fine=True)
    write_fax_tiff(short_doc, marked_pages(2, seed=2), fine=True)
    write_fax_tiff(long_doc, marked_pages(3, seed=3), fine=True)
    with smtp_sink() as (_sink, sink_port):
        # Real time, two lines; the queue starts paused so the two jobs to 5550110 go out in one batched call.
        config, _smtp, http_port = sim_config(tmp_path, sink_port, speed=1.0, more_remotes=("5550110",),
                                              extra="[outbox]\npaused = true\n")
        first = ServerProcess(config, http_port).start()
        try:
            async def batch_in_order() -> None:  # the short job is queued first, so it leads the batched call
                await _submit(config, short_doc, "5550110")
                await _submit(config, long_doc, "5550110")

            await asyncio.gather(_submit(config, solo_doc, "5550100"), batch_in_order())

            async def queued() -> bool:
                return len(await all_jobs(config)) == 3

            await wait_for(queued, 60, "three queued jobs", first)
            await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "gateway", "queue", "resume", "--config",
                                                     str(config)], capture_output=True, check=True)

            async def both_calls_mid_document() -> bool:
                solo, batch_one, batch_two = _by_role(await all_jobs(config))
                return 1 <= solo.pages_sent < 6 and batch_one.pages_sent == 2 and 1 <= batch_two.pages_sent < 3

            await wait_for(both_calls_mid_document, 180, "both calls in the middle of their pages", first)
            code = first.terminate(timeout=10 + STOP_MARGIN_S + 10)  # shutdown_grace is 10 s in the test config
        finally:
            if first.proc is not None and first.proc.poll() is None:
                first.kill()
        log = first.output()
        assert code == 0, log[-3000:]
        assert "server.stopping" in log and "queue.calls_ending" in log and "server.stopped" in log
        assert "Traceback" not in log

        solo, batch_one, batch_two = _by_role(await all_jobs(config))
        assert batch_one.job_status == JobStatus.COMPLETED  # all its pages were confirmed in the cut call
        for job in (solo, batch_two):
            assert (job.job_status, job.ext_status) == (JobStatus.PENDING, ExtendedStatus.CALL_ABORTED), log[-3000:]
            assert 1 <= job.pages_sent < job.pages
            assert job.extended_status_text == (f"{SHUTDOWN_REASON} after {job.pages_sent} of {job.pages} pages "
                                                f"confirmed; resumes at page {job.pages_sent + 1}")
            assert (job.dials, job.tries, job.retries) == (0, 0, 0)  # not a failed try
            [attempt] = await job_attempts(config, job.id)
            assert attempt.extended_status == ExtendedStatus.CALL_ABORTED
        confirmed = {job.id: job.pages_sent for job in (solo, batch_two)}
        # The simulated far ends write what they received under data/simnet; the next run reuses the names.
        shutil.copytree(tmp_path / "data" / "simnet", tmp_path / "first-run" / "simnet")

        with ServerProcess(config, http_port) as second:
            async def all_completed() -> bool:
                return all(job.job_status == JobStatus.COMPLETED for job in await all_jobs(config))

            await wait_for(all_completed, 180, "every job to complete after the restart", second)
            assert second.terminate() == 0

    for job in (solo, batch_two):
        [_cut, resumed] = await job_attempts(config, job.id)
        assert resumed.start_page == confirmed[job.id]
    solo_pages = await job_pages(config, solo)
    batch_pages = await job_pages(config, batch_one) + await job_pages(config, batch_two)
    for number, expected in (("5550100", solo_pages), ("5550110", batch_pages)):
        got = received_pages(tmp_path / "first-run", number) + received_pages(tmp_path / "data", number)
        assert len(got) == len(expected), number  # each page exactly once at the far end
        assert all(same_below_header(a, b) for a, b in zip(expected, got, strict=True)), number
