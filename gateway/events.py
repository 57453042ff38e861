"""The server event bus (ListenToServerEvents): everything publishes here; subscribers pick topics by flag mask.

With a store, every event is a row of the ``events`` table first and is handed to subscribers in id order from
there, so a subscriber that gives the last id it saw (``after_id``) gets everything after it exactly once.
Without a store (unit tests of single services) events are numbered in memory and delivered at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.enums import ServerEvents
from gateway.storage.schema import events as events_table

if TYPE_CHECKING:
    from gateway.storage import Database

POLL_S = 1.0
"""How often the store is read for events committed by other processes or by ``record`` (besides each publish)."""
RECHECK_S = 0.005
REPLAY_BATCH = 500


@dataclass(frozen=True)
class ServerEvent:
    """One event: a topic flag, a kind such as "job.changed", a JSON-able payload, and its id in the store."""

    topic: ServerEvents
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    id: int = 0
    node: str = ""


class EventBus:
    """Pub/sub over the store's event log; a slow subscriber catches up from the store instead of losing events."""

    def __init__(self, queue_size: int = 1000, db: Database | None = None, node: str = "") -> None:
        self._subscribers: list[Subscription] = []
        self._queue_size = queue_size
        self.db = db
        self.node = node
        self._memory_id = 0
        self._dispatched = -1
        """The newest id handed to subscribers (-1: not read from the store yet)."""
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._baseline_lock = asyncio.Lock()

    def publish(self, topic: ServerEvents, kind: str, **payload: Any) -> ServerEvent:
        """Record an event that reports no stored state change (in its own transaction); never blocks."""
        event = ServerEvent(topic, kind, _jsonable(payload), node=self.node)
        if self.db is None:
            self._memory_id += 1
            event = ServerEvent(topic, kind, event.payload, event.at, self._memory_id, self.node)
            self._dispatch(event)
            return event
        task = asyncio.get_running_loop().create_task(self._store(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return event

    async def record(self, conn: AsyncConnection, topic: ServerEvents, kind: str, **payload: Any) -> None:
        """Append an event in the caller's transaction; subscribers get it once that commits."""
        if self._dispatched < 0:  # no lock here: the caller's transaction may hold the store's only connection
            latest = int((await conn.execute(select(func.max(events_table.c.id)))).scalar() or 0)
            if self._dispatched < 0:
                self._dispatched = latest
        await _insert(conn, ServerEvent(topic, kind, _jsonable(payload), node=self.node))
        self._ensure_pump()
        self._wake.set()

    async def latest_id(self) -> int:
        """The newest stored event id (0 when there is none)."""
        if self.db is None:
            return self._memory_id
        async with self.db.transaction() as conn:
            return int((await conn.execute(select(func.max(events_table.c.id)))).scalar() or 0)

    def subscribe(self, mask: ServerEvents, after_id: int | None = None) -> Subscription:
        """Receive events of the topics in ``mask``: those stored after ``after_id`` first, then live ones."""
        subscription = Subscription(self, mask, asyncio.Queue(self._queue_size), after_id)
        self._subscribers.append(subscription)
        if self.db is not None:
            self._ensure_pump()
        return subscription

    async def close(self) -> None:
        """Wait for events being stored, then stop reading the store (before the store is closed)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self.db is not None and self._pump is not None:
            await self._read_new()
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None

    async def _store(self, event: ServerEvent) -> None:
        assert self.db is not None
        await self._baseline()
        async with self.db.transaction() as conn:
            await _insert(conn, event)
        self._ensure_pump()
        self._wake.set()

    def _ensure_pump(self) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run_pump())

    async def _run_pump(self) -> None:
        wait = POLL_S
        with contextlib.suppress(Exception):
            await self._baseline()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            woken = self._wake.is_set()
            self._wake.clear()
            before = self._dispatched
            with contextlib.suppress(Exception):
                await self._read_new()
            # A recorded event may be woken for before its transaction commits: look again soon, then less often.
            wait = RECHECK_S if woken and self._dispatched == before else min(wait * 2, POLL_S)

    async def _read_new(self) -> None:
        await self._baseline()
        while True:
            found = await self.read_after(self._dispatched, ~ServerEvents.NONE, REPLAY_BATCH)
            for event in found:
                self._dispatched = event.id
                self._dispatch(event)
            if len(found) < REPLAY_BATCH:
                return

    async def _baseline(self) -> None:
        """Live delivery starts after the newest event stored before the first subscriber or publisher."""
        if self._dispatched < 0:
            async with self._baseline_lock:
                latest = await self.latest_id()
                if self._dispatched < 0:  # record() may have set it meanwhile, from inside its transaction
                    self._dispatched = latest

    async def read_after(self, after_id: int, mask: ServerEvents, limit: int) -> list[ServerEvent]:
        """Stored events with id > after_id in ``mask``, oldest first."""
        if self.db is None:
            return []
        topics = [int(topic) for topic in ServerEvents if topic and topic & mask]
        query = (select(events_table).where(events_table.c.id > after_id, events_table.c.topic.in_(topics))
                 .order_by(events_table.c.id).limit(limit))
        async with self.db.transaction() as conn:
            rows = (await conn.execute(query)).all()
        return [ServerEvent(ServerEvents(row.topic), row.kind, dict(row.payload), row.at, row.id, row.node_id)
                for row in rows]

    def _dispatch(self, event: ServerEvent) -> None:
        for subscription in self._subscribers:
            if subscription.mask & event.topic:
                subscription.offer(event)

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers = [entry for entry in self._subscribers if entry is not subscription]


async def _insert(conn: AsyncConnection, event: ServerEvent) -> int:
    payload = event.payload
    job = payload.get("job_id", payload.get("job"))
    device = payload.get("device")
    result = await conn.execute(insert(events_table).values(
        at=event.at, topic=int(event.topic), kind=event.kind[:64], node_id=event.node[:64],
        job_id=job if isinstance(job, int) else None, device_name=device[:64] if isinstance(device, str) else None,
        payload=payload))
    return int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as the store and the wire will carry it (enums as numbers, anything else odd as text)."""
    loaded: dict[str, Any] = json.loads(json.dumps(payload, default=str))
    return loaded


@dataclass
class Subscription:
    """Events of some topics, in id order; an async iterator and a context manager that unsubscribes on exit."""

    bus: EventBus
    mask: ServerEvents
    queue: asyncio.Queue[ServerEvent]
    after_id: int | None = None
    _backlog: list[ServerEvent] = field(default_factory=list)
    _catch_up: bool = False
    _first_live: int = 0

    def __post_init__(self) -> None:
        self._catch_up = self.after_id is not None and self.bus.db is not None

    def offer(self, event: ServerEvent) -> None:
        """Take a live event; when the queue is full, drop it and read the store again later (nothing is lost)."""
        if self.after_id is None and not self._first_live:
            self._first_live = event.id
        if self.queue.full():
            if self.bus.db is None:
                self.queue.get_nowait()
            else:
                self._catch_up = True
                return
        self.queue.put_nowait(event)

    async def get(self, timeout: float | None = None) -> ServerEvent:
        """The next event, waiting at most ``timeout`` seconds (TimeoutError after that)."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> ServerEvent:
        while True:
            if not self._backlog and self._catch_up:
                self._catch_up = False
                start = self.after_id if self.after_id is not None else max(self._first_live - 1, 0)
                try:
                    found = await self.bus.read_after(start, self.mask, REPLAY_BATCH)
                except BaseException:
                    self._catch_up = True
                    raise
                self._backlog = found
                self._catch_up = len(found) == REPLAY_BATCH
            if self._backlog:
                event = self._backlog.pop(0)
            else:
                event = await self.queue.get()
            if self.after_id is not None and event.id and event.id <= self.after_id:
                continue  # already delivered from the store
            if event.id:
                self.after_id = event.id
            return event

    def close(self) -> None:
        """Stop receiving events."""
        self.bus._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[ServerEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ServerEvent]:
        while True:
            yield await self.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()
