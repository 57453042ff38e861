"""The DTE side of a soft-modem: how bytes are cut for ``t31_at_rx`` and what the host is asking for.

spandsp's AT interpreter drops whatever follows ``DLE ETX`` in the same call and parses bytes after a CR
as more command text (virtual-line pitfall 7), so input is fed in chunks cut after every CR and ETX.
The tracker also follows the host's Class 1 commands, so the network knows when a high-speed carrier is
on the line (between ``AT+FTM``/``AT+FRM`` and the next command) and which T.30 frames the host sent.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_CHUNK = 512
CR = 0x0D
DLE = 0x10
ETX = 0x03


def next_chunk_length(buffer: bytes | bytearray) -> int:
    """Length of the next chunk to hand to ``t31_at_rx``: at most 512 bytes, ending after a CR or ETX."""
    limit = min(len(buffer), MAX_CHUNK)
    for index in range(limit):
        if buffer[index] in (CR, ETX):
            return index + 1
    return limit


class DteTracker:
    """Follows the host's commands and HDLC frames as they are fed to the modem."""

    def __init__(self, on_frame: Callable[[bytes], None]) -> None:
        self.high_speed_tx = False
        """The host asked for +FTM and has not issued another command since."""
        self.high_speed_rx = False
        """The host asked for +FRM and has not issued another command since."""
        self._on_frame = on_frame
        self._line = bytearray()
        self._data_mode: str | None = None  # "hdlc" or "stream" while the host sends data
        self._frame = bytearray()
        self._after_dle = False

    def feed(self, data: bytes) -> None:
        """Observe bytes going to the modem."""
        for byte in data:
            if self._data_mode is not None:
                self._data_byte(byte)
            else:
                self._command_byte(byte)

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
            self._data_mode = "stream"
        elif b"+FTH=" in line:
            self._data_mode = "hdlc"
            self._frame.clear()
        elif b"+FRM=" in line:
            self.high_speed_rx = True

    def _data_byte(self, byte: int) -> None:
        if self._after_dle:
            self._after_dle = False
            if byte == ETX:
                self._end_of_data()
            elif byte == DLE and self._data_mode == "hdlc":
                self._frame.append(DLE)
            return
        if byte == DLE:
            self._after_dle = True
        elif self._data_mode == "hdlc" and len(self._frame) < 300:
            self._frame.append(byte)

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
