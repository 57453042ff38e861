"""The mailbox source against a real Dovecot and a real store: mail becomes a submission through the SMTP checks,
is moved after it is recorded, refused mail is bounced and moved to Failed, and nothing is faxed twice."""

from __future__ import annotations

import asyncio
import logging
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from gateway.config import FaxgateConfig
from gateway.mailbox.imap import ImapBackend
from gateway.mailbox.source import MailboxSource
from gateway.model import Submission
from gateway.storage import Database
from gateway.storage import mailbox as store
from gateway.storage.jobs import set_queue_state
from gateway.storage.submissions import list_submissions
from tests.intake.conftest import Sink
from tests.mailbox.conftest import fax_mail, mailbox_config, pdf_bytes
from tests.mailbox.servers import FAX_USER, folder_ids, put
from tests.support.dovecot import Dovecot


async def submissions(db: Database) -> list[Submission]:
    async with db.transaction() as conn:
        return await list_submissions(conn)


def config_for(tmp_path: Path, dovecot: Dovecot, sink: Sink, **overrides: Any) -> FaxgateConfig:
    return mailbox_config(tmp_path, dovecot, sink.port, **overrides)


async def test_mail_becomes_one_submission_and_moves(tmp_path: Path, dovecot: Dovecot, db: Database,
                                                      sink: Sink) -> None:
    config = config_for(tmp_path, dovecot, sink)
    put(dovecot, fax_mail(to='"Acme Billing" <5551234@fax.localhost>', cc="someone@example.com, 5550199@fax.localhost",
                          pdf=pdf_bytes("Invoice"), message_id="<inv-1@example.com>"))
    source = MailboxSource(config, db, config.mailboxes[0])
    await source.poll()
    assert source.state == "ready"
    [submission] = await submissions(db)
    assert (submission.source, submission.principal, submission.envelope_from) == ("imap", "alice",
                                                                                   "alice@example.com")
    assert [(r["number"], r["name"]) for r in submission.recipients] == [("5551234", "Acme Billing"),
                                                                         ("5550199", "")]
    assert submission.subject == "Invoice"
    assert folder_ids(dovecot, "INBOX") == []
    assert folder_ids(dovecot, "Processed") == ["<inv-1@example.com>"]
    async with db.transaction() as conn:
        [item] = await store.list_items(conn, "faxbox")
    assert (item.outcome, item.submission_id, item.moved) == ("submitted", submission.id, True)
    await source.poll()  # nothing new
    assert len(await submissions(db)) == 1
    await source.stop()


async def test_refused_mail_is_bounced_with_the_check_and_moved_to_failed(tmp_path: Path, dovecot: Dovecot,
                                                                           db: Database, sink: Sink) -> None:
    config = config_for(tmp_path, dovecot, sink)
    put(dovecot, fax_mail(to="+442079460018@fax.localhost", message_id="<abroad@example.com>"))
    put(dovecot, fax_mail(to="colleague@example.com", message_id="<nofax@example.com>"))
    source = MailboxSource(config, db, config.mailboxes[0])
    await source.poll()
    assert await submissions(db) == []
    assert folder_ids(dovecot, "Failed") == ["<abroad@example.com>", "<nofax@example.com>"]
    assert folder_ids(dovecot, "INBOX") == []
    bounces = [message_from_bytes(raw, policy=policy.default) for _, _, raw in sink.messages]
    assert [rcpts for _, rcpts, _ in sink.messages] == [["alice@example.com"], ["alice@example.com"]]
    texts = [str(b.get_body(("plain",)).get_content()) for b in bounces]  # type: ignore[union-attr]
    assert "international" in texts[0].lower()
    assert "names no fax address" in texts[1]
    async with db.transaction() as conn:
        items = await store.list_items(conn, "faxbox")
    assert [(i.outcome, i.bounced, i.moved) for i in items] == [("refused", True, True)] * 2
    assert items[0].reason.startswith("550 5.7.1")
    await source.stop()


async def test_mapped_sender_gets_their_own_rights(tmp_path: Path, dovecot: Dovecot, db: Database,
                                                   sink: Sink) -> None:
    config = config_for(tmp_path, dovecot, sink, senders={"boss@example.com": "boss"})
    put(dovecot, fax_mail(to="+442079460018@fax.localhost", sender="boss@example.com"))
    source = MailboxSource(config, db, config.mailboxes[0])
    await source.poll()
    [submission] = await submissions(db)
    assert (submission.principal, submission.recipients[0]["number"]) == ("boss", "+442079460018")
    await source.stop()


