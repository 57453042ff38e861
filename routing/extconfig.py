"""The extension configuration store (FaxExtGetData / FaxExtSetData / FaxExtRegisterForEvents / FaxExtConfigChange).

Blobs are keyed by (device id, GUID); device id 0 holds an extension's global data. The store is the
`extension_data` table, so every node sees the same values. A write notifies every subscriber of that key
except the writer itself, and is published on the event bus (CONFIG) for other observers.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.enums import ConfigArea, ServerEvents
from gateway.events import EventBus
from gateway.logs import log_event, logger
from gateway.storage import Database
from gateway.storage import incoming as store

GLOBAL_DEVICE = 0
_GUID = re.compile(r"^\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}$")
log = logger("general")

ChangeCallback = Callable[[int, str, bytes], Awaitable[None] | None]


class UnknownDevice(LookupError):
    """No device has this id (ERROR_FILE_NOT_FOUND in FaxExtSetData)."""


def check_guid(guid: str) -> str:
    """The GUID in canonical lower case "{xxxxxxxx-...}"; ValueError if it is not well formed."""
    if not _GUID.match(guid):
        raise ValueError(f"not a GUID in braces: {guid!r}")
    return guid.lower()


@dataclass(frozen=True)
class Registration:
    """A handle from subscribe(), for unsubscribe()."""

    device_id: int
    guid: str
    writer: str
    callback: ChangeCallback


class ExtensionConfigStore:
    """get / set / subscribe for GUID-named configuration blobs of extensions, per device or global."""

    def __init__(self, db: Database, device_ids: dict[str, int], events: EventBus | None = None) -> None:
        self.db = db
        self.device_ids = device_ids
        self.events = events
        self._registrations: list[Registration] = []

    def _check(self, device_id: int, guid: str) -> str:
        if device_id != GLOBAL_DEVICE and device_id not in self.device_ids.values():
            raise UnknownDevice(f"no device has id {device_id}")
        return check_guid(guid)

    async def get(self, device_id: int, guid: str) -> bytes | None:
        """The blob for (device, GUID), or None when nothing was stored."""
        guid = self._check(device_id, guid)
        async with self.db.transaction() as conn:
            return await store.get_extension_data(conn, device_id, guid)

    async def set(self, device_id: int, guid: str, data: bytes, *, writer: str) -> None:
        """Store a blob durably, then tell every other subscriber of that key."""
        guid = self._check(device_id, guid)
        async with self.db.transaction() as conn:
            await store.set_extension_data(conn, device_id, guid, data, writer)
            if self.events is not None:
                await self.events.record(conn, ServerEvents.CONFIG, "extension.changed", area=ConfigArea.EXTENSION,
                                         device_id=device_id, guid=guid, writer=writer)
        for registration in list(self._registrations):
            if registration.device_id != device_id or registration.guid != guid or registration.writer == writer:
                continue
            try:
                outcome = registration.callback(device_id, guid, data)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log_event(log, logging.ERROR, "extension.notify_failed", guid=guid, device=device_id,
                          subscriber=registration.writer)

    def subscribe(self, device_id: int, guid: str, writer: str, callback: ChangeCallback) -> Registration:
        """Call ``callback(device_id, guid, data)`` when someone other than ``writer`` changes the key."""
        registration = Registration(device_id, self._check(device_id, guid), writer, callback)
        self._registrations.append(registration)
        return registration

    def unsubscribe(self, registration: Registration) -> None:
        """Stop notifications for a registration."""
        self._registrations = [r for r in self._registrations if r is not registration]

    async def get_json(self, device_id: int, guid: str) -> dict[str, Any]:
        """A blob read as a JSON object ({} when absent or not an object)."""
        data = await self.get(device_id, guid)
        if not data:
            return {}
        try:
            value = json.loads(data)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    async def set_json(self, device_id: int, guid: str, value: dict[str, Any], *, writer: str) -> None:
        """Store a JSON object as the blob."""
        await self.set(device_id, guid, json.dumps(value, sort_keys=True).encode(), writer=writer)
