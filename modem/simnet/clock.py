"""Virtual time for the simulated network: the line advances only while a host waits on it."""

from __future__ import annotations

from typing import Protocol

from modem.spandsp import SAMPLE_RATE


class _Advancer(Protocol):
    samples: int

    async def run_for(self, seconds: float) -> None: ...


class VirtualClock:
    """The network's sample counter as seconds (implements ``modem.port.Clock``)."""

    def __init__(self, network: _Advancer) -> None:
        self._network = network

    def now(self) -> float:
        """Seconds of line time since the network was created."""
        return self._network.samples / SAMPLE_RATE

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of line time pass (runs 20 ms ticks on virtual time)."""
        await self._network.run_for(seconds)
