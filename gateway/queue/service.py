"""The queue as a server service: submission worker, scheduler, device manager and finisher, on one node."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from gateway.context import ServiceContext
from gateway.lifecycle import DeviceLine
from gateway.logs import log_event, logger
from gateway.queue.devices import DeviceManager, DeviceSlot
from gateway.queue.enqueue import JobFactory
from gateway.queue.finish import JobFinisher
from gateway.queue.pool import DevicePool
from gateway.queue.scheduler import Scheduler
from gateway.queue.timers import PeriodicWork, queue_chores
from gateway.queue.worker import SubmissionWorker
from gateway.render import RenderPool

log = logger("outbound")


class QueueService:
    """Everything that moves outgoing faxes on this node."""

    name = "queue"

    def __init__(self, context: ServiceContext, pool: DevicePool, hurry: asyncio.Event | None = None) -> None:
        self.context = context
        self.pool = pool
        self.clock = context.clock
        self.hurry = hurry or asyncio.Event()
        """Set by a second stop request: calls are cut at once instead of finishing their page."""
        self.scheduler: Scheduler | None = None
        self.worker: SubmissionWorker | None = None
        self.finisher: JobFinisher | None = None
        self.render_pool: RenderPool | None = None
        self.chores: PeriodicWork | None = None
        self.manager: DeviceManager | None = None
        self.factory: JobFactory | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Take the pool's lines, then start the worker, the scheduler and the periodic chores."""
        config, db, events, node_id = self.context.config, self.context.db, self.context.events, self.context.node_id
        slots = [DeviceSlot(name, line, tsid=self.pool.sections[name].tsid,
                            send_enabled=self.pool.sections[name].send_enabled, usable=_usable(line),
                            ringing=_ringing(line), answers_calls=self.pool.sections[name].receive_mode != "no_answer",
                            call_ended_at=_call_ended_at(line))
                 for name, line in self.pool.devices.items()]
        manager = self.manager = DeviceManager(slots, clock=self.clock)
        manager.receive_window = config.outbound.receive_window.total_seconds()
        workdir = config.server.data_dir / "tmp"
        workdir.mkdir(parents=True, exist_ok=True)
        self.finisher = JobFinisher(db, config, self.clock, events)
        self.scheduler = Scheduler(db=db, config=config, manager=manager, clock=self.clock, events=events,
                                   node_id=node_id, finisher=self.finisher, workdir=workdir)
        wake = self.scheduler.wake
        for line in self.pool.devices.values():
            line.listeners.append(lambda _line: wake())  # a line back to ready takes the jobs that waited
        self.render_pool = RenderPool.configured(config.render, workdir)
        self.factory = JobFactory(config, manager.order)
        self.worker = SubmissionWorker(db=db, config=config, factory=self.factory,
                                       pool=self.render_pool, clock=self.clock, node_id=node_id,
                                       on_queued=self.scheduler.wake, events=events)
        self._tasks = [asyncio.create_task(self.worker.run(), name="queue-worker"),
                       asyncio.create_task(self.scheduler.run(), name="queue-scheduler")]
        self.chores = queue_chores(self.scheduler, self.finisher)
        self.chores.start()
        log_event(log, logging.INFO, "queue.started", devices=",".join(manager.order) or "none")

    def reconfigure(self, areas: set[str]) -> None:
        """Configuration changed at runtime: rebuild the policy, windows and routes, take the devices' new TSID and
        send switch, and look at the queue again (a shorter retry delay or a window may make jobs due now)."""
        if self.manager is not None:
            for name, slot in self.manager.slots.items():
                section = self.pool.sections.get(name)
                if section is not None:
                    slot.tsid, slot.send_enabled = section.tsid, section.send_enabled
                    slot.answers_calls = section.receive_mode != "no_answer"
            self.manager.receive_window = self.context.config.outbound.receive_window.total_seconds()
        if self.factory is not None:
            self.factory.reconfigure()
        if self.scheduler is not None:
            self.scheduler.reconfigure()
            self.scheduler.wake()

    async def stop(self) -> None:
        """Stop taking work; calls in progress end after their page in flight (within the server's grace period)
        and are recorded; each step runs even when an earlier one fails."""
        grace = self.context.config.server.shutdown_grace.total_seconds()
        if self.worker is not None:
            self.worker.stop()
        if self.chores is not None:
            await _step("chores", self.chores.stop())
        if self.scheduler is not None:
            await _step("calls", self.scheduler.stop(grace, self.hurry))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.render_pool is not None:
            await _step("render_pool", self.render_pool.close())


def _call_ended_at(line: DeviceLine) -> Callable[[], float]:
    """When the line's last call ended."""
    return lambda: line.call_ended_at


def _ringing(line: DeviceLine) -> Callable[[], bool]:
    """Whether an incoming call has the line (it rings, or is being answered)."""
    return lambda: line.ringing


def _usable(line: DeviceLine) -> Callable[[], bool]:
    """Whether the line can take a call now (its lifecycle state)."""
    return lambda: line.usable


async def _step(name: str, work: Coroutine[Any, Any, None]) -> None:
    """One step of stopping the queue: a failure is logged with its traceback and the next step still runs."""
    try:
        await work
    except Exception:
        log.exception("queue.stop_step_failed", extra={"fields": {"step": name}})
