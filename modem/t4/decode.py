"""Tolerant decoding of received T.4 (MH, MR) and T.6 (MMR) page data, for copy-quality checks.

MH and MR data is first cut at every EOL (eleven or more zeros and a one: T.4 guarantees no valid row
contains that), so a damaged row costs only itself and decoding resumes at the next EOL. 1D rows are
then decoded all together (decode_1d), 2D rows one after the other against the row above
(decode_2d). Rows that fail are shown as the previous good row, as fax machines print them.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt

from modem.t4.bits import BitOrder, to_msb_first
from modem.t4.decode_1d import decode_1d_rows
from modem.t4.decode_2d import TwoDimensionalDecoder, reference_row
from modem.t4.encode import MAX_WIDTH, Scheme
from modem.t4.lookup import windows

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MAX_ROWS = 16384  # 2 m of paper at fine resolution: decoding stops there, whatever the data says
_MIN_EOL_ZEROS = 11
_RTC_EMPTY_ROWS = 2  # three EOLs back to back end the page: RTC (six EOLs) with room for line errors
_EOFB = 0x001001  # two EOLs, 24 bits


@dataclass(frozen=True)
class DecodedPage:
    """A received page: pixels plus the figures a receiver needs to judge copy quality."""

    bitmap: npt.NDArray[np.uint8]
    rows: int
    bad_rows: int
    longest_bad_run: int
    end_marker_seen: bool  # RTC (MH, MR) or EOFB (MMR) arrived


@dataclass(frozen=True)
class _Rows:
    """The page's rows as decoded: which are good, and the changing elements of the good ones."""

    good: BoolArray
    row: IntArray  # page row of each changing element, ascending
    column: IntArray  # ascending within a row

    @staticmethod
    def from_lists(good: list[bool], changes: list[list[int]]) -> _Rows:
        """Rows decoded one by one: `changes` holds the changing elements of each good row in order."""
        good_rows = np.flatnonzero(np.array(good, dtype=bool))
        counts = np.fromiter((len(row) for row in changes), dtype=np.int64, count=len(changes))
        return _Rows(
            good=np.array(good, dtype=bool),
            row=np.repeat(good_rows, counts),
            column=np.fromiter(chain.from_iterable(changes), dtype=np.int64, count=int(counts.sum())),
        )


@dataclass(frozen=True)
class _Segments:
    """Where each page row's codes lie between EOLs; row -1 in `eol` is a row lost between two EOLs."""

    eol: IntArray  # per page row: index of the EOL before it, -1 = lost
    start: IntArray  # per EOL: first bit after it (and after the MR tag bit)
    end: IntArray  # per EOL: where the next EOL begins
    last_one: IntArray  # per EOL: the last one bit before the next EOL
    one_dimensional: BoolArray  # per EOL: MH, or the MR tag bit says 1D
    rtc_seen: bool


def _segments(bits: npt.NDArray[np.uint8], two_dimensional: bool, max_rows: int) -> _Segments:
    """Cut the bit stream at its EOLs and decide which pieces are page rows and where RTC begins."""
    ones = np.flatnonzero(bits)
    eol_at = np.flatnonzero(np.diff(ones, prepend=-1) - 1 >= _MIN_EOL_ZEROS)
    if not len(eol_at):
        nothing = np.zeros(0, dtype=np.int64)
        return _Segments(nothing, nothing, nothing, nothing, nothing.astype(bool), rtc_seen=False)
    eol_end = ones[eol_at]
    start = eol_end + 1 + two_dimensional
    end = np.append(ones[eol_at[1:]] - _MIN_EOL_ZEROS, len(bits))
    last_one = ones[np.append(eol_at[1:], len(ones)) - 1]
    if two_dimensional:
        one_dimensional = bits[np.minimum(eol_end + 1, len(bits) - 1)].astype(bool)
    else:
        one_dimensional = np.ones(len(eol_at), dtype=bool)
    rows: list[int] = []
    empty_run = 0
    rtc_seen = False
    for index, empty in enumerate((last_one < start).tolist()):
        if len(rows) >= max_rows:
            break
        if empty:
            empty_run += 1
            if empty_run == _RTC_EMPTY_ROWS:
                rtc_seen = True
                break
            continue
        rows.extend([-1] * empty_run)  # one stray empty row is a row lost to a line error, not RTC
        empty_run = 0
        rows.append(index)
    return _Segments(
        eol=np.array(rows[:max_rows], dtype=np.int64),
        start=start,
        end=end,
        last_one=last_one,
        one_dimensional=one_dimensional,
        rtc_seen=rtc_seen,
    )


