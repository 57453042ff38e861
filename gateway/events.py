"""The server event bus (ListenToServerEvents): everything publishes here; subscribers pick topics by flag mask."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from gateway.enums import ServerEvents


@dataclass(frozen=True)
class ServerEvent:
    """One event: a topic flag, a kind such as "job.changed", and a JSON-able payload."""

    topic: ServerEvents
    kind: str
    payload: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


class EventBus:
    """In-process pub/sub; slow subscribers lose the oldest events rather than stall the publisher."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: list[tuple[ServerEvents, asyncio.Queue[ServerEvent]]] = []
        self._queue_size = queue_size

    def publish(self, topic: ServerEvents, kind: str, **payload: Any) -> ServerEvent:
        """Deliver an event to every subscriber of its topic; never blocks."""
        event = ServerEvent(topic, kind, payload)
        for mask, queue in self._subscribers:
            if mask & topic:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(event)
        return event

    def subscribe(self, mask: ServerEvents) -> Subscription:
        """Start receiving events of the topics in ``mask`` now; close the subscription when done."""
        subscription = Subscription(self, mask, asyncio.Queue(self._queue_size))
        self._subscribers.append((mask, subscription.queue))
        return subscription

    def _unsubscribe(self, queue: asyncio.Queue[ServerEvent]) -> None:
        self._subscribers = [entry for entry in self._subscribers if entry[1] is not queue]


@dataclass
class Subscription:
    """Events of some topics, in order; an async iterator and a context manager that unsubscribes on exit."""

    bus: EventBus
    mask: ServerEvents
    queue: asyncio.Queue[ServerEvent]

    async def get(self, timeout: float | None = None) -> ServerEvent:
        """The next event, waiting at most ``timeout`` seconds (TimeoutError after that)."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self) -> None:
        """Stop receiving events."""
        self.bus._unsubscribe(self.queue)

    def __aiter__(self) -> AsyncIterator[ServerEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ServerEvent]:
        while True:
            yield await self.queue.get()

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()
