"""Test documents for the fax engine: text-like pages drawn with Pillow, and fax TIFFs of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from modem.faxtiff import write_fax_tiff

Bitmap = npt.NDArray[np.uint8]
WORDS = ["fax", "gateway", "invoice", "Total:", "1234.56", "Dear", "customer,", "please", "sign", "ITU-T", "T.30"]


def text_page(fine: bool = False, seed: int = 0, rows: int | None = None) -> Bitmap:
    """An A4 page of text lines (1728 px wide), packed MSB-first, 1 = black."""
    rows = rows or (2200 if fine else 1100)
    image = Image.new("L", (1728, rows), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30 if fine else 16)
    rng = np.random.default_rng(seed)
    step = 44 if fine else 22
    for y in range(40, rows - 60, step):
        line = " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), 14))
        draw.text((90, y), line, fill=0, font=font)
    draw.rectangle((90, 10, 1638, 16), fill=0)
    pixels = np.asarray(image) < 128
    return np.packbits(pixels, axis=1)


def document(fine: bool = False, pages: int = 2, seed: int = 0) -> list[Bitmap]:
    """Several different text pages."""
    return [text_page(fine, seed + n) for n in range(pages)]


def write_document(path: Path, bitmaps: list[Bitmap], fine: bool) -> Path:
    """A TIFF Class F file of these pages."""
    write_fax_tiff(path, bitmaps, compression="g4", fine=fine)
    return path
