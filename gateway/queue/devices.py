"""The device pool: each sending device runs under a manager that restarts it when wedged and reports its status."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import update

from gateway.enums import EventId, ExtendedStatus, ServerEvents
from gateway.events import EventBus
from gateway.logs import log_event, logger
from gateway.queue.clock import WallClock
from gateway.storage import Database
from gateway.storage.schema import devices as devices_table
from modem.provider import SendJob
from modem.result import CallResult
from modem.t30.common import StatusCallback

log = logger("outbound")

# FPS_* device status values (windows-fax-model.md §3).
DEVICE_AVAILABLE = 0x20100000
DEVICE_DIALING = 0x20000001
DEVICE_SENDING = 0x20000002
DEVICE_OFFLINE = 0x20010000
DEVICE_INITIALIZING = 0x20008000


class SendingDevice(Protocol):
    """What the queue needs of a device provider (``modem.provider.FaxDevice`` is one)."""

    async def send(self, job: SendJob, on_status: StatusCallback) -> CallResult:
        """Make one call, sending pages as ``job.plan`` chooses and telling it each confirmed page; report the end."""
        ...

    async def finish_after_page(self) -> None:
        """End the call in progress once its page in flight is confirmed."""
        ...

    async def abort(self) -> None:
        """Drop the call in progress."""
        ...

    async def close(self) -> None:
        """Release the port; the next call opens it afresh."""
        ...


@dataclass
class DeviceSlot:
    """One device of this node as the scheduler sees it."""

    name: str
    device: SendingDevice
    provider: str = "class1"
    tsid: str = ""
    send_enabled: bool = True
    busy: bool = False
    offline_until: float = 0.0
    """While the clock is before this, the device is resting after a restart."""
    failures: int = 0


WEDGED_GRACE_S = 120.0
"""A call still running this long after its expected end counts as a wedged device."""
RESTART_REST_S = 5.0
LINE_WAIT_S = 900.0
"""How long a send may wait for the line (an incoming fax on the same device) before the watchdog counts."""
HEARTBEAT_S = 5.0
"""How often a running call renews its claim and looks for a cancel."""


class DeviceManager:
    """Runs calls on devices with a watchdog, restarts a wedged device, publishes DEVICE_STATUS events."""

    def __init__(
        self, slots: list[DeviceSlot], *, clock: WallClock, events: EventBus, db: Database, node_id: str
    ) -> None:
        self.slots = {slot.name: slot for slot in slots}
        self.order = [slot.name for slot in slots]
        self.clock = clock
        self.events = events
        self.db = db
        self.node_id = node_id
        self._sends: dict[str, asyncio.Future[CallResult]] = {}

    def idle(self) -> list[str]:
        """Devices free to place a call now, in configured order."""
        now = self.clock.now()
        return [name for name in self.order
                if (slot := self.slots[name]).send_enabled and not slot.busy and slot.offline_until <= now]

    def next_available(self) -> float | None:
        """When a resting device comes back."""
        resting = [slot.offline_until for slot in self.slots.values() if slot.offline_until > self.clock.now()]
        return min(resting) if resting else None

    async def register(self) -> None:
        """Record this node's devices in the shared device table."""
        from sqlalchemy import delete, insert

        async with self.db.transaction() as conn:
            await conn.execute(delete(devices_table).where(devices_table.c.name.in_(self.order)))
            for slot in self.slots.values():
                await conn.execute(insert(devices_table).values(
                    name=slot.name, node_id=self.node_id, provider=slot.provider, status=DEVICE_AVAILABLE,
                    status_text="available", updated_at=self.clock.now()))
        for name in self.order:
            self._publish(name, DEVICE_AVAILABLE, "available", EventId.IDLE)

    async def _store_status(self, name: str, status: int, text: str) -> None:
        try:
            async with self.db.transaction() as conn:
                await conn.execute(update(devices_table).where(devices_table.c.name == name)
                                   .values(status=status, status_text=text, updated_at=self.clock.now()))
        except Exception:  # a status row is informational; never let it fail a call
            log.exception("device.status_store_failed")

    def _publish(self, name: str, status: int, text: str, event: EventId) -> None:
        self.events.publish(ServerEvents.DEVICE_STATUS, "device.status", device=name, status=status, text=text,
                            event=int(event), node=self.node_id)

    async def call(
        self, name: str, job: SendJob, on_status: StatusCallback, expected_s: float,
        heartbeat: Callable[[], Awaitable[None]] | None = None,
    ) -> CallResult:
        """Run one call on a device; a call that outlives ``expected_s`` plus a grace is aborted and restarts it."""
        slot = self.slots[name]
        slot.busy = True
        await self._store_status(name, DEVICE_DIALING, "dialing")
        self._publish(name, DEVICE_DIALING, "dialing", EventId.DIALING)

        began: list[float] = []

        def status(state: ExtendedStatus, page: int) -> None:
            if not began:
                began.append(self.clock.now())
            if state == ExtendedStatus.TRANSMITTING and page == 1:
                self._publish(name, DEVICE_SENDING, "sending", EventId.SENDING)
            on_status(state, page)

        call = self._sends[name] = asyncio.ensure_future(slot.device.send(job, status))
        limit = expected_s + WEDGED_GRACE_S
        queued = self.clock.now()
        try:
            while not call.done():
                waiter = asyncio.ensure_future(self.clock.sleep(min(HEARTBEAT_S, limit)))
                await asyncio.wait({call, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if call.done():
                    break
                if heartbeat is not None:
                    await heartbeat()
                # The call's time counts from its first progress report: a line busy receiving a fax is not wedged.
                started = began[0] if began else queued + LINE_WAIT_S
                if self.clock.now() - started > limit:
                    return await self._restart_wedged(slot, call)
            result = call.result()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            result = CallResult(ExtendedStatus.CALL_ABORTED, reason="the call was dropped on request")
        except Exception as exc:  # a provider bug must not take the queue down: treat as a lost line
            log.exception("device.call_crashed", extra={"fields": {"device": name}})
            result = CallResult(ExtendedStatus.LINE_UNAVAILABLE, reason=f"the device failed: {type(exc).__name__}")
        finally:
            slot.busy = False
            self._sends.pop(name, None)
        if result.status in (ExtendedStatus.LINE_UNAVAILABLE, ExtendedStatus.NO_DIAL_TONE):
            slot.failures += 1
            slot.offline_until = self.clock.now() + RESTART_REST_S * min(slot.failures, 12)
            await self._store_status(name, DEVICE_OFFLINE, result.reason)
            self._publish(name, DEVICE_OFFLINE, result.reason, EventId.LINE_UNAVAILABLE)
        else:
            slot.failures = 0
            await self._store_status(name, DEVICE_AVAILABLE, "available")
            self._publish(name, DEVICE_AVAILABLE, "available", EventId.IDLE)
        return result

    async def abort(self, name: str) -> None:
        """Drop the device's call now, also one still waiting for its line; the call returns CALL_ABORTED."""
        await self.slots[name].device.abort()
        send = self._sends.get(name)
        if send is not None and not send.done():
            send.cancel()

    async def _restart_wedged(self, slot: DeviceSlot, call: asyncio.Future[CallResult]) -> CallResult:
        """Abort the stuck call, close the port (the provider reopens and re-initialises it) and rest a little."""
        log_event(log, logging.WARNING, "device.wedged", device=slot.name)
        await slot.device.abort()
        call.cancel()
        with contextlib.suppress(BaseException):  # the stuck call's own outcome no longer matters
            await call
        await slot.device.close()
        slot.offline_until = self.clock.now() + RESTART_REST_S
        slot.busy = False
        text = "the device stopped responding and was restarted"
        await self._store_status(slot.name, DEVICE_INITIALIZING, text)
        self._publish(slot.name, DEVICE_INITIALIZING, text, EventId.INITIALIZING)
        return CallResult(ExtendedStatus.LINE_UNAVAILABLE, reason=text)

    async def close(self) -> None:
        """Release every device."""
        for slot in self.slots.values():
            try:
                await slot.device.close()
            except Exception:
                log.exception("device.close_failed")
