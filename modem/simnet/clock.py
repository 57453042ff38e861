"""Virtual time for the simulated network: the line advances only while a host waits on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from modem.spandsp import SAMPLE_RATE

T = TypeVar("T")


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

    async def compute(self, work: Callable[[], T]) -> T:
        """At once: CPU work takes no line time, and the line waits for it."""
        return work()
