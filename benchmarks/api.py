"""API benchmark: the cost of going through faxgate's HTTP API against doing the same on the store, in the same run.

    .venv/bin/python -m benchmarks.api [--jobs N] [--samples S]

A real `faxgate serve` (SQLite, no lines, so nothing is sent) is started on a store filled with N jobs (10,000 by
default). Each operation is timed through the API, by the Python client over real HTTP on loopback (connection kept
alive, JSON parsed into the typed models), and directly on the store (the same query in its own transaction, rows
turned into the same models), samples interleaved so both see the same machine:

- the first page of the outgoing queue (100 jobs) and a deep page (100 jobs after id N-1000);
- one submit (a one-page PDF to one number): FaxDocument.Submit against submit_files in one transaction.

The overhead is reported as the ratio of medians (API / store). The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from gateway.api.localadmin import read_admin_token
from gateway.api.models import OutgoingJobPage
from gateway.api.outgoing import job_model
from gateway.client import AsyncFaxServer, FaxDocument, FaxRecipient
from gateway.config import load_config
from gateway.enums import JobStatus, Priority, ScheduleType
from gateway.numbers import NumberPolicy
from gateway.queue.documents import load_pymupdf
from gateway.queue.policy import queue_order
from gateway.queue.submit import FileToFax, Recipient, files_as_mail, resolve_recipients, submit_files, submit_options
from gateway.storage import Database
from gateway.storage import jobs as store
from gateway.storage.schema import outgoing_jobs, submissions

PAGE = 100


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _pdf(path: Path) -> Path:
    pymupdf = load_pymupdf()
    document = pymupdf.open()
    document.new_page().insert_text((72, 100), "API benchmark", fontsize=24)
    document.save(path)
    return path


async def _fill(db: Database, count: int) -> None:
    """One submission and ``count`` waiting jobs, as the queue benchmark makes them."""
    now = time.time()
    async with db.transaction() as conn:
        await conn.execute(insert(submissions).values(
            id="bench", created_at=now, source="bench", principal="bench", envelope_from="", recipients=[],
            subject="", state="queued", reason="", pages=1, options={}, updated_at=now))
        rows = [{"submission_id": "bench", "recipient_number": f"+1212555{index % 10000:04d}",
                 "status": int(JobStatus.PENDING), "priority": int(Priority.NORMAL),
                 "sched_priority": queue_order(Priority.NORMAL, False), "next_attempt_at": now + 86400,
                 "submitted_at": now, "pages": 1, "route": "", "updated_at": now, "result_counts": {}}
                for index in range(count)]
        for start in range(0, len(rows), 1000):
            await conn.execute(insert(outgoing_jobs), rows[start:start + 1000])


def _start(config: Path, http_port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)],
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"faxgate serve exited:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=2) as reply:
                if reply.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError("faxgate serve did not become healthy")


async def _timed(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return (time.perf_counter() - started) * 1000


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"median": round(statistics.median(ordered), 3), "p90": round(ordered[int(len(ordered) * 0.9) - 1], 3),
            "min": round(ordered[0], 3)}


async def _compare(samples: int, api: Callable[[], Awaitable[object]],
                   direct: Callable[[], Awaitable[object]]) -> dict[str, Any]:
    """Warm both up, then alternate them ``samples`` times."""
    for _ in range(3):
        await api()
        await direct()
    through_api: list[float] = []
    on_store: list[float] = []
    for _ in range(samples):
        through_api.append(await _timed(api))
        on_store.append(await _timed(direct))
    result = {"api_ms": _summary(through_api), "store_ms": _summary(on_store)}
    result["ratio"] = round(result["api_ms"]["median"] / result["store_ms"]["median"], 2)
    return result


async def _run(folder: Path, count: int, samples: int) -> dict[str, Any]:
    http_port = _free_port()
    config_path = folder / "faxgate.toml"
    config_path.write_text(f'[server]\ndata_dir = "{folder / "data"}"\n\n[smtp]\nenabled = false\n\n'
                           f'[http]\nlisten = "127.0.0.1:{http_port}"\n\n[outbox]\npaused = true\n')
    config = load_config(config_path)
    db = Database(config.database_url)
    await db.migrate()
    await _fill(db, count)
    proc = _start(config_path, http_port, folder / "serve.log")
    try:
        token = read_admin_token(config.server.data_dir)
        server = await AsyncFaxServer.connect(f"http://127.0.0.1:{http_port}", token)
        deep_after = count - 1000

        def api_page(after: int | None) -> Callable[[], Awaitable[object]]:
            params = {"limit": PAGE} | ({"after": after} if after is not None else {})

            async def call() -> OutgoingJobPage:
                page = OutgoingJobPage.model_validate((await server.request("GET", "/outgoing/jobs",
                                                                            params=params)).json())
                assert len(page.jobs) == PAGE
                return page

            return call

        def store_page(after: int | None) -> Callable[[], Awaitable[object]]:
            async def query() -> OutgoingJobPage:
                async with db.transaction() as conn:
                    found = await store.list_jobs(conn, after_id=after, limit=PAGE + 1)
                assert len(found) == PAGE + 1
                return OutgoingJobPage(jobs=[job_model(job) for job in found[:PAGE]], next_after=found[PAGE - 1].id)

            return query

        pdf = _pdf(folder / "page.pdf")
        document = FaxDocument(body=[pdf], recipients=[FaxRecipient("5550100", "Bench")], subject="bench")
        policy = NumberPolicy(config.numbers)

        async def api_submit() -> object:
            return await server.submit(document)

        async def store_submit() -> object:
            recipients = resolve_recipients(policy, [Recipient("5550100", "Bench")], [])
            raw = files_as_mail([FileToFax(pdf.name, pdf.read_bytes())], "api@localhost", "bench")
            options = submit_options(Priority.NORMAL, ScheduleType.NOW, None, receipt=False, cover=False)
            async with db.transaction() as conn:
                return await submit_files(conn, config, source="api", principal="bench", envelope_from="",
                                          recipients=recipients, raw=raw, subject="bench", options=options)

        results: dict[str, Any] = {"jobs": count, "page_size": PAGE, "samples": samples}
        results["first_page"] = await _compare(samples, api_page(None), store_page(None))
        results["deep_page"] = await _compare(samples, api_page(deep_after), store_page(deep_after))
        results["submit"] = await _compare(max(10, samples // 2), api_submit, store_submit)
        await server.disconnect()
        return results
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        await db.close()


def main() -> None:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="faxgate-bench-api-") as folder:
        os.chmod(folder, 0o700)
        results = asyncio.run(_run(Path(folder), args.jobs, args.samples))
    for name in ("first_page", "deep_page", "submit"):
        figures = results[name]
        print(f"{name:<11} API median {figures['api_ms']['median']:>8.2f} ms   store median "
              f"{figures['store_ms']['median']:>8.2f} ms   overhead x{figures['ratio']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
