"""Mail intake on hostile mail: whatever the bytes, parse_fax_mail returns a FaxMail or refuses with MailError or
OptionError (what the SMTP handler answers 554/550 with); any other exception would be an unreadable mail, and the
strings a FaxMail carries into headers, logs and file names stay printable."""

from __future__ import annotations

import base64
import quopri
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import event, example, given
from hypothesis import strategies as st

from gateway.config import default_config
from gateway.intake.mime import FaxMail, MailError, parse_fax_mail
from gateway.intake.options import OptionError
from tests.fuzz.mutate import mutated
from tests.support.rtf_compress import compress_rtf
from tests.support.tnef_writer import winmail_dat

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures" / "mail").glob("*.eml"))
CONFIG = default_config()
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CRLF = "\r\n"

_TYPES = ["text/plain", "text/html", "text/enriched", "text/markdown", "text/csv", "application/pdf", "image/png",
          "image/jpeg", "application/octet-stream", "application/ms-tnef", "application/pkcs7-signature",
          "application/pkcs7-mime", "message/rfc822", "message/delivery-status", "x/y", "text", ""]
_MULTIPART = ["mixed", "alternative", "related", "signed", "encrypted", "report", "digest", "x-unknown"]
_CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "koi8-r", "shift_jis", "utf-16", "utf-7", "x-unknown", "",
             "unicode-1-1-utf-7", "cp65001", "hz-gb-2312", "idna", "rot13", "base64", "punycode", '"utf-8"']
_ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode", "bogus", ""]
_WORDS = st.sampled_from(["fax: fine", "fax: cover=x", "fax:nocover", "fax: send at 20:00", "fax: priority high",
                          "Hello", "-- ", "cid:img1", "<img src=\"cid:img1\">", "<p>", "</table>", "=?utf-8?B?w7w=?=",
                          "=?koi8-r?Q?=F0?=", "\\u", "\x00", "\r", "\n", "é", "\u202e", "fax: billing=a/b"])
_TEXT = st.lists(st.one_of(_WORDS, st.text(max_size=20)), max_size=12).map(" ".join)


def _encode(body: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        return base64.encodebytes(body)
    if encoding == "quoted-printable":
        return quopri.encodestring(body)
    return body


@st.composite
def _header(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["Subject", "From", "To", "Cc", "Date", "Auto-Submitted", "X-Fax-Options",
                                 "Content-ID", "X-Fax-Resolution", "X-Fax-Cover", "Reply-To", "Sender"]))
    return f"{name}: {draw(_TEXT)}"


@st.composite
def _leaf(draw: st.DrawFn) -> bytes:
    content_type = draw(st.sampled_from(_TYPES))
    charset = draw(st.sampled_from(_CHARSETS))
    encoding = draw(st.sampled_from(_ENCODINGS))
    if content_type == "application/ms-tnef" or draw(st.integers(0, 9)) == 0:
        rtf = draw(st.sampled_from([b"{\\rtf1\\ansi Hello\\par fax: fine}", b"{\\rtf1\\fromhtml1 {\\*\\htmltag <p>}x}",
                                    b"{\\rtf1\\fromtext hi}", b"{\\rtf1"]))
        body = winmail_dat(rtf_compressed=compress_rtf(rtf, compressed=draw(st.booleans())),
                           body_text=draw(st.none() | st.just("body text")),
                           attachments=draw(st.lists(st.tuples(st.sampled_from(["a.pdf", "", "b.txt"]),
                                                               st.sampled_from(["application/pdf", "text/plain", ""]),
                                                               st.binary(max_size=20)), max_size=2)))
        body = draw(mutated(st.just(body), max_edits=2))
        filename = draw(st.sampled_from(["winmail.dat", "WINMAIL.DAT", ""]))
    elif content_type == "message/rfc822":
        body = draw(st.deferred(lambda: _mail(depth=1)))
        filename = ""
    else:
        body = draw(st.one_of(_TEXT.map(lambda text: text.encode("utf-8", "surrogatepass")), st.binary(max_size=200)))
        filename = draw(st.sampled_from(["", "report.pdf", "../../etc/passwd", "=?utf-8?Q?a=2Fb?=.pdf", "a\x07b",
                                         "x" * 300]))
    headers = [f"Content-Type: {content_type}" + (f"; charset={charset}" if charset else "")]
    if filename:
        star = draw(st.booleans())
        headers.append(f"Content-Disposition: {draw(st.sampled_from(['attachment', 'inline', 'x']))}; "
                       + (f"filename*=utf-8''{filename}" if star else f'filename="{filename}"'))
    if encoding:
        headers.append(f"Content-Transfer-Encoding: {encoding}")
    if draw(st.booleans()):
        headers.append(f"Content-ID: <{draw(st.sampled_from(['img1', '', 'a@b']))}>")
    return (CRLF.join(headers) + CRLF + CRLF).encode() + _encode(body, encoding)


