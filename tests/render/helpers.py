"""Helpers to decode rendered fax pages and compare them with reference renderings."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
from PIL import Image

from gateway.render.options import PageGeometry
from modem.faxtiff import read_fax_tiff


def pages_of(path: Path) -> list[np.ndarray]:
    """The pages of a fax TIFF as boolean black masks."""
    return [np.unpackbits(page.bitmap, axis=1)[:, : page.width].astype(bool) for page in read_fax_tiff(path)]


def ink_bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 (inclusive) of the black pixels."""
    ys, xs = np.nonzero(mask)
    assert ys.size, "page is blank"
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def text_reference(text: str, geometry: PageGeometry, *, font: str = "cour", size: float = 10.0,
                   scale: float = 1.0) -> np.ndarray:
    """`text` drawn by MuPDF at the fax page's pixel scale, cropped to its ink: what the page must contain."""
    doc = pymupdf.open()
    page = doc.new_page(width=len(text) * size * 0.75 + 20, height=size * 2.5)
    page.insert_text((10, size * 1.5), text, fontname=font, fontsize=size)
    matrix = pymupdf.Matrix(geometry.x_per_point * scale, geometry.y_per_point * scale)
    pix = page.get_pixmap(matrix=matrix, colorspace=pymupdf.csGRAY)
    mask = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width) < 170
    x0, y0, x1, y1 = ink_bbox(mask)
    return mask[y0 : y1 + 1, x0 : x1 + 1]


def _dilate(mask: np.ndarray) -> np.ndarray:
    """Grow black by one pixel in each direction (sub-pixel placement tolerance)."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    wide = grown.copy()
    wide[:, 1:] |= grown[:, :-1]
    wide[:, :-1] |= grown[:, 1:]
    return wide


def match_score(page: np.ndarray, template: np.ndarray) -> tuple[float, int, int]:
    """Best placement of `template` on `page`: (share of template ink landing on page ink, minus the share on
    white), and the top-left of that placement. 1.0 means every reference pixel is found."""
    height, width = page.shape
    signed = _dilate(page).astype(np.float32) * 2 - 1
    spectrum = np.fft.rfft2(signed) * np.fft.rfft2(template[::-1, ::-1].astype(np.float32), s=(height, width))
    correlation = np.fft.irfft2(spectrum, s=(height, width))
    index = int(np.argmax(correlation))
    y, x = divmod(index, width)
    return float(correlation.flat[index] / template.sum()), y - template.shape[0] + 1, x - template.shape[1] + 1


def poppler_reference(pdf: Path, page_number: int, geometry: PageGeometry, tmp: Path) -> np.ndarray:
    """The page as poppler (an independent renderer) draws it, placed on the fax page the way faxgate places
    it (scaled to fit, centred across, at the top), thresholded like faxgate."""
    from gateway.render.fit import fit_on_page

    rect = pymupdf.open(pdf)[page_number - 1].rect
    place = fit_on_page(rect.width, rect.height, geometry, allow_upscale=True)
    assert not place.rotate
    stem = tmp / f"ref{page_number}"
    subprocess.run(
        ["pdftoppm", "-gray", "-f", str(page_number), "-l", str(page_number), "-scale-to-x", str(place.width_px),
         "-scale-to-y", str(place.height_px), "-singlefile", str(pdf), str(stem)],
        check=True,
    )
    data = (stem.with_suffix(".pgm")).read_bytes()
    header_end = 0
    fields = 0
    while fields < 4:  # P5, width, height, maxval
        while data[header_end : header_end + 1].isspace():
            header_end += 1
        while not data[header_end : header_end + 1].isspace():
            header_end += 1
        fields += 1
    pixels = np.frombuffer(data[header_end + 1 :], np.uint8).reshape(place.height_px, place.width_px)
    page = np.zeros((geometry.rows, geometry.width), dtype=bool)
    page[place.top : place.top + place.height_px, place.left : place.left + place.width_px] = pixels < 170
    return page


def agreement(ours: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(share of our ink near reference ink, share of reference ink near ours)."""
    ours_near = (ours & _dilate(reference)).sum() / max(ours.sum(), 1)
    ref_near = (reference & _dilate(ours)).sum() / max(reference.sum(), 1)
    return float(ours_near), float(ref_near)


def make_pdf(path: Path, pages: list[dict[str, Any]]) -> Path:
    """A PDF whose pages carry the given lines of text: {"size": (w, h), "lines": [(x, y, text, kw)]}."""
    doc = pymupdf.open()
    for spec in pages:
        width, height = spec.get("size", pymupdf.paper_size("a4"))
        page = doc.new_page(width=width, height=height)
        for x, y, text, options in spec.get("lines", []):
            page.insert_text((x, y), text, **options)
        for rect, color in spec.get("boxes", []):
            page.draw_rect(pymupdf.Rect(rect), color=color, width=2)
        for rect, png in spec.get("images", []):
            page.insert_image(pymupdf.Rect(rect), stream=png)
    doc.save(path)
    return path


def black_picture(folder: Path) -> str:
    """A distinctive picture on this host's disk (solid black): it must never appear on a fax page."""
    path = folder / "secret.png"
    Image.new("L", (300, 200), 0).save(path)
    return path.as_uri()


def largest_black_area(page: np.ndarray) -> float:
    """The share of the page covered by black rows at least half a page wide: a drawn picture, not text."""
    wide_rows = page.sum(axis=1) > page.shape[1] // 2
    return float(wide_rows.mean())
