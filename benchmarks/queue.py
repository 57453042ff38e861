"""Queue benchmark: with 10,000 queued jobs across 8 devices, how long picking the next job and committing a status
change take, on SQLite (WAL, synchronous=FULL) and on PostgreSQL.

    .venv/bin/python -m benchmarks.queue [--jobs N] [--samples S] [--pg URL] [--no-pg]

"Pick" is the scheduler's claim: one UPDATE ... WHERE id = (SELECT ... ORDER BY sched_priority, next_attempt_at
LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING, with the per-number concurrency check, in its own durable transaction,
for the routes of the devices that are idle. "Status change" is one committed UPDATE of a job's status and
extended status (as when a call ends). Times are wall-clock per transaction, commit included.
The last line is one JSON object with every figure.
"""

from __future__ import annotations

import os
import sys

# This file is named queue.py: run as a script, its folder would shadow the standard library's queue module.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert

from gateway.config import parse_config
from gateway.enums import ExtendedStatus, JobStatus, Priority
from gateway.model import OutgoingJob
from gateway.queue.policy import queue_order
from gateway.queue.routing import OutboundRouter
from gateway.storage import Database, transitions
from gateway.storage import jobs as store
from gateway.storage.schema import outgoing_jobs, submissions

DEVICES = [f"sim{index}" for index in range(8)]
TARGET_MS = 2.0


def _config() -> Any:
    return parse_config({"outbound": {
        "groups": [{"name": "east", "devices": DEVICES[:4]}, {"name": "west", "devices": DEVICES[4:]}],
        "rules": [{"country_code": 1, "area_code": 212, "group": "east"},
                  {"country_code": 1, "area_code": 415, "group": "west"},
                  {"country_code": 44, "device": "sim7"}],
    }})


async def _fill(db: Database, count: int, router: OutboundRouter) -> None:
    """A submission and ``count`` waiting jobs to varied numbers, priorities and due times."""
    now = time.time()
    areas = ["212", "415", "646", "202"]
    async with db.transaction() as conn:
        await conn.execute(insert(submissions).values(
            id="bench", created_at=now, source="bench", principal="bench", envelope_from="", recipients=[],
            subject="", state="queued", reason="", pages=1, options={}, updated_at=now))
        rows = []
        for index in range(count):
            number = (f"+44207946{index % 10000:04d}" if index % 9 == 0
                      else f"+1{areas[index % 4]}555{index % 10000:04d}")
            priority = (Priority.LOW, Priority.NORMAL, Priority.HIGH)[index % 3]
            rows.append({
                "submission_id": "bench", "recipient_number": number, "status": int(JobStatus.PENDING),
                "priority": int(priority), "sched_priority": queue_order(priority, index % 5 == 0),
                "next_attempt_at": now - 1000 + (index % 997), "submitted_at": now, "pages": 1,
                "route": router.route_for(number), "updated_at": now, "result_counts": {},
            })
        for start in range(0, len(rows), 1000):
            await conn.execute(insert(outgoing_jobs), rows[start:start + 1000])


async def _measure(db: Database, samples: int, router: OutboundRouter) -> dict[str, Any]:
    pick: list[float] = []
    change: list[float] = []
    picked: list[OutgoingJob] = []
    routes = router.routes_served_by(DEVICES)
    for index in range(samples):
        idle = routes if index % 2 else router.routes_served_by(DEVICES[index % 8: index % 8 + 3])
        started = time.perf_counter()
        async with db.transaction() as conn:
            job = await store.claim_next(conn, node_id="bench", now=time.time(), lease_s=300, routes=idle,
                                         max_concurrent=1)
        pick.append((time.perf_counter() - started) * 1000)
        assert job is not None
        picked.append(job)
    for index, job in enumerate(picked):
        started = time.perf_counter()
        async with db.transaction() as conn:
            await transitions.requeue(conn, job, reason="busy", extended_status=ExtendedStatus.BUSY,
                                      now=time.time(), next_attempt_at=time.time() + 180 + index, held_by="bench")
        change.append((time.perf_counter() - started) * 1000)
    return {"pick_ms": _summary(pick), "status_change_ms": _summary(change)}


def _summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 3), "p95": round(ordered[int(len(ordered) * 0.95)], 3),
            "max": round(ordered[-1], 3)}


async def _run(url: str, jobs: int, samples: int) -> dict[str, Any]:
    db = Database(url)
    try:
        await db.migrate()
        router = OutboundRouter(_config().outbound, DEVICES)
        filled = time.perf_counter()
        await _fill(db, jobs, router)
        async with db.transaction() as conn:  # what the scheduler's housekeeping (SQLite) or autovacuum does
            await store.refresh_statistics(conn)
        result = await _measure(db, samples, router)
        result["fill_s"] = round(time.perf_counter() - filled, 2)
        return result
    finally:
        await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="An admin URL; a throwaway database is created next to it.")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"jobs": args.jobs, "devices": len(DEVICES), "samples": args.samples,
                               "target_ms": TARGET_MS}
    with tempfile.TemporaryDirectory() as folder:
        results["sqlite"] = await _run(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", args.jobs, args.samples)
    print(f"sqlite:     pick median {results['sqlite']['pick_ms']['median']} ms, "
          f"status change median {results['sqlite']['status_change_ms']['median']} ms")
    if not args.no_pg:
        name = f"faxgate_bench_queue_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(args.pg)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            results["postgresql"] = await _run(f"{base}/{name}", args.jobs, args.samples)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        print(f"postgresql: pick median {results['postgresql']['pick_ms']['median']} ms, "
              f"status change median {results['postgresql']['status_change_ms']['median']} ms")
    results["within_target"] = all(
        results[engine][kind]["median"] < TARGET_MS
        for engine in ("sqlite", "postgresql") if engine in results for kind in ("pick_ms", "status_change_ms"))
    print(json.dumps(results))


if __name__ == "__main__":
    asyncio.run(main())
