"""Receipts through a real SMTP server, the outgoing archive with quota warnings, and the xferfaxlog export."""

from __future__ import annotations

from gateway.enums import ServerEvents
from gateway.queue.activity import xferfaxlog
from gateway.queue.documents import load_pymupdf
from gateway.render.links import LEFT_OUT
from gateway.storage import get_blob
from gateway.storage.submissions import set_submission_state
from tests.queue.conftest import MakeQueue
from tests.queue.harness import force_columns
from tests.queue.simserver import smtp_sink


async def test_grouped_broadcast_receipt_with_report_and_fax(make_queue: MakeQueue) -> None:
    with smtp_sink() as (sink, port):
        queue = await make_queue({"receipts": {"smtp_port": port, "group_broadcast": True, "attach_fax": True},
                                  "outbound": {"retry": {"busy": {"delay": "1m", "max": 1}}}})
        submission = await queue.add_submission()
        queue.lines.scripts["5550102"] = ["busy", "busy"]
        ids = [await queue.add_job(number, pages=2, submission=submission, receipt="bob@example.com")
               for number in ("5550100", "5550101", "5550102")]
        await queue.run_for(3600)
    assert len(sink.messages) == 1
    mail = sink.messages[0]
    assert mail["Subject"] == "Fax broadcast: 2 of 3 sent: Monthly report"
    assert mail["To"] == "bob@example.com"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Your fax to 5550100 was sent" in text and "Your fax to 5550102 could not be sent: busy" in text
    attachments = {part.get_filename(): part.get_content() for part in mail.iter_attachments()}
    report = load_pymupdf().open(stream=attachments["transmission-report.pdf"], filetype="pdf")
    assert report.page_count == 3
    assert "5550101" in report[1].get_text() and len(report[1].get_images()) == 1
    fax = load_pymupdf().open(stream=attachments["fax.pdf"], filetype="pdf")
    assert fax.page_count == 2
    for job_id in ids:
        assert (await queue.job(job_id)).receipt_sent_at is not None


async def test_sent_faxes_are_archived_with_a_quota_warning_once(make_queue: MakeQueue) -> None:
    queue = await make_queue({"archive": {"outgoing": {"high_watermark": 2000, "low_watermark": 1000}}})
    warnings = queue.events.subscribe(ServerEvents.OUT_ARCHIVE)
    ids = [await queue.add_job(f"555010{index}", pages=3) for index in range(3)]
    await queue.run_for(3600)
    folder = queue.config.server.data_dir / "archive" / "outgoing"
    for job_id in ids:
        job = await queue.job(job_id)
        [stored] = list(folder.rglob(f"{job_id}.tif"))
        assert job.document_blob_id is not None
        async with queue.db.transaction() as conn:
            assert stored.read_bytes() == await get_blob(conn, job.document_blob_id)
        assert stored.with_suffix(".json").exists() and job.archived_at is not None
    found = []
    while not warnings.queue.empty():
        found.append(warnings.queue.get_nowait())
    assert [event.kind for event in found if event.kind != "message.added"] == ["archive.quota_exceeded"]
    added = sorted(event.payload["job_id"] for event in found if event.kind == "message.added")
    assert added == sorted(ids)  # OnOutgoingMessageAdded for each archived fax


async def test_activity_log_exports_every_call_as_xferfaxlog(make_queue: MakeQueue) -> None:
    queue = await make_queue()
    queue.lines.scripts["5550100"] = ["busy"]
    job = await queue.add_job("5550100", pages=2)
    await queue.run_for(3600)
    async with queue.db.transaction() as conn:
        lines = await xferfaxlog(conn)
    assert len(lines) == 2
    busy, sent = (line.split("\t") for line in lines)
    assert busy[:5] == ["11/23/26 10:00", "SEND", "00000001", "sim0", str(job)]
    assert busy[7:9] == ['"5550100"', '""'] and busy[10] == "0" and busy[13] == '"busy"'
    assert sent[1] == "SEND" and sent[8] == '"REMOTE"' and sent[10] == "2" and sent[13] == '"2 pages sent"'
    assert sent[12] == "0:01:10"  # 30 s of call setup and 2 pages of 20 s each
    assert len(sent) == 19


