"""Runtime configuration: the TOML file is the starting point, values stored through the API win, on every node.

A change is validated against the section's own model, stored (gateway.storage.settings, which bumps a version
counter), applied in place to the live configuration objects every service reads, and announced as a CONFIG event.
Other nodes poll the version (and reload at once on a CONFIG event from elsewhere), so a change made on one node is
in force on all of them within about a second, without a restart; stored values are applied again at every start.
Sections are updated in place (the same objects), so code that reads ``config.outbox.retries`` when it acts sees
the new value; code that derives something at start registers a listener (``on_change``) to rebuild it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.config import FaxgateConfig
from gateway.config.base import Section
from gateway.config.devices import DeviceSection
from gateway.enums import ServerEvents
from gateway.logs import log_event, logger
from gateway.storage import events as event_log
from gateway.storage import settings as store

if TYPE_CHECKING:
    from gateway.events import EventBus
    from gateway.storage import Database

log = logger("general")
POLL_S = 1.0
"""How often a node compares the stored settings version with its own (a change elsewhere applies within this)."""
DEVICE_PREFIX = "device:"
REGISTRATIONS = "registrations"
"""Routing extensions and device providers registered or unregistered through the API: in force at the next start."""
SECTION_AREAS: dict[str, tuple[str, ...]] = {
    "outbox": ("outbox",),
    "inbox": ("inbox",),
    "archive.outgoing": ("archive", "outgoing"),
    "archive.incoming": ("archive", "incoming"),
    "receipts": ("receipts",),
    "logging": ("logging",),
    "outbound": ("outbound",),
    "inbound": ("inbound",),
}
"""Configuration areas (one CONFIG event each) and where each lives in the configuration."""
DEVICE_KEYS = frozenset({"tsid", "csid", "send_enabled", "receive_mode", "rings_before_answer", "description",
                         "routing_methods"})
"""The IFaxDevice properties that may change while the server runs."""


class SettingError(Exception):
    """A change that does not validate; each problem as "area.key: reason"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Effective:
    """One value in force and where it came from: "default", "file" (the TOML file) or "store" (set at runtime)."""

    path: str
    value: Any
    source: str
    updated_by: str = ""
    updated_at: float | None = None


def device_area(name: str) -> str:
    """The area of one device's settings."""
    return DEVICE_PREFIX + name


def remote_device(name: str) -> DeviceSection:
    """The defaults of a device this node does not run (its own node's file has the rest)."""
    return DeviceSection(name=name, provider="class1")


def _find_section(config: FaxgateConfig, area: str) -> Section:
    if area.startswith(DEVICE_PREFIX):
        name = area.removeprefix(DEVICE_PREFIX)
        found = next((device for device in config.devices if device.name == name), None)
        if found is None:
            raise KeyError(f"there is no device {name!r}")
        return found
    if area not in SECTION_AREAS:
        raise KeyError(f"there is no configuration area {area!r}")
    node: Any = config
    for part in SECTION_AREAS[area]:
        node = getattr(node, part)
    assert isinstance(node, Section)
    return node


