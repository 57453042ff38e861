"""Bad input and limits: each gets its own code and a plain reason, and no output file is left behind."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from gateway.render import InputDocument, RenderError, RenderErrorCode, RenderOptions, office, render_documents
from modem.faxtiff import write_fax_tiff
from tests.render.helpers import make_pdf


def render_error(tmp_path: Path, data: bytes, options: RenderOptions | None = None, **hints: str) -> RenderError:
    out = tmp_path / "out.tif"
    with pytest.raises(RenderError) as caught:
        render_documents([InputDocument(data=data, **hints)], out, options or RenderOptions())
    assert not out.exists()
    assert not list(tmp_path.glob(".out.tif*"))
    return caught.value


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def test_empty_and_unknown(tmp_path: Path) -> None:
    error = render_error(tmp_path, b"")
    assert error.code is RenderErrorCode.EMPTY_FILE and "empty" in error.reason
    error = render_error(tmp_path, bytes(range(256)) * 8, filename="report.pdf")
    assert error.code is RenderErrorCode.UNKNOWN_TYPE and "cannot be faxed" in error.reason
    assert error.document == "report.pdf"


def test_damaged_and_encrypted_pdf(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "doc.pdf", [{"lines": [(72, 72, "hello", {})]}] * 3).read_bytes()
    error = render_error(tmp_path, pdf[:300])
    assert error.code is RenderErrorCode.DAMAGED_PDF and "damaged" in error.reason
    doc = pymupdf.open(stream=pdf, filetype="pdf")
    locked = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="secret", owner_pw="owner")
    error = render_error(tmp_path, locked)
    assert error.code is RenderErrorCode.ENCRYPTED_PDF and "password" in error.reason
    # Owner-password-only PDFs (printing allowed, no password to open) are fine.
    owner_only = doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner")
    result = render_documents([InputDocument(data=owner_only)], tmp_path / "ok.tif", RenderOptions())
    assert result.pages == 3


def test_limits(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "doc.pdf", [{"lines": [(72, 72, "hello", {})]}] * 5).read_bytes()
    error = render_error(tmp_path, pdf, RenderOptions(max_pages=4))
    assert error.code is RenderErrorCode.TOO_MANY_PAGES and "at most 4 pages" in error.reason
    error = render_error(tmp_path, pdf, RenderOptions(max_input_bytes=1000))
    assert error.code is RenderErrorCode.INPUT_TOO_LARGE
    error = render_error(tmp_path, png_claiming(100_000, 100_000))
    assert error.code is RenderErrorCode.IMAGE_TOO_LARGE and "too large" in error.reason
    small = io.BytesIO()
    Image.new("L", (200, 200)).save(small, "PNG")
    error = render_error(tmp_path, small.getvalue(), RenderOptions(max_image_pixels=10_000))
    assert error.code is RenderErrorCode.IMAGE_TOO_LARGE and "200 x 200 pixels" in error.reason


def test_page_limit_counts_across_documents(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "doc.pdf", [{"lines": [(72, 72, "hello", {})]}] * 3).read_bytes()
    out = tmp_path / "out.tif"
    with pytest.raises(RenderError) as caught:
        render_documents([InputDocument(data=pdf), InputDocument(data=pdf)], out, RenderOptions(max_pages=5))
    assert caught.value.code is RenderErrorCode.TOO_MANY_PAGES
    assert not out.exists()


def test_damaged_image_and_fax_tiff(tmp_path: Path) -> None:
    png = io.BytesIO()
    Image.new("RGB", (300, 300), "red").save(png, "PNG")
    error = render_error(tmp_path, png.getvalue()[:120])
    assert error.code is RenderErrorCode.DAMAGED_IMAGE
    fax = tmp_path / "fax.tif"
    import numpy as np

    write_fax_tiff(fax, [np.packbits(np.random.default_rng(1).random((2000, 1728)) < 0.1, axis=1)])
    error = render_error(tmp_path, fax.read_bytes()[: fax.stat().st_size // 2])  # truncated in transit
    assert error.code is RenderErrorCode.DAMAGED_TIFF


def test_office_without_libreoffice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAXGATE_SOFFICE", str(tmp_path / "no-soffice-here"))
    monkeypatch.setattr(office, "_converter", None)
    docx = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(docx, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    error = render_error(tmp_path, docx.getvalue(), filename="letter.docx")
    assert error.code is RenderErrorCode.OFFICE_UNAVAILABLE
    assert "Office documents need LibreOffice" in error.reason


def test_error_survives_pickling() -> None:
    import pickle

    error = RenderError(RenderErrorCode.ENCRYPTED_PDF, "locked", document="a.pdf")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.reason, copy.document, str(copy)) == (error.code, "locked", "a.pdf", "a.pdf: locked")


def test_long_text_stops_at_the_page_limit(tmp_path: Path) -> None:
    error = render_error(tmp_path, b"line\n" * 20_000, RenderOptions(max_pages=10), content_type="text/plain")
    assert error.code is RenderErrorCode.TOO_MANY_PAGES and "more than 10 pages" in error.reason


def test_inline_image_bomb_in_html_mail(tmp_path: Path) -> None:
    html = b"<html><body><p>see picture</p><img src='cid:bomb'></body></html>"
    out = tmp_path / "out.tif"
    with pytest.raises(RenderError) as caught:
        render_documents([InputDocument(data=html, related={"bomb": png_claiming(50_000, 50_000)})], out,
                         RenderOptions())
    assert caught.value.code is RenderErrorCode.IMAGE_TOO_LARGE and not out.exists()