async def test_allowed_senders_refuse_others(tmp_path: Path, dovecot: Dovecot, db: Database,
                                             sink: Sink) -> None:
    config = config_for(tmp_path, dovecot, sink, allowed_senders=["@example.com"])
    put(dovecot, fax_mail(sender="mallory@elsewhere.test", message_id="<m@elsewhere.test>"))
    put(dovecot, fax_mail(sender="alice@example.com", message_id="<a@example.com>"))
    source = MailboxSource(config, db, config.mailboxes[0])
    await source.poll()
    assert [s.envelope_from for s in await submissions(db)] == ["alice@example.com"]
    assert folder_ids(dovecot, "Failed") == ["<m@elsewhere.test>"]
    await source.stop()


async def test_blocked_queue_leaves_mail_for_later(tmp_path: Path, dovecot: Dovecot, db: Database,
                                                   sink: Sink) -> None:
    config = config_for(tmp_path, dovecot, sink)
    async with db.transaction() as conn:
        await set_queue_state(conn, {"blocked": True, "paused": False}, 0.0)
    put(dovecot, fax_mail(message_id="<later@example.com>"))
    source = MailboxSource(config, db, config.mailboxes[0])
    await source.poll()
    assert await submissions(db) == [] and sink.messages == []
    assert folder_ids(dovecot, "INBOX") == ["<later@example.com>"]
    async with db.transaction() as conn:
        await set_queue_state(conn, {"blocked": False, "paused": False}, 0.0)
    await source.poll()
    assert len(await submissions(db)) == 1
    assert folder_ids(dovecot, "Processed") == ["<later@example.com>"]
    await source.stop()


async def test_recorded_mail_is_moved_not_faxed_again(tmp_path: Path, dovecot: Dovecot, db: Database,
                                                      sink: Sink) -> None:
    """A crash after the record and before the move, and a person moving a processed mail back, end the same way."""
    config = config_for(tmp_path, dovecot, sink)
    put(dovecot, fax_mail(message_id="<once@example.com>"))
    source = MailboxSource(config, db, config.mailboxes[0])
    await source.poll()
    assert folder_ids(dovecot, "Processed") == ["<once@example.com>"]
    person = dovecot.client(FAX_USER)
    person.select_folder("Processed")
    person.move(person.search(["ALL"]), "INBOX")
    person.logout()
    await source.poll()
    assert len(await submissions(db)) == 1
    assert folder_ids(dovecot, "Processed") == ["<once@example.com>"]
    assert folder_ids(dovecot, "INBOX") == []
    await source.stop()


class PersonMovesItAway(ImapBackend):
    """The real backend; a person moves the mail to another folder right after faxgate has read it."""

    def fetch_mime(self, folder: str, item_id: str) -> bytes | None:
        raw = super().fetch_mime(folder, item_id)
        person = self.person
        person.select_folder(folder)
        person.move(person.search(["ALL"]), "Elsewhere")
        return raw


async def test_mail_moved_by_a_person_meanwhile_is_no_error(tmp_path: Path, dovecot: Dovecot, db: Database,
                                                            sink: Sink) -> None:
    config = config_for(tmp_path, dovecot, sink)
    person = dovecot.client(FAX_USER)
    person.create_folder("Elsewhere")
    put(dovecot, fax_mail(message_id="<snatched@example.com>"))

    def factory(section: Any) -> ImapBackend:
        backend = PersonMovesItAway(section)
        backend.person = person  # type: ignore[attr-defined]
        return backend

    source = MailboxSource(config, db, config.mailboxes[0], factory)
    await source.poll()
    assert source.state == "ready", source.reason
    assert len(await submissions(db)) == 1  # it was read whole before it went: faxed once
    assert folder_ids(dovecot, "Elsewhere") == ["<snatched@example.com>"]
    assert folder_ids(dovecot, "Processed") == []
    person.logout()
    await source.stop()


async def test_uidvalidity_change_does_not_fax_again(tmp_path: Path, dovecot: Dovecot, db: Database,
                                                     sink: Sink) -> None:
    config = config_for(tmp_path, dovecot, sink, folder="FaxOut")
    person = dovecot.client(FAX_USER)
    person.create_folder("FaxOut")
    raw = fax_mail(message_id="<rebuilt@example.com>")
    person.append("FaxOut", raw)
    source = MailboxSource(config, db, config.mailboxes[0])
    await source.poll()
    person.delete_folder("FaxOut")
    person.create_folder("FaxOut")  # a new UIDVALIDITY, and the same mail in it again
    person.append("FaxOut", raw)
    person.logout()
    await source.poll()
    assert len(await submissions(db)) == 1
    assert folder_ids(dovecot, "FaxOut") == []
    await source.stop()


