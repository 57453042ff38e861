"""TEMPORARY (h-console branch only; remove at integration): GET /api/v1/events from the in-process EventBus.

h-eventsapi owns the real endpoint (stored, resumable, filtered by rights, on every node); this shim exists only so
the console and its tests can run on this branch. It speaks the contract's wire format (id/event/data lines, a
keep-alive comment every 15 s) but ids are per process and ``Last-Event-ID`` is ignored. Rights: every topic but
OUT_QUEUE needs QUERY_CONFIG here; OUT_QUEUE events of other senders' jobs are dropped without QUERY_JOBS.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from gateway.api.security import CurrentPrincipal, denied
from gateway.enums import AccessRights, ServerEvents
from gateway.storage import jobs as store

if TYPE_CHECKING:
    from gateway.server import FaxServer

KEEP_ALIVE_S = 15.0
router = APIRouter(tags=["events"])
_ids = itertools.count(1)


@router.get("/events", summary="Server events as text/event-stream (temporary shim)", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}})
async def events(request: Request, principal: CurrentPrincipal, types: str = "") -> StreamingResponse:
    """Stream events of the asked topics until the client goes or the server stops."""
    server: FaxServer = request.app.state.fax_server
    wanted = ServerEvents.NONE
    for name in filter(None, (part.strip().upper() for part in types.split(","))):
        wanted |= ServerEvents[name] if name in ServerEvents.__members__ else ServerEvents.NONE
    if not wanted:
        wanted = ServerEvents(sum(ServerEvents))
    sees_config = bool(principal.rights & AccessRights.QUERY_CONFIG)
    if not sees_config:
        if wanted & ~(ServerEvents.OUT_QUEUE | ServerEvents.FXSSVC_ENDED) and types:
            raise denied(AccessRights.QUERY_CONFIG, "listening to these events")
        wanted &= ServerEvents.OUT_QUEUE | ServerEvents.FXSSVC_ENDED
    sees_all_jobs = bool(principal.rights & AccessRights.QUERY_JOBS)

    async def stream() -> AsyncIterator[str]:
        async with server.events.subscribe(wanted) as subscription:
            yield ": connected\n\n"
            while True:
                try:
                    event = await subscription.get(KEEP_ALIVE_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                    continue
                job_id = event.payload.get("job_id", event.payload.get("job"))
                if event.topic == ServerEvents.OUT_QUEUE and not sees_all_jobs and isinstance(job_id, int):
                    async with server.db.transaction() as conn:
                        if await store.job_principal(conn, job_id) != principal.name:
                            continue
                number = next(_ids)
                topic = str(event.topic.name)
                data = {"id": number, "topic": topic, "kind": event.kind, "at": event.at, "node": server.node_id,
                        "payload": event.payload}
                yield f"id: {number}\nevent: {topic}\ndata: {json.dumps(data, default=str)}\n\n"
                if event.topic == ServerEvents.FXSSVC_ENDED:
                    return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
