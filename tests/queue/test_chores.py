"""The queue's periodic chores (APScheduler): the outgoing archive's age limit."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.queue.conftest import MakeQueue
from tests.queue.harness import QueueHarness

DAY = 86400.0


async def _two_archived_faxes(make_queue: MakeQueue) -> tuple[QueueHarness, Path, Path]:
    """One archived fax 31 days old and one a day old, under a 30-day archive age limit."""
    queue = await make_queue({"archive": {"outgoing": {"age_limit": "30d"}}})
    old, recent = await queue.add_job("5550100"), await queue.add_job("5550101")
    await queue.run_for(600)
    folder = queue.config.server.data_dir / "archive" / "outgoing"
    [old_tiff] = list(folder.rglob(f"{old}.tif"))
    [recent_tiff] = list(folder.rglob(f"{recent}.tif"))
    for path, age in ((old_tiff, 31 * DAY), (recent_tiff, DAY)):
        stamp = queue.clock.now() - age
        os.utime(path, (stamp, stamp))
    return queue, old_tiff, recent_tiff


async def test_the_archive_chore_removes_a_fax_past_the_age_limit(make_queue: MakeQueue) -> None:
    queue, old_tiff, recent_tiff = await _two_archived_faxes(make_queue)
    await queue.chores.run_now("archive-cleanup")
    assert not old_tiff.exists() and not old_tiff.with_suffix(".json").exists()
    assert recent_tiff.exists() and recent_tiff.with_suffix(".json").exists()


async def test_the_running_scheduler_runs_the_archive_chore(make_queue: MakeQueue) -> None:
    queue, old_tiff, recent_tiff = await _two_archived_faxes(make_queue)
    assert sorted(job.id for job in queue.chores.scheduler.get_jobs()) == ["age-limit", "archive-cleanup",
                                                                           "events-retention", "receipts"]
    queue.chores.start()
    try:
        queue.chores.run_soon("archive-cleanup")
        async with asyncio.timeout(10):  # a readiness wait, not a timing assertion
            while old_tiff.exists():
                await asyncio.sleep(0.01)
    finally:
        await queue.chores.stop()
    assert recent_tiff.exists()
    assert not queue.chores.scheduler.running
