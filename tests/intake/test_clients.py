"""Real mail clients against `faxgate serve`: a multi-page PDF mail over 64 KB from each is accepted and sent.

Four independent writers of the same mail: smtplib.sendmail with the bytes of ``msg.as_bytes()`` (bare LF line
ends on the wire), smtplib.send_message (CRLF), swaks (Debian), and a real Postfix relaying the fax domain to
faxgate over a transport map. Each job must complete on the simulated line (paced at 4x real time).
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from gateway.config import load_config
from gateway.enums import ExtendedStatus, JobStatus
from gateway.model import OutgoingJob, Submission
from gateway.storage import Database, get_blob
from gateway.storage import jobs as store
from gateway.storage.submissions import list_submissions
from tests.intake.conftest import report_pdf
from tests.intake.test_swaks import swaks
from tests.queue.simserver import sim_config, smtp_sink, wait_for
from tests.support.postfix import PostfixRelay
from tests.support.server import ServerProcess

pytestmark = pytest.mark.realtime

FAX_DOMAIN = "fax.localhost"
TO = f"5550100@{FAX_DOMAIN}"
PDF_PAGES = 3
TRUST_LOOPBACK = '[security]\ntrusted_networks = [{ network = "127.0.0.1/32" }]\n'
"""Postfix on the same host submits without authenticating, as an administrator would set it up."""


@dataclass
class Running:
    """`faxgate serve` on the simulated line, with its config and SMTP port."""

    config: Path
    smtp_port: int
    server: ServerProcess


@pytest.fixture(scope="module")
def faxgate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One server for the module (each test sends its own mail), stopped with SIGTERM at the end."""
    folder = tmp_path_factory.mktemp("clients")
    with smtp_sink() as (_, sink_port):
        config, smtp_port, http_port = sim_config(folder, sink_port, extra=TRUST_LOOPBACK)
        with ServerProcess(config, http_port) as server:
            yield Running(config, smtp_port, server)
            assert server.terminate() == 0, server.output()[-4000:]


def fax_mail(subject: str, pdf: bytes) -> EmailMessage:
    """A mail as a script writes it: display name, a line of text and the PDF attached."""
    message = EmailMessage()
    message["From"] = "Alice Example <alice@example.com>"
    message["To"] = TO
    message["Subject"] = subject
    message.set_content("Please fax the attached report.\n")
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="report.pdf")
    return message


async def sent_fax(running: Running, subject: str) -> tuple[Submission, OutgoingJob, bytes]:
    """Wait until the submission with ``subject`` has a final job; the submission, its job and the stored mail."""
    db = Database(load_config(running.config).database_url)
    found: dict[str, Any] = {}

    async def final() -> bool:
        async with db.transaction() as conn:
            mine = [item for item in await list_submissions(conn) if item.subject == subject]
            jobs = await store.list_jobs(conn, submission_id=mine[0].id) if mine else []
        found.update(submission=mine[0] if mine else None, jobs=jobs)
        return bool(jobs) and all(job.job_status.is_final for job in jobs)

    try:
        await wait_for(final, 240, f"a final job for {subject!r}", running.server)
        submission: Submission = found["submission"]
        assert submission.raw_blob_id is not None
        async with db.transaction() as conn:
            raw = await get_blob(conn, submission.raw_blob_id)
    finally:
        await db.close()
    [job] = found["jobs"]
    return submission, job, raw


def assert_sent_whole(job: OutgoingJob, raw: bytes, pdf: bytes) -> None:
    """The job completed with every page, and the stored mail still carries the PDF byte for byte."""
    assert (job.job_status, job.ext_status) == (JobStatus.COMPLETED, ExtendedStatus.CALL_COMPLETED), job
    assert job.recipient_number == "5550100"
    assert job.pages == job.pages_sent == PDF_PAGES + 1  # a cover page (the mail's text is its note), the PDF's pages
    stored = message_from_bytes(raw, policy=policy.default)
    assert isinstance(stored, EmailMessage)
    [attachment] = stored.iter_attachments()
    assert attachment.get_content() == pdf


@pytest.fixture
def pdf(request: pytest.FixtureRequest) -> bytes:
    """This test's own PDF (the seed is the test name), checked to be multi-page and over 64 KB."""
    data = report_pdf(request.node.name)
    assert len(data) > 64 * 1024
    return data


async def test_smtplib_sendmail_with_bare_lf_bytes(faxgate: Running, pdf: bytes) -> None:
    subject = "Report via smtplib.sendmail"
    data = fax_mail(subject, pdf).as_bytes()
    assert b"\r\n" not in data and len(data) > 64 * 1024  # what scripts put on the wire: bare LF only

    def send() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", faxgate.smtp_port, timeout=60) as client:
            return client.sendmail("alice@example.com", [TO], data)

    assert await asyncio.to_thread(send) == {}
    _, job, raw = await sent_fax(faxgate, subject)
    assert_sent_whole(job, raw, pdf)


async def test_smtplib_send_message(faxgate: Running, pdf: bytes) -> None:
    subject = "Report via smtplib.send_message"

    def send() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", faxgate.smtp_port, timeout=60) as client:
            return client.send_message(fax_mail(subject, pdf))

    assert await asyncio.to_thread(send) == {}
    submission, job, raw = await sent_fax(faxgate, subject)
    assert submission.envelope_from == "alice@example.com"
    assert_sent_whole(job, raw, pdf)


async def test_swaks(faxgate: Running, pdf: bytes, tmp_path: Path) -> None:
    subject = "Report via swaks"
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    code, transcript = await swaks(faxgate.smtp_port, "--from", "alice@example.com", "--to", TO,
                                   "--header", f"Subject: {subject}", "--body", "Please fax the attached report.",
                                   "--attach-type", "application/pdf", "--attach-name", "report.pdf",
                                   "--attach", f"@{path}")
    assert code == 0, transcript
    assert "250 2.0.0 Queued as" in transcript
    _, job, raw = await sent_fax(faxgate, subject)
    assert_sent_whole(job, raw, pdf)


async def test_postfix_relays_the_fax_domain_to_faxgate(faxgate: Running, pdf: bytes) -> None:
    subject = "Report via Postfix"
    with PostfixRelay(FAX_DOMAIN, faxgate.smtp_port) as postfix:

        def send() -> dict[str, tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", postfix.port, timeout=60) as client:
                return client.send_message(fax_mail(subject, pdf))

        assert await asyncio.to_thread(send) == {}
        _, job, raw = await sent_fax(faxgate, subject)
        log = postfix.log()
        assert "Mail queue is empty" in postfix.queue(), log
    # Postfix handed it on (its smtp client saw faxgate's 250) and the mail faxgate stored passed through Postfix.
    assert f"relay=127.0.0.1[127.0.0.1]:{faxgate.smtp_port}" in log and "status=sent (250 2.0.0 Queued as" in log, log
    assert b"by postfix.localhost (Postfix)" in raw
    assert_sent_whole(job, raw, pdf)
