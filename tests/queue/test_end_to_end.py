"""One mail to three numbers through `faxgate serve` on the simulated line: calls, statuses, receipts, pages."""

from __future__ import annotations

import re
from pathlib import Path

import aiosmtplib
import pytest

from gateway.enums import ExtendedStatus, JobStatus
from gateway.queue.documents import load_pymupdf
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

FINE, BUSY_TWICE, NEVER = "5550100", "5550103", "5550102"


@pytest.mark.realtime
async def test_one_mail_three_numbers(tmp_path: Path) -> None:
    with smtp_sink() as (sink, sink_port):
        config, smtp_port, http_port = sim_config(tmp_path, sink_port)
        with ServerProcess(config, http_port) as server:
            await aiosmtplib.send(
                b"From: Alice <alice@example.com>\r\nTo: fax <5550100@fax.localhost>\r\n"
                b"Subject: Quarterly figures\r\n\r\nPlease find the figures below.\r\nRevenue: 12,345\r\n",
                sender="alice@example.com",
                recipients=[f"{number}@fax.localhost" for number in (FINE, BUSY_TWICE, NEVER)],
                hostname="127.0.0.1", port=smtp_port)

            async def finished() -> bool:
                jobs = await all_jobs(config)
                return len(jobs) == 3 and all(job.job_status.is_final for job in jobs) and len(sink.messages) >= 3

            await wait_for(finished, 240, "three final jobs and three receipts", server)
            server.terminate()
            log = server.output()

        jobs = {job.recipient_number: job for job in await all_jobs(config)}
        assert len({job.submission_id for job in jobs.values()}) == 1
        fine, busy, never = jobs[FINE], jobs[BUSY_TWICE], jobs[NEVER]
        assert (fine.job_status, fine.ext_status, fine.pages_sent) == (
            JobStatus.COMPLETED, ExtendedStatus.CALL_COMPLETED, fine.pages)
        assert fine.remote_csid == "+1 555 0100"
        assert [a.extended_status for a in await job_attempts(config, fine.id)] == [ExtendedStatus.CALL_COMPLETED]
        assert [a.extended_status for a in await job_attempts(config, busy.id)] == [
            ExtendedStatus.BUSY, ExtendedStatus.BUSY, ExtendedStatus.CALL_COMPLETED]
        assert (busy.job_status, busy.retries, busy.dials) == (JobStatus.COMPLETED, 2, 3)
        assert [a.extended_status for a in await job_attempts(config, never.id)] == [ExtendedStatus.NO_ANSWER] * 2
        assert (never.job_status, never.ext_status, never.pages_sent) == (
            JobStatus.RETRIES_EXCEEDED, ExtendedStatus.NO_ANSWER, 0)

        def statuses(job_id: int) -> list[str]:
            found = re.findall(rf"job\.status job={job_id} status=(\w+) result=(\w+)", log)
            return [f"{status}/{result}" for status, result in found]

        assert statuses(fine.id) == ["COMPLETED/CALL_COMPLETED"]
        assert statuses(busy.id) == ["RETRYING/BUSY", "RETRYING/BUSY", "COMPLETED/CALL_COMPLETED"]
        assert statuses(never.id) == ["RETRYING/NO_ANSWER", "RETRIES_EXCEEDED/NO_ANSWER"]

        # The pages at the far ends are the pages sent, with the header line on top.
        for job in (fine, busy):
            sent = await job_pages(config, job)
            got = received_pages(tmp_path / "data", job.recipient_number)
            assert len(got) == len(sent) == job.pages
            assert all(same_below_header(a, b) for a, b in zip(sent, got, strict=True))
            assert all(page[:30].any() for page in got)  # the header was stamped
        assert received_pages(tmp_path / "data", NEVER) == []

        # One receipt per recipient, in plain words, with the PDF transmission report.
        by_subject = {str(message["Subject"]): message for message in sink.messages}
        assert set(by_subject) == {f"Fax sent to {FINE}: Quarterly figures", f"Fax sent to {BUSY_TWICE}: "
                                   "Quarterly figures", f"Fax NOT sent to {NEVER}: Quarterly figures"}
        failed = by_subject[f"Fax NOT sent to {NEVER}: Quarterly figures"]
        assert failed["To"] == "alice@example.com"
        text = failed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "could not be sent" in text and "nobody answered" in text and "2 call(s)" in text
        report = next(part for part in failed.iter_attachments() if part.get_filename() == "transmission-report.pdf")
        pdf = load_pymupdf().open(stream=report.get_content(), filetype="pdf")
        words = pdf[0].get_text()
        assert "Fax transmission report" in words and NEVER in words and "0 of" in words
        assert len(pdf[0].get_images()) == 1  # page 1 as a thumbnail
        sent_ok = by_subject[f"Fax sent to {FINE}: Quarterly figures"].get_body(("plain",))
        assert "was sent" in sent_ok.get_content()  # type: ignore[union-attr]
