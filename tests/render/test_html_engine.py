"""The HTML mail engine (WeasyPrint): every HTML body of the real-mail corpus lays out the words headless Chromium
prints, without blank pages; tall tables split across pages, pictures fit the page, wide tables shrink, and
nothing but the mail's own content is ever fetched."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import shutil
import subprocess
from collections import Counter
from datetime import datetime
from functools import cache
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from gateway.config import parse_config
from gateway.intake.mime import parse_fax_mail
from gateway.render import InputDocument, RenderOptions, RenderPool, render_documents
from gateway.render.htmlmail import mail_html_to_pdf
from gateway.render.markup import decode_text
from gateway.render.pdf import render_pdf
from gateway.render.sniff import sniff
from tests.render.helpers import black_picture, ink_bbox, largest_black_area, pages_of

CORPUS = Path(__file__).parents[1] / "fixtures" / "mail" / "corpus"
_CID = re.compile(r"""cid:([^"')\s>]+)""", re.IGNORECASE)


@cache
def corpus_html() -> dict[str, InputDocument]:
    """Every HTML document the corpus mails become (unfaxable attachments dropped, so refused mails count too)."""
    config = parse_config({"smtp": {"body": "page", "cover_page": False, "unfaxable_attachments": "drop"}})
    found: dict[str, InputDocument] = {}
    for entry in json.loads((CORPUS / "MANIFEST.json").read_text())["messages"]:
        mail = parse_fax_mail((CORPUS / entry["file"]).read_bytes(), config)
        for index, document in enumerate(mail.documents):
            kind = sniff(document.data or b"", document.content_type)
            if kind is not None and kind.kind == "html":
                found[f"{entry['file']}#{index}"] = document
    return found


def chromium_pdf(source: str, related: dict[str, bytes], folder: Path) -> Path:
    """The same HTML printed to PDF by headless Chromium (cid: pictures given as data: URLs, no network)."""
    parts = {cid.strip("<>").lower(): data for cid, data in related.items()}

    def inline(match: re.Match[str]) -> str:
        data = parts.get(match.group(1).lower())
        return "data:application/octet-stream;base64," + base64.b64encode(data).decode() if data else match.group(0)

    page = folder / "mail.html"
    page.write_text(_CID.sub(inline, source), encoding="utf-8")
    out = folder / "chromium.pdf"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=http://127.0.0.1:9", "--no-pdf-header-footer",  # no network; no date/URL lines of its own
         f"--user-data-dir={folder / 'profile'}", f"--print-to-pdf={out}", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    return out


def words(pdf: bytes) -> Counter[str]:
    """The words of a PDF's text layer, lower-cased, as a multiset."""
    counted: Counter[str] = Counter()
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        for page in doc:
            for word in page.get_text("words"):
                counted.update(re.findall(r"\w+", word[4].lower()))
    return counted


def blank_pages(pdf: bytes, options: RenderOptions) -> int:
    """Pages with no black pixel once rendered as fax pages."""
    return sum(1 for bitmap in render_pdf(pdf, options, options.max_pages) if not bitmap.any())


def test_the_corpus_has_html_bodies() -> None:
    assert len(corpus_html()) >= 12  # the newsletter, Outlook/Apple/Thunderbird bodies, forwarded HTML


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is in scripts/setup's test packages")
@pytest.mark.parametrize("name", sorted(corpus_html()))
def test_each_corpus_html_lays_out_the_words_chromium_prints(name: str, tmp_path: Path) -> None:
    document = corpus_html()[name]
    assert document.data is not None
    source = decode_text(document.data, document.content_type)
    options = RenderOptions()
    ours = mail_html_to_pdf(source, options, document.related)
    reference = chromium_pdf(source, document.related, tmp_path).read_bytes()
    expected, got = words(reference), words(ours)
    total = sum(expected.values())
    recall = sum(min(got[word], count) for word, count in expected.items()) / total if total else 1.0
    missing = sorted(word for word, count in expected.items() if got[word] < count)
    assert recall >= 0.95, f"recall {recall:.3f}; missing {missing[:30]}"
    assert blank_pages(ours, options) <= blank_pages(reference, options)


def test_the_newsletter_in_tall_tables_is_two_pages_not_two_hundred() -> None:
    [name] = [name for name in corpus_html() if name.startswith("php-m0015.eml")]
    document = corpus_html()[name]
    assert document.data is not None
    pdf = mail_html_to_pdf(decode_text(document.data, document.content_type), RenderOptions(), document.related)
    assert pymupdf.open(stream=pdf, filetype="pdf").page_count == 2
    assert blank_pages(pdf, RenderOptions()) == 0


def _png(width: int, height: int, shade: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), shade).save(buffer, format="PNG")
    return buffer.getvalue()


