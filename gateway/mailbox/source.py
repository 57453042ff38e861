"""A polled mailbox as an intake source: APScheduler polls the folder at its interval, IMAP IDLE polls at once.

Exactly once: a mail's submission and its record (keyed by mailbox and Message-ID) are stored in one
transaction, and only then is the mail moved to the processed (or failed) folder. After a crash between the
two, the next poll finds the record and finishes the move instead of faxing again; a mail a person moved away
meanwhile is simply gone, and one moved back is moved out again, never faxed twice.

EWS and Graph list only the changes since their last round; the source keeps where each stands (the backend's
`sync_state`: SyncState or deltaLink, and the ids still in the folder) in the store, so a restart resumes it.

The source has the device lifecycle's states: INITIALIZING, READY, and RETRYING with the reason while the
server is down, refusing the login or failing; it is retried with doubling waits (up to retry_max) and logs
once per change of state, not once per failed poll.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from gateway.config import FaxgateConfig
from gateway.config.mailboxes import MailboxSection
from gateway.intake.bounce import send_bounce
from gateway.intake.checks import Refusal
from gateway.intake.mime import parse_message
from gateway.intake.rates import RateLimiter
from gateway.logs import log_event, logger
from gateway.mailbox.backend import BackendFactory, MailboxBackend, MailboxUnavailable
from gateway.mailbox.intake import MailboxIntake, Taken, from_address
from gateway.model import Submission, SubmissionState
from gateway.queue.timers import PeriodicChore, PeriodicWork
from gateway.storage import Database
from gateway.storage import mailbox as store
from gateway.storage.jobs import get_queue_state
from gateway.storage.submissions import create_submissions
from gateway.textsafe import safe_text

log = logger("outbound")
RETRY_FIRST_S = 2.0
T = TypeVar("T")


def backend_for(section: MailboxSection) -> MailboxBackend:
    """The backend the section names (imported on use: exchangelib is heavy to import)."""
    if section.backend == "graph":
        from gateway.mailbox.graph import GraphBackend

        return GraphBackend(section)
    if section.backend == "ews":
        from gateway.mailbox.ews import EwsBackend

        return EwsBackend(section)
    from gateway.mailbox.imap import ImapBackend

    return ImapBackend(section)


def message_key(raw: bytes) -> str:
    """How the store knows a mail again wherever it is: its Message-ID, else the SHA-256 of its bytes."""
    message_id = str(parse_message(raw).get("Message-ID", "") or "").strip()
    if message_id and len(message_id) <= 255:
        return message_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


class MailboxSource:
    """Polls one mailbox folder and turns each mail into a submission (or a bounce), exactly once."""

    def __init__(self, config: FaxgateConfig, db: Database, section: MailboxSection,
                 factory: BackendFactory = backend_for, *, node_id: str = "") -> None:
        self.config = config
        self.node_id = node_id or config.server.node_id or "faxgate"
        """Who claims the mails this source records (the server's node id, which survives a restart)."""
        self.db = db
        self.section = section
        self.name = f"mailbox:{section.name}"
        self.intake = MailboxIntake(config, section,
                                    RateLimiter(db, config.smtp.rate_limit, config.smtp.rate_window.total_seconds()))
        self.backend = factory(section)
        self.idle_backend = factory(section) if section.idle else None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"faxgate-{section.name}")
        self._idle_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"faxgate-{section.name}-idle")
        self._chore = f"mailbox-{section.name}"
        self.work = PeriodicWork([PeriodicChore(self._chore, section.poll_interval.total_seconds(), self.poll,
                                                at_start=True)])
        self.state = "initializing"
        self.reason = ""
        self.failures = 0
        self.retry_at: float | None = None
        self.polls = 0
        self._folders_ready = False
        self._resumed = False
        self._saved_sync: dict[str, Any] = {}
        self._stopping = False
        self._polling = False
        self._again = False
        self._idle_task: asyncio.Task[None] | None = None

    def status(self) -> dict[str, Any]:
        """What /health and the CLI show for this source."""
        return {"name": self.name, "backend": self.section.backend, "folder": self.section.folder,
                "state": self.state, "reason": self.reason, "failures": self.failures, "retry_at": self.retry_at,
                "polls": self.polls}

    async def start(self) -> None:
        """Schedule the polls (the first at once) and, where the server offers it, wait for mail with IDLE."""
        self._stopping = False
        self.work.start()
        if self.idle_backend is not None:
            self._idle_task = asyncio.create_task(self._idle_loop())

    async def stop(self) -> None:
        """Stop polling; a mail in flight is recorded or not (the next start finishes it either way)."""
        self._stopping = True
        await self.work.stop()
        if self._idle_task is not None:
            self._idle_task.cancel()
            await asyncio.gather(self._idle_task, return_exceptions=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.backend.close)
        if self.idle_backend is not None:
            await loop.run_in_executor(self._idle_executor, self.idle_backend.close)
        self._executor.shutdown(wait=True)
        self._idle_executor.shutdown(wait=True)
        self._set_state("stopped", "")

    def _stop_requested(self) -> bool:
        """Read from the IDLE thread: the source is stopping."""
        return self._stopping

    async def _call(self, function: Any, *args: Any) -> Any:
        """Run one blocking backend call on this mailbox's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _set_state(self, state: str, reason: str) -> None:
        """Record the state and reason; log only a change of state (a long outage is one line, one more when it
        ends, however its reason varies from poll to poll)."""
        was = self.state
        self.state, self.reason = state, reason
        if state == was:
            return
        level = logging.WARNING if state == "retrying" else logging.INFO
        log_event(log, level, "mailbox.state", mailbox=self.section.name, state=state, was=was,
                  reason=safe_text(reason, 300), failures=self.failures)

    def poll_soon(self) -> None:
        """The folder changed (IDLE): poll now, or once more right after the poll in progress (which may have
        listed the folder before the change)."""
        if self._polling:
            self._again = True
        elif not self._stopping:
            self.work.run_soon(self._chore)

    async def poll(self) -> None:
        """One poll (the scheduled chore), repeated while changes arrive during it; on an outage, backoff."""
        self._polling = True
        try:
            while True:
                self._again = False
                await self._poll_and_record()
                if not self._again or self._stopping or self.state == "retrying":
                    return
        finally:
            self._polling = False

    async def _poll_and_record(self) -> None:
        """Take every mail in the folder and record how it went in the source's state."""
        if self._stopping:
            return
        try:
            await self._poll_once()
        except MailboxUnavailable as exc:
            self._failed(exc.reason, exc.retry_after)
            return
        except Exception as exc:
            log.exception("mailbox.poll_failed", extra={"fields": {"mailbox": self.section.name}})
            self._failed(f"{type(exc).__name__}: {safe_text(str(exc), 200)}", None)
            return
        self.polls += 1
        self.failures = 0
        self.retry_at = None
        self._set_state("ready", "")

    def _failed(self, reason: str, retry_after: float | None) -> None:
        """RETRYING with the reason; the next poll after a doubling wait (or the server's Retry-After)."""
        self.failures += 1
        limit = self.section.retry_max.total_seconds()
        delay = min(RETRY_FIRST_S * 2.0 ** (self.failures - 1), limit)
        if retry_after is not None:
            delay = min(max(delay, retry_after), max(limit, retry_after))
        self.retry_at = time.time() + delay
        self._set_state("retrying", reason)
        if not self._stopping and self.work.scheduler.running:
            self.work.scheduler.modify_job(self._chore, next_run_time=datetime.now(UTC) + timedelta(seconds=delay))

    async def _save_sync_state(self) -> None:
        """Store the backend's sync state when it changed (a restart resumes the listing from it)."""
        state = await self._call(self.backend.sync_state)
        if state != self._saved_sync:
            async with self.db.transaction() as conn:
                await store.write_sync_state(conn, self.section.name, state)
            self._saved_sync = state

    async def _poll_once(self) -> None:
        section = self.section
        if not self._resumed:
            async with self.db.transaction() as conn:
                self._saved_sync = await store.read_sync_state(conn, section.name)
            await self._call(self.backend.resume, self._saved_sync)
            self._resumed = True
        if not self._folders_ready:
            for folder in (section.processed_folder, section.failed_folder):
                await self._call(self.backend.ensure_folder, folder)
            self._folders_ready = True
        listed = await self._call(self.backend.list_items, section.folder)
        await self._save_sync_state()
        try:
            await self._take_all(listed)
        finally:
            await self._save_sync_state()

    async def _take_all(self, listed: list[str]) -> None:
        """Take, record and move each listed mail."""
        section = self.section
        for item_id in listed:
            if self._stopping:
                return
            raw = await self._call(self.backend.fetch_mime, section.folder, item_id)
            if raw is None:
                continue  # gone since the listing (a person moved or deleted it)
            key = message_key(raw)
            async with self.db.transaction() as conn:
                item = await store.get_item(conn, section.name, key)
            if item is None:
                item = await self._take(item_id, key, raw)
            if item is None or item.held_by_other(self.node_id, time.time()):
                continue  # left for later, or another node took it just now and is moving it
            await self._finish(item, item_id, raw)

    async def _take(self, item_id: str, key: str, raw: bytes) -> store.MailboxItem | None:
        """Judge a new mail and record it (with its submission, in one transaction); None to leave it for later."""
        section = self.section
        async with self.db.transaction() as conn:
            state = await get_queue_state(conn)
        blocked = state["blocked"] if state and "blocked" in state else self.config.outbox.blocked
        judged = await self.intake.judge(raw, blocked)
        if isinstance(judged, Refusal) and judged.temporary:
            log_event(log, logging.INFO, "mailbox.deferred", mailbox=section.name, message=safe_text(key, 200),
                      check=judged.check, reason=judged.reason)
            return None
        try:
            async with self.db.transaction() as conn:
                if isinstance(judged, Taken):
                    [submission_id] = await create_submissions(conn, [judged.submission])
                    await store.record_item(conn, mailbox=section.name, message_key=key, item_id=item_id,
                                            outcome="submitted", target_folder=section.processed_folder,
                                            node_id=self.node_id, lease_s=section.claim_lease.total_seconds(),
                                            submission_id=submission_id)
                else:
                    await store.record_item(conn, mailbox=section.name, message_key=key, item_id=item_id,
                                            outcome="refused", target_folder=section.failed_folder,
                                            node_id=self.node_id, lease_s=section.claim_lease.total_seconds(),
                                            reason=judged.reply())
        except IntegrityError:
            pass  # another node recorded it first (it polls the same mailbox): finish its move, fax nothing
        else:
            if isinstance(judged, Taken):
                self.intake.rates.record(judged.rate_key, judged.count)
                log_event(log, logging.INFO, "mailbox.accepted", mailbox=section.name, submission=submission_id,
                          principal=judged.submission["principal"], sender=judged.submission["envelope_from"],
                          to=",".join(r["number"] for r in judged.submission["recipients"]), size=len(raw))
            else:
                log_event(log, logging.INFO, "mailbox.refused", mailbox=section.name, message=safe_text(key, 200),
                          check=judged.check, reason=judged.reply())
        async with self.db.transaction() as conn:
            return await store.get_item(conn, section.name, key)

    async def _finish(self, item: store.MailboxItem, item_id: str, raw: bytes) -> None:
        """Tell the sender of a refused mail (once), then move the mail out of the polled folder."""
        section = self.section
        if item.outcome == "refused" and not item.bounced:
            if not await self._bounce(item, raw):
                return  # the smarthost is down: the mail stays, the next poll tries again
            async with self.db.transaction() as conn:
                await store.mark_item(conn, item.id, bounced=True)
        moved = await self._call(self.backend.move, section.folder, item_id, item.target_folder)
        async with self.db.transaction() as conn:
            await store.mark_item(conn, item.id, moved=True)
        log_event(log, logging.INFO, "mailbox.moved" if moved else "mailbox.gone", mailbox=section.name,
                  message=safe_text(item.message_key, 200), folder=item.target_folder,
                  submission=item.submission_id or "")

    async def _bounce(self, item: store.MailboxItem, raw: bytes) -> bool:
        """The SMTP bounce, to the From: address, with the refusal's reason."""
        sender = from_address(raw)
        message = parse_message(raw)
        auto = str(message.get("Auto-Submitted", "") or "").strip().lower()
        if not sender or (auto and not auto.startswith("no")):
            return True  # nobody to tell, or an automatic mail (answering it could loop)
        subject = str(message.get("Subject", "") or "")
        refusal = item.reason.split(" ", 2)
        reason = refusal[2] if len(refusal) == 3 else item.reason
        status = refusal[1] if len(refusal) == 3 else "5.0.0"
        submission = Submission(id=f"mailbox-{item.id}", created_at=time.time(), source=self.section.backend,
                                principal=self.section.owner, envelope_from=sender, recipients=[],
                                subject=safe_text(subject, 200), state=SubmissionState.FAILED, reason=reason,
                                raw_blob_id=None, document_blob_id=None, pages=0)
        return await send_bounce(self.config, submission, reason, raw, status=status)

    async def _idle_loop(self) -> None:
        """Hold an IDLE connection; a change makes the scheduled poll run now. Ends when the server has no IDLE."""
        assert self.idle_backend is not None
        backend, section = self.idle_backend, self.section
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping:
            try:
                changed = await loop.run_in_executor(self._idle_executor, backend.wait_for_change, section.folder,
                                                     section.poll_interval.total_seconds(), self._stop_requested)
            except MailboxUnavailable:
                failures += 1  # the poll reports the outage; IDLE just waits and tries again
                await asyncio.sleep(min(RETRY_FIRST_S * 2.0 ** (failures - 1), section.retry_max.total_seconds()))
                continue
            failures = 0
            if changed is None:
                log_event(log, logging.INFO, "mailbox.no_idle", mailbox=section.name)
                return
            if changed and not self._stopping:
                self.poll_soon()


def mailbox_sources(config: FaxgateConfig, db: Database, node_id: str = "") -> list[MailboxSource]:
    """One source per configured mailbox that takes mail (entry point faxgate.intake_sources "mailbox")."""
    return [MailboxSource(config, db, section, node_id=node_id) for section in config.mailboxes if section.intake]
