"""Compressed RTF bodies in winmail.dat: [MS-OXRTFCP] vectors, round trips, damage, the Debian `tnef` tool as an
independent decoder, and a Rich Text Outlook mail through parse_fax_mail and the renderer."""

from __future__ import annotations

import random
import shutil
import struct
import subprocess
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from gateway.config import FaxgateConfig, parse_config
from gateway.intake.mime import MailError, parse_fax_mail
from gateway.intake.rtf import (
    COMPRESSED,
    MAX_RAW_SIZE,
    RtfError,
    decompress_rtf,
    read_rtf_body,
    rtf_crc,
    rtf_to_text,
)
from gateway.intake.text import html_to_text
from gateway.intake.tnef import read_tnef
from tests.fixtures.mail.build import one_page_pdf
from tests.support.rtf_compress import compress_rtf
from tests.support.tnef_writer import winmail_dat

# [MS-OXRTFCP] 3.1.1.1, byte for byte, and the RTF it decodes to (3.1.1.6).
SPEC_SIMPLE = bytes.fromhex(
    "2d 00 00 00 2b 00 00 00 4c 5a 46 75 f1 c5 c7 a7"
    "03 00 0a 00 72 63 70 67 31 32 35 42 32 0a f3 20"
    "68 65 6c 09 00 20 62 77 05 b0 6c 64 7d 0a 80 0f"
    "a0"
)
SPEC_SIMPLE_RTF = b"{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"
# [MS-OXRTFCP] 3.1.2.1: a reference that runs across the write position.
SPEC_CROSSING = bytes.fromhex(
    "1a 00 00 00 1c 00 00 00 4c 5a 46 75 e2 d4 4b 51"
    "41 00 04 20 57 58 59 5a 0d 6e 7d 01 0e b0"
)
SPEC_CROSSING_RTF = b"{\\rtf1 WXYZWXYZWXYZWXYZWXYZ}"

MEMO_RTF = (
    b"{\\rtf1\\ansi\\ansicpg1252\\deff0\\deftab720{\\fonttbl{\\f0\\fswiss Arial;}{\\f1\\froman Times New Roman;}}"
    b"{\\colortbl;\\red0\\green0\\blue0;\\red255\\green0\\blue0;}"
    b"{\\stylesheet{\\s0 Normal;}}{\\info{\\author John Smith}{\\title Memo}}"
    b"{\\*\\generator Riched20 10.0.19041}\\viewkind4\\uc1\r\n"
    b"\\pard\\f0\\fs20 Hello Dr. Meyer,\\par\r\n\\par\r\n"
    b"please find the \\b quarterly\\b0  figures below \\{draft\\}:\\par\r\n"
    b"North\\tab 1200\\par\r\nSouth\\tab 980\\par\r\n"
    b"Caf\\'e9 cr\\'e8me \\u8364?5 \\ldblquote ok\\rdblquote\\par\r\n"
    b"{\\*\\bkmkstart hidden}Best regards\\line John Smith\\par\r\n}\r\n\x00"
)
MEMO_TEXT = ("Hello Dr. Meyer,\n\nplease find the quarterly figures below {draft}:\nNorth\t1200\nSouth\t980\n"
             "Café crème €5 “ok”\nBest regards\nJohn Smith")

HTML_RTF = (
    b"{\\rtf1\\ansi\\ansicpg1252\\fromhtml1 \\deff0{\\fonttbl{\\f0\\fswiss Arial;}}\r\n"
    b"{\\*\\htmltag19 <html>}{\\*\\htmltag50 <body>}\r\n"
    b"{\\*\\htmltag64 <p>}\\htmlrtf {\\htmlrtf0 Caf\\'e9 \\{ok\\} &amp; more}\\htmlrtf \\par\\htmlrtf0 "
    b"{\\*\\htmltag72 </p>}\r\n"
    b"{\\*\\htmltag64 <p>}\\htmlrtf {\\b\\htmlrtf0 {\\*\\htmltag84 <b>}bold{\\*\\htmltag92 </b>}}\\htmlrtf0 "
    b"{\\*\\htmltag72 </p>}{\\*\\htmltag58 </body>}{\\*\\htmltag27 </html>}}"
)


def config(**smtp: object) -> FaxgateConfig:
    return parse_config({"smtp": smtp})


