"""Outlook's compressed RTF bodies ([MS-OXRTFCP] LZFu) and what their text says ([MS-OXRTFEX] de-encapsulation).

`decompress_rtf` turns PR_RTF_COMPRESSED into RTF bytes (the matching compressor, which tests build fixtures
with, is tests/support/rtf_compress.py). `read_rtf_body` tells encapsulated HTML (\\fromhtml1) and
encapsulated text (\\fromtext) from ordinary RTF and gives what a fax can use: the encapsulated HTML, the
text, or, for ordinary RTF, HTML written by gateway.intake.rtf_html with the formatting a fax reader needs.
The reader is deliberately small: groups, control words, \\'hh escapes in the \\ansicpg code page,
\\uN with \\ucN, hidden text (\\v), and the usual destinations skipped; per-font \\fcharset code pages are
not followed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Literal, Self

MAX_RAW_SIZE = 20 * 1024 * 1024
"""Refuse to inflate a compressed RTF body past this many bytes (decompression-bomb guard)."""

COMPRESSED, UNCOMPRESSED = 0x75465A4C, 0x414C454D  # 'LZFu', 'MELA'
HEADER_SIZE = 16
DICTIONARY_SIZE = 4096
MAX_MATCH = 17  # a reference's 4-bit length field holds length - 2
INITIAL_DICTIONARY = (
    b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor "
    b"MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par "
    b"\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
)
assert len(INITIAL_DICTIONARY) == 207


class RtfError(ValueError):
    """A compressed RTF body that is damaged, cut short or too large; the message says why in plain words."""


def rtf_crc(data: bytes) -> int:
    """[MS-OXRTFCP] CRC-32: the usual table, but started at 0 and not inverted at the end."""
    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


def decompress_rtf(data: bytes, *, max_size: int = MAX_RAW_SIZE) -> bytes:
    """PR_RTF_COMPRESSED to RTF bytes; RtfError if the stream is damaged or would inflate past `max_size`."""
    if len(data) < HEADER_SIZE:
        raise RtfError("the compressed RTF body is shorter than its header")
    comp_size, raw_size, comp_type, crc = struct.unpack_from("<IIII", data)
    if raw_size > max_size:
        raise RtfError(f"the RTF body would be {raw_size} bytes, more than the {max_size} allowed")
    if comp_size < HEADER_SIZE - 4 or comp_size + 4 > len(data):
        raise RtfError("the compressed RTF body is cut short")
    contents = data[HEADER_SIZE:comp_size + 4]
    if comp_type == UNCOMPRESSED:
        if raw_size > len(contents):
            raise RtfError("the uncompressed RTF body is cut short")
        return contents[:raw_size]
    if comp_type != COMPRESSED:
        raise RtfError(f"the RTF body uses an unknown compression type 0x{comp_type:08x}")
    if rtf_crc(contents) != crc:
        raise RtfError("the compressed RTF body fails its CRC check")
    return _inflate(contents, raw_size)


def _inflate(contents: bytes, raw_size: int) -> bytes:
    """The LZFu token loop: control bytes of 8 flags, literals, and 12-bit-offset/4-bit-length references."""
    dictionary = bytearray(DICTIONARY_SIZE)
    dictionary[:len(INITIAL_DICTIONARY)] = INITIAL_DICTIONARY
    write = len(INITIAL_DICTIONARY)
    out = bytearray()
    pos = 0
    while pos < len(contents):
        control = contents[pos]
        pos += 1
        for bit in range(8):
            if pos >= len(contents):
                break
            if not control & (1 << bit):
                byte = contents[pos]
                pos += 1
                if len(out) >= raw_size:
                    raise RtfError("the compressed RTF body is longer than its header says")
                out.append(byte)
                dictionary[write] = byte
                write = (write + 1) % DICTIONARY_SIZE
                continue
            if pos + 2 > len(contents):
                raise RtfError("the compressed RTF body is cut short inside a reference")
            token = (contents[pos] << 8) | contents[pos + 1]
            pos += 2
            offset, length = token >> 4, (token & 0xF) + 2
            if offset == write:
                return _finished(out, raw_size)
            if len(out) + length > raw_size:
                raise RtfError("the compressed RTF body is longer than its header says")
            for step in range(length):
                byte = dictionary[(offset + step) % DICTIONARY_SIZE]
                out.append(byte)
                dictionary[write] = byte
                write = (write + 1) % DICTIONARY_SIZE
    if len(out) != raw_size:
        raise RtfError("the compressed RTF body is cut short")
    return bytes(out)


def _finished(out: bytearray, raw_size: int) -> bytes:
    """At the end-of-stream reference the output must be exactly what the header promised."""
    if len(out) != raw_size:
        raise RtfError(f"the compressed RTF body holds {len(out)} bytes, its header says {raw_size}")
    return bytes(out)


# --- reading the RTF ------------------------------------------------------------------------------------------

RtfKind = Literal["rtf", "html", "text"]


@dataclass(frozen=True, slots=True)
class RtfBody:
    """An RTF message body as a mail body: `kind` says whether `content` is HTML or plain text."""

    kind: Literal["html", "text"]
    content: str
    source: RtfKind
    """What the RTF was: "html" (\\fromhtml1), "text" (\\fromtext) or "rtf" (ordinary, converted to HTML)."""
    plain: str | None = None
    """The plain text of ordinary RTF (rtf_to_text's), for the cover note and the option line."""


_SKIPPED_DESTINATIONS = frozenset({
    "fonttbl", "colortbl", "stylesheet", "info", "pict", "object", "header", "headerl", "headerr", "headerf",
    "footer", "footerl", "footerr", "footerf", "footnote", "themedata", "colorschememapping", "latentstyles",
    "datastore", "xmlnstbl", "listtable", "listoverridetable", "rsidtbl", "generator", "revtbl", "filetbl",
    "fldinst", "pntxta", "pntxtb", "shpinst", "nonshppict", "userprops", "template", "mmathPr", "bkmkstart",
    "bkmkend", "xe", "tc", "txe", "private", "objdata", "result",
})
_SYMBOLS = {
    "par": "\n", "line": "\n", "sect": "\n", "page": "\n", "row": "\n", "tab": "\t", "cell": "\t",
    "emdash": "\u2014", "endash": "\u2013", "bullet": "\u2022", "lquote": "\u2018", "rquote": "\u2019",
    "ldblquote": "\u201c", "rdblquote": "\u201d", "emspace": "\u2003", "enspace": "\u2002", "qmspace": "\u2005",
    "nestcell": "\t", "nestrow": "\n",
}
_CONTROL_SYMBOLS = {"~": "\u00a0", "_": "\u2011", "-": "", "\\": "\\", "{": "{", "}": "}"}
MAX_GROUP_DEPTH = 1000
"""Groups nested deeper than this share their ancestor's state: memory stays bounded (hostile RTF only)."""
_FONT_BULLETS = frozenset("·§Øüvqnl¨")  # Symbol's and Wingdings' usual bullets read through code page 1252
_HEADER_WORDS = 10  # [MS-OXRTFEX]: \fromhtml / \fromtext come in the first tokens of the document


@dataclass
class GroupState:
    """What a group inherits from its parent and loses at its end."""

    skip: bool = False
    unicode_skip: int = 1
    html_suppressed: bool = False
    html_tag: bool = False
    hidden: bool = False
    marker: bool = False
    """Inside \\listtext or \\pntext: a list item's bullet or number."""

    def child(self) -> Self:
        """The state a nested group starts with: a copy (copy.copy costs three times more per group)."""
        nested = object.__new__(type(self))
        nested.__dict__.update(self.__dict__)
        return nested


def read_rtf_body(rtf: bytes) -> RtfBody:
    """Encapsulated HTML or text taken out ([MS-OXRTFEX] section 2); ordinary RTF as HTML plus its plain text."""
    kind = _encapsulation(rtf)
    if kind == "rtf":
        from gateway.intake.rtf_html import rtf_to_html

        markup, plain = rtf_to_html(rtf)
        return RtfBody("html", markup, "rtf", plain)
    content = RtfReader(rtf, html=kind == "html").read()
    return RtfBody("html", content, kind) if kind == "html" else RtfBody("text", tidy_text(content), kind)


def rtf_to_text(rtf: bytes) -> str:
    """Plain text of any RTF (for the cover note and the option line)."""
    return tidy_text(RtfReader(rtf, html=False).read())


def tidy_text(text: str) -> str:
    """One line ending, no trailing blanks: the text is compared, cut and shown on a cover note."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def _encapsulation(rtf: bytes) -> RtfKind:
    """ "html" for \\fromhtml1, "text" for \\fromtext among the header's first control words, else "rtf"."""
    words = 0
    for token in TokenIterator(rtf):
        if token[0] == "word":
            if token[1] == "fromhtml" and token[2] == 1:
                return "html"
            if token[1] == "fromtext":
                return "text"
            words += 1
        elif token[0] == "text" or token[0] == "hex":
            break
        if words >= _HEADER_WORDS:
            break
    return "rtf"


_Token = tuple[str, str, int | None]


class TokenIterator:
    """RTF tokens: ("open"|"close", "", None), ("word", name, parameter), ("symbol", char, None),
    ("hex", "", byte), ("text", chars, None); raw CR/LF in the source are ignored."""

    def __init__(self, rtf: bytes) -> None:
        self.rtf = rtf
        self.pos = 0

    def __iter__(self) -> TokenIterator:
        return self

    def __next__(self) -> _Token:
        rtf, pos = self.rtf, self.pos
        while pos < len(rtf) and rtf[pos] in b"\r\n":
            pos += 1
        if pos >= len(rtf):
            self.pos = pos
            raise StopIteration
        byte = rtf[pos]
        if byte == 0x7B:
            self.pos = pos + 1
            return ("open", "", None)
        if byte == 0x7D:
            self.pos = pos + 1
            return ("close", "", None)
        if byte == 0x5C:
            return self._control(pos + 1)
        end = pos
        while end < len(rtf) and rtf[end] not in b"{}\\\r\n":
            end += 1
        self.pos = end
        return ("text", rtf[pos:end].decode("latin-1"), None)

    def _control(self, pos: int) -> _Token:
        rtf = self.rtf
        if pos >= len(rtf):
            self.pos = pos
            return ("symbol", "", None)
        byte = rtf[pos]
        if byte == 0x27:  # \'hh
            digits = rtf[pos + 1:pos + 3]
            self.pos = pos + 3
            try:
                return ("hex", "", int(digits, 16))
            except ValueError:
                return ("symbol", "", None)
        if not (0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A):
            self.pos = pos + 1
            if byte in b"\r\n":
                return ("word", "par", None)  # a backslash before a newline is a paragraph
            return ("symbol", chr(byte), None)
        end = pos
        while end < len(rtf) and (0x41 <= rtf[end] <= 0x5A or 0x61 <= rtf[end] <= 0x7A):
            end += 1
        name = rtf[pos:end].decode("ascii")
        number_start = end
        if end < len(rtf) and rtf[end] == 0x2D:
            end += 1
        while end < len(rtf) and 0x30 <= rtf[end] <= 0x39 and end - number_start < 11:
            end += 1
        digits = rtf[number_start:end]
        parameter = int(digits) if digits not in (b"", b"-") else None
        if end < len(rtf) and rtf[end] == 0x20:
            end += 1  # the space ending a control word belongs to it
        self.pos = end
        return ("word", name, parameter)


class RtfReader:
    """Walks the tokens once, keeping per-group state, and writes text (or encapsulated HTML).

    Subclasses (gateway.intake.rtf_html) see every visible piece of text in `_text_out`, every structural
    symbol word (\\par, \\cell, ...) in `_symbol_word` and every other control word in `_property`.
    """

    def __init__(self, rtf: bytes, *, html: bool) -> None:
        self.tokens = TokenIterator(rtf)
        self.html = html
        self.encoding = "cp1252"
        self.stack: list[GroupState] = [self._root_state()]
        self.parts: list[str] = []
        self.pending = bytearray()
        self.to_skip = 0
        self.group_opened = False
        self.overflow = 0

    @property
    def state(self) -> GroupState:
        return self.stack[-1]

    def _root_state(self) -> GroupState:
        return GroupState()

    def read(self) -> str:
        for kind, value, parameter in self.tokens:
            if kind == "open":
                self._open()
            elif kind == "close":
                self._close()
                if len(self.stack) == 1:
                    break  # the document's group has ended; Outlook leaves a NUL and line breaks after it
            elif kind == "word":
                self._word(value, parameter)
            elif kind == "symbol":
                self._symbol(value)
            elif kind == "hex":
                self._hex(parameter or 0)
            else:
                self._text(value)
        self._flush()
        # \uN gives UTF-16 code units: join surrogate pairs, replace lone halves (they cannot be encoded later).
        return "".join(self.parts).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")

    def _open(self) -> None:
        self._flush()
        self.to_skip = 0
        self.group_opened = True
        if len(self.stack) >= MAX_GROUP_DEPTH:
            self.overflow += 1
        else:
            self.stack.append(self.state.child())

    def _close(self) -> None:
        self._flush()
        self.to_skip = 0
        self.group_opened = False
        if self.overflow:
            self.overflow -= 1
        elif len(self.stack) > 1:
            self.stack.pop()

    def _word(self, name: str, parameter: int | None) -> None:
        opened, self.group_opened = self.group_opened, False
        if self.to_skip:
            self.to_skip -= 1
            return
        state = self.state
        if opened and (name in _SKIPPED_DESTINATIONS or (self.html and name == "mhtmltag")):
            state.skip = True
        elif opened and name in ("listtext", "pntext"):
            state.marker = True
        elif name == "htmltag" and self.html:
            state.html_tag = True
        elif name == "ansicpg" and parameter is not None:
            self.encoding = _codepage(parameter, self.encoding)
        elif name == "uc" and parameter is not None:
            state.unicode_skip = max(0, parameter)
        elif name == "htmlrtf":
            state.html_suppressed = parameter != 0
        elif name == "u" and parameter is not None:
            self._flush()
            self._emit(chr((parameter + 65536) % 65536 if parameter < 0 else min(parameter, 0x10FFFF)))
            self.to_skip = state.unicode_skip
        elif name in _SYMBOLS:
            self._flush()
            self._symbol_word(name)
        else:
            self._property(name, parameter)

    def _symbol_word(self, name: str) -> None:
        """A control word that stands for text or structure: \\par, \\tab, \\cell, \\emdash ..."""
        self._emit("\r\n" if self.html and name == "par" else _SYMBOLS[name])

    def _property(self, name: str, parameter: int | None) -> None:
        """A formatting control word; plain text only follows hidden text (\\v) and its reset (\\plain)."""
        if name == "v":
            self.state.hidden = parameter != 0
        elif name == "plain":
            self.state.hidden = False

    def _symbol(self, char: str) -> None:
        opened, self.group_opened = self.group_opened, False
        if char == "*":
            if opened:
                self._ignorable_destination()
            return
        if self.to_skip:
            self.to_skip -= 1
            return
        if char in _CONTROL_SYMBOLS:
            self._flush()
            self._emit(_CONTROL_SYMBOLS[char])

    def _ignorable_destination(self) -> None:
        """{\\* ...}: skipped unless it is \\htmltag while reading encapsulated HTML."""
        follower = self.tokens.pos
        probe = TokenIterator(self.tokens.rtf)
        probe.pos = follower
        word = next(probe, ("", "", None))
        if not (self.html and word[0] == "word" and word[1] == "htmltag"):
            self.state.skip = True

    def _hex(self, value: int) -> None:
        self.group_opened = False
        if self.to_skip:
            self.to_skip -= 1
            return
        if self._visible():
            self.pending.append(value)

    def _text(self, chars: str) -> None:
        self.group_opened = False
        if self.to_skip:
            skipped = min(self.to_skip, len(chars))
            chars = chars[skipped:]
            self.to_skip -= skipped
        if chars and self._visible():
            self.pending.extend(chars.encode("latin-1"))

    def _visible(self) -> bool:
        state = self.state
        if state.skip or (state.hidden and not self.html):
            return False
        return not (self.html and state.html_suppressed and not state.html_tag)

    def _emit(self, text: str) -> None:
        if self._visible():
            self._text_out(_bullet(text) if self.state.marker else text)

    def _flush(self) -> None:
        if self.pending:
            text = bytes(self.pending).decode(self.encoding, "replace")
            self.pending.clear()
            self._text_out(_bullet(text) if self.state.marker else text)

    def _text_out(self, text: str) -> None:
        """Visible text, in document order."""
        self.parts.append(text)


def _bullet(marker: str) -> str:
    """A list bullet drawn from the Symbol or Wingdings font (read as code page 1252, or as private-use \\uN) is
    shown as "•"; numbers and letters stay."""
    glyph = marker.strip()
    if len(glyph) == 1 and (glyph in _FONT_BULLETS or "\ue000" <= glyph <= "\uf8ff"):
        return marker.replace(glyph, "\u2022")
    return marker


def _codepage(number: int, current: str) -> str:
    """Python's codec name for a Windows code page number, or `current` if Python has none."""
    name = "utf-8" if number == 65001 else f"cp{number}"
    try:
        "".encode(name)
    except LookupError:
        return current
    return name
