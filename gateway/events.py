"""The server event bus (ListenToServerEvents): durable, ordered by store id, shared by every node of one store.

A state change records its event in its own transaction (``record``); the event gets its id when that transaction
commits and reaches subscribers only then. Each node runs one feed that reads the rows committed since the last
one it saw (woken by its own commits, by PostgreSQL NOTIFY from other nodes, and by a slow poll) and hands them to
its subscribers in id order. A subscriber that gives an ``after_id`` first gets the stored history after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.enums import ServerEvents
from gateway.storage import events as event_log

if TYPE_CHECKING:
    from gateway.storage import Database

log = logging.getLogger("faxgate.events")
POLL_S = 5.0
"""The feed also looks for new rows this often: SQLite written by another process (the CLI), a missed NOTIFY."""
PAGE = 500
STOP_FLUSH_S = 2.0
"""Stopping waits at most this long for pending events to be stored and handed out."""


@dataclass(frozen=True)
class ServerEvent:
    """One event: a topic flag, a kind such as "job.changed", a JSON-able payload, its store id and node."""

    topic: ServerEvents
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)
    id: int = 0
    """The store's monotonically increasing event id; 0 only for an event never stored."""
    node: str = ""

    def as_json(self) -> dict[str, Any]:
        """The wire form: id, topic name, kind, time, node and payload."""
        return {"id": self.id, "topic": self.topic.name, "kind": self.kind, "at": self.at, "node": self.node,
                "payload": self.payload}


def _from_row(row: Any) -> ServerEvent:
    return ServerEvent(ServerEvents(row.topic), row.kind, dict(row.payload), float(row.at), int(row.id),
                       str(row.node_id))


class EventBus:
    """Pub/sub over the store's event log; without a store (``start`` never called) an in-process bus."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: list[Subscription] = []
        self._queue_size = queue_size
        self.db: Database | None = None
        self.node = ""
        self._last_id = 0
        """The newest id handed to subscribers; events at or below it are never handed out again."""
        self._wake = asyncio.Event()
        self._feed: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._outgoing: list[tuple[ServerEvents, str, dict[str, Any]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._poll_s = POLL_S
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    # ---------------------------------------------------------------------------------------- producing

    async def record(self, conn: AsyncConnection, topic: ServerEvents, kind: str, **payload: Any) -> None:
        """Add an event to the transaction of the state change it reports; delivered only once that commits."""
        event_log.record(conn, topic, kind, payload, self._committed)

    def publish(self, topic: ServerEvents, kind: str, **payload: Any) -> ServerEvent:
        """An event that reports no stored change: stored in a transaction of its own (in order), then delivered.

        Safe to call from a worker thread (an archive sweep): the event is handed to the bus's loop.
        """
        event = ServerEvent(topic, kind, payload, node=self.node)
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is not None and running is not self._loop:
            self._loop.call_soon_threadsafe(self._publish_here, event)
        else:
            self._publish_here(event)
        return event

    def _publish_here(self, event: ServerEvent) -> None:
        if self.db is None:
            self._dispatch(event)
            return
        self._outgoing.append((event.topic, event.kind, event.payload))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write(), name="events-writer")

    async def _write(self) -> None:
        """Store published events in order, a batch per transaction."""
        assert self.db is not None
        while self._outgoing:
            batch, self._outgoing = self._outgoing, []
            try:
                async with self.db.transaction() as conn:
                    for topic, kind, payload in batch:
                        event_log.record(conn, topic, kind, payload, self._committed)
            except Exception:
                log.exception("events.store_failed", extra={"fields": {"events": len(batch)}})

    def _committed(self, event_id: int, row: dict[str, Any]) -> None:
        """An event's transaction committed: hand it out now if it is the next one, else let the feed read it."""
        event = ServerEvent(ServerEvents(row["topic"]), row["kind"], row["payload"], row["at"], event_id,
                            self.db.node_id if self.db is not None else "")
        if self._feed is None or event_id == self._last_id + 1:
            self._dispatch(event)
        else:
            self._wake.set()

    # ---------------------------------------------------------------------------------------- the feed

    async def start(self, db: Database, node: str, poll_s: float = POLL_S) -> None:
        """Run this node's feed on the store: from now on subscribers get every committed event, from any node."""
        self.db = db
        self.node = node
        self._loop = asyncio.get_running_loop()
        db.node_id = node
        db.event_listeners.append(self._committed)
        self._poll_s = poll_s
        self._last_id = await self.latest_id()
        self._feed = asyncio.create_task(self._run_feed(), name="events-feed")
        if not db.is_sqlite:
            self._listener = asyncio.create_task(self._listen(), name="events-listen")

    async def flush(self) -> None:
        """Wait until published events are stored and every committed one was handed to the subscribers."""
        while self._writer is not None and not self._writer.done():
            await self._writer
        if self._feed is not None:
            await self._catch_up()

    async def stop(self) -> None:
        """Store what is still pending, hand it out, then stop the feed (before the store closes)."""
        try:
            await asyncio.wait_for(self.flush(), STOP_FLUSH_S)
        except TimeoutError:
            log.warning("events.flush_timeout", extra={"fields": {"waited_s": STOP_FLUSH_S}})
        except Exception:
            log.exception("events.flush_failed")
        self._stopping = True
        self._wake.set()  # the feed ends after the read in progress: never cancelled inside a transaction
        for task in (self._listener, self._feed):
            if task is None:
                continue
            if task is self._listener:
                task.cancel()
            _done, late = await asyncio.wait({task}, timeout=STOP_FLUSH_S)
            for stuck in late:
                stuck.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._feed = self._listener = None
        if self.db is not None and self._committed in self.db.event_listeners:
            self.db.event_listeners.remove(self._committed)

    async def latest_id(self) -> int:
        """The newest stored event id."""
        if self.db is None:
            return self._last_id
        async with self.db.transaction() as conn:
            return await event_log.latest_id(conn)

    async def prune(self, retention_s: float) -> int:
        """Delete stored events older than the retention (a periodic chore); how many went."""
        if self.db is None or retention_s <= 0:
            return 0
        async with self.db.transaction() as conn:
            return await event_log.prune(conn, time.time() - retention_s)

    async def _run_feed(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_s)
            self._wake.clear()
            if self._stopping:
                return
            try:
                await self._catch_up()
            except Exception:
                log.exception("events.feed_failed")
                await asyncio.sleep(1)

    async def _catch_up(self) -> None:
        """Hand out every committed event after the last one handed out, in id order."""
        assert self.db is not None
        while True:
            async with self.db.transaction() as conn:
                rows = await event_log.after(conn, self._last_id, limit=PAGE)
            for row in rows:
                self._dispatch(_from_row(row))
            if len(rows) < PAGE:
                return

    async def _listen(self) -> None:
        """PostgreSQL: wake the feed whenever any node commits events; reconnect after a lost connection."""
        assert self.db is not None
        def wake(*_: object) -> None:
            self._wake.set()

        while True:
            lost = asyncio.Event()
            try:
                async with self.db.engine.connect() as conn:
                    raw = await conn.get_raw_connection()
                    driver = raw.driver_connection
                    assert driver is not None
                    await driver.add_listener(event_log.NOTIFY_CHANNEL, wake)
                    driver.add_termination_listener(lambda *_, gone=lost: gone.set())
                    try:
                        self._wake.set()  # anything committed while not listening
                        await lost.wait()
                    finally:
                        if not lost.is_set():
                            with contextlib.suppress(Exception):
                                await asyncio.shield(driver.remove_listener(event_log.NOTIFY_CHANNEL, wake))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("events.listen_failed")
            await asyncio.sleep(1)

    def _dispatch(self, event: ServerEvent) -> None:
        if event.id:
            if event.id <= self._last_id:
                return
            self._last_id = event.id
        for subscription in list(self._subscribers):
            if subscription.mask & event.topic:
                subscription.offer(event)

    # ---------------------------------------------------------------------------------------- consuming

    def subscribe(self, mask: ServerEvents, after_id: int | None = None) -> Subscription:
        """Events of the topics in ``mask``: with ``after_id`` first every stored one after it, then live ones,
        each once and in id order; without it, live events from now on. Close the subscription when done."""
        replay = after_id is not None and self.db is not None
        cursor = after_id if replay and after_id is not None else self._last_id
        subscription = Subscription(self, mask, asyncio.Queue(self._queue_size), cursor=cursor, replaying=replay)
        self._subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers = [entry for entry in self._subscribers if entry is not subscription]


