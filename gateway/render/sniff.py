"""Decide what a document is from its bytes; names and declared types only break ties between text kinds."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from typing import Literal

Kind = Literal["pdf", "image", "tiff", "text", "html", "office"]

_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body|meta|div|table|p|h[1-6])[\s>/]",
                         re.IGNORECASE | re.DOTALL)
_OFFICE_ZIP_MARKERS = {
    "word/": "docx",
    "xl/": "xlsx",
    "ppt/": "pptx",
}
_ODF_KINDS = {"text": "odt", "spreadsheet": "ods", "presentation": "odp", "graphics": "odg"}
# Legacy Office files are OLE2 containers; the name of the main stream tells which application wrote them.
_OLE_STREAMS = {"WordDocument": "doc", "Workbook": "xls", "Book": "xls", "PowerPoint Document": "ppt"}


@dataclass(frozen=True, slots=True)
class Sniffed:
    """The kind of a document and, where it matters, the precise format."""

    kind: Kind
    format: str


def sniff(data: bytes, content_type: str | None = None) -> Sniffed | None:
    """Identify `data`; None when it is nothing we can fax."""
    head = data[:2048]
    if b"%PDF-" in head[:1024]:
        return Sniffed("pdf", "pdf")
    image = _sniff_image(head)
    if image is not None:
        return image
    office = _sniff_office(data)
    if office is not None:
        return Sniffed("office", office)
    declared = (content_type or "").split(";")[0].strip().lower()
    if _looks_textual(head):
        if declared == "text/plain":
            return Sniffed("text", "plain")
        if declared == "text/html" or _HTML_START.match(head.lstrip(b"\xef\xbb\xbf")):
            return Sniffed("html", "html")
        return Sniffed("text", "plain")
    return None


def _sniff_image(head: bytes) -> Sniffed | None:
    """Raster formats by magic number."""
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return Sniffed("tiff", "tiff")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "png")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "jpeg")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return Sniffed("image", "gif")
    if head.startswith(b"BM") and len(head) > 26:
        return Sniffed("image", "bmp")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return Sniffed("image", "webp")
    return None


def _sniff_office(data: bytes) -> str | None:
    """OOXML and ODF by their zip entries, legacy Office by the OLE2 signature, RTF by its header."""
    if data.startswith(b"{\\rtf"):
        return "rtf"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        for stream, kind in _OLE_STREAMS.items():
            if stream.encode("utf-16-le") in data:
                return kind
        return None
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                mimetype = archive.read("mimetype")[:100].decode("ascii", "replace")
                if mimetype.startswith("application/vnd.oasis.opendocument."):
                    return _ODF_KINDS.get(mimetype.rsplit(".", 1)[-1].strip(), "odt")
            if "[Content_Types].xml" in names:
                for prefix, kind in _OFFICE_ZIP_MARKERS.items():
                    if any(name.startswith(prefix) for name in names):
                        return kind
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    return None


def _looks_textual(head: bytes) -> bool:
    """Text has no NUL bytes (UTF-16 with a BOM excepted) and few control characters."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    if b"\x00" in head:
        return False
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return controls <= len(head) // 100
