"""Group commit: mails that finish DATA at the same time share one durable transaction (one fsync), and each
still gets its 250 only after that transaction is committed.

A submission is written by storage's statements only (`create_submissions`, or the same statements through
`create_submissions_blocking`). On a SQLite file the groups go through one blocking connection in a writer
thread with the store's SQLite rules (WAL, synchronous=FULL, BEGIN IMMEDIATE): one thread hop per group, where
aiosqlite takes one per statement (measured: about 3 ms a mail). On PostgreSQL they go through the shared engine.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, create_engine

from gateway.storage import Database
from gateway.storage.database import configure_sqlite_engine
from gateway.storage.submissions import create_submissions, create_submissions_blocking

MAX_BATCH = 64


class _SqliteWriter:
    """A blocking engine on the store's SQLite file, used from one thread only."""

    def __init__(self, path: str) -> None:
        self._engine: Engine = create_engine(f"sqlite:///{path}", pool_size=1, max_overflow=0,
                                             connect_args={"timeout": 30, "check_same_thread": False})
        configure_sqlite_engine(self._engine)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faxgate-intake-writer")
        # Open the pooled connection (and the writer thread) now, not at the first mail: a server out of file
        # descriptors must still be able to store the mails it accepts.
        self._executor.submit(self._open)

    def _open(self) -> None:
        self._engine.connect().close()  # back into the pool, open

    def _write(self, items: list[dict[str, Any]]) -> list[str]:
        with self._engine.begin() as conn:
            return create_submissions_blocking(conn, items)

    async def write(self, items: list[dict[str, Any]]) -> list[str]:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._write, items)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._engine.dispose)
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
