"""End to end on the simulated network: a remote fax machine calls a faxgate device with a DID and caller ID;
the fax is screened, answered, committed, routed by the rules to a real SMTP sink and a folder as PDF, and the
PDF pages are the pages that were sent, pixel for pixel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
import pytest

from gateway.enums import ExtendedStatus, JobStatus, ServerEvents
from gateway.events import EventBus
from gateway.storage import Database
from gateway.storage import incoming as store
from modem.provider import Class1Device
from modem.simnet import RemoteFaxSpec, SimNetwork
from routing.answer import InboundService
from routing.router import RoutingService
from tests.routing.conftest import NUMBER, Sink, device_on, fax_pages, sim_config


@pytest.fixture
def net() -> Iterator[SimNetwork]:
    network = SimNetwork()
    yield network
    network.close()


def pdf_pages(data: bytes, yres: float) -> list[np.ndarray]:
    """Render each PDF page back at the fax's resolution and pack it like the pages that were sent."""
    mupdf: Any = pymupdf
    pages = []
    with mupdf.open(stream=data, filetype="pdf") as doc:
        for page in doc:
            pix = page.get_pixmap(matrix=mupdf.Matrix(204 / 72, yres / 72), colorspace=mupdf.csGRAY)
            grey = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.stride)[:, : pix.width]
            pages.append(np.packbits(grey < 128, axis=1))
    return pages


async def receive_one(net: SimNetwork, device: Class1Device, inbound: InboundService) -> int | None:
    call = await device.wait_for_call(timeout=60.0)
    job_id = await inbound.handle_call("sim0", device, call)
    await net.run_for(2.0)
    return job_id


async def test_remote_fax_arrives_as_pdf_by_mail_and_in_the_archive_folder(
    tmp_path: Path, db: Database, smtp_sink: Sink, net: SimNetwork
) -> None:
    folder = tmp_path / "archive-folder"
    config = sim_config(tmp_path, smtp_sink, {
        "answer": {"csid_by_did": {"100": "+1 555 0100 SALES"}},
        "rules": [
            {"name": "keep-all", "continue": True, "folder": {"path": str(folder), "name": "{did}-{sender}-{id}"}},
            {"name": "sales", "dids": ["100"], "caller_ids": ["1555*"], "email": {"to": ["sales@example.test"]}},
            {"name": "support", "dids": ["200"], "email": {"to": ["support@example.test"]}},
        ],
    })
    remote = net.add_remote_fax("5550100", RemoteFaxSpec(ident="+1 555 0100 ACME"))
    device = device_on(net, config)
    events = EventBus()
    router = RoutingService(config, db, events)
    inbound = InboundService(config, db, {"sim0": device}, events, on_committed=lambda _job: router.wake())
    sent = fax_pages(3, seed=11)
    record = remote.call(NUMBER, pages=sent, fine=False, caller_id="+1 555 777 0001", caller_name="ACME", did="100")

    job_id = await receive_one(net, device, inbound)
    assert job_id is not None
    assert record.ok, record.completion
    assert record.remote_ident == "+1 555 0100 SALES"  # the CSID chosen for DID 100

    async with db.transaction() as conn:
        stored = await store.get(conn, job_id)
    assert stored is not None
    job = stored.job
    assert (job.status, job.pages, job.did, job.caller_id, job.caller_name, job.remote_tsid) == (
        JobStatus.ROUTING, 3, "100", "+1 555 777 0001", "ACME", "+1 555 0100 ACME")
    assert job.quality["bit_rate"] == 14400 and job.quality["compression"] in ("MR", "MMR", "MH")
    assert 'T30 -> CSI: "+1 555 0100 SALES"' in stored.session_log

    assert await router.run_once() == job_id
    assert len(smtp_sink.messages) == 1
    envelope, message = smtp_sink.messages[0]
    assert envelope.rcpt_tos == ["sales@example.test"]
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    mailed = attachment.get_content()
    (archived,) = sorted(folder.iterdir())
    assert archived.name == f"100-+1_555_0100_ACME-{job_id}.pdf"
    for pdf in (mailed, archived.read_bytes()):
        pages = pdf_pages(pdf, yres=98.0)
        assert len(pages) == len(sent)
        for got, want in zip(pages, sent, strict=True):
            assert got.shape == want.shape
            assert np.array_equal(got, want)

    async with db.transaction() as conn:
        routed = await store.get(conn, job_id)
    assert routed is not None and routed.job.status == JobStatus.COMPLETED
    assert routed.decision is not None and routed.decision["matched"] == ["keep-all", "sales"]


