"""``ModemPort`` onto a simulated soft-modem, in-process: the T.30 engine's view of a simulated line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modem.port import Clock
from modem.simnet.endpoints import ModemEndpoint

if TYPE_CHECKING:
    from modem.simnet.network import SimNetwork


class SimModemPort:
    """The DTE side of one simulated modem (implements ``modem.port.ModemPort``)."""

    def __init__(self, network: SimNetwork, endpoint: ModemEndpoint) -> None:
        self.network = network
        self.endpoint = endpoint
        self.clock: Clock = network.clock
        self.xonxoff = False
        self.closed = False

    @property
    def name(self) -> str:
        """The modem's name on the network."""
        return self.endpoint.name

    async def write(self, data: bytes) -> None:
        """Queue ``data`` to the modem; returns once t31 took it all (time passes while it holds CTS)."""
        endpoint = self.endpoint
        endpoint.dte_input += data
        endpoint.feed()
        self.network.process_controls()
        await self.network.run_until(lambda: not endpoint.dte_input, None)

    async def read(self, timeout: float) -> bytes:
        """Bytes the modem sent, or b"" after ``timeout`` seconds of line time."""
        endpoint = self.endpoint
        if await self.network.run_until(endpoint.has_output, timeout):
            return endpoint.take_output()
        return b""

    def set_xonxoff(self, enabled: bool, bit_rate: int = 0) -> None:
        """Accepted and ignored: in-process, flow control is the CTS callback (and time is the network's)."""
        self.xonxoff = enabled

    async def drain(self) -> None:
        """Wait until t31 has taken everything written."""
        endpoint = self.endpoint
        await self.network.run_until(lambda: not endpoint.dte_input, None)

    async def close(self) -> None:
        """Drop DTR: hang up any call (the modem keeps its settings for the next open)."""
        if not self.closed:
            self.closed = True
            self.network.hang_up(self.endpoint)
            self.network.process_controls()
