"""Office documents through the persistent LibreOffice converter, compared with LibreOffice's own PDF drawn by
poppler (an independent rasteriser)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gateway.render import InputDocument, RenderOptions, render_documents
from gateway.render.office import find_soffice
from tests.render.helpers import agreement, pages_of, poppler_reference

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
    import pymupdf

    assert len(pages) == pymupdf.open(reference_pdf).page_count
    ours, theirs = agreement(pages[0], poppler_reference(reference_pdf, 1, fine_a4.geometry, tmp_path))
    assert ours > 0.95 and theirs > 0.95  # poppler draws the same PDF (anti-aliased), 1 px tolerance
