"""An in-process faxgate HTTP API on a real uvicorn socket, whose event bus the test publishes on, and a raw SSE reader.

Only the HTTP service (and the event webhooks, when configured) run: the tests drive the producing side
themselves, so what they check is delivery: wire format, masks, rights, resume and shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.config import load_config
from gateway.enums import AccessRights, ServerEvents
from gateway.server import FaxServer, HttpService
from gateway.storage import tokens
from gateway.webhooks import EventWebhooks
from tests.support.server import write_config


@dataclass
class EventsServer:
    """The running server, its base URL, and the tokens made for it."""

    server: FaxServer
    url: str
    webhooks: EventWebhooks | None = None
    stopped: bool = False

    async def token(self, name: str, rights: AccessRights) -> str:
        """An API token on the server's store."""
        async with self.server.db.transaction() as conn:
            secret: str = await tokens.create_token(conn, name, rights)
        return secret

    async def record(self, topic: ServerEvents, kind: str, **payload: Any) -> int:
        """An event committed as a state change commits one (in a transaction of the store); its id."""
        async with self.server.db.transaction() as conn:
            await self.server.events.record(conn, topic, kind, **payload)
        return await self.server.events.latest_id()

    async def stop(self) -> None:
        """Stop the server as SIGTERM does."""
        if not self.stopped:
            self.stopped = True
            await self.server.stop()


@contextlib.asynccontextmanager
async def events_server(folder: Path, store_url: str = "", extra: str = "",
                        http_port: int | None = None) -> AsyncIterator[EventsServer]:
    """Start the HTTP service (and webhooks) of a server on ``folder``'s store; stopped on exit."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    path = folder / "faxgate.toml"
    _, port = write_config(path, folder / "data", store_url, extra, http_port=http_port)
    config = load_config(path)
    server = FaxServer(config)
    await server.db.migrate()
    await server.events.start(server.db, server.node_id, config.events.poll_interval.total_seconds())
    http = HttpService(server)
    server.services = [http]
    hooks = None
    if config.events.webhooks:
        hooks = EventWebhooks(config.events.webhooks, server.db, server.events, server.node_id)
        server.services.append(hooks)
    for service in server.services:
        await service.start()
    running = EventsServer(server, f"http://127.0.0.1:{port}", hooks)
    try:
        yield running
    finally:
        await running.stop()


@dataclass
class Frame:
    """One SSE event as sent: its id, event name and parsed data."""

    id: int
    event: str
    data: dict[str, Any]


@dataclass
class SseReader:
    """Reads a text/event-stream line by line, keeping comments apart from events."""

    lines: AsyncIterator[str]
    comments: list[str] = field(default_factory=list)

    async def next(self) -> Frame | None:
        """The next event, or None when the stream ended."""
        fields: dict[str, str] = {}
        async for line in self.lines:
            if line.startswith(":"):
                self.comments.append(line)
            elif not line:
                if fields:
                    return Frame(int(fields["id"]), fields["event"], json.loads(fields["data"]))
            else:
                name, _, value = line.partition(":")
                assert name not in fields, f"field {name} twice in one event"
                fields[name] = value.removeprefix(" ")
        return None

    async def comment(self) -> str:
        """The next comment line (a keep-alive); fails if an event comes first."""
        async for line in self.lines:
            if line.startswith(":"):
                return line
            assert not line, f"an event came before the comment: {line}"
        raise AssertionError("the stream ended")

    async def take(self, count: int) -> list[Frame]:
        """The next ``count`` events (fails if the stream ends first)."""
        found = []
        for _ in range(count):
            frame = await self.next()
            assert frame is not None, f"the stream ended after {len(found)} of {count} events"
            found.append(frame)
        return found


@contextlib.asynccontextmanager
async def sse(url: str, token: str, params: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> AsyncIterator[SseReader]:
    """An open /events stream (asserted 200 and text/event-stream), once the server said it is subscribed."""
    headers = {"Authorization": f"Bearer {token}", **(headers or {})}
    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=httpx.Timeout(30, read=60)) as client, \
            client.stream("GET", "/events", params=params or {}, headers=headers) as reply:
        assert reply.status_code == 200, (await reply.aread()).decode()
        assert reply.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(reply.aiter_lines())
        first = await anext(reader.lines)
        assert first == ": connected"
        yield reader
