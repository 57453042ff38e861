"""T.4 (MH, MR) and T.6 (MMR) encoding of packed bitmaps, vectorised over the whole page with numpy.

Every row is reduced to its changing elements (pixel positions whose colour differs from the pixel to
their left, the row starting white). 1D rows become run lengths; 2D rows are coded against the row
above by deciding, for every changing element at once, which mode T.4 section 4.2.1.3 would pick
there. The codes are then laid out per row (EOL, data, zero fill) and packed into bytes in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
import numpy.typing as npt

from modem.t4 import tables
from modem.t4.bits import BitOrder, pack_codes

Scheme = Literal["MH", "MR", "MMR"]
IntArray = npt.NDArray[np.int64]
CodeArray = npt.NDArray[np.uint64]

MAX_WIDTH = 8192
_EOL_BITS = 12
_EOL_VALUE = 1
_RTC_EOLS = 6
_EOFB_EOLS = 2
_PASSES_PER_CODE = 16  # sixteen 4-bit pass codes fill one 64-bit code word


@dataclass(frozen=True)
class EncodedPage:
    """One page coded for the line: `data` is what the modem transmits, `rows` how many rows it holds."""

    data: bytes
    rows: int


@dataclass(frozen=True)
class _RowCodes:
    """Codes in transmission order, each tagged with the row it belongs to."""

    row: IntArray
    value: CodeArray
    length: IntArray


def _code(bits: str) -> tuple[int, int]:
    """A code string from the tables as (value, length in bits)."""
    return int(bits, 2), len(bits)


def _run_code(run: int, codes: dict[int, str]) -> str:
    """The make-up and terminating codes for one run, as T.4 section 4.1.1 strings them together."""
    parts: list[str] = []
    while run >= tables.LONGEST_MAKEUP + 64:
        parts.append(codes[tables.LONGEST_MAKEUP])
        run -= tables.LONGEST_MAKEUP
    if run >= 64:
        parts.append(codes[run // 64 * 64])
        run %= 64
    parts.append(codes[run])
    return "".join(parts)


@cache
def _run_table(black: bool) -> tuple[CodeArray, IntArray]:
    """Code value and length for every run length up to MAX_WIDTH, so a page needs only lookups."""
    codes = tables.BLACK_CODES if black else tables.WHITE_CODES
    strings = [_run_code(run, codes) for run in range(MAX_WIDTH + 1)]
    values = np.array([int(s, 2) for s in strings], dtype=np.uint64)
    lengths = np.array([len(s) for s in strings], dtype=np.int64)
    return values, lengths


def _vertical_table() -> tuple[CodeArray, IntArray]:
    pairs = [_code(tables.VERTICAL_MODES[delta]) for delta in range(-3, 4)]
    return (
        np.array([value for value, _ in pairs], dtype=np.uint64),
        np.array([length for _, length in pairs], dtype=np.int64),
    )


_VERTICAL_VALUES, _VERTICAL_LENGTHS = _vertical_table()
_PASS_VALUE, _PASS_LENGTH = _code(tables.PASS_MODE)
_HORIZONTAL_VALUE, _HORIZONTAL_LENGTH = _code(tables.HORIZONTAL_MODE)
_PASS_RUN_VALUES = np.array(
    [int(tables.PASS_MODE * count, 2) if count else 0 for count in range(_PASSES_PER_CODE + 1)], dtype=np.uint64
)


def _run_codes(runs: IntArray, black: npt.NDArray[np.bool_]) -> tuple[CodeArray, IntArray]:
    white_values, white_lengths = _run_table(False)
    black_values, black_lengths = _run_table(True)
    return (
        np.where(black, black_values[runs], white_values[runs]),
        np.where(black, black_lengths[runs], white_lengths[runs]),
    )


def _starts(counts: IntArray) -> IntArray:
    """Index of the first element of each group in a concatenation of groups of these sizes."""
    return np.cumsum(counts) - counts


def _local_index(counts: IntArray) -> IntArray:
    """Position of every element inside its group, for groups of these sizes laid end to end."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(_starts(counts), counts)


