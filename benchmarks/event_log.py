"""The durable event log in process: events per second from commit to subscribers, and latency from the start of
the commit (its fsync included) to each subscriber.

Each event is recorded in its own transaction (as a state change records it); subscribers on the same node read
them from the bus. Runs on SQLite and, when ``FAXGATE_BENCH_PG`` names an admin URL, on a throwaway PostgreSQL
database. Prints one JSON line.

    python -m benchmarks.event_log [--events 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from gateway.enums import ServerEvents
from gateway.events import EventBus, Subscription
from gateway.storage import Database


async def _run(url: str, events: int, subscribers: int) -> dict[str, Any]:
    db = Database(url)
    await db.migrate()
    bus = EventBus(queue_size=events + 10)
    await bus.start(db, "bench")
    committed: dict[int, float] = {}
    received: list[float] = []
    subs = [bus.subscribe(ServerEvents.OUT_QUEUE) for _ in range(subscribers)]

    async def consume(subscription: Subscription) -> None:
        for _ in range(events):
            event = await subscription.get(timeout=60)
            received.append(time.perf_counter() - committed[event.payload["n"]])

    readers = [asyncio.create_task(consume(sub)) for sub in subs]
    started = time.perf_counter()
    for number in range(events):
        async with db.transaction() as conn:
            await bus.record(conn, ServerEvents.OUT_QUEUE, "job.changed", n=number)
            committed[number] = time.perf_counter()  # the commit starts: delivery follows it at once
    await asyncio.gather(*readers)
    elapsed = time.perf_counter() - started
    await bus.stop()
    await db.close()
    received.sort()
    return {"events_per_s": round(events / elapsed), "p99_ms": round(received[int(len(received) * 0.99)] * 1000, 3),
            "median_ms": round(statistics.median(received) * 1000, 3)}


async def _main(events: int) -> dict[str, Any]:
    result: dict[str, Any] = {"benchmark": "event_log", "events": events}
    with tempfile.TemporaryDirectory() as folder:
        for subscribers in (1, 100):
            url = f"sqlite+aiosqlite:///{Path(folder) / f'bench-{subscribers}.db'}"
            result[f"sqlite_{subscribers}_subscribers"] = await _run(url, events, subscribers)
    admin = os.environ.get("FAXGATE_BENCH_PG")
    if admin:
        for subscribers in (1, 100):
            name = f"faxgate_bench_{uuid.uuid4().hex[:8]}"
            conn = await asyncpg.connect(admin)
            await conn.execute(f'CREATE DATABASE "{name}"')
            await conn.close()
            try:
                url = "postgresql+asyncpg://" + admin.split("://", 1)[1].rsplit("/", 1)[0] + f"/{name}"
                result[f"postgres_{subscribers}_subscribers"] = await _run(url, events, subscribers)
            finally:
                conn = await asyncpg.connect(admin)
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await conn.close()
    return result


def main() -> None:
    """Run and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_main(args.events))))


if __name__ == "__main__":
    main()
