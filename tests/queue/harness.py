"""A queue on virtual time: the real scheduler, store and device manager, with scripted lines standing in for calls.

The scripted device is the scheduler-test double the brief allows: every call takes virtual time on a
ManualClock and ends the way the script for its number says. End-to-end tests use the real engine instead.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.config import FaxgateConfig, parse_config
from gateway.enums import ExtendedStatus, Priority, ScheduleType
from gateway.events import EventBus
from gateway.model import Attempt, OutgoingJob
from gateway.queue.clock import ManualClock
from gateway.queue.devices import DeviceManager, DeviceSlot
from gateway.queue.enqueue import JobFactory, JobRequest
from gateway.queue.finish import JobFinisher
from gateway.queue.scheduler import Scheduler
from gateway.queue.timers import queue_chores
from gateway.storage import Database, put_blob
from gateway.storage import jobs as store
from gateway.storage.schema import outgoing_jobs
from gateway.storage.submissions import create_submission
from modem.device import FaxDevice
from modem.faxtiff import count_pages, write_fax_tiff
from modem.provider import SendJob
from modem.result import CallResult
from modem.t30.common import StatusCallback
from modem.t30.sender import EveryPage, SendProgress

MONDAY_10_UTC = datetime(2026, 11, 23, 10, 0, tzinfo=UTC).timestamp()
OUTCOMES = {
    "busy": ExtendedStatus.BUSY,
    "no_answer": ExtendedStatus.NO_ANSWER,
    "bad_address": ExtendedStatus.BAD_ADDRESS,
    "protocol": ExtendedStatus.FATAL_ERROR,
    "not_fax": ExtendedStatus.NOT_FAX_CALL,
    "vendor_error": ExtendedStatus.PROPRIETARY,
}


@dataclass
class CallRecord:
    """One call a scripted line saw."""

    device: str
    dialed: str
    started: float
    ended: float = 0.0
    pages_offered: int = 0
    pages_confirmed: int = 0
    outcome: str = ""


@dataclass
class ScriptedLines:
    """What each number does on its next calls: "ok", "busy", "no_answer", "bad_address", "drop:N" (N pages),
    "hang" (the modem wedges)."""

    scripts: dict[str, list[str]] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    setup_s: float = 30.0
    page_s: float = 20.0

    def next_outcome(self, number: str) -> str:
        script = self.scripts.get(number, [])
        return script.pop(0) if script else "ok"


class ScriptedDevice:
    """A FaxDevice whose calls follow ScriptedLines and take virtual time."""

    def __init__(self, name: str, lines: ScriptedLines, clock: ManualClock) -> None:
        self.name = name
        self.lines = lines
        self.clock = clock
        self.aborts = 0
        self.closes = 0
        self.finish_requests = 0
        self._finish_after_page = False
        self.running: asyncio.Task[Any] | None = None

    async def send(self, job: SendJob, on_status: StatusCallback) -> CallResult:
        self.running = asyncio.current_task()
        self._finish_after_page = False
        outcome = self.lines.next_outcome(job.dial_string)
        offered = count_pages(job.tiff_path)
        record = CallRecord(self.name, job.dial_string, self.clock.now(), pages_offered=offered, outcome=outcome)
        self.lines.calls.append(record)
        on_status(ExtendedStatus.DIALING, 0)
        await self.clock.sleep(self.lines.setup_s)
        try:
            if outcome == "hang":  # a wedged modem: says nothing, ever
                await self.clock.sleep(10**9)
            if outcome in OUTCOMES:
                return CallResult(OUTCOMES[outcome], reason=outcome.replace("_", " "))
            limit = int(outcome.split(":")[1]) if outcome.startswith("drop:") else offered
            plan = job.plan or EveryPage(offered)  # the pages go as the plan says, as in the real sender
            progress = SendProgress(remote_csid="REMOTE")
            index = plan.next_page(-1)
            while index is not None:
                on_status(ExtendedStatus.TRANSMITTING, index + 1)
                await self.clock.sleep(self.lines.page_s)
                if record.pages_confirmed == limit:  # the far end hangs up during this page
                    return CallResult(ExtendedStatus.FATAL_ERROR, reason="the far end hung up",
                                      pages=record.pages_confirmed, pages_total=offered, remote_csid="REMOTE")
                following = None if self._finish_after_page else plan.next_page(index)  # EOP, then DCN
                record.pages_confirmed = progress.pages_confirmed = record.pages_confirmed + 1
                plan.confirmed(index, following, progress)
                if self._finish_after_page and plan.next_page(index) is not None:
                    return CallResult(ExtendedStatus.CALL_ABORTED, reason="ended on request",
                                      pages=record.pages_confirmed, pages_total=offered, remote_csid="REMOTE")
                index = following
            return CallResult(ExtendedStatus.CALL_COMPLETED, reason="sent", pages=record.pages_confirmed,
                              pages_total=offered, remote_csid="REMOTE", bit_rate=14400)
        finally:
            record.ended = self.clock.now()

    async def finish_after_page(self) -> None:
        """End the call after the page in flight, as the provider does on a shutdown."""
        self.finish_requests += 1
        self._finish_after_page = True

    async def abort(self) -> None:
        """Drop the call in progress, as the provider does (by cancelling it)."""
        self.aborts += 1
        if self.running is not None and not self.running.done():
            self.running.cancel()

    async def close(self) -> None:
        """Nothing to release."""
        self.closes += 1


def queue_config(overrides: dict[str, Any] | None = None, data_dir: Path | None = None) -> FaxgateConfig:
    """The defaults plus overrides, as a TOML document would give them."""
    data: dict[str, Any] = {"outbox": {"timezone": "UTC"}, "outbound": {"poll_interval": "1s"}}
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    config = parse_config(data)
    if data_dir is not None:
        config.server.data_dir = data_dir
    return config


def small_pages(count: int, seed: int) -> list[np.ndarray]:
    """Distinct short pages (a few black bars whose places depend on the seed and the page)."""
    pages = []
    for index in range(count):
        bitmap = np.zeros((200, 216), dtype=np.uint8)
        row = 40 + (seed * 7 + index * 13) % 120
        bitmap[row:row + 10, 20 + index % 50: 120] = 0xFF
        pages.append(bitmap)
    return pages


class CountingDatabase(Database):
    """The store, counting its open transactions: virtual time may move only while none is (a commit runs in
    aiosqlite's thread, in real time, and under load takes longer than any fixed pause)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.open_transactions = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        self.open_transactions += 1
        try:
            async with super().transaction() as conn:
                yield conn
        finally:
            self.open_transactions -= 1


async def force_columns(conn: AsyncConnection, job_id: int, **values: Any) -> None:
    """Set a job's columns directly, as a crash or a damaged store leaves them (no transition, no event)."""
    await conn.execute(update(outgoing_jobs).where(outgoing_jobs.c.id == job_id).values(**values))


class QueueHarness:
    """The real scheduler on a real SQLite store, driven on a ManualClock."""

    def __init__(self, config: FaxgateConfig, devices: list[str], url: str, workdir: Path, *,
                 clock: Any = None, sending: dict[str, FaxDevice] | None = None) -> None:
        """Scripted devices on a ManualClock, or the given ``sending`` devices on the given clock."""
        self.config = config
        self.clock = clock or ManualClock(MONDAY_10_UTC)
        self.lines = ScriptedLines()
        self.db = CountingDatabase(url)
        self.events = EventBus()
        slots = [DeviceSlot(name, sending[name] if sending else ScriptedDevice(name, self.lines, self.clock),
                            tsid="+1 555 0000") for name in devices]
        self.manager = DeviceManager(slots, clock=self.clock)
        self.finisher = JobFinisher(self.db, config, self.clock, self.events)
        self.scheduler = Scheduler(db=self.db, config=config, manager=self.manager, clock=self.clock,
                                   events=self.events, node_id="test", workdir=workdir, finisher=self.finisher)
        self.chores = queue_chores(self.scheduler, self.finisher)
        """The service's periodic chores, never started here: APScheduler runs on real time, tests trigger them."""
        self.factory = JobFactory(config, devices)
        self.workdir = workdir
        self._blobs: dict[int, str] = {}

    async def start(self) -> None:
        await self.db.migrate()
        await self.events.start(self.db, "test")

    async def close(self) -> None:
        await self.events.stop()
        await self.db.close()

    async def add_job(self, number: str, *, pages: int = 1, priority: Priority = Priority.NORMAL,
                      bulk: bool = False, schedule: ScheduleType = ScheduleType.NOW,
                      send_at: float | None = None, submission: str | None = None, receipt: str = "") -> int:
        """Queue a job of ``pages`` small pages to ``number`` at the current virtual time."""
        path = Path(tempfile.mkdtemp(dir=self.workdir)) / "doc.tif"
        write_fax_tiff(path, small_pages(pages, seed=len(self._blobs)), fine=True)
        async with self.db.transaction() as conn:
            if submission is None:
                submission = await self.add_submission(conn, subject="")
            blob = await put_blob(conn, path.read_bytes(), "image/tiff")
            job_id = await self.factory.create(conn, JobRequest(
                submission_id=submission, number=number, document_blob_id=blob, pages=pages, priority=priority,
                bulk=bulk, schedule=schedule, send_at=send_at, receipt_address=receipt), self.clock.now())
        self._blobs[job_id] = blob
        return job_id

    async def add_submission(self, conn: Any = None, subject: str = "Monthly report") -> str:
        """A submission (broadcast jobs share one)."""
        if conn is None:
            async with self.db.transaction() as own:
                return await self.add_submission(own, subject)
        return await create_submission(conn, source="test", principal="test", envelope_from="",
                                       recipients=[], raw=b"", subject=subject)

    async def job(self, job_id: int) -> OutgoingJob:
        async with self.db.transaction() as conn:
            job = await store.get_job(conn, job_id)
        assert job is not None
        return job

    async def attempts(self, job_id: int) -> list[Attempt]:
        async with self.db.transaction() as conn:
            return await store.list_attempts(conn, job_id=job_id)

    async def settle(self) -> None:
        """Wait (in real time, briefly) until every task is parked on the virtual clock."""
        last: tuple[int, int, int] | None = None
        stable = 0
        while stable < 3:
            await asyncio.sleep(0.002)
            state = (self.scheduler.working, self.clock.sleeping, len(self.scheduler.in_flight),
                     self.db.open_transactions)
            idle = self.scheduler.working == 0 and self.db.open_transactions == 0
            stable = stable + 1 if state == last and idle else 0
            last = state

    async def run_until(self, end: float) -> None:
        """Dispatch and move virtual time event by event up to ``end``."""
        while True:
            await self.scheduler.dispatch_once()
            await self.settle()
            now = self.clock.now()
            due = await self.scheduler.next_wake_time()
            candidates = [t for t in (self.clock.next_wake(), due if due is not None and due > now else None)
                          if t is not None]
            if not candidates or min(candidates) > end:
                self.clock.advance_to(end)
                await self.settle()
                await self.scheduler.dispatch_once()  # the poll a running server makes at any moment
                await self.settle()
                return
            self.clock.advance_to(min(candidates))
            await self.settle()

    async def run_for(self, seconds: float) -> None:
        await self.run_until(self.clock.now() + seconds)
