"""Text out of mail parts: charsets as mail clients really label them, HTML to plain text, signature cutting."""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import re
from collections.abc import Iterable
from email.message import Message
from html.parser import HTMLParser

from gateway.intake.charsets import decode_with, python_codec

_BLOCK_TAGS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table",
               "hr", "section", "article", "header", "footer", "ul", "ol", "dl", "dt", "dd"}
_SKIP_TAGS = {"script", "style", "head", "title", "template"}
_META_TAG = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
_META_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_SEGMENT = re.compile(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|<p[\s>]|<div[\s>]|<hr[\s>/]|</tr\s*>|\n")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset read as the WHATWG Encoding Standard reads it, then UTF-8, then
    Windows-1252; a byte order mark wins over any label. Never fails."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, "replace")
    codec = python_codec(charset) if charset else None
    if codec == "utf-8":
        return data.decode("utf-8", "replace")
    if codec is not None:
        try:
            return decode_with(data, codec)
        except UnicodeDecodeError:
            if codec == "cp1252":
                with contextlib.suppress(UnicodeDecodeError):
                    return data.decode("utf-8")  # mislabelled UTF-8 is common
            return decode_with(data, codec, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def meta_charset(head: bytes) -> str | None:
    """The charset an HTML document declares in a <meta> near its start (the WHATWG prescan's 1024 bytes)."""
    found = _META_CHARSET.search(head[:1024].decode("ascii", "replace"))
    return found.group(1) if found else None


def decode_html(data: bytes, charset: str | None) -> str:
    """HTML bytes as text, decoded once: byte order mark, then the MIME charset, then the document's own <meta>;
    the <meta> is rewritten to UTF-8 so that no renderer decodes the text a second time."""
    declared = charset if charset and python_codec(charset) else meta_charset(data)
    return declare_utf8(decode_bytes(data, declared))


def declare_utf8(markup: str) -> str:
    """The HTML with every <meta> charset declaration saying UTF-8 (the encoding faxgate hands the renderer)."""
    return _META_TAG.sub(lambda tag: _META_CHARSET.sub(_as_utf8, tag.group(0)), markup)


def _as_utf8(found: re.Match[str]) -> str:
    return found.group(0)[: found.start(1) - found.start(0)] + "utf-8" + found.group(0)[found.end(1) - found.start(0):]


def part_text(part: Message) -> str:
    """The decoded text of a text/* part (transfer encoding and charset both undone)."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset()
    if part.get_content_type() == "text/html":
        return decode_html(data, charset).replace("\r\n", "\n")
    return decode_bytes(data, charset).replace("\r\n", "\n")


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
    """A raw header value as text: RFC 2047 encoded words decoded (charset labels as in bodies), raw 8-bit text
    (SMTPUTF8, or a legacy charset) kept, folding undone."""
    if value is None:
        return ""
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):  # 8-bit bytes the parser kept as surrogates
        text = decode_bytes(text.encode("utf-8", "surrogateescape"), None)
    if "=?" in text:
        text = _decode_words(text)
    return " ".join(text.split())


def _decode_words(text: str) -> str:
    """RFC 2047 encoded words decoded; adjacent words in one charset are joined as bytes first, since mailers
    split a multi-byte character across two words; the blanks between encoded words vanish."""
    out: list[str] = []
    pending: list[tuple[str, bytes]] = []  # (charset, bytes) of the encoded words seen since the last text

    def flush() -> None:
        joined: list[tuple[str, bytes]] = []
        for charset, data in pending:
            if joined and joined[-1][0] == charset:
                joined[-1] = (charset, joined[-1][1] + data)
            else:
                joined.append((charset, data))
        out.extend(decode_bytes(data, charset) for charset, data in joined)
        pending.clear()

    position = 0
    for word in _ENCODED_WORD.finditer(text):
        between = text[position:word.start()]
        if between.strip() or not pending:
            flush()
            out.append(between)
        data = _word_bytes(word.group(2), word.group(3))
        if data is None:
            flush()
            out.append(word.group(0))
        else:
            pending.append((word.group(1).split("*", 1)[0].lower(), data))
        position = word.end()
    flush()
    out.append(text[position:])
    return "".join(out)


def _word_bytes(encoding: str, encoded: str) -> bytes | None:
    """The bytes of one encoded word ("B" base64, forgiving missing padding; "Q" quoted); None if damaged."""
    if encoding in "bB":
        try:
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            return None
    raw = encoded.replace("_", " ").encode("ascii", "replace")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda hexa: bytes([int(hexa.group(1), 16)]), raw)


def message_header(message: Message, name: str) -> str:
    """One header of a message as decoded text ("" when absent)."""
    return header_text(message.get(name))
