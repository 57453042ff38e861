"""Server events that no single stored change reports: the service starting and ending, and activity counters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.config import FaxgateConfig
from gateway.enums import DeviceState, EventId, ServerEvents
from gateway.events import EventBus, Subscription
from gateway.queue import controls
from gateway.storage import Database
from gateway.storage import activity as activity_store
from gateway.storage import incoming as incoming_store
from gateway.storage.events import fei_payload
from gateway.storage.schema import devices

log = logging.getLogger("faxgate.events")
RECOUNT_WAIT_S = 2.0
_WATCHED = ServerEvents.IN_QUEUE | ServerEvents.OUT_QUEUE | ServerEvents.DEVICE_STATUS


async def announce_start(events: EventBus, db: Database, config: FaxgateConfig, node: str) -> None:
    """FEI_FAXSVC_STARTED, and the queues' state as this node starts (OnQueuesStatusChange), stored and handed
    out before any service starts."""
    async with db.transaction() as conn:
        state = await controls.queue_switches(conn, config)
    events.publish(ServerEvents.QUEUE_STATE, "fei", **fei_payload(EventId.FAXSVC_STARTED), node=node)
    events.publish(ServerEvents.QUEUE_STATE, "queue.state", **controls.queue_state_payload(state, config))
    await events.flush()


def announce_end(events: EventBus, node: str) -> None:
    """OnServerShutDown and FEI_FAXSVC_ENDED: the last events this node sends."""
    events.publish(ServerEvents.FXSSVC_ENDED, "server.stopped", node=node)
    events.publish(ServerEvents.FXSSVC_ENDED, "fei", **fei_payload(EventId.FAXSVC_ENDED), node=node)


async def count_activity(conn: AsyncConnection) -> dict[str, int]:
    """OnServerActivityChange's counters across every node: receiving, routing, sending and queued faxes."""
    queued, sending = await controls.queue_counts(conn)
    routing = await incoming_store.count_routing(conn)
    receiving = (await conn.execute(select(func.count()).select_from(devices)
                                    .where(devices.c.state == DeviceState.RECEIVING.value))).scalar() or 0
    return {"incoming_messages": int(receiving), "routing_messages": routing, "outgoing_messages": sending,
            "queued_messages": queued}


async def recount(db: Database, events: EventBus) -> dict[str, int] | None:
    """Count and, if the counts differ from the snapshot any node last announced, record ACTIVITY with the new
    snapshot in one transaction; the counts announced, or None when nothing changed."""
    async with db.transaction() as conn:
        await activity_store.lock(conn)
        counts = await count_activity(conn)
        if not await activity_store.swap(conn, counts, time.time()):
            return None
        await events.record(conn, ServerEvents.ACTIVITY, "activity.changed", **counts)
    return counts


class ActivityWatch:
    """Records ACTIVITY whenever a job or device event changed the counters: once per change across the nodes."""

    def __init__(self, db: Database, events: EventBus) -> None:
        self.db = db
        self.events = events
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self._counting = False
        """A recount is in the store: stop lets it finish rather than cancel it inside its transaction."""
        self.recounts = 0
        """Recounts finished, announced or not: how often this node looked (a test waits for both nodes to)."""

    def start(self) -> None:
        """Watch the bus from now on."""
        self._subscription = self.events.subscribe(_WATCHED)
        self._task = asyncio.create_task(self._run(self._subscription), name="activity-watch")

    async def stop(self) -> None:
        """Stop watching."""
        if self._subscription is not None:
            self._subscription.close()
        task, self._task = self._task, None
        if task is None:
            return
        if self._counting:
            await asyncio.wait({task}, timeout=RECOUNT_WAIT_S)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task

    async def _run(self, subscription: Subscription) -> None:
        while True:
            await subscription.get()
            while not subscription.queue.empty():  # a burst of changes is one recount
                await subscription.get()
            if self._task is None:  # stopping
                return
            self._counting = True
            try:
                await recount(self.db, self.events)
            except Exception:
                log.exception("events.activity_failed")
            finally:
                self._counting = False
                self.recounts += 1
