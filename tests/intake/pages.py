"""A stored mail through the submission worker (real render pool) to the pages its first job would fax."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.config import FaxgateConfig
from gateway.queue.clock import ManualClock
from gateway.queue.documents import tiff_pages
from gateway.queue.enqueue import JobFactory
from gateway.queue.worker import SubmissionWorker
from gateway.render import RenderPool
from gateway.storage import Database, get_blob
from gateway.storage import jobs as store
from gateway.storage.submissions import get_submission, list_submissions
from modem.faxtiff import FaxPage
from tests.queue.harness import MONDAY_10_UTC


@dataclass
class Rendered:
    """What the worker made of one submission: its state and reason, and the first job's pages."""

    state: str
    reason: str
    pages: list[FaxPage]
    job_pages: int


async def render_stored(db: Database, config: FaxgateConfig, pool: RenderPool) -> dict[str, Rendered]:
    """Run the submission worker over every stored submission; the outcome of each by submission id."""
    worker = SubmissionWorker(db=db, config=config, factory=JobFactory(config, ["sim0"]), pool=pool,
                              clock=ManualClock(MONDAY_10_UTC), node_id="test")
    while await worker.process_one():
        pass
    outcomes: dict[str, Rendered] = {}
    async with db.transaction() as conn:
        for submission in await list_submissions(conn):
            stored = await get_submission(conn, submission.id)
            assert stored is not None
            jobs = await store.list_jobs(conn, submission_id=submission.id)
            pages = (tiff_pages(await get_blob(conn, jobs[0].document_blob_id))
                     if jobs and jobs[0].document_blob_id else [])
            outcomes[submission.id] = Rendered(str(stored.state), stored.reason, pages,
                                               jobs[0].pages if jobs else 0)
    return outcomes


async def render_mail(raw: bytes, config: FaxgateConfig, workdir: Path, *,
                      recipients: list[dict[str, str]] | None = None) -> Rendered:
    """One raw mail stored as an SMTP submission, then rendered by the worker."""
    from gateway.storage.submissions import create_submission

    db = Database(f"sqlite+aiosqlite:///{workdir / 'render.db'}")
    await db.migrate()
    try:
        async with db.transaction() as conn:
            submission_id = await create_submission(
                conn, source="smtp", principal="network 127.0.0.1/32", envelope_from="",
                recipients=recipients or [{"address": "5550100@fax.localhost", "number": "5550100", "name": ""}],
                raw=raw, subject="")
        async with RenderPool(workers=1, workdir=workdir) as pool:
            return (await render_stored(db, config, pool))[submission_id]
    finally:
        await db.close()
