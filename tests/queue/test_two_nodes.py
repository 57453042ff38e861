"""Two `faxgate serve` processes on one PostgreSQL database share the queue: every job is sent exactly once."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gateway.config import load_config
from gateway.enums import ExtendedStatus, JobStatus
from gateway.queue.enqueue import JobFactory, JobRequest
from gateway.storage import Database, put_blob
from gateway.storage import jobs as store
from gateway.storage.submissions import create_submission
from modem.faxtiff import write_fax_tiff
from tests.queue.simserver import HEADER_ROWS_FINE, all_jobs, received_pages, sim_config, smtp_sink, wait_for
from tests.support.server import ServerProcess

JOBS = 200
NUMBERS = tuple(f"55501{index:02d}" for index in range(10, 18))


def tagged_page(index: int) -> np.ndarray:
    """A short page whose bars spell ``index`` in binary, so each received page names its job."""
    page = np.zeros((240, 216), dtype=np.uint8)
    for bit in range(10):
        if index >> bit & 1:
            page[60:200, 10 + bit * 20: 24 + bit * 20] = 0xFF
    page[210:230, 0:216] = 0xF0
    return page


def page_tag(page: np.ndarray) -> int:
    return sum(1 << bit for bit in range(10) if page[130, 10 + bit * 20] == 0xFF)


async def queue_jobs(config_path: Path, folder: Path) -> dict[int, int]:
    """200 one-page jobs over 8 numbers; returns job id -> tag."""
    config = load_config(config_path)
    db = Database(config.database_url)
    factory = JobFactory(config, [])
    tags: dict[int, int] = {}
    try:
        await db.migrate()
        async with db.transaction() as conn:
            submission = await create_submission(conn, source="api", principal="test", envelope_from="",
                                                 recipients=[{"number": n} for n in NUMBERS], raw=b"")
            for index in range(JOBS):
                path = folder / f"page-{index}.tif"
                write_fax_tiff(path, [tagged_page(index)], fine=True)
                blob = await put_blob(conn, path.read_bytes(), "image/tiff")
                job_id = await factory.create(conn, JobRequest(
                    submission_id=submission, number=NUMBERS[index % len(NUMBERS)], document_blob_id=blob,
                    pages=1), time.time())
                tags[job_id] = index
    finally:
        await db.close()
    return tags


@pytest.mark.realtime
@pytest.mark.postgres
async def test_two_nodes_share_one_queue(tmp_path: Path, pg_database: str) -> None:
    with smtp_sink() as (_sink, sink_port):
        nodes = []
        for name in ("a", "b"):
            folder = tmp_path / name
            devices = ((f"sim{name}0", "5551000"), (f"sim{name}1", "5551001"))
            nodes.append(sim_config(folder, sink_port, store_url=pg_database, devices=devices, speed=8.0,
                                    node_id=f"node-{name}", more_remotes=NUMBERS))
        tags = await queue_jobs(nodes[0][0], tmp_path)
        with ServerProcess(nodes[0][0], nodes[0][2]) as first, ServerProcess(nodes[1][0], nodes[1][2]):
            async def all_sent() -> bool:
                return all(job.job_status == JobStatus.COMPLETED for job in await all_jobs(nodes[0][0]))

            await wait_for(all_sent, 600, "200 completed jobs", first)

    config = load_config(nodes[0][0])
    db = Database(config.database_url)
    try:
        async with db.transaction() as conn:
            attempts = await store.list_attempts(conn)
    finally:
        await db.close()
    jobs = await all_jobs(nodes[0][0])
    assert len(jobs) == JOBS and all(job.pages_sent == 1 for job in jobs)
    per_job = Counter(attempt.job_id for attempt in attempts)
    assert set(per_job.values()) == {1}, "a job was called for more than once"
    assert {attempt.extended_status for attempt in attempts} == {ExtendedStatus.CALL_COMPLETED}
    assert {attempt.node_id for attempt in attempts} == {"node-a", "node-b"}
    # One call at a time to each number (max_concurrent_calls = 1), whichever node made it. A call may carry a
    # batch of jobs, each of whose attempts ends when its own last page is confirmed: a call spans its attempts.
    numbers = {job.id: job.recipient_number for job in jobs}
    spans: dict[str, tuple[str, float, float]] = {}
    for attempt in attempts:
        assert attempt.ended_at is not None and attempt.call_id
        number, start, end = spans.get(attempt.call_id, (numbers[attempt.job_id], attempt.started_at, 0.0))
        assert number == numbers[attempt.job_id]
        spans[attempt.call_id] = (number, min(start, attempt.started_at), max(end, attempt.ended_at))
    calls: dict[str, list[tuple[float, float]]] = {}
    for number, start, end in spans.values():
        calls.setdefault(number, []).append((start, end))
    for call_spans in calls.values():
        ordered = sorted(call_spans)
        assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(ordered))
    # Every tagged page reached a far end exactly once, intact below the header line.
    received = [page for name in ("a", "b") for number in NUMBERS
                for page in received_pages(tmp_path / name / "data", number)]
    assert sorted(page_tag(page) for page in received) == sorted(tags.values())
    for page in received:
        assert np.array_equal(page[HEADER_ROWS_FINE:], tagged_page(page_tag(page))[HEADER_ROWS_FINE:])
