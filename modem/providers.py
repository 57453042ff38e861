"""Device providers by name, all from entry points: faxgate's own and those of any installed package.

faxgate declares its built-in ones in its own package metadata (pyproject.toml), as a third party would:
    [project.entry-points."faxgate.device_providers"]
    class1 = "modem.provider:Class1Provider"
An entry point may name a class (instantiated without arguments) or a ready object with ``create(spec)``.
Names are known without importing anything (the config checks them so); a provider is loaded when first
asked for. One that fails to load is remembered with the reason, so its lines show "not ready" instead of
crashing the server, while the lines of the other providers work.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from modem.device import DeviceProvider

DEVICE_PROVIDERS_GROUP = "faxgate.device_providers"


class ProviderRegistry:
    """Every device provider this process knows, and why the ones that failed to load did."""

    def __init__(self, entries: Iterable[EntryPoint] | None = None) -> None:
        """``entries``: the entry points to offer (default: the installed ones of the group)."""
        found = entry_points(group=DEVICE_PROVIDERS_GROUP) if entries is None else entries
        self._entries: dict[str, EntryPoint] = {}
        for entry in found:
            self._entries.setdefault(entry.name, entry)  # two packages claiming a name: the first one found wins
        self._providers: dict[str, DeviceProvider] = {}
        self.failures: dict[str, str] = {}
        """name -> why loading failed (FAX_PROVIDER_STATUS_ENUM fpsCANT_LOAD, in words)."""

    def register(self, name: str, provider: DeviceProvider) -> None:
        """Add (or replace) a provider under ``name``; it must have ``create(spec)``."""
        if not callable(getattr(provider, "create", None)):
            raise TypeError(f"device provider {name!r} has no create(spec) method")
        self._providers[name] = provider
        self.failures.pop(name, None)

    def discover(self) -> dict[str, str]:
        """Load every provider not loaded yet; returns name -> error for those that failed."""
        for name in self._entries:
            if name not in self._providers:
                self._load(name)
        return dict(self.failures)

    def _load(self, name: str) -> DeviceProvider | None:
        entry = self._entries[name]
        try:
            self.register(name, _instance(entry.load()))
        except Exception as exc:
            self.failures[name] = (
                f"the device provider {name!r} ({entry.value}) failed to load: {type(exc).__name__}: {exc}")
            return None
        return self._providers[name]

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
        """Every provider name installed or registered (loaded, failed, or not loaded yet), sorted."""
        return sorted({*self._entries, *self._providers})

    def get(self, name: str) -> DeviceProvider:
        """The provider called ``name``, loaded now if need be; LookupError with the reason when it is not
        installed or failed to load."""
        if name in self._providers:
            return self._providers[name]
        if name in self._entries and name not in self.failures and (provider := self._load(name)) is not None:
            return provider
        if name in self.failures:
            raise LookupError(self.failures[name])
        raise LookupError(unknown_provider(name, self.names()))


def unknown_provider(name: str, known: list[str]) -> str:
    """Why ``name`` cannot be used: nothing installed registers it (or faxgate's own metadata is missing)."""
    if not known:
        return (f"no device provider {name!r} is installed, nor any other: faxgate's package metadata declares the "
                f"built-in ones ({DEVICE_PROVIDERS_GROUP} entry points), so install faxgate (pip install -e .)")
    return f"unknown device provider {name!r} (installed: {', '.join(known)})"


def _instance(loaded: Any) -> DeviceProvider:
    """A class is instantiated without arguments; anything else is taken as the provider itself."""
    provider: DeviceProvider = loaded() if isinstance(loaded, type) else loaded
    return provider


def discover_device_providers() -> ProviderRegistry:
    """Every installed provider, loaded (the failures kept with their reasons)."""
    registry = ProviderRegistry()
    registry.discover()
    return registry
