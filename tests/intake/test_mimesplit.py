"""The fast mail splitter builds exactly the standard parser's Message tree, or steps aside."""

from __future__ import annotations

import random
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any

import pytest

from gateway.intake.mimesplit import split_message
from tests.intake.conftest import FIXTURES


def tree(message: Message) -> tuple[Any, ...]:
    """Everything the parser decides: envelope line, raw headers, preamble, epilogue, defects, the payload as
    stored (get_payload() would decode 8-bit text and hide a difference)."""
    payload = message._payload
    return (
        message.get_unixfrom(), message.items(), message.preamble, message.epilogue, message.get_default_type(),
        [type(defect).__name__ for defect in message.defects],
        [tree(child) for child in payload] if isinstance(payload, list) else payload,
    )


def standard(raw: bytes) -> Message:
    return BytesParser(policy=policy.compat32).parsebytes(raw)


def assert_same_or_steps_aside(raw: bytes) -> bool:
    """True when the fast path took the mail (and then built the same tree)."""
    fast = split_message(raw)
    if fast is not None:
        assert tree(fast) == tree(standard(raw))
    return fast is not None


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.eml")), ids=lambda path: path.name)
def test_every_real_mail_fixture_takes_the_fast_path_with_the_same_tree(path: Any) -> None:
    assert assert_same_or_steps_aside(path.read_bytes())


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


NESTED = """From: a@example.com
To: 5551234@fax.localhost
Subject: nested
  continued subject line
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is a preamble.

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

plain text
--inner
Content-Type: text/html

<p>html</p>

--inner--
inner epilogue

--outer \t
Content-Type: message/rfc822

From: b@example.com
Subject: forwarded

forwarded body
--outer
Content-Type: application/pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer--
epilogue text
"""

SHAPES = {
    "nested, CRLF": _crlf(NESTED),
    "nested, LF": NESTED.encode(),
    "no epilogue, no final line break": _crlf(NESTED.split("--outer--")[0] + "--outer--"),
    "unix From line": b"From someone Sat Nov 21 08:00:00 2026\r\nSubject: x\r\n\r\nbody\r\n",
    "no headers at all": b"\r\nonly a body\r\n",
    "empty part body": _crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n"
                             "--b--\n"),
    "8-bit body bytes": "Subject: caf\u00e9\r\nContent-Type: text/plain; charset=latin-1\r\n\r\nd\u00e9j\u00e0\r\n"
                        .encode("latin-1"),
    "boundary that prefixes another": _crlf(
        "Content-Type: multipart/mixed; boundary=ab\n\n--ab\nContent-Type: multipart/mixed; boundary=abc\n\n"
        "--abc\n\nx\n--abc--\n--ab--\n"),
    "boundary text inside a line": _crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nsee --b here\n"
                                         "not --b-- either\n--b--\n"),
}

ODD_SHAPES = {
    "missing close delimiter": _crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n"),
    "no boundary parameter": _crlf("Content-Type: multipart/mixed\n\n--b\n\ntext\n--b--\n"),
    "close delimiter first": _crlf("Content-Type: multipart/mixed; boundary=b\n\n--b--\n"),
    "doubled boundary lines": _crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n--b\n\ntext\n--b--\n"),
    "lone CR line breaks": b"Subject: x\rTo: y\r\rbody\r",
    "header line without a colon": _crlf("Subject: x\nnot a header\n\nbody\n"),
    "continuation line first": _crlf(" folded\nSubject: x\n\nbody\n"),
    "no blank line after the headers": b"Subject: x\r\nTo: y\r\n",
    "digest": _crlf("Content-Type: multipart/digest; boundary=b\n\n--b\n\nSubject: x\n\nbody\n--b--\n"),
    "delivery status": _crlf("Content-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nAction: failed\n"),
    "base64 multipart": _crlf("Content-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: base64\n\n"
                              "--b\n\ntext\n--b--\n"),
    "text after the close delimiter then a boundary": _crlf(
        "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b--\n--b\n\ntwo\n--b--\n"),
    "part without a blank line": _crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n"
                                       "--b--\n"),
}


@pytest.mark.parametrize("raw", SHAPES.values(), ids=SHAPES.keys())
def test_ordinary_shapes_take_the_fast_path_with_the_same_tree(raw: bytes) -> None:
    assert assert_same_or_steps_aside(raw)


@pytest.mark.parametrize("raw", ODD_SHAPES.values(), ids=ODD_SHAPES.keys())
def test_odd_shapes_are_left_to_the_standard_parser(raw: bytes) -> None:
    assert split_message(raw) is None


def _random_message(rng: random.Random, depth: int = 0) -> EmailMessage:
    """A mail of random structure: text, HTML, binary attachments, nested multiparts and forwarded mails."""
    message = EmailMessage()
    message["Subject"] = rng.choice(["hello", "Gr\u00fc\u00dfe aus K\u00f6ln", "a " * 60, ""])
    choice = rng.randrange(6 if depth < 3 else 2)
    if choice == 0:
        message.set_content(rng.choice(["short\n", "line\n" * rng.randrange(1, 50), "caf\u00e9 \u00fcber\n", "x"]))
    elif choice == 1:
        message.set_content(rng.randbytes(rng.randrange(1, 3000)), maintype="application", subtype="pdf",
                            filename=rng.choice(["a.pdf", "r\u00e9sum\u00e9 final.pdf"]))
    elif choice == 5:
        message.set_content(_random_message(rng, depth + 1))
    else:
        message.set_content(rng.choice(["body\n", "<p>html</p>\n"]), subtype=rng.choice(["plain", "html"]))
        for _ in range(rng.randrange(1, 4)):
            part = _random_message(rng, depth + 1)
            if part.is_multipart() and part.get_content_subtype() == "alternative":
                message.attach(part)
            else:
                message.add_attachment(rng.randbytes(rng.randrange(1, 500)), maintype="image", subtype="png",
                                       filename="p.png")
        if rng.random() < 0.3:
            message.preamble = "preamble text"
        if rng.random() < 0.3:
            message.epilogue = "epilogue text\n"
    return message


def test_generated_mails_of_random_structure_give_the_same_tree() -> None:
    rng = random.Random(20261121)
    taken = 0
    for _ in range(300):
        message = _random_message(rng)
        for line_policy in (policy.SMTP, policy.default):
            taken += assert_same_or_steps_aside(message.as_bytes(policy=line_policy))
    assert taken >= 550  # nearly every generated mail is ordinary enough for the fast path
