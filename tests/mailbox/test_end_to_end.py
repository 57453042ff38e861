"""End to end through `faxgate serve` on the simulated line, for each mailbox backend (a real Dovecot over IMAP,
the fake Exchange over EWS, the fake Graph): a mail with a PDF and a DOCX put in the fax mailbox is faxed to a
remote machine (pages as sent) and to faxgate's own second line; the mail moves to Processed, the receipt reaches
the sender, and the fax the second line received lands in a mailbox folder as an item with its PDF."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Protocol

import pytest
import trustme

from gateway.enums import JobStatus
from gateway.queue.documents import load_pymupdf
from gateway.queue.finish import is_final
from tests.mailbox.conftest import FAX_PASSWORD, FAX_USER, fax_mail, pdf_bytes
from tests.mailbox.test_source import folder_ids, put
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
from tests.support.dovecot import Dovecot
from tests.support.fake_ews import FakeExchange
from tests.support.fake_graph import FakeGraph
from tests.support.server import ServerProcess

REMOTE, OWN_SECOND_LINE = "5550100", "5551001"


class Mailbox(Protocol):
    """What the test needs from either mailbox server."""

    def table(self) -> str: ...
    def put(self, raw: bytes) -> None: ...
    def message_ids(self, folder: str) -> list[str]: ...
    def received_pdfs(self, folder: str) -> list[bytes]: ...


class ImapMailbox:
    def __init__(self, server: Dovecot) -> None:
        self.server = server

    def table(self) -> str:
        return (f'host = "127.0.0.1"\nport = {self.server.port}\ntls = "none"\nusername = "{FAX_USER}"\n'
                f'password = "{FAX_PASSWORD}"\n')

    def put(self, raw: bytes) -> None:
        put(self.server, raw)

    def message_ids(self, folder: str) -> list[str]:
        return folder_ids(self.server, folder)

    def received_pdfs(self, folder: str) -> list[bytes]:
        client = self.server.client(FAX_USER)
        try:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder)
            found = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"]).values()
        finally:
            client.logout()
        pdfs = []
        for data in found:
            mail = message_from_bytes(data[b"BODY[]"], policy=policy.default)
            pdfs += [part.get_content() for part in mail.iter_attachments()  # type: ignore[attr-defined]
                     if part.get_content_type() == "application/pdf"]
        return pdfs


class EwsMailbox:
    def __init__(self, exchange: FakeExchange, ca_file: Path) -> None:
        self.exchange = exchange
        self.ca_file = ca_file

    def table(self) -> str:
        return (f'backend = "ews"\nendpoint = "{self.exchange.endpoint}"\nusername = "{self.exchange.user}"\n'
                f'password = "{self.exchange.password}"\nca_file = "{self.ca_file}"\n')

    def put(self, raw: bytes) -> None:
        self.exchange.deliver(raw)

    def message_ids(self, folder: str) -> list[str]:
        return sorted(item.message_id for item in self.exchange.in_folder(folder))

    def received_pdfs(self, folder: str) -> list[bytes]:
        return [data for item in self.exchange.in_folder(folder) for _name, kind, data in item.attachments
                if kind == "application/pdf"]


class GraphMailbox:
    def __init__(self, graph: FakeGraph, ca_file: Path) -> None:
        self.graph = graph
        self.ca_file = ca_file

    def table(self) -> str:
        return (f'backend = "graph"\nendpoint = "{self.graph.endpoint}"\nauthority = "{self.graph.authority}"\n'
                f'client_id = "{self.graph.client_id}"\nclient_secret = "{self.graph.client_secret}"\n'
                f'address = "{self.graph.user}"\nca_file = "{self.ca_file}"\n')

    def put(self, raw: bytes) -> None:
        self.graph.deliver(raw)

    def message_ids(self, folder: str) -> list[str]:
        return sorted(message.message_id for message in self.graph.in_folder(folder))

    def received_pdfs(self, folder: str) -> list[bytes]:
        return [base64.b64decode(attachment["contentBytes"]) for message in self.graph.in_folder(folder)
                for attachment in message.json_body.get("attachments", [])
                if attachment["contentType"] == "application/pdf"]


@pytest.fixture(params=["imap", "ews", "graph"])
def mailbox(request: pytest.FixtureRequest, ca: trustme.CA, tmp_path: Path) -> Iterator[Mailbox]:
    if request.param == "imap":
        server = Dovecot({FAX_USER: FAX_PASSWORD}, ca).start()
        try:
            yield ImapMailbox(server)
        finally:
            server.close()
        return
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    if request.param == "graph":
        graph = FakeGraph(ca, user=FAX_USER).serve()
        try:
            yield GraphMailbox(graph, ca_file)
        finally:
            graph.close()
        return
    exchange = FakeExchange(ca, user=FAX_USER, password=FAX_PASSWORD).serve()
    try:
        yield EwsMailbox(exchange, ca_file)
    finally:
        exchange.close()


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
                return (len(jobs) == 2 and all(is_final(job) for job in jobs) and len(sink.messages) >= 2
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
