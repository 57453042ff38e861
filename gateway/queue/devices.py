"""The queue's view of the lines: each call runs under a watchdog that restarts a wedged device.

A line's state (ready, sending, retrying ...) is kept, stored and published by gateway/lifecycle.py; here a
device is free when its line says it is usable and no call of ours runs on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gateway.enums import ExtendedStatus
from gateway.logs import log_event, logger
from gateway.queue.clock import WallClock
from modem.device import FaxDevice, SendJob
from modem.result import CallResult
from modem.t30.common import StatusCallback

log = logger("outbound")


def _always() -> bool:
    return True


def _never() -> bool:
    return False


def _long_ago() -> float:
    return 0.0


@dataclass
class DeviceSlot:
    """One device of this node as the scheduler sees it."""

    name: str
    device: FaxDevice
    tsid: str = ""
    send_enabled: bool = True
    usable: Callable[[], bool] = field(default=_always)
    """The line's lifecycle says it can take a call (gateway.lifecycle.DeviceLine.usable)."""
    ringing: Callable[[], bool] = field(default=_never)
    """An incoming call rings on the line or is being taken: it goes first, so no send is given to the line."""
    answers_calls: bool = False
    """The line's receive mode answers calls: it gets the manager's receive window after each call."""
    call_ended_at: Callable[[], float] = field(default=_long_ago)
    """When the line's last call ended (gateway.lifecycle.DeviceLine.call_ended_at)."""
    busy: bool = False
    offline_until: float = 0.0
    """While the clock is before this, the device is resting after a wedged call was cut."""


WEDGED_GRACE_S = 120.0
"""A call still running this long after its expected end counts as a wedged device."""
RESTART_REST_S = 5.0
LINE_WAIT_S = 900.0
"""How long a send may wait for the line (an incoming fax on the same device) before the watchdog counts."""
RING_LOOK_AGAIN_S = 2.0
"""A line held by a ringing call is looked at again this often (the call may stop ringing unanswered)."""
HEARTBEAT_S = 5.0
"""How often a running call renews its claim and looks for a cancel."""


class DeviceManager:
    """Runs calls on devices with a watchdog and restarts a wedged device."""

    def __init__(self, slots: list[DeviceSlot], *, clock: WallClock) -> None:
        self.slots = {slot.name: slot for slot in slots}
        self.order = [slot.name for slot in slots]
        self.clock = clock
        self._sends: dict[str, asyncio.Future[CallResult]] = {}
        self.receive_window = 0.0
        """Seconds after a call during which a line that answers calls is left to callers ([outbound])."""

    def idle(self) -> list[str]:
        """Devices free to place a call now, in configured order."""
        now = self.clock.now()
        return [name for name in self.order
                if (slot := self.slots[name]).send_enabled and not slot.busy and slot.offline_until <= now
                and slot.usable() and not slot.ringing() and self._open_to_callers_until(slot) <= now]

    def next_available(self) -> float | None:
        """When a resting device comes back, or when to look again at a line held by a ringing call."""
        now = self.clock.now()
        resting = [slot.offline_until for slot in self.slots.values() if slot.offline_until > now]
        if any(slot.ringing() for slot in self.slots.values() if not slot.busy):
            resting.append(now + RING_LOOK_AGAIN_S)  # a call may ring out without a state change to wake us
        resting += [until for slot in self.slots.values() if (until := self._open_to_callers_until(slot)) > now]
        return min(resting) if resting else None

    def _open_to_callers_until(self, slot: DeviceSlot) -> float:
        """Until when the line is left to callers after its last call (0 when it takes no calls or no window)."""
        if not slot.answers_calls or self.receive_window <= 0:
            return 0.0
        return slot.call_ended_at() + self.receive_window

    async def call(
        self, name: str, job: SendJob, on_status: StatusCallback, expected_s: float,
        heartbeat: Callable[[], Awaitable[None]] | None = None,
    ) -> CallResult:
        """Run one call on a device; a call that outlives ``expected_s`` plus a grace is aborted and restarts it."""
        slot = self.slots[name]
        slot.busy = True
        began: list[float] = []

        def status(state: ExtendedStatus, page: int) -> None:
            if not began:
                began.append(self.clock.now())
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
        return CallResult(ExtendedStatus.LINE_UNAVAILABLE, reason=text)

