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
CHECKPOINT_BYTES = 16 * 1024 * 1024
"""Raw mail written between two WAL checkpoints. Each one holds one group of mails for about an fsync (the
last step, below); every 16 MiB (some 1,200 one-page mails) keeps that to under 0.1% of mails. The WAL peaks
near three times this for small mails (each commit also rewrites index pages), about 50 MB."""
BACKFILL_ROUNDS = 8
"""At most this many backfills in a row, each over what the writer added during the one before."""


class _SqliteWriter:
    """One sqlite3 connection, used only from one thread, writes the groups. WAL checkpoints are split in two so
    that no sender's 250 waits for a large one. SQLite's automatic checkpoint is off: it would run inside the
    commit that crosses its threshold and hold that group's 250 for the whole copy (about 10 ms for 4 MiB).
    Instead, every `checkpoint_bytes` of mail a second connection in a second thread backfills the WAL into the
    database while groups go on being written, and again over the frames written meanwhile, until a round finds nothing
    new. Then the writer's own thread checkpoints the few frames it wrote since: with no write beside it, that
    one always completes, so the next write starts the WAL over instead of letting it grow. (A write already
    under way when the backfill finished would keep the WAL from starting over; that is why the last step
    belongs to the writer.)"""

    def __init__(self, path: str, checkpoint_bytes: int) -> None:
        self.path = path
        self.checkpoint_bytes = checkpoint_bytes
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faxgate-intake-writer")
        self._backfiller = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faxgate-intake-checkpoint")
        self._connection: sqlite3.Connection | None = None
        self._backfill_connection: sqlite3.Connection | None = None
        self._backfill: asyncio.Future[None] | None = None
        self._written_since_checkpoint = 0
        self._closed = False

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = _without_autocheckpoint(self.path)
        return self._connection

    def _write(self, items: list[dict[str, Any]]) -> list[str]:
        return write_submissions_sqlite(self._open(), items)

    def _run_backfill(self) -> None:
        """Backfill the WAL, and again over what was written meanwhile, until a round finds it all backfilled."""
        if self._backfill_connection is None:
            self._backfill_connection = _without_autocheckpoint(self.path)
        for _ in range(BACKFILL_ROUNDS):
            if _checkpoint(self._backfill_connection):
                return

    def _run_catch_up(self) -> None:
        _checkpoint(self._open())

    async def write(self, items: list[dict[str, Any]]) -> list[str]:
        loop = asyncio.get_running_loop()
        ids = await loop.run_in_executor(self._executor, self._write, items)
        self._written_since_checkpoint += sum(len(item["raw"]) for item in items)
        if self._backfill is not None and self._backfill.done():
            self._backfill = None
            loop.run_in_executor(self._executor, self._run_catch_up)  # close() waits for it with the executor
        elif self._backfill is None and self._written_since_checkpoint >= self.checkpoint_bytes:
            self._written_since_checkpoint = 0
            self._backfill = loop.run_in_executor(self._backfiller, self._run_backfill)
        return ids

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _close_backfill(self) -> None:
        if self._backfill_connection is not None:
            self._backfill_connection.close()
            self._backfill_connection = None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._backfiller, self._close_backfill)
        await loop.run_in_executor(self._executor, self._close)
        self._backfiller.shutdown(wait=True)
        self._executor.shutdown(wait=True)


def _without_autocheckpoint(path: str) -> sqlite3.Connection:
    """An intake connection whose commits never run a checkpoint themselves."""
    connection = open_sqlite_writer(path)
    connection.execute("PRAGMA wal_autocheckpoint=0")
    return connection


def _checkpoint(connection: sqlite3.Connection) -> bool:
    """A PASSIVE checkpoint (it never waits for the writer); True if the whole WAL is now in the database."""
    try:
        [(busy, frames, backfilled)] = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as exc:  # the next checkpoint catches up
        log.warning("smtp.checkpoint_failed", extra={"fields": {"error": type(exc).__name__}})
        return False
    return not busy and frames == backfilled


def _sqlite_file(db: Database) -> str | None:
    """The database file when the store is SQLite on disk."""
    if not db.is_sqlite:
        return None
    path = db.engine.url.database
    return path if path and path != ":memory:" and not path.startswith("file:") else None


class SubmissionCommitter:
    """Queues submissions and commits whatever is waiting in one transaction."""

    def __init__(self, db: Database, *, checkpoint_bytes: int = CHECKPOINT_BYTES) -> None:
        self.db = db
        self._pending: list[tuple[dict[str, Any], asyncio.Future[str]]] = []
        self._task: asyncio.Task[None] | None = None
        path = _sqlite_file(db)
        self._writer = _SqliteWriter(path, checkpoint_bytes) if path is not None else None

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