@dataclass(frozen=True)
class _Changes:
    """Changing elements of a page: columns sorted by row, and where each row's run of them starts."""

    column: IntArray
    first: IntArray
    count: IntArray
    width: int

    def padded(self, rows: IntArray, pads: int) -> tuple[IntArray, IntArray, IntArray]:
        """Concatenate the changes of `rows` (-1 = an all-white row), each followed by `pads` x width."""
        has_row = rows >= 0
        counts = np.where(has_row, self.count[np.maximum(rows, 0)], 0)
        firsts = np.where(has_row, self.first[np.maximum(rows, 0)], 0)
        sizes = counts + pads
        starts = _starts(sizes)
        out = np.full(int(sizes.sum()), self.width, dtype=np.int64)
        local = _local_index(counts)
        out[np.repeat(starts, counts) + local] = self.column[np.repeat(firsts, counts) + local]
        return out, starts, sizes


def _changing_elements(bitmap: npt.NDArray[np.uint8]) -> _Changes:
    """Find every changing element from the packed bytes, unpacking only bytes that hold one."""
    rows, row_bytes = bitmap.shape
    carry = np.zeros_like(bitmap)
    carry[:, 1:] = (bitmap[:, :-1] & 1) << 7
    toggles = (bitmap ^ ((bitmap >> 1) | carry)).astype(np.uint8)
    row_of_byte, byte = np.nonzero(toggles)
    bit_rows, bit = np.nonzero(np.unpackbits(toggles[row_of_byte, byte][:, None], axis=1))
    row = row_of_byte[bit_rows].astype(np.int64)
    column = byte[bit_rows].astype(np.int64) * 8 + bit
    count = np.bincount(row, minlength=rows).astype(np.int64)
    return _Changes(column=column, first=_starts(count), count=count, width=row_bytes * 8)


def _one_dimensional(changes: _Changes, rows: IntArray) -> _RowCodes:
    """MH codes of `rows`: alternate white and black runs, the first run white (maybe empty)."""
    bounds, starts, sizes = changes.padded(rows, 1)
    previous = np.empty_like(bounds)
    previous[1:] = bounds[:-1]
    previous[starts] = 0
    runs = bounds - previous
    run_index = _local_index(sizes)
    values, lengths = _run_codes(runs, (run_index & 1).astype(bool))
    return _RowCodes(row=np.repeat(rows, sizes), value=values, length=lengths)


@dataclass(frozen=True)
class _Modes:
    """The coding step taken at each a1 of a set of 2D rows, in coding order."""

    row: IntArray
    passes: IntArray  # pass codes before the mode code
    horizontal: npt.NDArray[np.bool_]
    delta: IntArray  # a1 - b1, for vertical modes
    black: npt.NDArray[np.bool_]  # colour of a0
    a0a1: IntArray  # run lengths, for horizontal modes
    a1a2: IntArray


def _choose_modes(changes: _Changes, rows: IntArray, references: IntArray) -> _Modes:
    """Decide, for every changing element at once, the mode T.4 section 4.2.1.3 codes it with.

    Coming to a candidate a1 (each changing element, then the row end), a0 is always the element
    before it (or the pass point after it): so b1, the pass codes and the mode follow from the two
    rows alone. The only sequential part, which candidates a horizontal mode consumes as its a2,
    is worked out per stretch of horizontal candidates.
    """
    width = changes.width
    stride = width + 8
    coding, _, coding_sizes = changes.padded(rows, 2)
    ref, ref_starts, ref_sizes = changes.padded(references, 3)
    ref_keys = np.repeat(np.arange(len(rows), dtype=np.int64) * stride, ref_sizes) + ref

    # Candidates for a1: every changing element plus the end of the row (the first pad).
    local = _local_index(coding_sizes)
    index = np.flatnonzero(local < np.repeat(coding_sizes - 1, coding_sizes))
    local = local[index]
    slot = np.repeat(np.arange(len(rows), dtype=np.int64), coding_sizes - 1)
    a1 = coding[index]
    a0 = np.where(local > 0, coding[index - 1], -1)
    colour = local & 1  # colour of a0: 0 white, 1 black; b1 must have the same index parity
    slot_key = slot * stride
    slot_ref_start = ref_starts[slot]

    # b1 right after a0 (no pass yet); then skip pairs while b2 < a1, i.e. emit pass codes.
    first_b1 = np.searchsorted(ref_keys, slot_key + a0, side="right")
    first_b1 += (first_b1 - slot_ref_start ^ colour) & 1
    b2_not_left_of_a1 = np.searchsorted(ref_keys, slot_key + a1, side="left") - 1
    b2_not_left_of_a1 += (b2_not_left_of_a1 - slot_ref_start ^ colour) & 1
    b1_index = np.maximum(first_b1, b2_not_left_of_a1)
    passes = (b1_index - first_b1) // 2
    delta = a1 - ref[b1_index]
    horizontal = np.abs(delta) > 3
    a0_after_passes = np.where(passes > 0, ref[b1_index - 1], np.maximum(a0, 0))

    # Horizontal mode also consumes the next element (a2): in a stretch of horizontal candidates only
    # every other one starts a code, and a vertical candidate right after such a start is skipped.
    block_start = horizontal & ((local == 0) | ~np.concatenate(([False], horizontal[:-1])))
    positions = np.arange(len(index), dtype=np.int64)
    start_of_block = np.maximum.accumulate(np.where(block_start, positions, 0))
    coded_horizontal = horizontal & ((positions - start_of_block) % 2 == 0)
    after_horizontal = np.concatenate(([False], coded_horizontal[:-1])) & (local > 0)
    coded = np.flatnonzero(np.where(horizontal, coded_horizontal, ~after_horizontal))

    return _Modes(
        row=np.repeat(rows, coding_sizes - 1)[coded],
        passes=passes[coded],
        horizontal=horizontal[coded],
        delta=delta[coded],
        black=colour[coded].astype(bool),
        a0a1=a1[coded] - a0_after_passes[coded],
        a1a2=coding[index[coded] + 1] - a1[coded],
    )


