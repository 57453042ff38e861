"""Every query about submissions: the durable record of what a sender handed in."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from typing import Any

from sqlalchemy import insert, select, update
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


async def list_submissions(conn: AsyncConnection, state: str | None = None, limit: int = 100) -> list[Submission]:
    """Newest first, optionally in one state."""
    query = select(submissions).order_by(submissions.c.created_at.desc()).limit(limit)
    if state is not None:
        query = query.where(submissions.c.state == state)
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


async def create_submissions(conn: AsyncConnection, items: list[dict[str, Any]]) -> list[str]:
    """Record several submissions (create_submission's keyword arguments each) with two multi-row INSERTs.

    Intake's group commit uses it on PostgreSQL: one transaction, one fsync, and few round trips for a burst.
    """
    blob_rows, submission_rows = _submission_rows(items)
    await conn.execute(insert(blobs), blob_rows)
    await conn.execute(insert(submissions), submission_rows)
    return [row["id"] for row in submission_rows]


_SQLITE_INSERT_BLOB = ("INSERT INTO blobs (id, sha256, size, content_type, data, created_at) "
                       "VALUES (:id, :sha256, :size, :content_type, :data, :created_at)")
_SQLITE_INSERT_SUBMISSION = (
    "INSERT INTO submissions (id, created_at, source, principal, envelope_from, recipients, subject, state, "
    "reason, raw_blob_id, pages, options, updated_at, rate_key, fax_count) VALUES (:id, :created_at, :source, "
    ":principal, :envelope_from, :recipients, :subject, :state, :reason, :raw_blob_id, :pages, :options, "
    ":updated_at, :rate_key, :fax_count)"
)


def open_sqlite_writer(path: str) -> sqlite3.Connection:
    """A plain sqlite3 connection for intake's writer thread, with the store's durability rules (WAL,
    synchronous=FULL: a COMMIT is on disk when it returns)."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def write_submissions_sqlite(connection: sqlite3.Connection, items: list[dict[str, Any]]) -> list[str]:
    """create_submissions on a plain sqlite3 connection (blocking; intake runs it in its writer thread): one
    BEGIN IMMEDIATE ... COMMIT, so one fsync for the whole group. The rows match what SQLAlchemy would write
    (JSON columns as json.dumps text)."""
    blob_rows, submission_rows = _submission_rows(items)
    for row in submission_rows:
        row["recipients"] = json.dumps(row["recipients"])
        row["options"] = json.dumps(row["options"])
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.executemany(_SQLITE_INSERT_BLOB, blob_rows)
        connection.executemany(_SQLITE_INSERT_SUBMISSION, submission_rows)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return [row["id"] for row in submission_rows]
