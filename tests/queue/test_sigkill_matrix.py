"""SIGKILL matrix (part): `faxgate serve` killed right after the 250 reply and during a render, on SQLite and
PostgreSQL; after the restart no accepted mail is lost, every job completes at once (taken back, not after a lease)
and the far end gets each page exactly once. The other stages of issue 15 are covered by test_restart.py
(mid-send) or not yet (see the branch report)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.enums import JobStatus
from gateway.model import SubmissionState
from gateway.storage import Database
from gateway.storage.submissions import list_submissions
from tests.fixtures.hostile import _docx
from tests.intake.conftest import simple_mail, smtp_transaction
from tests.queue.simserver import all_jobs, received_pages, sim_config, smtp_sink, wait_for
from tests.support.server import ServerProcess

REMOTE = "5550100"


async def submissions_in(config: Path, state: str) -> int:
    db = Database(load_config(config).database_url)
    try:
        async with db.transaction() as conn:
            return sum(1 for s in await list_submissions(conn) if s.state == state)
    finally:
        await db.close()


def office_mail(folder: Path) -> bytes:
    """A mail with a .docx (LibreOffice starts for it: seconds of rendering to be killed in)."""
    from email.message import EmailMessage
    from email.policy import SMTP as SMTP_POLICY

    doc = _docx(folder / "letter.docx", "".join(f"<w:p><w:r><w:t>Line {n}</w:t></w:r></w:p>" for n in range(40)))
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", f"{REMOTE}@fax.localhost", "office"
    message.set_content("See the letter.\n")
    message.add_attachment(doc.read_bytes(), maintype="application", subtype="vnd.openxmlformats-officedocument"
                           ".wordprocessingml.document", filename="letter.docx")
    return message.as_bytes(policy=SMTP_POLICY)


@pytest.mark.realtime
async def test_killed_after_250_and_during_render_loses_no_mail(store_url: str, tmp_path: Path) -> None:
    with smtp_sink() as (_sink, sink_port):
        config, smtp_port, http_port = sim_config(
            tmp_path, sink_port, store_url=store_url, devices=(("sim0", "5551000"),))
        config.write_text(config.read_text().replace("[smtp]\n", "[smtp]\ncover_page = false\n")
                          .replace('claim_lease = "20s"', 'claim_lease = "10m"'))
        # Stage 1: SIGKILL the moment the 250 reply is read.
        first = ServerProcess(config, http_port).start()
        try:
            reply = await asyncio.to_thread(smtp_transaction, smtp_port, "a@example.com",
                                            [f"{REMOTE}@fax.localhost"], simple_mail(to=f"{REMOTE}@fax.localhost"))
            first.kill()
        finally:
            if first.proc is not None and first.proc.poll() is None:
                first.kill()
        assert reply.data is not None and reply.data[0] == 250
        # Stage 2: SIGKILL while the second mail's .docx is being rendered.
        second = ServerProcess(config, http_port).start()
        try:
            office = await asyncio.to_thread(smtp_transaction, smtp_port, "a@example.com",
                                             [f"{REMOTE}@fax.localhost"], office_mail(tmp_path))
            assert office.data is not None and office.data[0] == 250

            async def rendering() -> bool:
                return await submissions_in(config, SubmissionState.RENDERING) >= 1

            await wait_for(rendering, 60, "a submission being rendered", second)
        finally:
            second.kill()
        # Restart: both mails become jobs and are sent, without waiting out the 10-minute claim lease.
        with ServerProcess(config, http_port) as third:
            async def all_sent() -> bool:
                jobs = await all_jobs(config)
                return len(jobs) == 2 and all(job.job_status == JobStatus.COMPLETED for job in jobs)

            # 240 s, well inside the 10-minute lease: the render claim was taken back at start.
            await wait_for(all_sent, 240, "both accepted mails to be faxed after the restarts", third)
            assert third.terminate() == 0
    assert await submissions_in(config, SubmissionState.QUEUED) == 2
    jobs = await all_jobs(config)
    assert sorted(job.pages for job in jobs) == sorted(job.pages_sent for job in jobs)
    assert len(received_pages(tmp_path / "data", REMOTE)) == sum(job.pages for job in jobs)  # each page once
