"""A small reader for Outlook's winmail.dat (TNEF, [MS-OXTNEF]): its attachments and its plain, HTML or RTF body.

Only what faxing needs: attachment file names, MIME types and bytes, and the message body as text, HTML or
RTF. The RTF body (PR_RTF_COMPRESSED, which Outlook's "Rich Text" mode sends as the only body) is decompressed
here ([MS-OXRTFCP], gateway.intake.rtf); a damaged one is left out and its reason kept in `body_rtf_error`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from gateway.intake.rtf import RtfError, decompress_rtf

TNEF_SIGNATURE = 0x223E9F78
LEVEL_MESSAGE, LEVEL_ATTACHMENT = 0x01, 0x02
# Attribute ids (the low 16 bits of the attribute's 32-bit id; the high 16 bits carry the type).
ATT_BODY = 0x800C
ATT_ATTACH_DATA = 0x800F
ATT_ATTACH_TITLE = 0x8010
ATT_MSG_PROPS = 0x9003
ATT_ATTACH_RENDDATA = 0x9002
ATT_ATTACHMENT = 0x9005
ATT_OEM_CODEPAGE = 0x9007
# MAPI property ids.
PR_BODY = 0x1000
PR_BODY_HTML = 0x1013
PR_RTF_COMPRESSED = 0x1009
PR_ATTACH_DATA = 0x3701
PR_ATTACH_FILENAME = 0x3704
PR_ATTACH_LONG_FILENAME = 0x3707
PR_ATTACH_MIME_TAG = 0x370E
PR_DISPLAY_NAME = 0x3001
# MAPI property types.
PT_STRING8, PT_UNICODE, PT_BINARY, PT_OBJECT = 0x001E, 0x001F, 0x0102, 0x000D
MV_FLAG = 0x1000
_FIXED_SIZES = {0x0002: 4, 0x0003: 4, 0x0004: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8, 0x000A: 4, 0x000B: 4,
                0x0014: 8, 0x0040: 8, 0x0048: 16, 0x0001: 0}
_CODEPAGES = {1252: "cp1252", 1251: "cp1251", 1250: "cp1250", 932: "cp932", 936: "gbk", 949: "cp949",
              950: "cp950", 65001: "utf-8", 437: "cp437", 850: "cp850", 866: "cp866", 1253: "cp1253",
              1254: "cp1254", 1255: "cp1255", 1256: "cp1256", 1257: "cp1257", 874: "cp874"}


class TnefError(ValueError):
    """winmail.dat that is not TNEF or is cut short."""


@dataclass
class TnefAttachment:
    """One file carried inside winmail.dat."""

    filename: str = ""
    data: bytes | None = None
    mime_type: str = ""
    embedded_message: bool = False


@dataclass
class TnefContent:
    """What a winmail.dat holds that a fax can use."""

    body_text: str = ""
    body_html: str = ""
    body_rtf: bytes = b""
    """The decompressed RTF body, if winmail.dat carries one."""
    body_rtf_error: str = ""
    """Why a compressed RTF body present in winmail.dat could not be decompressed."""
    attachments: list[TnefAttachment] = field(default_factory=list)


def is_tnef(data: bytes) -> bool:
    """True when `data` starts with the TNEF signature."""
    return len(data) >= 6 and struct.unpack_from("<I", data)[0] == TNEF_SIGNATURE


def read_tnef(data: bytes) -> TnefContent:
    """Parse winmail.dat; TnefError if it is not TNEF or is damaged."""
    if not is_tnef(data):
        raise TnefError("not a TNEF stream (winmail.dat signature missing)")
    content = TnefContent()
    encoding = "cp1252"
    current: TnefAttachment | None = None
    offset = 6
    while offset < len(data):
        if offset + 9 > len(data):
            raise TnefError("winmail.dat is cut short")
        level, attribute, length = struct.unpack_from("<BII", data, offset)
        start = offset + 9
        end = start + length
        if end + 2 > len(data):
            raise TnefError("winmail.dat is cut short")
        value = data[start:end]
        offset = end + 2  # skip the checksum
        attribute_id = attribute & 0xFFFF
        if attribute_id == ATT_OEM_CODEPAGE and len(value) >= 4:
            encoding = _CODEPAGES.get(struct.unpack_from("<I", value)[0], "cp1252")
        elif level == LEVEL_MESSAGE and attribute_id == ATT_BODY:
            content.body_text = _text8(value, encoding)
        elif level == LEVEL_MESSAGE and attribute_id == ATT_MSG_PROPS:
            properties = _properties(value, encoding)
            if isinstance(properties.get(PR_BODY), str) and not content.body_text:
                content.body_text = str(properties[PR_BODY])
            html = properties.get(PR_BODY_HTML)
            if html is not None:
                content.body_html = html.decode(encoding, "replace") if isinstance(html, bytes) else str(html)
            _read_rtf_body(content, properties.get(PR_RTF_COMPRESSED))
        elif level == LEVEL_ATTACHMENT and attribute_id == ATT_ATTACH_RENDDATA:
            current = TnefAttachment()
            content.attachments.append(current)
        elif level == LEVEL_ATTACHMENT and current is not None:
            _attachment_attribute(current, attribute_id, value, encoding)
    return content


def _read_rtf_body(content: TnefContent, compressed: object) -> None:
    """Decompress PR_RTF_COMPRESSED; damage loses only this body, so it is recorded rather than raised."""
    if not isinstance(compressed, bytes):
        return
    try:
        content.body_rtf = decompress_rtf(compressed)
    except RtfError as error:
        content.body_rtf, content.body_rtf_error = b"", str(error)


def _attachment_attribute(attachment: TnefAttachment, attribute_id: int, value: bytes, encoding: str) -> None:
    """Fill one attachment from attAttachTitle, attAttachData or its MAPI properties (which win)."""
    if attribute_id == ATT_ATTACH_TITLE and not attachment.filename:
        attachment.filename = _text8(value, encoding)
    elif attribute_id == ATT_ATTACH_DATA and attachment.data is None:
        attachment.data = value
    elif attribute_id == ATT_ATTACHMENT:
        properties = _properties(value, encoding)
        for key in (PR_ATTACH_LONG_FILENAME, PR_DISPLAY_NAME, PR_ATTACH_FILENAME):
            name = properties.get(key)
            if isinstance(name, str) and name:
                attachment.filename = name
                break
        mime = properties.get(PR_ATTACH_MIME_TAG)
        if isinstance(mime, str):
            attachment.mime_type = mime
        blob = properties.get(PR_ATTACH_DATA)
        if isinstance(blob, bytes):
            attachment.data = blob
        elif blob is _EMBEDDED:
            attachment.embedded_message = True


_EMBEDDED = object()


def _text8(value: bytes, encoding: str) -> str:
    return value.split(b"\x00", 1)[0].decode(encoding, "replace")


def _properties(blob: bytes, encoding: str) -> dict[int, object]:
    """Decode a MAPI property list (attMsgProps / attAttachment) into {property id: value}."""
    found: dict[int, object] = {}
    reader = _Reader(blob)
    count = reader.u32()
    for _ in range(count):
        prop_type, prop_id = reader.u16(), reader.u16()
        if prop_id >= 0x8000:  # named property: GUID, kind, then a number or a name
            reader.skip(16)
            if reader.u32() == 0:
                reader.skip(4)
            else:
                reader.skip(_padded(reader.u32()))
        base = prop_type & ~MV_FLAG
        values: list[object] = []
        if base in _FIXED_SIZES:
            repeat = reader.u32() if prop_type & MV_FLAG else 1
            for _ in range(repeat):
                raw = reader.take(_FIXED_SIZES[base])
                reader.skip(_padded(len(raw)) - len(raw))
                values.append(raw)
        elif base in (PT_STRING8, PT_UNICODE, PT_BINARY, PT_OBJECT):
            for _ in range(reader.u32()):
                size = reader.u32()
                raw = reader.take(size)
                reader.skip(_padded(size) - size)
                if base == PT_STRING8:
                    values.append(_text8(raw, encoding))
                elif base == PT_UNICODE:
                    values.append(raw.decode("utf-16-le", "replace").split("\x00", 1)[0])
                elif base == PT_OBJECT:
                    values.append(_EMBEDDED)
                else:
                    values.append(raw)
        else:
            raise TnefError(f"unknown MAPI property type 0x{prop_type:04x} in winmail.dat")
        if values:
            found[prop_id] = values[0]
    return found


def _padded(size: int) -> int:
    return (size + 3) & ~3


class _Reader:
    """Little-endian reads over bytes that fail as TnefError, never IndexError."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.offset + size > len(self.data):
            raise TnefError("a MAPI property list in winmail.dat is cut short")
        chunk = self.data[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def skip(self, size: int) -> None:
        self.take(size)

    def u16(self) -> int:
        return int(struct.unpack("<H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])
