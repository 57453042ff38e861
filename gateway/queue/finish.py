"""What happens once a job is final: the receipt (per job or per broadcast) and the copy in the outgoing archive."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from gateway.config import FaxgateConfig
from gateway.enums import JobStatus, ServerEvents
from gateway.events import EventBus
from gateway.filemodes import file_mode, make_folders
from gateway.logs import log_event, logger
from gateway.model import OutgoingJob
from gateway.queue.clock import WallClock
from gateway.queue.receipts import deliver, receipt_message
from gateway.queue.report import stored_report
from gateway.storage import Database, get_blob
from gateway.storage import jobs as store
from gateway.storage.submissions import get_submission

log = logger("outbound")
RETRY_AFTER_S = 60.0
GIVE_UP_AFTER_S = 86400.0
"""Receipts the smarthost would not take for a day are given up (each failure is logged)."""


class JobFinisher:
    """Receipts and archive for final jobs; idempotent, so a sweep can retry whatever failed."""

    def __init__(self, db: Database, config: FaxgateConfig, clock: WallClock, events: EventBus) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.events = events
        self.archive = OutgoingArchive(config, events)

    async def job_final(self, job: OutgoingJob) -> None:
        """Archive a sent fax and send the receipt it asked for."""
        if job.job_status.base == JobStatus.COMPLETED and self.config.archive.outgoing.enabled:
            await self._archive(job)
        if job.receipt_address and self.config.receipts.enabled:
            await self._receipt(job)

    async def sweep(self) -> None:
        """Retry receipts and archive copies that did not happen when their job became final (a periodic chore)."""
        now = self.clock.now()
        before = now - RETRY_AFTER_S
        async with self.db.transaction() as conn:
            # A cancel made outside the queue service (CLI, another node's API) has no finisher of its own.
            waiting = (await store.unsent_receipts(conn, before, now - GIVE_UP_AFTER_S, canceled_before=now + 1)
                       if self.config.receipts.enabled else [])
            unarchived = await store.unarchived_completed(conn, before) if self.config.archive.outgoing.enabled else []
        for job in unarchived:
            await self._archive(job)
        for job in waiting:
            await self._receipt(job)

    async def clean_archive(self) -> int:
        """Delete archived faxes past the archive's age limit (a periodic chore); returns how many."""
        return self.archive.clean_up(self.clock.now())

    async def _archive(self, job: OutgoingJob) -> None:
        if job.document_blob_id is None:
            return
        async with self.db.transaction() as conn:
            data = await get_blob(conn, job.document_blob_id)
        self.archive.store(job, data)
        async with self.db.transaction() as conn:
            await store.mark_archived(conn, job.id, self.clock.now())
            principal = await store.job_principal(conn, job.id)
            await self.events.record(conn, ServerEvents.OUT_ARCHIVE, "message.added", message_id=str(job.id),
                                     job_id=job.id, principal=principal or "")

    async def _receipt(self, job: OutgoingJob) -> None:
        async with self.db.transaction() as conn:
            siblings = await store.list_jobs(conn, submission_id=job.submission_id)
            submission = await get_submission(conn, job.submission_id)
        group = [job]
        if self.config.receipts.group_broadcast and len(siblings) > 1:
            if not all(sibling.job_status.is_final for sibling in siblings):
                return  # the last job of the broadcast to finish sends the one receipt
            # Siblings already reported (a job restarted after the broadcast's receipt) are not claimed twice.
            group = [sibling for sibling in siblings if sibling.receipt_address and sibling.receipt_sent_at is None]
            if job.id not in [member.id for member in group]:
                return
        ids = [member.id for member in group]
        async with self.db.transaction() as conn:
            if not await store.claim_receipt(conn, ids, self.clock.now()):
                return
            reports = []
            for member in group:
                reports.append(await stored_report(conn, member, submission))
        sent = False
        try:
            # The report decodes the sent fax (page 1, or every page with attach_fax): CPU work, kept off the loop.
            message = await asyncio.to_thread(receipt_message, reports, self.config, job.receipt_address)
            sent = await deliver(message, self.config, job.receipt_address)
        except Exception as exc:  # a receipt that failed in any way is retried by the sweep, never counted as sent
            log_event(log, logging.WARNING, "receipt.failed", to=job.receipt_address, error=type(exc).__name__)
        if not sent:
            async with self.db.transaction() as conn:
                await store.release_receipts(conn, ids)


class OutgoingArchive:
    """The outgoing archive folder: one TIFF plus a JSON record per sent fax, an age limit and quota warnings."""

    def __init__(self, config: FaxgateConfig, events: EventBus) -> None:
        section = config.archive.outgoing
        self.section = section
        self._default_folder = config.server.data_dir / "archive" / "outgoing"
        self.events = events
        self._warned = False

    @property
    def folder(self) -> Path:
        """The archive folder in force now (it may be changed through the API while the server runs)."""
        return self.section.folder or self._default_folder

    def store(self, job: OutgoingJob, tiff: bytes) -> Path:
        """Write the fax and its record atomically; returns the TIFF's path."""
        stamp = datetime.fromtimestamp(job.final_at or job.submitted_at, UTC)
        folder = self.folder / stamp.strftime("%Y") / stamp.strftime("%m")
        make_folders(folder, self.section.folder_mode)
        path = folder / f"{job.id}.tif"
        mode = file_mode(self.section.folder_mode)
        _write_atomic(path, tiff, mode)
        record = {
            "id": job.id, "submission_id": job.submission_id, "recipient_number": job.recipient_number,
            "recipient_name": job.recipient_name, "pages": job.pages, "remote_csid": job.remote_csid,
            "device": job.device_name, "submitted_at": job.submitted_at, "transmission_start": job.transmission_start,
            "transmission_end": job.transmission_end, "retries": job.retries, "priority": job.priority,
            "billing_code": job.billing_code,
        }
        _write_atomic(path.with_suffix(".json"), json.dumps(record, indent=2).encode(), mode)
        self.check_quota()
        return path

    def size(self) -> int:
        """Bytes in the archive folder."""
        return sum(entry.stat().st_size for entry in self.folder.rglob("*") if entry.is_file())

    def check_quota(self) -> None:
        """Warn once above the high watermark; warn again only after dropping below the low one."""
        if not self.section.quota_warning or not self.folder.exists():
            return
        size = self.size()
        if size > self.section.high_watermark and not self._warned:
            self._warned = True
            log_event(log, logging.WARNING, "archive.quota_exceeded", folder=str(self.folder), size=size,
                      high=self.section.high_watermark)
            self.events.publish(ServerEvents.OUT_ARCHIVE, "archive.quota_exceeded", size=size)
        elif size < self.section.low_watermark:
            self._warned = False

    def clean_up(self, now: float) -> int:
        """Delete archived faxes older than the age limit; returns how many."""
        limit = self.section.age_limit.total_seconds()
        if limit <= 0 or not self.folder.exists():
            return 0
        removed = 0
        for path in self.folder.rglob("*.tif"):
            if path.stat().st_mtime < now - limit:
                path.unlink(missing_ok=True)
                path.with_suffix(".json").unlink(missing_ok=True)
                removed += 1
                self.events.publish(ServerEvents.OUT_ARCHIVE, "message.removed", message_id=path.stem)
        if removed:
            log_event(log, logging.INFO, "archive.cleaned", removed=removed)
            self.check_quota()
        return removed


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)
