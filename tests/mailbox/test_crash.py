"""SIGKILL at the worst moments, in a real child process against the real Dovecot and store: between storing a
submission and moving its mail, and between creating a received fax's item and recording that delivery. After a
restart there is one submission (one fax) and one item, never two."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.config import FaxgateConfig
from gateway.mailbox.source import MailboxSource
from gateway.storage import Database
from gateway.storage import incoming as store
from gateway.storage import mailbox as mailbox_store
from gateway.storage.submissions import list_submissions
from routing.router import RoutingService
from tests.intake.conftest import Sink
from tests.mailbox.conftest import fax_mail, mailbox_config, pdf_bytes
from tests.mailbox.test_delivery import FakeClock, routing_config, stored
from tests.mailbox.test_source import folder_ids, put
from tests.routing.conftest import commit_fax, tiff_bytes
from tests.support.dovecot import Dovecot

CHILD = """
import asyncio, json, os, signal, sys
from gateway.config import parse_config
from gateway.mailbox.imap import ImapBackend
import gateway.mailbox.source as source_module
from gateway.storage import Database

settings = json.loads(sys.argv[1])
config = parse_config(settings["config"])

class KilledWhen(ImapBackend):
    def move(self, folder, item_id, target):
        if settings["kill"] == "move":
            os.kill(os.getpid(), signal.SIGKILL)
        return super().move(folder, item_id, target)

    def create_item(self, folder, mime):
        super().create_item(folder, mime)
        if settings["kill"] == "created":
            os.kill(os.getpid(), signal.SIGKILL)

async def main():
    db = Database(settings["url"])
    if settings["kill"] == "move":
        source = source_module.MailboxSource(config, db, config.mailboxes[0], KilledWhen)
        await source.poll()
    else:
        source_module.backend_for = KilledWhen
        from routing.router import RoutingService
        await RoutingService(config, db).run_once()
    await db.close()

asyncio.run(main())
"""


def run_child(tmp_path: Path, config: FaxgateConfig, url: str, kill: str) -> int:
    """Run the child until it kills itself; its exit status."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    settings = {"config": config.model_dump(mode="json", by_alias=True), "url": url, "kill": kill}
    done = subprocess.run([sys.executable, str(script), json.dumps(settings)], cwd=Path(__file__).parents[2],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr[-3000:]
    return done.returncode


async def test_sigkill_between_submit_and_move(tmp_path: Path, dovecot: Dovecot, db: Database, sink: Sink) -> None:
    config = mailbox_config(tmp_path, dovecot, sink.port)
    put(dovecot, fax_mail(pdf=pdf_bytes("Crash"), message_id="<crash@example.com>"))
    run_child(tmp_path, config, str(db.engine.url), "move")

    async with db.transaction() as conn:
        assert len(await list_submissions(conn)) == 1  # stored before the kill
        [item] = await mailbox_store.list_items(conn, "faxbox")
    assert (item.outcome, item.moved) == ("submitted", False)
    assert folder_ids(dovecot, "INBOX") == ["<crash@example.com>"]  # the move never happened

    source = MailboxSource(config, db, config.mailboxes[0])  # the restart
    await source.poll()
    await source.stop()
    async with db.transaction() as conn:
        assert len(await list_submissions(conn)) == 1  # one fax
        [item] = await mailbox_store.list_items(conn, "faxbox")
    assert item.moved
    assert folder_ids(dovecot, "INBOX") == []
    assert folder_ids(dovecot, "Processed") == ["<crash@example.com>"]  # one item


async def test_sigkill_between_create_item_and_its_record(tmp_path: Path, dovecot: Dovecot, db: Database) -> None:
    config = routing_config(tmp_path, dovecot)
    job_id = await commit_fax(db, tiff_bytes(tmp_path), did="100")
    run_child(tmp_path, config, str(db.engine.url), "created")
    assert len(stored(dovecot, "Faxes/Received")) == 1
    async with db.transaction() as conn:
        deliveries: list[Any] = await store.deliveries(conn, job_id)
    assert [d.state for d in deliveries] != [] and all(d.state == "pending" for d in deliveries)

    clock = FakeClock(now=1e10)  # the crashed node's claim has long expired
    assert await RoutingService(config, db, clock=clock).run_once() == job_id
    async with db.transaction() as conn:
        deliveries = await store.deliveries(conn, job_id)
    assert all(d.state == "delivered" for d in deliveries)
    assert len(stored(dovecot, "Faxes/Received")) == 1
