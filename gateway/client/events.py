"""ListenToServerEvents for the client: read the server's event stream, reconnecting after the last id seen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from gateway.api.models import ServerEventMessage
from gateway.enums import ServerEvents
from gateway.events import ServerEvent

RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0
IDLE_TIMEOUT_S = 60.0
"""A stream silent this long (no event, no keep-alive: the server sends one every 15 s) is taken as dead."""


class StreamRefused(Exception):
    """The server answered the stream request with an error (status and parsed body)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def type_names(mask: ServerEvents | None) -> str | None:
    """The ``types`` parameter for a mask (None: whatever the caller may see)."""
    if mask is None:
        return None
    return ",".join(str(topic.name) for topic in ServerEvents if topic and topic & mask)


def decode(data: str) -> ServerEvent:
    """One event from its JSON (the SSE data field or a WebSocket message)."""
    body = ServerEventMessage.model_validate_json(data)
    return ServerEvent(ServerEvents[body.topic], body.kind, body.payload, body.at, body.id, body.node)


async def parse_stream(lines: AsyncIterator[str]) -> AsyncIterator[ServerEvent]:
    """Events from text/event-stream lines; comments (keep-alives) and fields other than data are skipped."""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield decode("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


async def listen(client: httpx.AsyncClient, mask: ServerEvents | None, after_id: int | None,
                 idle_timeout: float = IDLE_TIMEOUT_S) -> AsyncIterator[ServerEvent]:
    """Events for as long as the caller iterates; a dropped stream is reopened after the last id seen."""
    last = after_id
    delay = RECONNECT_MIN_S
    types = type_names(mask)
    while True:
        headers = {"Last-Event-ID": str(last)} if last is not None else {}
        params = {"types": types} if types is not None else {}
        timeout = httpx.Timeout(client.timeout.connect, read=idle_timeout, write=client.timeout.write,
                                pool=client.timeout.pool)
        try:
            async with client.stream("GET", "/events", params=params, headers=headers, timeout=timeout) as reply:
                if reply.status_code >= 500:
                    raise httpx.TransportError(f"HTTP {reply.status_code}")  # a node starting or stopping
                if reply.status_code >= 400:
                    await reply.aread()
                    try:
                        body = reply.json()
                    except ValueError:
                        body = {}
                    raise StreamRefused(reply.status_code, body)
                delay = RECONNECT_MIN_S
                async for event in parse_stream(reply.aiter_lines()):
                    last = event.id
                    yield event
        except httpx.TransportError:
            pass  # the server went away or the network dropped: resume below
        await asyncio.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX_S)
