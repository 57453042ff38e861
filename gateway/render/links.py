"""Content a document only links to (pictures on the web or on the sender's disk): the render sandbox never fetches it,
so the fax goes out without it and the sender is told, in plain words, which file lost what.

Only the small parts of a document that hold links are read (Office relationship files, ODF content), each capped,
so a zip bomb costs no more here than its declared sizes allow.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from xml.etree import ElementTree

from gateway.render.options import InputDocument
from gateway.textsafe import safe_text

LEFT_OUT = "left_out"
"""The key of submissions.options that keeps these notes for the receipt."""
PART_READ_LIMIT = 8 * 1024 * 1024
"""Bytes read from one XML part; a larger part is read no further (its links past that are not counted)."""
_OOXML_CONTENT_TYPES = ("image", "oleObject", "package", "attachedTemplate", "frame", "subDocument", "audio", "video")
_ODF_LINKING_ELEMENTS = ("image", "object", "object-ole", "plugin", "section-source", "frame")
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_HTML_REMOTE = re.compile(rb"""<(?:img|image|input|embed|iframe|link|script)\b[^>]*?\b(?:src|href)\s*=\s*["']?\s*"""
                          rb"""(?:https?:|ftp:|file:|//)""", re.IGNORECASE)


def left_out_notes(documents: Sequence[InputDocument]) -> list[str]:
    """One sentence per document that links to content outside itself, for the receipt."""
    notes = []
    for document in documents:
        data = document.data if document.data is not None else (
            document.path.read_bytes() if document.path is not None else b"")
        count = linked_content_count(data)
        if count:
            what = "one picture or object" if count == 1 else f"{count} pictures or objects"
            notes.append(f"{safe_text(document.name, 80)!r} links to {what} outside the document; "
                         f"the fax was sent without {'it' if count == 1 else 'them'}.")
    return notes


def linked_content_count(data: bytes) -> int:
    """How many pieces of content the document links to instead of carrying (0 for anything else)."""
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return _ooxml_links(archive) + _odf_links(archive)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return 0
    head = data[:4096].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if head.startswith(b"<") and (b"<html" in head or b"<!doctype html" in head or b"<body" in head):
        return len(_HTML_REMOTE.findall(data))
    return 0


def _read_part(archive: zipfile.ZipFile, name: str) -> bytes:
    with archive.open(name) as part:
        return part.read(PART_READ_LIMIT)


def _parse(data: bytes) -> ElementTree.Element | None:
    try:
        return ElementTree.fromstring(data)  # noqa: S314  # the stdlib parser expands no external entities
    except ElementTree.ParseError:
        return None


def _ooxml_links(archive: zipfile.ZipFile) -> int:
    """Relationships of Word, Excel and PowerPoint files that point outside the package (TargetMode="External");
    hyperlinks are text a reader can follow, not content, and are not counted."""
    count = 0
    for name in archive.namelist():
        if not name.endswith(".rels"):
            continue
        root = _parse(_read_part(archive, name))
        if root is None:
            continue
        for relation in root:
            kind = relation.get("Type", "").rsplit("/", 1)[-1]
            if relation.get("TargetMode") == "External" and kind in _OOXML_CONTENT_TYPES:
                count += 1
    return count


def _odf_links(archive: zipfile.ZipFile) -> int:
    """Pictures and objects of OpenDocument files whose xlink:href leaves the package."""
    names = archive.namelist()
    count = 0
    for name in ("content.xml", "styles.xml"):
        if name not in names:
            continue
        root = _parse(_read_part(archive, name))
        if root is None:
            continue
        for element in root.iter():
            target = element.get(_XLINK_HREF)
            if target is None or element.tag.rsplit("}", 1)[-1] not in _ODF_LINKING_ELEMENTS:
                continue
            inside = target.removeprefix("./").rstrip("/")
            if not target.startswith("#") and not any(n == inside or n.startswith(inside + "/") for n in names):
                count += 1
    return count
