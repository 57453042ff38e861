"""PDF pages to fax pages with PyMuPDF: grey render at fax geometry, threshold text, screen the photos.

PyMuPDF is imported here only, and this module only inside render workers, so the CLI starts fast.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from gateway.render.bilevel import Box, GrayImage, PageCanvas
from gateway.render.errors import RenderError, RenderErrorCode
from gateway.render.fit import fit_on_page
from gateway.render.options import RenderOptions
from modem.faxtiff import PackedBitmap

_configured = False


def load_pymupdf() -> Any:
    """Import PyMuPDF quietly (MuPDF prints repair warnings to stderr otherwise); untyped on purpose."""
    global _configured
    pymupdf: Any = importlib.import_module("pymupdf")
    if not _configured:
        pymupdf.TOOLS.mupdf_display_errors(False)
        pymupdf.TOOLS.mupdf_display_warnings(False)
        # Colour management buys nothing for black-and-white pages and costs a quarter of a photo page's time.
        pymupdf.TOOLS.set_icc(False)
        _configured = True
    return pymupdf


def open_pdf(data: bytes) -> Any:
    """Open a PDF, turning MuPDF's failures into plain errors."""
    pymupdf = load_pymupdf()
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:
        raise RenderError(RenderErrorCode.DAMAGED_PDF, "The PDF file is damaged and cannot be read.") from exc
    if doc.needs_pass and not doc.authenticate(""):
        doc.close()
        raise RenderError(
            RenderErrorCode.ENCRYPTED_PDF,
            "The PDF file is protected by a password; send it without the password protection.",
        )
    if doc.page_count < 1:
        doc.close()
        raise RenderError(RenderErrorCode.DAMAGED_PDF, "The PDF file is damaged: it has no readable pages.")
    return doc


def pdf_page_count(data: bytes) -> int:
    """Pages in a PDF (after the same checks as rendering)."""
    doc = open_pdf(data)
    try:
        return int(doc.page_count)
    finally:
        doc.close()


def render_pdf(data: bytes, options: RenderOptions, max_pages: int) -> Iterator[PackedBitmap]:
    """Yield one packed fax page per PDF page; refuse before rendering if there are more than `max_pages`."""
    doc = open_pdf(data)
    try:
        if doc.page_count > max_pages:
            raise RenderError(
                RenderErrorCode.TOO_MANY_PAGES,
                f"The PDF has {doc.page_count} pages; at most {options.max_pages} pages can be faxed in one job.",
            )
        check_inline_images(_form_streams(doc), options, "a drawing")
        for number in range(doc.page_count):
            try:
                page = doc[number]
                check_inline_images([page.read_contents()], options, f"page {number + 1}")
                bitmap = render_pdf_page(page, options)
            except RenderError:
                raise
            except Exception as exc:
                raise RenderError(
                    RenderErrorCode.DAMAGED_PDF, f"Page {number + 1} of the PDF file is damaged and cannot be drawn."
                ) from exc
            yield bitmap
    finally:
        doc.close()


def render_pdf_page(page: Any, options: RenderOptions) -> PackedBitmap:
    """One PDF page to one fax page."""
    pymupdf = load_pymupdf()
    geometry = options.geometry
    rect = page.rect
    if rect.width <= 0 or rect.height <= 0:
        raise RenderError(RenderErrorCode.DAMAGED_PDF, "A PDF page has no area.")
    place = fit_on_page(rect.width, rect.height, geometry, allow_upscale=True)
    matrix = pymupdf.Matrix(place.x_scale, place.y_scale)
    if place.rotate:
        matrix = matrix.prerotate(90)
    images = page.get_images()  # cheap: resources only; get_image_info parses the content
    check_image_sizes(page, images, options)
    has_images = bool(images)
    # Without pictures, anti-aliasing only blurs edges that the threshold then snaps back: skip it (faster,
    # thinner strokes like Ghostscript's). With pictures keep it, as it also smooths scaled images.
    pymupdf.TOOLS.set_aa_level(8 if has_images else 0)
    pix, gray, pix_x, pix_y = _render_gray(pymupdf, page, matrix)
    boxes: list[Box] = []
    for info in page.get_image_info() if has_images else ():
        if info.get("bpc", 8) == 1:
            continue  # bilevel scans and masks are already black and white: threshold them
        box = pymupdf.Rect(info["bbox"]) * matrix
        boxes.append((
            int(box.x0) - pix_x, int(box.y0) - pix_y, int(np.ceil(box.x1)) - pix_x, int(np.ceil(box.y1)) - pix_y
        ))
    canvas = PageCanvas.around(geometry, options.threshold, place.top, place.left, gray.shape)
    canvas.draw(gray, place.top, place.left, boxes)
    del pix, gray
    if has_images:
        pymupdf.TOOLS.store_shrink(100)  # decoded pictures are not reused by later pages: keep memory flat
    return canvas.packed()


