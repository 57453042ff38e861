"""Group commit: mails that finish DATA at the same time share one durable transaction (one fsync), and each
still gets its 250 only after that transaction is committed.

A submission is written by storage's statements only (`create_submissions`, or the same statements through
`create_submissions_blocking`). On a SQLite file the groups go through one blocking connection in a writer
thread with the store's SQLite rules (WAL, synchronous=FULL, BEGIN IMMEDIATE): the thread takes everything
waiting in its queue as one group, and wakes the event loop once per group with the outcome. Every switch between
the loop and the writer is a wake-up that a loaded machine may delay, so there is nothing else between a mail and
its commit (no executor bookkeeping, no drain task), and the writer goes back to waiting, releasing the GIL, right
after waking the loop. The write stays off the event loop: an fsync, or BEGIN IMMEDIATE waiting for another writer,
must not stall every other session and service of the server. On PostgreSQL the groups go through the shared
engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from typing import Any

from sqlalchemy import Engine, create_engine

from gateway.storage import Database
from gateway.storage.database import configure_sqlite_engine
from gateway.storage.submissions import create_submissions, create_submissions_blocking

MAX_BATCH = 64

_Waiting = tuple[dict[str, Any], "asyncio.Future[str]"]


def _settle(waiting: list[_Waiting], ids: list[str] | None, error: BaseException | None) -> None:
    """On the event loop: each caller gets its id, or the group's error (a caller that gave up is skipped)."""
    for index, (_, future) in enumerate(waiting):
        if future.done():
            continue
        if ids is None:
            future.set_exception(error or RuntimeError("the intake writer stopped"))
        else:
            future.set_result(ids[index])


class _SqliteWriter:
    """A blocking engine on the store's SQLite file, used by its own writer thread only."""

    def __init__(self, path: str) -> None:
        self._engine: Engine = create_engine(f"sqlite:///{path}", pool_size=1, max_overflow=0,
                                             connect_args={"timeout": 30, "check_same_thread": False})
        configure_sqlite_engine(self._engine)
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="faxgate-intake-writer", daemon=True)
        self._thread.start()

    def submit(self, fields: dict[str, Any]) -> asyncio.Future[str]:
        """Queue one submission; the future has its id once the group holding it is committed."""
        if self._closed:
            raise RuntimeError("the intake writer is closed")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._queue.put((fields, future))
        return future

    def _run(self) -> None:
        # Open the pooled connection now, not at the first mail: a server out of file descriptors must still be
        # able to store the mails it accepts (a failure here is retried by the first write).
        with contextlib.suppress(Exception):
            self._engine.connect().close()  # back into the pool, open
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            waiting = [first]
            while len(waiting) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                waiting.append(more)
            ids: list[str] | None = None
            error: BaseException | None = None
            try:
                with self._engine.begin() as conn:
                    ids = create_submissions_blocking(conn, [fields for fields, _ in waiting])
            except Exception as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for the answer any more
                waiting[0][1].get_loop().call_soon_threadsafe(_settle, waiting, ids, error)
        self._engine.dispose()

    async def close(self) -> None:
        """Commit what is queued, then stop the thread and close the connection."""
        self._closed = True
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)


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
        """Store one submission (create_submission's keyword arguments); returns its id once it is durable.

        A caller that is cancelled meanwhile stops waiting; its submission is still stored with its group."""
        if self._writer is not None:
            return await self._writer.submit(fields)
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.append((fields, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        """PostgreSQL: commit batches until nothing waits; a failed batch fails each of its callers (they answer
        451)."""
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            ids: list[str] | None = None
            error: BaseException | None = None
            try:
                async with self.db.transaction() as conn:
                    ids = await create_submissions(conn, [fields for fields, _ in batch])
            except Exception as exc:
                error = exc
            _settle(batch, ids, error)

    async def close(self) -> None:
        """Let the batch in flight finish, then release the writer."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._writer is not None:
            await self._writer.close()
