"""The Class 1 (T.31) driver: HDLC control frames via +FTH/+FRH, image data via +FTM/+FRM, +FTS/+FRS.

The modem appends the two FCS octets to every frame it receives; this driver checks and strips them.
High-speed ECM frames are framed by the host (``modem.t30.ecm``) and carried as +FTM/+FRM data, as many
modems (spandsp's among them) offer +FTH/+FRH only at V.21 300 bit/s.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from modem.at import AtChannel, AtReply, AtTimeout
from modem.t30.frames import Frame, describe, fcf_name
from modem.t30.timers import SWITCH_SILENCE_CS

V21_BITS_PER_SECOND = 300
ABORT_BYTE = b"\x18"


class RxStatus(enum.Enum):
    """How an attempt to receive a frame or image carrier ended."""

    OK = "ok"
    BAD_FCS = "frame with a bad checksum"
    NO_CARRIER = "carrier lost"
    TIMEOUT = "nothing heard"
    WRONG_CARRIER = "a different carrier was heard"
    ERROR = "modem error"


@dataclass
class FrameRx:
    """One receive attempt: the frame (if any) and what happened."""

    status: RxStatus
    frame: Frame | None = None
    raw: bytes = b""


@dataclass
class FrameSet:
    """The frames of one V.21 transmission, up to the final one, and how listening ended."""

    frames: list[Frame]
    status: RxStatus
    garbled: bool = False
    """A frame arrived damaged (bad FCS): the far end may be asked to repeat (CRP)."""

    @property
    def final(self) -> Frame | None:
        """The final frame (the command or response itself), if it arrived."""
        return self.frames[-1] if self.status == RxStatus.OK and self.frames else None


@dataclass
class ImageRx:
    """One image-carrier reception: the data and how it ended."""

    status: RxStatus
    data: bytes = b""


def fcs16(data: bytes) -> int:
    """The HDLC frame check sequence (ITU-T V.42 / ISO 3309 CRC-16, reflected, complemented)."""
    crc = 0xFFFF
    for octet in data:
        crc ^= octet
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def strip_fcs(data: bytes) -> bytes | None:
    """The frame without its two trailing FCS octets, or None when the FCS does not match."""
    if len(data) < 3:
        return None
    body, fcs = data[:-2], data[-2:]
    if fcs16(body) != fcs[0] | (fcs[1] << 8):
        return None
    return body


class Class1Modem:
    """T.31 operations a T.30 engine needs, each one logged."""

    def __init__(self, at: AtChannel) -> None:
        self.at = at
        self.log = at.log

    async def _abort_receive(self) -> None:
        """Stop a +FRH/+FRM that heard nothing: any character returns the modem to command mode."""
        await self.at.write(ABORT_BYTE)
        deadline = self.at.clock_now + 3.0
        while True:
            line = await self.at.read_line(max(0.0, deadline - self.at.clock_now))
            if line is None:
                raise AtTimeout("the modem did not stop receiving when asked")
            self.log.add("<--", line)
            if line.endswith("OK") or line in ("NO CARRIER", "ERROR"):
                return

    async def receive_frame(self, timeout: float, issue_command: bool = True) -> FrameRx:
        """Receive one V.21 HDLC frame (+FRH=3), waiting up to ``timeout`` for the carrier."""
        if issue_command:
            await self.at.send_command("AT+FRH=3")
            try:
                reply = await self.at.wait_final(timeout)
            except AtTimeout:
                await self._abort_receive()
                return FrameRx(RxStatus.TIMEOUT)
            if reply.final != "CONNECT":
                return FrameRx(self._status_of(reply))
        data, complete = await self.at.read_data(timeout=5.0, limit=512)
        if not complete:  # endless flags or noise: the modem is still receiving until told to stop
            await self._abort_receive()
            return FrameRx(RxStatus.NO_CARRIER, raw=data)
        reply = await self.at.wait_final(5.0)
        body = strip_fcs(data)
        if body is None and len(data) >= 3 and reply.final == "OK":
            # Some modems hand over frames without the FCS octets.
            body = data
        if body is None or reply.final == "ERROR":
            self.log.add("T30", f"<- frame with bad FCS ({data[:3].hex()}...)")
            return FrameRx(RxStatus.BAD_FCS, raw=data)
        frame = Frame.parse(body)
        if frame is None:
            self.log.add("T30", f"<- unknown frame {body.hex()}")
            return FrameRx(RxStatus.BAD_FCS, raw=data)
        self.log.add("T30", f"<- {describe(frame)}")
        return FrameRx(RxStatus.OK, frame=frame, raw=body)

    @staticmethod
    def _status_of(reply: AtReply) -> RxStatus:
        if reply.final.startswith("+FCERROR"):
            return RxStatus.WRONG_CARRIER
        if reply.final == "NO CARRIER":
            return RxStatus.NO_CARRIER
        return RxStatus.ERROR

    async def receive_frames(self, timeout: float, first_is_open: bool = False) -> FrameSet:
        """Receive frames until a final one. ``first_is_open``: the CONNECT was already seen (after ATD)."""
        result = FrameSet(frames=[], status=RxStatus.TIMEOUT)
        issue = not first_is_open
        wait = timeout
        while True:
            rx = await self.receive_frame(wait, issue_command=issue)
            issue = True
            wait = 3.0
            if rx.status == RxStatus.OK and rx.frame is not None:
                result.frames.append(rx.frame)
                if rx.frame.final:
                    result.status = RxStatus.OK
                    return result
            elif rx.status == RxStatus.BAD_FCS:
                result.garbled = True
            else:
                result.status = rx.status
                return result

    async def send_frames(self, frames: list[Frame], already_open: bool = False) -> bool:
        """Send frames in one V.21 transmission (+FTH=3, or the CONNECT after ATA); the last one final."""
        if not already_open:
            reply = await self.at.command("AT+FTH=3", timeout=5.0)
            if reply.final != "CONNECT":
                return False
        reply = AtReply(final="CONNECT")
        for frame in frames:
            octets = frame.octets()
            self.log.add("T30", f"-> {describe(frame)}")
            await self.at.write_data(octets)
            reply = await self.at.wait_final(5.0 + 8 * (len(octets) + 8) / V21_BITS_PER_SECOND)
            expected = "OK" if frame.final else "CONNECT"
            if reply.final != expected:
                self.log.info(f"modem answered {reply.final} to {fcf_name(frame.fcf)}")
                return False
        if not frames[-1].final:
            await self.at.write_data(b"")
            reply = await self.at.wait_final(5.0)
        return reply.final == "OK"

    async def send_silence(self, centiseconds: int = SWITCH_SILENCE_CS) -> bool:
        """Keep the line quiet (+FTS) before turning it around."""
        return (await self.at.command(f"AT+FTS={centiseconds}", timeout=5.0 + centiseconds / 100)).ok

    async def wait_silence(self, centiseconds: int = SWITCH_SILENCE_CS, timeout: float = 10.0) -> bool:
        """Wait until the far end has stopped transmitting (+FRS)."""
        try:
            reply = await self.at.command(f"AT+FRS={centiseconds}", timeout=timeout)
        except AtTimeout:
            await self._abort_receive()
            return False
        return reply.ok

    async def send_image(self, code: int, data: bytes, bit_rate: int) -> bool:
        """Send data on a high-speed carrier (+FTM), with XON/XOFF obeyed while it flows."""
        reply = await self.at.command(f"AT+FTM={code}", timeout=5.0)
        if reply.final != "CONNECT":
            return False
        self.log.add("-->", f"({len(data)} octets of image data at {bit_rate} bit/s)")
        self.at.port.set_xonxoff(True, bit_rate)
        try:
            await self.at.write_data(data)
            await self.at.port.drain()
        finally:
            self.at.port.set_xonxoff(False)
        # The modem may still hold up to a few seconds of data when the last byte is written.
        reply = await self.at.wait_final(15.0 + 8 * len(data) / bit_rate)
        return reply.final == "OK"

    async def receive_image(self, code: int, timeout: float, max_seconds: float = 600.0) -> ImageRx:
        """Receive data on a high-speed carrier (+FRM) until the carrier drops."""
        await self.at.send_command(f"AT+FRM={code}")
        try:
            reply = await self.at.wait_final(timeout)
        except AtTimeout:
            await self._abort_receive()
            return ImageRx(RxStatus.TIMEOUT)
        if reply.final != "CONNECT":
            return ImageRx(self._status_of(reply))
        data, complete = await self.at.read_data(timeout=max_seconds)
        self.log.add("<--", f"({len(data)} octets of image data)")
        if not complete:
            await self._abort_receive()
            return ImageRx(RxStatus.TIMEOUT, data)
        try:
            await self.at.wait_final(5.0)
        except AtTimeout:
            return ImageRx(RxStatus.ERROR, data)
        return ImageRx(RxStatus.OK, data)

    async def hang_up(self) -> None:
        """Go on hook (ATH0), tolerating a modem that is already idle."""
        try:
            await self.at.command("ATH0", timeout=10.0)
        except AtTimeout:
            self.log.info("the modem did not confirm hang-up")
