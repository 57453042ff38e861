"""The seam between the fax engine and a line: a byte port to a Class 1 modem, and the clock it runs on.

A serial port (pyserial) and the in-process simulated line both implement ``ModemPort``; the T.30
engine never knows which. On the simulated line ``clock`` is virtual: time advances only while the
engine waits in ``read`` or ``clock.sleep``, so a one-minute call runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time in seconds, and a way to wait on it."""

    def now(self) -> float:
        """Seconds since an arbitrary origin."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass on this clock."""
        ...


class RealClock:
    """Wall-clock time for real modems and pty lines."""

    def now(self) -> float:
        """Monotonic wall-clock seconds."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(max(0.0, seconds))


class ModemPort(Protocol):
    """A full-duplex byte stream to a Class 1 modem's DTE side."""

    clock: Clock

    async def write(self, data: bytes) -> None:
        """Queue ``data`` to the modem, waiting while the modem holds flow control."""
        ...

    async def read(self, timeout: float) -> bytes:
        """Return the bytes available (at least one), or b"" once ``timeout`` seconds pass on ``clock``."""
        ...

    def set_xonxoff(self, enabled: bool, bit_rate: int = 0) -> None:
        """Obey XON/XOFF from the modem (only while sending page data: HDLC frames contain 0x11 and 0x13); bit_rate
        is the line rate the modem drains page data at, so a port can tell a slow line from a stuck modem."""
        ...

    async def drain(self) -> None:
        """Wait until everything written has been handed to the modem."""
        ...

    async def close(self) -> None:
        """Release the port (drops DTR where the line has one)."""
        ...
