"""The queue as a server service: submission worker, scheduler, device manager and finisher, on one node."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from gateway.logs import log_event, logger
from gateway.queue.clock import SystemClock, WallClock
from gateway.queue.devices import DeviceManager, DeviceSlot
from gateway.queue.enqueue import JobFactory
from gateway.queue.finish import JobFinisher
from gateway.queue.pool import DevicePool
from gateway.queue.scheduler import Scheduler
from gateway.queue.timers import PeriodicWork, queue_chores
from gateway.queue.worker import SubmissionWorker
from gateway.render import RenderPool

if TYPE_CHECKING:
    from gateway.server import FaxServer

log = logger("outbound")


class QueueService:
    """Everything that moves outgoing faxes on this node."""

    name = "queue"

    def __init__(self, server: FaxServer, pool: DevicePool, clock: WallClock | None = None) -> None:
        self.server = server
        self.pool = pool
        self.clock = clock or SystemClock()
        self.scheduler: Scheduler | None = None
        self.worker: SubmissionWorker | None = None
        self.finisher: JobFinisher | None = None
        self.render_pool: RenderPool | None = None
        self.chores: PeriodicWork | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Register devices, then start the worker, the scheduler and the periodic chores."""
        config = self.server.config
        slots = [DeviceSlot(name, device, provider=self.pool.sections[name].provider,
                            tsid=self.pool.sections[name].tsid, send_enabled=self.pool.sections[name].send_enabled)
                 for name, device in self.pool.devices.items()]
        manager = DeviceManager(slots, clock=self.clock, events=self.server.events, db=self.server.db,
                                node_id=self.server.node_id)
        await manager.register()
        workdir = config.server.data_dir / "tmp"
        workdir.mkdir(parents=True, exist_ok=True)
        self.finisher = JobFinisher(self.server.db, config, self.clock, self.server.events)
        self.scheduler = Scheduler(db=self.server.db, config=config, manager=manager, clock=self.clock,
                                   events=self.server.events, node_id=self.server.node_id, finisher=self.finisher,
                                   workdir=workdir)
        self.render_pool = RenderPool.configured(config.render, workdir)
        self.worker = SubmissionWorker(db=self.server.db, config=config, factory=JobFactory(config, manager.order),
                                       pool=self.render_pool, clock=self.clock, node_id=self.server.node_id,
                                       on_queued=self.scheduler.wake, events=self.server.events)
        self._tasks = [asyncio.create_task(self.worker.run(), name="queue-worker"),
                       asyncio.create_task(self.scheduler.run(), name="queue-scheduler")]
        self.chores = queue_chores(self.scheduler, self.finisher)
        self.chores.start()
        log_event(log, logging.INFO, "queue.started", devices=",".join(manager.order) or "none")

    async def stop(self) -> None:
        """Stop taking work; calls in progress end after their page in flight (within the server's grace period)
        and are recorded; each step runs even when an earlier one fails."""
        grace = self.server.config.server.shutdown_grace.total_seconds()
        if self.worker is not None:
            self.worker.stop()
        if self.chores is not None:
            await _step("chores", self.chores.stop())
        if self.scheduler is not None:
            await _step("calls", self.scheduler.stop(grace, self.server.hurry))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.render_pool is not None:
            await _step("render_pool", self.render_pool.close())


async def _step(name: str, work: Coroutine[Any, Any, None]) -> None:
    """One step of stopping the queue: a failure is logged with its traceback and the next step still runs."""
    try:
        await work
    except Exception:
        log.exception("queue.stop_step_failed", extra={"fields": {"step": name}})
