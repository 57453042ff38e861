"""Our codec against fax TIFFs from modem.faxtiff (the system libtiff), the files faxgate stores and sends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

from modem.faxtiff import Compression, read_fax_tiff, write_fax_tiff
from modem.t4 import Scheme, decode_page, encode_page
from tests.codec.t4_samples import halftone_page, random_page, text_page, tiff_with_strip

SCHEME_OF: dict[Compression, Scheme] = {"g3_1d": "MH", "g3_2d": "MR", "g4": "MMR"}


def _strips_per_page(path: Path) -> list[bytes]:
    data = path.read_bytes()
    strips = []
    with Image.open(path) as image:
        assert isinstance(image, TiffImagePlugin.TiffImageFile)
        for index in range(image.n_frames):
            image.seek(index)
            offsets, counts = image.tag_v2[273], image.tag_v2[279]
            strips.append(b"".join(data[o : o + c] for o, c in zip(offsets, counts, strict=True)))
    return strips


@pytest.mark.parametrize("compression", ["g3_1d", "g3_2d", "g4"])
def test_we_decode_the_strips_of_a_faxtiff_document(compression: Compression, tmp_path: Path) -> None:
    """faxtiff writes G3 with fill bits (byte-aligned EOLs) and no RTC, G4 with EOFB."""
    pages = [text_page(rows=500, seed=21), halftone_page(rows=120), random_page(40, 1728, 0.02)]
    path = tmp_path / "document.tif"
    write_fax_tiff(path, pages, compression=compression)
    strips = _strips_per_page(path)
    assert len(strips) == 3
    for page, strip in zip(pages, strips, strict=True):
        decoded = decode_page(strip, SCHEME_OF[compression], bit_order="msb")
        assert (decoded.rows, decoded.bad_rows) == (page.shape[0], 0)
        np.testing.assert_array_equal(decoded.bitmap, page)


@pytest.mark.parametrize("scheme", ["MH", "MR", "MMR"])
def test_faxtiff_reads_our_data_wrapped_as_a_tiff(scheme: Scheme, tmp_path: Path) -> None:
    """What a receiver could store without re-encoding: our received-page bytes as a TIFF strip."""
    page = text_page(rows=400, seed=22)
    strip = encode_page(page, scheme, k=4, min_row_bits=0 if scheme == "MMR" else 288, bit_order="msb").data
    path = tmp_path / "page.tif"
    path.write_bytes(tiff_with_strip(strip, scheme, rows=400, width=1728))
    [read] = list(read_fax_tiff(path))
    np.testing.assert_array_equal(read.bitmap, page)
