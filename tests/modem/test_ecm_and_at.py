"""Host-side HDLC framing for ECM, PPR maps, DLE stuffing, and the AT channel over a real pty."""

from __future__ import annotations

import os

import numpy as np

from modem.at import AtChannel, dle_stuff, dle_unstuff
from modem.class1 import Class1Modem, RxStatus, fcs16
from modem.serialport import SerialModemPort
from modem.sessionlog import SessionLog
from modem.t30 import ecm
from modem.t30.frames import Fcf


def test_hdlc_framing_round_trips_frames_full_of_ones() -> None:
    rng = np.random.default_rng(0)
    frames = [ecm.fcd_frame(n, rng.integers(0, 256, 256, dtype=np.uint8).tobytes()) for n in range(5)]
    frames.append(ecm.fcd_frame(5, b"\xff" * 256))  # worst case for zero-bit insertion
    frames.append(ecm.rcp_frame())
    assert ecm.hdlc_decode(ecm.hdlc_encode(frames)) == frames


def test_a_damaged_frame_is_dropped_and_asked_for_again() -> None:
    frames = {n: bytes([n]) * 64 for n in range(4)}
    burst = bytearray(ecm.ecm_burst(frames))
    burst[len(burst) // 3] ^= 0x10  # noise in the middle of frame 1
    block = ecm.BlockCollector(frame_count=4)
    block.take(ecm.hdlc_decode(bytes(burst)))
    assert block.rcp_seen
    assert block.missing() == {1}
    ppr = ecm.ppr_bitmap(block.missing())
    assert len(ppr) == 32 and ppr[0] == 0b10
    assert ecm.frames_in_ppr(ppr, 4) == {1}


def test_pages_split_into_partial_pages_of_256_frames() -> None:
    blocks = ecm.split_blocks(bytes(256 * 300 + 10), 256)
    assert [len(block) for block in blocks] == [256, 45]
    assert len(blocks[1][-1]) == 10


def test_dle_stuffing_round_trips_and_stops_at_dle_etx() -> None:
    data = bytes(range(256)) * 2
    stuffed = dle_stuff(data) + b"\x10\x03OK\r\n"
    out, complete, used = dle_unstuff(stuffed)
    assert (out, complete) == (data, True)
    assert stuffed[used:] == b"OK\r\n"


async def test_at_channel_reads_frames_with_fcs_over_a_pty() -> None:
    master, slave = os.openpty()
    port = await SerialModemPort.open(os.ttyname(slave), lock_dir=None)
    try:
        log = SessionLog(port.clock.now)
        modem = Class1Modem(AtChannel(port, log))
        mcf = bytes([0xFF, 0x13, Fcf.MCF])
        fcs = fcs16(mcf)
        os.write(master, b"\r\nCONNECT\r\n" + dle_stuff(mcf + bytes([fcs & 0xFF, fcs >> 8])) + b"\x10\x03\r\nOK\r\n")
        received = await modem.receive_frame(timeout=2.0)
        assert os.read(master, 64) == b"AT+FRH=3\r"
        assert received.status == RxStatus.OK and received.frame is not None
        assert received.frame.fcf == Fcf.MCF
        assert any("<- MCF" in line for line in log.lines)
    finally:
        await port.close()
        os.close(master)
        os.close(slave)
