"""Sample pages and a libtiff oracle (through Pillow) for the T.4/T.6 codec tests."""

from __future__ import annotations

import io
import struct

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont, TiffImagePlugin

from modem.t4 import Scheme

Bitmap = npt.NDArray[np.uint8]

_COMPRESSION = {"MH": 3, "MR": 3, "MMR": 4}
_T4_OPTIONS = {"MH": 0, "MR": 1}


def text_page(rows: int = 2200, width: int = 1728, seed: int = 0) -> Bitmap:
    """A page of lines of text drawn with Pillow, like a rendered letter."""
    image = Image.new("L", (width, rows), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    rng = np.random.default_rng(seed)
    words = ["fax", "gateway", "invoice", "Total:", "1234.56", "Dear", "customer,", "please", "sign", "ITU-T"]
    for y in range(60, rows - 60, 40):
        line = " ".join(words[i] for i in rng.integers(0, len(words), 12))
        draw.text((80, y), line, fill=0, font=font)
    draw.rectangle((80, 20, width - 80, 40), fill=0)
    return np.packbits(np.asarray(image) < 128, axis=1)


def halftone_page(rows: int = 1100, width: int = 1728) -> Bitmap:
    """An ordered-dither grey ramp with a circle: many short runs, the hard case for MH/MR."""
    y, x = np.mgrid[0:rows, 0:width]
    grey = (x / width * 0.6 + 0.4 * (np.hypot(x - width / 2, y - rows / 2) < rows / 3)) % 1.0
    threshold = (np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) + 0.5) / 16
    return np.packbits(grey > threshold[y % 4, x % 4], axis=1)


def random_page(rows: int, width: int, density: float, seed: int = 1) -> Bitmap:
    return np.packbits(np.random.default_rng(seed).random((rows, width)) < density, axis=1)


def alternating_page(rows: int, width: int) -> Bitmap:
    """Every pixel differs from its neighbours: the most changes a row can have."""
    checker = (np.indices((rows, width)).sum(axis=0) % 2).astype(bool)
    return np.packbits(checker, axis=1)


def tiff_with_strip(strip: bytes, scheme: Scheme, rows: int, width: int) -> bytes:
    """A one-strip bilevel TIFF around raw MSB-first T.4/T.6 data, for libtiff to decode."""
    entries: list[tuple[int, int, int]] = [
        (256, 4, width),
        (257, 4, rows),
        (258, 3, 1),
        (259, 3, _COMPRESSION[scheme]),
        (262, 3, 0),  # WhiteIsZero: 1 = black, as in fax data
        (266, 3, 1),
        (273, 4, 0),  # patched below
        (277, 3, 1),
        (278, 4, rows),
        (279, 4, len(strip)),
    ]
    entries.append((292, 4, _T4_OPTIONS[scheme]) if scheme != "MMR" else (293, 4, 0))
    ifd_size = 2 + 12 * len(entries) + 4
    strip_offset = 8 + ifd_size
    out = io.BytesIO()
    out.write(b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    for tag, kind, value in entries:
        value = strip_offset if tag == 273 else value
        packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
        out.write(struct.pack("<HHI", tag, kind, 1) + packed)
    out.write(struct.pack("<I", 0) + strip)
    return out.getvalue()


def libtiff_decode(strip: bytes, scheme: Scheme, rows: int, width: int) -> Bitmap:
    """Pixels libtiff decodes from our MSB-first data."""
    with Image.open(io.BytesIO(tiff_with_strip(strip, scheme, rows, width))) as image:
        image.load()
        pixels = np.asarray(image.convert("L")) < 128
    return np.packbits(pixels, axis=1)


def libtiff_encode(bitmap: Bitmap, scheme: Scheme, fine: bool = True) -> bytes:
    """libtiff's own MSB-first strip for the bitmap (one strip, EOLs, no RTC for G3; EOFB for G4).

    Pillow's mode "1" bits go to libtiff as they are and libtiff codes 1 bits as black runs, so a
    bitmap with 1 = black gives fax-correct codes (only the file's Photometric tag says otherwise).
    """
    rows = bitmap.shape[0]
    image = Image.fromarray(np.unpackbits(bitmap, axis=1).astype(bool))
    info = {278: rows}
    if scheme != "MMR":
        info[292] = _T4_OPTIONS[scheme]
    out = io.BytesIO()
    compression = "group4" if scheme == "MMR" else "group3"
    image.save(out, format="TIFF", compression=compression, tiffinfo=info, dpi=(204, 196 if fine else 98))
    return tiff_strips(out.getvalue())


def tiff_strips(tiff: bytes) -> bytes:
    """The concatenated raw strips of a TIFF file's first page."""
    with Image.open(io.BytesIO(tiff)) as saved:
        assert isinstance(saved, TiffImagePlugin.TiffImageFile)
        offsets = saved.tag_v2[273]
        counts = saved.tag_v2[279]
    return b"".join(tiff[offset : offset + count] for offset, count in zip(offsets, counts, strict=True))


def pass_mode_page(rows: int, width: int) -> Bitmap:
    """Busy rows above white ones: a white row under alternating pixels is coded as pass after pass."""
    page = alternating_page(rows, width)
    page[1::2] = 0
    page[2::4, : width // 16] = 0  # also rows that start white and turn busy
    return page
