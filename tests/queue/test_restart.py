"""A `faxgate serve` killed (SIGKILL) in the middle of a send: the job resumes, nothing confirmed is sent again."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gateway.enums import ExtendedStatus, JobStatus
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
        config, _smtp, http_port = sim_config(tmp_path, sink_port, node_id="node-a", devices=(("sim0", "5551000"),))
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
    assert attempts[1].start_page == confirmed_before_kill
    # The second call carried exactly the pages not yet confirmed, and they arrived as sent.
    sent = await job_pages(config, job)
    resumed = received_pages(tmp_path / "data", SLOW)
    assert len(resumed) == PAGES - confirmed_before_kill
    assert all(same_below_header(a, b) for a, b in zip(sent[confirmed_before_kill:], resumed, strict=True))
