"""Bit-level helpers shared by the T.4/T.6 encoder and decoder."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

BitOrder = Literal["lsb", "msb"]

# Reversing the bits of every byte turns Class 1 line order (LSB first) into TIFF FillOrder 1 order.
BIT_REVERSAL: bytes = bytes(int(f"{value:08b}"[::-1], 2) for value in range(256))


def to_msb_first(data: bytes, bit_order: BitOrder) -> bytes:
    """Return data with the first transmitted bit of each byte in its most significant position."""
    if bit_order == "lsb":
        return data.translate(BIT_REVERSAL)
    if bit_order == "msb":
        return data
    raise ValueError(f"bit_order must be 'lsb' or 'msb', not {bit_order!r}")


def pack_codes(values: npt.NDArray[np.uint64], lengths: npt.NDArray[np.int64], bit_order: BitOrder) -> bytes:
    """Concatenate variable-length codes (value right-aligned in `lengths` bits) into bytes.

    The stream is padded with zero bits to a whole byte. A code longer than 64 bits must have value 0
    (that is how zero fill is expressed).
    """
    if bit_order not in ("lsb", "msb"):
        raise ValueError(f"bit_order must be 'lsb' or 'msb', not {bit_order!r}")
    total = int(lengths.sum())
    padded_total = (total + 7) // 8 * 8
    bits = np.zeros(padded_total, dtype=np.uint8)
    if total:
        last_bit_of_code = np.cumsum(lengths) - 1
        shift = np.repeat(last_bit_of_code, lengths) - np.arange(total, dtype=np.int64)
        np.minimum(shift, 63, out=shift)
        expanded = np.repeat(values, lengths) >> shift.astype(np.uint64)
        bits[:total] = (expanded & np.uint64(1)).astype(np.uint8)
    return np.packbits(bits, bitorder="little" if bit_order == "lsb" else "big").tobytes()