def _render_html(html: str, tmp_path: Path, related: dict[str, bytes] | None = None) -> list[np.ndarray]:
    document = InputDocument(data=html.encode(), content_type="text/html; charset=utf-8", filename="body.html",
                             related=related or {})
    render_documents([document], tmp_path / "out.tif", RenderOptions())
    return pages_of(tmp_path / "out.tif")


def test_a_table_row_taller_than_a_page_is_split_across_pages(tmp_path: Path) -> None:
    cell = "".join(f"<p>Paragraph number {n} of the newsletter.</p>" for n in range(1, 181))
    html = f"<table width='100%'><tr><td>{cell}</td><td width='30%'>side column</td></tr></table>"
    pdf = mail_html_to_pdf(html, RenderOptions())
    laid_out = words(pdf)
    assert all(laid_out[str(n)] >= 1 for n in range(1, 181))
    pages = _render_html(html, tmp_path)
    assert 3 <= len(pages) <= 10 and all(page.any() for page in pages)


@pytest.mark.parametrize(("width", "height"), [(580, 997), (580, 1400)])
def test_a_tall_picture_is_drawn_whole_on_one_page(tmp_path: Path, width: int, height: int) -> None:
    html = (f"<p>Before the picture.</p><img src='cid:main@mail' width='{width}' height='{height}'>"
            "<p>After the picture.</p>")
    pages = _render_html(html, tmp_path, {"<main@mail>": _png(width, height)})
    drawn = [page for page in pages if largest_black_area(page) > 0.3]
    assert len(drawn) == 1 and len(pages) <= 3
    geometry = RenderOptions().geometry
    x0, y0, x1, y1 = ink_bbox(drawn[0])
    aspect = ((x1 - x0 + 1) / geometry.x_per_point) / ((y1 - y0 + 1) / geometry.y_per_point)
    assert aspect == pytest.approx(width / height, rel=0.03)  # scaled, never squeezed or cut


def test_a_fixed_width_table_wider_than_the_paper_is_shrunk_not_cut(tmp_path: Path) -> None:
    html = ("<table width='1400' border='1'><tr><td width='1200'>LEFTMOST words</td>"
            "<td>RIGHTMOST words</td></tr></table>")
    pdf = mail_html_to_pdf(html, RenderOptions())
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        page = doc[0]
        [right] = [word for word in page.get_text("words") if word[4] == "RIGHTMOST"]
        assert right[2] < page.rect.width
    [page_bitmap] = _render_html(html, tmp_path)
    x0, _, x1, _ = ink_bbox(page_bitmap)
    assert x0 > 0 and x1 < page_bitmap.shape[1] - 1


