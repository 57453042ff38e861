"""Group commit: mails that finish DATA at the same time share one durable transaction (one fsync), and each
still gets its 250 only after that transaction is committed.

The one way a submission is written is storage's `create_submissions`, on the store's own engine (SQLite with
WAL and synchronous=FULL, or PostgreSQL).
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.storage import Database
from gateway.storage.submissions import create_submissions

MAX_BATCH = 64


class SubmissionCommitter:
    """Queues submissions and commits whatever is waiting in one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[tuple[dict[str, Any], asyncio.Future[str]]] = []
        self._task: asyncio.Task[None] | None = None

    async def commit(self, **fields: Any) -> str:
        """Store one submission (create_submission's keyword arguments); returns its id once it is durable."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending.append((fields, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await asyncio.shield(future)

    async def _drain(self) -> None:
        """Commit batches until nothing waits; a failed batch fails each of its callers (they answer 451)."""
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                async with self.db.transaction() as conn:
                    ids = await create_submissions(conn, [fields for fields, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, future), submission_id in zip(batch, ids, strict=True):
                    if not future.done():
                        future.set_result(submission_id)

    async def close(self) -> None:
        """Let the batch in flight finish."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
