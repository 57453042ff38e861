"""The seam between the fax engine and a line: a byte port to a Class 1 modem, and the clock it runs on.

A serial port (pyserial) and the in-process simulated line both implement ``ModemPort``; the T.30
engine never knows which. On the simulated line ``clock`` is virtual: time advances only while the
engine waits in ``read`` or ``clock.sleep``, so a one-minute call runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """Monotonic time in seconds, and a way to wait on it."""

    def now(self) -> float:
        """Seconds since an arbitrary origin."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass on this clock."""
        ...

    async def compute(self, work: Callable[[], T]) -> T:
        """Do CPU-heavy work (decoding a page): off the event loop on real time, so every line keeps its timing;
        at once on virtual time, where it takes no line time."""
        ...


class RealClock:
    """Wall-clock time for real modems and pty lines."""

    def now(self) -> float:
        """Monotonic wall-clock seconds."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop."""
        await asyncio.sleep(max(0.0, seconds))

    async def compute(self, work: Callable[[], T]) -> T:
        """In a thread."""
        return await asyncio.to_thread(work)


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
