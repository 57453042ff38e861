"""The queue's periodic chores on APScheduler: receipt and archive retries, archive clean-up, the age-limit sweep,
the event log's retention.

Only the chores' intervals live in the scheduler; what each chore acts on is read from the job table and the
archive folder every time, so a restart (or another node running the same chores) loses and repeats nothing.
Job due times, kill times and discount-window starts are not chores: the dispatcher sleeps until the earliest
of them as the job table gives it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from gateway.logs import logger
from gateway.queue.finish import JobFinisher
from gateway.queue.scheduler import Scheduler

log = logger("outbound")
RECEIPTS_S = 60.0
ARCHIVE_S = 3600.0
AGE_LIMIT_S = 60.0
EVENTS_S = 3600.0

Chore = Callable[[], Awaitable[Any]]


@dataclass(frozen=True)
class PeriodicChore:
    """One chore: its id, how often it runs, whether it also runs as soon as the service starts."""

    name: str
    every_s: float
    work: Chore
    at_start: bool = False


class PeriodicWork:
    """An AsyncIOScheduler running the chores; late runs are coalesced into one and never overlap."""

    def __init__(self, chores: list[PeriodicChore]) -> None:
        # coalesce + no grace limit: a chore the loop was too busy for runs once, late, rather than being skipped.
        self.scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self.names = [chore.name for chore in chores]
        for chore in chores:
            extra: dict[str, Any] = {"next_run_time": datetime.now(UTC)} if chore.at_start else {}
            self.scheduler.add_job(_guarded, IntervalTrigger(seconds=chore.every_s), args=[chore.name, chore.work],
                                   id=chore.name, name=chore.name, replace_existing=True, **extra)

    def start(self) -> None:
        """Start on the running event loop (the service's)."""
        self.scheduler.start()

    async def stop(self) -> None:
        """Stop scheduling and cancel a chore in progress (it repeats from the tables on the next start)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down on its loop's next turn

    def run_soon(self, name: str) -> None:
        """Move one chore's next run to now (an operator asked for it, or a test)."""
        self.scheduler.modify_job(name, next_run_time=datetime.now(UTC))

    async def run_now(self, name: str) -> None:
        """Run one chore's scheduled callable here and now (virtual-time tests trigger chores this way)."""
        job = self.scheduler.get_job(name)
        if job is None:
            raise KeyError(name)
        await job.func(*job.args)


def queue_chores(scheduler: Scheduler, finisher: JobFinisher) -> PeriodicWork:
    """The chores of one queue node."""
    return PeriodicWork([
        PeriodicChore("receipts", RECEIPTS_S, finisher.sweep),
        PeriodicChore("archive-cleanup", ARCHIVE_S, finisher.clean_archive, at_start=True),
        PeriodicChore("age-limit", AGE_LIMIT_S, scheduler.age_limit_sweep, at_start=True),
        PeriodicChore("events-retention", EVENTS_S, lambda: scheduler.events.prune(
            scheduler.config.events.retention_days * 86400.0), at_start=True),
    ])


async def _guarded(name: str, work: Chore) -> None:
    """Run a chore, logging a failure so the next run still comes."""
    try:
        await work()
    except Exception:
        log.exception("queue.chore_failed", extra={"fields": {"chore": name}})