@pytest.mark.parametrize("where", ["sandboxed worker", "in process"])
async def test_html_mail_fetches_nothing_but_what_the_mail_carried(
    tmp_path: Path, canary: tuple[str, list[str]], where: str
) -> None:
    url, requests = canary
    local = black_picture(tmp_path)
    html = (f"<html><head><link rel='stylesheet' href='{url}/style.css'>"
            f"<style>@import url('{url}/import.css'); @font-face {{ font-family: X; src: url('{url}/font.woff'); }}"
            f"body {{ background: url('{url}/background.png'); }}</style></head>"
            f"<body><p>Linked content is not shown.</p><img src='{url}/remote.png' width='400' height='300'>"
            f"<img src='{local}' width='400' height='300'><img src='//127.0.0.1:{url.rsplit(':', 1)[1]}/rel.png'>"
            f"<svg width='400' height='300'><image href='{url}/svg.png' width='400' height='300'/></svg>"
            "</body></html>")
    inputs = [InputDocument(data=html.encode(), content_type="text/html; charset=utf-8", filename="mail.html")]
    out = tmp_path / "out.tif"
    if where == "in process":  # the URL fetcher alone, as when namespaces are not permitted
        result = await asyncio.to_thread(render_documents, inputs, out, RenderOptions())
    else:
        async with RenderPool(workers=1, workdir=tmp_path) as pool:
            result = await pool.render(inputs, RenderOptions(), out)
    assert result.pages == 1
    assert requests == []
    [page] = pages_of(out)
    assert page.any() and largest_black_area(page) < 0.01


def test_pictures_the_mail_carried_are_drawn(tmp_path: Path) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(_png(400, 300)).decode()
    html = f"<p>Two pictures:</p><img src='cid:one@mail' width='400' height='300'><img src='{data_url}'>"
    [page] = _render_html(html, tmp_path, {"<one@mail>": _png(400, 300)})
    wide_rows = page.sum(axis=1) > 400
    assert wide_rows.sum() > 2 * 300 * 0.75 * RenderOptions().geometry.y_per_point * 0.9  # both, one above the other


def _longest_runs(page: np.ndarray) -> np.ndarray:
    """The longest unbroken run of black pixels in each row."""
    padded = np.zeros((page.shape[0], page.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = page
    edges = np.diff(padded, axis=1)
    longest = np.zeros(page.shape[0], dtype=int)
    for row in range(page.shape[0]):
        starts, ends = np.flatnonzero(edges[row] == 1), np.flatnonzero(edges[row] == -1)
        if starts.size:
            longest[row] = int((ends - starts).max())
    return longest


def test_an_inline_logo_appears_once_inside_the_body_page(tmp_path: Path) -> None:
    from email.message import EmailMessage

    from gateway.render.header import HeaderFields, band_rows, stamp_header

    message = EmailMessage()
    message["From"] = "Shop <shop@example.com>"
    message["To"] = "5550100@fax.localhost"
    message["Subject"] = "Order"
    message.set_content("Your order has shipped.")
    message.add_alternative("<html><body><p><img src='cid:logo@shop' width='200' height='60'></p>"
                            "<p>Your order has shipped.</p></body></html>", subtype="html")
    html_part = message.get_payload()[1]
    html_part.add_related(_png(200, 60), "image", "png", cid="<logo@shop>", filename="logo.png")
    config = parse_config({"smtp": {"body": "page", "cover_page": False}})
    mail = parse_fax_mail(message.as_bytes(), config)
    result = render_documents(list(mail.documents), tmp_path / "out.tif", RenderOptions())
    assert result.pages == 1  # the logo is not faxed again as a page of its own
    [page] = pages_of(tmp_path / "out.tif")
    geometry = RenderOptions().geometry
    logo_w, logo_h = 200 * 0.75 * geometry.x_per_point, 60 * 0.75 * geometry.y_per_point
    rows = np.flatnonzero(_longest_runs(page) >= 0.9 * logo_w)
    assert rows.size == pytest.approx(logo_h, abs=3) and rows[-1] - rows[0] + 1 == rows.size  # one block
    stamped = np.unpackbits(stamp_header(np.packbits(page, axis=1), HeaderFields(
        datetime(2026, 3, 4), "+1 555 0100", "+1 555 0199", 1, 1)), axis=1).astype(bool)
    assert rows[0] > band_rows() and np.array_equal(stamped[band_rows():], page[band_rows():])
