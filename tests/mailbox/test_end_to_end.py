"""End to end through `faxgate serve` on the simulated line, for each mailbox backend (a real Dovecot over IMAP,
the fake Exchange over EWS, the fake Graph): a mail with a PDF and a DOCX put in the fax mailbox is faxed to a
remote machine (pages as sent) and to faxgate's own second line; the mail moves to Processed, the receipt reaches
the sender, and the fax the second line received lands in a mailbox folder as an item with its PDF."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.enums import JobStatus
from gateway.queue.documents import load_pymupdf
from tests.mailbox.conftest import fax_mail, pdf_bytes
from tests.mailbox.servers import Mailbox
from tests.queue.simserver import (
    all_jobs,
    job_pages,
    received_pages,
    same_below_header,
    sim_config,
    smtp_sink,
    wait_for,
)
from tests.render.test_office import soffice_convert
from tests.support.server import ServerProcess

REMOTE, OWN_SECOND_LINE = "5550100", "5551001"


def docx_bytes(folder: Path) -> bytes:
    """A one-page Word document made by LibreOffice from HTML (as the render tests make theirs)."""
    html = folder / "letter.html"
    html.write_text("<html><body><h1>Letter FAXGATE-DOCX</h1><p>Dear reader, this came from Word.</p></body></html>")
    return soffice_convert(html, "docx:MS Word 2007 XML", folder).read_bytes()


def server_config(tmp_path: Path, mailbox: Mailbox, sink_port: int) -> tuple[Path, int]:
    extra = f"""
[security]
[[security.users]]
name = "alice"
email = "alice@example.com"
rights = ["submit_normal", "query_jobs"]

[[mailboxes]]
name = "faxbox"
owner = "alice"
poll_interval = "2s"
{mailbox.table()}
[[inbound.rules]]
name = "all-to-mailbox"
[inbound.rules.mailbox]
mailbox = "faxbox"
folder = "Faxes/Received"

[[devices]]
name = "sim0"
provider = "simulated"
number = "5551000"
receive_mode = "no_answer"

[[devices]]
name = "sim1"
provider = "simulated"
number = "{OWN_SECOND_LINE}"
send_enabled = false
"""
    path, _smtp_port, http_port = sim_config(tmp_path, sink_port, devices=(), extra=extra)
    return path, http_port


@pytest.mark.realtime
async def test_mail_in_the_mailbox_is_faxed_and_a_received_fax_lands_in_a_folder(tmp_path: Path,
                                                                                 mailbox: Mailbox) -> None:
    mailbox.put(fax_mail(to=f"Acme <{REMOTE}@fax.localhost>", cc=f"{OWN_SECOND_LINE}@fax.localhost",
                         subject="Invoice 42", pdf=pdf_bytes("Invoice FAXGATE-PDF", pages=2),
                         docx=docx_bytes(tmp_path), message_id="<invoice-42@example.com>"))
    with smtp_sink() as (sink, sink_port):
        config, http_port = server_config(tmp_path, mailbox, sink_port)
        with ServerProcess(config, http_port) as server:
            async def finished() -> bool:
                jobs = await all_jobs(config)
                return (len(jobs) == 2 and all(job.job_status.is_final for job in jobs) and len(sink.messages) >= 2
                        and bool(mailbox.received_pdfs("Faxes/Received")))

            await wait_for(finished, 400, "two sent faxes, two receipts, one received fax in the mailbox", server)
            [intake] = server.health()["intake"]
            server.terminate()

    assert (intake["name"], intake["state"], intake["failures"]) == ("mailbox:faxbox", "ready", 0)
    assert mailbox.message_ids("INBOX") == []
    assert mailbox.message_ids("Processed") == ["<invoice-42@example.com>"]
    jobs = {job.recipient_number: job for job in await all_jobs(config)}
    assert set(jobs) == {REMOTE, OWN_SECOND_LINE}
    assert all(job.job_status == JobStatus.COMPLETED for job in jobs.values())
    remote = jobs[REMOTE]
    assert remote.pages >= 4  # cover, two PDF pages, the Word page
    sent = await job_pages(config, remote)
    got = received_pages(tmp_path / "data", REMOTE)
    assert len(got) == len(sent) == remote.pages
    assert all(same_below_header(a, b) for a, b in zip(sent, got, strict=True))

    receipts = {str(message["Subject"]): message for message in sink.messages}
    assert f"Fax sent to {REMOTE}: Invoice 42" in receipts
    assert {str(message["To"]) for message in sink.messages} == {"alice@example.com"}

    [pdf] = mailbox.received_pdfs("Faxes/Received")
    assert load_pymupdf().open(stream=pdf, filetype="pdf").page_count == jobs[OWN_SECOND_LINE].pages
