"""The real scheduler driving real fax devices on the simulated network, all on the network's virtual time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import numpy as np

from gateway.storage import get_blob
from modem.faxtiff import read_fax_tiff
from modem.simnet import RemoteFaxSpec, SimNetwork
from tests.modem.conftest import device_on
from tests.queue.harness import MONDAY_10_UTC, QueueHarness, queue_config

REMOTE = "5550100"


class LineClock:
    """Queue calendar time on the simulated line's time: whoever waits on it runs the network."""

    def __init__(self, net: SimNetwork, start: float = MONDAY_10_UTC) -> None:
        self.net = net
        self.start = start
        self.holding = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """Stop the line's time while the test works on the store (as the scheduler's own work does)."""
        self.holding += 1
        try:
            yield
        finally:
            self.holding -= 1

    def now(self) -> float:
        return self.start + self.net.clock.now()

    async def sleep(self, seconds: float) -> None:
        await self.net.clock.sleep(seconds)


@asynccontextmanager
async def line_queue(tmp_path: Path) -> AsyncIterator[tuple[QueueHarness, SimNetwork]]:
    """A running queue with one device, sim0, on a simulated network with a fax machine at REMOTE. Pages go
    without the header line, so they arrive pixel for pixel."""
    net = SimNetwork()
    net.add_remote_fax(REMOTE, RemoteFaxSpec(ident="REMOTE FAX"))
    device = device_on(net.add_modem("sim0", "5551000"))
    clock = LineClock(net)
    config = queue_config({"outbox": {"branding": False}}, tmp_path)
    queue = QueueHarness(config, ["sim0"], f"sqlite+aiosqlite:///{tmp_path / 'q.db'}", tmp_path, clock=clock,
                         sending={"sim0": device})
    # Database work takes no line time: milliseconds against the seconds of a page on a real line.
    net.hold = lambda: clock.holding > 0 or queue.scheduler.working > 0
    await queue.start()
    runner = asyncio.create_task(queue.scheduler.run())
    try:
        yield queue, net
    finally:
        await queue.scheduler.stop(grace_s=0)
        await runner
        await queue.close()
        net.close()


async def wait_on_line(queue: QueueHarness, ready: Callable[[], Awaitable[bool]], limit_s: float = 3600.0) -> None:
    """Let line time pass (checking every line second) until ``ready()``; fails after ``limit_s``."""
    clock = queue.clock
    assert isinstance(clock, LineClock)
    deadline = clock.now() + limit_s
    while True:
        with clock.held():
            if await ready():
                return
        assert clock.now() < deadline, "the queue did not get there in time"
        await clock.sleep(1.0)


async def document(queue: QueueHarness, job_id: int) -> list[np.ndarray]:
    """The pages a job was to send, as stored."""
    job = await queue.job(job_id)
    assert job.document_blob_id is not None
    async with queue.db.transaction() as conn:
        data = await get_blob(conn, job.document_blob_id)
    path = queue.workdir / f"job-{job_id}.tif"
    path.write_bytes(data)
    return [page.bitmap for page in read_fax_tiff(path)]
