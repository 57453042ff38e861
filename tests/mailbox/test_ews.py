"""The EWS backend: the real exchangelib against a local fake EWS server over HTTPS with a test CA, asserting on
the SOAP faxgate sent; Basic and OAuth2 client credentials; the mailbox source on it; outages."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from email import message_from_bytes, policy
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
from gateway.storage.mailbox import read_sync_state
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
    [sync] = sent(exchange, "SyncFolderItems")
    assert sync.find("m:SyncFolderId/t:DistinguishedFolderId", NS).get("Id") == "inbox"
    assert sync.findtext("m:ItemShape/t:BaseShape", namespaces=NS) == "IdOnly"
    assert sync.find("m:SyncState", NS) is None  # the first round: the whole folder
    [get] = sent(exchange, "GetItem")
    assert "item:MimeContent" in [f.get("FieldURI") for f in get.iterfind(".//t:FieldURI", NS)]
    assert get.find("m:ItemIds/t:ItemId", NS).get("Id") == item_id
    updates = sent(exchange, "UpdateItem")  # marked read before the move, both times (the second finds it gone)
    assert [u.find("m:ItemChanges/t:ItemChange/t:ItemId", NS).get("Id") for u in updates] == [item_id] * 2
    update = updates[0]
    assert (update.get("ConflictResolution"), update.get("SuppressReadReceipts")) == ("AlwaysOverwrite", "true")
    field = update.find(".//t:Updates/t:SetItemField", NS)
    assert field.find("t:FieldURI", NS).get("FieldURI") == "message:IsRead"
    assert field.findtext("t:Message/t:IsRead", namespaces=NS) in ("true", "1")  # xs:boolean
    [moved_item] = exchange.in_folder("Processed")
    assert moved_item.is_read
    [move] = sent(exchange, "MoveItem")  # not sent for the mail that was gone
    processed = exchange.folder_named("Processed")
    assert processed is not None
    assert move.find("m:ToFolderId/t:FolderId", NS).get("Id") == processed.id
    assert exchange.operations().index("UpdateItem") < exchange.operations().index("MoveItem")
    [create] = sent(exchange, "CreateItem")
    assert create.get("MessageDisposition") == "SaveOnly"
    attachment = create.find("m:Items/t:Message/t:Attachments/t:FileAttachment", NS)
    assert attachment.findtext("t:Name", namespaces=NS) == "invoice.pdf"
    assert base64.b64decode(attachment.findtext("t:Content", namespaces=NS)) == pdf
    assert create.findtext("m:Items/t:Message/t:InternetMessageId", namespaces=NS) == "<fax-9@fax.test>"
    [restricted] = [op for op in sent(exchange, "FindItem") if op.find("m:Restriction", NS) is not None]
    field = restricted.find(".//t:IsEqualTo/t:FieldURI", NS)
    assert field.get("FieldURI") == "message:InternetMessageId"


def test_sync_folder_items_pages_then_asks_only_for_changes_and_resumes_a_stored_state(
        exchange: FakeExchange, ca_file: Path) -> None:
    exchange.sync_page = 2
    first_ids = [exchange.deliver(fax_mail(message_id=f"<s{n}@example.com>")) for n in range(3)]
    ews = backend(exchange, ca_file)
    ews.ensure_folder("Processed")
    assert ews.list_items("INBOX") == first_ids
    rounds = sent(exchange, "SyncFolderItems")
    assert len(rounds) == 2  # three changes in pages of two: the second page asks with the first page's state
    assert rounds[0].find("m:SyncState", NS) is None and rounds[1].findtext("m:SyncState", namespaces=NS)

    assert ews.move("INBOX", first_ids[0], "Processed") is True
    newer = exchange.deliver(fax_mail(message_id="<s9@example.com>"))
    state = ews.sync_state()["INBOX"]["sync"]
    assert ews.list_items("INBOX") == [*first_ids[1:], newer]  # the move is a Delete, the new mail a Create
    asked = sent(exchange, "SyncFolderItems")[2]
    assert asked.findtext("m:SyncState", namespaces=NS) == state  # only the changes since the last round

    stored = ews.sync_state()
    restarted = backend(exchange, ca_file)  # a new process: only the store's copy of the state
    restarted.resume(stored)
    before = len(exchange.requests)
    assert restarted.list_items("INBOX") == [*first_ids[1:], newer]  # the mails left for later, no full resync
    [resumed] = [etree.fromstring(r.xml).find("s:Body", NS)[0] for r in exchange.requests[before:]
                 if r.operation == "SyncFolderItems"]
    assert resumed.findtext("m:SyncState", namespaces=NS) == stored["INBOX"]["sync"]


def test_a_sync_state_the_server_refuses_starts_the_folder_over(exchange: FakeExchange, ca_file: Path) -> None:
    item = exchange.deliver(fax_mail())
    ews = backend(exchange, ca_file)
    assert ews.list_items("INBOX") == [item]
    exchange.forget_sync_states()  # ErrorInvalidSyncStateData from now on for the old state
    assert ews.list_items("INBOX") == [item]
    refused, again = sent(exchange, "SyncFolderItems")[1:]
    assert refused.findtext("m:SyncState", namespaces=NS) and again.find("m:SyncState", NS) is None


def test_an_item_the_server_cannot_give_as_mime_is_rebuilt_with_get_attachment(exchange: FakeExchange,
                                                                                ca_file: Path) -> None:
    pdf = pdf_bytes("Rebuilt")
    item = exchange.deliver(fax_mail(message_id="<no-mime@example.com>", subject="Invoice 7",
                                     cc="5559876@fax.localhost", pdf=pdf), mime_fails=True)
    raw = backend(exchange, ca_file).fetch_mime("INBOX", item)
    assert raw is not None
    rebuilt = message_from_bytes(raw, policy=policy.default)
    assert (rebuilt["Message-ID"], rebuilt["Subject"]) == ("<no-mime@example.com>", "Invoice 7")
    assert (rebuilt["From"], rebuilt["To"], rebuilt["Cc"]) == ("alice@example.com", "5551234@fax.localhost",
                                                               "5559876@fax.localhost")
    assert rebuilt.get_body(("plain",)).get_content().strip() == "Please fax the attached invoice."
    [attachment] = rebuilt.iter_attachments()
    assert (attachment.get_filename(), attachment.get_content_type()) == ("invoice.pdf", "application/pdf")
    assert attachment.get_content() == pdf
    with_mime, properties = sent(exchange, "GetItem")
    assert "item:MimeContent" in [f.get("FieldURI") for f in with_mime.iterfind(".//t:FieldURI", NS)]
    asked = {f.get("FieldURI") for f in properties.iterfind(".//t:FieldURI", NS)}
    assert {"item:Attachments", "message:From", "message:InternetMessageId"} <= asked
    assert "item:MimeContent" not in asked
    [get_attachment] = sent(exchange, "GetAttachment")
    assert [a.get("Id") for a in get_attachment.iterfind("m:AttachmentIds/t:AttachmentId", NS)] == [f"{item}.A0"]


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
    exchange.deliver(fax_mail(message_id="<ews-2@example.com>", pdf=pdf_bytes("No MIME")), mime_fails=True)
    await source.poll()
    assert source.state == "ready" and source.failures == 0  # faxed from its properties and attachment
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


async def test_a_restarted_source_resumes_the_stored_sync_state(tmp_path: Path, exchange: FakeExchange,
                                                                ca_file: Path, db: Database, sink: Sink) -> None:
    """The SyncState and the mails still in the folder are kept in the store: a new source (a restart) asks only
    for the changes since, and still finishes the mail whose move the outage interrupted, faxing it once."""
    from gateway.config import parse_config

    config = parse_config({
        "server": {"data_dir": str(tmp_path / "data")},
        "security": {"users": [{"name": "alice", "email": "alice@example.com", "rights": ["submit_normal"]}]},
        "receipts": {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "sender": "faxgate@fax.test"},
        "mailboxes": [ews_entry(exchange, ca_file)],
    })
    for number in (1, 2):
        exchange.deliver(fax_mail(message_id=f"<e-{number}@example.com>"))
    exchange.fail_on = [("MoveItem", 503)]  # the first move fails: e-1 is recorded (and read) but stays
    first = MailboxSource(config, db, config.mailboxes[0])
    await first.poll()
    assert first.state == "retrying"
    await first.stop()
    async with db.transaction() as conn:
        stored = await read_sync_state(conn, "exchange")
    assert stored["INBOX"]["sync"] and len(stored["INBOX"]["known"]) == 2

    exchange.deliver(fax_mail(message_id="<e-3@example.com>"))
    before = len(exchange.requests)
    restarted = MailboxSource(config, db, config.mailboxes[0])
    await restarted.poll()
    assert restarted.state == "ready", restarted.reason
    syncs = [etree.fromstring(r.xml).find("s:Body", NS)[0] for r in exchange.requests[before:]
             if r.operation == "SyncFolderItems"]
    assert syncs[0].findtext("m:SyncState", namespaces=NS) == stored["INBOX"]["sync"]  # not the whole folder
    async with db.transaction() as conn:
        assert len(await list_submissions(conn)) == 3  # e-1 once, though both sources listed it
    assert sorted(i.message_id for i in exchange.in_folder("Processed")) == [f"<e-{n}@example.com>"
                                                                            for n in (1, 2, 3)]
    assert all(item.is_read for item in exchange.in_folder("Processed"))
    await restarted.stop()


def test_ntlm_is_a_real_handshake(ca: trustme.CA, ca_file: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """requests_ntlm (through exchangelib) against pyspnego as the acceptor, which checks the NTLMv2 response
    against the user file; a wrong password is refused by the handshake itself."""
    users = tmp_path / "ntlm-users"
    users.write_text(f":{USER}:{PASSWORD}\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    fake = FakeExchange(ca, user=USER, password=PASSWORD, ntlm=True).serve()
    try:
        item = fake.deliver(fax_mail())
        assert backend(fake, ca_file, auth="ntlm").list_items("INBOX") == [item]
        assert fake.ntlm_negotiations >= 1
        assert {r.authorization for r in fake.requests} == {f"NTLM {USER}"}  # what the acceptor authenticated
        with pytest.raises(MailboxUnavailable, match="refused the credentials"):
            backend(fake, ca_file, auth="ntlm", password="wrong").list_items("INBOX")
    finally:
        fake.close()
