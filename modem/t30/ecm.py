"""Error correction mode (T.30 Annex A, T.4 Annex A): FCD/RCP frames, host-side HDLC framing, PPR maps.

Image-data HDLC is framed by the host (flags, zero-bit insertion, FCS) and carried as +FTM/+FRM
data, bits LSB-first in each octet as a Class 1 modem sends them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from modem.class1 import fcs16
from modem.t30.frames import ADDRESS, CONTROL_NON_FINAL, Fcf

FRAMES_PER_BLOCK = 256
PPR_BITMAP_OCTETS = 32
PPR_LIMIT = 4
"""PPRs for one block before the sender must choose CTC (continue, maybe slower) or EOR (give up)."""
PREAMBLE_FLAGS = 32
RCP_REPEATS = 3
_FLAG_BITS = np.array([0, 1, 1, 1, 1, 1, 1, 0], dtype=np.uint8)

Bits = npt.NDArray[np.uint8]


def _runs_of_ones(bits: Bits) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Start index and length of every run of 1 bits."""
    edges = np.diff(np.concatenate(([0], bits, [0])).astype(np.int8))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return starts, ends - starts


def _stuff(bits: Bits) -> Bits:
    """Zero-bit insertion: a 0 after every fifth consecutive 1."""
    starts, lengths = _runs_of_ones(bits)
    counts = lengths // 5
    total = int(counts.sum())
    if total == 0:
        return bits
    first_of_run = np.repeat(np.cumsum(counts) - counts, counts)
    nth = np.arange(total) - first_of_run + 1
    positions = np.repeat(starts, counts) + 5 * nth
    return np.insert(bits, positions, 0)


def hdlc_encode(frames: list[bytes], preamble_flags: int = PREAMBLE_FLAGS, closing_flags: int = 2) -> bytes:
    """The octets to send with +FTM for these frames: flags, stuffed frame+FCS, a flag between frames."""
    parts: list[Bits] = [np.tile(_FLAG_BITS, preamble_flags)]
    for frame in frames:
        fcs = fcs16(frame)
        octets = np.frombuffer(frame + bytes([fcs & 0xFF, fcs >> 8]), dtype=np.uint8)
        parts.append(_stuff(np.unpackbits(octets, bitorder="little")))
        parts.append(_FLAG_BITS)
    parts.append(np.tile(_FLAG_BITS, closing_flags))
    bits = np.concatenate(parts)
    pad = (-len(bits)) % 8
    if pad:
        bits = np.concatenate((bits, np.ones(pad, dtype=np.uint8)))
    return np.packbits(bits, bitorder="little").tobytes()


def hdlc_decode(data: bytes) -> list[bytes]:
    """Frames with a good FCS (FCS removed) found in +FRM data; damaged frames are left out."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    if len(bits) < 16:
        return []
    starts, lengths = _runs_of_ones(bits)
    delete = np.zeros(len(bits) + 1, dtype=bool)
    stuffed = starts[lengths == 5] + 5
    delete[stuffed[stuffed < len(bits)]] = True
    flag_mask = (lengths == 6) & (starts >= 1) & (starts + 6 < len(bits))
    flag_starts = starts[flag_mask]
    aborts = starts[lengths >= 7]
    frames: list[bytes] = []
    for left, right in itertools.pairwise(flag_starts.tolist()):
        begin, end = int(left) + 7, int(right) - 1
        if end - begin < 32:
            continue
        if aborts.size and np.any((aborts >= begin) & (aborts < end)):
            continue
        segment = bits[begin:end][~delete[begin:end]]
        if len(segment) % 8:
            continue
        octets = np.packbits(segment, bitorder="little").tobytes()
        if fcs16(octets[:-2]) == octets[-2] | (octets[-1] << 8):
            frames.append(octets[:-2])
    return frames


def fcd_frame(number: int, payload: bytes) -> bytes:
    """One facsimile coded data frame (no FCS)."""
    return bytes([ADDRESS, CONTROL_NON_FINAL, Fcf.FCD, number]) + payload


def rcp_frame() -> bytes:
    """Return to control for partial page."""
    return bytes([ADDRESS, CONTROL_NON_FINAL, Fcf.RCP])


def ecm_burst(frames: dict[int, bytes]) -> bytes:
    """+FTM data for a burst: the given FCD frames in order, then RCP three times."""
    hdlc = [fcd_frame(number, frames[number]) for number in sorted(frames)]
    hdlc += [rcp_frame()] * RCP_REPEATS
    return hdlc_encode(hdlc)


def split_blocks(page: bytes, frame_size: int) -> list[list[bytes]]:
    """A coded page cut into partial pages of at most 256 frames of ``frame_size`` octets."""
    chunks = [page[start : start + frame_size] for start in range(0, len(page), frame_size)] or [b""]
    return [chunks[start : start + FRAMES_PER_BLOCK] for start in range(0, len(chunks), FRAMES_PER_BLOCK)]


def ppr_bitmap(missing: set[int]) -> bytes:
    """PPR information field: bit n (LSB first) set for every frame n to be sent again."""
    bitmap = bytearray(PPR_BITMAP_OCTETS)
    for number in missing:
        bitmap[number // 8] |= 1 << (number % 8)
    return bytes(bitmap)


def frames_in_ppr(bitmap: bytes, frame_count: int) -> set[int]:
    """Frame numbers a PPR asks for, limited to the frames the block has."""
    return {number for number in range(min(frame_count, len(bitmap) * 8)) if bitmap[number // 8] & (1 << (number % 8))}


@dataclass
class BlockCollector:
    """The receiver's view of one partial page: frames stored so far, by number."""

    frames: dict[int, bytes] = field(default_factory=dict)
    frame_count: int = 0
    rcp_seen: bool = False

    def take(self, hdlc_frames: list[bytes]) -> None:
        """Store the FCD frames of one burst and note whether RCP arrived."""
        for frame in hdlc_frames:
            if len(frame) < 3 or frame[0] != ADDRESS:
                continue
            if frame[2] == Fcf.FCD and len(frame) >= 4:
                self.frames[frame[3]] = frame[4:]
            elif frame[2] == Fcf.RCP:
                self.rcp_seen = True

    def missing(self) -> set[int]:
        """Frames of the block not yet received intact."""
        return {number for number in range(self.frame_count) if number not in self.frames}

    def data(self) -> bytes:
        """The block's image data in frame order."""
        return b"".join(self.frames[number] for number in range(self.frame_count))