def outlook_mail(tnef: bytes, *, outer_text: str | None = None) -> bytes:
    """A mail carrying winmail.dat, with or without the plain-text part Outlook usually puts beside it."""
    message = EmailMessage()
    message["From"], message["To"] = "John Smith <js@contoso.example>", "5551234@fax.localhost"
    message["Subject"] = "Memo"
    if outer_text is not None:
        message.set_content(outer_text)
    message.add_attachment(tnef, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    return message.as_bytes(policy=SMTP)


def with_header(contents: bytes, raw_size: int, *, crc: int | None = None) -> bytes:
    """An LZFu stream around `contents`, its CRC right unless one is given."""
    return struct.pack("<IIII", len(contents) + 12, raw_size, COMPRESSED,
                       rtf_crc(contents) if crc is None else crc) + contents


# --- [MS-OXRTFCP] ----------------------------------------------------------------------------------------------

def test_the_specification_examples_decompress_and_our_compressor_writes_them_byte_for_byte() -> None:
    assert decompress_rtf(SPEC_SIMPLE) == SPEC_SIMPLE_RTF
    assert decompress_rtf(SPEC_CROSSING) == SPEC_CROSSING_RTF
    assert rtf_crc(SPEC_SIMPLE[16:]) == 0xA7C7C5F1  # 3.1.1.2's CRC field
    assert compress_rtf(SPEC_SIMPLE_RTF) == SPEC_SIMPLE
    assert compress_rtf(SPEC_CROSSING_RTF) == SPEC_CROSSING


@pytest.mark.parametrize("data", [
    b"",
    b"x",
    b"\\par " * 2000,  # long runs of dictionary matches
    bytes(range(256)) * 40,  # > 4096 bytes: the dictionary wraps
    random.Random(7).randbytes(9000),  # incompressible
    MEMO_RTF * 30,
    bytes(random.Random(8).choice(b"ab{}\\ ") for _ in range(20000)),
], ids=["empty", "one", "runs", "wrap", "random", "memo", "small-alphabet"])
def test_round_trip(data: bytes) -> None:
    packed = compress_rtf(data)
    assert decompress_rtf(packed) == data
    assert decompress_rtf(compress_rtf(data, compressed=False)) == data


def test_the_compressor_finds_matches_rather_than_writing_literals() -> None:
    """Literals cost 9 bits a byte, a 17-byte match 17 bits: repetitive RTF must come out near that 1/8 floor."""
    data = MEMO_RTF * 30
    assert len(compress_rtf(data)) < len(data) // 6
    assert len(compress_rtf(b"\\par " * 2000)) < 10000 // 7


def test_a_crc_mismatch_is_refused() -> None:
    damaged = bytearray(compress_rtf(MEMO_RTF))
    damaged[40] ^= 0x01
    with pytest.raises(RtfError, match="CRC"):
        decompress_rtf(bytes(damaged))


def test_a_raw_size_over_the_limit_is_refused_before_any_work() -> None:
    header = struct.pack("<IIII", 12, MAX_RAW_SIZE + 1, COMPRESSED, 0)
    with pytest.raises(RtfError, match="more than"):
        decompress_rtf(header)
    with pytest.raises(RtfError, match="more than the 100 allowed"):
        decompress_rtf(compress_rtf(b"a" * 101), max_size=100)
    assert decompress_rtf(compress_rtf(b"a" * 100), max_size=100) == b"a" * 100


def test_output_never_runs_past_the_raw_size_the_header_claims() -> None:
    """A bomb that lies about its size: 100 KiB of matches under a header claiming 1 KiB."""
    contents = compress_rtf(b"\\par " * 20480)[16:]
    with pytest.raises(RtfError, match="longer than its header says"):
        decompress_rtf(with_header(contents, 1024))
    with pytest.raises(RtfError, match="header says"):  # and one that ends early
        decompress_rtf(with_header(contents, 200000))


def test_every_truncation_is_an_rtf_error_never_an_index_error() -> None:
    packed = compress_rtf(MEMO_RTF)
    for cut in range(len(packed)):
        with pytest.raises(RtfError):
            decompress_rtf(packed[:cut])
    contents = packed[16:]
    accepted = []
    for cut in range(len(contents)):  # header and CRC made to fit the cut contents: the token loop must notice
        try:
            result = decompress_rtf(with_header(contents[:cut], len(MEMO_RTF)))
        except RtfError as error:
            assert "cut short" in str(error) or "header says" in str(error)
            continue
        assert result == MEMO_RTF
        accepted.append(cut)
    # Only the end-of-stream reference (and its control byte) missing: every promised byte is there, so it is read.
    assert accepted and min(accepted) >= len(contents) - 3


def test_random_damage_behind_a_valid_crc_gives_bytes_or_rtf_error() -> None:
    generator = random.Random(11)
    for _ in range(300):
        contents = generator.randbytes(generator.randrange(1, 200))
        try:
            result = decompress_rtf(with_header(contents, 300))
        except RtfError:
            continue
        assert len(result) == 300


def test_unknown_compression_type_and_short_uncompressed_body() -> None:
    with pytest.raises(RtfError, match="unknown compression type"):
        decompress_rtf(struct.pack("<IIII", 12, 0, 0x12345678, 0))
    with pytest.raises(RtfError, match="cut short"):
        decompress_rtf(compress_rtf(b"abcdef", compressed=False)[:-2])


# --- reading the RTF -------------------------------------------------------------------------------------------

def test_ordinary_rtf_becomes_html_and_keeps_its_plain_text() -> None:
    body = read_rtf_body(MEMO_RTF)
    assert (body.kind, body.source) == ("html", "rtf")
    assert body.plain == MEMO_TEXT == rtf_to_text(MEMO_RTF)
    assert "<b>quarterly</b>" in body.content and "{draft}" in body.content
    assert html_to_text(body.content).replace("    ", "\t").split() == MEMO_TEXT.split()


def test_code_page_escapes_and_unicode_skip_counts() -> None:
    cyrillic = b"{\\rtf1\\ansi\\ansicpg1251 \\'cf\\'f0\\'e8\\'e2\\'e5\\'f2}"
    assert rtf_to_text(cyrillic) == "Привет"
    two_fallbacks = b"{\\rtf1\\ansi\\uc2 A\\u8364\\'80\\'80 B{\\uc0\\u8364 C}\\u-4064 ?}"
    assert rtf_to_text(two_fallbacks) == "A€ B€C\uf020"
    japanese = b"{\\rtf1\\ansi\\ansicpg932 \\'93\\'fa\\'96\\'7b}"
    assert rtf_to_text(japanese) == "日本"


def test_unicode_surrogate_pairs_join_and_lone_halves_are_replaced() -> None:
    assert rtf_to_text(b"{\\rtf1\\ansi \\u-10179?\\u-8704? and \\u55357?}") == "\U0001f600 and \ufffd"


def test_any_bytes_read_as_text_without_an_exception() -> None:
    generator = random.Random(5)
    alphabet = b"{}\\'*uc0123456789-abfhmtlrx \r\n\xe9\x00"
    for _ in range(500):
        noise = bytes(generator.choice(alphabet) for _ in range(generator.randrange(0, 120)))
        for text in (rtf_to_text(noise), read_rtf_body(b"{\\rtf1\\fromhtml1 " + noise).content):
            text.encode("utf-8")


def test_encapsulated_html_is_taken_out_whole() -> None:
    body = read_rtf_body(HTML_RTF)
    assert body.kind == "html"
    assert body.content == "<html><body><p>Café {ok} &amp; more</p><p><b>bold</b></p></body></html>"


def test_encapsulated_text_is_the_text() -> None:
    body = read_rtf_body(b"{\\rtf1\\ansi\\ansicpg1252\\fromtext \\deff0{\\fonttbl{\\f0 Courier;}}\r\n"
                         b"\\f0 Line one\\par\r\nLine two\\par\r\n}")
    assert (body.kind, body.content) == ("text", "Line one\nLine two")


def test_fromhtml_late_in_the_document_is_not_an_encapsulation_marker() -> None:
    late = b"{\\rtf1\\ansi Some text \\fromhtml1 more}"
    assert read_rtf_body(late).source == "rtf"


# --- winmail.dat -----------------------------------------------------------------------------------------------

def test_read_tnef_decompresses_the_rtf_body_as_the_debian_tnef_tool_does(tmp_path: Path) -> None:
    tool = shutil.which("tnef")
    assert tool, "the Debian `tnef` tool must be installed (scripts/setup test)"
    data = winmail_dat(rtf_compressed=compress_rtf(MEMO_RTF * 5),
                       attachments=[("Quarterly Report.pdf", "application/pdf", one_page_pdf())])
    (tmp_path / "winmail.dat").write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run([tool, "-f", str(tmp_path / "winmail.dat"), "-C", str(out), "--save-body=message",
                    "--body-pref=r", "--overwrite"], check=True, capture_output=True, timeout=60)
    theirs = (out / "message.rtf").read_bytes()
    content = read_tnef(data)
    assert content.body_rtf == theirs == MEMO_RTF * 5
    assert [attachment.filename for attachment in content.attachments] == ["Quarterly Report.pdf"]


def test_a_damaged_rtf_body_loses_only_the_body() -> None:
    damaged = bytearray(compress_rtf(MEMO_RTF))
    damaged[-1] ^= 0xFF
    content = read_tnef(winmail_dat(rtf_compressed=bytes(damaged), attachments=[("a.pdf", "application/pdf",
                                                                                  one_page_pdf())]))
    assert content.body_rtf == b"" and "CRC" in content.body_rtf_error
    assert [attachment.filename for attachment in content.attachments] == ["a.pdf"]


def test_a_mail_whose_only_text_is_a_damaged_rtf_body_is_refused_rather_than_half_sent() -> None:
    damaged = bytearray(compress_rtf(MEMO_RTF))
    damaged[-1] ^= 0xFF
    tnef = winmail_dat(rtf_compressed=bytes(damaged), attachments=[("a.pdf", "application/pdf", one_page_pdf())])
    with pytest.raises(MailError, match=r"rich text in winmail\.dat is damaged"):
        parse_fax_mail(outlook_mail(tnef), config())
    beside = parse_fax_mail(outlook_mail(tnef, outer_text="The outer text.\n"), config())  # its text is elsewhere
    assert beside.cover_note == "The outer text." and len(beside.documents) == 1


# --- whole mails -----------------------------------------------------------------------------------------------

def test_a_rich_text_outlook_mail_gives_its_text_as_the_cover_note() -> None:
    tnef = winmail_dat(rtf_compressed=compress_rtf(MEMO_RTF),
                       attachments=[("Quarterly Report.pdf", "application/pdf", one_page_pdf())])
    mail = parse_fax_mail(outlook_mail(tnef), config())
    assert [document.filename for document in mail.documents] == ["Quarterly Report.pdf"]
    assert mail.cover_note.startswith("Hello Dr. Meyer,\n\nplease find the quarterly figures below {draft}:")
    assert "Café crème €5" in mail.cover_note


def test_the_rtf_body_is_the_page_and_its_first_line_carries_options() -> None:
    rtf = (b"{\\rtf1\\ansi\\ansicpg1252{\\fonttbl{\\f0 Arial;}}\\pard fax: nocover, standard\\par "
           b"The \\b real\\b0  text.\\par}")
    mail = parse_fax_mail(outlook_mail(winmail_dat(rtf_compressed=compress_rtf(rtf))), config())
    assert mail.cover is False and mail.options.resolution == "standard"
    [page] = mail.documents
    assert page.content_type == "text/html; charset=utf-8" and page.data is not None
    markup = page.data.decode()
    assert "<b>real</b>" in markup and "fax:" not in markup
    assert html_to_text(markup) == mail.body_text == "The real text."


def test_encapsulated_html_becomes_an_html_page() -> None:
    mail = parse_fax_mail(outlook_mail(winmail_dat(rtf_compressed=compress_rtf(HTML_RTF))), config())
    [page] = mail.documents
    assert page.content_type == "text/html; charset=utf-8"
    assert page.data is not None and b"<p><b>bold</b></p>" in page.data
    assert mail.body_text.startswith("Café {ok} & more")


def test_an_outer_text_part_or_a_tnef_text_body_still_wins_over_the_rtf() -> None:
    rtf = compress_rtf(MEMO_RTF)
    outer = parse_fax_mail(outlook_mail(winmail_dat(rtf_compressed=rtf), outer_text="The outer text.\n"),
                           config(body="page"))
    assert [document.data for document in outer.documents] == [b"The outer text."]
    inner = parse_fax_mail(outlook_mail(winmail_dat(rtf_compressed=rtf, body_text="The PR_BODY text.")),
                           config(body="page"))
    assert [document.data for document in inner.documents] == [b"The PR_BODY text."]


def test_the_decompressed_rtf_renders_to_a_fax_page(tmp_path: Path) -> None:
    """LibreOffice reads what we decompressed: one RTF memo is one inked fax page."""
    import numpy as np

    from gateway.render import InputDocument, RenderOptions, render_documents
    from modem.faxtiff import read_fax_tiff

    rtf = read_tnef(winmail_dat(rtf_compressed=compress_rtf(MEMO_RTF))).body_rtf
    document = InputDocument(data=rtf, content_type="application/rtf", filename="message.rtf")
    assert render_documents([document], tmp_path / "memo.tif", RenderOptions()).pages == 1
    [page] = list(read_fax_tiff(tmp_path / "memo.tif"))
    assert int(np.unpackbits(page.bitmap).sum()) > 2000


def test_mails_with_winmail_dat_are_read_off_the_event_loop() -> None:
    """An RTF body can inflate 8x and takes about a second a megabyte to read: such mails go to a thread."""
    from gateway.intake.smtp import _read_inline
    from tests.intake.conftest import simple_mail

    rtf = compress_rtf(MEMO_RTF)
    assert not _read_inline(outlook_mail(winmail_dat(rtf_compressed=rtf)))
    shouting = outlook_mail(winmail_dat(rtf_compressed=rtf)).replace(b"ms-tnef", b"MS-TNEF").replace(
        b"winmail.dat", b"WINMAIL.DAT")
    assert not _read_inline(shouting)
    assert parse_fax_mail(shouting, config()).documents  # (still read as Outlook's)
    assert _read_inline(simple_mail())