def _two_dimensional(changes: _Changes, rows: IntArray, references: IntArray) -> _RowCodes:
    """2D codes of `rows`, each coded against the row in `references` (-1 = imaginary white row)."""
    modes = _choose_modes(changes, rows, references)
    horizontal = modes.horizontal
    pass_words = (modes.passes + _PASSES_PER_CODE - 1) // _PASSES_PER_CODE
    counts = pass_words + 1 + horizontal  # pass words, the mode code, and a1a2 after horizontal mode
    offsets = _starts(counts)
    values = np.zeros(int(counts.sum()), dtype=np.uint64)
    lengths = np.zeros(len(values), dtype=np.int64)

    word_index = _local_index(pass_words)
    passes_in_word = np.minimum(_PASSES_PER_CODE, np.repeat(modes.passes, pass_words) - word_index * _PASSES_PER_CODE)
    word_at = np.repeat(offsets, pass_words) + word_index
    values[word_at] = _PASS_RUN_VALUES[passes_in_word]
    lengths[word_at] = passes_in_word * _PASS_LENGTH

    mode_at = offsets + pass_words
    vertical = ~horizontal
    values[mode_at[vertical]] = _VERTICAL_VALUES[modes.delta[vertical] + 3]
    lengths[mode_at[vertical]] = _VERTICAL_LENGTHS[modes.delta[vertical] + 3]

    horizontal_at = mode_at[horizontal]
    black = modes.black[horizontal]
    first_values, first_lengths = _run_codes(modes.a0a1[horizontal], black)
    second_values, second_lengths = _run_codes(modes.a1a2[horizontal], ~black)
    values[horizontal_at] = (np.uint64(_HORIZONTAL_VALUE) << first_lengths.astype(np.uint64)) | first_values
    lengths[horizontal_at] = _HORIZONTAL_LENGTH + first_lengths
    values[horizontal_at + 1] = second_values
    lengths[horizontal_at + 1] = second_lengths
    return _RowCodes(row=np.repeat(modes.row, counts), value=values, length=lengths)


def _merge_rows(parts: list[_RowCodes]) -> _RowCodes:
    row = np.concatenate([part.row for part in parts])
    order = np.argsort(row, kind="stable")
    return _RowCodes(
        row=row[order],
        value=np.concatenate([part.value for part in parts])[order],
        length=np.concatenate([part.length for part in parts])[order],
    )


def _lay_out(
    data: _RowCodes, rows: int, prefix: tuple[CodeArray, IntArray] | None, min_row_bits: int
) -> tuple[CodeArray, IntArray]:
    """Put each row's prefix (EOL), its data codes and its zero fill one after the other."""
    data_counts = np.bincount(data.row, minlength=rows).astype(np.int64)
    data_bits = np.bincount(data.row, weights=data.length, minlength=rows).astype(np.int64)
    has_prefix = int(prefix is not None)
    has_fill = int(min_row_bits > 0)
    row_sizes = data_counts + has_prefix + has_fill
    row_starts = _starts(row_sizes)
    values = np.zeros(int(row_sizes.sum()), dtype=np.uint64)
    lengths = np.zeros(len(values), dtype=np.int64)
    data_at = np.repeat(row_starts + has_prefix, data_counts) + _local_index(data_counts)
    values[data_at] = data.value
    lengths[data_at] = data.length
    row_bits = data_bits
    if prefix is not None:
        values[row_starts], lengths[row_starts] = prefix
        row_bits = row_bits + prefix[1]
    if has_fill:
        lengths[row_starts + row_sizes - 1] = np.maximum(0, min_row_bits - row_bits)
    return values, lengths


