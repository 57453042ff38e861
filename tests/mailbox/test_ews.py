"""The EWS backend: the real exchangelib against a local fake EWS server over HTTPS with a test CA, asserting on
the SOAP faxgate sent; Basic and OAuth2 client credentials; the mailbox source on it; outages."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from lxml import etree

from gateway.config.mailboxes import MailboxSection
from gateway.mailbox.backend import MailboxUnavailable
from gateway.mailbox.ews import EwsBackend
from gateway.mailbox.source import MailboxSource
from gateway.storage import Database
from gateway.storage.submissions import list_submissions
from tests.intake.conftest import Sink
from tests.mailbox.conftest import fax_mail, pdf_bytes
from tests.support.fake_ews import NS, FakeExchange

USER, PASSWORD = "fax@example.com", "ews-secret"


@pytest.fixture
def exchange(ca: trustme.CA) -> Iterator[FakeExchange]:
    fake = FakeExchange(ca, user=USER, password=PASSWORD).serve()
    yield fake
    fake.close()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ews-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def ews_entry(exchange: FakeExchange, ca_file: Path | None, **overrides: Any) -> dict[str, Any]:
    """A [[mailboxes]] table for the fake Exchange."""
    return {"name": "exchange", "backend": "ews", "endpoint": exchange.endpoint, "username": USER,
            "password": PASSWORD, "owner": "alice", "poll_interval": "1h",
            **({"ca_file": str(ca_file)} if ca_file else {}), **overrides}


def backend(exchange: FakeExchange, ca_file: Path | None, **overrides: Any) -> EwsBackend:
    return EwsBackend(MailboxSection.model_validate(ews_entry(exchange, ca_file, **overrides)))


def sent(exchange: FakeExchange, operation: str) -> list[Any]:
    """The SOAP bodies faxgate sent for one operation, parsed."""
    return [etree.fromstring(r.xml).find("s:Body", NS)[0] for r in exchange.requests if r.operation == operation]


def test_poll_fetch_move_and_create_with_basic_auth(exchange: FakeExchange, ca_file: Path) -> None:
    exchange.deliver(fax_mail(message_id="<one@example.com>"))
    ews = backend(exchange, ca_file)
    ews.ensure_folder("Processed")
    [item_id] = ews.list_items("INBOX")
    raw = ews.fetch_mime("INBOX", item_id)
    assert raw is not None and b"<one@example.com>" in raw
    assert ews.move("INBOX", item_id, "Processed") is True
    assert ews.move("INBOX", item_id, "Processed") is False  # gone (moved by someone else): no error
    assert [i.message_id for i in exchange.in_folder("Processed")] == ["<one@example.com>"]
    assert ews.find("Processed", "<one@example.com>") is not None
    pdf = pdf_bytes("Received")
    ews.create_item("Faxes/Received", fax_mail(subject="Fax from ACME", message_id="<fax-9@fax.test>", pdf=pdf))
    [created] = exchange.in_folder("Faxes/Received")
    assert (created.subject, created.message_id) == ("Fax from ACME", "<fax-9@fax.test>")
    assert created.attachments == [("invoice.pdf", "application/pdf", pdf)]

    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert {r.authorization for r in exchange.requests} == {expected}
    [find] = [op for op in sent(exchange, "FindItem")
              if op.find("m:ParentFolderIds/t:DistinguishedFolderId", NS) is not None]
    assert find.find("m:ParentFolderIds/t:DistinguishedFolderId", NS).get("Id") == "inbox"
    [get] = sent(exchange, "GetItem")
    assert "item:MimeContent" in [f.get("FieldURI") for f in get.iterfind(".//t:FieldURI", NS)]
    assert get.find("m:ItemIds/t:ItemId", NS).get("Id") == item_id
    moves = sent(exchange, "MoveItem")
    processed = exchange.folder_named("Processed")
    assert processed is not None
    assert [m.find("m:ToFolderId/t:FolderId", NS).get("Id") for m in moves] == [processed.id] * 2
    [create] = sent(exchange, "CreateItem")
    assert create.get("MessageDisposition") == "SaveOnly"
    attachment = create.find("m:Items/t:Message/t:Attachments/t:FileAttachment", NS)
    assert attachment.findtext("t:Name", namespaces=NS) == "invoice.pdf"
    assert base64.b64decode(attachment.findtext("t:Content", namespaces=NS)) == pdf
    assert create.findtext("m:Items/t:Message/t:InternetMessageId", namespaces=NS) == "<fax-9@fax.test>"
    [restricted] = [op for op in sent(exchange, "FindItem") if op.find("m:Restriction", NS) is not None]
    field = restricted.find(".//t:IsEqualTo/t:FieldURI", NS)
    assert field.get("FieldURI") == "message:InternetMessageId"


def test_oauth2_client_credentials_with_a_bearer_token(exchange: FakeExchange, ca_file: Path) -> None:
    exchange.bearer = "not-issued-yet"
    ews = backend(exchange, ca_file, auth="oauth2", client_id="app-id", client_secret=PASSWORD,
                  tenant_id="tenant", token_url=exchange.token_url)
    assert ews.list_items("INBOX") == []
    [form] = exchange.token_requests
    assert (form["grant_type"], form["client_id"], form["client_secret"]) == ("client_credentials", "app-id",
                                                                              PASSWORD)
    assert form["scope"] == "https://outlook.office365.com/.default"
    assert {r.authorization for r in exchange.requests} == {"Bearer tok-1"}


def test_tls_is_verified(exchange: FakeExchange) -> None:
    """Without the test CA (and under a host name no other test gave a CA for) the server is not trusted."""
    untrusted = backend(exchange, None, endpoint=exchange.endpoint.replace("127.0.0.1", "localhost"))
    with pytest.raises(MailboxUnavailable, match=r"SSLError|certificate"):
        untrusted.list_items("INBOX")
    assert exchange.requests == []


def test_wrong_password_is_unavailable(exchange: FakeExchange, ca_file: Path) -> None:
    with pytest.raises(MailboxUnavailable, match="refused the credentials"):
        backend(exchange, ca_file, password="wrong").list_items("INBOX")


async def test_source_on_ews_submits_moves_and_rides_out_an_outage(tmp_path: Path, exchange: FakeExchange,
                                                                   ca_file: Path, db: Database, sink: Sink) -> None:
    from gateway.config import parse_config

    config = parse_config({
        "server": {"data_dir": str(tmp_path / "data")},
        "security": {"users": [{"name": "alice", "email": "alice@example.com", "rights": ["submit_normal"]}]},
        "receipts": {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "sender": "faxgate@fax.test"},
        "mailboxes": [ews_entry(exchange, ca_file)],
    })
    exchange.deliver(fax_mail(message_id="<ews-1@example.com>", pdf=pdf_bytes("EWS")))
    source = MailboxSource(config, db, config.mailboxes[0])
    await source.poll()
    assert source.state == "ready", source.reason
    async with db.transaction() as conn:
        [submission] = await list_submissions(conn)
    assert (submission.source, submission.principal, submission.recipients[0]["number"]) == ("ews", "alice",
                                                                                            "5551234")
    assert [i.message_id for i in exchange.in_folder("Processed")] == ["<ews-1@example.com>"]
    assert exchange.in_folder("INBOX") == []

    exchange.down = True  # 503 for every request
    await source.poll()
    assert source.state == "retrying" and "EWS" in source.reason
    exchange.down = False
    exchange.fail_with = [500]
    await source.poll()
    assert source.state == "retrying" and source.failures == 2
    exchange.deliver(fax_mail(message_id="<ews-2@example.com>"))
    await source.poll()
    assert source.state == "ready" and source.failures == 0
    async with db.transaction() as conn:
        assert len(await list_submissions(conn)) == 2
    assert sorted(i.message_id for i in exchange.in_folder("Processed")) == ["<ews-1@example.com>",
                                                                            "<ews-2@example.com>"]
    await source.stop()


def test_a_401_after_the_token_expired_gets_a_new_token_on_the_next_try(exchange: FakeExchange,
                                                                        ca_file: Path) -> None:
    exchange.bearer = "not-issued-yet"
    ews = backend(exchange, ca_file, auth="oauth2", client_id="app-id", client_secret=PASSWORD,
                  tenant_id="tenant", token_url=exchange.token_url)
    assert ews.list_items("INBOX") == []
    exchange.bearer = "tok-expired"  # the server no longer takes tok-1
    with pytest.raises(MailboxUnavailable, match="refused the credentials"):
        ews.list_items("INBOX")
    exchange.deliver(fax_mail())
    assert len(ews.list_items("INBOX")) == 1  # the source's next poll: a fresh token, and on
    assert len(exchange.token_requests) >= 2  # exchangelib may also try one refresh itself on the 401
    assert exchange.requests[-1].authorization == f"Bearer {exchange.bearer}" != "Bearer tok-1"


def test_server_busy_gives_its_back_off(exchange: FakeExchange, ca_file: Path) -> None:
    ews = backend(exchange, ca_file)
    ews.list_items("INBOX")
    exchange.busy_ms = [45000]
    with pytest.raises(MailboxUnavailable, match="busy") as raised:
        ews.list_items("INBOX")
    assert raised.value.retry_after == 45.0
    assert ews.list_items("INBOX") == []
