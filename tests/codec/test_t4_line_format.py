"""The page stream has the framing a Class 1 receiver expects: EOLs, tags, fill, RTC, EOFB, bit order."""

from __future__ import annotations

import numpy as np
import pytest

from modem.t4 import Scheme, decode_page, encode_page
from tests.codec.t4_samples import random_page, text_page

EOL = "000000000001"


def _line_bits(data: bytes) -> str:
    """The bits in the order the modem sends them (each byte LSB first)."""
    return "".join(f"{byte:08b}"[::-1] for byte in data)


def _eol_ends(bits: str) -> list[int]:
    """Index just past every EOL (11 or more zeros and a one)."""
    ends, zeros = [], 0
    for index, bit in enumerate(bits):
        if bit == "1":
            if zeros >= 11:
                ends.append(index + 1)
            zeros = 0
        else:
            zeros += 1
    return ends


def test_mh_page_is_eol_row_eol_row_then_rtc() -> None:
    page = text_page(rows=60, seed=4)
    bits = _line_bits(encode_page(page, "MH").data)
    assert bits.startswith(EOL)
    ends = _eol_ends(bits)
    assert len(ends) == 60 + 6
    assert bits.rstrip("0").endswith(EOL * 6)
    assert len(bits) - len(bits.rstrip("0")) < 8  # only zero padding to the byte after RTC


@pytest.mark.parametrize("k", [2, 4])
def test_mr_tags_mark_one_1d_row_every_k_rows_and_rtc_is_six_eol_plus_1(k: int) -> None:
    page = text_page(rows=40, seed=5)
    bits = _line_bits(encode_page(page, "MR", k=k).data)
    ends = _eol_ends(bits)
    assert len(ends) == 40 + 6
    tags = [bits[end] for end in ends[:40]]
    assert tags == ["1" if row % k == 0 else "0" for row in range(40)]
    assert bits.rstrip("0").endswith((EOL + "1") * 6)


def test_mmr_page_has_no_eols_and_ends_with_eofb() -> None:
    page = text_page(rows=80, seed=6)
    bits = _line_bits(encode_page(page, "MMR").data)
    assert _eol_ends(bits) == [len(bits.rstrip("0")) - 12, len(bits.rstrip("0"))]
    assert bits.rstrip("0").endswith(EOL * 2)


@pytest.mark.parametrize("scheme", ["MH", "MR"])
@pytest.mark.parametrize("min_row_bits", [96, 288, 1152])
def test_every_row_with_its_eol_carries_at_least_the_minimum_bits(scheme: Scheme, min_row_bits: int) -> None:
    """1152 bits is a 40 ms scan line at 28800 bit/s; short rows are zero-filled up to the minimum."""
    page = text_page(rows=150, seed=8)
    page[70:75] = random_page(5, 1728, density=0.4)  # some rows longer than any minimum here
    padded = _line_bits(encode_page(page, scheme, k=2, min_row_bits=min_row_bits).data)
    bare = _line_bits(encode_page(page, scheme, k=2).data)
    padded_ends, bare_ends = _eol_ends(padded), _eol_ends(bare)
    for row in range(150):
        # From the start of this row's EOL to the start of the next EOL (or RTC).
        padded_length = padded_ends[row + 1] - padded_ends[row]
        bare_length = bare_ends[row + 1] - bare_ends[row]
        assert padded_length == max(bare_length, min_row_bits), row
    decoded = decode_page(encode_page(page, scheme, min_row_bits=min_row_bits).data, scheme)
    assert decoded.bad_rows == 0
    np.testing.assert_array_equal(decoded.bitmap, page)


def test_fill_is_only_zeros_placed_before_the_next_eol() -> None:
    page = np.zeros((3, 216), dtype=np.uint8)
    bits = _line_bits(encode_page(page, "MH", min_row_bits=200).data)
    white_row = "010011011" + "00110101"  # make-up 1728, then terminating white 0
    row = EOL + white_row + "0" * (200 - 12 - len(white_row))
    assert bits.startswith(row * 3 + EOL * 6)


def test_lsb_first_is_the_msb_first_stream_with_each_byte_reversed() -> None:
    page = text_page(rows=50, seed=9)
    schemes: list[Scheme] = ["MH", "MR", "MMR"]
    for scheme in schemes:
        lsb = encode_page(page, scheme).data
        msb = encode_page(page, scheme, bit_order="msb").data
        assert _line_bits(lsb) == "".join(f"{byte:08b}" for byte in msb)
