"""ListenToServerEvents over HTTP: a Server-Sent Events stream and a WebSocket, each with the caller's type mask.

Each type needs the right the Windows model asks for it; OUT_QUEUE is open to submitters, who see only their own
jobs unless they hold QUERY_JOBS. A stream resumes after the last id its client saw (Last-Event-ID or ?after=),
and at shutdown it ends with this node's FXSSVC_ENDED event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, FastAPI, Header, Query, Request, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse

from gateway.api.models import Problem, ServerEventMessage
from gateway.api.security import REFUSALS, ApiError, CurrentPrincipal, denied, header_principal
from gateway.config.events import EVENT_TYPE_NAMES, topics_from_names
from gateway.enums import AccessRights, ServerEvents
from gateway.events import ServerEvent, Subscription
from gateway.intake.auth import Principal

if TYPE_CHECKING:
    from gateway.server import FaxServer

router = APIRouter(tags=["events"], responses=REFUSALS)
SUBMIT_RIGHTS = AccessRights.SUBMIT_LOW | AccessRights.SUBMIT_NORMAL | AccessRights.SUBMIT_HIGH
TYPE_RIGHTS: dict[ServerEvents, AccessRights] = {
    ServerEvents.CONFIG: AccessRights.QUERY_CONFIG,
    ServerEvents.ACTIVITY: AccessRights.QUERY_CONFIG,
    ServerEvents.DEVICE_STATUS: AccessRights.QUERY_CONFIG,
    ServerEvents.QUEUE_STATE: AccessRights.QUERY_CONFIG,
    ServerEvents.INCOMING_CALL: AccessRights.QUERY_CONFIG,
    ServerEvents.IN_QUEUE: AccessRights.QUERY_IN_ARCHIVE,
    ServerEvents.IN_ARCHIVE: AccessRights.QUERY_IN_ARCHIVE,
    ServerEvents.OUT_ARCHIVE: AccessRights.QUERY_OUT_ARCHIVE,
}
"""The right each type needs; OUT_QUEUE needs QUERY_JOBS or a submit right, FXSSVC_ENDED none."""
MESSAGE_CACHE = 4096
_MESSAGES: OrderedDict[tuple[int, str], str] = OrderedDict()
_TYPE = "(?:" + "|".join(EVENT_TYPE_NAMES) + ")"
TYPES_PATTERN = f"^(?:{_TYPE}(?:,{_TYPE})*)?$"
"""What ``types`` may be: names joined by commas, nothing else (the schema says so and the handler holds to it)."""
TypesQuery = Annotated[str | None, Query(description="Comma-separated: " + ", ".join(EVENT_TYPE_NAMES)
                                         + "; default every type the caller may see; 400 for an unknown one",
                                         json_schema_extra={"pattern": TYPES_PATTERN})]
MAX_EVENT_ID = 10**18 - 1
"""Event ids fit a 64-bit store column; an id beyond this is no id the server gave."""
AfterQuery = Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID,
                                         description="Resume after this event id (as Last-Event-ID)")]
EVENT_ID_PATTERN = r"^[0-9]{0,18}$"
LastEventId = Annotated[str, Header(alias="Last-Event-ID", json_schema_extra={"pattern": EVENT_ID_PATTERN})]
"""A string (not str | None): a header has no null, and the schema says only digits."""


class StreamRegistry:
    """The open event streams, so stopping the server can let each deliver FXSSVC_ENDED before HTTP closes."""

    def __init__(self) -> None:
        self.ending = False
        self._open = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        """Count a stream while it is open."""
        self._open += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._open -= 1
            if not self._open:
                self._idle.set()

    async def wait_closed(self, timeout: float) -> bool:
        """After FXSSVC_ENDED: wait until every stream has sent it and ended (False if some did not in time)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


def registry(app: FastAPI) -> StreamRegistry:
    """The app's stream registry (made with the app)."""
    found: StreamRegistry = app.state.event_streams
    return found


