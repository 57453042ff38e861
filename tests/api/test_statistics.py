"""The dashboard's figures (/statistics) on both engines: each count checked against jobs written for it, so folding
the queries into fewer round trips cannot change what the console shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import insert

from gateway.api.statistics import statistics
from gateway.config import parse_config
from gateway.enums import JobStatus, Priority
from gateway.storage import Database
from gateway.storage.incoming import DELIVERED, FAILED, PENDING
from gateway.storage.schema import incoming_deliveries, incoming_jobs, outgoing_jobs
from gateway.storage.submissions import create_submission

SINCE = 1_800_000_000.0


@pytest.fixture
async def db(store_url: str) -> AsyncIterator[Database]:
    """A migrated store on SQLite and on PostgreSQL."""
    database = Database(parse_config({"storage": {"url": store_url}}).database_url)
    await database.migrate()
    yield database
    await database.close()


def _job(submission: str, status: JobStatus, final_at: float | None, pages_sent: int = 0) -> dict[str, Any]:
    return {"submission_id": submission, "recipient_number": "5550100", "recipient_name": "", "status": int(status),
            "priority": int(Priority.NORMAL), "next_attempt_at": SINCE, "submitted_at": SINCE - 7200,
            "updated_at": SINCE, "pages": 3, "pages_sent": pages_sent, "final_at": final_at}


def _fax(received_at: float, pages: int) -> dict[str, Any]:
    return {"device_name": "line1", "received_at": received_at, "pages": pages, "status": 0, "quality": {},
            "updated_at": received_at}


def _delivery(job_id: int, key: str, state: str, last_error: str = "") -> dict[str, Any]:
    return {"job_id": job_id, "key": key, "method_guid": "{00000000-0000-0000-0000-000000000000}", "config": {},
            "state": state, "last_error": last_error, "updated_at": SINCE}


async def test_each_figure_counts_the_jobs_it_names(db: Database) -> None:
    async with db.transaction() as conn:
        submission = await create_submission(conn, source="api", principal="admin", envelope_from="",
                                             recipients=[], raw=b"", subject="figures")
        await conn.execute(insert(outgoing_jobs), [
            _job(submission, JobStatus.PENDING, None),
            _job(submission, JobStatus.PENDING | JobStatus.PAUSED, None),
            _job(submission, JobStatus.INPROGRESS, None, pages_sent=1),
            _job(submission, JobStatus.COMPLETED, SINCE + 10, pages_sent=3),
            _job(submission, JobStatus.COMPLETED, SINCE + 20, pages_sent=2),
            _job(submission, JobStatus.COMPLETED, SINCE - 10, pages_sent=5),  # yesterday: archive, not "today"
            _job(submission, JobStatus.FAILED, SINCE + 30),
            _job(submission, JobStatus.CANCELED, SINCE + 40),
            _job(submission, JobStatus.FAILED, SINCE - 40),
        ])
        faxes = [(await conn.execute(insert(incoming_jobs).values(**fax).returning(incoming_jobs.c.id))).scalar_one()
                 for fax in (_fax(SINCE + 5, 2), _fax(SINCE + 6, 4), _fax(SINCE - 5, 7))]
        await conn.execute(insert(incoming_deliveries), [
            _delivery(faxes[0], "a", FAILED), _delivery(faxes[0], "b", FAILED),  # one fax, two failed methods
            _delivery(faxes[1], "a", PENDING, "SMTP refused"), _delivery(faxes[1], "b", PENDING),
            _delivery(faxes[2], "a", DELIVERED),
        ])
    async with db.transaction() as conn:
        figures = await statistics(conn, SINCE)
    assert figures.outgoing_by_status == {"pending": 2, "inprogress": 1, "completed": 3, "failed": 2, "canceled": 1}
    assert (figures.queue, figures.archive) == (3, 6)
    assert (figures.sent_since, figures.pages_sent_since, figures.failed_since) == (2, 5, 2)
    assert (figures.incoming, figures.received_since, figures.pages_received_since) == (3, 2, 6)
    assert (figures.routing_failed, figures.routing_retrying) == (1, 1)
    async with db.transaction() as conn:
        everything = await statistics(conn, 0.0)
    assert (everything.sent_since, everything.pages_sent_since, everything.failed_since) == (3, 10, 3)
    assert (everything.received_since, everything.pages_received_since) == (3, 13)
