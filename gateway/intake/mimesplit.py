"""A fast path for the standard library's mail parser: the same Message tree, without reading bodies line by line.

`email.parser.BytesParser` (compat32) feeds every line of a mail through a generator, so a 14 KB mail with a
base64 PDF costs about 0.4 ms before faxgate looks at it, and intake pays that before its 250. Here only the
header blocks go through the standard parser; part boundaries are found with one regular expression over the
body, and bodies are set as whole strings, following the feed parser's rules (RFC 2046: the line break before a
boundary belongs to the boundary; preamble and epilogue kept as it keeps them). Whenever a mail is not plain
sailing (a lone CR, a missing boundary or close delimiter, a header defect, a digest, a delivery status, a
doubled boundary line), `split_message` returns None and the caller uses the standard parser, so the two never
disagree on a mail the fast path accepts (tests compare both on every fixture and on generated mails).
"""

from __future__ import annotations

import re
from email.message import Message
from itertools import pairwise
from typing import NamedTuple

_BLANK_LINE = re.compile(r"\r?\n\r?\n")
_HEADER_NAME = re.compile(r"[\041-\071\073-\176]+:")
_DELIMITER_REST = re.compile(r"(?P<end>--)?[ \t]*(?P<eol>\r\n|\n|\Z)")
_PASS_THROUGH_ENCODINGS = ("7bit", "8bit", "binary")
MAX_DEPTH = 20
"""Deeper nesting goes to the standard parser (which has no such limit of its own)."""


def split_message(raw: bytes) -> Message | None:
    """The Message BytesParser(policy=compat32) would build from `raw`, or None when the fast path is unsure."""
    text = raw.decode("ascii", "surrogateescape")
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None  # lone CR line endings: the feed parser's line splitting is not worth copying
    return _entity(text, 0)


def _headers(text: str) -> tuple[Message, str] | None:
    """The header block read as the feed parser reads it, and the body after the blank line."""
    if text.startswith(("\r\n", "\n")):
        return Message(), text[2 if text.startswith("\r\n") else 1:]
    blank = _BLANK_LINE.search(text)
    if blank is None:
        return None
    end_of_last_header = blank.start() + (2 if text.startswith("\r\n", blank.start()) else 1)
    message = _header_lines(text[:end_of_last_header].split("\n")[:-1])
    return None if message is None else (message, text[blank.end():])


def _header_lines(lines: list[str]) -> Message | None:
    """Header lines (without their LF) as the feed parser stores them (compat32 header_source_parse: the value
    after the colon and leading blanks, continuation lines kept with their line breaks); None on any defect."""
    message = Message()
    name, value = "", [""]
    for number, line in enumerate(lines):
        if line[:1] in (" ", "\t"):
            if not name:
                return None  # a continuation line first
            value.append("\n" + line)
            continue
        if line.startswith("From "):
            if number != 0:
                return None  # an envelope line later on: the feed parser treats it as body or a defect
            message.set_unixfrom(line.rstrip("\r"))
            continue
        if not _HEADER_NAME.match(line):
            return None
        if name:
            message.set_raw(name, "".join(value).rstrip("\r\n"))
        name, _, first = line.partition(":")
        value = [first.lstrip(" \t")]
    if name:
        message.set_raw(name, "".join(value).rstrip("\r\n"))
    return message


def _entity(text: str, depth: int, before_boundary: bool = False) -> Message | None:
    """One MIME entity (a mail or a body part) from its text. RFC 2046: the line break before a boundary line is
    the boundary's, so a part's payload (or, for a multipart, its epilogue; for a message/* part, its innermost
    message's) loses its last line break, as the feed parser does."""
    if depth > MAX_DEPTH:
        return None
    parsed = _headers(text)
    if parsed is None:
        return None
    message, body = parsed
    content_type = message.get_content_type()
    if content_type in ("message/delivery-status", "multipart/digest"):
        return None
    if message.get_content_maintype() == "message":
        inner = _entity(body, depth + 1, before_boundary)
        if inner is None:
            return None
        message.set_payload([])
        message.attach(inner)
        return message
    if message.get_content_maintype() == "multipart":
        return _multipart(message, body, depth, before_boundary)
    message.set_payload(_without_trailing_eol(body) if before_boundary else body)
    return message


def _multipart(message: Message, body: str, depth: int, before_boundary: bool) -> Message | None:
    """Split a multipart body at its boundary lines and parse each part."""
    boundary = message.get_boundary()
    encoding = str(message.get("content-transfer-encoding", "8bit")).lower()
    if boundary is None or encoding not in _PASS_THROUGH_ENCODINGS:
        return None
    lines = _boundary_lines(body, "--" + boundary)
    if len(lines) < 2 or not lines[-1].closes:
        return None  # no part, or no close delimiter: the standard parser records the defect
    if any(line.closes for line in lines[:-1]):
        return None  # text after an early close delimiter: let the standard parser decide
    if any(later.start == earlier.end for earlier, later in pairwise(lines)):
        return None  # doubled boundary lines, which the feed parser folds together
    message.set_payload([])
    if lines[0].start > 0:
        message.preamble = _without_trailing_eol(body[:lines[0].start])
    for opening, closing in pairwise(lines):
        part = _entity(body[opening.end:closing.start], depth + 1, before_boundary=True)
        if part is None:
            return None
        message.attach(part)
    close = lines[-1]
    epilogue = body[close.end:] if close.ends_line else ""
    if before_boundary:
        message.epilogue = _without_trailing_eol(epilogue) if epilogue else None
    else:
        message.epilogue = epilogue
    return message


class _BoundaryLine(NamedTuple):
    start: int
    end: int
    """After the line break."""
    closes: bool
    ends_line: bool
    """False for a close delimiter at the very end of the mail, without a line break."""


def _boundary_lines(body: str, delimiter: str) -> list[_BoundaryLine]:
    """Each line of `body` that is `delimiter` (optionally closed with "--", then blanks): str.find for the
    candidates, a regular expression for the rest of the line."""
    found: list[_BoundaryLine] = []
    start = body.find(delimiter)
    while start >= 0:
        if start == 0 or body[start - 1] == "\n":
            rest = _DELIMITER_REST.match(body, start + len(delimiter))
            if rest is not None:
                found.append(_BoundaryLine(start, rest.end(), rest.group("end") is not None, bool(rest.group("eol"))))
        start = body.find(delimiter, start + 1)
    return found


def _without_trailing_eol(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text
