"""Office documents through the persistent LibreOffice converter, compared with LibreOffice's own PDF drawn by
poppler (an independent rasteriser)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from gateway.render import InputDocument, RenderOptions, render_documents
from gateway.render.fit import fit_on_page
from gateway.render.office import find_soffice
from gateway.render.options import PageGeometry
from tests.render.helpers import agreement, ink_bbox, match_score, pages_of, poppler_reference, text_reference

# LibreOffice draws Liberation Sans, the reference MuPDF's Helvetica: same metrics, slightly different outlines.
TEXT_FOUND = 0.9
SLIDE_FOUND = 0.985  # one wrong character scores about 0.95

HTML = """<html><body><h1>Quarterly report FAXGATE-42</h1>
<p>Revenue grew in every region. The table below lists the figures.</p>
<table border="1"><tr><td>North</td><td>1200</td></tr><tr><td>South</td><td>980</td></tr></table>
{paragraphs}</body></html>"""


def soffice_convert(source: Path, target_format: str, outdir: Path) -> Path:
    """Use LibreOffice directly (not faxgate's converter) to make fixtures and references."""
    soffice = find_soffice()
    assert soffice, "LibreOffice (soffice) must be installed for the Office tests"
    profile = (outdir / "profile").as_uri()
    subprocess.run([soffice, "--headless", f"-env:UserInstallation={profile}", "--convert-to", target_format,
                    "--outdir", str(outdir), str(source)], check=True, capture_output=True, timeout=180)
    produced = outdir / f"{source.stem}.{target_format.split(':')[0]}"
    assert produced.exists()
    return produced


@pytest.fixture(scope="module")
def office_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("office")
    html = folder / "report.html"
    html.write_text(HTML.format(paragraphs="<p>More text to fill the page. </p>" * 60))
    csv = folder / "sheet.csv"
    csv.write_text("region,revenue\n" + "".join(f"R{n},{n * 17}\n" for n in range(80)))
    rtf = folder / "memo.rtf"
    rtf.write_text("{\\rtf1\\ansi{\\fonttbl\\f0\\fswiss Helvetica;}\\f0\\fs28 Memo FAXGATE-RTF\\par "
                   + "A plain paragraph of text in a rich text file.\\par " * 40 + "}")
    files = {
        "rtf": rtf,
        "doc": soffice_convert(html, "doc:MS Word 97", folder),
        "docx": soffice_convert(html, "docx:MS Word 2007 XML", folder),
        "odt": soffice_convert(html, "odt", folder),
        "xlsx": soffice_convert(csv, "xlsx", folder),
    }
    return files


@pytest.mark.parametrize("kind", ["docx", "odt", "xlsx", "doc", "rtf"])
def test_office_document_matches_libreoffice_pdf(
    tmp_path: Path, office_files: dict[str, Path], fine_a4: RenderOptions, kind: str
) -> None:
    source = office_files[kind]
    out = tmp_path / "out.tif"
    result = render_documents([InputDocument(data=source.read_bytes(), filename="upload.bin")], out, fine_a4)
    assert result.documents[0].kind == kind
    reference_pdf = soffice_convert(source, "pdf", tmp_path)
    pages = pages_of(out)
    assert len(pages) == pymupdf.open(reference_pdf).page_count
    ours, theirs = agreement(pages[0], poppler_reference(reference_pdf, 1, fine_a4.geometry, tmp_path))
    assert ours > 0.95 and theirs > 0.95  # poppler draws the same PDF (anti-aliased), 1 px tolerance


SLIDE = ('<draw:page draw:name="s{n}" draw:master-page-name="Default"><draw:frame draw:style-name="gr1" svg:x="2cm" '
         'svg:y="2cm" svg:width="24cm" svg:height="3cm"><draw:text-box><text:p text:style-name="P1">SLIDE-{n} FAXGATE'
         '</text:p></draw:text-box></draw:frame></draw:page>')
DECK = """<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" office:version="1.3"
 office:mimetype="application/vnd.oasis.opendocument.presentation">
<office:automatic-styles>
<style:page-layout style:name="PM1"><style:page-layout-properties fo:page-width="28cm" fo:page-height="15.75cm"
 style:print-orientation="landscape" fo:margin-top="0cm" fo:margin-bottom="0cm" fo:margin-left="0cm"
 fo:margin-right="0cm"/></style:page-layout>
<style:style style:name="gr1" style:family="graphic"><style:graphic-properties draw:stroke="none" draw:fill="none"/>
</style:style>
<style:style style:name="P1" style:family="paragraph"><style:text-properties fo:font-size="28pt"
 style:font-name="Liberation Sans" fo:font-family="'Liberation Sans'"/></style:style>
</office:automatic-styles>
<office:master-styles><style:master-page style:name="Default" style:page-layout-name="PM1"/></office:master-styles>
<office:body><office:presentation>{slides}</office:presentation></office:body></office:document>
"""
SLIDE_TEXT_PT = 28.0


@pytest.fixture(scope="module")
def deck_and_sheet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A three-slide 16:9 deck written as flat ODP XML and a sheet as CSV, saved by LibreOffice as pptx, ppt, xls."""
    folder = tmp_path_factory.mktemp("office2")
    deck = folder / "deck.fodp"
    deck.write_text(DECK.format(slides="".join(SLIDE.format(n=n) for n in (1, 2, 3))))
    csv = folder / "ledger.csv"
    csv.write_text("FAXGATE-XLS,total\n" + "".join(f"L{n},{n * 13}\n" for n in range(120)))
    return {
        "pptx": soffice_convert(deck, "pptx:Impress MS PowerPoint 2007 XML", folder),
        "ppt": soffice_convert(deck, "ppt:MS PowerPoint 97", folder),
        "xls": soffice_convert(csv, "xls:MS Excel 97", folder),
    }


def turned_poppler_reference(pdf: Path, page_number: int, geometry: PageGeometry, tmp: Path) -> np.ndarray:
    """Like `poppler_reference` for a landscape page that faxgate turns a quarter clockwise onto portrait paper."""
    rect = pymupdf.open(pdf)[page_number - 1].rect
    place = fit_on_page(rect.width, rect.height, geometry, allow_upscale=True)
    assert place.rotate
    stem = tmp / f"turned{page_number}"
    subprocess.run(
        ["pdftoppm", "-gray", "-f", str(page_number), "-l", str(page_number), "-scale-to-x", str(place.height_px),
         "-scale-to-y", str(place.width_px), "-singlefile", str(pdf), str(stem)],
        check=True,
    )
    with Image.open(stem.with_suffix(".pgm")) as image:
        pixels = np.rot90(np.asarray(image.convert("L")), k=-1)
    page = np.zeros((geometry.rows, geometry.width), dtype=bool)
    page[place.top : place.top + place.height_px, place.left : place.left + place.width_px] = pixels < 170
    return page


def slide_text(text: str, geometry: PageGeometry, scale: float) -> np.ndarray:
    """Slide text as MuPDF draws it in Helvetica (metrically Liberation Sans), turned as faxgate turns slides."""
    swapped = PageGeometry(geometry.width, geometry.rows, geometry.y_per_point, geometry.x_per_point,
                           geometry.paper_points, geometry.yres)
    return np.rot90(text_reference(text, swapped, font="helv", size=SLIDE_TEXT_PT, scale=scale), k=-1)


@pytest.mark.parametrize("kind", ["pptx", "ppt"])
def test_slides_are_turned_and_match_libreoffice_pdf(
    tmp_path: Path, deck_and_sheet: dict[str, Path], fine_a4: RenderOptions, kind: str
) -> None:
    source = deck_and_sheet[kind]
    out = tmp_path / "out.tif"
    result = render_documents([InputDocument(data=source.read_bytes(), filename="upload.bin")], out, fine_a4)
    assert result.documents[0].kind == kind
    geometry = fine_a4.geometry
    pages = pages_of(out)
    assert result.pages == len(pages) == 3  # one fax page per slide
    reference_pdf = soffice_convert(source, "pdf", tmp_path)
    rect = pymupdf.open(reference_pdf)[0].rect
    place = fit_on_page(rect.width, rect.height, geometry, allow_upscale=True)
    assert place.rotate and place.height_px == geometry.rows  # the 16:9 slide is turned to use the length
    for number, page in enumerate(pages, start=1):
        assert page.shape == (geometry.rows, geometry.width)
        ours, theirs = agreement(page, turned_poppler_reference(reference_pdf, number, geometry, tmp_path))
        assert ours > 0.95 and theirs > 0.95
        x0, y0, x1, y1 = ink_bbox(page)
        assert x0 >= place.left and y0 >= place.top
        assert x1 <= place.left + place.width_px and y1 <= place.top + place.height_px
        scale = place.y_scale / geometry.y_per_point  # paper points per slide point
        # The slide's own number is found pixel for pixel; LibreOffice kerns "FAXGATE", so only the number is compared.
        assert match_score(page, slide_text(f"SLIDE-{number}", geometry, scale))[0] >= SLIDE_FOUND
        other = 2 if number != 2 else 3
        assert match_score(page, slide_text(f"SLIDE-{other}", geometry, scale))[0] < SLIDE_FOUND


def test_xls_sheet_matches_libreoffice_pdf(
    tmp_path: Path, deck_and_sheet: dict[str, Path], fine_a4: RenderOptions
) -> None:
    source = deck_and_sheet["xls"]
    out = tmp_path / "out.tif"
    result = render_documents([InputDocument(data=source.read_bytes(), filename="upload.bin")], out, fine_a4)
    assert result.documents[0].kind == "xls"
    reference_pdf = soffice_convert(source, "pdf", tmp_path)
    pages = pages_of(out)
    expected = pymupdf.open(reference_pdf).page_count
    assert expected >= 2  # 121 rows do not fit on one A4 page
    assert result.pages == len(pages) == expected
    geometry = fine_a4.geometry
    for number, page in enumerate(pages, start=1):
        assert page.shape == (geometry.rows, geometry.width)
        ours, theirs = agreement(page, poppler_reference(reference_pdf, number, geometry, tmp_path))
        assert ours > 0.95 and theirs > 0.95
    assert match_score(pages[0], text_reference("FAXGATE-XLS", geometry, font="helv", size=10))[0] >= TEXT_FOUND
    assert match_score(pages[-1], text_reference("FAXGATE-XLS", geometry, font="helv", size=10))[0] < TEXT_FOUND