@dataclass(eq=False)
class Subscription:
    """Events of some topics, in order; an async iterator and a context manager that unsubscribes on exit.

    A subscriber too slow for its queue does not lose events on a bus with a store: it reads them back from there.
    """

    bus: EventBus
    mask: ServerEvents
    queue: asyncio.Queue[ServerEvent]
    cursor: int = 0
    """The id of the last event returned (or the ``after_id`` to replay from)."""
    replaying: bool = False
    _backlog: deque[ServerEvent] = field(default_factory=deque)
    _drops: int = 0
    """How often the queue was emptied to read back from the store: a read that began before a drop proves
    nothing about the dropped events."""

    def offer(self, event: ServerEvent) -> None:
        """A live event for this subscriber (from the bus); queued even while replaying (the cursor dedups)."""
        if self.queue.full():
            if self.bus.db is not None:
                self._fall_back()
            else:
                self.queue.get_nowait()
        self.queue.put_nowait(event)

    def _fall_back(self) -> None:
        """Drop the queued events and read them again from the store, from the last one returned."""
        while not self.queue.empty():
            self.queue.get_nowait()
        self._drops += 1
        self.replaying = True

    async def get(self, timeout: float | None = None) -> ServerEvent:
        """The next event, waiting at most ``timeout`` seconds (TimeoutError after that)."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> ServerEvent:
        while True:
            if self._backlog:
                event = self._backlog.popleft()
            elif self.replaying:
                await self._read_back()
                continue
            else:
                event = await self.queue.get()
            if event.id:
                if event.id <= self.cursor:
                    continue
                self.cursor = event.id
            return event

    async def _read_back(self) -> None:
        """The next page of stored events after the cursor; live delivery resumes once the store has no more."""
        db = self.bus.db
        assert db is not None
        drops = self._drops
        async with db.transaction() as conn:
            rows = await event_log.after(conn, self.cursor, int(self.mask), limit=PAGE)
        if rows:
            self._backlog.extend(_from_row(row) for row in rows)
        elif drops == self._drops:
            # Caught up: every event handed out before the read began was committed, so the read saw it; every
            # one handed out since is in the queue (nothing was dropped meanwhile). The cursor skips repeats.
            self.replaying = False

    def close(self) -> None:
        """Stop receiving events."""
        self.bus._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[ServerEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ServerEvent]:
        while True:
            yield await self._next()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()
