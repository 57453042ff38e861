"""Every query about submissions: the durable record of what a sender handed in."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.model import Submission, SubmissionState
from gateway.storage.database import new_id
from gateway.storage.schema import blobs, submissions


async def create_submission(
    conn: AsyncConnection,
    *,
    source: str,
    principal: str,
    envelope_from: str,
    recipients: list[dict[str, str]],
    raw: bytes,
    content_type: str = "message/rfc822",
    subject: str = "",
    options: dict[str, Any] | None = None,
    rate_key: str | None = None,
    fax_count: int | None = None,
) -> str:
    """Record a submission with its raw content; once the transaction commits it survives any crash.

    rate_key and fax_count, when given, count the submission against its sender's rate limit on every node."""
    [submission_id] = await create_submissions(conn, [{
        "source": source, "principal": principal, "envelope_from": envelope_from, "recipients": recipients,
        "raw": raw, "content_type": content_type, "subject": subject, "options": options,
        "rate_key": rate_key, "fax_count": fax_count,
    }])
    return submission_id


async def get_submission(conn: AsyncConnection, submission_id: str) -> Submission | None:
    """One submission, or None."""
    row = (await conn.execute(select(submissions).where(submissions.c.id == submission_id))).first()
    return Submission.from_row(row) if row else None


async def list_submissions(conn: AsyncConnection, state: str | None = None, limit: int = 100,
                           principal: str | None = None) -> list[Submission]:
    """Newest first, optionally in one state; ``principal`` keeps only that submitter's."""
    query = select(submissions).order_by(submissions.c.created_at.desc()).limit(limit)
    if state is not None:
        query = query.where(submissions.c.state == state)
    if principal is not None:
        query = query.where(submissions.c.principal == principal)
    return [Submission.from_row(row) for row in await conn.execute(query)]


async def set_submission_state(
    conn: AsyncConnection, submission_id: str, state: str, *, reason: str = "", **values: Any
) -> None:
    """Move a submission on, recording why."""
    await conn.execute(
        update(submissions)
        .where(submissions.c.id == submission_id)
        .values(state=state, reason=reason, updated_at=time.time(), **values)
    )


def _submission_rows(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The blob rows and submission rows for create_submission-style items (plus an optional rate_key and
    fax_count, which a rate-limited intake stores in the same transaction so the count is durable with the 250)."""
    now = time.time()
    blob_rows: list[dict[str, Any]] = []
    submission_rows: list[dict[str, Any]] = []
    for item in items:
        raw: bytes = item["raw"]
        blob_id = new_id()
        blob_rows.append({"id": blob_id, "sha256": hashlib.sha256(raw).hexdigest(), "size": len(raw),
                          "content_type": item.get("content_type", "message/rfc822"), "data": raw,
                          "created_at": now})
        submission_rows.append({
            "id": new_id(), "created_at": now, "source": item["source"], "principal": item["principal"],
            "envelope_from": item["envelope_from"], "recipients": item["recipients"],
            "subject": item.get("subject", ""), "state": SubmissionState.RECEIVED, "reason": "",
            "raw_blob_id": blob_id, "pages": 0, "options": item.get("options") or {}, "updated_at": now,
            "rate_key": item.get("rate_key"), "fax_count": item.get("fax_count"),
        })
    return blob_rows, submission_rows


def _submission_inserts(items: list[dict[str, Any]]) -> tuple[list[tuple[Any, list[dict[str, Any]]]], list[str]]:
    """The two multi-row INSERTs that record `items`, and the new submission ids."""
    blob_rows, submission_rows = _submission_rows(items)
    return [(insert(blobs), blob_rows), (insert(submissions), submission_rows)], [row["id"] for row in submission_rows]


async def create_submissions(conn: AsyncConnection, items: list[dict[str, Any]]) -> list[str]:
    """Record several submissions (create_submission's keyword arguments each) with two multi-row INSERTs.

    Intake's group commit uses it on PostgreSQL: one transaction, one fsync, and few round trips for a burst.
    """
    statements, ids = _submission_inserts(items)
    for statement, rows in statements:
        await conn.execute(statement, rows)
    return ids


def create_submissions_blocking(conn: Connection, items: list[dict[str, Any]]) -> list[str]:
    """create_submissions on a blocking connection (intake's SQLite writer thread): the same statements and rows."""
    statements, ids = _submission_inserts(items)
    for statement, rows in statements:
        conn.execute(statement, rows)
    return ids
