"""Cross-checks against libtiff (through Pillow), an independent T.4/T.6 implementation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from modem.t4 import Scheme, decode_page, encode_page
from tests.codec.t4_samples import (
    alternating_page,
    halftone_page,
    libtiff_decode,
    libtiff_encode,
    pass_mode_page,
    random_page,
    text_page,
    tiff_strips,
)

SCHEMES: list[Scheme] = ["MH", "MR", "MMR"]


def _pages(width: int) -> dict[str, np.ndarray]:
    return {
        "text": text_page(rows=400, width=width),
        "blank": np.zeros((20, width // 8), dtype=np.uint8),
        "black": np.full((20, width // 8), 0xFF, dtype=np.uint8),
        "passes": pass_mode_page(20, width),
        "alternating": alternating_page(30, width),
        "random": random_page(50, width, density=0.2),
        "halftone": halftone_page(rows=60, width=width),
    }


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", [1728, 2048, 4864])
def test_libtiff_decodes_our_data_to_the_same_pixels(scheme: Scheme, width: int) -> None:
    for name, page in _pages(width).items():
        ours = encode_page(page, scheme, k=4, bit_order="msb").data
        np.testing.assert_array_equal(libtiff_decode(ours, scheme, page.shape[0], width), page, err_msg=name)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("fine", [True, False])
def test_we_decode_libtiff_data_to_the_same_pixels(scheme: Scheme, fine: bool) -> None:
    for name, page in _pages(1728).items():
        decoded = decode_page(libtiff_encode(page, scheme, fine), scheme, bit_order="msb")
        assert (decoded.rows, decoded.bad_rows) == (page.shape[0], 0), name
        np.testing.assert_array_equal(decoded.bitmap, page, err_msg=name)
        # libtiff's G3 strips carry no RTC (TIFF Class F leaves it out); its G4 strips end with EOFB.
        assert decoded.end_marker_seen == (scheme == "MMR"), name


@pytest.mark.parametrize(
    ("scheme", "fine", "k"), [("MH", True, 2), ("MR", False, 2), ("MR", True, 4), ("MMR", True, 2)]
)
def test_our_codes_are_bit_identical_to_libtiffs_before_the_page_end(scheme: Scheme, fine: bool, k: int) -> None:
    """libtiff picks K=2 at 98 dpi and K=4 at 196 dpi; with the same K both encoders agree bit for bit."""
    page = text_page(rows=500, seed=7)
    theirs = libtiff_encode(page, scheme, fine)
    ours = encode_page(page, scheme, k=k, bit_order="msb").data
    assert ours.startswith(theirs)
    # Then RTC (6 EOLs of 12 or 13 bits), which starts in libtiff's zero padding of the last byte.
    rtc_bits = {"MH": 72, "MR": 78, "MMR": 0}[scheme]
    assert (rtc_bits - 7 + 7) // 8 <= len(ours) - len(theirs) <= (rtc_bits + 7) // 8


@pytest.mark.parametrize("t4_options", [4, 5])
def test_we_decode_libtiff_data_with_byte_aligned_eols(t4_options: int) -> None:
    """T4Options bit 2 makes libtiff put fill before every EOL, as many senders do on the line."""
    page = text_page(rows=200, seed=2)
    image = Image.fromarray(np.unpackbits(page, axis=1).astype(bool))
    out = io.BytesIO()
    image.save(out, format="TIFF", compression="group3", tiffinfo={278: 200, 292: t4_options}, dpi=(204, 196))
    strip = tiff_strips(out.getvalue())
    decoded = decode_page(strip, "MR" if t4_options & 1 else "MH", bit_order="msb")
    assert (decoded.rows, decoded.bad_rows) == (200, 0)
    np.testing.assert_array_equal(decoded.bitmap, page)
