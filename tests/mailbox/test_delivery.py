"""Inbound routing into a mailbox: the received fax lands once as a mail with its PDF in the configured folder,
also after a crash between creating the item and recording the delivery; a server that is down is retried."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from gateway.config import FaxgateConfig
from gateway.enums import JobStatus
from gateway.storage import Database
from gateway.storage import incoming as store
from routing.router import RoutingService
from tests.mailbox.conftest import FAX_USER, mailbox_entry
from tests.routing.conftest import commit_fax, fax_pages, make_config, tiff_bytes
from tests.support.dovecot import Dovecot


class FakeClock:
    """Routing's notion of now, moved by the test."""

    def __init__(self, now: float = 1_763_712_100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def routing_config(tmp_path: Path, dovecot: Dovecot, **action: Any) -> FaxgateConfig:
    rule = {"name": "to-mailbox", "dids": ["100"],
            "mailbox": {"mailbox": "faxbox", "folder": "Faxes/Received", **action}}
    entry = mailbox_entry(dovecot, intake=False)
    del entry["owner"]
    return make_config(tmp_path, 9, {"rules": [rule]}, mailboxes=[entry])


def stored(dovecot: Dovecot, folder: str) -> list[Any]:
    client = dovecot.client(FAX_USER)
    try:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder)
        found = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"])
        return [message_from_bytes(data[b"BODY[]"], policy=policy.default) for data in found.values()]
    finally:
        client.logout()


async def test_received_fax_lands_in_the_folder_with_its_pdf(tmp_path: Path, dovecot: Dovecot, db: Database) -> None:
    from gateway.queue.documents import load_pymupdf

    config = routing_config(tmp_path, dovecot, format="both", subject="Fax {id} from {caller_id}")
    job_id = await commit_fax(db, tiff_bytes(tmp_path, fax_pages(2)), did="100", caller_id="+15551234567")
    router = RoutingService(config, db, clock=FakeClock())
    assert await router.run_once() == job_id
    async with db.transaction() as conn:
        record = await store.get(conn, job_id)
    assert record is not None and record.job.status == JobStatus.COMPLETED, record.job.routing_status
    [mail] = stored(dovecot, "Faxes/Received")
    assert mail["Subject"] == f"Fax {job_id} from +15551234567"
    assert mail["X-Faxgate-Incoming-Job"] == str(job_id)
    names = [part.get_filename() for part in mail.iter_attachments()]
    assert [name.rsplit(".", 1)[1] for name in names] == ["pdf", "tif"]
    pdf = next(part for part in mail.iter_attachments() if part.get_filename().endswith(".pdf"))
    assert load_pymupdf().open(stream=pdf.get_content(), filetype="pdf").page_count == 2
    assert "A fax was received." in mail.get_body(("plain",)).get_content()


async def test_a_repeated_delivery_creates_no_second_item(tmp_path: Path, dovecot: Dovecot, db: Database) -> None:
    """The crash between creating the item and recording it: routing runs the delivery again; one item remains."""
    config = routing_config(tmp_path, dovecot)
    job_id = await commit_fax(db, tiff_bytes(tmp_path), did="100")
    clock = FakeClock()
    router = RoutingService(config, db, clock=clock)
    assert await router.run_once() == job_id
    async with db.transaction() as conn:
        assert await store.reroute(conn, job_id, clock.now)  # every delivery pending again, as after a crash
    assert await router.run_once() == job_id
    assert len(stored(dovecot, "Faxes/Received")) == 1


async def test_server_down_is_retried(tmp_path: Path, dovecot: Dovecot, db: Database) -> None:
    config = routing_config(tmp_path, dovecot)
    job_id = await commit_fax(db, tiff_bytes(tmp_path), did="100")
    clock = FakeClock()
    router = RoutingService(config, db, clock=clock)
    dovecot.stop()
    assert await router.run_once() == job_id
    async with db.transaction() as conn:
        record = await store.get(conn, job_id)
    assert record is not None and record.job.status == JobStatus.RETRYING
    assert "mailbox faxbox: cannot reach the IMAP server" in record.job.routing_status
    dovecot.start()
    clock.now += 3600
    assert await router.run_once() == job_id
    assert len(stored(dovecot, "Faxes/Received")) == 1


async def test_per_device_settings_from_the_extension_store(tmp_path: Path, dovecot: Dovecot, db: Database) -> None:
    """A rule that names the method without settings takes them from the device's stored configuration."""
    from routing.extconfig import ExtensionConfigStore
    from routing.methods.mailbox import MAILBOX_GUID
    from routing.router import device_ids

    entry = mailbox_entry(dovecot, intake=False)
    del entry["owner"]
    config = make_config(tmp_path, 9, {"rules": [{"name": "by-device", "methods": {"mailbox": {}}}]},
                         mailboxes=[entry])
    extensions = ExtensionConfigStore(db, device_ids(config))
    await extensions.set_json(device_ids(config)["fax0"], MAILBOX_GUID, {"mailbox": "faxbox", "folder": "Fax0"},
                              writer="admin")
    job_id = await commit_fax(db, tiff_bytes(tmp_path), device="fax0")
    router = RoutingService(config, db, clock=FakeClock(), extensions=extensions)
    assert await router.run_once() == job_id
    assert len(stored(dovecot, "Fax0")) == 1
