"""Images embedded in PDFs obey the pixel limit (decompression bombs); absurdly large pages are scaled down."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from gateway.render import InputDocument, RenderError, RenderErrorCode, RenderOptions, render_documents
from tests.render.helpers import ink_bbox, make_pdf, match_score, pages_of, text_reference


def pdf_with_bomb(pages_before: int = 0, *, side: int = 30_000) -> bytes:
    """A PDF whose last page draws a side x side 1-bit black image: about 110 KB of file, 900 M pixels decoded."""
    doc = pymupdf.open()
    for _ in range(pages_before):
        doc.new_page().insert_text((72, 72), "harmless page")
    page = doc.new_page()
    image = doc.get_new_xref()
    doc.update_object(image, f"<< /Type /XObject /Subtype /Image /Width {side} /Height {side} "
                             "/BitsPerComponent 1 /ColorSpace /DeviceGray >>")
    doc.update_stream(image, zlib.compress(bytes((side + 7) // 8 * side), 9), compress=0)
    doc.xref_set_key(image, "Filter", "/FlateDecode")
    doc.xref_set_key(page.xref, "Resources", f"<< /XObject << /Im0 {image} 0 R >> >>")
    contents = doc.get_new_xref()
    doc.update_object(contents, "<< >>")
    doc.update_stream(contents, b"q 500 0 0 700 50 50 cm /Im0 Do Q")
    doc.xref_set_key(page.xref, "Contents", f"{contents} 0 R")
    return bytes(doc.tobytes())


def render_error(tmp_path: Path, data: bytes, options: RenderOptions) -> RenderError:
    out = tmp_path / "out.tif"
    with pytest.raises(RenderError) as caught:
        render_documents([InputDocument(data=data, filename="bomb.pdf")], out, options)
    assert not out.exists()
    return caught.value


def test_pdf_image_bomb_is_refused_naming_the_page(tmp_path: Path) -> None:
    data = pdf_with_bomb(pages_before=2)
    assert len(data) < 200_000
    error = render_error(tmp_path, data, RenderOptions())
    assert error.code is RenderErrorCode.IMAGE_TOO_LARGE
    assert error.reason.startswith("Page 3 of the PDF file holds an image that is too large (30000 x 30000 pixels)")
    assert "at most 60,000,000 pixels" in error.reason
    assert error.document == "bomb.pdf"


def test_pdf_image_limit_follows_the_options(tmp_path: Path) -> None:
    png = io.BytesIO()
    Image.new("L", (200, 200), 128).save(png, "PNG")
    pdf = make_pdf(tmp_path / "photo.pdf", [{"lines": [(72, 72, "first", {})]},
                                            {"images": [((72, 72, 272, 272), png.getvalue())]}]).read_bytes()
    error = render_error(tmp_path, pdf, RenderOptions(max_image_pixels=39_999))
    assert error.code is RenderErrorCode.IMAGE_TOO_LARGE and error.reason.startswith("Page 2 ")
    assert "(200 x 200 pixels)" in error.reason
    result = render_documents([InputDocument(data=pdf)], tmp_path / "ok.tif", RenderOptions(max_image_pixels=40_000))
    assert result.pages == 2


def test_pdf_image_under_the_limit_is_rendered(tmp_path: Path, fine_a4: RenderOptions) -> None:
    out = tmp_path / "out.tif"
    result = render_documents([InputDocument(data=pdf_with_bomb(side=4000))], out, fine_a4)
    [page] = pages_of(out)
    assert result.pages == 1 and page.shape == (fine_a4.geometry.rows, fine_a4.geometry.width)
    x0, y0, x1, y1 = ink_bbox(page)  # the black picture, 500 x 700 pt, is drawn where it was placed
    assert x1 - x0 + 1 == pytest.approx(500 * fine_a4.geometry.x_per_point, abs=3)
    assert y1 - y0 + 1 == pytest.approx(700 * fine_a4.geometry.y_per_point, abs=3)


def test_huge_page_is_scaled_to_the_fax_page(tmp_path: Path, fine_a4: RenderOptions) -> None:
    side = 200 * 72.0  # 200 x 200 inches: 40800 x 39200 px if drawn at fax resolution
    pdf = make_pdf(tmp_path / "huge.pdf", [{
        "size": (side, side),
        "boxes": [((100, 100, side - 100, side - 100), (0, 0, 0))],
        "lines": [(1000, 3000, "HUGE-PAGE", {"fontname": "cour", "fontsize": 500})],
    }])
    out = tmp_path / "out.tif"
    result = render_documents([InputDocument(data=pdf.read_bytes())], out, fine_a4)
    geometry = fine_a4.geometry
    [page] = pages_of(out)
    assert result.pages == 1 and page.shape == (geometry.rows, geometry.width)
    x0, y0, x1, y1 = ink_bbox(page)
    assert x0 < 20 and x1 > geometry.width - 20  # the square frame spans the width: scaled, not cropped
    assert y1 - y0 == pytest.approx((x1 - x0) * geometry.y_per_point / geometry.x_per_point, rel=0.02)
    scale = (geometry.paper_points[0] / side) * 500 / 10  # 500 pt text drawn at the fitted scale, as 10 pt units
    assert match_score(page, text_reference("HUGE-PAGE", geometry, size=10, scale=scale))[0] >= 0.9
    # Memory, measured in a fresh process (this one's peak holds every earlier test): a full-size grey page is 1.6 GB.
    command = subprocess.run([sys.executable, "-m", "gateway", "render", str(pdf), "-o", str(tmp_path / "cli.tif"),
                              "--json"], capture_output=True, text=True, check=True)
    report = json.loads(command.stdout)
    assert report["pages"] == 1
    assert 0 < report["peak_rss_kib"] < 400 * 1024
