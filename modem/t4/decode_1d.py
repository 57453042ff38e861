"""MH rows decoded side by side: one numpy step decodes the next code of every unfinished row.

Rows between EOLs are independent, so instead of a Python loop per code (some 180 000 on a dense
page) the decoder runs one vectorised step per code position in the longest row (a few hundred).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from modem.t4.lookup import RUN_PEEK, TERMINATING_LIMIT, run_tables

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Decoded1D:
    """Changing elements of the rows that decoded cleanly, and which rows did."""

    good: npt.NDArray[np.bool_]  # per requested row
    end_position: IntArray  # per requested row: the bit after its last code
    row: IntArray  # index into the requested rows, ascending
    column: IntArray  # changing elements, ascending within a row


def decode_1d_rows(windows: IntArray, starts: IntArray, ends: IntArray, width: int) -> Decoded1D:
    """Decode MH rows coded in bits [starts[i], ends[i]) (ends = where the next EOL begins).

    A row is good when its runs add up to exactly `width` with valid codes that end by `ends[i]`.
    """
    white, black = run_tables()
    table = np.array(white + black, dtype=np.int64)  # index: colour << RUN_PEEK | next 13 bits
    count = len(starts)
    lane = np.arange(count, dtype=np.int64)
    position = starts.astype(np.int64)
    end = ends.astype(np.int64)
    a0 = np.zeros(count, dtype=np.int64)
    colour = np.zeros(count, dtype=np.int64)
    good = np.zeros(count, dtype=bool)
    end_position = np.zeros(count, dtype=np.int64)
    emitted_rows: list[IntArray] = []
    emitted_columns: list[IntArray] = []
    while lane.size:
        peek = (windows[position >> 3] >> (19 - (position & 7))) & ((1 << RUN_PEEK) - 1)
        entry = table[colour << RUN_PEEK | peek]
        position += entry & 15
        a0 += entry >> 4
        terminating = entry < TERMINATING_LIMIT
        failed = (entry == 0) | (position > end) | (a0 > width)
        changes = terminating & (a0 < width)
        emitted_rows.append(lane[changes])
        emitted_columns.append(a0[changes])
        colour ^= terminating
        finished = failed | (terminating & (a0 >= width))
        if finished.any():
            good[lane[finished & ~failed]] = True
            end_position[lane[finished]] = position[finished]
            keep = ~finished
            lane, position, end, a0, colour = lane[keep], position[keep], end[keep], a0[keep], colour[keep]
    row = np.concatenate([np.zeros(0, dtype=np.int64), *emitted_rows])
    column = np.concatenate([np.zeros(0, dtype=np.int64), *emitted_columns])
    order = np.argsort(row, kind="stable")  # within a row, steps came in increasing a0
    row, column = row[order], column[order]
    keep = good[row] & _odd_repeats(row * (width + 1) + column)
    return Decoded1D(good=good, end_position=end_position, row=row[keep], column=column[keep])


def _odd_repeats(keys: IntArray) -> npt.NDArray[np.bool_]:
    """Keep one of each group of equal sorted keys if the group is odd: a zero-length run between
    two changes at the same place cancels them."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    group = np.cumsum(first) - 1
    return first & (np.bincount(group)[group] % 2 == 1) if len(keys) else first