def _decode_with_eols(data: bytes, two_dimensional: bool, width: int, max_rows: int) -> tuple[_Rows, bool]:
    """Decode MH or MR rows between EOLs; return the rows and whether RTC ended the page."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    segments = _segments(bits, two_dimensional, max_rows)
    eol = segments.eol
    page_rows = len(eol)
    one_d_rows = np.flatnonzero((eol >= 0) & segments.one_dimensional[np.maximum(eol, 0)])
    one_d_eols = eol[one_d_rows]
    one_d = decode_1d_rows(windows(data), segments.start[one_d_eols], segments.end[one_d_eols], width)
    # A row is good only if nothing but fill follows its last code.
    clean = one_d.good & (segments.last_one[one_d_eols] < one_d.end_position)
    good = np.zeros(page_rows, dtype=bool)
    good[one_d_rows] = clean
    change_rows = one_d_rows[one_d.row]
    keep = clean[one_d.row]
    rows = _Rows(good=good, row=change_rows[keep], column=one_d.column[keep])
    if two_dimensional and len(one_d_rows) < page_rows:
        rows = _add_2d_rows(data, rows, segments, width)
    return rows, segments.rtc_seen


def _add_2d_rows(data: bytes, rows: _Rows, segments: _Segments, width: int) -> _Rows:
    """Decode the MR 2D rows in page order, each against the row above it (if that one is good)."""
    decoder = TwoDimensionalDecoder(data, width)
    good = rows.good.copy()
    one_d_offsets = np.searchsorted(rows.row, np.arange(len(good) + 1)).tolist()
    columns = rows.column
    starts, ends, last_ones = segments.start.tolist(), segments.end.tolist(), segments.last_one.tolist()
    one_dimensional = segments.one_dimensional.tolist()
    decoded_rows: list[int] = []
    decoded: list[list[int]] = []
    reference: list[int] | None = None
    for page_row, eol in enumerate(segments.eol.tolist()):
        if eol < 0 or one_dimensional[eol]:
            reference = None
            if good[page_row]:
                changes = columns[one_d_offsets[page_row] : one_d_offsets[page_row + 1]].tolist()
                reference = reference_row(changes, width)
            continue
        if reference is None:
            continue  # a 2D row whose reference row was lost
        decoder.position = starts[eol]
        row = decoder.decode_row(reference, ends[eol])
        if row is None or decoder.position > ends[eol] or last_ones[eol] >= decoder.position:
            reference = None
            continue
        good[page_row] = True
        decoded_rows.append(page_row)
        decoded.append(row)
        reference = reference_row(row, width)
    counts = np.fromiter((len(row) for row in decoded), dtype=np.int64, count=len(decoded))
    row_ids = np.concatenate([rows.row, np.repeat(np.array(decoded_rows, dtype=np.int64), counts)])
    column = np.concatenate([columns, np.fromiter(chain.from_iterable(decoded), dtype=np.int64)])
    order = np.argsort(row_ids, kind="stable")
    return _Rows(good=good, row=row_ids[order], column=column[order])


def _decode_mmr(data: bytes, width: int, max_rows: int) -> tuple[_Rows, bool]:
    """Decode T.6 rows until EOFB; without EOLs the first damaged row ends the page."""
    decoder = TwoDimensionalDecoder(data, width)
    end = len(data) * 8
    good: list[bool] = []
    decoded: list[list[int]] = []
    reference = reference_row([], width)
    window = decoder.windows
    ended = False
    while decoder.position < end and len(good) < max_rows:
        position = decoder.position
        if (window[position >> 3] >> (8 - (position & 7))) & 0xFFFFFF == _EOFB:
            ended = True
            break
        row = decoder.decode_row(reference, end)
        if row is None or decoder.position > end:
            good.append(False)
            break
        good.append(True)
        decoded.append(row)
        reference = reference_row(row, width)
    return _Rows.from_lists(good, decoded), ended


def _render(rows: _Rows, width: int) -> npt.NDArray[np.uint8]:
    """Packed bitmap of the page: good rows drawn from their runs, each bad row a copy of the last
    good row above it (white if there is none)."""
    good_rows = np.flatnonzero(rows.good)
    counts = np.bincount(rows.row, minlength=len(rows.good))[good_rows].astype(np.int64)
    sizes = counts + 2  # 0, the changing elements, width
    row_starts = np.cumsum(sizes) - sizes
    bounds = np.full(int(sizes.sum()), width, dtype=np.int64)
    bounds[row_starts] = 0
    change_starts = np.cumsum(counts) - counts
    bounds[np.repeat(row_starts + 1 - change_starts, counts) + np.arange(len(rows.column))] = rows.column
    runs = np.diff(bounds, append=width)
    runs[row_starts + sizes - 1] = 0  # from one row's end to the next row's start is no run
    black = ((np.arange(len(runs)) - np.repeat(row_starts, sizes)) & 1).astype(np.uint8)
    pixels = np.zeros((len(good_rows) + 1, width), dtype=np.uint8)  # the extra last row stays white
    pixels[:-1] = np.repeat(black, runs).reshape(len(good_rows), width)
    good_so_far = np.cumsum(rows.good)
    shown = np.where(good_so_far > 0, good_so_far - 1, len(good_rows))
    return np.packbits(pixels, axis=1)[shown]


def _longest_false_run(flags: BoolArray) -> int:
    """Length of the longest stretch of consecutive False values."""
    true_at = np.flatnonzero(np.concatenate(([True], flags, [True])))
    return int(np.diff(true_at).max() - 1)


def decode_page(
    data: bytes | bytearray | memoryview,
    scheme: Scheme,
    *,
    width: int = 1728,
    bit_order: BitOrder = "lsb",
    max_rows: int = MAX_ROWS,
) -> DecodedPage:
    """Decode received page data; damaged data never raises (only a bad width or scheme does).

    Bad rows (invalid codes, wrong length) are counted and shown as the previous good row; MH and MR
    resynchronise at the next EOL. `bit_order` "lsb" is Class 1 line order, "msb" TIFF FillOrder 1.
    Decoding stops after `max_rows` rows, so garbage cannot make a page of unbounded size.
    """
    if width % 8 or not 0 < width <= MAX_WIDTH:
        raise ValueError(f"width must be a multiple of 8 up to {MAX_WIDTH}, not {width}")
    msb_data = to_msb_first(bytes(data), bit_order)
    if scheme == "MMR":
        rows, ended = _decode_mmr(msb_data, width, max_rows)
    elif scheme in ("MH", "MR"):
        rows, ended = _decode_with_eols(msb_data, scheme == "MR", width, max_rows)
    else:
        raise ValueError(f"unknown scheme {scheme!r}")
    return DecodedPage(
        bitmap=_render(rows, width),
        rows=len(rows.good),
        bad_rows=int(len(rows.good) - rows.good.sum()),
        longest_bad_run=_longest_false_run(rows.good),
        end_marker_seen=ended,
    )
