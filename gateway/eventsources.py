"""Server events that no single stored change reports: the service starting and ending, and activity counters."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import func, select

from gateway.config import FaxgateConfig
from gateway.enums import DeviceState, EventId, ServerEvents
from gateway.events import EventBus, Subscription
from gateway.queue import controls
from gateway.storage import Database
from gateway.storage import incoming as incoming_store
from gateway.storage.events import fei_payload
from gateway.storage.schema import devices

log = logging.getLogger("faxgate.events")
RECOUNT_WAIT_S = 2.0
_WATCHED = ServerEvents.IN_QUEUE | ServerEvents.OUT_QUEUE | ServerEvents.DEVICE_STATUS | ServerEvents.ACTIVITY


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


async def activity(db: Database) -> dict[str, int]:
    """OnServerActivityChange's counters across every node: receiving, routing, sending and queued faxes."""
    async with db.transaction() as conn:
        queued, sending = await controls.queue_counts(conn)
        routing = await incoming_store.count_routing(conn)
        receiving = (await conn.execute(select(func.count()).select_from(devices)
                                        .where(devices.c.state == DeviceState.RECEIVING.value))).scalar() or 0
    return {"incoming_messages": int(receiving), "routing_messages": routing, "outgoing_messages": sending,
            "queued_messages": queued}


class ActivityWatch:
    """Publishes ACTIVITY whenever a job or device event changed the counters (and only then)."""

    def __init__(self, db: Database, events: EventBus) -> None:
        self.db = db
        self.events = events
        self.last: dict[str, int] | None = None
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self._counting = False
        """A recount is reading the store: stop lets it finish rather than cancel it inside its transaction."""

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
            event = await subscription.get()
            if event.topic == ServerEvents.ACTIVITY:  # any node's: the counters every node last announced
                self.last = {key: int(value) for key, value in event.payload.items() if key.endswith("_messages")}
                continue
            while not subscription.queue.empty():  # a burst of changes is one recount
                event = await subscription.get()
            self._counting = True
            try:
                counts = await activity(self.db)
            except Exception:
                log.exception("events.activity_failed")
                continue
            finally:
                self._counting = False
            if self._task is None:  # stopping
                return
            if counts != self.last:
                self.last = counts
                self.events.publish(ServerEvents.ACTIVITY, "activity.changed", **counts)
