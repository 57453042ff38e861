"""IFaxServer over HTTP: identity, devices, activity counters and extension properties (server and device level)."""

from __future__ import annotations

import base64
import binascii
import sys
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from gateway import __version__
from gateway.api.models import (
    API_VERSION,
    Activity,
    ActivityLog,
    Device,
    ExtensionData,
    ExtensionProperty,
    Problem,
    ServerInfo,
    Statistics,
)
from gateway.api.security import REFUSALS, ApiError, CurrentPrincipal, require, right_names
from gateway.api.statistics import statistics
from gateway.enums import AccessRights
from gateway.intake.auth import Principal
from gateway.queue import controls
from gateway.queue.activity import xferfaxlog
from gateway.storage import incoming
from gateway.storage.devices import list_devices
from routing.extconfig import ExtensionConfigStore, UnknownDevice
from routing.router import device_ids

if TYPE_CHECKING:
    from gateway.server import FaxServer

WINDOWS_API_VERSION = 0x20000
"""fsAPI_VERSION_2 (Server 2003): the access rights and objects served here are that version's."""
RECEIVE_MODES = {"auto": "auto_answer", "manual": "manual_answer", "no_answer": "no_answer"}
ConfigReader = Annotated[Principal, Depends(require(AccessRights.QUERY_CONFIG, "reading the configuration"))]
ConfigManager = Annotated[Principal, Depends(require(AccessRights.MANAGE_CONFIG, "changing the configuration"))]
Guid = Annotated[str, Path(description="{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}, braces optional",
                           pattern=r"^\{?[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}?$")]
DeviceId = Annotated[int, Query(ge=0, le=2**31 - 1, description="0 for server-wide data")]
router = APIRouter(tags=["server"], responses=REFUSALS)
BAD_REQUEST: dict[int | str, dict[str, object]] = {400: {"model": Problem}, 404: {"model": Problem}}


def _server(request: Request) -> FaxServer:
    server: FaxServer = request.app.state.fax_server
    return server


@router.get("/server", response_model=ServerInfo, summary="IFaxServer properties")
async def get_server(request: Request, principal: CurrentPrincipal) -> ServerInfo:
    """Who this server is, and what the caller may do on it."""
    server = _server(request)
    major, minor, build = [*map(int, __version__.split(".")[:3]), 0, 0, 0][:3]
    return ServerInfo(server_name=server.config.server.name, node_id=server.node_id, api_version=API_VERSION,
                      windows_api_version=WINDOWS_API_VERSION, version=__version__, major_version=major,
                      minor_version=minor, major_build=build, debug=bool(sys.flags.dev_mode),
                      granted_rights=right_names(principal.rights))


@router.get("/devices", response_model=list[Device], summary="IFaxServer.GetDevices")
async def get_devices(request: Request, _: ConfigReader) -> list[Device]:
    """The configured devices with the state their node last reported."""
    server = _server(request)
    async with server.db.transaction() as conn:
        states = await list_devices(conn)
    ids = device_ids(server.config)
    found = []
    for section in server.config.devices:
        state = states.get(section.name)
        found.append(Device(
            id=ids[section.name], name=section.name, provider=section.provider, csid=section.csid,
            tsid=section.tsid, send_enabled=section.send_enabled, receive_mode=RECEIVE_MODES[section.receive_mode],
            rings_before_answer=section.rings_before_answer, status=state.status if state else None,
            status_text=state.status_text if state else "", state=state.state if state else "unknown",
            retry_at=state.retry_at if state else None, failures=state.failures if state else 0,
            node_id=state.node_id if state else "",
            updated_at=state.updated_at if state else None))
    return found


@router.get("/activity", response_model=Activity, summary="IFaxActivity")
async def get_activity(request: Request, _: ConfigReader) -> Activity:
    """How many faxes are being routed, sent and waiting, across every node."""
    async with _server(request).db.transaction() as conn:
        queued, sending = await controls.queue_counts(conn)
        routing = await incoming.count_routing(conn)
    return Activity(routing_messages=routing, outgoing_messages=sending, queued_messages=queued)


@router.get("/activity/log", response_model=ActivityLog, summary="The activity log (ActivityLogging)")
async def get_activity_log(
    request: Request,
    _: Annotated[Principal, Depends(require(AccessRights.QUERY_JOBS, "reading the activity log"))],
    since: Annotated[float | None, Query(ge=0, le=1e11, description="Only calls started at or after (UNIX time)")]
    = None,
) -> ActivityLog:
    """One xferfaxlog line per call, every sender's (so it needs QUERY_JOBS)."""
    server = _server(request)
    async with server.db.transaction() as conn:
        return ActivityLog(lines=await xferfaxlog(conn, since=since, timezone=server.config.outbox.timezone))


@router.get("/statistics", response_model=Statistics, summary="Counts for the console's dashboard")
async def get_statistics(request: Request, _: ConfigReader,
                         since: Annotated[float, Query(ge=0, description="Start of 'today', UNIX seconds")] = 0.0,
                         ) -> Statistics:
    """Jobs by status, what went out and came in since ``since``, and what needs attention, across every node."""
    async with _server(request).db.transaction() as conn:
        return await statistics(conn, since)


def extension_store(server: FaxServer) -> ExtensionConfigStore:
    """The store the running routing service uses (so its subscribers hear API writes), else a fresh one."""
    for service in server.services:
        found = getattr(service, "extensions", None)
        if isinstance(found, ExtensionConfigStore):
            return found
    return ExtensionConfigStore(server.db, device_ids(server.config), server.events)


def _braced(guid: str) -> str:
    return "{" + guid.strip("{}") + "}"


@router.get("/extensions/{guid}", response_model=ExtensionProperty, summary="IFaxServer.GetExtensionProperty",
            responses=BAD_REQUEST)
async def get_extension(request: Request, _: ConfigReader, guid: Guid, device: DeviceId = 0) -> ExtensionProperty:
    """The blob stored under a GUID for the server (device 0) or one device; 404 when none is."""
    try:
        key = _braced(guid)
        data = await extension_store(_server(request)).get(device, key)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    except UnknownDevice as exc:
        raise ApiError(404, str(exc)) from None
    if data is None:
        raise ApiError(404, f"nothing is stored under {key} for device {device}")
    return ExtensionProperty(guid=key.lower(), device_id=device, data=base64.b64encode(data).decode())


@router.put("/extensions/{guid}", response_model=ExtensionProperty, summary="IFaxServer.SetExtensionProperty",
            responses=BAD_REQUEST)
async def put_extension(request: Request, principal: ConfigManager, guid: Guid, value: ExtensionData,
                        device: DeviceId = 0) -> ExtensionProperty:
    """Store a blob; every subscriber of the key but the writer is told, and a CONFIG event is published."""
    try:
        data = base64.b64decode(value.data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "data must be base64") from None
    key = _braced(guid)
    try:
        await extension_store(_server(request)).set(device, key, data, writer=f"api {principal.name}"[:64])
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    except UnknownDevice as exc:
        raise ApiError(404, str(exc)) from None
    return ExtensionProperty(guid=key.lower(), device_id=device, data=base64.b64encode(data).decode())
