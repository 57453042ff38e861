"""Decoding lookup tables and bit windows shared by the 1D and 2D row decoders."""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt

from modem.t4 import tables

RUN_PEEK = 13  # bits that hold the longest run code (a black make-up code)
MODE_PEEK = 7  # bits that hold the longest 2D mode code other than EOL and extensions
TERMINATING_LIMIT = 64 << 4  # run entries below this are terminating codes (run < 64)
PASS = 7  # mode symbols; vertical modes are a1 - b1 + 3 (0..6)
HORIZONTAL = 8


def _table(codes: dict[str, int], peek: int, shift: int) -> list[int]:
    """Lookup table indexed by the next `peek` bits: (symbol << shift) | code length, 0 = no code."""
    table = [0] * (1 << peek)
    for bits, symbol in codes.items():
        free = peek - len(bits)
        first = int(bits, 2) << free
        table[first : first + (1 << free)] = [(symbol << shift) | len(bits)] * (1 << free)
    return table


@cache
def run_tables() -> tuple[list[int], list[int]]:
    """White and black run tables: entry = (run length << 4) | code length, 0 = no code."""
    white = _table({code: run for run, code in tables.WHITE_CODES.items()}, RUN_PEEK, 4)
    black = _table({code: run for run, code in tables.BLACK_CODES.items()}, RUN_PEEK, 4)
    return white, black


@cache
def mode_table() -> list[int]:
    """2D mode table: entry = (symbol << 3) | code length; EOL and extensions are absent (errors)."""
    codes = {code: delta + 3 for delta, code in tables.VERTICAL_MODES.items()}
    codes[tables.PASS_MODE] = PASS
    codes[tables.HORIZONTAL_MODE] = HORIZONTAL
    return _table(codes, MODE_PEEK, 3)


def windows(data: bytes) -> npt.NDArray[np.int64]:
    """For every byte offset, the 32 bits starting there (big-endian), so any bit can be peeked.

    One extra window past the end lets a decoder peek at the very end of the data.
    """
    padded = np.frombuffer(data + bytes(5), dtype=np.uint8).astype(np.int64)
    size = len(data) + 1
    return padded[:size] << 24 | padded[1 : size + 1] << 16 | padded[2 : size + 2] << 8 | padded[3 : size + 3]
