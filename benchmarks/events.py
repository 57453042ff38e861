"""Event delivery benchmark: events per second from commit to connected SSE clients, and commit-to-client latency
(p50, p99), with 1 and 100 subscribers, on SQLite and PostgreSQL, next to a bare asyncio.Queue fan-out in the same run.

    .venv/bin/python -m benchmarks.events [--events N] [--subscribers 1,100] [--no-pg]   (PostgreSQL: $FAXGATE_TEST_PG)

The server part (store, event bus, HTTP API on uvicorn) runs in this process; the SSE clients run in a child
process (one asyncio loop, one HTTP connection per subscriber), so parsing on the client side does not slow the
server down. Each event is committed in its own transaction (``record`` inside a store transaction), its commit
time taken right after the commit returns; a client takes its receive time when the event's data line is parsed.
Both are CLOCK_MONOTONIC, which is shared by every process of the machine. Events are produced back to back: the
rate is the sustained one, and the latency includes any queueing behind earlier events.
"events_per_s" is events delivered to every subscriber divided by the time from the first commit to the last
receipt; "deliveries_per_s" multiplies it by the subscribers. One JSON line per configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from gateway.config import parse_config
from gateway.enums import AccessRights, ServerEvents
from gateway.server import FaxServer, HttpService
from gateway.storage import tokens

PG_ADMIN = os.environ.get("FAXGATE_TEST_PG", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _figures(store: str, subscribers: int, events: int, commits: dict[int, float],
             receipts: list[tuple[int, float]], first: float) -> dict[str, Any]:
    latencies = [(at - commits[seq]) * 1000 for seq, at in receipts]
    elapsed = max(at for _, at in receipts) - first
    return {"benchmark": "events", "store": store, "subscribers": subscribers, "events": events,
            "events_per_s": round(events / elapsed, 1), "deliveries_per_s": round(events * subscribers / elapsed, 1),
            "latency_p50_ms": round(statistics.median(latencies), 2),
            "latency_p99_ms": round(_percentile(latencies, 0.99), 2),
            "latency_max_ms": round(max(latencies), 2)}


async def _bare_queue(subscribers: int, events: int) -> dict[str, Any]:
    """The reference: one producer fanning out to asyncio.Queues, consumers in the same loop."""
    queues: list[asyncio.Queue[tuple[int, float]]] = [asyncio.Queue() for _ in range(subscribers)]
    commits: dict[int, float] = {}
    receipts: list[tuple[int, float]] = []

    async def consume(queue: asyncio.Queue[tuple[int, float]]) -> None:
        for _ in range(events):
            seq, _ = await queue.get()
            receipts.append((seq, time.monotonic()))

    consumers = [asyncio.create_task(consume(queue)) for queue in queues]
    first = time.monotonic()
    for seq in range(events):
        commits[seq] = time.monotonic()
        for queue in queues:
            queue.put_nowait((seq, commits[seq]))
        await asyncio.sleep(0)
    await asyncio.gather(*consumers)
    return _figures("asyncio.Queue", subscribers, events, commits, receipts, first)


def _client_process(url: str, token: str, subscribers: int, events: int, pipe: Connection) -> None:
    """Open the streams, say so, then collect (seq, receive time) until every stream got every event."""

    async def run() -> list[tuple[int, float]]:
        receipts: list[tuple[int, float]] = []
        ready = asyncio.Event()
        connected = 0
        limits = httpx.Limits(max_connections=subscribers + 5, max_keepalive_connections=subscribers + 5)
        async with httpx.AsyncClient(base_url=url + "/api/v1", limits=limits,
                                     timeout=httpx.Timeout(60, read=120)) as client:

            async def stream() -> None:
                nonlocal connected
                got = 0
                async with client.stream("GET", "/events", params={"types": "OUT_QUEUE"},
                                         headers={"Authorization": f"Bearer {token}"}) as reply:
                    rest = b""
                    async for chunk in reply.aiter_raw():  # bytes split by hand: the client must stay cheap
                        now = time.monotonic()
                        *lines, rest = (rest + chunk).split(b"\n")
                        for line in lines:
                            if line == b": connected":
                                connected += 1
                                if connected == subscribers:
                                    ready.set()
                            elif line.startswith(b"data: "):
                                receipts.append((json.loads(line[6:])["payload"]["seq"], now))
                                got += 1
                                if got == events:
                                    return

            tasks = [asyncio.create_task(stream()) for _ in range(subscribers)]
            await ready.wait()
            pipe.send("ready")
            await asyncio.gather(*tasks)
        return receipts

    pipe.send(asyncio.run(run()))


async def _through_sse(store: str, store_url: str, subscribers: int, events: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="faxgate-events-bench-") as folder:
        port = _free_port()
        config = parse_config({"server": {"data_dir": folder}, "storage": {"url": store_url},
                               "http": {"listen": f"127.0.0.1:{port}"}})
        server = FaxServer(config)
        await server.db.migrate()
        http = HttpService(server)
        server.services = [http]
        await http.start()
        try:
            async with server.db.transaction() as conn:
                token = await tokens.create_token(conn, "bench", AccessRights.QUERY_JOBS)
            parent, child = multiprocessing.get_context("spawn").Pipe()
            process = multiprocessing.get_context("spawn").Process(
                target=_client_process, args=(f"http://127.0.0.1:{port}", token, subscribers, events, child))
            process.start()
            loop = asyncio.get_running_loop()
            assert await loop.run_in_executor(None, parent.recv) == "ready"
            commits: dict[int, float] = {}
            first = time.monotonic()
            for seq in range(events):
                async with server.db.transaction() as conn:
                    await server.events.record(conn, ServerEvents.OUT_QUEUE, "job.changed", job_id=seq, seq=seq,
                                               principal="token bench", status=2)
                commits[seq] = time.monotonic()
            receipts: list[tuple[int, float]] = await loop.run_in_executor(None, parent.recv)
            await loop.run_in_executor(None, process.join)
        finally:
            await server.stop()
    return _figures(store, subscribers, events, commits, receipts, first)


async def _pg_database() -> tuple[str, str]:
    name = f"faxgate_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, PG_ADMIN.rsplit("/", 1)[0] + "/" + name


async def _drop(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--subscribers", default="1,100")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    counts = [int(part) for part in args.subscribers.split(",")]
    for subscribers in counts:
        print(json.dumps(await _bare_queue(subscribers, args.events)), flush=True)
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'faxgate.db'}"
            print(json.dumps(await _through_sse("sqlite", url, subscribers, args.events)), flush=True)
        if not args.no_pg:
            name, url = await _pg_database()
            try:
                print(json.dumps(await _through_sse("postgresql", url, subscribers, args.events)), flush=True)
            finally:
                await _drop(name)


if __name__ == "__main__":
    asyncio.run(main())
