"""SIGKILL at the worst moments, in a real child process, for each backend (a real Dovecot, the fake Exchange, the
fake Graph) and a real store: between storing a submission and moving its mail, and between creating a received
fax's item and recording that delivery. After a restart there is one submission (one fax) and one item."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from gateway.config import FaxgateConfig, parse_config
from gateway.mailbox.source import MailboxSource
from gateway.storage import Database
from gateway.storage import incoming as store
from gateway.storage import mailbox as mailbox_store
from gateway.storage.submissions import list_submissions
from routing.router import RoutingService
from tests.intake.conftest import Sink
from tests.mailbox.conftest import fax_mail, pdf_bytes
from tests.mailbox.servers import Mailbox
from tests.mailbox.test_delivery import FakeClock
from tests.routing.conftest import commit_fax, make_config, tiff_bytes

CHILD = """
import asyncio, json, os, signal, sys
from gateway.config import parse_config
import gateway.mailbox.source as source_module
from gateway.storage import Database

settings = json.loads(sys.argv[1])
config = parse_config(settings["config"])
real_backend = source_module.backend_for

class KilledWhen:
    def __init__(self, section):
        self.inner = real_backend(section)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def move(self, folder, item_id, target):
        if settings["kill"] == "move":
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.move(folder, item_id, target)

    def create_item(self, folder, mime):
        self.inner.create_item(folder, mime)
        if settings["kill"] == "created":
            os.kill(os.getpid(), signal.SIGKILL)

async def main():
    db = Database(settings["url"])
    if settings["kill"] == "move":
        await source_module.MailboxSource(config, db, config.mailboxes[0], KilledWhen).poll()
    else:
        source_module.backend_for = KilledWhen
        from routing.router import RoutingService
        await RoutingService(config, db).run_once()
    await db.close()

asyncio.run(main())
"""


def entry(box: Mailbox, **overrides: Any) -> dict[str, Any]:
    """The backend's [[mailboxes]] table as data."""
    return {"name": "faxbox", "owner": "alice", "poll_interval": "1h", **tomllib.loads(box.table()), **overrides}


def run_child(tmp_path: Path, config: FaxgateConfig, url: str, kill: str) -> None:
    """Run the child until it kills itself."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    settings = {"config": config.model_dump(mode="json", by_alias=True), "url": url, "kill": kill}
    done = subprocess.run([sys.executable, str(script), json.dumps(settings)], cwd=Path(__file__).parents[2],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr[-3000:]


async def test_sigkill_between_submit_and_move(tmp_path: Path, mailbox: Mailbox, db: Database,
                                               sink: Sink) -> None:
    config = parse_config({
        "server": {"data_dir": str(tmp_path / "data")},
        "security": {"users": [{"name": "alice", "email": "alice@example.com", "rights": ["submit_normal"]}]},
        "receipts": {"smtp_host": "127.0.0.1", "smtp_port": sink.port, "sender": "faxgate@fax.test"},
        "mailboxes": [entry(mailbox)],
    })
    mailbox.put(fax_mail(pdf=pdf_bytes("Crash"), message_id="<crash@example.com>"))
    run_child(tmp_path, config, db.engine.url.render_as_string(hide_password=False), "move")

    async with db.transaction() as conn:
        assert len(await list_submissions(conn)) == 1  # stored before the kill
        [item] = await mailbox_store.list_items(conn, "faxbox")
    assert (item.outcome, item.moved) == ("submitted", False)
    assert mailbox.message_ids("INBOX") == ["<crash@example.com>"]  # the move never happened

    source = MailboxSource(config, db, config.mailboxes[0])  # the restart
    await source.poll()
    await source.stop()
    async with db.transaction() as conn:
        assert len(await list_submissions(conn)) == 1  # one fax
        [item] = await mailbox_store.list_items(conn, "faxbox")
    assert item.moved
    assert mailbox.message_ids("INBOX") == []
    assert mailbox.message_ids("Processed") == ["<crash@example.com>"]  # one item


async def test_sigkill_between_create_item_and_its_record(tmp_path: Path, mailbox: Mailbox, db: Database) -> None:
    rule = {"name": "to-mailbox", "dids": ["100"], "mailbox": {"mailbox": "faxbox", "folder": "Faxes/Received"}}
    config = make_config(tmp_path, 9, {"rules": [rule]}, mailboxes=[entry(mailbox, intake=False, owner="")])
    job_id = await commit_fax(db, tiff_bytes(tmp_path), did="100")
    run_child(tmp_path, config, db.engine.url.render_as_string(hide_password=False), "created")
    assert len(mailbox.received_pdfs("Faxes/Received")) == 1
    async with db.transaction() as conn:
        deliveries: list[Any] = await store.deliveries(conn, job_id)
    assert deliveries and all(d.state == "pending" for d in deliveries)

    clock = FakeClock(now=1e10)  # the crashed node's claim has long expired
    assert await RoutingService(config, db, clock=clock).run_once() == job_id
    async with db.transaction() as conn:
        deliveries = await store.deliveries(conn, job_id)
    assert all(d.state == "delivered" for d in deliveries)
    assert len(mailbox.received_pdfs("Faxes/Received")) == 1
