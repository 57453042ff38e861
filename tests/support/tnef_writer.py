"""A small TNEF ([MS-OXTNEF]) writer for tests: winmail.dat with a compressed RTF body, as Outlook's Rich Text
mode sends it, and optional files."""

from __future__ import annotations

import struct

TNEF_SIGNATURE = 0x223E9F78
PT_LONG, PT_BOOLEAN, PT_STRING8, PT_UNICODE, PT_BINARY = 0x0003, 0x000B, 0x001E, 0x001F, 0x0102
PR_RTF_IN_SYNC, PR_RTF_COMPRESSED, PR_BODY = 0x0E1F, 0x1009, 0x1000
PR_ATTACH_METHOD, PR_ATTACH_LONG_FILENAME, PR_ATTACH_MIME_TAG = 0x3705, 0x3707, 0x370E


def attribute(level: int, attribute_id: int, attribute_type: int, data: bytes) -> bytes:
    """One TNEF attribute: level, id|type, length, data and its 16-bit byte-sum checksum."""
    header = struct.pack("<BII", level, (attribute_type << 16) | attribute_id, len(data))
    return header + data + struct.pack("<H", sum(data) & 0xFFFF)


def mapi_variable(prop_type: int, prop_id: int, value: bytes) -> bytes:
    """A variable-size MAPI property (one value, padded to 4 bytes)."""
    return struct.pack("<HHII", prop_type, prop_id, 1, len(value)) + value + b"\x00" * (-len(value) % 4)


def mapi_fixed(prop_type: int, prop_id: int, value: int) -> bytes:
    """A 4-byte MAPI property (PT_LONG, PT_BOOLEAN)."""
    return struct.pack("<HHI", prop_type, prop_id, value)


def winmail_dat(*, rtf_compressed: bytes | None = None, body_text: str | None = None,
                attachments: list[tuple[str, str, bytes]] | None = None) -> bytes:
    """A winmail.dat whose message properties hold PR_RTF_COMPRESSED (and PR_BODY when given), then the files."""
    stream = struct.pack("<IH", TNEF_SIGNATURE, 0x1F2E)
    stream += attribute(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))  # attTnefVersion
    stream += attribute(1, 0x9007, 0x0006, struct.pack("<II", 1252, 0))  # attOemCodepage
    stream += attribute(1, 0x8008, 0x0007, b"IPM.Microsoft Mail.Note\x00")  # attMessageClass
    properties = [mapi_fixed(PT_BOOLEAN, PR_RTF_IN_SYNC, 1)]
    if rtf_compressed is not None:
        properties.append(mapi_variable(PT_BINARY, PR_RTF_COMPRESSED, rtf_compressed))
    if body_text is not None:
        properties.append(mapi_variable(PT_STRING8, PR_BODY, body_text.encode("cp1252") + b"\x00"))
    stream += attribute(1, 0x9003, 0x0006, struct.pack("<I", len(properties)) + b"".join(properties))  # attMsgProps
    for long_name, mime, data in attachments or []:
        stream += attribute(2, 0x9002, 0x0006, struct.pack("<HIIHHI", 1, 0xFFFFFFFF, 0, 0, 0, 0))  # attAttachRendData
        stream += attribute(2, 0x8010, 0x0001, long_name.encode("cp1252") + b"\x00")  # attAttachTitle
        stream += attribute(2, 0x800F, 0x0006, data)  # attAttachData
        file_properties = [
            mapi_variable(PT_UNICODE, PR_ATTACH_LONG_FILENAME, (long_name + "\x00").encode("utf-16-le")),
            mapi_variable(PT_STRING8, PR_ATTACH_MIME_TAG, mime.encode("ascii") + b"\x00"),
            mapi_fixed(PT_LONG, PR_ATTACH_METHOD, 1),
        ]
        stream += attribute(2, 0x9005, 0x0006,
                            struct.pack("<I", len(file_properties)) + b"".join(file_properties))  # attAttachment
    return stream
