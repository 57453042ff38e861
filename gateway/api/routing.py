"""Device providers, inbound routing (extensions, methods and their order) and outbound routing (groups, rules)
over HTTP. Registering or unregistering a provider or an extension is stored and takes effect at the next start,
as in Windows; method order, groups and rules apply on every node at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import TypeAdapter

from gateway.api.config import CONFLICT, INVALID, ConfigManager, ConfigReader, fax_server, store_changes
from gateway.api.devices import registry
from gateway.api.security import REFUSALS, ApiError
from gateway.api.settings_models import (
    ExtensionInfo,
    MethodOrder,
    OutboundGroup,
    OutboundRule,
    ProviderInfo,
    Registration,
    RegistrationResult,
    RoutingMethodInfo,
)
from gateway.config import FaxgateConfig
from gateway.config.runtime import REGISTRATIONS
from gateway.enums import ALL_DEVICES_GROUP, ProviderStatus
from gateway.intake.auth import Principal
from gateway.queue.pool import DevicePool
from routing.registry import MethodRegistry

router = APIRouter(tags=["routing"], responses={**REFUSALS, **INVALID})
Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
_GROUPS = TypeAdapter(list[OutboundGroup])
_RULES = TypeAdapter(list[OutboundRule])


async def _register(request: Request, principal: Principal, kind: str, name: str, registered: bool,
                    target: str = "") -> RegistrationResult:
    """Store a registration for the next start."""
    item = {"registered": registered, "target": target}
    await store_changes(request, principal, {REGISTRATIONS: {f"{kind}:{name}": item}})
    return RegistrationResult(name=name, registered=registered)


# -------------------------------------------------------------------------------------------------- providers

@router.get("/device-providers", response_model=list[ProviderInfo], summary="IFaxServer.GetDeviceProviders")
async def get_providers(request: Request, _: ConfigReader) -> list[ProviderInfo]:
    """Providers this node loaded (or failed to), with what is registered for the next start."""
    server = fax_server(request)
    pool = next((service for service in server.services if isinstance(service, DevicePool)), None)
    stored = server.runtime.registrations("provider")
    found: dict[str, ProviderInfo] = {}
    if pool is not None and pool.providers is not None:
        for name in pool.providers.names():
            error = pool.providers.failures.get(name, "")
            found[name] = ProviderInfo(name=name, status=("cant_load" if error else "success"), init_error=error,
                                       registered=True, target="")
    for name, item in stored.items():
        current = found.get(name) or ProviderInfo(name=name, status="not_loaded", init_error="", registered=True,
                                                  target="")
        found[name] = current.model_copy(update={"registered": bool(item.get("registered", True)),
                                                 "target": str(item.get("target") or "")})
    return [found[name] for name in sorted(found)]


@router.post("/device-providers", response_model=RegistrationResult, status_code=202,
             summary="IFaxServer.RegisterDeviceProvider")
async def register_provider(request: Request, principal: ConfigManager,
                            registration: Registration) -> RegistrationResult:
    """Register a provider ("module:attribute" with create(spec)); loaded at the next start of every node."""
    return await _register(request, principal, "provider", registration.name, True, registration.target)


@router.delete("/device-providers/{name}", response_model=RegistrationResult, status_code=202,
               summary="IFaxServer.UnregisterDeviceProvider")
async def unregister_provider(request: Request, principal: ConfigManager, name: Name) -> RegistrationResult:
    """Unregister a provider: from the next start its devices show "not ready"."""
    return await _register(request, principal, "provider", name, False)


# ------------------------------------------------------------------------------------------- inbound routing

@router.get("/inbound-routing/extensions", response_model=list[ExtensionInfo],
            summary="IFaxInboundRouting.GetExtensions")
async def get_extensions(request: Request, _: ConfigReader) -> list[ExtensionInfo]:
    """Routing extensions as loaded at start, and what is registered for the next start."""
    server = fax_server(request)
    return extension_infos(registry(server), server.runtime.registrations("routing"))


def extension_infos(methods: MethodRegistry, stored: dict[str, dict[str, Any]]) -> list[ExtensionInfo]:
    """The extensions a registry loaded (or failed to), with the stored registrations (the CLI's --offline too)."""
    found = {load.name: ExtensionInfo(name=load.name, source=load.source,
                                      status=ProviderStatus(load.status).name.lower(),
                                      init_error=load.error, registered=True,
                                      methods=[load.name] if methods.find(load.name) else [])
             for load in methods.loads}
    for name, item in stored.items():
        current = found.get(name) or ExtensionInfo(name=name, source=str(item.get("target") or ""),
                                                   status="not_loaded", init_error="", registered=True, methods=[])
        found[name] = current.model_copy(update={"registered": bool(item.get("registered", True))})
    return [found[name] for name in sorted(found)]


@router.post("/inbound-routing/extensions", response_model=RegistrationResult, status_code=202,
             summary="IFaxServer.RegisterInboundRoutingExtension")
async def register_extension(request: Request, principal: ConfigManager,
                             registration: Registration) -> RegistrationResult:
    """Register a routing method ("module:attribute"); loaded at the next start of every node."""
    return await _register(request, principal, "routing", registration.name, True, registration.target)


@router.delete("/inbound-routing/extensions/{name}", response_model=RegistrationResult, status_code=202,
               summary="IFaxServer.UnregisterInboundRoutingExtension")
async def unregister_extension(request: Request, principal: ConfigManager, name: Name) -> RegistrationResult:
    """Unregister a routing extension (a built-in one too): from the next start its method is not run."""
    return await _register(request, principal, "routing", name, False)


def method_infos(config: FaxgateConfig, methods: MethodRegistry) -> list[RoutingMethodInfo]:
    """Every method of a registry in the order they run, with the config's devices that use each (the API and the
    CLI's --offline)."""
    sources = {load.name: load.source for load in methods.loads}
    return [RoutingMethodInfo(guid=m.guid, name=m.name, friendly_name=m.friendly_name,
                              extension=sources.get(m.name, ""), priority=index,
                              devices=[d.name for d in config.devices if methods.enabled_on(m, d.name)])
            for index, m in enumerate(methods.ordered(), start=1)]


def _method_infos(request: Request) -> list[RoutingMethodInfo]:
    server = fax_server(request)
    return method_infos(server.config, registry(server))


@router.get("/inbound-routing/methods", response_model=list[RoutingMethodInfo],
            summary="IFaxInboundRouting.GetMethods")
async def get_methods(request: Request, _: ConfigReader) -> list[RoutingMethodInfo]:
    """Every routing method in the order they run, with this node's devices that use it."""
    return _method_infos(request)


@router.put("/inbound-routing/methods/order", response_model=list[RoutingMethodInfo],
            summary="IFaxInboundRoutingMethod.Priority", responses=CONFLICT)
async def put_method_order(request: Request, principal: ConfigManager, order: MethodOrder) -> list[RoutingMethodInfo]:
    """Run the named methods first, in this order (priority 1, 2, ...); on every node at once."""
    server = fax_server(request)
    methods = registry(server)
    wanted = []
    for ref in order.methods:
        found = methods.find(ref) or methods.find("{" + ref.strip("{}").lower() + "}")
        if found is None:
            raise ApiError(404, f"there is no routing method {ref!r}")
        if found in wanted:
            raise ApiError(409, f"routing method {found.name} is named twice")
        wanted.append(found)
    settings: list[dict[str, Any]] = [setting.model_dump() for setting in server.config.inbound.methods]
    by_method = {str(item["method"]).lower(): item for item in settings}
    for priority, method in enumerate(wanted, start=1):
        item = by_method.get(method.name.lower()) or by_method.get(method.guid)
        if item is None:
            item = {"method": method.name, "priority": None, "devices": None}
            settings.append(item)
        item["priority"] = priority
    await store_changes(request, principal, {"inbound": {"methods": settings}})
    return _method_infos(request)


# ------------------------------------------------------------------------------------------ outbound routing

def outbound_conflict(groups: list[OutboundGroup], rules: list[OutboundRule], new_rules: bool) -> ApiError | None:
    """What makes groups and rules, each valid, unusable together (the [outbound] section's own checks, said as
    HTTP): a group name twice or the built-in one's, two rules for one country and area code (409); a rule naming
    a group there is not: 404 for new rules, 409 for new groups that drop a group a rule in force names."""
    names = [group.name.lower() for group in groups]
    for group in groups:
        if group.name.lower() == ALL_DEVICES_GROUP.lower():
            return ApiError(409, f"{ALL_DEVICES_GROUP} is built in and holds every device")
        if names.count(group.name.lower()) > 1:
            return ApiError(409, f"two groups are named {group.name!r} (names are case-insensitive)")
    keys = [(rule.country_code, rule.area_code) for rule in rules]
    for rule in rules:
        if keys.count((rule.country_code, rule.area_code)) > 1:
            return ApiError(409, f"two rules are for country {rule.country_code}, area {rule.area_code}")
        if rule.group and rule.group.lower() not in {*names, ALL_DEVICES_GROUP.lower()}:
            if new_rules:
                return ApiError(404, f"there is no outbound routing group {rule.group!r}")
            return ApiError(409, f"rule {rule.country_code}/{rule.area_code} names group {rule.group!r}: change the "
                                 "rule first")
    return None


def _groups_in_force(request: Request) -> list[OutboundGroup]:
    return _GROUPS.validate_python(fax_server(request).config.outbound.model_dump()["groups"])


def _rules_in_force(request: Request) -> list[OutboundRule]:
    return _RULES.validate_python(fax_server(request).config.outbound.model_dump()["rules"])


@router.get("/outbound-routing/groups", response_model=list[OutboundGroup], summary="IFaxOutboundRoutingGroups")
async def get_groups(request: Request, _: ConfigReader) -> list[OutboundGroup]:
    """The outbound routing groups (the built-in <All Devices> group is implied)."""
    return _groups_in_force(request)


@router.put("/outbound-routing/groups", response_model=list[OutboundGroup], summary="IFaxOutboundRoutingGroups.Save",
            responses=CONFLICT)
async def put_groups(request: Request, principal: ConfigManager, groups: list[OutboundGroup]) -> list[OutboundGroup]:
    """Replace the groups on every node; 409 when a rule in force names a group no longer there."""
    conflict = outbound_conflict(groups, _rules_in_force(request), new_rules=False)
    if conflict is not None:
        raise conflict
    await store_changes(request, principal, {"outbound": {"groups": [g.model_dump() for g in groups]}})
    return _groups_in_force(request)


@router.get("/outbound-routing/rules", response_model=list[OutboundRule], summary="IFaxOutboundRoutingRules")
async def get_rules(request: Request, _: ConfigReader) -> list[OutboundRule]:
    """The outbound routing rules by country and area code."""
    return _rules_in_force(request)


@router.put("/outbound-routing/rules", response_model=list[OutboundRule], summary="IFaxOutboundRoutingRules.Save",
            responses=CONFLICT)
async def put_rules(request: Request, principal: ConfigManager, rules: list[OutboundRule]) -> list[OutboundRule]:
    """Replace the rules on every node; jobs queued from now on are routed by them. A group must exist (404);
    one country and area code has one rule (409)."""
    conflict = outbound_conflict(_groups_in_force(request), rules, new_rules=True)
    if conflict is not None:
        raise conflict
    await store_changes(request, principal, {"outbound": {"rules": [r.model_dump() for r in rules]}})
    return _rules_in_force(request)