async def test_a_receipt_the_smarthost_refused_is_sent_by_the_sweep(make_queue: MakeQueue) -> None:
    from aiosmtpd.controller import Controller

    from tests.queue.simserver import Sink
    from tests.support.net import free_port

    port = free_port()
    queue = await make_queue({"receipts": {"smtp_port": port}})
    job = await queue.add_job("5550100", receipt="carol@example.com")
    await queue.run_for(600)  # the smarthost is down: the receipt fails
    assert (await queue.job(job)).receipt_sent_at is None
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await queue.finisher.sweep()
    finally:
        controller.stop()
    assert [message["Subject"] for message in sink.messages] == ["Fax sent to 5550100"]
    assert (await queue.job(job)).receipt_sent_at is not None


async def test_canceling_a_waiting_job_mails_a_receipt_naming_who_canceled(make_queue: MakeQueue) -> None:
    from gateway.enums import JobStatus, ScheduleType
    from gateway.queue.controls import cancel_job
    from tests.queue.harness import MONDAY_10_UTC

    with smtp_sink() as (sink, port):
        queue = await make_queue({"receipts": {"smtp_port": port}})
        job = await queue.add_job("5550100", receipt="dave@example.com", schedule=ScheduleType.SPECIFIC_TIME,
                                  send_at=MONDAY_10_UTC + 3600)
        async with queue.db.transaction() as conn:
            await cancel_job(conn, job, queue.clock.now(), by="alice")
        await queue.chores.run_now("receipts")  # the cancel came from outside the service: the chore mails it
        await queue.chores.run_now("receipts")
    assert (await queue.job(job)).job_status == JobStatus.CANCELED
    assert [message["Subject"] for message in sink.messages] == ["Fax to 5550100 canceled"]
    text = sink.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Your fax to 5550100 was canceled by alice before any page was sent." in text
    assert queue.lines.calls == []


async def test_canceling_during_a_call_mails_how_many_pages_went(make_queue: MakeQueue) -> None:
    from gateway.queue.controls import cancel_job

    with smtp_sink() as (sink, port):
        queue = await make_queue({"receipts": {"smtp_port": port}})
        job = await queue.add_job("5550100", pages=5, receipt="dave@example.com")
        await queue.run_for(60)  # page 1 confirmed, page 2 on the line: it is the last to go
        async with queue.db.transaction() as conn:
            await cancel_job(conn, job, queue.clock.now(), by="bob")
        await queue.run_for(600)
    [mail] = sink.messages
    assert mail["Subject"] == "Fax to 5550100 canceled"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Your fax to 5550100 was canceled by bob after 2 of 5 page(s) were sent." in text
    assert "- 5550100: canceled, 2/5 pages, 1 call(s)" in text


async def test_canceled_jobs_get_no_receipt_when_none_was_asked_for(make_queue: MakeQueue) -> None:
    from gateway.enums import ScheduleType
    from gateway.queue.controls import cancel_job
    from tests.queue.harness import MONDAY_10_UTC

    with smtp_sink() as (sink, port):
        switched_off = await make_queue({"receipts": {"smtp_port": port, "enabled": False}})
        unasked = await make_queue({"receipts": {"smtp_port": port}})
        for queue, receipt in ((switched_off, "dave@example.com"), (unasked, "")):
            job = await queue.add_job("5550100", receipt=receipt, schedule=ScheduleType.SPECIFIC_TIME,
                                      send_at=MONDAY_10_UTC + 3600)
            async with queue.db.transaction() as conn:
                await cancel_job(conn, job, queue.clock.now(), by="alice")
            await queue.chores.run_now("receipts")
    assert sink.messages == []


async def test_a_broadcast_with_a_canceled_job_gets_one_grouped_receipt_when_all_are_final(
        make_queue: MakeQueue) -> None:
    from gateway.enums import JobStatus, ScheduleType
    from gateway.queue.controls import cancel_job
    from tests.queue.harness import MONDAY_10_UTC

    with smtp_sink() as (sink, port):
        queue = await make_queue({"receipts": {"smtp_port": port, "group_broadcast": True}})
        submission = await queue.add_submission()
        ids = [await queue.add_job(number, submission=submission, receipt="erin@example.com")
               for number in ("5550100", "5550101")]
        late = await queue.add_job("5550102", submission=submission, receipt="erin@example.com",
                                   schedule=ScheduleType.SPECIFIC_TIME, send_at=MONDAY_10_UTC + 86400)
        await queue.run_for(3600)
        await queue.chores.run_now("receipts")
        assert sink.messages == []  # two of three are final: the broadcast is not done yet
        async with queue.db.transaction() as conn:
            await cancel_job(conn, late, queue.clock.now(), by="alice")
        await queue.chores.run_now("receipts")
        await queue.chores.run_now("receipts")
    [mail] = sink.messages
    assert mail["Subject"] == "Fax broadcast: 2 of 3 sent: Monthly report"
    assert mail["X-Fax-Jobs"] == ",".join(str(job_id) for job_id in [*ids, late])
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Your fax to 5550100 was sent" in text and "Your fax to 5550101 was sent" in text
    assert "Your fax to 5550102 was canceled by alice before any page was sent." in text
    assert [(await queue.job(job_id)).job_status for job_id in [*ids, late]] == [
        JobStatus.COMPLETED, JobStatus.COMPLETED, JobStatus.CANCELED]