async def test_outage_is_one_state_change_each_way_and_loses_nothing(tmp_path: Path, dovecot: Dovecot, db: Database,
                                                                     sink: Sink, caplog: pytest.LogCaptureFixture,
                                                                     ) -> None:
    config = config_for(tmp_path, dovecot, sink)
    source = MailboxSource(config, db, config.mailboxes[0])
    await source.poll()
    assert source.state == "ready"
    dovecot.stop()
    caplog.set_level(logging.INFO)
    caplog.clear()  # only what follows: an earlier test may have left INFO on, so the first poll's line was kept
    for _ in range(3):
        await source.poll()
    assert source.state == "retrying" and "cannot reach the IMAP server" in source.reason
    assert source.failures == 3 and source.retry_at is not None
    put_while_down = fax_mail(message_id="<during@example.com>")
    dovecot.start()
    put(dovecot, put_while_down)
    await source.poll()
    assert source.state == "ready" and source.failures == 0
    states = [r.getMessage() for r in caplog.records if "mailbox.state" in r.getMessage()]
    assert len(states) == 2, states  # ready -> retrying, retrying -> ready: not one line per failed poll
    assert len(await submissions(db)) == 1
    assert folder_ids(dovecot, "Processed") == ["<during@example.com>"]
    await source.stop()


async def test_idle_takes_new_mail_without_waiting_for_the_interval(tmp_path: Path, dovecot: Dovecot, db: Database,
                                                                    sink: Sink) -> None:
    config = config_for(tmp_path, dovecot, sink, poll_interval="1h")
    source = MailboxSource(config, db, config.mailboxes[0])
    await source.start()
    while source.polls < 1:  # the first poll runs at start
        await asyncio.sleep(0.05)
    put(dovecot, fax_mail(message_id="<pushed@example.com>"))
    for _ in range(1200):  # only IDLE can make a poll happen before the hour is up
        if await submissions(db):
            break
        await asyncio.sleep(0.1)
    assert len(await submissions(db)) == 1
    await source.stop()
    assert source.state == "stopped"


async def test_two_nodes_polling_one_mailbox_fax_each_mail_once(tmp_path: Path, dovecot: Dovecot, db: Database,
                                                                sink: Sink) -> None:
    """Nodes sharing a store may poll the same mailbox: the record's key lets one of them take each mail."""
    config = config_for(tmp_path, dovecot, sink)
    for number in range(4):
        put(dovecot, fax_mail(message_id=f"<shared-{number}@example.com>"))
    first = MailboxSource(config, db, config.mailboxes[0], node_id="node-a")
    second = MailboxSource(config, db, config.mailboxes[0], node_id="node-b")
    await asyncio.gather(first.poll(), second.poll())
    assert (first.state, second.state) == ("ready", "ready"), (first.reason, second.reason)
    assert len(await submissions(db)) == 4
    assert folder_ids(dovecot, "Processed") == [f"<shared-{number}@example.com>" for number in range(4)]
    assert folder_ids(dovecot, "INBOX") == []
    await first.stop()
    await second.stop()


async def test_a_mail_another_node_is_moving_is_left_to_it_until_its_claim_lapses(
        tmp_path: Path, dovecot: Dovecot, db: Database, sink: Sink) -> None:
    from sqlalchemy import update

    from gateway.storage.schema import mailbox_items

    config = config_for(tmp_path, dovecot, sink)
    put(dovecot, fax_mail(message_id="<claimed@example.com>"))
    async with db.transaction() as conn:  # node-x recorded it and (say) crashed before the move
        await store.record_item(conn, mailbox="faxbox", message_key="<claimed@example.com>", item_id="",
                                outcome="submitted", target_folder="Processed", node_id="node-x", lease_s=3600)
    source = MailboxSource(config, db, config.mailboxes[0], node_id="node-a")
    await source.poll()
    assert folder_ids(dovecot, "INBOX") == ["<claimed@example.com>"]  # node-x may still be moving it
    async with db.transaction() as conn:
        await conn.execute(update(mailbox_items).values(claimed_until=0.0))  # its claim has lapsed
    await source.poll()
    assert folder_ids(dovecot, "Processed") == ["<claimed@example.com>"]
    assert await submissions(db) == []  # node-x's record stands: nothing is faxed again
    await source.stop()