async def test_screening_rejects_by_caller_id_before_answering(
    tmp_path: Path, db: Database, smtp_sink: Sink, net: SimNetwork
) -> None:
    config = sim_config(tmp_path, smtp_sink, {"answer": {"reject_caller_ids": ["1900*"]}})
    remote = net.add_remote_fax("5550100")
    device = device_on(net, config)
    inbound = InboundService(config, db, {"sim0": device})
    record = remote.call(NUMBER, pages=fax_pages(1), fine=False, caller_id="+1 900 555 1212", did="100")
    job_id = await receive_one(net, device, inbound)
    await net.run_for(60.0)
    assert record.outcome == "no answer"
    async with db.transaction() as conn:
        rejected = await store.get(conn, job_id or 0)
    assert rejected is not None
    assert rejected.job.status == JobStatus.CANCELED
    assert rejected.job.extended_status == ExtendedStatus.CALL_BLACKLISTED
    assert rejected.job.reason == "caller ID +1 900 555 1212 is rejected by '1900*'"
    assert rejected.job.tiff_blob_id is None


async def test_blocked_tsid_and_page_cap_end_the_call_while_it_runs(
    tmp_path: Path, db: Database, smtp_sink: Sink, net: SimNetwork
) -> None:
    config = sim_config(tmp_path, smtp_sink, {"answer": {"block_tsids": ["*JUNK*"], "max_pages": 2}})
    junk = net.add_remote_fax("5550100", RemoteFaxSpec(ident="CHEAP JUNK DEALS"))
    friend = net.add_remote_fax("5550101", RemoteFaxSpec(ident="FRIEND"))
    device = device_on(net, config)
    inbound = InboundService(config, db, {"sim0": device})

    junk_call = junk.call(NUMBER, pages=fax_pages(2), fine=False, did="100")
    blocked_id = await receive_one(net, device, inbound)
    sent = fax_pages(3, seed=5)
    friend_call = friend.call(NUMBER, pages=sent, fine=False, caller_id="5550101", did="100")
    trimmed_id = await receive_one(net, device, inbound)

    # the remote machines saw faxgate end their calls: the junk sender sent nothing, the friend two of three
    assert (junk_call.ok, junk_call.pages_sent) == (False, 0)
    assert (friend_call.ok, friend_call.pages_sent) == (False, 2)
    async with db.transaction() as conn:
        blocked = await store.get(conn, blocked_id or 0)
        trimmed = await store.get(conn, trimmed_id or 0)
    assert blocked is not None and trimmed is not None
    assert (blocked.job.status, blocked.job.extended_status, blocked.job.tiff_blob_id, blocked.job.pages) == (
        JobStatus.CANCELED, ExtendedStatus.CALL_BLACKLISTED, None, 0)
    assert blocked.job.reason == "sender TSID 'CHEAP JUNK DEALS' is blocked by '*JUNK*'"
    assert "T30 -> DCN" in blocked.session_log  # faxgate hung up on the sender, not the other way round
    assert (trimmed.job.status, trimmed.job.pages, trimmed.job.extended_status) == (
        JobStatus.ROUTING, 2, ExtendedStatus.PARTIALLY_RECEIVED)
    assert trimmed.job.reason == "2 pages kept (the limit for one call); the rest were refused"


