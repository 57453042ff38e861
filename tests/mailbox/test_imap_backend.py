"""The IMAP backend against a real Dovecot: list, fetch without marking read, move, find, APPEND, IDLE,
UIDVALIDITY, TLS verification and a refused login."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import trustme

from gateway.config.mailboxes import MailboxSection
from gateway.mailbox.backend import MailboxUnavailable
from gateway.mailbox.imap import ImapBackend
from tests.mailbox.conftest import FAX_USER, fax_mail, mailbox_entry
from tests.support.dovecot import Dovecot


def backend(server: Dovecot, **overrides: object) -> ImapBackend:
    return ImapBackend(MailboxSection.model_validate(mailbox_entry(server, **overrides)))


def test_list_fetch_move_find_append(dovecot: Dovecot) -> None:
    person = dovecot.client(FAX_USER)
    person.append("INBOX", fax_mail(message_id="<one@example.com>"))
    person.append("INBOX", fax_mail(message_id="<two@example.com>"))
    imap = backend(dovecot)
    imap.ensure_folder("Processed")
    imap.ensure_folder("Processed")  # a second time is no error
    ids = imap.list_items("INBOX")
    assert len(ids) == 2
    raw = imap.fetch_mime("INBOX", ids[0])
    assert raw is not None and b"<one@example.com>" in raw
    person.select_folder("INBOX")
    assert all(b"\\Seen" not in flags for flags in person.get_flags(person.search(["ALL"])).values())
    assert imap.find("INBOX", "<two@example.com>") == ids[1]
    assert imap.move("INBOX", ids[0], "Processed") is True
    assert imap.move("INBOX", ids[0], "Processed") is False  # already gone: no error
    assert imap.list_items("INBOX") == ids[1:]
    assert imap.find("Processed", "<one@example.com>") is not None
    imap.create_item("Processed", fax_mail(message_id="<fax-7@fax.test>"))
    assert imap.find("Processed", "<fax-7@fax.test>") is not None
    person.select_folder("Processed")
    assert len(person.search(["ALL"])) == 2
    imap.close()


def test_idle_reports_new_mail(dovecot: Dovecot) -> None:
    imap = backend(dovecot)
    imap.list_items("INBOX")
    outcome: list[bool | None] = []
    stop = threading.Event()
    waiter = threading.Thread(target=lambda: outcome.append(imap.wait_for_change("INBOX", 120, stop.is_set)))
    waiter.start()
    person = dovecot.client(FAX_USER)
    person.append("INBOX", fax_mail())
    waiter.join(150)
    stop.set()
    assert outcome == [True]
    assert len(imap.list_items("INBOX")) == 1  # the connection is usable after IDLE
    imap.close()


def test_idle_ends_when_asked_to_stop(dovecot: Dovecot) -> None:
    imap = backend(dovecot)
    assert imap.wait_for_change("INBOX", 120, lambda: True) is False
    imap.close()


def test_uidvalidity_change_makes_old_ids_stale(dovecot: Dovecot) -> None:
    person = dovecot.client(FAX_USER)
    person.create_folder("Drop")
    person.append("Drop", fax_mail(message_id="<same@example.com>"))
    imap = backend(dovecot)
    [old] = imap.list_items("Drop")
    person.delete_folder("Drop")
    person.create_folder("Drop")
    person.append("Drop", fax_mail(message_id="<same@example.com>"))
    [new] = imap.list_items("Drop")
    assert new != old and new.split(":")[0] != old.split(":")[0]
    assert imap.fetch_mime("Drop", old) is None
    assert imap.move("Drop", old, "INBOX") is False
    raw = imap.fetch_mime("Drop", new)
    assert raw is not None and b"<same@example.com>" in raw
    imap.close()


def test_implicit_tls_verified_with_the_configured_ca(dovecot: Dovecot, ca: trustme.CA, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    trusted = backend(dovecot, port=dovecot.tls_port, tls="implicit", ca_file=str(bundle))
    assert trusted.list_items("INBOX") == []
    trusted.close()
    untrusted = backend(dovecot, port=dovecot.tls_port, tls="implicit")
    with pytest.raises(MailboxUnavailable, match="cannot reach"):
        untrusted.connect()


def test_refused_login_is_unavailable_with_the_reason(dovecot: Dovecot) -> None:
    with pytest.raises(MailboxUnavailable, match="refused the login"):
        backend(dovecot, password="wrong").connect()


def test_server_down_is_unavailable(dovecot: Dovecot) -> None:
    imap = backend(dovecot)
    imap.list_items("INBOX")
    dovecot.stop()
    with pytest.raises(MailboxUnavailable):
        imap.list_items("INBOX")
    dovecot.start()
    assert imap.list_items("INBOX") == []  # reconnects by itself
    imap.close()
