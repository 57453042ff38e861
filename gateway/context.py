"""What a service gets from the server: config, store, events, clock and node id, instead of the whole FaxServer."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import FaxgateConfig
from gateway.events import EventBus
from gateway.queue.clock import WallClock
from gateway.storage import Database


@dataclass(frozen=True)
class ServiceContext:
    """The shared parts every service may use; ``clock.now()`` is UNIX seconds."""

    config: FaxgateConfig
    db: Database
    events: EventBus
    clock: WallClock
    node_id: str