async def test_the_running_services_answer_commit_and_route_by_themselves(
    tmp_path: Path, db: Database, smtp_sink: Sink, net: SimNetwork
) -> None:
    config = sim_config(tmp_path, smtp_sink, {"rules": [{"name": "all", "email": {"to": ["desk@example.test"]}}]})
    remote = net.add_remote_fax("5550100", RemoteFaxSpec(ident="ACME"))
    device = device_on(net, config)
    events = EventBus()
    await events.start(db, "n1")
    router = RoutingService(config, db, events)
    inbound = InboundService(config, db, {"sim0": device}, events)
    changes = events.subscribe(ServerEvents.IN_QUEUE | ServerEvents.INCOMING_CALL | ServerEvents.IN_ARCHIVE)
    await router.start()
    await inbound.start()
    seen = []
    try:
        remote.call(NUMBER, pages=fax_pages(2), fine=False, caller_id="5550100\x1b[2J", did="100")
        while True:  # the services run on their own; the bus says when the fax is routed
            event = await changes.get(timeout=120)
            seen.append(event)
            if event.kind == "message.added":  # routed, then kept in the incoming archive
                break
    finally:
        await inbound.stop()
        await router.stop()
        await events.stop()
    assert [m[0].rcpt_tos for m in smtp_sink.messages] == [["desk@example.test"]]
    names = [str(event.payload["fei"]) if event.kind == "fei" else event.kind for event in seen]
    assert names == ["call.ringing", "call.answered", "FEI_ANSWERED", "FEI_RECEIVING", "FEI_RECEIVING",
                     "job.added", "FEI_COMPLETED", "call.ended", "job.changed", "FEI_ROUTING", "job.changed",
                     "job.removed", "FEI_DELETED", "message.added"]
    ringing = seen[0].payload  # OnNewCall: call id, device id, caller id (made printable: it is untrusted)
    assert (ringing["device"], ringing["device_id"], ringing["caller_id"]) == ("sim0", 1, "5550100?[2J")
    assert {event.payload["call_id"] for event in seen if event.topic == ServerEvents.INCOMING_CALL} == {
        ringing["call_id"]}
    pages = [(event.payload["page"], event.payload["device_id"], event.payload["job_id"]) for event in seen[3:5]]
    assert pages == [(1, 1, 0xFFFFFFFF), (2, 1, 0xFFFFFFFF)]  # FEI_RECEIVING per page, before the fax is a job
    added = seen[5].payload
    assert (added["status"], added["caller_id"], added["device"]) == (int(JobStatus.ROUTING), "5550100?[2J", "sim0")
    assert seen[10].payload["status"] == JobStatus.COMPLETED and seen[-1].payload["job_id"] == added["job_id"]
    assert (seen[9].payload["job_id"], seen[9].payload["device_id"]) == (added["job_id"], 1)  # FEI_ROUTING


async def test_manual_answer_mode_answers_only_when_asked(
    tmp_path: Path, db: Database, smtp_sink: Sink, net: SimNetwork
) -> None:
    config = sim_config(tmp_path, smtp_sink, {})
    config.devices[0].receive_mode = "manual"
    remote = net.add_remote_fax("5550100")
    device = device_on(net, config)
    inbound = InboundService(config, db, {"sim0": device}, manual_answer_wait=0.0)

    unanswered = remote.call(NUMBER, pages=fax_pages(1), fine=False)
    assert await receive_one(net, device, inbound) is None
    await net.run_for(60.0)
    assert unanswered.outcome == "no answer"

    inbound.request_answer("sim0")  # IFaxDevice.AnswerCall for the next call
    answered = remote.call(NUMBER, pages=fax_pages(1), fine=False)
    assert await receive_one(net, device, inbound) is not None
    assert answered.ok


async def test_t30_subaddress_from_the_call_routes_to_its_folder(
    tmp_path: Path, db: Database, smtp_sink: Sink, net: SimNetwork
) -> None:
    sales, other = tmp_path / "sales", tmp_path / "other"
    config = sim_config(tmp_path, smtp_sink, {
        "rules": [
            {"name": "sales", "subaddresses": ["1234"], "folder": {"path": str(sales), "name": "{subaddress}-{id}"}},
            {"name": "rest", "folder": {"path": str(other), "name": "{subaddress}-{id}"}},
        ],
    })
    remote = net.add_remote_fax("5550100", RemoteFaxSpec(ident="+1 555 0100 ACME"))
    device = device_on(net, config)
    router = RoutingService(config, db, EventBus())
    inbound = InboundService(config, db, {"sim0": device})

    first = remote.call(NUMBER, pages=fax_pages(1, seed=1), fine=False, did="100", subaddress="1234")
    sales_id = await receive_one(net, device, inbound)
    second = remote.call(NUMBER, pages=fax_pages(1, seed=2), fine=False, did="100", subaddress="99")
    other_id = await receive_one(net, device, inbound)
    assert first.ok and second.ok, (first.completion, second.completion)
    assert sales_id is not None and other_id is not None

    async with db.transaction() as conn:
        stored = [await store.get(conn, job_id) for job_id in (sales_id, other_id)]
    assert [s.subaddress if s else None for s in stored] == ["1234", "99"]
    while await router.run_once() is not None:
        pass
    assert [p.name for p in sales.iterdir()] == [f"1234-{sales_id}.pdf"]
    assert [p.name for p in other.iterdir()] == [f"99-{other_id}.pdf"]
    async with db.transaction() as conn:
        routed = await store.get(conn, sales_id)
    assert routed is not None and routed.decision is not None and routed.decision["matched"] == ["sales"]
