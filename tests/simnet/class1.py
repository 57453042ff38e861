"""A few raw Class 1 steps over a ModemPort, enough to drive the simulated network from tests."""

from __future__ import annotations

from modem.port import ModemPort

DLE = b"\x10"
ETX = b"\x03"
FINAL_RESULTS = (b"OK", b"ERROR", b"CONNECT", b"NO CARRIER", b"BUSY", b"NO ANSWER", b"NO DIALTONE", b"RING")


def stuff(data: bytes) -> bytes:
    """DLE-stuff data for the modem and add the DLE ETX terminator."""
    return data.replace(DLE, DLE + DLE) + DLE + ETX


def unstuff(data: bytes) -> bytes:
    """Undo DLE stuffing of data up to (not including) DLE ETX."""
    out = bytearray()
    index = 0
    while index < len(data):
        byte = data[index : index + 1]
        if byte == DLE:
            following = data[index + 1 : index + 2]
            if following == ETX:
                break
            if following == DLE:
                out += DLE
            index += 2
            continue
        out += byte
        index += 1
    return bytes(out)


async def read_until(port: ModemPort, tokens: tuple[bytes, ...], timeout: float = 10.0) -> bytes:
    """Collect modem output until a complete line equals one of ``tokens`` (or ``timeout`` idles)."""
    buffer = b""
    while True:
        data = await port.read(timeout)
        if not data:
            return buffer
        buffer += data
        lines = buffer.split(b"\r\n")[:-1]
        if any(line in tokens for line in lines):
            return buffer


async def command(port: ModemPort, text: str, timeout: float = 10.0) -> list[str]:
    """Send one AT command; return the non-empty response lines up to the final result."""
    await port.write(text.encode("ascii") + b"\r")
    reply = await read_until(port, FINAL_RESULTS, timeout)
    return [line.strip() for line in reply.decode("latin-1").split("\r\n") if line.strip()]


async def receive_frame(port: ModemPort, timeout: float = 10.0) -> tuple[bytes, str] | None:
    """AT+FRH=3: one HDLC frame (FCS octets included) and the final result, or None without carrier."""
    await port.write(b"AT+FRH=3\r")
    reply = await read_until(port, FINAL_RESULTS, timeout)
    if b"CONNECT\r\n" not in reply:
        return None
    return await read_frame(port, reply.split(b"CONNECT\r\n", 1)[1], timeout)


async def read_frame(port: ModemPort, data: bytes = b"", timeout: float = 10.0) -> tuple[bytes, str]:
    """The frame that follows a CONNECT (as after ATD or +FRH=3) and the result that ends it."""
    while DLE + ETX not in data or not data.rstrip().endswith((b"OK", b"ERROR")):
        more = await port.read(timeout)
        if not more:
            break
        data += more
    frame = unstuff(data)
    result = data.split(DLE + ETX, 1)[1].strip().decode("latin-1") if DLE + ETX in data else ""
    return frame, result


async def send_frames(port: ModemPort, frames: list[bytes], command_first: bool = True) -> str:
    """Send frames with AT+FTH=3 (the last one final); returns the final result text."""
    if command_first:
        reply = await read_until_connect(port, b"AT+FTH=3\r")
        if b"CONNECT" not in reply:
            return reply.decode("latin-1").strip()
    result = ""
    for index, frame in enumerate(frames):
        await port.write(stuff(frame))
        tokens = (b"CONNECT", b"OK", b"ERROR") if index < len(frames) - 1 else (b"OK", b"ERROR")
        result = (await read_until(port, tokens)).decode("latin-1").strip()
    return result


async def read_until_connect(port: ModemPort, text: bytes) -> bytes:
    """Send a command that answers CONNECT before data."""
    await port.write(text)
    return await read_until(port, FINAL_RESULTS)