def _describe(area: str, error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{area}.{where}: {message}" if where else f"{area}: {message}"


def merged(base: Section, values: dict[str, Any], area: str) -> Section:
    """The base section with ``values`` over it, validated by the section's own model; SettingError if not valid."""
    if area.startswith(DEVICE_PREFIX):
        unknown = sorted(set(values) - DEVICE_KEYS)
        if unknown:
            raise SettingError([f"{area}.{unknown[0]}: cannot be changed while the server runs "
                                f"(changeable: {', '.join(sorted(DEVICE_KEYS))})"])
    data = {**base.model_dump(by_alias=True, exclude_unset=True), **values}  # what was unset stays unset
    try:
        return type(base).model_validate(data)
    except ValidationError as exc:
        raise SettingError([_describe(area, error) for error in exc.errors()]) from None


def _assign(live: Section, new: Section) -> None:
    """Copy every field into the live object, so holders of the object see the new values."""
    for name in type(new).model_fields:
        setattr(live, name, getattr(new, name))


async def publish_change(events: EventBus | None, conn: AsyncConnection, area: str, **payload: Any) -> None:
    """The CONFIG event of one area, recorded in the change's transaction (stored even with no bus, as from the CLI)."""
    if events is not None:
        await events.record(conn, ServerEvents.CONFIG, "config.changed", area=area, **payload)
    else:
        event_log.record(conn, ServerEvents.CONFIG, "config.changed", {"area": area, **payload})


class RuntimeConfig:
    """The live configuration of one node: the file's values, the stored overrides over them, and who listens."""

    def __init__(self, config: FaxgateConfig, *, from_file: bool = True, node_id: str = "") -> None:
        self.live = config
        self.base = config.model_copy(deep=True)
        self.from_file = from_file
        self.node_id = node_id
        self.version = -1
        self.stored: dict[str, dict[str, store.StoredSetting]] = {}
        self.problems: dict[str, str] = {}
        """Areas whose stored values no longer fit the file (a device removed, ...): the file's values apply."""
        self._listeners: list[Callable[[set[str]], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._reloading = asyncio.Lock()

    # ----------------------------------------------------------------------------------------- applying

    def on_change(self, listener: Callable[[set[str]], None]) -> None:
        """Call ``listener(areas)`` after stored values of those areas were applied."""
        self._listeners.append(listener)

    def overrides(self, area: str) -> dict[str, Any]:
        """The stored values of one area."""
        return {key: item.value for key, item in self.stored.get(area, {}).items()}

    def check(self, area: str, values: dict[str, Any]) -> Section | None:
        """What the area would be with ``values`` stored too; SettingError (or KeyError) when it would not be valid.

        A device of another node (not in this node's file) is checked against the defaults of a device;
        registrations are data for the next start (None).
        """
        if area == REGISTRATIONS:
            return None
        try:
            base = _find_section(self.base, area)
        except KeyError:
            if not area.startswith(DEVICE_PREFIX):
                raise
            base = remote_device(area.removeprefix(DEVICE_PREFIX))
        return merged(base, {**self.overrides(area), **values}, area)

    def device_value(self, name: str, key: str) -> Any:
        """One device setting in force, also for a device of another node: stored, else this file's, else default."""
        stored = self.stored.get(device_area(name), {}).get(key)
        if stored is not None:
            return stored.value
        section = next((device for device in self.live.devices if device.name == name), None)
        return getattr(section if section is not None else remote_device(name), key)

    def device_methods(self, name: str) -> dict[str, bool]:
        """A device's routing method switches (for the routing of faxes it received, on whichever node routes them)."""
        return dict(self.device_value(name, "routing_methods"))

    def apply(self, rows: list[store.StoredSetting], version: int) -> set[str]:
        """Make ``rows`` the stored values in force; returns the areas that changed and tells the listeners."""
        grouped: dict[str, dict[str, store.StoredSetting]] = {}
        for row in rows:
            grouped.setdefault(row.area, {})[row.key] = row
        changed = {area for area in {*grouped, *self.stored}
                   if {k: r.value for k, r in grouped.get(area, {}).items()} != self.overrides(area)}
        self.stored = grouped
        self.version = version
        for area in sorted(changed):
            if area == REGISTRATIONS:
                continue
            try:
                base = _find_section(self.base, area)
                live = _find_section(self.live, area)
                new = merged(base, self.overrides(area), area)
            except KeyError as exc:
                if area.startswith(DEVICE_PREFIX):
                    continue  # a device of another node: device_value() serves what this node needs of it
                self.problems[area] = str(exc)
                log_event(log, logging.WARNING, "config.stored_ignored", area=area, reason=str(exc))
                continue
            except SettingError as exc:
                self.problems[area] = str(exc)
                log_event(log, logging.WARNING, "config.stored_ignored", area=area, reason=str(exc))
                continue
            self.problems.pop(area, None)
            _assign(live, new)
            log_event(log, logging.INFO, "config.applied", area=area, keys=",".join(sorted(self.overrides(area))),
                      version=version)
        if changed:
            for listener in self._listeners:
                try:
                    listener(changed)
                except Exception:
                    log.exception("config.listener_failed")
        return changed

    async def load(self, db: Database) -> set[str]:
        """Read the stored values and apply them if the version moved."""
        async with self._reloading:
            async with db.transaction() as conn:
                version = await store.read_version(conn)
                if version == self.version:
                    return set()
                rows = await store.read_all(conn)
            return self.apply(rows, version)

    async def change(self, db: Database, area: str, values: dict[str, Any], by: str,
                     events: EventBus | None = None) -> None:
        """Validate, store, apply here at once and announce one area's new values."""
        self.check(area, values)
        async with self._reloading:
            async with db.transaction() as conn:
                version = await store.write(conn, area, values, by, time.time())
                rows = await store.read_all(conn)
                await publish_change(events, conn, area, keys=sorted(values), version=version, by=by, node=self.node_id)
            self.apply(rows, version)

    async def reset(self, db: Database, area: str, keys: list[str] | None, by: str,
                    events: EventBus | None = None) -> None:
        """Forget stored values of an area (all with None): the file's values are in force again."""
        async with self._reloading:
            async with db.transaction() as conn:
                version = await store.clear(conn, area, keys, by, time.time())
                rows = await store.read_all(conn)
                await publish_change(events, conn, area, keys=sorted(keys or []), version=version, by=by, reset=True,
                               node=self.node_id)
            self.apply(rows, version)

    # ----------------------------------------------------------------------------------------- watching

    def start(self, db: Database, events: EventBus | None = None) -> None:
        """Poll the version (and reload at once on a CONFIG event), until stop()."""
        self._task = asyncio.create_task(self._watch(db, events), name="config-watch")

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self, db: Database, events: EventBus | None) -> None:
        subscription = events.subscribe(ServerEvents.CONFIG) if events is not None else None
        try:
            while True:
                if subscription is not None:
                    with contextlib.suppress(TimeoutError):
                        await subscription.get(POLL_S)
                else:
                    await asyncio.sleep(POLL_S)
                try:
                    await self.load(db)
                except Exception:
                    log.exception("config.reload_failed")
        finally:
            if subscription is not None:
                subscription.close()

    # ----------------------------------------------------------------------------------------- reporting

    def registrations(self, kind: str) -> dict[str, dict[str, Any]]:
        """Stored registrations of one kind ("routing" or "provider"): name -> {"registered", "target"}."""
        prefix = f"{kind}:"
        return {key.removeprefix(prefix): dict(item.value) for key, item in self.stored.get(REGISTRATIONS, {}).items()
                if key.startswith(prefix)}

    def effective(self) -> list[Effective]:
        """Every value in force, with its source; secrets are shown as "(secret)"."""
        from gateway.config import _secret_name

        areas = {**{".".join(path): area for area, path in SECTION_AREAS.items()},
                 **{f"devices[{device.name}]": device_area(device.name) for device in self.live.devices}}
        found: list[Effective] = []
        for path, value, in_file in _leaves(self.live, self.base, ""):
            source = "file" if in_file and self.from_file else "default"
            prefix, _, rest = path.rpartition(".")
            while prefix and prefix not in areas:
                prefix, _, head = prefix.rpartition(".")
                rest = f"{head}.{rest}"
            area = areas.get(prefix)
            row = self.stored.get(area, {}).get(rest.split(".")[0]) if area and area not in self.problems else None
            if _secret_name(path.rsplit(".", 1)[-1]) and value:
                value = "(secret)"
            if row is not None:
                found.append(Effective(path, value, "store", row.updated_by, row.updated_at))
            else:
                found.append(Effective(path, value, source))
        return found


def _leaves(model: BaseModel, base: BaseModel | None, prefix: str) -> Iterator[tuple[str, Any, bool]]:
    """(path, value as JSON, set in the file) for every leaf; devices by name, other lists as one value."""
    dumped = model.model_dump(mode="json")
    set_here = base.model_fields_set if base is not None else set()
    for name in type(model).model_fields:
        value = getattr(model, name)
        path = f"{prefix}.{name}" if prefix else name
        base_value = getattr(base, name, None) if base is not None else None
        if isinstance(value, BaseModel):
            nested = base_value if isinstance(base_value, BaseModel) else None
            yield from _leaves(value, nested if name in set_here else None, path)
        elif name == "devices" and isinstance(model, FaxgateConfig):
            base_devices = {d.name: d for d in base_value or []} if name in set_here else {}
            for device in value:
                assert isinstance(device, DeviceSection)
                yield from _leaves(device, base_devices.get(device.name), f"devices[{device.name}]")
        else:
            yield path, dumped[name], name in set_here
