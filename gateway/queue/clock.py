"""Calendar time for the queue, injected so scheduler tests run on virtual time.

Unlike ``modem.port.Clock`` (monotonic, any origin) the queue needs UNIX seconds: due times are stored in
the job table and compared across nodes, and the discount window is a local time of day.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import TypeVar

from modem.port import Clock

T = TypeVar("T")

WallClock = Clock
"""The queue's clock has the shape of ``modem.port.Clock``; here ``now()`` must be UNIX seconds."""


class SystemClock:
    """The real calendar clock."""

    def now(self) -> float:
        """time.time()."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(max(0.0, seconds))

    async def compute(self, work: Callable[[], T]) -> T:
        """In a thread."""
        return await asyncio.to_thread(work)


class ManualClock:
    """Virtual calendar time: sleepers wake only when a test moves time forward with ``advance_to``."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> float:
        """The virtual time."""
        return self._now

    async def compute(self, work: Callable[[], T]) -> T:
        """At once: on virtual time CPU work takes no time."""
        return work()

    async def sleep(self, seconds: float) -> None:
        """Wait until virtual time reaches now + seconds."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._order), future))
        await future

    @property
    def sleeping(self) -> int:
        """How many tasks wait on this clock."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def next_wake(self) -> float | None:
        """When the first sleeper is due."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance_to(self, moment: float) -> None:
        """Move time forward (never back) and wake every sleeper that is due."""
        self._now = max(self._now, moment)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
