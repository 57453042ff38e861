"""A ModemPort on a serial device or pty: raw mode, XON/XOFF only on request, UUCP lock files.

It uses termios and the event loop directly (no modem-status ioctls: ptys answer ENOTTY to them, and
CLOCAL makes a real port ignore carrier detect). Closing drops DTR on real ports (HUPCL). A lock file
``LCK..<name>`` in the UUCP lock directory (HDB format: the PID as ten characters and a newline) lets
other programs such as efax, cu or a getty share the line; stale locks of dead processes are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import termios
import tty
from pathlib import Path

from modem.port import Clock, RealClock

DEFAULT_LOCK_DIR = Path("/var/lock")
WRITE_STALL_S = 30.0
"""Outside page data (AT commands and HDLC frames, a few bytes each), a write that cannot proceed this long fails."""
DRAIN_SLACK_S = 10.0
"""While page data flows, the modem may take as long as the line rate needs to drain what it was given, plus this."""
_BAUD = {
    9600: termios.B9600,
    19200: termios.B19200,
    38400: termios.B38400,
    57600: termios.B57600,
    115200: termios.B115200,
}


class PortInUse(OSError):
    """Another live process holds the UUCP lock of this port."""


class UucpLock:
    """An HDB UUCP lock file for one device name."""

    def __init__(self, device: str | Path, lock_dir: Path | None = DEFAULT_LOCK_DIR) -> None:
        self.path = (lock_dir or Path("/nonexistent")) / f"LCK..{Path(device).name}"
        self.enabled = lock_dir is not None
        self.held = False

    def _owner(self) -> int | None:
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except FileNotFoundError:
            return None
        try:
            return int(text.split()[0])
        except (ValueError, IndexError):
            return 0

    def acquire(self) -> None:
        """Take the lock, clearing a stale one; raises PortInUse if a live process has it."""
        if not self.enabled or not self.path.parent.is_dir():
            return  # locking off, or no lock directory on this system: nothing to share the port through
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner and owner != os.getpid() and _alive(owner):
                    raise PortInUse(errno.EBUSY, f"port in use by process {owner}", str(self.path)) from None
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
                continue
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(f"{os.getpid():10d}\n")
            self.held = True
            return
        raise PortInUse(errno.EBUSY, "could not take the port lock", str(self.path))

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if self.held and self._owner() == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.held = False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SerialModemPort:
    """A serial device or pty as a ModemPort on the wall clock."""

    def __init__(self, path: str | Path, fd: int, lock: UucpLock) -> None:
        self.path = str(path)
        self.clock: Clock = RealClock()
        self._fd = fd
        self._lock = lock
        self._buffer = bytearray()
        self._readable = asyncio.Event()
        self._error: OSError | None = None
        self._bit_rate = 0
        self._handed = 0
        """Bytes handed to the kernel since the last wait for room (writes come in chunks, so across calls)."""
        self._held = 0
        """The largest such run while page data flows: about what the kernel buffer holds when it is full."""
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(fd, self._on_readable)

    @classmethod
    async def open(
        cls, path: str | Path, baud: int = 115200, lock_dir: Path | None = DEFAULT_LOCK_DIR
    ) -> SerialModemPort:
        """Lock and open the device in raw mode, 8N1, no flow control yet."""
        lock = UucpLock(path, lock_dir)
        lock.acquire()
        try:
            fd = os.open(str(path), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            lock.release()
            raise
        try:
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[0] &= ~(termios.IXON | termios.IXOFF | termios.IXANY)
            attrs[2] |= termios.CLOCAL | termios.CREAD | termios.HUPCL
            attrs[2] &= ~termios.CRTSCTS
            speed = _BAUD.get(baud, termios.B115200)
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
            termios.tcflush(fd, termios.TCIOFLUSH)
        except OSError:
            os.close(fd)
            lock.release()
            raise
        return cls(path, fd, lock)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            self._fail(exc)
            return
        if not data:
            self._fail(OSError(errno.EIO, "the port closed"))
            return
        self._buffer += data
        self._readable.set()

    def _fail(self, exc: OSError) -> None:
        self._error = exc
        self._loop.remove_reader(self._fd)
        self._readable.set()

    async def read(self, timeout: float) -> bytes:
        """Bytes available now, or after waiting up to ``timeout`` seconds; b"" on timeout."""
        if not self._buffer and self._error is None:
            self._readable.clear()
            try:
                await asyncio.wait_for(self._readable.wait(), max(0.0, timeout))
            except TimeoutError:
                return b""
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        raise self._error or OSError(errno.EIO, "the port failed")

    async def write(self, data: bytes) -> None:
        """Write everything, waiting while the kernel buffer is full (the modem drains it at line rate, or XOFF holds
        it); it fails only when a wait lasts longer than the line rate explains for the bytes handed over."""
        view = memoryview(data)
        while view:
            if self._error is not None:
                raise self._error
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                written = 0
            if written:
                view = view[written:]
                self._handed += written
                continue
            self._held = max(self._held, self._handed)
            await self._wait_writable(self._stall_limit(self._held))
            self._handed = 0

    def _stall_limit(self, buffered: int) -> float:
        """How long the modem may take to make room: a pty signals room only once the far side has drained almost
        all of it (about 20 KB, 34 s at 4800 bit/s), a serial port once XOFF is lifted."""
        if self._bit_rate <= 0:
            return WRITE_STALL_S
        return max(WRITE_STALL_S, 8 * buffered / self._bit_rate + DRAIN_SLACK_S)

    async def _wait_writable(self, limit: float) -> None:
        ready: asyncio.Future[None] = self._loop.create_future()

        def on_writable() -> None:
            if not ready.done():  # the loop may report the descriptor writable again before this task runs
                ready.set_result(None)

        self._loop.add_writer(self._fd, on_writable)
        try:
            await asyncio.wait_for(ready, limit)
        except TimeoutError as exc:
            raise OSError(errno.EIO, f"the modem took no data for {limit:.0f} s (flow control held)") from exc
        finally:
            self._loop.remove_writer(self._fd)

    def set_xonxoff(self, enabled: bool, bit_rate: int = 0) -> None:
        """Obey XON/XOFF from the modem (only while sending page data, at bit_rate on the line)."""
        self._bit_rate = bit_rate if enabled else 0
        self._handed = self._held = 0
        attrs = termios.tcgetattr(self._fd)
        if enabled:
            attrs[0] |= termios.IXON
        else:
            attrs[0] &= ~termios.IXON
        termios.tcsetattr(self._fd, termios.TCSANOW, attrs)
        if not enabled:
            with contextlib.suppress(OSError):
                termios.tcflow(self._fd, termios.TCOON)

    async def drain(self) -> None:
        """Everything written is in the kernel already (writes are unbuffered here)."""
        if self._error is not None:
            raise self._error

    async def close(self) -> None:
        """Close the device (drops DTR on real ports) and release the lock."""
        if self._fd >= 0:
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._fd)
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        self._lock.release()
