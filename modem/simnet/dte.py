"""The DTE side of a soft-modem: how bytes are cut for ``t31_at_rx`` and what the host is asking for.

spandsp's AT interpreter drops whatever follows ``DLE ETX`` in the same call and parses bytes after a CR
as more command text (virtual-line pitfall 7), so input is fed in chunks cut after every CR and ETX.
The tracker also follows the host's Class 1 commands, so the network knows when a high-speed carrier is
on the line (between ``AT+FTM``/``AT+FRM`` and the next command) and which T.30 frames the host sent.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

MAX_CHUNK = 512
CR = 0x0D
DLE = 0x10
ETX = 0x03


def next_chunk_length(buffer: bytes | bytearray) -> int:
    """Length of the next chunk to hand to ``t31_at_rx``: at most 512 bytes, ending after a CR or ETX."""
    limit = min(len(buffer), MAX_CHUNK)
    cuts = [found for found in (buffer.find(CR, 0, limit), buffer.find(ETX, 0, limit)) if found >= 0]
    return min(cuts) + 1 if cuts else limit


class DteTracker:
    """Follows the host's commands and HDLC frames as they are fed to the modem."""

    def __init__(self, on_frame: Callable[[bytes], None]) -> None:
        self.high_speed_tx = False
        """The host asked for +FTM and has not issued another command since."""
        self.high_speed_rx = False
        """The host asked for +FRM and has not issued another command since."""
        self.modulation = 0
        """The T.31 modulation code of the last +FTM/+FRM (e.g. 146: V.17 14400 short training)."""
        self.window = 0
        """Counts +FTM/+FRM commands: each starts a new high-speed window."""
        self.data_octets = 0
        """High-speed data octets the host sent since the last +FTM."""
        self._on_frame = on_frame
        self._line = bytearray()
        self._data_mode: str | None = None  # "hdlc" or "stream" while the host sends data
        self._frame = bytearray()
        self._after_dle = False

    def feed(self, data: bytes) -> list[int]:
        """Observe bytes going to the modem; returns the positions that carry high-speed data octets."""
        positions: list[int] = []
        index = 0
        while index < len(data):
            if self._data_mode == "stream" and not self._after_dle:
                # Fast path through page data: every octet up to the next DLE is data.
                end = data.find(DLE, index)
                end = len(data) if end < 0 else end
                positions.extend(range(index, end))
                self.data_octets += end - index
                if end == len(data):
                    break
                index = end
            byte = data[index]
            if self._data_mode is not None:
                if self._data_byte(byte):
                    positions.append(index)
                    self.data_octets += 1
            else:
                self._command_byte(byte)
            index += 1
        return positions

    def _command_byte(self, byte: int) -> None:
        if byte != CR:
            if len(self._line) < 80:
                self._line.append(byte)
            return
        line = bytes(self._line).upper().replace(b" ", b"")
        self._line.clear()
        if not line.startswith(b"AT"):
            return
        self.high_speed_tx = False
        self.high_speed_rx = False
        if b"=?" in line:
            return
        if b"+FTM=" in line:
            self.high_speed_tx = True
            self.modulation = _modulation(line, b"+FTM=")
            self.window += 1
            self.data_octets = 0
            self._data_mode = "stream"
        elif b"+FTH=" in line:
            self._data_mode = "hdlc"
            self._frame.clear()
        elif b"+FRM=" in line:
            self.high_speed_rx = True
            self.modulation = _modulation(line, b"+FRM=")
            self.window += 1

    def _data_byte(self, byte: int) -> bool:
        if self._after_dle:
            self._after_dle = False
            if byte == ETX:
                self._end_of_data()
            elif byte == DLE and self._data_mode == "hdlc":
                self._frame.append(DLE)
            return False
        if byte == DLE:
            self._after_dle = True
            return False
        if self._data_mode == "hdlc":
            if len(self._frame) < 300:
                self._frame.append(byte)
            return False
        return True

    def _end_of_data(self) -> None:
        if self._data_mode == "hdlc":
            frame = bytes(self._frame)
            self._frame.clear()
            if frame:
                self._on_frame(frame)
            final = len(frame) >= 2 and bool(frame[1] & 0x10)
            if final or not frame:
                self._data_mode = None
        else:
            self._data_mode = None


TRAINING_S = {24: 1.0, 48: 0.75, 72: 0.28, 96: 0.28, 73: 1.42, 97: 1.42, 121: 1.42, 145: 1.42}
"""Seconds of modem training before data, by T.31 modulation code (V.17 short training is the default)."""


BIT_RATES = {24: 2400, 48: 4800, 72: 7200, 96: 9600, 73: 7200, 74: 7200, 97: 9600, 98: 9600}


def bit_rate(modulation: int) -> int:
    """Bit rate of a T.31 modulation code (V.17 12000/14400 for 121/122 and 145/146)."""
    if modulation in (121, 122):
        return 12000
    return BIT_RATES.get(modulation, 14400)


def training_seconds(modulation: int) -> float:
    """How long the high-speed carrier trains before the first data bit."""
    return TRAINING_S.get(modulation, 0.17)


def _modulation(line: bytes, command: bytes) -> int:
    digits = line.split(command, 1)[1]
    value = b""
    for byte in digits:
        if not 0x30 <= byte <= 0x39:
            break
        value += bytes([byte])
    return int(value) if value else 0


class ReceivedDataTracker:
    """Finds the high-speed data octets in what the modem sends its DTE after +FRM's CONNECT."""

    def __init__(self) -> None:
        self._in_data = False
        self._after_dle = False
        self._tail = b""

    def scan(self, data: bytes | bytearray, receiving: bool) -> list[int]:
        """Positions of data octets (never DLE codes) in ``data``; ``receiving``: the host is in +FRM."""
        positions: list[int] = []
        if not receiving:
            self._in_data = False
            self._tail = b""
            return positions
        index = 0
        while index < len(data):
            if self._in_data and not self._after_dle:
                # Fast path through received data: every octet up to the next DLE is data.
                end = data.find(DLE, index)
                end = len(data) if end < 0 else end
                positions.extend(range(index, end))
                if end == len(data):
                    break
                index = end
            byte = data[index]
            index += 1
            if not self._in_data:
                self._tail = (self._tail + bytes([byte]))[-9:]
                if self._tail == b"CONNECT\r\n":
                    self._in_data = True
                    self._after_dle = False
            elif self._after_dle:
                self._after_dle = False
                if byte == ETX:
                    self._in_data = False
                    self._tail = b""
            elif byte == DLE:
                self._after_dle = True
        return positions


def flip_bits(
    data: bytes | bytearray,
    positions: list[int],
    rate: float | npt.NDArray[np.float64],
    rng: np.random.Generator,
) -> bytearray:
    """Flip each bit of the octets at ``positions`` with probability ``rate`` (one per octet, or one for
    all), never creating a DLE."""
    out = bytearray(data)
    if not positions:
        return out
    index = np.asarray(positions, dtype=np.intp)
    original = np.frombuffer(bytes(out), dtype=np.uint8)[index]
    rates = np.broadcast_to(np.asarray(rate, dtype=np.float64), (len(index),))
    masks = np.packbits(rng.random((len(index), 8)) < rates[:, None], axis=1)[:, 0]
    damaged = original ^ masks
    damaged[damaged == DLE] = original[damaged == DLE]
    for position, value in zip(positions, damaged.tolist(), strict=True):
        out[position] = value
    return out
