"""Deliveries from the store: folder and e-mail as the rules say, retry with backoff, and crash safety."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import FaxgateConfig, parse_config
from gateway.enums import JobStatus
from gateway.storage import Database
from gateway.storage import incoming as store
from routing.router import RoutingService
from tests.routing.conftest import Sink, commit_fax, make_config, start_sink, tiff_bytes
from tests.support.net import free_port

RULES: dict[str, Any] = {
    "rules": [
        {"name": "sales", "dids": ["100"], "folder": {"path": "PLACEHOLDER", "name": "{did}-{caller_id}-{id}"},
         "email": {"to": ["sales@example.test"], "cc": ["boss@example.test"], "bcc": ["audit@example.test"]}},
    ],
}


def rules_for(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(RULES))
    data["rules"][0]["folder"]["path"] = str(folder)
    return data


@pytest.fixture
async def db(store_url: str) -> AsyncIterator[Database]:
    """The store on SQLite and on PostgreSQL: claims, deliveries and crash recovery must hold on both."""
    database = Database(parse_config({"storage": {"url": store_url}}).database_url)
    await database.migrate()
    yield database
    await database.close()


class FakeClock:
    """Routing's notion of now, moved by the test (no sleeping)."""

    def __init__(self, now: float = 1_763_712_100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def job(db: Database, job_id: int) -> store.IncomingRecord:
    async with db.transaction() as conn:
        record = await store.get(conn, job_id)
    assert record is not None
    return record


async def test_a_fax_goes_to_the_folder_and_by_mail_as_the_rule_says(
    tmp_path: Path, db: Database, smtp_sink: Sink
) -> None:
    folder = tmp_path / "sales-faxes"
    config = make_config(tmp_path, smtp_sink.port, rules_for(folder))
    job_id = await commit_fax(db, tiff_bytes(tmp_path), did="100", caller_id="+1 555 123 4567")
    router = RoutingService(config, db, clock=FakeClock())
    assert await router.run_once() == job_id
    assert await router.run_once() is None

    assert sorted(p.name for p in folder.iterdir()) == [f"100-+1_555_123_4567-{job_id}.pdf"]
    envelope, message = smtp_sink.messages[0]
    assert sorted(envelope.rcpt_tos) == ["audit@example.test", "boss@example.test", "sales@example.test"]
    assert message["To"] == "sales@example.test"
    assert message["Cc"] == "boss@example.test"
    assert message["Bcc"] is None
    assert message["Subject"] == "Fax from ACME FAX (2 pages)"
    attachments = [part.get_filename() for part in message.iter_attachments()]
    assert attachments == [f"fax-20251121-080000-{job_id}.pdf"]

    record = await job(db, job_id)
    assert record.job.status == JobStatus.COMPLETED
    assert record.job.routing_status == "routed: folder (sales), email (sales)"
    assert record.decision is not None and record.decision["matched"] == ["sales"]
    assert (await asyncio.to_thread(Path(record.archive_path).read_bytes))[:4] in (b"II*\x00", b"MM\x00*")


async def test_unmatched_fax_goes_to_the_administrator(tmp_path: Path, db: Database, smtp_sink: Sink) -> None:
    config = make_config(tmp_path, smtp_sink.port, rules_for(tmp_path / "f"))
    job_id = await commit_fax(db, tiff_bytes(tmp_path), did="555")
    await RoutingService(config, db, clock=FakeClock()).run_once()
    envelope, message = smtp_sink.messages[0]
    assert envelope.rcpt_tos == ["faxmaster@example.test"]
    assert message["Subject"] == "Unrouted fax from ACME FAX (2 pages)"
    record = await job(db, job_id)
    assert record.decision is not None and record.decision["catch_all"]
    assert record.job.routing_status == "routed: email (catch-all)"


async def test_smtp_down_is_retried_with_backoff_and_later_succeeds(tmp_path: Path, db: Database) -> None:
    port = free_port()  # nothing listens here yet: the smarthost is down
    folder = tmp_path / "sales-faxes"
    config = make_config(tmp_path, port, rules_for(folder))
    job_id = await commit_fax(db, tiff_bytes(tmp_path))
    clock = FakeClock()
    router = RoutingService(config, db, clock=clock)

    assert await router.run_once() == job_id
    record = await job(db, job_id)
    assert record.job.status == JobStatus.RETRYING
    assert record.job.routing_retries == 1
    assert record.job.next_routing_at == clock.now + 60
    assert record.job.routing_status.startswith("retry 1 of 10 at ")
    assert f"email: cannot reach the mail server 127.0.0.1:{port}" in record.job.routing_status
    assert len(list(folder.iterdir())) == 1  # the folder delivery is done and recorded

    clock.now += 59
    assert await router.run_once() is None  # not due yet
    clock.now += 1
    assert await router.run_once() == job_id  # second failure: the delay doubles
    record = await job(db, job_id)
    assert record.job.routing_retries == 2
    assert record.job.next_routing_at == clock.now + 120

    sink, server = await start_sink(port)  # the smarthost is back
    try:
        clock.now += 120
        assert await router.run_once() == job_id
    finally:
        server.close()
        await server.wait_closed()
    record = await job(db, job_id)
    assert record.job.status == JobStatus.COMPLETED
    assert len(sink.messages) == 1
    assert len(list(folder.iterdir())) == 1
    async with db.transaction() as conn:
        deliveries = await store.deliveries(conn, job_id)
    assert [(d.method_name, d.state, d.attempts) for d in deliveries] == [
        ("folder", "delivered", 1), ("email", "delivered", 3)]


async def test_retries_run_out(tmp_path: Path, db: Database) -> None:
    config = make_config(tmp_path, free_port(), {**rules_for(tmp_path / "f"), "routing_retries": 1})
    job_id = await commit_fax(db, tiff_bytes(tmp_path))
    clock = FakeClock()
    router = RoutingService(config, db, clock=clock)
    await router.run_once()
    clock.now += 3600
    await router.run_once()
    record = await job(db, job_id)
    assert record.job.status == JobStatus.RETRIES_EXCEEDED
    assert record.job.routing_status.startswith("could not route: email: cannot reach the mail server")


CRASHING_ROUTER = """
import asyncio, json, os, sys
import gateway.storage.incoming as store
from gateway.config import parse_config
from gateway.storage import Database
from routing.router import RoutingService

real_mark_delivered = store.mark_delivered

async def crash_after_folder(conn, delivery_id, detail, now):
    if "stored " in detail:
        os._exit(137)  # the file is written, the delivery is not yet recorded: die like a power cut
    await real_mark_delivered(conn, delivery_id, detail, now)

store.mark_delivered = crash_after_folder

async def main():
    config = parse_config(json.loads(sys.argv[1]))
    db = Database(sys.argv[2])
    await RoutingService(config, db, clock=lambda: float(sys.argv[3])).run_once()

asyncio.run(main())
"""


def config_dict(config: FaxgateConfig) -> dict[str, Any]:
    data = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


async def test_a_crash_during_routing_loses_nothing_and_does_not_deliver_twice(
    tmp_path: Path, db: Database, smtp_sink: Sink
) -> None:
    folder = tmp_path / "sales-faxes"
    config = make_config(tmp_path, smtp_sink.port, rules_for(folder))
    job_id = await commit_fax(db, tiff_bytes(tmp_path))
    clock = FakeClock()
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_ROUTER)
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(script), json.dumps(config_dict(config)), db.url, str(clock.now)],
        env=env, capture_output=True, timeout=120,
    )
    assert done.returncode == 137, done.stderr.decode()
    files = list(folder.iterdir())
    assert len(files) == 1  # the folder got the fax before the crash
    assert smtp_sink.messages == []
    record = await job(db, job_id)
    assert record.job.status == JobStatus.ROUTING  # still owed: nothing is lost
    assert await RoutingService(config, db, clock=clock).run_once() is None  # the dead router's claim holds

    clock.now += config.inbound.claim_lease.total_seconds() + 1  # the dead router's claim runs out
    assert await RoutingService(config, db, clock=clock).run_once() == job_id
    record = await job(db, job_id)
    assert record.job.status == JobStatus.COMPLETED
    assert [p.name for p in folder.iterdir()] == [files[0].name]  # not written twice
    assert len(smtp_sink.messages) == 1
