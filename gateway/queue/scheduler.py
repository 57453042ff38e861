"""The scheduler: claims due jobs from the shared table for this node's idle devices, runs the calls, records them.

Everything it knows lives in the job table (status, next-attempt time, claim lease), so several nodes can
share one queue and a node that dies loses nothing: its claims lapse and the jobs return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gateway.config import FaxgateConfig
from gateway.config.outbound import OutboundSection, RetryRule
from gateway.crashpoints import crash_point
from gateway.enums import ExtendedStatus, JobStatus, ScheduleType
from gateway.events import EventBus
from gateway.logs import log_event, logger
from gateway.model import OutgoingJob
from gateway.queue.clock import WallClock
from gateway.queue.devices import DeviceManager
from gateway.queue.policy import Verdict, after_failure, shares_failure
from gateway.queue.routing import OutboundRouter, dial_string
from gateway.queue.windows import CallWindows
from gateway.render.header import HeaderFields, stamp_header
from gateway.storage import Database, get_blob, transitions
from gateway.storage import jobs as store
from gateway.storage.transitions import CallEnd
from modem.faxtiff import FaxPage, FaxTiffWriter, read_fax_tiff
from modem.provider import PageStamp, SendJob
from modem.result import CallResult
from modem.t30.sender import SendProgress

log = logger("outbound")
CUT_CALL_WAIT_S = 10.0
"""After cutting the calls at the end of the shutdown grace, how long their results may take to be recorded."""
SHUTDOWN_REASON = "interrupted by server shutdown"


class FinalJobHandler(Protocol):
    """Told once a job reached a final state and that state is committed (receipts, archive)."""

    async def job_final(self, job: OutgoingJob) -> None:
        """React to one final job."""
        ...


@dataclass(eq=False)
class _CallJob:
    """One job inside a call: its row and its pages still to send."""

    job: OutgoingJob
    pages: list[FaxPage]
    start: int
    attempt_id: int = 0
    confirmed: int = 0
    """Pages of this call the far end confirmed, counted as each MCF comes."""
    canceled: bool = False
    """A cancel was seen during the call: its pages not yet begun are skipped."""
    closed: bool = False
    """Its outcome is decided (its last page confirmed, or its pages ended by a cancel), though the call goes on."""

    @property
    def remaining(self) -> int:
        return len(self.pages) - self.start

    @property
    def whole(self) -> bool:
        return self.confirmed >= self.remaining


@dataclass
class QueueSwitches:
    """IFaxOutgoingQueue.Paused and .Blocked, as every node sees them."""

    paused: bool = False
    blocked: bool = False


@dataclass
class _Progress:
    """Page confirmations reported during a call, written to the table as they come."""

    started: float = 0.0
    writes: list[asyncio.Task[None]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


PageConfirmed = Callable[[_CallJob, SendProgress, list[_CallJob]], None]
"""Told of each confirmed page: its job, what the sender knows, and the jobs whose outcome that page decided."""


class _CallPlan:
    """The call's pages in job order (a ``modem.t30.sender.PagePlan``): the pages of a job cancelled meanwhile are
    skipped, and each job is closed as the far end confirms its last page while the call goes on."""

    def __init__(self, parts: list[_CallJob], on_page: PageConfirmed) -> None:
        self.parts = parts
        self.owner = [number for number, part in enumerate(parts) for _ in range(part.remaining)]
        """For each page of the call, which part it belongs to."""
        self.on_page = on_page

    def next_page(self, index: int) -> int | None:
        """The first page after ``index`` whose job is not cancelled; None ends the call after ``index``."""
        return next((page for page in range(index + 1, len(self.owner))
                     if not self.parts[self.owner[page]].canceled), None)

    def confirmed(self, index: int, following: int | None, progress: SendProgress) -> None:
        """Count the page; every job the call has now passed that is whole or cancelled is closed."""
        part = self.parts[self.owner[index]]
        part.confirmed += 1
        reached = len(self.parts) if following is None else self.owner[following]
        ended = [done for done in self.parts[:reached] if not done.closed and (done.whole or done.canceled)]
        for done in ended:
            done.closed = True
        self.on_page(part, progress, ended)


class Scheduler:
    """One node's dispatcher over the shared outgoing queue."""

    def __init__(
        self,
        *,
        db: Database,
        config: FaxgateConfig,
        manager: DeviceManager,
        clock: WallClock,
        events: EventBus,
        node_id: str,
        finisher: FinalJobHandler | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.manager = manager
        self.clock = clock
        self.events = events
        self.node_id = node_id
        self.finisher = finisher
        self.reconfigure()
        self.workdir = workdir or Path(tempfile.gettempdir())
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self.transmitting: set[str] = set()
        """Devices whose call has begun sending pages (a shutdown lets them finish the page in flight)."""
        self.working = 0
        """Tasks doing non-waiting work now (virtual-time tests wait for 0 before moving time)."""
        self._wake = asyncio.Event()
        self._last_call_start = float("-inf")
        self._stopping = False
        self._claiming = asyncio.Lock()
        """Held while claims turn into call tasks, so stop() sees every call that will run."""
        self.lease_s = config.outbound.claim_lease.total_seconds()
        self.device_ids = config.device_ids()

    def reconfigure(self) -> None:
        """Build the retry policy, routes and call windows from the configuration in force (again after a change)."""
        config = self.config
        self.policy = effective_policy(config)
        self.router = OutboundRouter(config.outbound, self.manager.order)
        self.windows = CallWindows(config.outbox.timezone, config.outbound.time_of_day,
                                   config.outbox.discount_start, config.outbox.discount_end)

    # ------------------------------------------------------------------------------------------ loop

    def wake(self) -> None:
        """Look at the queue now (a job was added or changed)."""
        self._wake.set()

    @contextlib.contextmanager
    def _busy(self) -> Iterator[None]:
        self.working += 1
        try:
            yield
        finally:
            self.working -= 1

    async def run(self) -> None:
        """Dispatch until stopped, sleeping until the next due job, a wake-up, or the poll interval."""
        await self.release_own_claims()
        poll = self.policy.poll_interval.total_seconds()
        while not self._stopping:
            started = 0
            try:
                started = await self.dispatch_once()
                due = await self.next_wake_time()
            except Exception:
                log.exception("queue.dispatch_failed")
                due = None
            now = self.clock.now()
            # A due job that nothing could take (its devices or its number busy) waits for a wake-up or a poll.
            wait = poll if due is None or (due <= now and not started) else max(0.0, min(poll, due - now))
            self._wake.clear()
            sleeper = asyncio.ensure_future(self.clock.sleep(wait))
            waker = asyncio.ensure_future(self._wake.wait())
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            sleeper.cancel()
            waker.cancel()

    async def stop(self, grace_s: float = 30.0, hurry: asyncio.Event | None = None) -> None:
        """Stop claiming and end every call truthfully: calls sending pages end after the page in flight (within
        the grace period, or at once when ``hurry`` is set), calls not yet sending are dropped; every outcome is
        recorded (the jobs go back to the queue from their first unconfirmed page)."""
        self._stopping = True
        self.wake()
        async with self._claiming:  # a claim being committed now still becomes a call we can see
            calls = dict(self.in_flight)
        if not calls:
            return
        log_event(log, logging.INFO, "queue.calls_ending", devices=",".join(calls), grace_s=grace_s)
        for device in calls:
            if device in self.transmitting:
                await self.manager.slots[device].device.finish_after_page()
            else:
                await self.manager.abort(device)
        pending = await _wait_or_hurry(set(calls.values()), grace_s, hurry)
        if pending:
            cut = [device for device, task in calls.items() if task in pending]
            log_event(log, logging.WARNING, "queue.calls_cut", devices=",".join(cut),
                      reason="hurried by a second signal" if hurry is not None and hurry.is_set()
                      else "the shutdown grace ran out")
            for device in cut:
                await self.manager.abort(device)
            _done, pending = await asyncio.wait(pending, timeout=CUT_CALL_WAIT_S)
        for task in pending:  # a device that ignores its abort: the restart takes these jobs back (own node id)
            log_event(log, logging.ERROR, "queue.call_not_recorded", task=task.get_name())
            task.cancel()

    async def switches(self) -> QueueSwitches:
        """The shared pause/block switches; the configuration gives them until someone sets them."""
        async with self.db.transaction() as conn:
            state = await store.get_queue_state(conn)
        if state is None:
            return QueueSwitches(self.config.outbox.paused, self.config.outbox.blocked)
        return QueueSwitches(state.get("paused", False), state.get("blocked", False))

    async def release_own_claims(self) -> None:
        """At start, take back jobs this node id claimed before it stopped (a crash or a SIGKILL)."""
        async with self.db.transaction() as conn:
            mine = [job for job in await store.list_jobs(conn, statuses=store.ACTIVE)
                    if job.claimed_by == self.node_id and job.device_name not in self.in_flight]
            await self._requeue_lost(conn, mine, "the server stopped during the call")
        if mine:
            log_event(log, logging.INFO, "queue.claims_taken_back", jobs=",".join(str(job.id) for job in mine),
                      node=self.node_id)

    async def next_wake_time(self) -> float | None:
        """The next moment something is due: a job, a kill time, a resting device, the stagger gap."""
        routes = self.router.routes_served_by(self.manager.order)
        async with self.db.transaction() as conn:
            due = await store.next_due_time(conn, routes)
            kill = await store.next_kill_time(conn)
        if not [name for name in self.manager.idle() if name not in self.in_flight]:
            due = None  # the end of a call (or a device coming back) is the next chance
        stagger = self.policy.stagger_calls.total_seconds()
        if stagger and due is not None:
            due = max(due, self._last_call_start + stagger)
        candidates = [due, kill, self.manager.next_available()]
        found = [value for value in candidates if value is not None]
        return max(self.clock.now(), min(found)) if found else None

    # -------------------------------------------------------------------------------------- dispatch

    async def dispatch_once(self) -> int:
        """Housekeeping, then give due jobs to idle devices; returns how many calls were started."""
        with self._busy():
            now = self.clock.now()
            await self._housekeeping(now)
            if self._stopping or (await self.switches()).paused:
                return 0
            started = 0
            stagger = self.policy.stagger_calls.total_seconds()
            async with self._claiming:
                while not self._stopping and (idle := [name for name in self.manager.idle()
                                                       if name not in self.in_flight]):
                    now = self.clock.now()
                    if stagger and now < self._last_call_start + stagger:
                        break
                    claimed = await self._claim(idle, now)
                    if claimed is None:
                        break
                    device, batch = claimed
                    self._last_call_start = now
                    self.working += 1  # the call task owns this until it starts waiting on the line
                    self.in_flight[device] = asyncio.create_task(self._call(device, batch), name=f"call-{device}")
                    started += 1
            if not [name for name in self.manager.idle() if name not in self.in_flight]:
                async with self.db.transaction() as conn:
                    await transitions.mark_no_line(conn, self.router.routes_served_by(self.manager.order),
                                                   self.clock.now())
            return started

    async def _claim(self, idle: list[str], now: float) -> tuple[str, list[OutgoingJob]] | None:
        routes = self.router.routes_served_by(idle)
        async with self.db.transaction() as conn:
            batch = await transitions.claim(conn, node_id=self.node_id, now=now, lease_s=self.lease_s, routes=routes,
                                            max_concurrent=self.policy.max_concurrent_calls,
                                            batch_limit=self.policy.max_batch_jobs - 1)
            if not batch:
                return None
            device = next(name for name in self.router.devices_of(batch[0].route) if name in idle)
        return device, batch

    async def _housekeeping(self, now: float) -> None:
        """Return jobs of dead nodes and give up jobs past their kill time (both are times in the job table)."""
        finals: list[OutgoingJob] = []
        async with self.db.transaction() as conn:
            lost = [job for job in await store.expired_claims(conn, now) if job.claimed_by != self.node_id
                    or job.device_name not in self.in_flight]
            await self._requeue_lost(conn, lost, "the node sending it stopped answering")
            for job in await store.overdue_jobs(conn, now):
                changed = await transitions.give_up(conn, job, reason=_gave_up_text(job, "its kill time passed"),
                                                    now=now, statuses=[job.status])
                if changed:
                    finals.append(changed)
        for job in finals:
            await self._announce_final(job)

    async def age_limit_sweep(self) -> None:
        """Give up waiting jobs older than the queue's age limit and delete failed ones past it (a periodic chore)."""
        with self._busy():
            now = self.clock.now()
            finals: list[OutgoingJob] = []
            async with self.db.transaction() as conn:
                if self.db.is_sqlite:  # PostgreSQL's autovacuum does this by itself
                    await store.refresh_statistics(conn)
                age = self.config.outbox.age_limit.total_seconds()
                if age > 0:  # Windows AgeLimit / HylaFAX DirtyDays
                    for job in await store.waiting_jobs_submitted_before(conn, now - age):
                        changed = await transitions.give_up(
                            conn, job, reason=_gave_up_text(job, "it is older than the queue's age limit"), now=now,
                            statuses=[job.status])
                        if changed:
                            finals.append(changed)
                    await transitions.remove(conn, await store.failed_jobs_older_than(conn, now - age))
            for job in finals:
                await self._announce_final(job)

    async def _requeue_lost(self, conn: Any, jobs: list[OutgoingJob], reason: str) -> None:
        """Put jobs whose call was cut off back in the queue at once (Windows: LINE_UNAVAILABLE retries now)."""
        now = self.clock.now()
        for job in jobs:
            for attempt in await store.open_attempts(conn, [job.id]):
                await store.finish_attempt(conn, attempt.id, ended_at=now, reason=reason,
                                           extended_status=int(ExtendedStatus.LINE_UNAVAILABLE))
            current = await store.get_job(conn, job.id)  # as it is now: a cancel may have come meanwhile
            if current is None or current.job_status.base not in store.ACTIVE:
                continue
            if current.job_status.base == JobStatus.CANCELING:  # keep "canceled by ..." for the receipt
                await transitions.end_cancel(conn, current, now=now, extended_status=ExtendedStatus.LINE_UNAVAILABLE)
            else:
                await transitions.requeue(conn, current, reason=reason, now=now, next_attempt_at=now,
                                          extended_status=ExtendedStatus.LINE_UNAVAILABLE, statuses=[current.status])
            log_event(log, logging.WARNING, "job.requeued", job=job.id, reason=reason, node=job.claimed_by)

    # ------------------------------------------------------------------------------------------ call

    async def _call(self, device: str, batch: list[OutgoingJob]) -> None:
        """One call for one or more jobs to the same number; every outcome is committed before the task ends."""
        call_path = self.workdir / f"faxgate-call-{uuid.uuid4().hex}.tif"
        working = True
        progress = _Progress()
        parts: list[_CallJob] = []
        try:
            loaded = [await self._load(job) for job in batch]
            await self._complete_without_call([part.job for part in loaded if part.remaining <= 0])
            parts = [part for part in loaded if part.remaining > 0]
            if not parts:
                return
            call_id = str(uuid.uuid4())
            number = batch[0].recipient_number
            dialed = dial_string(number, device, self.policy.dialing)
            slot = self.manager.slots[device]
            tsid = slot.tsid if self.config.outbox.use_device_tsid or not batch[0].tsid else batch[0].tsid
            stamps = self._write_call_document(call_path, parts, tsid)
            await self._record_start(parts, device, call_id, dialed)
            progress.started = self.clock.now()

            def on_status(state: ExtendedStatus, _page: int) -> None:
                if state == ExtendedStatus.TRANSMITTING:
                    self.transmitting.add(device)

            def on_page(part: _CallJob, sender: SendProgress, ended: list[_CallJob]) -> None:
                self._page_confirmed(part, sender, ended, device, progress)

            send = SendJob(dial_string=dialed, tiff_path=str(call_path), tsid=tsid,
                           header=(lambda index, _total: stamps[index]) if stamps else None,
                           plan=_CallPlan(parts, on_page))
            expected = 90.0 + 120.0 * sum(part.remaining for part in parts)
            self.working -= 1
            working = False
            result = await self.manager.call(device, send, on_status, expected,
                                             heartbeat=lambda: self._heartbeat(parts, device))
            self.working += 1
            working = True
            for write in progress.writes:
                await write
            await self._record_result(parts, device, number, result)
        except Exception:
            log.exception("queue.call_failed", extra={"fields": {"device": device}})
            await asyncio.gather(*progress.writes, return_exceptions=True)
            closed = {part.job.id for part in parts if part.closed}
            with contextlib.suppress(Exception):
                async with self.db.transaction() as conn:
                    await self._requeue_lost(conn, [job for job in batch if job.id not in closed],
                                             "the call could not be made (internal error)")
        finally:
            with contextlib.suppress(OSError):
                call_path.unlink()
            self.in_flight.pop(device, None)
            self.transmitting.discard(device)
            if working:
                self.working -= 1
            self.wake()

    async def _complete_without_call(self, jobs: list[OutgoingJob]) -> None:
        """Jobs whose every page was confirmed before a crash cut off the bookkeeping: done, no call needed."""
        now = self.clock.now()
        for job in jobs:
            async with self.db.transaction() as conn:
                done = await transitions.complete(conn, job, node_id=self.node_id, now=now)
            if done is not None:
                await self._announce_final(done)

    async def _load(self, job: OutgoingJob) -> _CallJob:
        """The job's pages from the shared store (rendered once, at submission)."""
        if job.document_blob_id is None:
            raise ValueError(f"job {job.id} has no document")
        async with self.db.transaction() as conn:
            data = await get_blob(conn, job.document_blob_id)
        with tempfile.NamedTemporaryFile(suffix=".tif", dir=self.workdir) as handle:
            handle.write(data)
            handle.flush()
            pages = list(read_fax_tiff(handle.name))
        return _CallJob(job, pages, min(job.pages_sent, len(pages)))

    def _write_call_document(self, path: Path, parts: list[_CallJob], tsid: str) -> list[PageStamp]:
        """Every page this call sends, in order, and the header stamp of each (page X of Y of its own job)."""
        stamps: list[PageStamp] = []
        zone = ZoneInfo(self.config.outbox.timezone)
        sent = datetime.fromtimestamp(self.clock.now(), zone)
        fine = all(page.fine for part in parts for page in part.pages)
        with FaxTiffWriter(path, fine=fine) as writer:
            for part in parts:
                for index in range(part.start, len(part.pages)):
                    page = part.pages[index]
                    writer.add_page(page.bitmap, yres=page.yres)
                    fields = HeaderFields(sent=sent, tsid=tsid, recipient=part.job.recipient_number,
                                          page=index + 1, pages=len(part.pages),
                                          recipient_name=part.job.recipient_name)
                    stamps.append(_stamper(fields, self.config.outbox.branding_format, page.fine))
        return stamps if self.config.outbox.branding else []

    async def _record_start(self, parts: list[_CallJob], device: str, call_id: str, dialed: str) -> None:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            for part in parts:
                part.attempt_id = await transitions.start_call(
                    conn, part.job, node_id=self.node_id, device=device, device_id=self.device_ids.get(device, 0),
                    call_id=call_id, dialed=dialed, start_page=part.start, pages_total=len(part.pages), now=now)
        for part in parts:
            log_event(log, logging.INFO, "job.dialing", job=part.job.id, device=device, number=dialed,
                      first_page=part.start + 1)

    def _page_confirmed(self, part: _CallJob, sender: SendProgress, ended: list[_CallJob], device: str,
                        progress: _Progress) -> None:
        """Commit a confirmed page as it comes: the job's count, and the outcome of every job the call has passed
        (completed at its last page, or cancelled) with its receipt, while the call goes on."""
        now = self.clock.now()
        so_far = _so_far(sender, now - progress.started)
        sent = part.start + part.confirmed
        self.working += 1  # from now: the write below owns it

        async def write() -> None:
            closed: list[OutgoingJob] = []
            try:
                async with progress.lock:
                    async with self.db.transaction() as conn:
                        # Every confirmed page is counted (FEI_SENDING), its job's last one too, before the close.
                        await transitions.record_page(
                            conn, part.job.id, node_id=self.node_id, sent=sent, total=len(part.pages), now=now,
                            device_id=self.device_ids.get(device, 0))
                        for done in ended:
                            if (job := await self._close_part(conn, done, so_far, now)) is not None:
                                closed.append(job)
                    crash_point("queue.page_recorded")
                    for job in closed:
                        self._announce_change(job, device)
                for job in closed:
                    await self._announce_final(job)
            finally:
                self.working -= 1
        progress.writes.append(asyncio.ensure_future(write()))

    async def _heartbeat(self, parts: list[_CallJob], device: str) -> None:
        """Renew the claim and look for cancels (from any node): a cancelled job's pages end at the next page
        boundary; a call whose every open job is cancelled before its pages begin is dropped."""
        with self._busy():
            open_parts = [part for part in parts if not part.closed]
            if not open_parts:
                return
            async with self.db.transaction() as conn:
                await store.renew_claims(conn, self.node_id, [part.job.id for part in open_parts],
                                         self.clock.now() + self.lease_s)
                current = [await store.get_job(conn, part.job.id) for part in open_parts]
            for part, job in zip(open_parts, current, strict=True):
                if not part.canceled and job is not None and job.job_status.base == JobStatus.CANCELING:
                    part.canceled = True
                    log_event(log, logging.INFO, "job.cancel_pages", job=part.job.id, device=device,
                              confirmed=part.start + part.confirmed)
            if all(part.canceled for part in open_parts) and device not in self.transmitting:
                log_event(log, logging.INFO, "job.cancel_call", jobs=[part.job.id for part in open_parts],
                          device=device)
                await self.manager.abort(device)

    async def _record_result(self, parts: list[_CallJob], device: str, number: str, result: CallResult) -> None:
        """Commit the attempt and the new state of each job still open in one transaction, then tell the world."""
        now = self.clock.now()
        finals: list[OutgoingJob] = []
        changed: list[OutgoingJob] = []
        failed = False
        async with self.db.transaction() as conn:
            for part in parts:
                if part.closed:  # decided during the call; its attempt gets the whole call's log
                    await store.finish_attempt(conn, part.attempt_id, session_log=_session_log(result))
                    continue
                part.closed = True
                updated = await self._close_part(conn, part, result, now)
                if updated is None:
                    continue
                failed = failed or updated.job_status.base in (JobStatus.RETRYING, JobStatus.RETRIES_EXCEEDED)
                changed.append(updated)
                if updated.job_status.is_final:
                    finals.append(updated)
            if failed and shares_failure(result.status, self.policy):
                for other in await store.waiting_jobs_to(conn, number, [part.job.id for part in parts]):
                    verdict = after_failure(other, result.status, f"{result.reason} (on another job's call)",
                                            now, self.policy, dialed=False)
                    shared = await self._apply(conn, other, verdict, now, later_only=True)
                    if shared is None:
                        continue
                    changed.append(shared)
                    if verdict.final:
                        finals.append(shared)
        for job in changed:
            self._announce_change(job, device)
        for job in finals:
            await self._announce_final(job)

    async def _close_part(self, conn: Any, part: _CallJob, result: CallResult, now: float) -> OutgoingJob | None:
        """Finish one job's attempt and write its verdict; None when another node took the job meanwhile."""
        current = await store.get_job(conn, part.job.id)
        sent = part.start + part.confirmed
        status, reason = result.status, result.reason
        if part.whole and status == ExtendedStatus.CALL_COMPLETED:
            reason = f"{part.confirmed} pages sent"
        elif current is not None and current.job_status.base == JobStatus.CANCELING and not part.whole:
            status = ExtendedStatus.CALL_ABORTED
            reason = f"canceled after {sent} of {len(part.pages)} pages; the other pages were not sent"
        await store.finish_attempt(
            conn, part.attempt_id, ended_at=now, extended_status=int(status), reason=reason,
            pages_sent=part.confirmed, bit_rate=result.bit_rate, ecm=result.ecm, compression=result.compression,
            resolution=result.resolution, remote_csid=result.remote_csid, duration_s=result.duration_s,
            session_log=_session_log(result))
        if current is None or current.claimed_by != self.node_id:
            log_event(log, logging.WARNING, "job.claim_lost", job=part.job.id)
            return None
        return await self._end_call(conn, current, sent, result, now)

    async def _end_call(self, conn: Any, job: OutgoingJob, sent: int, result: CallResult,
                        now: float) -> OutgoingJob | None:
        """The transition a call's end makes for one job of it (held by this node)."""
        call = CallEnd(sent, result.remote_csid, now)
        device_id = self.device_ids.get(job.device_name or "", 0)
        if sent >= job.pages:
            return await transitions.complete(conn, job, node_id=self.node_id, now=now, call=call,
                                              device_id=device_id)
        if job.job_status.base == JobStatus.CANCELING:
            return await transitions.end_cancel(conn, job, now=now, extended_status=ExtendedStatus.CALL_ABORTED,
                                                call=call, held_by=self.node_id, device_id=device_id)
        if self._stopping and result.status == ExtendedStatus.CALL_ABORTED:
            # Not a failed try: back in the queue at once, from the first page the far end did not confirm.
            return await transitions.requeue(
                conn, job, reason=f"{SHUTDOWN_REASON} after {sent} of {job.pages} pages confirmed; resumes at page "
                                  f"{sent + 1}", extended_status=ExtendedStatus.CALL_ABORTED, now=now,
                next_attempt_at=now, call=call, held_by=self.node_id, device_id=device_id)
        status = result.status
        reason = result.reason
        if status == ExtendedStatus.CALL_COMPLETED:  # the far end hung up content with fewer pages than sent
            status, reason = ExtendedStatus.FATAL_ERROR, f"the far end confirmed only {sent} of {job.pages} pages"
        return await self._apply(conn, job, after_failure(job, status, reason, now, self.policy), now, call=call,
                                 held_by=self.node_id)

    async def _apply(self, conn: Any, job: OutgoingJob, verdict: Verdict, now: float, *, call: CallEnd | None = None,
                     held_by: str | None = None, later_only: bool = False) -> OutgoingJob | None:
        """Requeue or give up a job after a failed call (its own, or a shared failure: never sooner than it was)."""
        failure = verdict.failure
        device_id = self.device_ids.get(job.device_name or "", 0)  # the line the failed call was on (FEI_ events)
        if verdict.next_attempt_at is None:
            return await transitions.give_up(conn, job, reason=failure.reason, now=now, failure=failure, call=call,
                                             held_by=held_by, device_id=device_id)
        retry_at = self._fit_window(job, verdict.next_attempt_at)
        if later_only:
            retry_at = max(retry_at, job.next_attempt_at)
        return await transitions.requeue(conn, job, reason=failure.reason, extended_status=failure.extended_status,
                                         now=now, next_attempt_at=retry_at, failure=failure,
                                         sched_priority=verdict.sched_priority, call=call, held_by=held_by,
                                         statuses=None if held_by else [job.status], device_id=device_id)

    def _fit_window(self, job: OutgoingJob, retry_at: float) -> float:
        """Move a retry time into the allowed time of day (and the discount period for discount jobs)."""
        return self.windows.next_allowed(retry_at, discount=job.schedule_type == ScheduleType.DISCOUNT_PERIOD)

    async def _announce_final(self, job: OutgoingJob) -> None:
        log_event(log, logging.INFO, "job.final", job=job.id, status=job.job_status.name,
                  result=job.ext_status.name, reason=job.extended_status_text)
        if self.finisher is not None:
            try:
                await self.finisher.job_final(job)
            except Exception:
                log.exception("job.final_handler_failed", extra={"fields": {"job": job.id}})

    def _announce_change(self, job: OutgoingJob, device: str) -> None:
        log_event(log, logging.INFO, "job.status", job=job.id, status=job.job_status.name,
                  result=job.ext_status.name, pages=f"{job.pages_sent}/{job.pages}", reason=job.extended_status_text)


def effective_policy(config: FaxgateConfig) -> OutboundSection:
    """The outbound policy, with Windows' Retries and RetryDelay ([outbox]) for results without a row of their own."""
    policy = config.outbound
    if "other" in policy.retry.model_fields_set:
        return policy
    other = RetryRule(delay=config.outbox.retry_delay, max=config.outbox.retries)
    return policy.model_copy(update={"retry": policy.retry.model_copy(update={"other": other})})


def _so_far(sender: SendProgress, duration_s: float) -> CallResult:
    """What a call in progress has achieved, for the jobs of it that the far end confirmed whole."""
    session = sender.session
    return CallResult(ExtendedStatus.CALL_COMPLETED, pages=sender.pages_confirmed, remote_csid=sender.remote_csid,
                      duration_s=round(duration_s, 3), bit_rate=session.modulation.bit_rate if session else 0,
                      ecm=bool(session and session.ecm), compression=session.compression if session else "",
                      resolution=session.resolution if session else "")


def _session_log(result: CallResult) -> str:
    return "\n".join(result.session_log[-400:])


def _stamper(fields: HeaderFields, fmt: str, fine: bool) -> PageStamp:
    def stamp(bitmap: Any) -> Any:
        return stamp_header(bitmap, fields, fmt, fine=fine)
    return stamp


async def _wait_or_hurry(tasks: set[asyncio.Task[None]], timeout: float,
                         hurry: asyncio.Event | None) -> set[asyncio.Task[None]]:
    """Wait for the tasks until ``timeout`` or until ``hurry`` is set; returns the tasks still running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    hurried = asyncio.ensure_future(hurry.wait()) if hurry is not None else None
    pending: set[asyncio.Future[Any]] = set(tasks)
    try:
        while pending and (hurry is None or not hurry.is_set()):
            left = deadline - loop.time()
            if left <= 0:
                break
            waiters = pending | {hurried} if hurried is not None else pending
            done, _ = await asyncio.wait(waiters, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            pending -= done
    finally:
        if hurried is not None:
            hurried.cancel()
    return {task for task in tasks if not task.done()}


def _gave_up_text(job: OutgoingJob, why: str) -> str:
    last = job.extended_status_text
    return f"{last}; {why}" if last else why
