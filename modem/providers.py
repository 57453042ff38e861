"""Device providers by name: the built-in ones registered in code, others found by entry points.

A third party declares, in its package metadata:
    [project.entry-points."faxgate.device_providers"]
    t38 = "mypkg.t38:T38Provider"
An entry point may name a class (instantiated without arguments) or a ready object with ``create(spec)``.
A provider that fails to load is remembered with the reason, so its lines show "not ready" instead of crashing.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from modem.device import DeviceProvider

DEVICE_PROVIDERS_GROUP = "faxgate.device_providers"
BUILTIN_DEVICE_PROVIDERS = {
    # One Class 1 engine drives both: a serial port or pty for "class1", a simulated line for "simulated".
    "class1": "modem.provider:Class1Provider",
    "simulated": "modem.provider:Class1Provider",
}


class ProviderRegistry:
    """Every device provider this process knows, and why the ones that failed to load did."""

    def __init__(self) -> None:
        self._providers: dict[str, DeviceProvider] = {}
        self.failures: dict[str, str] = {}
        """name -> why loading failed (FAX_PROVIDER_STATUS_ENUM fpsCANT_LOAD, in words)."""
        for name, target in BUILTIN_DEVICE_PROVIDERS.items():
            module_name, attribute = target.split(":", 1)
            self.register(name, _instance(getattr(importlib.import_module(module_name), attribute)))

    def register(self, name: str, provider: DeviceProvider) -> None:
        """Add (or replace) a provider under ``name``; it must have ``create(spec)``."""
        if not callable(getattr(provider, "create", None)):
            raise TypeError(f"device provider {name!r} has no create(spec) method")
        self._providers[name] = provider
        self.failures.pop(name, None)

    def discover(self) -> dict[str, str]:
        """Load the providers of installed packages; returns name -> error for those that failed."""
        failed: dict[str, str] = {}
        for entry in entry_points(group=DEVICE_PROVIDERS_GROUP):
            try:
                self.register(entry.name, _instance(entry.load()))
            except Exception as exc:
                failed[entry.name] = self.failures[entry.name] = (
                    f"the device provider {entry.name!r} ({entry.value}) failed to load: {type(exc).__name__}: {exc}")
        return failed

    def unregister(self, name: str) -> bool:
        """Forget a provider (IFaxServer.UnregisterDeviceProvider, applied at start): its devices become not ready."""
        found = self._providers.pop(name, None) is not None
        self.failures[name] = f"the device provider {name!r} is unregistered"
        return found

    def apply_registrations(self, stored: Mapping[str, Mapping[str, Any]]) -> None:
        """Stored registrations (name -> {"registered", "target": "module:attribute"}), as at the start of Windows."""
        for name, item in sorted(stored.items()):
            if not item.get("registered", True):
                self.unregister(name)
                continue
            target = str(item.get("target") or "")
            if not target or name in self._providers:
                continue
            try:
                module_name, attribute = target.split(":", 1)
                self.register(name, _instance(getattr(importlib.import_module(module_name), attribute)))
            except Exception as exc:
                self.failures[name] = (f"the device provider {name!r} ({target}) failed to load: "
                                       f"{type(exc).__name__}: {exc}")

    def names(self) -> list[str]:
        """Every provider name that loaded or failed to, sorted."""
        return sorted({*self._providers, *self.failures})

    def get(self, name: str) -> DeviceProvider:
        """The provider called ``name``; LookupError with the reason when it is missing or failed to load."""
        if name in self._providers:
            return self._providers[name]
        raise LookupError(self.failures.get(name) or f"no device provider {name!r} is installed")


def _instance(loaded: Any) -> DeviceProvider:
    """A class is instantiated without arguments; anything else is taken as the provider itself."""
    provider: DeviceProvider = loaded() if isinstance(loaded, type) else loaded
    return provider


def discover_device_providers() -> ProviderRegistry:
    """The built-in providers plus those of installed packages."""
    registry = ProviderRegistry()
    registry.discover()
    return registry