def encode_page(
    bitmap: npt.NDArray[np.uint8],
    scheme: Scheme,
    *,
    k: int = 2,
    min_row_bits: int = 0,
    bit_order: BitOrder = "lsb",
) -> EncodedPage:
    """Code a packed bitmap (rows, width // 8; MSB-first; 1 = black) as a Class 1 sender transmits it.

    MH and MR rows each start with an EOL (MR: EOL+1 before a 1D row, EOL+0 before a 2D row, one 1D
    row every `k` rows) and are zero-filled to at least `min_row_bits` bits including the EOL; the
    page ends with RTC. MMR (T.6, sent only under ECM, so without fill) ends with EOFB. `bit_order`
    "lsb" gives line order for a Class 1 modem, "msb" gives TIFF FillOrder 1.
    """
    if bitmap.dtype != np.uint8 or bitmap.ndim != 2:
        raise ValueError("bitmap must be a 2-D uint8 array of packed rows")
    rows, row_bytes = bitmap.shape
    width = row_bytes * 8
    if not 0 < width <= MAX_WIDTH:
        raise ValueError(f"page width must be 8..{MAX_WIDTH} pixels, not {width}")
    if min_row_bits < 0:
        raise ValueError("min_row_bits must not be negative")
    if scheme == "MR" and k < 1:
        raise ValueError("k must be at least 1")
    if scheme not in ("MH", "MR", "MMR"):
        raise ValueError(f"unknown scheme {scheme!r}")
    if scheme == "MMR" and min_row_bits:
        raise ValueError("MMR has no fill: there is no minimum scan-line time under ECM")

    changes = _changing_elements(np.ascontiguousarray(bitmap))
    values, lengths = _lay_out(_data_codes(changes, rows, scheme, k), rows, _row_prefix(rows, scheme, k), min_row_bits)
    trailer_values, trailer_lengths = _page_end(scheme)
    values = np.concatenate([values, trailer_values])
    lengths = np.concatenate([lengths, trailer_lengths])
    return EncodedPage(data=pack_codes(values, lengths, bit_order), rows=rows)


def _data_codes(changes: _Changes, rows: int, scheme: Scheme, k: int) -> _RowCodes:
    """The codes of every row's pixels: MH all 1D, MR 1D every k-th row, MMR all 2D (the first row
    against an imaginary white row)."""
    index = np.arange(rows, dtype=np.int64)
    if scheme == "MH":
        return _one_dimensional(changes, index)
    if scheme == "MMR":
        return _two_dimensional(changes, index, index - 1)
    one_dimensional = index % k == 0
    two_d_rows = index[~one_dimensional]
    return _merge_rows(
        [_one_dimensional(changes, index[one_dimensional]), _two_dimensional(changes, two_d_rows, two_d_rows - 1)]
    )


def _row_prefix(rows: int, scheme: Scheme, k: int) -> tuple[CodeArray, IntArray] | None:
    """EOL before each row (MR: EOL+1 before a 1D row, EOL+0 before a 2D row); none in MMR."""
    if scheme == "MMR":
        return None
    if scheme == "MH":
        return np.full(rows, _EOL_VALUE, dtype=np.uint64), np.full(rows, _EOL_BITS, dtype=np.int64)
    tags = (np.arange(rows) % k == 0).astype(np.uint64)
    return np.uint64(_EOL_VALUE << 1) | tags, np.full(rows, _EOL_BITS + 1, dtype=np.int64)


def _page_end(scheme: Scheme) -> tuple[CodeArray, IntArray]:
    """RTC (six EOLs; EOL+1 in MR) after T.4 data, EOFB (two EOLs) after T.6 data."""
    if scheme == "MR":
        return (
            np.full(_RTC_EOLS, _EOL_VALUE << 1 | 1, dtype=np.uint64),
            np.full(_RTC_EOLS, _EOL_BITS + 1, dtype=np.int64),
        )
    count = _RTC_EOLS if scheme == "MH" else _EOFB_EOLS
    return np.full(count, _EOL_VALUE, dtype=np.uint64), np.full(count, _EOL_BITS, dtype=np.int64)
