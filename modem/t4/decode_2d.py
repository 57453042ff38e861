"""2D rows (T.4 MR and T.6 MMR) decoded one at a time against the row above.

Each row depends on the one before, so this is a plain Python loop; it keeps its state in locals,
tests the common vertical modes first and copies strings of V0 codes ("1" each) in one slice.
"""

from __future__ import annotations

from modem.t4.lookup import HORIZONTAL, PASS, mode_table, run_tables, windows

REFERENCE_PADS = 4  # copies of the width after a reference row, so b1 and b2 always exist
_RUN_SHIFT = 40  # _decode_run packs (run, position) in one int; positions stay below 2**40
_POSITION_MASK = (1 << _RUN_SHIFT) - 1


def reference_row(changes: list[int], width: int) -> list[int]:
    """A decoded row (its changing elements) as the reference for the next 2D row."""
    return changes + [width] * REFERENCE_PADS


def _toggle(changes: list[int], position: int) -> None:
    """Record a colour change; two changes at one position cancel (a zero-length run)."""
    if changes and changes[-1] == position:
        changes.pop()
    else:
        changes.append(position)


def _decode_run(windows: list[int], table: list[int], position: int, end: int) -> int:
    """Decode make-up codes and a terminating code at `position`.

    Returns (run << _RUN_SHIFT) | position after the codes, or -1 if no valid code is there.
    """
    total = 0
    while position < end:
        entry = table[(windows[position >> 3] >> (19 - (position & 7))) & 0x1FFF]
        if not entry:
            return -1
        position += entry & 15
        run = entry >> 4
        total += run
        if run < 64:
            return total << _RUN_SHIFT | position
    return -1


class TwoDimensionalDecoder:
    """Decodes 2D rows from one page's bit stream; `position` is where the next row starts."""

    def __init__(self, data: bytes, width: int) -> None:
        self.windows: list[int] = windows(data).tolist()
        self.width = width
        self.white, self.black = run_tables()
        self.modes = mode_table()
        self.position = 0

    def decode_row(self, reference: list[int], end: int) -> list[int] | None:
        """Decode one row against `reference` (from reference_row); None if the row is invalid."""
        width = self.width
        windows = self.windows
        modes = self.modes
        run_tables = (self.white, self.black)
        position = self.position
        changes: list[int] = []
        a0 = -1  # the imaginary white element before the row
        colour = 0
        j = 0  # index of b1 in reference; its parity always equals colour
        row_end = len(reference) - REFERENCE_PADS  # index of the first pad (= width) in reference
        while a0 < width:
            while reference[j] <= a0:
                j += 2
            if position >= end:
                return None
            ahead = (windows[position >> 3] >> (8 - (position & 7))) & 0xFFFFFF
            if ahead & 0x800000:
                if not ahead & 0x400000:  # one V0 code ("1"): a1 = b1
                    a0 = reference[j]
                    if a0 < width:
                        changes.append(a0)
                    j += 1
                    colour ^= 1
                    position += 1
                    continue
                # A string of V0 codes copies the reference row's changes as they are.
                copies = min(24 - (~ahead & 0xFFFFFF).bit_length(), max(row_end - j + 1, 1))
                changes.extend(reference[j : min(j + copies, row_end)])
                j += copies
                a0 = reference[j - 1]
                colour ^= copies & 1
                position += copies
                continue
            entry = modes[ahead >> 17]
            position += entry & 7
            mode = entry >> 3
            if mode < PASS:
                if not entry:
                    return None
                a1 = reference[j] + mode - 3
                if a1 <= a0 or a1 > width:
                    return None
                a0 = a1
                if a1 < width:
                    changes.append(a1)
                colour ^= 1
                j = j - 1 if j and reference[j - 1] > a1 else j + 1
            elif mode == HORIZONTAL:
                first = _decode_run(windows, run_tables[colour], position, end)
                if first < 0:
                    return None
                second = _decode_run(windows, run_tables[colour ^ 1], first & _POSITION_MASK, end)
                if second < 0:
                    return None
                position = second & _POSITION_MASK
                a1 = max(a0, 0) + (first >> _RUN_SHIFT)
                a0 = a1 + (second >> _RUN_SHIFT)
                if a0 > width:
                    return None
                if a1 < width:
                    _toggle(changes, a1)
                if a0 < width:
                    _toggle(changes, a0)
            else:
                a0 = reference[j + 1]
                if a0 >= width:
                    return None
                j += 2
        self.position = position
        return changes
