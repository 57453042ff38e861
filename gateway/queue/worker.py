"""The submission worker: "received" submissions become pages (rendered once) and one queued job per recipient."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.config import FaxgateConfig
from gateway.config.security import SecuritySection
from gateway.enums import ExtendedStatus, Priority, ServerEvents
from gateway.events import EventBus
from gateway.intake.auth import principal_by_name
from gateway.intake.bounce import send_bounce
from gateway.intake.mime import FaxMail, MailError, parse_fax_mail
from gateway.intake.options import FaxOptions
from gateway.logs import log_event, logger
from gateway.model import Submission, SubmissionState
from gateway.numbers import NumberError, NumberForbidden, NumberPolicy
from gateway.queue.clock import WallClock
from gateway.queue.enqueue import JobFactory, JobRequest
from gateway.render import RenderError, RenderOptions, RenderPool
from gateway.storage import Database, get_blob, put_blob
from gateway.storage import jobs as store
from gateway.storage.submissions import set_submission_state
from gateway.textsafe import safe_text
from modem.faxtiff import FaxTiffWriter, read_fax_tiff

log = logger("outbound")
RENDER_LEASE_S = 600.0


class SubmissionWorker:
    """Claims one submission at a time (any node may), renders it and queues its jobs in one transaction."""

    def __init__(
        self,
        *,
        db: Database,
        config: FaxgateConfig,
        factory: JobFactory,
        pool: RenderPool,
        clock: WallClock,
        node_id: str,
        on_queued: Callable[[], None] = lambda: None,
        events: EventBus | None = None,
    ) -> None:
        self.db = db
        self.events = events
        self.config = config
        self.factory = factory
        self.pool = pool
        self.clock = clock
        self.node_id = node_id
        self.on_queued = on_queued
        self.numbers = NumberPolicy(config.numbers)
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """A submission arrived."""
        self._wake.set()

    async def run(self) -> None:
        """Work through submissions; poll for ones other processes stored."""
        poll = self.config.outbound.poll_interval.total_seconds()
        while not self._stopping:
            try:
                if await self.process_one():
                    continue
            except Exception:
                log.exception("submission.worker_failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)

    def stop(self) -> None:
        """Finish the current submission, then stop."""
        self._stopping = True
        self._wake.set()

    async def process_one(self) -> bool:
        """Turn the oldest waiting submission into jobs; False when there was none."""
        async with self.db.transaction() as conn:
            submission = await store.claim_submission(conn, node_id=self.node_id, now=self.clock.now(),
                                                      lease_s=RENDER_LEASE_S)
            raw = await get_blob(conn, submission.raw_blob_id) if submission and submission.raw_blob_id else b""
        if submission is None:
            return False
        try:
            mail = await asyncio.to_thread(parse_fax_mail, raw, self.config)
            pages, jobs = await self._queue(submission, mail)
        except (MailError, RenderError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            async with self.db.transaction() as conn:
                await set_submission_state(conn, submission.id, SubmissionState.FAILED, reason=reason)
            log_event(log, logging.WARNING, "submission.failed", submission=submission.id, reason=reason)
            await send_bounce(self.config, submission, reason, raw)
            return True
        log_event(log, logging.INFO, "submission.queued", submission=submission.id, pages=pages, jobs=jobs)
        self.on_queued()
        return True

    async def _queue(self, submission: Submission, mail: FaxMail) -> tuple[int, int]:
        stored = submission.options
        options = FaxOptions.from_json(stored) if stored else mail.options
        cover = bool(stored.get("cover", mail.cover))
        resolution = options.resolution or "fine"
        render = RenderOptions(resolution=resolution, max_pages=self.config.outbox.max_pages)
        with tempfile.TemporaryDirectory(prefix="faxgate-render-") as folder:
            work = Path(folder)
            body_path: Path | None = None
            if mail.documents:
                body_path = (await self.pool.render(list(mail.documents), render, work / "body.tif")).path
            documents: list[tuple[dict[str, str], bytes, int]] = []
            for recipient_index, recipient in enumerate(submission.recipients):
                path = body_path
                if cover:
                    path = await self._with_cover(work, recipient_index, body_path, mail, recipient, render,
                                                  cover_sender(self.config.security, submission, mail))
                if path is None:
                    raise MailError("there is nothing to fax")
                data = path.read_bytes()
                documents.append((recipient, data, sum(1 for _ in read_fax_tiff(path))))
        priority = options.priority if options.priority is not None else Priority.NORMAL
        receipt = options.receipt if options.receipt is not None else self.config.receipts.enabled
        bulk = len(documents) >= self.config.outbound.bulk_recipients
        now = self.clock.now()
        shared: dict[bytes, str] = {}
        job_ids: list[int] = []
        async with self.db.transaction() as conn:
            for recipient, data, page_count in documents:
                if data not in shared:
                    shared[data] = await put_blob(conn, data, "image/tiff")
                refused, refusal = self._refusal(submission, recipient.get("number", ""))
                job_ids.append(await self.factory.create(conn, JobRequest(
                    refused=refused, refusal=refusal,
                    submission_id=submission.id, number=recipient.get("number", ""),
                    recipient_name=recipient.get("name", ""), document_blob_id=shared[data], pages=page_count,
                    priority=priority, bulk=bulk, schedule=options.schedule,
                    send_at=options.send_at, receipt_address=submission.envelope_from if receipt else "",
                    billing_code=options.billing_code), now))
            first_blob = next(iter(shared.values()), None)
            pages = documents[0][2] if documents else 0
            await set_submission_state(conn, submission.id, SubmissionState.QUEUED, document_blob_id=first_blob,
                                       pages=pages, claimed_by=None, claimed_until=None)
        if self.events is not None:
            for job_id in job_ids:
                self.events.publish(ServerEvents.OUT_QUEUE, "job.added", job=job_id, submission=submission.id,
                                    node=self.node_id)
        return pages, len(documents)

    def _refusal(self, submission: Submission, number: str) -> tuple[ExtendedStatus | None, str]:
        """Check the number again with today's rules: a bad or forbidden number is never dialled, nor retried."""
        if not number:
            return ExtendedStatus.BAD_ADDRESS, "no fax number was given"
        principal = principal_by_name(self.config.security, submission.principal)
        if principal is None:  # the command line and the API check numbers as they take them
            return None, ""
        try:
            self.numbers.check(self.numbers.parse(number), principal.destinations)
        except NumberForbidden as exc:
            return ExtendedStatus.CALL_BLACKLISTED, exc.reason
        except NumberError as exc:
            return ExtendedStatus.BAD_ADDRESS, exc.reason
        return None, ""

    async def _with_cover(self, work: Path, recipient_index: int, body: Path | None, mail: FaxMail,
                          recipient: dict[str, str], render: RenderOptions, sender: tuple[str, str]) -> Path:
        """This recipient's cover page followed by the body pages."""
        zone = ZoneInfo(self.config.outbox.timezone)
        body_pages = list(read_fax_tiff(body)) if body is not None else []
        fields = {
            "recipient_name": recipient.get("name", ""), "recipient_fax_number": recipient.get("number", ""),
            "sender_name": sender[0], "sender_email": sender[1], "note": mail.cover_note,
            "subject": mail.subject, "page_count": str(len(body_pages) + 1),
            "time_sent": datetime.fromtimestamp(self.clock.now(), zone).strftime("%Y-%m-%d %H:%M"),
        }
        index = recipient_index
        cover = await self.pool.render_cover(mail.cover_template, fields, render, work / f"cover-{index}.tif")
        out = work / f"job-{index}.tif"
        with FaxTiffWriter(out, fine=render.geometry.fine) as writer:
            for page in [*read_fax_tiff(cover.path), *body_pages]:
                writer.add_page(page.bitmap, yres=page.yres)
        return out


def cover_sender(security: SecuritySection, submission: Submission, mail: FaxMail) -> tuple[str, str]:
    """Who sent the fax, for the cover's From row: the mail's display name, else the sending user's configured
    one; the mail's From address, else the envelope sender."""
    name = mail.sender_name
    if not name:
        principal = principal_by_name(security, submission.principal)
        name = principal.display_name if principal is not None else ""
    return name, mail.sender_address or safe_text(submission.envelope_from, 200)


def files_as_mail(paths: list[Path], sender: str, subject: str) -> bytes:
    """Files from the command line wrapped as one mail, so every submission takes the same path to pages."""
    from email.message import EmailMessage
    from email.utils import formatdate

    message = EmailMessage()
    message["From"] = sender
    message["To"] = "fax@localhost"
    message["Subject"] = subject
    message["Date"] = formatdate()
    message.set_content("")
    for path in paths:
        message.add_attachment(path.read_bytes(), maintype="application", subtype="octet-stream",
                               filename=path.name)
    return bytes(message)