def allowed_topics(rights: AccessRights) -> ServerEvents:
    """Every type a principal with ``rights`` may listen to."""
    mask = ServerEvents.FXSSVC_ENDED
    if rights & (AccessRights.QUERY_JOBS | SUBMIT_RIGHTS):
        mask |= ServerEvents.OUT_QUEUE
    for topic, right in TYPE_RIGHTS.items():
        if rights & right:
            mask |= topic
    return mask


def requested_mask(principal: Principal, types: str | None) -> ServerEvents:
    """The mask asked for (default: all the caller may see); 400 for an unknown type, 403 naming a missing right."""
    if not types:
        return allowed_topics(principal.rights)
    if not re.fullmatch(TYPES_PATTERN, types):
        unknown = [name for name in types.split(",") if name not in EVENT_TYPE_NAMES]
        raise ApiError(400, f"types must be event type names joined by commas; unknown: {', '.join(unknown)!r}; "
                       f"known: {', '.join(EVENT_TYPE_NAMES)}")
    try:
        mask = topics_from_names([name for name in types.split(",") if name.strip()])
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    for topic in ServerEvents:
        if topic and topic & mask and not topic & allowed_topics(principal.rights):
            right = TYPE_RIGHTS.get(topic, AccessRights.QUERY_JOBS)
            raise denied(right, f"listening to {topic.name} events")
    return mask


def visibility(principal: Principal) -> Callable[[ServerEvent], bool]:
    """Whether an event may reach this principal: OUT_QUEUE jobs of others only with QUERY_JOBS."""
    own_only = not principal.rights & AccessRights.QUERY_JOBS

    def visible(event: ServerEvent) -> bool:
        if own_only and event.topic == ServerEvents.OUT_QUEUE:
            return event.payload.get("principal") == principal.name
        return True

    return visible


def message(event: ServerEvent) -> str:
    """The event as one line of JSON (the SSE data field, a WebSocket message, a webhook body)."""
    key = (event.id, event.node)
    cached = _MESSAGES.get(key) if event.id else None
    if cached is not None:
        return cached
    body = ServerEventMessage(id=event.id, topic=str(event.topic.name), kind=event.kind, at=event.at,
                              node=event.node, payload=event.payload)
    text = json.dumps(body.model_dump(), separators=(",", ":"))
    if event.id:
        _MESSAGES[key] = text  # made once per event, not once per subscriber
        while len(_MESSAGES) > MESSAGE_CACHE:
            _MESSAGES.popitem(last=False)
    return text


def resume_point(after: int | None, last_event_id: str | None) -> int | None:
    """Where a stream resumes: ?after= wins over the Last-Event-ID header; 400 for an id that is not a number."""
    if last_event_id and not re.fullmatch(EVENT_ID_PATTERN, last_event_id):
        raise ApiError(400, "Last-Event-ID must be an event id (a number)")
    if after is not None:
        return after
    return int(last_event_id) if last_event_id else None


def credentials_check(app: FastAPI, authorization: str | None) -> Callable[[], Awaitable[bool]]:
    """Whether the stream's credentials still hold (asked at each keep-alive): a revoked token ends its streams."""

    async def still_valid() -> bool:
        if not (authorization or "").lower().startswith("bearer "):
            return True  # [security] users change only with the configuration, which a restart reloads
        try:
            await header_principal(app, authorization)
        except ApiError:
            return False
        return True

    return still_valid


