"""Received T.4/T.6 page data: damaged or random bytes decode to a bounded page of the right shape, never an
exception (decode_page documents ValueError only for a bad width, scheme or bit order), never a hang (the profile's
deadline bounds each example)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from modem.t4 import DecodedPage, Scheme, decode_page, encode_page
from tests.fuzz.mutate import mutated

_SCHEMES: list[Scheme] = ["MH", "MR", "MMR"]


@st.composite
def _bitmaps(draw: st.DrawFn) -> np.ndarray:
    """A small page: random noise, blocks and lines, so rows have few and many changes."""
    rows = draw(st.integers(1, 40))
    row_bytes = draw(st.sampled_from([1, 2, 8, 27, 216]))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([0.0, 0.02, 0.5, 0.98, 1.0]))
    rng = np.random.default_rng(seed)
    pixels = rng.random((rows, row_bytes * 8)) < density
    if draw(st.booleans()):  # copy rows down, as text and rules do: long runs of V0 codes in MR/MMR
        pixels[1:] = pixels[:1]
    return np.packbits(pixels, axis=1)


@st.composite
def _encoded(draw: st.DrawFn) -> tuple[np.ndarray, Scheme, int, bytes]:
    bitmap = draw(_bitmaps())
    scheme = draw(st.sampled_from(_SCHEMES))
    k = draw(st.integers(1, 4))
    fill = 0 if scheme == "MMR" else draw(st.sampled_from([0, 0, 96, 480]))
    return bitmap, scheme, k, encode_page(bitmap, scheme, k=k, min_row_bits=fill).data


def _check(page: DecodedPage, width: int, max_rows: int) -> None:
    assert 0 <= page.rows <= max_rows
    assert page.bitmap.shape == (page.rows, width // 8) and page.bitmap.dtype == np.uint8
    assert 0 <= page.longest_bad_run <= page.bad_rows <= page.rows


@given(_encoded())
def test_undamaged_pages_decode_to_the_pixels_sent(case: tuple[np.ndarray, Scheme, int, bytes]) -> None:
    bitmap, scheme, _, data = case
    page = decode_page(data, scheme, width=bitmap.shape[1] * 8)
    assert page.bad_rows == 0 and page.end_marker_seen
    assert np.array_equal(page.bitmap, bitmap)


@given(
    _encoded().flatmap(lambda case: st.tuples(st.just(case), mutated(st.just(case[3]), max_edits=6))),
    st.sampled_from(_SCHEMES), st.booleans(), st.integers(1, 64),
)
def test_damaged_pages_decode_bounded(case: tuple[tuple[np.ndarray, Scheme, int, bytes], bytes], scheme: Scheme,
                                      same_scheme: bool, max_rows: int) -> None:
    (bitmap, sent_scheme, _, _), data = case
    width = bitmap.shape[1] * 8
    scheme = sent_scheme if same_scheme else scheme
    _check(decode_page(data, scheme, width=width, max_rows=max_rows), width, max_rows)


@given(st.binary(max_size=8192), st.sampled_from(_SCHEMES), st.sampled_from([8, 64, 1728, 2432]),
       st.sampled_from(["lsb", "msb"]), st.integers(1, 20000))
def test_random_bytes_decode_bounded(data: bytes, scheme: Scheme, width: int, bit_order: str,
                                     max_rows: int) -> None:
    page = decode_page(data, scheme, width=width, bit_order="msb" if bit_order == "msb" else "lsb",
                       max_rows=max_rows)
    _check(page, width, max_rows)
