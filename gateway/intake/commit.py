"""Group commit: mails that finish DATA at the same time share one durable transaction (one fsync), and each
still gets its 250 only after that transaction is on disk.

On a SQLite file the group is written by one dedicated writer: a plain sqlite3 connection (WAL,
synchronous=FULL) in its own thread, one hop per group instead of SQLAlchemy and aiosqlite round trips per
statement. On PostgreSQL (or SQLite in memory) the group goes through the shared engine.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gateway.logs import logger
from gateway.storage import Database
from gateway.storage.submissions import create_submissions, open_sqlite_writer, write_submissions_sqlite

log = logger("outbound")
MAX_BATCH = 64
CHECKPOINT_BYTES = 1024 * 1024
"""Raw mail written between two WAL checkpoints: small, quick checkpoints (SQLite's own default is 4 MiB)."""


class _SqliteWriter:
    """One sqlite3 connection, used only from one thread. The WAL checkpoint runs in that thread right after a
    commit has been answered, not inside it (SQLite's automatic checkpoint runs in the commit that crosses its
    threshold and holds that sender's 250), and with no write beside it, so it always completes and the WAL
    starts over instead of growing."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faxgate-intake-writer")
        self._connection: sqlite3.Connection | None = None
        self._checkpoint: asyncio.Future[None] | None = None
        self._written_since_checkpoint = 0
        self._closed = False

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = open_sqlite_writer(self.path)
            self._connection.execute("PRAGMA wal_autocheckpoint=0")
        return self._connection

    def _write(self, items: list[dict[str, Any]]) -> list[str]:
        return write_submissions_sqlite(self._open(), items)

    def _run_checkpoint(self) -> None:
        try:
            self._open().execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the next checkpoint (or any other connection's) catches up
            log.warning("smtp.checkpoint_failed", extra={"fields": {"error": type(exc).__name__}})

    async def write(self, items: list[dict[str, Any]]) -> list[str]:
        loop = asyncio.get_running_loop()
        ids = await loop.run_in_executor(self._executor, self._write, items)
        self._written_since_checkpoint += sum(len(item["raw"]) for item in items)
        if self._written_since_checkpoint >= CHECKPOINT_BYTES and (self._checkpoint is None or self._checkpoint.done()):
            self._written_since_checkpoint = 0
            self._checkpoint = loop.run_in_executor(self._executor, self._run_checkpoint)
        return ids

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)


def _sqlite_file(db: Database) -> str | None:
    """The database file when the store is SQLite on disk."""
    if not db.is_sqlite:
        return None
    path = db.engine.url.database
    return path if path and path != ":memory:" and not path.startswith("file:") else None


class SubmissionCommitter:
    """Queues submissions and commits whatever is waiting in one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[tuple[dict[str, Any], asyncio.Future[str]]] = []
        self._task: asyncio.Task[None] | None = None
        path = _sqlite_file(db)
        self._writer = _SqliteWriter(path) if path is not None else None

    async def commit(self, **fields: Any) -> str:
        """Store one submission (create_submission's keyword arguments); returns its id once it is durable."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.append((fields, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _store(self, items: list[dict[str, Any]]) -> list[str]:
        if self._writer is not None:
            return await self._writer.write(items)
        async with self.db.transaction() as conn:
            return await create_submissions(conn, items)

    async def _drain(self) -> None:
        """Commit batches until nothing waits; a failed batch fails each of its callers (they answer 451)."""
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                ids = await self._store([fields for fields, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), submission_id in zip(batch, ids, strict=True):
                    if not future.done():
                        future.set_result(submission_id)

    async def close(self) -> None:
        """Let the batch in flight finish, then release the writer."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._writer is not None:
            await self._writer.close()