def _part(depth: int) -> st.SearchStrategy[bytes]:
    return _leaf() if depth <= 0 else st.one_of(_leaf(), _multipart(depth - 1))


@st.composite
def _multipart(draw: st.DrawFn, depth: int) -> bytes:
    boundary = draw(st.sampled_from(["b1", "==x==", "", "a b", "b1"]))
    subtype = draw(st.sampled_from(_MULTIPART))
    children = draw(st.lists(_part(depth), max_size=4))
    start = draw(st.sampled_from(["", '; start="<img1>"', "; start=<nothing>"]))
    out = f'Content-Type: multipart/{subtype}; boundary="{boundary}"{start}{CRLF}{CRLF}preamble{CRLF}'.encode()
    for child in children:
        out += f"--{boundary}{CRLF}".encode() + child + CRLF.encode()
    if draw(st.booleans()):
        out += f"--{boundary}--{CRLF}".encode()
    return out


@st.composite
def _mail(draw: st.DrawFn, depth: int = 3) -> bytes:
    headers = draw(st.lists(_header(), max_size=6))
    return (CRLF.join(headers) + CRLF).encode("utf-8", "surrogatepass") + draw(_part(depth))


def _check(mail: FaxMail) -> None:
    for text in (mail.subject, mail.sender_name, mail.sender_address):
        assert text.isprintable(), text
    for document in mail.documents:
        assert document.filename is None or ("/" not in document.filename and document.filename.isprintable())
        assert document.data  # an attachment that is empty is refused, never faxed as nothing
    assert len(mail.cover_note) <= CONFIG.smtp.max_note_chars


def _parse(raw: bytes) -> None:
    try:
        mail = parse_fax_mail(raw, CONFIG, now=NOW)
    except (MailError, OptionError) as refused:
        assert str(refused).strip()
        event(f"refused: {type(refused).__name__}")
        return
    event(f"accepted: {len(mail.documents)} documents" if mail.documents else "accepted: cover only")
    _check(mail)


@given(_mail())
@example(b"Content-Type: text/plain; charset=rot13\r\n\r\nx")  # a codec, not a charset: LookupError escaped
@example(b"Content-Type: text/plain; charset=idna\r\n\r\nx\x9f")  # idna refuses "replace": UnicodeError escaped
@example(b"X-Fax-Resolution: =?\x80tf-8?B?w7w=?=\r\n\r\nx")  # a non-ASCII charset name: CharsetError escaped
@example(b"Subject: =?iso-2022-jp?b?\x00yRCQ?=\r\n\r\nx")  # a broken base64 word: HeaderParseError escaped
def test_mail_built_from_hostile_parts(raw: bytes) -> None:
    _parse(raw)


@given(mutated(_mail()))
def test_mail_built_from_parts_then_damaged(raw: bytes) -> None:
    _parse(raw)


@given(mutated(st.sampled_from([path.read_bytes() for path in FIXTURES]), max_edits=12))
def test_real_client_mails_damaged(raw: bytes) -> None:
    _parse(raw)


@given(st.binary(max_size=2000))
def test_random_bytes(raw: bytes) -> None:
    _parse(raw)
