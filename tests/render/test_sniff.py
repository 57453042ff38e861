"""Content sniffing: the bytes decide, names and declared types only break ties between text kinds."""

from __future__ import annotations

import io
import zipfile

import pytest

from gateway.render.sniff import sniff


def zipped(entries: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return out.getvalue()


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100)


@pytest.mark.parametrize(
    ("data", "declared", "kind", "fmt"),
    [
        (b"%PDF-1.7\n...", "application/octet-stream", "pdf", "pdf"),
        (b"\n\n%PDF-1.4 after some junk", None, "pdf", "pdf"),
        (b"\x89PNG\r\n\x1a\n" + bytes(20), None, "image", "png"),
        (b"\xff\xd8\xff\xe0" + bytes(20), "application/pdf", "image", "jpeg"),
        (b"GIF89a" + bytes(20), None, "image", "gif"),
        (b"BM" + bytes(40), None, "image", "bmp"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", None, "image", "webp"),
        (b"II*\x00" + bytes(20), None, "tiff", "tiff"),
        (b"MM\x00*" + bytes(20), None, "tiff", "tiff"),
        (zipped({"[Content_Types].xml": "x", "word/document.xml": "x"}), None, "office", "docx"),
        (zipped({"[Content_Types].xml": "x", "xl/workbook.xml": "x"}), None, "office", "xlsx"),
        (zipped({"[Content_Types].xml": "x", "ppt/presentation.xml": "x"}), None, "office", "pptx"),
        (zipped({"mimetype": "application/vnd.oasis.opendocument.spreadsheet"}), None, "office", "ods"),
        (OLE + "WordDocument".encode("utf-16-le"), None, "office", "doc"),
        (OLE + "Workbook".encode("utf-16-le"), None, "office", "xls"),
        (OLE + "PowerPoint Document".encode("utf-16-le"), None, "office", "ppt"),
        (b"{\\rtf1\\ansi hello}", None, "office", "rtf"),
        (b"<!DOCTYPE html><html><body>x</body></html>", None, "html", "html"),
        (b"\xef\xbb\xbf<html><p>x</p></html>", None, "html", "html"),
        (b"<p>looks like markup</p>", "text/plain; charset=utf-8", "text", "plain"),
        (b"Dear sir, <b> is just text here", "text/html", "html", "html"),
        (b"Plain words\nand lines\n", None, "text", "plain"),
        ("Grüße".encode("utf-16"), None, "text", "plain"),
    ],
)
def test_sniffed_by_content(data: bytes, declared: str | None, kind: str, fmt: str) -> None:
    found = sniff(data, declared)
    assert found is not None and (found.kind, found.format) == (kind, fmt)


@pytest.mark.parametrize("data", [bytes(range(256)), zipped({"readme.txt": "x"}), OLE, b"\x00\x01\x02binary"])
def test_unknown_content(data: bytes) -> None:
    assert sniff(data, "application/pdf") is None
