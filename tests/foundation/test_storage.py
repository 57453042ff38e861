"""The store on both engines: migrations apply (twice, harmlessly), commits survive reopening, blobs round-trip."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from gateway.config import parse_config
from gateway.model import SubmissionState
from gateway.storage import Database, get_blob
from gateway.storage.submissions import create_submission, get_submission, list_submissions, set_submission_state


def _db(store_url: str) -> Database:
    return Database(parse_config({"storage": {"url": store_url}}).database_url)


async def test_migrations_are_idempotent_and_create_every_table(store_url: str) -> None:
    db = _db(store_url)
    await db.migrate()
    await db.migrate()
    async with db.transaction() as conn:
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        for table in ("blobs", "submissions", "outgoing_jobs", "attempts", "incoming_jobs", "devices", "events",
                      "extension_data", "server_state"):
            count = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            assert count == 0
    assert version
    await db.close()


async def test_committed_submission_survives_reopen(store_url: str) -> None:
    raw = b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n" + os.urandom(200_000)
    db = _db(store_url)
    await db.migrate()
    async with db.transaction() as conn:
        submission_id = await create_submission(
            conn, source="smtp", principal="local", envelope_from="a@example.com",
            recipients=[{"address": "5551234@fax.localhost"}], raw=raw, subject="Grüße",
        )
    await db.close()

    reopened = _db(store_url)
    async with reopened.transaction() as conn:
        found = await get_submission(conn, submission_id)
        assert found is not None
        assert found.state == SubmissionState.RECEIVED
        assert found.subject == "Grüße"
        assert found.recipients == [{"address": "5551234@fax.localhost"}]
        assert found.raw_blob_id is not None
        assert await get_blob(conn, found.raw_blob_id) == raw
        await set_submission_state(conn, submission_id, SubmissionState.FAILED, reason="no pages")
    async with reopened.transaction() as conn:
        failed = await list_submissions(conn, SubmissionState.FAILED)
        assert [(s.id, s.reason) for s in failed] == [(submission_id, "no pages")]
    await reopened.close()


async def test_rolled_back_transaction_leaves_nothing(store_url: str) -> None:
    db = _db(store_url)
    await db.migrate()
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await create_submission(conn, source="api", principal="p", envelope_from="", recipients=[], raw=b"x")
            raise RuntimeError("crash before commit")
    async with db.transaction() as conn:
        assert await list_submissions(conn) == []
    await db.close()