async def _events(server: FaxServer, streams: StreamRegistry, subscription: Subscription, mask: ServerEvents,
                  visible: Callable[[ServerEvent], bool], keepalive: float,
                  still_valid: Callable[[], Awaitable[bool]]) -> AsyncIterator[ServerEvent | None]:
    """The caller's events, None when a keep-alive is due; ends after this node's FXSSVC_ENDED at shutdown, or
    when the caller's token was revoked."""
    waiting: asyncio.Task[ServerEvent] | None = None
    try:
        while True:
            if waiting is None:  # kept across keep-alives: cancelling a get() on a timeout may drop its event
                waiting = asyncio.ensure_future(subscription.get())
            done, _ = await asyncio.wait({waiting}, timeout=keepalive)
            if not done:
                if not await still_valid():
                    return
                yield None
                continue
            event = waiting.result()
            waiting = None
            ends = (event.topic == ServerEvents.FXSSVC_ENDED and streams.ending
                    and server.node_id in (event.node, event.payload.get("node")))
            if (event.topic & mask or ends) and visible(event):
                yield event
            if ends:
                return
    finally:
        if waiting is not None:
            waiting.cancel()


@router.get("/events", summary="ListenToServerEvents as Server-Sent Events",
            response_class=StreamingResponse,
            responses={400: {"model": Problem, "description": "An unknown event type or a Last-Event-ID not an id"},
                       200: {"content": {"text/event-stream": {}},
                             "description": "id:, event: <TYPE> and data: <ServerEventMessage JSON> per event"}})
async def event_stream(request: Request, principal: CurrentPrincipal, types: TypesQuery = None,
                       after: AfterQuery = None,
                       last_event_id: LastEventId = "") -> StreamingResponse:
    """Events of the requested types as they commit, resumable after the last id the client saw."""
    server: FaxServer = request.app.state.fax_server
    mask = requested_mask(principal, types)
    start = resume_point(after, last_event_id)
    streams = registry(request.app)
    keepalive = server.config.events.keepalive.total_seconds()
    if start is None:  # from now on: exactly the events committed after this request came in
        start = await server.events.latest_id()
    subscription = server.events.subscribe(mask | ServerEvents.FXSSVC_ENDED, after_id=start)

    async def body() -> AsyncIterator[str]:
        with streams.opened():
            try:
                yield ": connected\n\n"
                async for event in _events(server, streams, subscription, mask, visibility(principal), keepalive,
                                           credentials_check(request.app, request.headers.get("authorization"))):
                    if event is None:
                        yield ": keep-alive\n\n"
                    else:
                        yield f"id: {event.id}\nevent: {event.topic.name}\ndata: {message(event)}\n\n"
            finally:
                subscription.close()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.websocket("/events/ws")
async def event_socket(websocket: WebSocket, types: TypesQuery = None, after: AfterQuery = None) -> None:
    """The same events as /events, one JSON text message each; refusals are HTTP answers to the handshake."""
    server: FaxServer = websocket.app.state.fax_server
    try:
        principal = await header_principal(websocket.app, websocket.headers.get("authorization"))
        mask = requested_mask(principal, types)
        start = resume_point(after, websocket.headers.get("last-event-id"))
    except ApiError as exc:
        headers = {"WWW-Authenticate": 'Bearer, Basic realm="faxgate"'} if exc.status == 401 else None
        await websocket.send_denial_response(JSONResponse(exc.body(), status_code=exc.status, headers=headers))
        return
    streams = registry(websocket.app)
    keepalive = server.config.events.keepalive.total_seconds()
    if start is None:  # from now on: exactly the events committed after this request came in
        start = await server.events.latest_id()
    subscription = server.events.subscribe(mask | ServerEvents.FXSSVC_ENDED, after_id=start)
    await websocket.accept()

    async def send() -> None:
        async for event in _events(server, streams, subscription, mask, visibility(principal), keepalive,
                                   credentials_check(websocket.app, websocket.headers.get("authorization"))):
            if event is not None:  # the WebSocket has its own pings
                await websocket.send_text(message(event))
        await websocket.close(1001 if streams.ending else 1008,
                              "FXSSVC_ENDED: the server is stopping" if streams.ending else "the token was revoked")

    async def receive() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass  # the client has nothing to say; its messages are read only to notice when it leaves

    with streams.opened():
        sender = asyncio.create_task(send())
        listener = asyncio.create_task(receive())
        try:
            await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            subscription.close()
            for task in (sender, listener):
                task.cancel()
            for task in (sender, listener):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
