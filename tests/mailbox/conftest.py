"""A real Dovecot per test, a real SMTP sink for bounces and receipts, and a migrated SQLite store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
import trustme

from gateway.config import FaxgateConfig, parse_config
from gateway.queue.documents import load_pymupdf
from gateway.storage import Database
from tests.intake.conftest import sink  # noqa: F401 - the receipts smarthost, a fixture here too
from tests.mailbox.servers import FAX_PASSWORD, FAX_USER, mailbox  # noqa: F401 - fixture for every backend
from tests.support.dovecot import Dovecot


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throwaway certificate authority (Dovecot's implicit-TLS port is signed by it)."""
    return trustme.CA()


@pytest.fixture
def dovecot(ca: trustme.CA) -> Iterator[Dovecot]:
    """A running Dovecot with the fax mailbox's user."""
    server = Dovecot({FAX_USER: FAX_PASSWORD}, ca).start()
    try:
        yield server
    finally:
        server.close()


def mailbox_entry(server: Dovecot, **overrides: Any) -> dict[str, Any]:
    """A [[mailboxes]] table for the Dovecot fixture (plain IMAP on loopback)."""
    return {"name": "faxbox", "backend": "imap", "host": "127.0.0.1", "port": server.port, "tls": "none",
            "username": FAX_USER, "password": FAX_PASSWORD, "owner": "alice", "poll_interval": "1h",
            "timeout": "10s", **overrides}


def mailbox_config(tmp_path: Path, server: Dovecot, sink_port: int, **overrides: Any) -> FaxgateConfig:
    """Defaults plus the user alice as the mailbox's owner and the sink as the smarthost."""
    return parse_config({
        "server": {"data_dir": str(tmp_path / "data")},
        "security": {"users": [
            {"name": "alice", "email": "alice@example.com", "rights": ["submit_normal", "query_jobs"]},
            {"name": "boss", "email": "boss@example.com", "rights": ["submit_high"],
             "destinations": ["international"]},
        ]},
        "receipts": {"smtp_host": "127.0.0.1", "smtp_port": sink_port, "sender": "faxgate@fax.test"},
        "mailboxes": [mailbox_entry(server, **overrides)],
    })


@pytest.fixture
async def db(store_url: str) -> AsyncIterator[Database]:
    """A migrated store, on SQLite and on PostgreSQL: the record-before-move must hold on both."""
    store = Database(parse_config({"storage": {"url": store_url}}).database_url)
    await store.migrate()
    yield store
    await store.close()


def sources(config: Path) -> dict[str, dict[str, Any]]:
    """`faxgate sources --json` against the running server of this config, by source name (blocking)."""
    from click.testing import CliRunner

    from gateway.cli import main

    result = CliRunner().invoke(main, ["sources", "--json", "--config", str(config)],
                                env={"FAXGATE_TOKEN": None, "FAXGATE_SERVER": None})
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in json.loads(result.output)}


def pdf_bytes(title: str, pages: int = 1) -> bytes:
    """A small real PDF with a line of text per page."""
    pymupdf = load_pymupdf()
    document = pymupdf.open()
    for number in range(1, pages + 1):
        page = document.new_page()
        page.insert_text((72, 100), f"{title} page {number}", fontsize=24)
        page.draw_rect(pymupdf.Rect(72, 150, 400, 300), color=(0, 0, 0), fill=(0, 0, 0))
    data: bytes = document.tobytes()
    return data


def fax_mail(to: str = "5551234@fax.localhost", subject: str = "Invoice", sender: str = "alice@example.com",
             cc: str = "", pdf: bytes | None = None, docx: bytes | None = None, message_id: str = "",
             body: str = "Please fax the attached invoice.\n") -> bytes:
    """A mail as a person would put it in the fax mailbox: fax addresses in To/Cc, a PDF attached."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = cc
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="example.com")
    message.set_content(body)
    if pdf is not None:
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    if docx is not None:
        message.add_attachment(docx, maintype="application",
                               subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                               filename="letter.docx")
    return message.as_bytes(policy=SMTP_POLICY)
