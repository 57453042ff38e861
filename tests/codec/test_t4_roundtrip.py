"""Pages survive our own encode and decode unchanged, in every scheme, width and bit order."""

from __future__ import annotations

import numpy as np
import pytest

from modem.t4 import Scheme, decode_page, encode_page
from tests.codec.t4_samples import alternating_page, halftone_page, pass_mode_page, random_page, text_page

SCHEMES: list[Scheme] = ["MH", "MR", "MMR"]


def _pages(width: int) -> dict[str, np.ndarray]:
    return {
        "text": text_page(rows=300, width=width),
        "blank": np.zeros((40, width // 8), dtype=np.uint8),
        "black": np.full((40, width // 8), 0xFF, dtype=np.uint8),
        "passes": pass_mode_page(20, width),
        "alternating": alternating_page(40, width),
        "random": random_page(60, width, density=0.3),
        "sparse": random_page(60, width, density=0.005),
        "halftone": halftone_page(rows=80, width=width),
    }


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", [1728, 2048, 2432, 4864])
def test_every_page_round_trips_pixel_identical(scheme: Scheme, width: int) -> None:
    for name, page in _pages(width).items():
        encoded = encode_page(page, scheme, k=4)
        decoded = decode_page(encoded.data, scheme, width=width)
        assert encoded.rows == page.shape[0]
        assert decoded.rows == page.shape[0], name
        assert decoded.bad_rows == 0, name
        assert decoded.end_marker_seen, name
        np.testing.assert_array_equal(decoded.bitmap, page, err_msg=name)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_full_fine_page_round_trips_with_both_bit_orders(scheme: Scheme) -> None:
    page = text_page(rows=2300)
    lsb = encode_page(page, scheme, k=4)
    msb = encode_page(page, scheme, k=4, bit_order="msb")
    reverse = bytes(int(f"{value:08b}"[::-1], 2) for value in range(256))
    assert lsb.data == msb.data.translate(reverse)
    for data, order in ((lsb.data, "lsb"), (msb.data, "msb")):
        decoded = decode_page(data, scheme, bit_order=order)  # type: ignore[arg-type]
        assert (decoded.rows, decoded.bad_rows, decoded.end_marker_seen) == (2300, 0, True)
        np.testing.assert_array_equal(decoded.bitmap, page)


@pytest.mark.parametrize("k", [1, 2, 4, 7])
def test_mr_round_trips_for_any_k(k: int) -> None:
    page = text_page(rows=120, seed=3)
    decoded = decode_page(encode_page(page, "MR", k=k, min_row_bits=100).data, "MR")
    assert decoded.bad_rows == 0
    np.testing.assert_array_equal(decoded.bitmap, page)


def test_row_starting_black_and_row_ending_black_round_trip() -> None:
    page = np.zeros((4, 216), dtype=np.uint8)
    page[0, 0] = 0x80  # first pixel black
    page[1, -1] = 0x01  # last pixel black
    page[2, :] = 0xFF
    page[3, 100:] = 0xFF  # black from the middle to the end of the row
    for scheme in SCHEMES:
        decoded = decode_page(encode_page(page, scheme).data, scheme)
        np.testing.assert_array_equal(decoded.bitmap, page, err_msg=scheme)


def test_two_dimensional_coding_is_smaller_than_one_dimensional_on_text() -> None:
    page = text_page(rows=600)
    sizes = {scheme: len(encode_page(page, scheme, k=4).data) for scheme in SCHEMES}
    assert sizes["MMR"] < sizes["MR"] < sizes["MH"]


def test_encoder_rejects_what_it_cannot_code() -> None:
    page = np.zeros((2, 216), dtype=np.uint8)
    with pytest.raises(ValueError, match="MMR"):
        encode_page(page, "MMR", min_row_bits=100)
    with pytest.raises(ValueError, match="k"):
        encode_page(page, "MR", k=0)
    with pytest.raises(ValueError, match="uint8"):
        encode_page(page.astype(np.int32), "MH")
