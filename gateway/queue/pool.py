"""The device pool service: one provider device per configured modem, simulated lines included.

Simulated devices are soft-modems on one in-process SimNetwork paced at real time (the demo remote fax
machines of modem/simnet/README.md answer on their numbers); class1 devices open their serial port.
The queue sends with these devices; inbound routing can receive with the same objects (``devices``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from gateway.config import FaxgateConfig
from gateway.config.devices import DeviceSection
from gateway.logs import log_event, logger
from modem.port import ModemPort
from modem.probe import PROFILES
from modem.provider import DeviceConfig, FaxDevice, IncomingCall, SendJob
from modem.result import CallResult
from modem.serialport import SerialModemPort
from modem.simnet.layout import Layout, default_layout, load_layout
from modem.simnet.network import SimNetwork
from modem.simnet.realtime import RealTimeRunner
from modem.t30.common import StatusCallback
from modem.t30.receiver import TsidScreen

log = logger("init")


class SharedLine:
    """One device shared by the queue (send) and inbound routing (wait for a ring, answer, reject).

    A send interrupts waiting for a ring and then has the line to itself; a call being answered finishes
    before a send starts. Waiting interrupted this way ends as TimeoutError, which inbound treats as "no call".
    """

    def __init__(self, device: FaxDevice) -> None:
        self.device = device
        self._line = asyncio.Lock()
        self._waiting: asyncio.Future[IncomingCall] | None = None

    async def send(self, job: SendJob, on_status: StatusCallback) -> CallResult:
        """Take the line (interrupting a wait for a ring) and send."""
        if self._waiting is not None:
            self._waiting.cancel()
        async with self._line:
            return await self.device.send(job, on_status)

    async def wait_for_call(self, timeout: float | None = None) -> IncomingCall:
        """Wait for a ring unless a send needs the line."""
        async with self._line:
            self._waiting = asyncio.ensure_future(self.device.wait_for_call(timeout))
            try:
                return await self._waiting
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                raise TimeoutError("an outgoing call took the line") from None
            finally:
                self._waiting = None

    async def answer(
        self,
        call: IncomingCall,
        out_dir: str | Path,
        csid: str = "",
        *,
        screen_tsid: TsidScreen | None = None,
        max_pages: int | None = None,
    ) -> CallResult:
        """Answer and receive with the line held; screening and the page limit act inside the call."""
        async with self._line:
            return await self.device.answer(call, out_dir, csid, screen_tsid=screen_tsid, max_pages=max_pages)

    async def reject(self, call: IncomingCall) -> None:
        """Let a call ring out."""
        await self.device.reject(call)

    async def finish_after_page(self) -> None:
        """End the call being sent after its page in flight."""
        await self.device.finish_after_page()

    async def abort(self) -> None:
        """Drop whatever runs."""
        await self.device.abort()

    async def close(self) -> None:
        """Release the port."""
        await self.device.close()


class DevicePool:
    """Builds and owns the devices of this node."""

    name = "devices"

    def __init__(self, config: FaxgateConfig) -> None:
        self.config = config
        self.devices: dict[str, SharedLine] = {}
        self.sections: dict[str, DeviceSection] = {device.name: device for device in config.devices}
        self.network: SimNetwork | None = None
        self.layout: Layout | None = None
        self._runner: RealTimeRunner | None = None
        self._pacer: asyncio.Task[None] | None = None
        self._build()

    async def start(self) -> None:
        """Start pacing the simulated line (devices open their ports on first use)."""
        if self.network is not None and self.layout is not None:
            self._runner = RealTimeRunner(self.network, {}, speed=self.layout.speed)
            self._pacer = asyncio.create_task(self._runner.run(), name="simnet-pacer")
        log_event(log, logging.INFO, "devices.ready", devices=",".join(self.devices) or "none")

    def _build(self) -> None:
        """Create every device now, so services built before start can hold the same objects."""
        simulated = [device for device in self.config.devices if device.provider == "simulated"]
        if simulated and self.config.simulation.enabled:
            self.network, self.layout = self._simulated_network(simulated)
        for section in self.config.devices:
            if section.provider == "simulated" and self.network is None:
                log_event(log, logging.WARNING, "device.skipped", device=section.name,
                          reason="simulation is disabled")
                continue
            self.devices[section.name] = SharedLine(FaxDevice(self._device_config(section), self._opener(section)))

    def _simulated_network(self, sections: list[DeviceSection]) -> tuple[SimNetwork, Layout]:
        layout = load_layout(self.config.simulation.layout) if self.config.simulation.layout else default_layout()
        layout.modems = []  # faxgate's own devices come from [[devices]], not from the layout
        network = layout.build(self.config.server.data_dir / "simnet")
        for section in sections:
            network.add_modem(section.name, section.number or None)
        return network, layout

    def _device_config(self, section: DeviceSection) -> DeviceConfig:
        return DeviceConfig(name=section.name, profile=PROFILES[section.profile], csid=section.csid,
                            rings_to_answer=section.rings_before_answer, max_bit_rate=section.max_bit_rate,
                            ecm=section.ecm)

    def _opener(self, section: DeviceSection) -> Callable[[], Awaitable[ModemPort]]:
        if section.provider == "simulated":
            network = self.network
            assert network is not None

            async def open_simulated() -> ModemPort:
                return cast(ModemPort, network.port(section.name))

            return open_simulated

        async def open_serial() -> ModemPort:
            return await SerialModemPort.open(Path(section.port))

        return open_serial

    async def stop(self) -> None:
        """Close every device, then stop the simulated line."""
        for device in self.devices.values():
            with contextlib.suppress(Exception):
                await device.close()
        if self._runner is not None:
            self._runner.stop()
        if self._pacer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pacer
        if self.network is not None:
            self.network.close()

