"""A received TIFF as a PDF: one page per fax page, at the fax's true size, pixels unchanged (1-bit, no resampling)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from modem.faxtiff import read_fax_tiff


def _pymupdf() -> Any:
    import pymupdf

    module: Any = pymupdf
    module.TOOLS.mupdf_display_errors(False)
    module.TOOLS.mupdf_display_warnings(False)
    return module


def tiff_to_pdf(tiff: Path, title: str = "") -> bytes:
    """Convert a fax TIFF to PDF; each page keeps the fax's resolution so it prints at its real size."""
    pymupdf = _pymupdf()
    doc = pymupdf.open()
    try:
        for page in read_fax_tiff(tiff):
            image = Image.frombytes("1", (page.width, page.rows), np.invert(page.bitmap).tobytes())
            png = io.BytesIO()
            image.save(png, format="PNG", optimize=True)
            width_pt = page.width * 72.0 / page.xres
            height_pt = page.rows * 72.0 / page.yres
            pdf_page = doc.new_page(width=width_pt, height=height_pt)
            pdf_page.insert_image(pdf_page.rect, stream=png.getvalue(), keep_proportion=False)
        # Fixed metadata and no fresh /ID: the same TIFF always gives the same bytes, which is what lets the
        # folder method recognise its own earlier delivery after a crash.
        doc.set_metadata({"title": title, "creator": "faxgate", "producer": "faxgate", "creationDate": "",
                          "modDate": ""})
        return bytes(doc.tobytes(garbage=3, deflate=True, no_new_id=True))
    finally:
        doc.close()