async def test_a_receipt_that_fails_in_any_way_is_retried_never_marked_sent(make_queue: MakeQueue) -> None:
    """Not only a refusing smarthost: a receipt that cannot even be written (here its fax, for the report's
    thumbnail, is damaged in the store) stays unsent for the sweep to retry, instead of counting as sent."""
    from aiosmtpd.controller import Controller

    from gateway.storage import put_blob
    from tests.queue.simserver import Sink
    from tests.support.net import free_port

    port = free_port()
    queue = await make_queue({"receipts": {"smtp_port": port}})
    job = await queue.add_job("5550100", receipt="carol@example.com")
    await queue.run_for(600)  # sent; the smarthost is down, so the receipt waits for the sweep
    good = (await queue.job(job)).document_blob_id
    async with queue.db.transaction() as conn:
        damaged = await put_blob(conn, b"II*\x00 not a fax any more", "image/tiff")
        await force_columns(conn, job, document_blob_id=damaged)
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await queue.finisher.sweep()
        assert sink.messages == [] and (await queue.job(job)).receipt_sent_at is None
        async with queue.db.transaction() as conn:
            await force_columns(conn, job, document_blob_id=good)
        await queue.finisher.sweep()
    finally:
        controller.stop()
    assert [message["Subject"] for message in sink.messages] == ["Fax sent to 5550100"]
    assert (await queue.job(job)).receipt_sent_at is not None


async def test_the_receipt_says_what_was_left_out(make_queue: MakeQueue) -> None:
    note = "'report.docx' links to 2 pictures or objects outside the document; the fax was sent without them."
    with smtp_sink() as (sink, port):
        queue = await make_queue({"receipts": {"smtp_port": port}})
        submission = await queue.add_submission()
        async with queue.db.transaction() as conn:
            await set_submission_state(conn, submission, "queued", options={LEFT_OUT: [note]})
        await queue.add_job("5550100", pages=1, submission=submission, receipt="ada@clinic.example")
        await queue.run_for(600)
    [mail] = sink.messages
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Your fax to 5550100 was sent" in text and f"Left out: {note}" in text


async def test_the_transmission_report_tells_the_outcome_and_every_call(make_queue: MakeQueue) -> None:
    from gateway.enums import ScheduleType
    from gateway.queue.report import stored_report, transmission_report

    queue = await make_queue({"outbound": {"retry": {"busy": {"delay": "1m", "max": 3}}}})
    queue.lines.scripts["5550100"] = ["busy"]
    sent = await queue.add_job("5550100", pages=2)
    later = await queue.add_job("5550101", schedule=ScheduleType.SPECIFIC_TIME, send_at=queue.clock.now() + 86400)
    await queue.run_for(3600)
    words: dict[int, str] = {}
    for job_id in (sent, later):
        job = await queue.job(job_id)
        async with queue.db.transaction() as conn:
            report = await stored_report(conn, job)
        pdf = load_pymupdf().open(stream=transmission_report([report], queue.config), filetype="pdf")
        assert pdf.page_count == 1 and len(pdf[0].get_images()) == 1  # page 1, reduced
        words[job_id] = " ".join(pdf[0].get_text().split())
    assert "SENT Your fax to 5550100 was sent: all 2 page(s) were confirmed" in words[sent]
    assert "Pages sent 2 of 2" in words[sent] and "Calls 2" in words[sent] and "Sender test" in words[sent]
    assert "Busy" in words[sent] and "Call completed" in words[sent] and "REMOTE" in words[sent]
    assert "IN QUEUE" in words[later] and "No call has been made yet." in words[later]
