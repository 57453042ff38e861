"""Routing methods as extensions: built-ins registered in code, others found by entry points.

Third parties declare, in their package metadata:
    [project.entry-points."faxgate.routing_methods"]
    archive_s3 = "mypkg.routing:S3Method"
An entry point may name a class (instantiated without arguments) or a ready object.
Device providers are found the same way, by modem.providers.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from gateway.config.routing import InboundSection
from gateway.enums import ProviderStatus
from gateway.logs import log_event, logger
from routing.extconfig import check_guid
from routing.methods.base import RoutingMethod
from routing.methods.email import EmailMethod
from routing.methods.folder import FolderMethod
from routing.methods.mailbox import MailboxMethod
from routing.methods.webhook import WebhookMethod

ROUTING_METHODS_GROUP = "faxgate.routing_methods"
LAST = 999999
log = logger("init")


@dataclass
class ExtensionLoad:
    """How loading one extension went (IFaxInboundRoutingExtension.Status / InitErrorCode)."""

    name: str
    source: str
    status: ProviderStatus
    error: str = ""


def _load(entry: Any) -> Any:
    loaded = entry.load()
    return loaded() if isinstance(loaded, type) else loaded


class MethodRegistry:
    """Every routing method known to this server, with its global priority and per-device enablement."""

    def __init__(self, inbound: InboundSection | None = None,
                 device_methods: Callable[[str], Mapping[str, bool]] | None = None) -> None:
        self.inbound = inbound or InboundSection()
        self.device_methods = device_methods
        """A device's own switches (IFaxDevice.UseRoutingMethod: name or GUID -> on/off), read at each decision."""
        self._methods: dict[str, RoutingMethod] = {}
        self.loads: list[ExtensionLoad] = []
        for method in (FolderMethod(), EmailMethod(), WebhookMethod(), MailboxMethod()):
            self.register(method, source="built-in")

    def register(self, method: RoutingMethod, source: str = "code") -> None:
        """Add a method; its GUID and name must be new."""
        if not isinstance(method, RoutingMethod):
            raise TypeError(f"{method!r} lacks guid, name, friendly_name, default_priority, check_config, route")
        guid = check_guid(method.guid)
        if guid in self._methods or self.find(method.name) is not None:
            raise ValueError(f"a routing method {method.name!r} / {guid} is registered already")
        self._methods[guid] = method
        self.loads.append(ExtensionLoad(method.name, source, ProviderStatus.SUCCESS))

    def unregister(self, name: str) -> bool:
        """Drop a method by name or GUID (IFaxServer.UnregisterInboundRoutingExtension, applied at start)."""
        method = self.find(name)
        if method is None:
            return False
        del self._methods[method.guid]
        self.loads = [load for load in self.loads if load.name != method.name]
        return True

    def discover(self, skip: frozenset[str] = frozenset()) -> list[ExtensionLoad]:
        """Load the methods of installed packages (entry point group faxgate.routing_methods), but those in ``skip``."""
        found: list[ExtensionLoad] = []
        for entry in entry_points(group=ROUTING_METHODS_GROUP):
            if entry.name in skip:
                continue
            source = f"entry point {entry.name} = {entry.value}"
            try:
                self.register(_load(entry), source=source)
                found.append(self.loads[-1])
            except Exception as exc:
                status = ProviderStatus.BAD_GUID if isinstance(exc, ValueError) else ProviderStatus.CANT_LOAD
                failed = ExtensionLoad(entry.name, source, status, f"{type(exc).__name__}: {exc}")
                self.loads.append(failed)
                found.append(failed)
                log_event(log, logging.ERROR, "routing.extension_failed", name=entry.name, error=failed.error)
        return found

    def start(self, registrations: Mapping[str, Mapping[str, Any]] | None = None) -> list[ExtensionLoad]:
        """Load installed extensions with the stored registrations applied (name -> {"registered", "target"}):
        unregistered ones are left out, registered ones with a "module:attribute" target are loaded too."""
        stored = registrations or {}
        skip = frozenset(name for name, item in stored.items() if not item.get("registered", True))
        found = self.discover(skip)
        for name in sorted(skip):
            self.unregister(name)
        for name, item in sorted(stored.items()):
            target = str(item.get("target") or "")
            if not item.get("registered", True) or not target or self.find(name) is not None:
                continue
            source = f"registered {name} = {target}"
            try:
                module_name, attribute = target.split(":", 1)
                loaded = getattr(importlib.import_module(module_name), attribute)
                self.register(loaded() if isinstance(loaded, type) else loaded, source=source)
                found.append(self.loads[-1])
            except Exception as exc:
                failed = ExtensionLoad(name, source, ProviderStatus.CANT_LOAD, f"{type(exc).__name__}: {exc}")
                self.loads.append(failed)
                found.append(failed)
                log_event(log, logging.ERROR, "routing.extension_failed", name=name, error=failed.error)
        return found

    def find(self, name_or_guid: str) -> RoutingMethod | None:
        """A method by name or GUID."""
        if name_or_guid.startswith("{"):
            return self._methods.get(name_or_guid.lower())
        return next((m for m in self._methods.values() if m.name == name_or_guid), None)

    def _setting(self, method: RoutingMethod) -> Any:
        return next((s for s in self.inbound.methods
                     if s.method in (method.name, method.guid) or s.method.lower() == method.guid), None)

    def ordered(self) -> list[RoutingMethod]:
        """All methods in the order they run (IFaxInboundRouting.GetMethods).

        As in Windows, setting a method's priority to N moves it to place N and shifts the others down;
        methods without a configured priority keep their default order.
        """
        order = sorted(self._methods.values(), key=lambda m: (m.default_priority, m.name))
        configured = [(s.priority, m) for m in order if (s := self._setting(m)) is not None and s.priority]
        for wanted, method in sorted(configured, key=lambda item: item[0]):
            order.remove(method)
            order.insert(min(wanted - 1, len(order)), method)
        return order

    def priority(self, method: RoutingMethod) -> int:
        """The global priority (1 runs first)."""
        return self.ordered().index(method) + 1

    def enabled_on(self, method: RoutingMethod, device: str) -> bool:
        """Whether the device uses this method (IFaxDevice.UsedRoutingMethods): the device's own switch, else
        [[inbound.methods]]; all devices unless configured."""
        switches = self.device_methods(device) if self.device_methods is not None else {}
        for key in (method.guid, method.name):
            found = next((on for name, on in switches.items() if name.lower() == key.lower()), None)
            if found is not None:
                return found
        setting = self._setting(method)
        return setting is None or setting.devices is None or device in setting.devices
