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
from gateway.enums import ExtendedStatus, Priority
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
from gateway.render import RenderError, RenderOptions, RenderPool, RenderResult
from gateway.render.links import LEFT_OUT, left_out_notes
from gateway.storage import Database, get_blob, put_blob
from gateway.storage import jobs as store
from gateway.storage.submissions import set_submission_state
from gateway.textsafe import safe_text

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
        """Work through submissions (first taking back the ones this node left half rendered), as many at once as
        there are render workers (a slow one holds up no other)."""
        try:
            async with self.db.transaction() as conn:
                taken = await store.release_own_submissions(conn, node_id=self.node_id, now=self.clock.now())
            if taken:
                log_event(log, logging.INFO, "submission.claims_taken_back", submissions=taken, node=self.node_id)
        except Exception:
            log.exception("submission.release_failed")
        await asyncio.gather(*(self._run_one_lane() for _ in range(self.config.render.workers)))

    async def _run_one_lane(self) -> None:
        """Take submissions one after another; poll for ones other processes stored."""
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
        render = render_options(self.config, resolution)
        left_out = await asyncio.to_thread(left_out_notes, mail.documents)
        with tempfile.TemporaryDirectory(prefix="faxgate-render-") as folder:
            work = Path(folder)
            body: RenderResult | None = None
            if mail.documents:
                body = await self.pool.render(list(mail.documents), render, work / "body.tif")
            documents: list[tuple[dict[str, str], bytes, int]] = []
            for recipient_index, recipient in enumerate(submission.recipients):
                result = body
                if cover:
                    result = await self._with_cover(work, recipient_index, body, mail, recipient, render,
                                                    cover_sender(self.config.security, submission, mail))
                if result is None:
                    raise MailError("there is nothing to fax")
                documents.append((recipient, result.path.read_bytes(), result.pages))
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
                                       pages=pages, claimed_by=None, claimed_until=None,
                                       options={**stored, LEFT_OUT: left_out} if left_out else stored)
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

    async def _with_cover(self, work: Path, recipient_index: int, body: RenderResult | None, mail: FaxMail,
                          recipient: dict[str, str], render: RenderOptions,
                          sender: tuple[str, str]) -> RenderResult:
        """This recipient's cover page followed by the body pages, merged page by page in a render worker."""
        fields = cover_fields(self.config, recipient, mail, sender, self.clock.now())
        out = work / f"job-{recipient_index}.tif"
        return await self.pool.render_cover(mail.cover_template, fields, render, out,
                                            body=body.path if body is not None else None)


def render_options(config: FaxgateConfig, resolution: str) -> RenderOptions:
    """How a submission's documents are rendered: the outbox's page limit and the render section's limits."""
    limits = config.render
    return RenderOptions(resolution=resolution, max_pages=config.outbox.max_pages,  # type: ignore[arg-type]
                         max_image_pixels=limits.max_image_pixels, max_page_length_mm=limits.max_page_length_mm)


def cover_fields(config: FaxgateConfig, recipient: dict[str, str], mail: FaxMail, sender: tuple[str, str],
                 now: float) -> dict[str, str]:
    """The fields of one recipient's cover page."""
    return {
        "recipient_name": recipient.get("name", ""), "recipient_fax_number": recipient.get("number", ""),
        "sender_name": sender[0], "sender_email": sender[1], "note": mail.cover_note, "subject": mail.subject,
        "time_sent": datetime.fromtimestamp(now, ZoneInfo(config.outbox.timezone)).strftime("%Y-%m-%d %H:%M"),
    }


def cover_sender(security: SecuritySection, submission: Submission, mail: FaxMail) -> tuple[str, str]:
    """Who sent the fax, for the cover's From row: the mail's display name, else the sending user's configured
    one; the mail's From address, else the envelope sender."""
    name = mail.sender_name
    if not name:
        principal = principal_by_name(security, submission.principal)
        name = principal.display_name if principal is not None else ""
    return name, mail.sender_address or safe_text(submission.envelope_from, 200)

