"""Received data with line errors: bad rows are counted and patched, MH/MR resynchronise, nothing raises."""

from __future__ import annotations

import numpy as np
import pytest

from modem.t4 import Scheme, decode_page, encode_page
from tests.codec.t4_samples import text_page

ROWS = 400


def _flip(data: bytes, bit_index: int) -> bytes:
    """Flip one bit, counted in line order (LSB of each byte first)."""
    damaged = bytearray(data)
    damaged[bit_index // 8] ^= 1 << (bit_index % 8)
    return bytes(damaged)


def _row_starts(data: bytes) -> list[int]:
    """Line-order bit index just past each EOL."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    ones = np.flatnonzero(bits)
    gaps = np.diff(ones, prepend=-1) - 1
    return [int(one) + 1 for one in ones[gaps >= 11]]


def _damage_rows(data: bytes, rows: list[int]) -> bytes:
    """Flip the bit in the middle of each of these rows' codes (data without fill)."""
    starts = _row_starts(data)
    for row in rows:
        data = _flip(data, (starts[row] + starts[row + 1] - 12) // 2)
    return data


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return text_page(rows=ROWS, seed=11)


def test_mh_bad_rows_are_counted_replaced_by_the_row_above_and_decoding_resyncs(page: np.ndarray) -> None:
    damaged_rows = [105, 106, 107, 250]
    data = _damage_rows(encode_page(page, "MH").data, damaged_rows)
    decoded = decode_page(data, "MH")
    assert decoded.rows == ROWS
    assert decoded.bad_rows == 4
    assert decoded.longest_bad_run == 3
    assert decoded.end_marker_seen
    expected = page.copy()
    expected[[105, 106, 107]] = page[104]
    expected[250] = page[249]
    np.testing.assert_array_equal(decoded.bitmap, expected)


def test_mr_bad_row_costs_the_rows_coded_against_it_until_the_next_1d_row(page: np.ndarray) -> None:
    data = _damage_rows(encode_page(page, "MR", k=4).data, [105])  # 104 is 1D; 105..107 are 2D
    decoded = decode_page(data, "MR")
    assert (decoded.rows, decoded.bad_rows, decoded.longest_bad_run) == (ROWS, 3, 3)
    expected = page.copy()
    expected[105:108] = page[104]
    np.testing.assert_array_equal(decoded.bitmap, expected)


def test_mr_damaged_1d_row_spoils_its_block(page: np.ndarray) -> None:
    data = _damage_rows(encode_page(page, "MR", k=2).data, [60])
    decoded = decode_page(data, "MR")
    assert (decoded.rows, decoded.bad_rows) == (ROWS, 2)
    np.testing.assert_array_equal(decoded.bitmap[62:], page[62:])


def test_mmr_error_ends_the_page_at_the_damaged_row(page: np.ndarray) -> None:
    clean = encode_page(page, "MMR").data
    decoded = decode_page(clean[: len(clean) // 2] + b"\x00" * 8, "MMR")
    assert decoded.bad_rows == 1
    assert not decoded.end_marker_seen
    good = decoded.rows - 1
    assert 0 < good < ROWS
    np.testing.assert_array_equal(decoded.bitmap[:good], page[:good])


@pytest.mark.parametrize("scheme", ["MH", "MR", "MMR"])
def test_truncated_page_has_no_end_marker_and_keeps_the_rows_received(scheme: Scheme, page: np.ndarray) -> None:
    data = encode_page(page, scheme).data
    decoded = decode_page(data[: len(data) * 3 // 4], scheme)
    assert not decoded.end_marker_seen
    assert ROWS // 2 < decoded.rows < ROWS
    intact = decoded.rows - 1  # the last row may be cut in the middle
    np.testing.assert_array_equal(decoded.bitmap[:intact], page[:intact])


@pytest.mark.parametrize("scheme", ["MH", "MR", "MMR"])
def test_garbage_never_raises(scheme: Scheme, page: np.ndarray) -> None:
    rng = np.random.default_rng(12)
    clean = encode_page(page[:100], scheme).data
    samples = [b"", b"\x00", b"\xff" * 50, b"\x00" * 500, bytes(range(256)) * 20]
    for _ in range(60):
        samples.append(rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes())
        sparse = rng.choice(np.array([0, 0, 0, 1, 0x80, 0xFF, 0x10], dtype=np.uint8), int(rng.integers(1, 4000)))
        samples.append(sparse.tobytes())
        damaged = bytearray(clean)
        for _ in range(int(rng.integers(1, 40))):
            damaged[int(rng.integers(0, len(damaged)))] = int(rng.integers(0, 256))
        samples.append(bytes(damaged[: int(rng.integers(1, len(damaged) + 1))]))
    for data in samples:
        for width in (1728, 2432):
            decoded = decode_page(data, scheme, width=width)
            assert decoded.bitmap.shape == (decoded.rows, width // 8)
            assert 0 <= decoded.longest_bad_run <= decoded.bad_rows <= decoded.rows


def test_a_row_lost_between_two_eols_is_a_bad_row_not_the_end_of_page(page: np.ndarray) -> None:
    data = encode_page(page, "MH").data
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    starts = _row_starts(data)
    without_row_50 = np.concatenate([bits[: starts[50]], bits[starts[51] - 12 :]])
    decoded = decode_page(np.packbits(without_row_50, bitorder="little").tobytes(), "MH")
    assert (decoded.rows, decoded.bad_rows, decoded.end_marker_seen) == (ROWS, 1, True)
    expected = page.copy()
    expected[50] = page[49]
    np.testing.assert_array_equal(decoded.bitmap, expected)


@pytest.mark.parametrize("scheme", ["MH", "MR", "MMR"])
def test_page_size_is_bounded_whatever_the_data(scheme: Scheme) -> None:
    """Every "1" bit is a whole white row in MMR; an endless page must stop at max_rows."""
    endless = b"\xff" * 20_000 if scheme == "MMR" else _endless_rows(scheme)
    decoded = decode_page(endless, scheme, max_rows=500)
    assert decoded.rows == 500
    assert not decoded.end_marker_seen
    assert not decoded.bitmap.any()


def _endless_rows(scheme: Scheme) -> bytes:
    """Many blank rows without RTC: the encoding of a long blank page, RTC cut off."""
    data = encode_page(np.zeros((4000, 216), dtype=np.uint8), scheme).data
    return data[: len(data) - 12]
