"""The webhook method (signed multipart POST), the incoming archive's age limit and quota warning, and the
administrator's notice of a failed reception with the session log attached."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.enums import ExtendedStatus, JobStatus, ServerEvents
from gateway.events import EventBus, ServerEvent, Subscription
from gateway.storage import Database
from gateway.storage import incoming as store
from modem.simnet import RemoteFaxSpec, SimNetwork
from routing.answer import InboundService
from routing.archive import IncomingArchive
from routing.methods.webhook import signature
from routing.router import RoutingService
from tests.routing.conftest import Sink, commit_fax, device_on, fax_pages, make_config, sim_config, tiff_bytes

SECRET = "hook-secret"


class Hook:
    """A real HTTP endpoint that checks the signature like a receiver should, and answers as told."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers = [200]

    async def endpoint(self, request: Request) -> PlainTextResponse:
        body = await request.body()
        stamp = request.headers.get("x-faxgate-timestamp", "")
        valid = request.headers.get("x-faxgate-signature") == signature(SECRET, stamp, body)
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        parts = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                 for part in BytesParser(policy=policy.default).parsebytes(head + body).iter_parts()}
        metadata = json.loads(bytes(parts["metadata"]))
        pdf = bytes(parts["pdf"])
        self.received.append({"valid": valid, "metadata": metadata, "pdf": pdf,
                              "key": request.headers["idempotency-key"]})
        status = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return PlainTextResponse("ok", status_code=status)


@pytest.fixture
async def hook() -> AsyncIterator[tuple[Hook, str]]:
    handler = Hook()
    app = Starlette(routes=[Route("/fax", handler.endpoint, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield handler, f"http://127.0.0.1:{sock.getsockname()[1]}/fax"
    server.should_exit = True
    await task


async def test_webhook_posts_signed_json_and_pdf_and_retries_on_5xx(
    tmp_path: Path, db: Database, smtp_sink: Sink, hook: tuple[Hook, str]
) -> None:
    handler, url = hook
    handler.answers = [503, 200]
    config = make_config(tmp_path, smtp_sink.port, {"rules": [
        {"name": "erp", "webhook": {"url": url, "secret": SECRET}}]})
    job_id = await commit_fax(db, tiff_bytes(tmp_path), did="100", tsid="ACME")
    now = [1_763_712_100.0]
    router = RoutingService(config, db, clock=lambda: now[0])
    await router.run_once()
    async with db.transaction() as conn:
        record = await store.get(conn, job_id)
    assert record is not None and record.job.status == JobStatus.RETRYING
    assert "answered HTTP 503" in record.job.routing_status
    now[0] += 61
    await router.run_once()
    assert [r["valid"] for r in handler.received] == [True, True]
    assert handler.received[0]["key"] == handler.received[1]["key"] == f"{job_id}/erp/webhook/0"
    last = handler.received[-1]
    assert last["metadata"]["did"] == "100" and last["metadata"]["tsid"] == "ACME"
    assert last["metadata"]["event"] == "fax.received"
    assert last["pdf"].startswith(b"%PDF")
    async with db.transaction() as conn:
        record = await store.get(conn, job_id)
    assert record is not None and record.job.status == JobStatus.COMPLETED


async def test_webhook_4xx_is_a_permanent_failure(
    tmp_path: Path, db: Database, smtp_sink: Sink, hook: tuple[Hook, str]
) -> None:
    handler, url = hook
    handler.answers = [404]
    config = make_config(tmp_path, smtp_sink.port, {"rules": [{"name": "erp", "webhook": {"url": url}}]})
    job_id = await commit_fax(db, tiff_bytes(tmp_path))
    await RoutingService(config, db).run_once()
    async with db.transaction() as conn:
        record = await store.get(conn, job_id)
    assert record is not None and record.job.status == JobStatus.FAILED
    assert record.job.routing_status == f"could not route: webhook: {url} answered HTTP 404"
    (_, notice), = smtp_sink.messages  # the administrator hears of it
    assert notice["Subject"] == f"Fax {job_id} from ACME FAX could not be routed"


def test_archive_age_limit_and_quota_warning_once(tmp_path: Path) -> None:
    config = make_config(tmp_path, 25, archive={"incoming": {"age_limit": "1d", "high_watermark": 3000,
                                                             "low_watermark": 1000}})
    bus = EventBus()
    archive = IncomingArchive(config, bus)
    warnings = bus.subscribe(ServerEvents.IN_ARCHIVE)
    now = time.time()
    old = archive.store(1, now - 3 * 86400, b"x" * 1500)
    os.utime(old, (now - 2 * 86400, now - 2 * 86400))
    archive.store(2, now, b"y" * 1500)
    archive.store(3, now, b"z" * 1600)
    first = archive.sweep(now)
    assert (first.removed, first.total_bytes, first.over_quota) == (1, 3100, True)
    assert not old.exists()
    seen = _drain(warnings)
    assert [(event.kind, event.payload.get("message_id")) for event in seen] == [
        ("message.removed", old.stem), ("archive.quota_warning", None)]  # OnIncomingMessageRemoved, then the quota
    assert archive.sweep(now).over_quota and _drain(warnings) == []  # warned once, not every sweep
    for path in archive.folder.glob("*.tif"):
        path.unlink()
    assert archive.sweep(now).total_bytes == 0
    archive.store(4, now, b"w" * 3500)
    archive.sweep(now)
    assert [event.kind for event in _drain(warnings)] == ["archive.quota_warning"]  # below the low watermark before


def _drain(subscription: Subscription) -> list[ServerEvent]:
    found = []
    while not subscription.queue.empty():
        found.append(subscription.queue.get_nowait())
    return found


async def test_a_failed_reception_is_kept_routed_and_reported_with_the_session_log(
    tmp_path: Path, db: Database, smtp_sink: Sink
) -> None:
    net = SimNetwork()
    try:
        config = sim_config(tmp_path, smtp_sink, {"rules": [{"name": "all", "email": {"to": ["desk@example.test"]}}]})
        remote = net.add_remote_fax("5550100", RemoteFaxSpec(ident="FLAKY", hangup_after_pages=1))
        device = device_on(net, config)
        inbound = InboundService(config, db, {"sim0": device})
        remote.call("5551000", pages=fax_pages(3), fine=False, caller_id="5550100", did="100")
        call = await device.wait_for_call(timeout=60.0)
        job_id = await inbound.handle_call("sim0", device, call)
        await net.run_for(2.0)
    finally:
        net.close()
    async with db.transaction() as conn:
        record = await store.get(conn, job_id or 0)
    assert record is not None
    assert record.job.extended_status == ExtendedStatus.PARTIALLY_RECEIVED
    assert (record.job.status, record.job.pages) == (JobStatus.ROUTING, 1)
    (envelope, notice), = smtp_sink.messages
    assert envelope.rcpt_tos == ["faxmaster@example.test"]
    assert str(notice["Subject"]).strip().startswith("Fax reception on sim0 failed:")
    (log_part,) = list(notice.iter_attachments())
    assert log_part.get_filename() == f"session-{job_id}.log"
    assert "ATA" in log_part.get_content() and "CSI" in log_part.get_content()
    await RoutingService(config, db).run_once()  # the page that did arrive still reaches the desk
    assert [m[0].rcpt_tos for m in smtp_sink.messages[1:]] == [["desk@example.test"]]
