"""The device lifecycle: every line is in one stored, published state, shared by sending and receiving.

Modelled on Home Assistant's config entries: a line starts (INITIALIZING), becomes READY, is SENDING, RINGING or
RECEIVING while busy, and goes to RETRYING with the reason when its port vanishes or its modem stops answering
(ConfigEntryNotReady): it is started again with backoff and returns to READY without a restart. A provider that
fails to load, or raises on start with anything but "not ready", leaves the line NOT_READY with the reason.
Each change is written to the device table (every node and the CLI read it) and published as a DEVICE_STATUS
event with its FEI_* id. ``DeviceLine`` is itself a ``FaxDevice``: the queue and inbound routing both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.context import ServiceContext
from gateway.enums import DeviceState, EventId, ExtendedStatus, ServerEvents
from gateway.logs import log_event, logger
from gateway.storage import devices as store
from gateway.storage.events import fei_payload
from gateway.textsafe import safe_text
from modem.at import ModemError
from modem.device import DeviceNotReady, DeviceReport, FaxDevice, IncomingCall, SendJob
from modem.result import CallResult
from modem.t30.common import StatusCallback
from modem.t30.receiver import TsidScreen

log = logger("init")
RETRY_FIRST_S = 2.0
"""The first restart of a lost line waits this long; each failure in a row doubles it, up to RETRY_MAX_S."""
RETRY_MAX_S = 15.0
AVAILABLE = "available"
USABLE = (DeviceState.READY, DeviceState.SENDING, DeviceState.RINGING, DeviceState.RECEIVING)
RING_CHECK_S = 0.5
"""How often a send waiting behind a ringing call looks again."""
PAGE_EVENTS = (DeviceState.RECEIVING,)
"""States whose FEI_ event the call sends itself, once per page (FEI_RECEIVING: routing.answer), not on entry."""


def backoff(failures: int) -> float:
    """Seconds before the next start after ``failures`` failed starts in a row."""
    return min(RETRY_FIRST_S * 2.0 ** max(failures - 1, 0), RETRY_MAX_S)


class DeviceLine:
    """One configured line: its provider's device, its lifecycle state, and the lock both directions share.

    A send interrupts waiting for a ring and then has the line to itself; a call being answered finishes
    before a send starts. Waiting interrupted this way, or ended by a lost port, ends as TimeoutError,
    which inbound treats as "no call" (it then waits until the line is usable again).
    """

    def __init__(self, name: str, provider: str, context: ServiceContext,
                 make_device: Callable[[], FaxDevice], *, enabled: bool = True) -> None:
        self.name = name
        self.provider = provider
        self.context = context
        self.enabled = enabled
        self.device: FaxDevice | None = None
        self._make_device = make_device
        self.state = DeviceState.INITIALIZING
        self.reason = ""
        self.retry_at: float | None = None
        self.failures = 0
        self.listeners: list[Callable[[DeviceLine], None]] = []
        """Called after every state change (the scheduler wakes when a line becomes ready)."""
        self._usable = asyncio.Event()
        self._lost = asyncio.Event()
        self._line = asyncio.Lock()
        self._waiting: asyncio.Future[IncomingCall] | None = None
        self.call_ended_at = 0.0
        """When the line's last call (either direction) ended, on the context clock."""
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------- lifecycle

    @property
    def usable(self) -> bool:
        """True while the line can take a call (ready, or busy with one)."""
        return self.state in USABLE

    async def start(self) -> None:
        """Record the line and start bringing it up in the background (never raises for a bad line)."""
        if not self.enabled:
            await self._set(DeviceState.DISABLED, "disabled in the configuration")
            return
        await self._set(DeviceState.INITIALIZING, "starting")
        self._task = asyncio.create_task(self._supervise(), name=f"line-{self.name}")

    async def _supervise(self) -> None:
        """Start the device; retry with backoff while it is not ready; after a loss, start it again."""
        while True:
            if not await self._start_device():
                if self.state is DeviceState.NOT_READY:
                    return
                await self.context.clock.sleep(backoff(self.failures))
                continue
            self._lost.clear()
            await self._lost.wait()
            await self.context.clock.sleep(backoff(self.failures))

    async def _start_device(self) -> bool:
        """One start: True when ready; False with the state RETRYING (port/modem) or NOT_READY (anything else)."""
        try:
            if self.device is None:
                self.device = self._make_device()
            async with self._line:
                await self.device.start()
        except (DeviceNotReady, ModemError, OSError) as exc:
            await self._retry(str(exc) or type(exc).__name__)
            return False
        except Exception as exc:
            log.exception("device.start_failed", extra={"fields": {"device": self.name, "provider": self.provider}})
            await self._set(DeviceState.NOT_READY, f"{type(exc).__name__}: {exc}")
            return False
        self.failures = 0
        await self._set(DeviceState.READY, AVAILABLE)
        return True

    async def _retry(self, reason: str) -> None:
        """The port or modem failed: RETRYING with the reason, started again after the backoff."""
        self.failures += 1
        self.retry_at = self.context.clock.now() + backoff(self.failures)
        log_event(log, logging.WARNING, "device.retrying", device=self.name, reason=reason, failures=self.failures,
                  retry_in_s=backoff(self.failures))
        await self._set(DeviceState.RETRYING, reason)

    async def _lose(self, reason: str) -> None:
        """A call or a wait found the port gone: retry, and wake the supervisor to start the device again."""
        await self._retry(reason)
        self._lost.set()

    async def _set(self, state: DeviceState, reason: str) -> None:
        """Change state: store it (never failing the caller), publish it, tell listeners."""
        powered_on = state in USABLE and self.state not in USABLE
        self.state, self.reason = state, safe_text(reason, 300)
        if state is not DeviceState.RETRYING:
            self.retry_at = None
        if state in USABLE:
            self._usable.set()
        else:
            self._usable.clear()
        try:
            async with self.context.db.transaction() as conn:
                await store.record_state(conn, name=self.name, node_id=self.context.node_id, provider=self.provider,
                                         state=state, reason=self.reason, now=self.context.clock.now(),
                                         retry_at=self.retry_at, failures=self.failures)
                await self._record(conn, state, powered_on)
        except Exception:  # a status row is informational; never let it fail a call
            log.exception("device.status_store_failed", extra={"fields": {"device": self.name}})
        for listener in self.listeners:
            listener(self)

    async def _record(self, conn: AsyncConnection, state: DeviceState, powered_on: bool) -> None:
        """OnDeviceStatusChange (powered off, sending, receiving, ringing) and the state's FEI_ event (after
        FEI_MODEM_POWERED_ON when the line just became usable), stored with the state."""
        events, device_id = self.context.events, self.context.config.device_ids().get(self.name, 0)
        await events.record(
            conn, ServerEvents.DEVICE_STATUS, "device.status", device_id=device_id, device=self.name,
            powered_off=state not in USABLE, sending=state is DeviceState.SENDING,
            receiving=state is DeviceState.RECEIVING, ringing=state is DeviceState.RINGING, state=state.value,
            status=int(state.fps), text=self.reason, event=int(state.event), retry_at=self.retry_at,
            node=self.context.node_id)
        if powered_on:
            await events.record(conn, ServerEvents.DEVICE_STATUS, "fei", **fei_payload(
                EventId.MODEM_POWERED_ON, device_id=device_id, device=self.name, state=state.value))
        if state not in PAGE_EVENTS:
            await events.record(conn, ServerEvents.DEVICE_STATUS, "fei",
                                **fei_payload(state.event, device_id=device_id, device=self.name, state=state.value))

    async def _after_call(self) -> None:
        """Back to READY, or RETRYING when the device reports a port or modem fault."""
        self.call_ended_at = self.context.clock.now()
        fault = self.device.report().fault if self.device is not None else ""
        if fault:
            await self._lose(fault)
        elif self.state in USABLE:
            await self._set(DeviceState.READY, AVAILABLE)

    def _unavailable(self) -> CallResult:
        return CallResult(ExtendedStatus.LINE_UNAVAILABLE,
                          reason=f"the line {self.name} is {self.state.value.replace('_', ' ')}: {self.reason}")

    # ------------------------------------------------------------------------------- FaxDevice

    @property
    def ringing(self) -> bool:
        """A call rings on the line, or has rung and is being screened or answered: it has the line before a send."""
        return self.state in (DeviceState.RINGING, DeviceState.RECEIVING) or self.report().ringing

    async def send(self, job: SendJob, on_status: StatusCallback) -> CallResult:
        """Take the line (interrupting a wait with no ring yet) and send; LINE_UNAVAILABLE while it is not usable.

        A call that already rings goes first, as HylaFAX's faxgetty keeps a ringing modem: dialling out over it
        would answer it as glare and ruin both calls."""
        while self.ringing:
            await self.context.clock.sleep(RING_CHECK_S)
        if self._waiting is not None:
            self._waiting.cancel()
        async with self._line:
            if not self.usable or self.device is None:
                return self._unavailable()
            await self._set(DeviceState.SENDING, "sending")
            try:
                return await self.device.send(job, on_status)
            finally:
                await self._after_call()

    async def wait_for_call(self, timeout: float | None = None) -> IncomingCall:
        """Wait until the line is usable, then for a ring; TimeoutError for "no call" (also when the port is lost)."""
        await asyncio.wait_for(self._usable.wait(), timeout)
        async with self._line:
            if not self.usable or self.device is None:
                raise TimeoutError("the line is not ready")
            if self.state is not DeviceState.READY:
                await self._set(DeviceState.READY, AVAILABLE)  # a ring left unanswered by a failed handler
            self._waiting = asyncio.ensure_future(self.device.wait_for_call(timeout))
            try:
                call = await self._waiting
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                raise TimeoutError("an outgoing call took the line") from None
            except (ModemError, OSError) as exc:
                await self._lose(self.device.report().fault or str(exc) or type(exc).__name__)
                raise TimeoutError("the line was lost") from exc
            finally:
                self._waiting = None
            await self._set(DeviceState.RINGING, f"call from {safe_text(call.caller_id, 40) or 'an unknown number'}")
            return call

    async def answer(
        self,
        call: IncomingCall,
        out_dir: str | Path,
        csid: str = "",
        *,
        screen_tsid: TsidScreen | None = None,
        max_pages: int | None = None,
        on_status: StatusCallback | None = None,
    ) -> CallResult:
        """Answer and receive with the line held; screening and the page limit act inside the call."""
        async with self._line:
            if not self.usable or self.device is None:
                return self._unavailable()
            await self._set(DeviceState.RECEIVING, "receiving")
            try:
                return await self.device.answer(call, out_dir, csid, screen_tsid=screen_tsid, max_pages=max_pages,
                                                on_status=on_status)
            finally:
                await self._after_call()

    async def reject(self, call: IncomingCall) -> None:
        """Let a call ring out; the line is idle again."""
        if self.device is not None:
            await self.device.reject(call)
        await self._after_call()

    def report(self) -> DeviceReport:
        """The device's own report (an empty one before it exists)."""
        return self.device.report() if self.device is not None else DeviceReport(fault=self.reason)

    async def finish_after_page(self) -> None:
        """End the call being sent after its page in flight."""
        if self.device is not None:
            await self.device.finish_after_page()

    async def abort(self) -> None:
        """Drop whatever runs."""
        if self.device is not None:
            await self.device.abort()

    async def close(self) -> None:
        """Release the port; the next call opens it afresh."""
        if self.device is not None:
            await self.device.close()

    async def stop(self) -> None:
        """Stop supervising, release the port, and record that no server runs the line now."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.close()
        except Exception:
            log.exception("device.close_failed", extra={"fields": {"device": self.name}})
        if self.enabled:
            await self._set(DeviceState.NOT_READY, "the server is stopped")
