"""IFaxDevice over HTTP: the settings that change at runtime (any node's device), AnswerCall (any node's device:
another node's is asked through the store's event log), and the routing methods each device uses
(UsedRoutingMethods / UseRoutingMethod)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from gateway.api.config import INVALID, ConfigManager, ConfigReader, fax_server, store_changes
from gateway.api.security import REFUSALS, ApiError, require
from gateway.api.settings_models import (
    AnswerRequested,
    AnswerResult,
    DeviceRoutingMethod,
    DeviceSettings,
    DeviceSettingsChange,
    RoutingMethodUse,
)
from gateway.config.runtime import device_area
from gateway.enums import AccessRights, DeviceState, ServerEvents
from gateway.intake.auth import Principal
from gateway.storage.devices import get_device, list_devices
from routing.answer import ANSWER_REQUESTED, InboundService
from routing.registry import MethodRegistry
from routing.router import RoutingService, device_ids

if TYPE_CHECKING:
    from gateway.server import FaxServer

DeviceRef = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="The device name (or its id here)")]
MethodRef = Annotated[str, Path(pattern=r"^(\{?[0-9a-fA-F-]{36}\}?|[A-Za-z0-9_.-]{1,64})$",
                                description="A routing method's name or GUID")]
Answerer = Annotated[Principal, Depends(require(AccessRights.QUERY_IN_ARCHIVE, "answering a call (AnswerCall)"))]
router = APIRouter(prefix="/devices", tags=["devices"], responses={**REFUSALS, **INVALID})
CONFLICT: dict[int | str, dict[str, object]] = {409: {"model": INVALID[400]["model"]}}


async def device_name(server: FaxServer, ref: str) -> tuple[str, str]:
    """(device name, node that runs it) for a name or a local id; 404 when no node knows the device."""
    async with server.db.transaction() as conn:
        states = await list_devices(conn)
    local = {section.name for section in server.config.devices}
    if ref not in local and ref not in states and ref.isdigit():
        ref = next((name for name, number in device_ids(server.config).items() if str(number) == ref), ref)
    if ref in local:
        return ref, server.node_id
    if ref in states:
        return ref, states[ref].node_id
    raise ApiError(404, f"there is no device {ref!r} on any node")


def registry(server: FaxServer) -> MethodRegistry:
    """The routing service's registry (what is loaded), else one started the same way."""
    for service in server.services:
        if isinstance(service, RoutingService):
            return service.registry
    made = MethodRegistry(server.config.inbound, server.runtime.device_methods)
    made.start(server.runtime.registrations("routing"))
    return made


def _methods(server: FaxServer, name: str) -> list[DeviceRoutingMethod]:
    methods = registry(server)
    return [DeviceRoutingMethod(guid=m.guid, name=m.name, friendly_name=m.friendly_name, priority=index,
                                enabled=methods.enabled_on(m, name))
            for index, m in enumerate(methods.ordered(), start=1)]


def _inbound(server: FaxServer) -> InboundService | None:
    return next((service for service in server.services if isinstance(service, InboundService)), None)


async def settings(server: FaxServer, ref: str) -> DeviceSettings:
    """The device's settings in force (stored, else its node's file as far as this node knows it)."""
    name, node = await device_name(server, ref)
    value = server.runtime.device_value
    inbound = _inbound(server)
    ringing = inbound is not None and name in inbound.ringing
    return DeviceSettings(name=name, node_id=node, tsid=value(name, "tsid"), csid=value(name, "csid"),
                          send_enabled=value(name, "send_enabled"), receive_mode=value(name, "receive_mode"),
                          rings_before_answer=value(name, "rings_before_answer"),
                          description=value(name, "description"), ringing=ringing,
                          routing_methods=_methods(server, name))


@router.get("/{device}/settings", response_model=DeviceSettings, summary="IFaxDevice properties")
async def get_settings(request: Request, _: ConfigReader, device: DeviceRef) -> DeviceSettings:
    """TSID, CSID, send and receive switches, rings before answer, description and the routing methods in use."""
    return await settings(fax_server(request), device)


@router.put("/{device}/settings", response_model=DeviceSettings, summary="IFaxDevice.Save")
async def put_settings(request: Request, principal: ConfigManager, device: DeviceRef,
                       change: DeviceSettingsChange) -> DeviceSettings:
    """Change a device of any node; its node applies the change within a second, without a restart."""
    server = fax_server(request)
    name, _node = await device_name(server, device)
    await store_changes(request, principal, {device_area(name): change.model_dump(exclude_none=True)})
    return await settings(server, name)


@router.put("/{device}/routing-methods/{method}", response_model=DeviceSettings,
            summary="IFaxDevice.UseRoutingMethod")
async def use_routing_method(request: Request, principal: ConfigManager, device: DeviceRef, method: MethodRef,
                             use: RoutingMethodUse) -> DeviceSettings:
    """Switch one routing method on or off for one device (faxes it receives from now on, routed on any node)."""
    server = fax_server(request)
    name, _node = await device_name(server, device)
    bare = method.strip("{}")
    found = registry(server).find("{" + bare.lower() + "}" if len(bare) == 36 and bare.count("-") == 4 else method)
    if found is None:
        raise ApiError(404, f"there is no routing method {method!r}")
    switches = {key: on for key, on in server.runtime.device_methods(name).items()
                if key.lower() not in (found.guid, found.name.lower())}
    switches[found.guid] = use.enabled
    await store_changes(request, principal, {device_area(name): {"routing_methods": switches}})
    return await settings(server, name)


ANSWER_RESPONSES: dict[int | str, dict[str, object]] = {
    202: {"model": AnswerRequested, "description": "The device runs on another node: that node was asked to answer"},
    **CONFLICT}


@router.post("/{device}/answer", response_model=AnswerResult, summary="IFaxDevice.AnswerCall",
             responses=ANSWER_RESPONSES)
async def answer_call(request: Request, principal: Answerer, device: DeviceRef) -> AnswerResult | JSONResponse:
    """Answer the call ringing now on a device (for receive_mode "manual"): 200 when this node runs the device and
    answered; 202 when another node runs it and the store says it rings (that node is asked through the store and
    answers if it still rings: asynchronous, as Windows' AnswerCall); 409 when no call is ringing."""
    server = fax_server(request)
    name, node = await device_name(server, device)
    if node != server.node_id:
        await request_answer(server, name, node, principal.name)
        return JSONResponse(AnswerRequested(device=name, node_id=node).model_dump(), status_code=202)
    inbound = _inbound(server)
    if inbound is None or not inbound.answer_ringing(name):
        raise ApiError(409, f"no call is ringing on {name} waiting to be answered")
    return AnswerResult(device=name, answered=True)


async def request_answer(server: FaxServer, name: str, node: str, by: str) -> None:
    """Store an AnswerCall for the node that runs the device, if its stored state says a call rings there (409 if
    not); that node's event feed hands the request to its inbound service."""
    async with server.db.transaction() as conn:
        stored = await get_device(conn, name)
        if stored is None or stored.state != DeviceState.RINGING:
            raise ApiError(409, f"no call is ringing on {name} (node {node}) waiting to be answered")
        await server.events.record(conn, ServerEvents.INCOMING_CALL, ANSWER_REQUESTED, device=name,
                                   answer_node=node, requested_by=by[:64])