def check_image_sizes(page: Any, images: list[tuple[Any, ...]], options: RenderOptions) -> None:
    """Refuse a page whose pictures (or their soft masks) claim more pixels than allowed: decompression bombs.

    Reads the image dictionaries only (`page.get_images()` entries: xref, smask, width, height, ...), so a
    30000 x 30000 picture that compresses to a few kilobytes is refused before MuPDF decodes it.
    """
    limit = options.max_image_pixels
    doc = page.parent
    for entry in images:
        smask, width, height = int(entry[1]), int(entry[2]), int(entry[3])
        sizes = [(width, height)]
        if smask > 0:
            sizes.append((_int_key(doc, smask, "Width"), _int_key(doc, smask, "Height")))
        for w, h in sizes:
            if w * h > limit:
                raise RenderError(
                    RenderErrorCode.IMAGE_TOO_LARGE,
                    f"Page {page.number + 1} of the PDF file holds an image that is too large ({w} x {h} pixels); "
                    f"at most {limit:,} pixels are accepted.",
                )


_INLINE_IMAGE = re.compile(rb"(?<![^\s\]>)])BI\s(.{0,2000}?)\sID\s", re.DOTALL)
_INLINE_SIZE = re.compile(rb"/(W|Width|H|Height)\s+(\d{1,12})")


def _form_streams(doc: Any) -> Iterator[bytes]:
    """The content of every Form XObject in the file (inline images hide there too)."""
    for xref in range(1, doc.xref_length()):
        if doc.xref_get_key(xref, "Subtype") == ("name", "/Form") and doc.xref_is_stream(xref):
            yield doc.xref_stream(xref) or b""


def check_inline_images(streams: Iterable[bytes], options: RenderOptions, where: str) -> None:
    """Refuse pictures written into a content stream (BI ... ID ... EI) that claim more pixels than allowed.

    MuPDF decodes inline images as it draws, outside the checks on image objects, so their declared size is
    read from the content itself, before anything is drawn.
    """
    limit = options.max_image_pixels
    for stream in streams:
        if b"BI" not in stream:
            continue
        for match in _INLINE_IMAGE.finditer(stream):
            sizes = {key[:1]: int(value) for key, value in _INLINE_SIZE.findall(match.group(1))}
            width, height = sizes.get(b"W", 0), sizes.get(b"H", 0)
            if width * height > limit:
                raise RenderError(
                    RenderErrorCode.IMAGE_TOO_LARGE,
                    f"The PDF file draws an image into {where} that is too large ({width} x {height} pixels); "
                    f"at most {limit:,} pixels are accepted.",
                )


def _int_key(doc: Any, xref: int, key: str) -> int:
    """An integer entry of a PDF object's dictionary, 0 when missing or not a number."""
    kind, value = doc.xref_get_key(xref, key)
    try:
        return int(value) if kind == "int" else 0
    except ValueError:
        return 0


def _render_gray(pymupdf: Any, page: Any, matrix: Any) -> tuple[Any, GrayImage, int, int]:
    """Draw the page (annotations included) straight into a white grey pixmap: (pixmap, its pixels, x, y).

    Same pixels as `page.get_pixmap(matrix=..., colorspace=csGRAY, alpha=False)`, which first records the page
    into a display list and then replays it; drawing in one pass skips the list (about a tenth of the draw time
    on text pages). The returned pixmap owns the pixels: keep it alive while `gray` is used.
    """
    mupdf = pymupdf.mupdf
    fz_page = page.this if isinstance(page.this, mupdf.FzPage) else mupdf.FzPage(page.this)
    ctm = mupdf.FzMatrix(matrix.a, matrix.b, matrix.c, matrix.d, matrix.e, matrix.f)
    bbox = mupdf.fz_round_rect(mupdf.fz_transform_rect(mupdf.fz_bound_page(fz_page), ctm))
    pix = mupdf.fz_new_pixmap_with_bbox(mupdf.fz_device_gray(), bbox, mupdf.FzSeparations(), 0)
    mupdf.fz_clear_pixmap_with_value(pix, 0xFF)
    device = mupdf.fz_new_draw_device(ctm, pix)
    try:
        mupdf.fz_run_page(fz_page, device, mupdf.FzMatrix(), mupdf.FzCookie())
    finally:
        mupdf.fz_close_device(device)
    height, stride, width = mupdf.fz_pixmap_height(pix), mupdf.fz_pixmap_stride(pix), mupdf.fz_pixmap_width(pix)
    samples = mupdf.fz_pixmap_samples_memoryview(pix)
    gray: GrayImage = np.frombuffer(samples, dtype=np.uint8).reshape(height, stride)[:, :width]
    return pix, gray, int(mupdf.fz_pixmap_x(pix)), int(mupdf.fz_pixmap_y(pix))
