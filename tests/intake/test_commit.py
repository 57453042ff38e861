"""Group commit on both store engines: concurrent mails share a transaction and each is stored whole."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.config import parse_config
from gateway.intake.commit import SubmissionCommitter
from gateway.storage import Database
from gateway.storage.database import get_blob
from gateway.storage.submissions import get_submission


async def test_concurrent_commits_each_get_their_own_durable_submission(store_url: str, tmp_path: Path) -> None:
    config = parse_config({"server": {"data_dir": str(tmp_path)}, "storage": {"url": store_url}})
    db = Database(config.database_url)
    await db.migrate()
    committer = SubmissionCommitter(db)
    try:
        raws = [f"Subject: mail {index}\r\n\r\nbody {index}\r\n".encode() for index in range(12)]
        ids = await asyncio.gather(*(committer.commit(
            source="smtp", principal="network 127.0.0.1/32", envelope_from=f"s{index}@example.com",
            recipients=[{"address": "5551234@fax.localhost", "number": "5551234", "name": f"N{index}"}],
            raw=raw, subject=f"mail {index}", options={"priority": 1}) for index, raw in enumerate(raws)))
        assert len(set(ids)) == 12
        async with db.transaction() as conn:
            for index, submission_id in enumerate(ids):
                stored = await get_submission(conn, submission_id)
                assert stored is not None and stored.raw_blob_id is not None
                assert stored.state == "received" and stored.subject == f"mail {index}"
                assert stored.recipients[0]["name"] == f"N{index}" and stored.options == {"priority": 1}
                assert await get_blob(conn, stored.raw_blob_id) == raws[index]
    finally:
        await committer.close()
        await db.close()


async def test_a_mail_after_the_sqlite_writer_closed_is_refused_not_left_waiting(tmp_path: Path) -> None:
    config = parse_config({"server": {"data_dir": str(tmp_path)}})
    db = Database(config.database_url)
    await db.migrate()
    committer = SubmissionCommitter(db)
    try:
        first = await committer.commit(
            source="smtp", principal="network 127.0.0.1/32", envelope_from="s@example.com",
            recipients=[{"address": "5551234@fax.localhost", "number": "5551234", "name": ""}],
            raw=b"Subject: one\r\n\r\nbody\r\n", subject="one", options={})
        await committer.close()
        with pytest.raises(RuntimeError, match="closed"):
            await committer.commit(
                source="smtp", principal="network 127.0.0.1/32", envelope_from="s@example.com",
                recipients=[{"address": "5551234@fax.localhost", "number": "5551234", "name": ""}],
                raw=b"Subject: two\r\n\r\nbody\r\n", subject="two", options={})
        async with db.transaction() as conn:
            assert await get_submission(conn, first) is not None
    finally:
        await db.close()
