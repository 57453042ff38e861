"""The submission worker: a stored mail becomes rendered pages and one job per recipient."""

from __future__ import annotations

from pathlib import Path

from gateway.enums import ExtendedStatus, JobStatus, Priority, ScheduleType
from gateway.queue.clock import ManualClock
from gateway.queue.documents import tiff_pages
from gateway.queue.enqueue import JobFactory
from gateway.queue.worker import SubmissionWorker
from gateway.render import RenderPool
from gateway.storage import Database, get_blob
from gateway.storage import jobs as store
from gateway.storage.submissions import create_submission, get_submission
from tests.queue.harness import MONDAY_10_UTC, queue_config

MAIL = (b"From: Alice <alice@example.com>\r\nTo: 5550100@fax.localhost\r\nSubject: Order 42\r\n\r\n"
        b"Please ship order 42.\r\n")


async def test_mail_becomes_pages_and_one_job_per_recipient(tmp_path: Path) -> None:
    config = queue_config({"numbers": {"deny": ["+1900*"]}, "smtp": {"cover_page": True}}, tmp_path)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    await db.migrate()
    clock = ManualClock(MONDAY_10_UTC)
    async with RenderPool(workers=1, workdir=tmp_path) as pool:
        worker = SubmissionWorker(db=db, config=config, factory=JobFactory(config, ["sim0"]), pool=pool,
                                  clock=clock, node_id="test")
        async with db.transaction() as conn:
            submission_id = await create_submission(
                conn, source="smtp", principal="network 127.0.0.1/32", envelope_from="alice@example.com",
                recipients=[{"address": "5550100@fax.localhost", "number": "5550100", "name": "Shop"},
                            {"address": "19005550100@fax.localhost", "number": "+19005550100", "name": ""}],
                raw=MAIL, subject="Order 42",
                options={"priority": int(Priority.HIGH), "schedule": int(ScheduleType.NOW), "cover": True})
        assert await worker.process_one()
        assert not await worker.process_one()
    async with db.transaction() as conn:
        submission = await get_submission(conn, submission_id)
        jobs = await store.list_jobs(conn, submission_id=submission_id)
        assert submission is not None and jobs[0].document_blob_id is not None
        pages = tiff_pages(await get_blob(conn, jobs[0].document_blob_id))
    await db.close()
    assert submission.state == "queued"
    shop, premium = jobs
    assert (shop.recipient_number, shop.recipient_name, shop.job_status, shop.priority) == (
        "5550100", "Shop", JobStatus.PENDING, Priority.HIGH)
    assert shop.receipt_address == "alice@example.com" and shop.next_attempt_at == MONDAY_10_UTC
    assert shop.pages == len(pages) == 2  # the cover page, then the mail text
    assert all(page.fine for page in pages) and all(page.bitmap.any() for page in pages)
    assert (premium.job_status, premium.ext_status) == (JobStatus.RETRIES_EXCEEDED, ExtendedStatus.CALL_BLACKLISTED)
    assert "may not be dialled" in premium.extended_status_text and premium.dials == 0
