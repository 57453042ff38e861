"""Attachments judged before they are queued: what can never become pages (archives, sound, BinHex, damaged
base64) is named in plain words, and what would only be a junk page (a tracking pixel, a spacer, a logo, an
empty part) is recognised, so the far end receives what the sender meant to send."""

from __future__ import annotations

import io
from email.errors import InvalidBase64CharactersDefect, InvalidBase64LengthDefect
from email.message import Message

from gateway.render.sniff import sniff

TINY_IMAGE_PX = 200
"""An inline image (not sent as an attachment) whose width and height are both under this many pixels (one inch
at fax resolution) is a logo, an icon or a tracking pixel, never a page of its own; so is one under
TINY_IMAGE_SIDE_PX on either side (a spacer)."""
TINY_IMAGE_SIDE_PX = 16

_ARCHIVES = (
    (b"PK\x03\x04", "a ZIP archive"), (b"Rar!\x1a\x07", "a RAR archive"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"), (b"BZh", "a bzip2 archive"), (b"\xfd7zXZ\x00", "an xz archive"),
)
_SOUND = (b"RIFF", b"ID3", b"OggS", b"fLaC", b"FORM", b".snd", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
_BINHEX = b"(This file must be converted with BinHex"


def describe(filename: str | None, content_type: str) -> str:
    """How a refusal names a part: its file name, or what it is when the mail gives it none."""
    return repr(filename) if filename else f"an unnamed {content_type} part"


def unfaxable(part: Message, data: bytes, name: str) -> str | None:
    """Why this attachment can never be faxed, naming it (None when it can be rendered or tried)."""
    content_type = part.get_content_type()
    if any(isinstance(defect, (InvalidBase64CharactersDefect, InvalidBase64LengthDefect))
           for defect in part.defects):
        return f"the attachment {name} is damaged: its base64 encoding is broken, so it cannot be read"
    if content_type == "application/mac-binhex40" or data.lstrip()[:60].startswith(_BINHEX):
        return (f"the attachment {name} is a BinHex-encoded Macintosh file, which cannot be faxed; "
                "attach the file itself")
    found = sniff(data, content_type)
    if found is not None and found.kind != "text":
        return None
    archive = next((kind for magic, kind in _ARCHIVES if data.startswith(magic)), None)
    if archive is not None and found is None:
        return f"the attachment {name} is {archive}, which cannot be faxed; attach the files in it instead"
    if part.get_content_maintype() in ("audio", "video") or (found is None and data.startswith(_SOUND)):
        return f"the attachment {name} is a sound or video recording, which cannot be faxed"
    if found is None:
        return (f"the attachment {name} is a kind of file that cannot be faxed; send PDF, an image, plain text, "
                "HTML or an Office document")
    return None


def is_tiny_image(data: bytes) -> bool:
    """A raster image too small to be a page (see TINY_IMAGE_PX); unreadable images are left to the renderer."""
    found = sniff(data[:2048])
    if found is None or found.kind != "image":
        return False
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # Pillow raises many types for damaged files; the renderer reports those in its words
        return False
    return (width < TINY_IMAGE_PX and height < TINY_IMAGE_PX) or min(width, height) < TINY_IMAGE_SIDE_PX
