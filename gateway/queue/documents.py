"""A job's pages as people want them: the stored TIFF, a PDF of it, a PNG thumbnail of a page."""

from __future__ import annotations

import io
import tempfile
from typing import Any

import numpy as np
from PIL import Image

from modem.faxtiff import FaxPage, read_fax_tiff

_FAX_XRES = 204.0


def tiff_pages(data: bytes) -> list[FaxPage]:
    """Decode a stored TIFF Class F document."""
    with tempfile.NamedTemporaryFile(suffix=".tif") as handle:
        handle.write(data)
        handle.flush()
        return list(read_fax_tiff(handle.name))


def page_image(page: FaxPage) -> Image.Image:
    """A page as a 1-bit image at its true aspect ratio (standard resolution rows doubled)."""
    bits = np.unpackbits(page.bitmap, axis=1)[:, : page.width]
    image = Image.fromarray(((1 - bits) * 255).astype(np.uint8), mode="L")
    if not page.fine:
        image = image.resize((image.width, image.height * 2), Image.Resampling.NEAREST)
    return image


def page_png(page: FaxPage, width: int | None = None) -> bytes:
    """PNG of a page, optionally scaled down to ``width`` pixels (a thumbnail)."""
    image = page_image(page)
    if width is not None and width < image.width:
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def load_pymupdf() -> Any:
    """PyMuPDF, imported on first use (it is heavy)."""
    import pymupdf

    return pymupdf


def pages_pdf(pages: list[FaxPage]) -> bytes:
    """A PDF with one page per fax page, each at its physical size."""
    pymupdf = load_pymupdf()
    document = pymupdf.open()
    for page in pages:
        image = page_image(page)
        width_pt = page.width / _FAX_XRES * 72.0
        height_pt = page.rows / page.yres * 72.0
        pdf_page = document.new_page(width=width_pt, height=height_pt)
        out = io.BytesIO()
        image.convert("1").save(out, format="PNG")
        pdf_page.insert_image(pdf_page.rect, stream=out.getvalue())
    data: bytes = document.tobytes(deflate=True)
    document.close()
    return data
