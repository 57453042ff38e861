"""Text out of mail parts: charsets as mail clients really label them, HTML to plain text, signature cutting."""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Iterable
from email.errors import MessageError
from email.header import decode_header, make_header
from email.message import Message
from html.parser import HTMLParser

# Labels mail clients use for supersets: decode with the superset, as browsers do (WHATWG Encoding).
_SUPERSETS = {
    "us-ascii": "cp1252", "ascii": "cp1252", "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "iso-8859-9": "cp1254", "iso-8859-11": "cp874", "tis-620": "cp874",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "windows-31j": "cp932",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "euc-cn": "gb18030",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949", "big5": "big5hkscs", "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
}
_BLOCK_TAGS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table",
               "hr", "section", "article", "header", "footer", "ul", "ol", "dl", "dt", "dd"}
_SKIP_TAGS = {"script", "style", "head", "title", "template"}
_SEGMENT = re.compile(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|<p[\s>]|<div[\s>]|<hr[\s>/]|</tr\s*>|\n")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset (read as its superset), then UTF-8, then Windows-1252; never fails."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, "replace")
    if charset:
        label = charset.strip().strip('"').lower()
        encoding = _SUPERSETS.get(label, label)
        # Unknown labels and codecs that are no charset (rot13, base64, idna) are read as if undeclared.
        with contextlib.suppress(LookupError, UnicodeError):
            return _decode_declared(data, encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _decode_declared(data: bytes, encoding: str) -> str:
    """Decode with a declared charset; mislabelled UTF-8 in "cp1252" is read as UTF-8, damage as U+FFFD."""
    if encoding in ("utf-8", "utf_8"):
        return data.decode("utf-8", "replace")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        if encoding == "cp1252":
            try:
                return data.decode("utf-8")  # mislabelled UTF-8 is common
            except UnicodeDecodeError:
                pass
        return data.decode(encoding, "replace")


def part_text(part: Message) -> str:
    """The decoded text of a text/* part (transfer encoding and charset both undone)."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return decode_bytes(data, part.get_content_charset()).replace("\r\n", "\n")


class _TextExtractor(HTMLParser):
    """HTML to readable text: blocks become lines, scripts and styles vanish, entities are decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.chunks.append("\n")
        elif tag == "td":
            self.chunks.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.chunks.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable plain text of an HTML body (for the cover note and option lines)."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = [line.strip() for line in "".join(extractor.chunks).replace("\xa0", " ").split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def cut_text(text: str, patterns: Iterable[re.Pattern[str]]) -> str:
    """The text up to the first line a cut pattern matches (a signature or disclaimer), trailing blanks removed."""
    compiled = list(patterns)
    lines = text.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        if any(pattern.search(line.rstrip()) for pattern in compiled):
            lines = lines[:index]
            break
    return "\n".join(lines).rstrip()


def cut_html(html: str, patterns: Iterable[re.Pattern[str]], markers: Iterable[str]) -> str:
    """The HTML up to a signature marker in the markup, or up to the first text line a cut pattern matches."""
    cut = len(html)
    lowered = html.lower()
    for marker in markers:
        found = lowered.find(marker.lower())
        if found >= 0:
            tag_start = html.rfind("<", 0, found)
            cut = min(cut, tag_start if tag_start >= 0 else found)
    compiled = list(patterns)
    start = 0
    for match in [*_SEGMENT.finditer(html[:cut]), None]:
        end = match.start() if match else cut
        segment_text = html_to_text(html[start:end])
        for line in segment_text.split("\n"):
            if line.strip() and any(pattern.search(line.strip()) for pattern in compiled):
                return html[:start]
        if match:
            start = match.start()
    return html[:cut]


def remove_first_line_matching(text: str, pattern: re.Pattern[str]) -> str:
    """Drop the first non-blank line if it matches (the "fax: ..." option line)."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.strip():
            if pattern.match(line):
                del lines[index]
            break
    return "\n".join(lines)


def header_text(value: object) -> str:
    """A raw header value as text: RFC 2047 encoded words decoded, raw UTF-8 (SMTPUTF8) kept, folding undone."""
    if value is None:
        return ""
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):  # 8-bit bytes the parser kept as surrogates
        text = text.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    if "=?" in text:
        with contextlib.suppress(ValueError, LookupError, UnicodeError, MessageError):  # damaged words stay raw
            text = str(make_header(decode_header(text)))
    return " ".join(text.split())


def message_header(message: Message, name: str) -> str:
    """One header of a message as decoded text ("" when absent)."""
    return header_text(message.get(name))
