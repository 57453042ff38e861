"""winmail.dat from untrusted mail: read_tnef fails only with TnefError (a damaged RTF body only sets
body_rtf_error), and nothing it returns is larger than the stream it read (the RTF body: than MAX_RAW_SIZE)."""

from __future__ import annotations

import struct

from hypothesis import event, given
from hypothesis import strategies as st

from gateway.intake.rtf import MAX_RAW_SIZE
from gateway.intake.tnef import (
    ATT_ATTACH_DATA,
    ATT_ATTACH_RENDDATA,
    ATT_ATTACH_TITLE,
    ATT_ATTACHMENT,
    ATT_BODY,
    ATT_MSG_PROPS,
    ATT_OEM_CODEPAGE,
    PR_ATTACH_DATA,
    PR_ATTACH_FILENAME,
    PR_ATTACH_LONG_FILENAME,
    PR_ATTACH_MIME_TAG,
    PR_BODY,
    PR_BODY_HTML,
    PR_DISPLAY_NAME,
    PR_RTF_COMPRESSED,
    TNEF_SIGNATURE,
    TnefError,
    is_tnef,
    read_tnef,
)
from tests.fuzz.mutate import bytes_or_mutated
from tests.support.rtf_compress import compress_rtf
from tests.support.tnef_writer import attribute, winmail_dat

_PROP_IDS = [PR_BODY, PR_BODY_HTML, PR_RTF_COMPRESSED, PR_ATTACH_DATA, PR_ATTACH_FILENAME, PR_ATTACH_LONG_FILENAME,
             PR_ATTACH_MIME_TAG, PR_DISPLAY_NAME, 0x8001, 0x0E1F]
_PROP_TYPES = [0x0002, 0x0003, 0x0005, 0x0040, 0x0048, 0x0001, 0x000B, 0x001E, 0x001F, 0x0102, 0x000D, 0x101E,
               0x1102, 0x1003, 0x00FB]


@st.composite
def _property(draw: st.DrawFn) -> bytes:
    prop_type, prop_id = draw(st.sampled_from(_PROP_TYPES)), draw(st.sampled_from(_PROP_IDS))
    out = struct.pack("<HH", prop_type, prop_id)
    if prop_id >= 0x8000:  # named: GUID, kind 0 (number) or 1 (name)
        out += bytes(16) + (struct.pack("<II", 0, 1) if draw(st.booleans()) else struct.pack("<II", 1, 4) + b"n\0\0\0")
    if prop_type & 0x1000 or prop_type in (0x001E, 0x001F, 0x0102, 0x000D):
        if prop_id == PR_RTF_COMPRESSED:
            values = [compress_rtf(b"{\\rtf1\\ansi " + draw(st.binary(max_size=40)) + b"}",
                                   compressed=draw(st.booleans()))]
        else:
            values = draw(st.lists(st.binary(max_size=40), max_size=3))
        out += struct.pack("<I", len(values))
        for value in values:
            out += struct.pack("<I", len(value)) + value + b"\0" * (-len(value) % 4)
    else:
        out += draw(st.binary(min_size=4, max_size=16))
    return out


@st.composite
def _stream(draw: st.DrawFn) -> bytes:
    """A TNEF stream of message and attachment attributes, with property lists the reader decodes."""
    out = struct.pack("<IH", TNEF_SIGNATURE, 0x1F2E)
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from([ATT_OEM_CODEPAGE, ATT_BODY, ATT_MSG_PROPS, ATT_ATTACH_RENDDATA, ATT_ATTACH_TITLE,
                                     ATT_ATTACH_DATA, ATT_ATTACHMENT, 0x8008]))
        if kind in (ATT_MSG_PROPS, ATT_ATTACHMENT):
            properties = draw(st.lists(_property(), max_size=4))
            count = draw(st.sampled_from([len(properties), len(properties) + 1, 0xFFFFFFFF]))
            data = struct.pack("<I", count) + b"".join(properties)
        elif kind == ATT_OEM_CODEPAGE:
            data = struct.pack("<II", draw(st.sampled_from([1252, 932, 65001, 0, 20127, 0xFFFFFFFF])), 0)
        else:
            data = draw(st.binary(max_size=40))
        level = 1 if kind in (ATT_OEM_CODEPAGE, ATT_BODY, ATT_MSG_PROPS, 0x8008) else 2
        out += attribute(draw(st.sampled_from([level, level, 3])), kind, 6, data)
    return out


_valid = st.one_of(
    _stream(),
    st.builds(lambda text, files: winmail_dat(body_text=text, attachments=files),
              st.none() | st.text(alphabet=st.characters(codec="cp1252"), max_size=30),
              st.lists(st.tuples(st.sampled_from(["a.pdf", "b.txt", ""]), st.sampled_from(["application/pdf", ""]),
                                 st.binary(max_size=30)), max_size=2)),
)


@given(st.one_of(_valid, bytes_or_mutated(_valid, max_size=1000)))
def test_winmail_dat_reads_or_fails_with_tnef_error(data: bytes) -> None:
    if not is_tnef(data):
        event("not TNEF")
    try:
        content = read_tnef(data)
    except TnefError as error:
        assert str(error)
        event("TnefError")
        return
    event(f"read: {len(content.attachments)} attachments" + (", RTF body" if content.body_rtf else ""))
    assert len(content.body_text) <= len(data) and len(content.body_html) <= len(data)
    assert len(content.body_rtf) <= MAX_RAW_SIZE
    assert not (content.body_rtf and content.body_rtf_error)
    for attachment in content.attachments:
        assert len(attachment.filename) <= len(data) and len(attachment.mime_type) <= len(data)
        assert attachment.data is None or len(attachment.data) <= len(data)
