"""PDF, text and HTML inputs: page count, geometry, and the text found again against reference renderings."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pymupdf
from PIL import Image

from gateway.render import InputDocument, RenderOptions, render_documents
from tests.render.helpers import (
    agreement,
    ink_bbox,
    make_pdf,
    match_score,
    pages_of,
    poppler_reference,
    text_reference,
)

FOUND = 0.985  # every reference pixel within one pixel of page ink; one wrong character scores about 0.95


def render_file(tmp_path: Path, source: Path | bytes, options: RenderOptions, **hints: str) -> list[np.ndarray]:
    out = tmp_path / "out.tif"
    document = InputDocument(path=source, **hints) if isinstance(source, Path) else InputDocument(data=source, **hints)
    result = render_documents([document], out, options)
    pages = pages_of(out)
    assert result.pages == len(pages)
    return pages


def test_text_pdf_matches_references(tmp_path: Path, fine_a4: RenderOptions) -> None:
    lines = [(72, 100, "Invoice FAXGATE-4711", {"fontname": "cour", "fontsize": 10})]
    lines += [(72, 130 + 14 * i, f"Body line {i} with ordinary words", {"fontsize": 10}) for i in range(30)]
    lines.append((72, 700, "Grey disclaimer", {"fontname": "helv", "fontsize": 8, "color": (0.53, 0.53, 0.53)}))
    pdf = make_pdf(tmp_path / "text.pdf", [{"lines": lines}])
    [page] = render_file(tmp_path, pdf, fine_a4)
    geometry = fine_a4.geometry
    assert page.shape == (2292, 1728)
    score, y, x = match_score(page, text_reference("FAXGATE-4711", geometry))
    assert score >= FOUND
    assert abs(x - 72 * geometry.x_per_point - 8 * 6 * geometry.x_per_point) < 6  # after "Invoice "
    assert abs(y - 100 * geometry.y_per_point) < 30
    assert match_score(page, text_reference("FAXGATE-4712", geometry))[0] < FOUND
    # 8 pt text in #888 survives the 170 threshold (it vanishes at 128).
    assert match_score(page, text_reference("Grey disclaimer", geometry, font="helv", size=8))[0] >= FOUND
    ours, theirs = agreement(page, poppler_reference(pdf, 1, fine_a4.geometry, tmp_path))
    assert ours > 0.9 and theirs > 0.9


def test_standard_resolution_and_letter_paper(tmp_path: Path) -> None:
    spec = {"size": (612, 792), "lines": [(72, 72, "LETTER-PAGE", {"fontname": "cour"})]}
    pdf = make_pdf(tmp_path / "letter.pdf", [spec])
    standard = RenderOptions(resolution="standard", paper="a4")
    [page] = render_file(tmp_path, pdf, standard)
    assert page.shape == (1146, 1728)
    letter = RenderOptions(resolution="fine", paper="letter")
    [page] = render_file(tmp_path, pdf, letter)
    assert page.shape == (2156, 1728)
    assert match_score(page, text_reference("LETTER-PAGE", letter.geometry, size=11))[0] >= FOUND


def test_multi_page_pdf_keeps_order(tmp_path: Path, fine_a4: RenderOptions) -> None:
    specs = [{"lines": [(100, 100, f"PAGE-NUMBER-{n}", {"fontname": "cour", "fontsize": 14})]} for n in range(1, 4)]
    pages = render_file(tmp_path, make_pdf(tmp_path / "three.pdf", specs), fine_a4)
    assert len(pages) == 3
    for number, page in enumerate(pages, start=1):
        assert match_score(page, text_reference(f"PAGE-NUMBER-{number}", fine_a4.geometry, size=14))[0] >= FOUND
    assert match_score(pages[0], text_reference("PAGE-NUMBER-2", fine_a4.geometry, size=14))[0] < FOUND


def test_landscape_page_is_rotated_to_fit(tmp_path: Path, fine_a4: RenderOptions) -> None:
    pdf = make_pdf(tmp_path / "wide.pdf", [{"size": (842, 595), "boxes": [((10, 10, 832, 585), (0, 0, 0))],
                                             "lines": [(100, 100, "LANDSCAPE", {"fontname": "cour", "fontsize": 20})]}])
    [page] = render_file(tmp_path, pdf, fine_a4)
    x0, y0, x1, y1 = ink_bbox(page)
    assert (y1 - y0) > 2000 and (x1 - x0) > 1600  # the frame fills the portrait page
    upright = text_reference("LANDSCAPE", fine_a4.geometry, size=20)
    assert match_score(page, upright)[0] < 0.6
    geometry = fine_a4.geometry
    turned = np.rot90(k=-1, m=text_reference("LANDSCAPE", type(geometry)(
        geometry.width, geometry.rows, geometry.y_per_point, geometry.x_per_point, geometry.paper_points, geometry.yres
    ), size=20))
    assert match_score(page, turned)[0] >= 0.95


def test_oversize_and_tall_pages_are_scaled_never_cropped(tmp_path: Path, fine_a4: RenderOptions) -> None:
    a3 = {"size": (842, 1191), "boxes": [((5, 5, 837, 1186), (0, 0, 0))]}
    receipt = {"size": (300, 2000), "boxes": [((5, 5, 295, 1995), (0, 0, 0))]}
    big, tall = render_file(tmp_path, make_pdf(tmp_path / "big.pdf", [a3, receipt]), fine_a4)
    x0, y0, x1, y1 = ink_bbox(big)
    assert x0 < 30 and x1 > 1700 and y0 < 30 and y1 > 2260  # all four sides of the frame are on the page
    assert big[y0:y1, x0].mean() > 0.95 and big[y1, x0:x1].mean() > 0.95
    x0, y0, x1, y1 = ink_bbox(tall)
    assert y0 < 20 and y1 > 2270  # the whole length fits
    assert x1 - x0 < 400 and abs((x0 + x1) / 2 - 864) < 4  # narrower, centred
    assert tall[y1, x0:x1].mean() > 0.95  # bottom edge present


def gradient_png(width: int = 600, height: int = 300) -> bytes:
    ramp = np.tile(np.linspace(0, 255, width, dtype=np.float64), (height, 1)).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(ramp).save(out, "PNG")
    return out.getvalue()


def test_photos_in_pdf_are_screened_and_text_thresholded(tmp_path: Path, fine_a4: RenderOptions) -> None:
    spec = {"images": [((72, 300, 522, 525), gradient_png())],
            "lines": [(72, 200, "CAPTION-TEXT", {"fontname": "cour", "fontsize": 12})]}
    [page] = render_file(tmp_path, make_pdf(tmp_path / "photo.pdf", [spec]), fine_a4)
    geometry = fine_a4.geometry
    assert match_score(page, text_reference("CAPTION-TEXT", geometry, size=12))[0] >= FOUND
    top, bottom = int(310 * geometry.y_per_point), int(515 * geometry.y_per_point)
    left, right = int(80 * geometry.x_per_point), int(514 * geometry.x_per_point)
    photo = page[top:bottom, left:right]
    darkness = photo.reshape(photo.shape[0], -1, 6).mean(axis=(0, 2))  # ink share per 6-px column band
    expected = 1 - np.linspace(80, 514, darkness.size) / 600 * 1.0
    assert np.corrcoef(darkness, expected)[0, 1] > 0.97
    middle = photo[:, photo.shape[1] // 2 - 60 : photo.shape[1] // 2 + 60]
    assert 0.3 < middle.mean() < 0.7  # mid grey is a halftone, not a solid block or blank
    assert np.array_equal(middle[:60], middle[6:66])  # a screen repeating every 6 rows (tone is constant down)


def test_plain_text_charset_wrapping_and_pages(tmp_path: Path, fine_a4: RenderOptions) -> None:
    geometry = fine_a4.geometry
    body = "Grüße aus Köln\n" + "x" * 200 + "\n" + "\n".join(f"line {n}" for n in range(150)) + "\fLAST-PAGE\n"
    pages = render_file(tmp_path, body.encode("iso-8859-1"), fine_a4, content_type="text/plain; charset=iso-8859-1")
    assert len(pages) == 4  # 153 lines at 67 a page, then the form feed page
    assert match_score(pages[0], text_reference("Grüße aus Köln", geometry))[0] >= FOUND
    assert match_score(pages[3], text_reference("LAST-PAGE", geometry))[0] >= FOUND
    for page in pages:
        x0, _, x1, _ = ink_bbox(page)
        assert x0 >= int(36 * geometry.x_per_point) - 2 and x1 <= 1728 - int(36 * geometry.x_per_point) + 2
    # Undeclared UTF-8 is recognised too, and markup in text/plain is shown as text.
    [page] = render_file(tmp_path, "naïve <b>café</b>".encode(), fine_a4, content_type="text/plain")
    assert match_score(page, text_reference("naïve <b>café</b>", geometry))[0] >= FOUND


def test_html_mail_with_cid_image_wide_table_and_grey_text(tmp_path: Path, fine_a4: RenderOptions) -> None:
    geometry = fine_a4.geometry
    gray = io.BytesIO()
    Image.new("L", (200, 100), 128).save(gray, "PNG")
    html = """<html><head><style>.mono { font-family: monospace; font-size: 10pt; }</style></head><body>
    <p class="mono">ORDER-FAXGATE-99</p><img src="cid:photo@example"><p style="color:#888; font-size:8pt">
    <span class="mono" style="font-size:8pt">GREY-NOTE</span></p></body></html>"""
    [page] = render_file(tmp_path, html.encode(), fine_a4, content_type="text/html",
                         related={"<photo@example>": gray.getvalue()})
    assert match_score(page, text_reference("ORDER-FAXGATE-99", geometry))[0] >= FOUND
    assert match_score(page, text_reference("GREY-NOTE", geometry, size=8))[0] >= FOUND
    density = np.convolve(page[:, 150:450].mean(axis=1), np.ones(6) / 6, mode="same")  # one screen period
    halftone_rows = density > 0.3
    assert abs(halftone_rows.sum() - 75 * geometry.y_per_point) < 8  # the 100 px (75 pt) image arrived...
    assert 0.3 < page[halftone_rows, 120:380].mean() < 0.7  # ...as a halftone
    text_only = page.copy()
    text_only[halftone_rows] = False
    assert match_score(text_only, text_reference("<p class=", geometry))[0] < 0.9  # no raw markup
    wide = ("<html><body><table style='width:1400px'><tr><td style='width:1250px'>left</td>"
            "<td style='background-color:black; width:100px'>&nbsp;</td></tr></table></body></html>")
    [page] = render_file(tmp_path, wide.encode(), fine_a4)
    _, y0, x1, _ = ink_bbox(page)
    assert 1400 < x1 < 1728 - 20  # the far-right black cell is on the page, scaled down to fit
    solid_columns = np.nonzero(page[y0 + 2 : y0 + 10].all(axis=0))[0]
    assert solid_columns.size > 60 and solid_columns.max() == x1  # the whole cell, not a sliver


def test_same_pdf_twice_is_deterministic(tmp_path: Path, fine_a4: RenderOptions) -> None:
    pdf = make_pdf(tmp_path / "x.pdf", [{"lines": [(72, 72, "Determinism", {})]}])
    first = render_file(tmp_path, pdf, fine_a4)
    second = render_file(tmp_path, pdf.read_bytes(), fine_a4, filename="renamed.jpg")  # a misleading name
    assert np.array_equal(first[0], second[0])
    assert pymupdf.open(pdf).page_count == len(first)


def test_tinted_fills_are_screened_and_text_on_them_kept(tmp_path: Path, fine_a4: RenderOptions) -> None:
    text = [(80, 130, "TEXT ON A TINT", {"fontname": "cour", "fontsize": 14})]
    plain = make_pdf(tmp_path / "plain.pdf", [{"lines": text}])
    doc = pymupdf.open(plain)
    doc[0].draw_rect(pymupdf.Rect(60, 100, 400, 160), color=None, fill=(0.55, 0.55, 0.55), overlay=False)
    doc[0].draw_rect(pymupdf.Rect(60, 300, 120, 500), color=None, fill=(1.0, 0.5, 0.0))  # an orange chart bar
    tinted = tmp_path / "tinted.pdf"
    doc.save(tinted)
    [without] = render_file(tmp_path, plain, fine_a4)
    [with_tint] = render_file(tmp_path, tinted, fine_a4)
    assert with_tint[without].all()  # every glyph pixel is still black on the tint
    geometry = fine_a4.geometry
    tint = with_tint[int(105 * geometry.y_per_point) : int(155 * geometry.y_per_point), 200:1100] & ~without[
        int(105 * geometry.y_per_point) : int(155 * geometry.y_per_point), 200:1100]
    assert 0.25 < tint.mean() < 0.7  # the grey is a halftone: neither solid black (text lost) nor white
    bar = with_tint[int(310 * geometry.y_per_point) : int(490 * geometry.y_per_point), 190:330]
    assert 0.2 < bar.mean() < 0.8 and np.array_equal(bar[:60], bar[6:66])  # a screened bar, not a black block
