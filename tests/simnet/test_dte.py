"""How DTE bytes are cut for t31 and how the host's commands and data are followed."""

from __future__ import annotations

import numpy as np

from modem.simnet.dte import DteTracker, ReceivedDataTracker, flip_bits, next_chunk_length


def test_chunks_end_after_cr_and_etx_and_stay_small() -> None:
    assert next_chunk_length(b"AT\rATH\r") == 3
    assert next_chunk_length(b"\x00\x10\x03AT+FRH=3\r") == 3
    assert next_chunk_length(bytes(2000)) == 512


def test_tracker_follows_commands_frames_and_data() -> None:
    frames: list[bytes] = []
    tracker = DteTracker(frames.append)
    tracker.feed(b"AT+FTH=3\r")
    tracker.feed(b"\xff\x03\x43ab\x10\x03")  # non-final frame: still in HDLC data
    tracker.feed(b"\xff\x13\x83\x10\x10\x00\x10\x03")  # final DCS with a stuffed DLE
    assert frames == [b"\xff\x03\x43ab", b"\xff\x13\x83\x10\x00"]
    assert not tracker.high_speed_tx
    tracker.feed(b"AT+FTM=146\r")
    assert (tracker.high_speed_tx, tracker.modulation) == (True, 146)
    positions = tracker.feed(b"\x01\x10\x10\x02\x10\x03")
    assert positions == [0, 3]
    assert tracker.data_octets == 2
    tracker.feed(b"AT+FRM=96\r")
    assert (tracker.high_speed_tx, tracker.high_speed_rx, tracker.modulation) == (False, True, 96)


def test_received_data_positions_skip_result_codes_and_dle_codes() -> None:
    tracker = ReceivedDataTracker()
    data = b"\r\nCONNECT\r\n\x05\x10\x10\x06\x10\x03\r\nNO CARRIER\r\n"
    assert tracker.scan(data, receiving=True) == [11, 14]
    assert tracker.scan(b"\x07\x08", receiving=True) == []


def test_bit_flips_never_make_a_dle() -> None:
    rng = np.random.default_rng(1)
    data = bytes(range(256)) * 4
    positions = [i for i, byte in enumerate(data) if byte != 0x10]
    damaged = flip_bits(data, positions, 0.5, rng)
    assert damaged != bytearray(data)
    assert [i for i, byte in enumerate(damaged) if byte == 0x10] == [i for i, b in enumerate(data) if b == 0x10]
