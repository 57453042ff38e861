"""The AT channel on a ModemPort: commands and result codes with timeouts, DLE-stuffed data both ways.

Everything times through ``port.clock``, so the same code runs on the simulated line's virtual time and
on a real serial port or pty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modem.port import ModemPort
from modem.sessionlog import SessionLog
from modem.t30.frames import printable

DLE = 0x10
ETX = 0x03
SUB = 0x1A
DLE_ETX = bytes([DLE, ETX])

FINAL_CODES = frozenset(
    {
        "OK",
        "ERROR",
        "CONNECT",
        "NO CARRIER",
        "BUSY",
        "NO ANSWER",
        "NO DIALTONE",
        "NO DIAL TONE",
        "+FCERROR",
        "DELAYED",
        "BLACKLISTED",
    }
)
UNSOLICITED_PREFIXES = ("RING", "NMBR", "NAME", "NDID", "DATE", "TIME", "CID", "DRON", "DROF", "MESG")
WRITE_CHUNK = 1024


class ModemError(Exception):
    """The modem misbehaved: base of the errors the AT layer raises."""


class AtTimeout(ModemError):
    """The modem did not answer a command in time (it may be wedged or switched off)."""


class ModemGone(ModemError):
    """The port failed underneath us (the device vanished or was closed)."""


@dataclass
class AtReply:
    """A command's final result code and the information lines before it."""

    final: str
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True for OK (and CONNECT, which is success for the commands that start data)."""
        return self.final in ("OK", "CONNECT")


def dle_stuff(data: bytes) -> bytes:
    """Double every DLE, as T.31 requires for data the host sends."""
    return data.replace(b"\x10", b"\x10\x10")


def dle_unstuff(data: bytes) -> tuple[bytes, bool, int]:
    """Undo DLE stuffing up to DLE ETX: (data, saw DLE ETX, bytes consumed). A trailing lone DLE is left."""
    out = bytearray()
    index = 0
    length = len(data)
    while index < length:
        next_dle = data.find(b"\x10", index)
        if next_dle < 0:
            out += data[index:]
            return bytes(out), False, length
        out += data[index:next_dle]
        if next_dle + 1 >= length:
            return bytes(out), False, next_dle
        code = data[next_dle + 1]
        if code == ETX:
            return bytes(out), True, next_dle + 2
        if code == DLE:
            out.append(DLE)
        elif code == SUB:
            out += b"\x10\x10"
        index = next_dle + 2
    return bytes(out), False, length


class AtChannel:
    """Commands, result codes and data on one modem port, with a transcript in the session log."""

    def __init__(self, port: ModemPort, log: SessionLog) -> None:
        self.port = port
        self.log = log
        self._buffer = bytearray()
        self.unsolicited: list[str] = []
        self._last_command = ""

    @property
    def clock_now(self) -> float:
        """The port clock's current time."""
        return self.port.clock.now()

    async def _fill(self, deadline: float) -> bool:
        """Read more bytes into the buffer; False once the deadline passes with nothing new."""
        remaining = deadline - self.port.clock.now()
        if remaining <= 0:
            return False
        try:
            data = await self.port.read(remaining)
        except OSError as exc:
            raise ModemGone(f"the modem port failed: {exc}") from exc
        if not data:
            return False
        self._buffer += data
        return True

    def discard_input(self) -> None:
        """Forget anything buffered (stale result codes before a new call)."""
        self._buffer.clear()

    async def write(self, data: bytes) -> None:
        """Send raw bytes, in chunks so flow control can hold us back."""
        try:
            for start in range(0, len(data), WRITE_CHUNK):
                await self.port.write(data[start : start + WRITE_CHUNK])
        except OSError as exc:
            raise ModemGone(f"the modem port failed: {exc}") from exc

    async def send_command(self, command: str) -> None:
        """Write one AT command line (without waiting for its result)."""
        self._last_command = command
        self.log.add("-->", command)
        await self.write(command.encode("ascii") + b"\r")

    async def read_line(self, timeout: float) -> str | None:
        """The next non-empty line from the modem, or None after ``timeout`` seconds."""
        deadline = self.port.clock.now() + timeout
        while True:
            while bytes(self._buffer[:1]) in (b"\r", b"\n"):
                del self._buffer[0]
            cr = self._buffer.find(b"\r")
            lf = self._buffer.find(b"\n")
            ends = [pos for pos in (cr, lf) if pos >= 0]
            if ends:
                end = min(ends)
                raw = bytes(self._buffer[:end]).replace(DLE_ETX, b"")
                del self._buffer[: end + 1]
                if end == cr and not self._buffer:
                    # "\r\n" split across reads: take the LF too, so binary data after CONNECT starts clean.
                    await self._fill(self.port.clock.now() + 0.05)
                if end == cr and self._buffer[:1] == b"\n":
                    del self._buffer[0]
                line = printable(raw.decode("latin-1"), 200)
                if line:
                    return line
                continue
            if not await self._fill(deadline):
                return None

    async def wait_final(self, timeout: float, finals: frozenset[str] = FINAL_CODES) -> AtReply:
        """Collect lines until a final result code; raises AtTimeout after ``timeout`` seconds."""
        deadline = self.port.clock.now() + timeout
        lines: list[str] = []
        while True:
            line = await self.read_line(max(0.0, deadline - self.port.clock.now()))
            if line is None:
                self.log.add("<--", f"(no answer in {timeout:.1f} s)")
                raise AtTimeout(f"the modem did not answer {self._last_command or 'in time'}")
            if line == self._last_command:
                continue  # command echo
            self.log.add("<--", line)
            if line in finals or line.startswith("+FCERROR"):
                return AtReply(final=line, lines=lines)
            if line.startswith(UNSOLICITED_PREFIXES):
                self.unsolicited.append(line)
                continue
            lines.append(line)

    async def command(self, command: str, timeout: float = 5.0) -> AtReply:
        """Send a command and return its final result code."""
        await self.send_command(command)
        return await self.wait_final(timeout)

    async def read_data(self, timeout: float, limit: int = 4 << 20) -> tuple[bytes, bool]:
        """DLE-unstuffed data until DLE ETX: (data, complete). Incomplete after ``timeout`` or ``limit``."""
        deadline = self.port.clock.now() + timeout
        out = bytearray()
        while True:
            data, complete, used = dle_unstuff(bytes(self._buffer))
            out += data
            del self._buffer[:used]
            if complete:
                return bytes(out), True
            if len(out) >= limit:
                return bytes(out), False
            if not await self._fill(deadline):
                return bytes(out), False

    async def write_data(self, data: bytes, end: bool = True) -> None:
        """Send data DLE-stuffed, ending with DLE ETX unless ``end`` is False."""
        await self.write(dle_stuff(data) + (DLE_ETX if end else b""))
