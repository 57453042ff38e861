"""Outlook's RTF bodies from untrusted winmail.dat: decompress_rtf fails only with RtfError and never inflates past
its max_size; reading and converting RTF never raises and its output stays within the documented caps."""

from __future__ import annotations

import re
from unittest import mock

from hypothesis import event, example, given, target
from hypothesis import strategies as st

from gateway.intake import rtf_html
from gateway.intake.rtf import RtfError, decompress_rtf, read_rtf_body, rtf_to_text
from tests.fuzz.mutate import bytes_or_mutated
from tests.support.rtf_compress import compress_rtf

_WORDS = ["\\b", "\\b0", "\\i", "\\ul", "\\ulnone", "\\strike", "\\super", "\\sub", "\\nosupersub", "\\fs", "\\fs48",
          "\\fs-5", "\\fs99999999999", "\\plain", "\\pard", "\\qc", "\\qr", "\\qj", "\\li720", "\\fi-360", "\\sb240",
          "\\sa-20", "\\par", "\\line", "\\page", "\\sect", "\\tab", "\\cell", "\\row", "\\nestcell", "\\nestrow",
          "\\intbl", "\\itap2", "\\trowd", "\\cellx2000", "\\cellx-1", "\\clbrdrt", "\\brdrs", "\\brdrnil", "\\pagebb",
          "\\u8226", "\\u-3913", "\\u55357", "\\u56832", "\\uc0", "\\uc2", "\\'e9", "\\'8", "\\'zz", "\\ansicpg932",
          "\\ansicpg65001", "\\ansicpg1", "\\fromhtml1", "\\fromtext", "\\*", "\\htmltag", "\\htmlrtf", "\\htmlrtf0",
          "\\mhtmltag", "\\v", "\\v0", "\\fonttbl", "\\pict", "\\listtext", "\\pntext", "\\emdash", "\\bullet", "\\~",
          "\\-", "\\{", "\\}", "\\\\", "\\\r\n", "\\", "{", "}", "{\\*", "\\rtf1", "\\ansi", "\\deff0"]
_TEXT = st.sampled_from(['"', "&", "<", ">", "\t", " ", "x", "Hello world", "\xa7", "\x00", "\r\n", "·", "1."])
_TOKENS = st.lists(st.one_of(st.sampled_from(_WORDS), _TEXT), max_size=120)
_HEADS = st.sampled_from(["{\\rtf1\\ansi ", "{\\rtf1\\ansi\\fromhtml1 ", "{\\rtf1\\ansi\\fromtext ", ""])
_RTF = st.builds(lambda head, tokens: (head + "".join(tokens) + "}").encode("latin-1"), _HEADS, _TOKENS)
_ANY_RTF = bytes_or_mutated(_RTF, max_size=3000)


@given(_RTF, st.booleans())
def test_compressed_bodies_round_trip(rtf: bytes, compressed: bool) -> None:
    assert decompress_rtf(compress_rtf(rtf, compressed=compressed)) == rtf


@given(bytes_or_mutated(st.tuples(_RTF, st.booleans()).map(lambda case: compress_rtf(case[0], compressed=case[1])),
                        max_size=600),
       st.integers(0, 2000))
def test_damaged_compressed_bodies_fail_only_with_rtf_error(data: bytes, max_size: int) -> None:
    try:
        rtf = decompress_rtf(data, max_size=max_size)
    except RtfError as error:
        assert str(error)
        event("RtfError")
        return
    event("decompressed")
    assert len(rtf) <= max_size


@given(_ANY_RTF)
def test_reading_any_rtf_never_raises_and_stays_in_proportion(rtf: bytes) -> None:
    body = read_rtf_body(rtf)
    event(f"{body.source} as {body.kind}")
    text = rtf_to_text(rtf)
    # Every character out comes from at least one byte in (\par gives two: CR LF in encapsulated HTML).
    assert len(text) <= len(rtf)
    if body.source != "rtf":
        assert len(body.content) <= 2 * len(rtf)
    else:
        assert body.plain is not None and len(body.plain) <= len(rtf)


_CAP = 2000
_STYLE = re.compile(r"<style>.*?</style>", re.DOTALL)


@given(st.lists(_TOKENS, min_size=1, max_size=30).map(
    lambda parts: ("{\\rtf1\\ansi " + "".join("".join(tokens) for tokens in parts) + "}").encode("latin-1")))
@example(b'{\\rtf1 ' + b'"' * 3000 + b'}')  # one text run escaped to six times its size, all past the cap
@example(b'{\\rtf1 \\qj\\li6000\\fi6000\\sb1440\\sa1440\\pagebb ' + b'\\par' * 2000 + b'}')  # styled paragraphs
def test_html_stays_within_its_cap(rtf: bytes) -> None:
    """MAX_HTML_CHARS (lowered here so small inputs reach it) bounds the page, whatever the RTF holds."""
    with mock.patch.object(rtf_html, "MAX_HTML_CHARS", _CAP):
        markup, _ = rtf_html.rtf_to_html(rtf)
    body = _STYLE.sub("", markup)
    target(len(body) / _CAP)
    assert len(body) <= _CAP, len(body)
