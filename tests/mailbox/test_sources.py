"""Intake sources by name (entry points), and the named checks giving every source the same refusal."""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from gateway.config import ConfigError, parse_config
from gateway.intake import checks
from gateway.intake.checks import Refusal
from gateway.intake.rates import RateLimiter
from gateway.intake.smtp import SmtpListener
from gateway.intake.sources import INTAKE_SOURCES_GROUP, intake_sources
from gateway.mailbox.intake import MailboxIntake
from gateway.mailbox.source import MailboxSource
from gateway.storage import Database
from tests.intake.conftest import simple_mail, smtp_transaction, start_listener
from tests.mailbox.conftest import fax_mail
from tests.support.net import free_port


def test_sources_are_declared_as_entry_points() -> None:
    declared = {entry.name: entry.value for entry in entry_points(group=INTAKE_SOURCES_GROUP)}
    assert declared == {"smtp": "gateway.intake.smtp:smtp_sources",
                        "mailbox": "gateway.mailbox.source:mailbox_sources"}


def config_with_mailbox(tmp_path: Path, **intake: object) -> object:
    return parse_config({
        "server": {"data_dir": str(tmp_path)},
        "smtp": {"listen": f"127.0.0.1:{free_port()}"},
        "security": {"users": [{"name": "alice", "email": "alice@example.com", "rights": ["submit_normal"]}]},
        "mailboxes": [{"name": "faxbox", "host": "127.0.0.1", "username": "u", "owner": "alice"},
                      {"name": "deliver-only", "host": "127.0.0.1", "username": "u", "intake": False}],
        "intake": intake,
    })


async def test_configured_sources_in_order(tmp_path: Path) -> None:
    config = config_with_mailbox(tmp_path)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    sources = intake_sources(config, db)  # type: ignore[arg-type]
    assert [type(s) for s in sources] == [SmtpListener, MailboxSource]  # a delivery-only mailbox takes no mail
    assert [s.name for s in sources] == ["smtp", "mailbox:faxbox"]
    only_mail = intake_sources(config_with_mailbox(tmp_path, sources=["mailbox"]), db)  # type: ignore[arg-type]
    assert [s.name for s in only_mail] == ["mailbox:faxbox"]
    with pytest.raises(ValueError, match="'fax-over-ftp'"):
        intake_sources(config_with_mailbox(tmp_path, sources=["fax-over-ftp"]), db)  # type: ignore[arg-type]
    await db.close()


def test_a_mailbox_owner_must_be_a_user(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mailboxes\[0\].owner: 'nobody' is not a user"):
        parse_config({"mailboxes": [{"name": "m", "host": "h", "username": "u", "owner": "nobody"}]})


async def test_smtp_and_a_mailbox_refuse_a_forbidden_number_alike(tmp_path: Path) -> None:
    """The same check, code and words, whichever way the mail came."""
    config = parse_config({
        "server": {"data_dir": str(tmp_path / "data")},
        "smtp": {"listen": f"127.0.0.1:{free_port()}"},
        "security": {"trusted_networks": [{"network": "127.0.0.1/32"}],
                     "users": [{"name": "alice", "email": "alice@example.com", "rights": ["submit_normal"]}]},
        "mailboxes": [{"name": "faxbox", "host": "127.0.0.1", "username": "u", "owner": "alice"}],
    })
    gateway = await start_listener(config)
    try:
        reply = await asyncio.to_thread(smtp_transaction, gateway.port, "alice@example.com",
                                        ["+442079460018@fax.localhost"], simple_mail(to="+442079460018@fax.localhost"))
        intake = MailboxIntake(config, config.mailboxes[0], RateLimiter(gateway.db, 0, 3600))
        refused = await intake.judge(fax_mail(to="+442079460018@fax.localhost"), queue_blocked=False)
    finally:
        await gateway.stop()
    assert isinstance(refused, Refusal) and refused.check == "number"
    assert reply.rcpt == [(int(refused.code[:3]), f"{refused.code[4:]} {refused.reason}")]
    assert refused.check in checks.CHECKS


@pytest.mark.parametrize(("table", "problem"), [
    ({"backend": "imap"}, "needs host and username"),
    ({"backend": "ews", "username": "u"}, "needs endpoint"),
    ({"backend": "ews", "endpoint": "https://mail.example.com/EWS/Exchange.asmx", "auth": "oauth2"},
     "needs client_id and client_secret"),
    ({"backend": "graph", "client_id": "c", "client_secret": "s"}, "needs client_id, client_secret, tenant_id"),
    ({"backend": "imap", "host": "h", "username": "u", "processed_folder": "INBOX"}, "three different folders"),
])
def test_each_backend_says_what_it_lacks(table: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_config({"security": {"users": [{"name": "alice"}]},
                      "mailboxes": [{"name": "m", "owner": "alice", **table}]})
