"""The device pool service: one line per configured device, each made by its named device provider.

Providers are looked up by name (built-ins and ``faxgate.device_providers`` entry points, modem.providers);
each line brings its device up under the lifecycle (gateway/lifecycle.py), so a provider that fails leaves
its line "not ready" and the others work. Simulated devices are soft-modems on one in-process SimNetwork
paced at real time (the demo remote fax machines of modem/simnet/README.md answer on their numbers).
The queue sends with these lines; inbound routing receives with the same objects (``devices``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import cast

from gateway.config.devices import DeviceSection
from gateway.context import ServiceContext
from gateway.lifecycle import DeviceLine
from gateway.logs import log_event, logger
from modem.device import DeviceSpec, FaxDevice, PortOpener
from modem.port import ModemPort
from modem.providers import ProviderRegistry, discover_device_providers
from modem.simnet.layout import Layout, default_layout, load_layout
from modem.simnet.network import SimNetwork
from modem.simnet.realtime import RealTimeRunner

log = logger("init")


class DevicePool:
    """Builds and owns the devices of this node."""

    name = "devices"

    def __init__(self, context: ServiceContext, providers: ProviderRegistry | None = None) -> None:
        self.context = context
        self.config = context.config
        self.providers = providers
        self.devices: dict[str, DeviceLine] = {}
        self.sections: dict[str, DeviceSection] = {device.name: device for device in self.config.devices}
        self.network: SimNetwork | None = None
        self.layout: Layout | None = None
        self._runner: RealTimeRunner | None = None
        self._pacer: asyncio.Task[None] | None = None
        self._build()

    async def start(self) -> None:
        """Start pacing the simulated line, then bring every line up in the background (none can fail this)."""
        if self.network is not None and self.layout is not None:
            self._runner = RealTimeRunner(self.network, {}, speed=self.layout.speed)
            self._pacer = asyncio.create_task(self._runner.run(), name="simnet-pacer")
        for line in self.devices.values():
            await line.start()
        log_event(log, logging.INFO, "devices.started", devices=",".join(self.devices) or "none")

    def reconfigure(self, areas: set[str]) -> None:
        """A device's rings or CSID changed at runtime: the running device takes them for its next call."""
        for name, line in self.devices.items():
            section = self.sections[name]
            if f"device:{name}" not in areas or line.device is None:
                continue
            config = getattr(line.device, "config", None)
            if config is not None and hasattr(config, "rings_to_answer"):
                config.rings_to_answer = section.rings_before_answer
                config.csid = section.csid

    def _build(self) -> None:
        """Create every line now, so services built before start can hold the same objects."""
        if self.providers is None:
            self.providers = discover_device_providers()
            for name, error in self.providers.failures.items():
                log_event(log, logging.ERROR, "device_provider.failed", provider=name, error=error)
        simulated = [device for device in self.config.devices if device.provider == "simulated"]
        if simulated and self.config.simulation.enabled:
            self.network, self.layout = self._simulated_network(simulated)
        for section in self.config.devices:
            if section.provider == "simulated" and self.network is None:
                log_event(log, logging.WARNING, "device.skipped", device=section.name,
                          reason="simulation is disabled")
                continue
            self.devices[section.name] = DeviceLine(section.name, section.provider, self.context,
                                                    self._maker(section), enabled=section.enabled)

    def _simulated_network(self, sections: list[DeviceSection]) -> tuple[SimNetwork, Layout]:
        layout = load_layout(self.config.simulation.layout) if self.config.simulation.layout else default_layout()
        layout.modems = []  # faxgate's own devices come from [[devices]], not from the layout
        network = layout.build(self.config.server.data_dir / "simnet")
        for section in sections:
            network.add_modem(section.name, section.number or None)
        return network, layout

    def _maker(self, section: DeviceSection) -> Callable[[], FaxDevice]:
        """How the line gets its device: the named provider's ``create`` (a failure there is the line's reason)."""
        providers = self.providers
        opener = self._simulated_opener(section)
        assert providers is not None

        def make() -> FaxDevice:
            spec = DeviceSpec(name=section.name, port=section.port, profile=section.profile, csid=section.csid,
                              rings_to_answer=section.rings_before_answer, max_bit_rate=section.max_bit_rate,
                              ecm=section.ecm, open_port=opener)  # read when made: runtime changes included
            return providers.get(section.provider).create(spec)

        return make

    def _simulated_opener(self, section: DeviceSection) -> PortOpener | None:
        """Simulated lines are ports of this process's network; other providers open their own."""
        network = self.network
        if section.provider != "simulated" or network is None:
            return None

        async def open_simulated() -> ModemPort:
            return cast(ModemPort, network.port(section.name))

        return open_simulated

    async def stop(self) -> None:
        """Stop every line (recorded as stopped), then stop the simulated line."""
        for line in self.devices.values():
            with contextlib.suppress(Exception):
                await line.stop()
        if self._runner is not None:
            self._runner.stop()
        if self._pacer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._pacer
        if self.network is not None:
            self.network.close()

