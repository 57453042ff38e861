"""What arrives is what gets faxed: attached messages decoded, unfaxable files named, no junk pages, true counts."""

from __future__ import annotations

import base64
import io
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from gateway.config import parse_config
from gateway.intake.mime import FaxMail, MailError, parse_fax_mail
from tests.fixtures.mail.build import one_page_pdf
from tests.intake.conftest import Gateway, GatewayFactory, transaction
from tests.intake.pages import render_mail
from tests.queue.harness import queue_config


def _mail(body: str = "Please see attached.\n", subject: str = "Test") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Ada <ada@example.com>"
    message["To"] = "5551234@fax.localhost"
    message["Subject"] = subject
    message.set_content(body)
    return message


def _parse(message: EmailMessage | bytes, **smtp: Any) -> FaxMail:
    raw = message if isinstance(message, bytes) else message.as_bytes(policy=SMTP)
    return parse_fax_mail(raw, parse_config({"smtp": smtp}))


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height), 0).save(out, "PNG")
    return out.getvalue()


def _names(mail: FaxMail) -> list[str | None]:
    return [document.filename for document in mail.documents]


INNER = (b"From: Bob <bob@example.com>\r\nTo: ada@example.com\r\nSubject: Original order\r\n"
         b"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
         b"Ship 40 boxes to the clinic, please.\r\n")


def _with_attached_message(encoding: str) -> bytes:
    body = base64.encodebytes(INNER).decode() if encoding == "base64" else INNER.decode()
    return ("From: ada@example.com\r\nTo: 5551234@fax.localhost\r\nSubject: Fwd: Original order\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
            "Content-Type: text/plain\r\n\r\nSee below.\r\n--XX\r\n"
            f"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: {encoding}\r\n"
            "Content-Disposition: attachment; filename=\"order.eml\"\r\n\r\n"
            f"{body}\r\n--XX--\r\n").replace("\n", "\r\n").replace("\r\r\n", "\r\n").encode()


@pytest.mark.parametrize("encoding", ["base64", "7bit"])
def test_an_attached_message_is_a_forwarded_page_whatever_its_transfer_encoding(encoding: str) -> None:
    mail = _parse(_with_attached_message(encoding), body="page")
    forwarded = [document for document in mail.documents if document.filename == "forwarded.txt"]
    assert len(forwarded) == 1 and forwarded[0].data is not None
    text = forwarded[0].data.decode()
    assert "Subject: Original order" in text and "From: Bob <bob@example.com>" in text
    assert "Ship 40 boxes to the clinic" in text and "RnJvbTog" not in text  # not base64 pages


BINHEX = (b"(This file must be converted with BinHex 4.0)\r\n:#'0SEh\"38e4&9!%!!!!!!!!!!!!!!!!!!!!!!!\r\n")


@pytest.mark.parametrize(("filename", "maintype", "subtype", "data", "words"), [
    ("chart.png.hqx", "application", "mac-binhex40", BINHEX, "'chart.png.hqx' is a BinHex-encoded"),
    ("records.zip", "application", "zip", b"PK\x03\x04" + b"\x00" * 60, "'records.zip' is a ZIP archive"),
    ("message.wav", "audio", "wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40, "'message.wav' is a sound"),
    ("scan.xyz", "application", "octet-stream", bytes(range(256)) * 4,
     "'scan.xyz' is a kind of file that cannot be faxed"),
])
def test_files_that_can_never_be_pages_are_refused_by_name(filename: str, maintype: str, subtype: str,
                                                           data: bytes, words: str) -> None:
    message = _mail()
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    with pytest.raises(MailError, match=words):
        _parse(message)
    dropped = _parse(message, unfaxable_attachments="drop")
    assert _names(dropped) == ["message.txt"] or dropped.cover_note == ""


def test_a_part_without_a_name_is_described_not_given_an_invented_name() -> None:
    message = _mail()
    message.add_attachment(bytes(range(256)) * 4, maintype="application", subtype="octet-stream")
    with pytest.raises(MailError) as refused:
        _parse(message)
    assert "an unnamed application/octet-stream part" in refused.value.reason
    assert "attachment.bin" not in refused.value.reason


def test_a_jpeg_with_damaged_base64_is_refused_by_name() -> None:
    raw = ("From: ada@example.com\r\nTo: 5551234@fax.localhost\r\nSubject: photo\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\nPhoto.\r\n"
           "--XX\r\nContent-Type: image/jpeg; name=\"site.jpg\"\r\nContent-Transfer-Encoding: base64\r\n"
           "Content-Disposition: attachment; filename=\"site.jpg\"\r\n\r\n"
           "/9j/4AAQSkZJRgABAQ!!!@@@###AAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8U\r\n--XX--\r\n")
    with pytest.raises(MailError, match=r"'site\.jpg' is damaged: its base64 encoding is broken"):
        _parse(raw.encode())


async def test_the_refusal_reaches_the_sender_in_the_smtp_reply(gateway: Gateway) -> None:
    message = _mail()
    message.add_attachment(bytes(range(256)) * 4, maintype="application", subtype="octet-stream",
                           filename="scan.xyz")
    reply = await transaction(gateway.port, "ada@example.com", ["5551234@fax.localhost"],
                              message.as_bytes(policy=SMTP))
    assert reply.data is not None and reply.data[0] == 554
    assert "'scan.xyz' is a kind of file that cannot be faxed" in reply.data[1]


async def test_dropping_is_a_setting(start_gateway: GatewayFactory) -> None:
    gateway = await start_gateway(unfaxable_attachments="drop")
    message = _mail()
    message.add_attachment(one_page_pdf(), maintype="application", subtype="pdf", filename="report.pdf")
    message.add_attachment(b"PK\x03\x04" + b"\x00" * 60, maintype="application", subtype="zip",
                           filename="records.zip")
    reply = await transaction(gateway.port, "ada@example.com", ["5551234@fax.localhost"],
                              message.as_bytes(policy=SMTP))
    assert reply.data is not None and reply.data[0] == 250


def test_inline_images_the_html_shows_and_tiny_logos_are_not_pages() -> None:
    message = _mail()
    message.add_alternative('<p>Our plan:</p><img src="cid:plan@x"><p>Regards</p><img src="cid:logo@x">'
                            '<img src="https://tracker.example/p.gif" width="1" height="1">', subtype="html")
    html_part = message.get_payload()[1]
    html_part.add_related(_png(900, 700), "image", "png", cid="<plan@x>", filename="plan.png")
    html_part.add_related(_png(120, 40), "image", "png", cid="<logo@x>", filename="logo.png")
    mixed = _mail()
    mixed.make_mixed()
    mixed.set_payload([message])
    # Outlook puts signature images next to the body, not inside multipart/related, with inline disposition.
    mixed.attach(_inline_image(_png(150, 60), "image002.png", "<image002.png@01D>"))
    mixed.attach(_inline_image(_png(1, 1), "spacer.gif", ""))
    mixed.attach(_inline_image(_png(1200, 1600), "scan.png", ""))
    mail = _parse(mixed.as_bytes(policy=SMTP), body="page")
    assert _names(mail) == ["message.html", "scan.png"]
    assert set(mail.documents[0].related) == {"plan@x", "logo@x"}


def _inline_image(data: bytes, filename: str, content_id: str) -> EmailMessage:
    part = EmailMessage()
    part.set_content(data, maintype="image", subtype="png", disposition="inline", filename=filename)
    if content_id:
        part["Content-ID"] = content_id
    return part


def test_apple_mails_empty_html_parts_are_not_pages() -> None:
    message = _mail("Here is the contract.\n")
    message.add_attachment(one_page_pdf(), maintype="application", subtype="pdf", filename="contract.pdf")
    message.add_attachment("<html><body style=\"word-wrap: break-word;\">\n  <br></body></html>\n",
                           subtype="html", filename="att00001.htm", disposition="inline")
    message.add_attachment("  \n\n", subtype="plain", filename="ATT00002.txt")
    mail = _parse(message, body="page")
    assert _names(mail) == ["message.txt", "contract.pdf"]


def test_an_empty_html_alternative_does_not_win_over_real_text() -> None:
    message = _mail("The results are normal; no follow-up needed.\n")
    message.add_alternative("<html><head><style>p{}</style></head><body><div>&nbsp;</div></body></html>",
                            subtype="html")
    mail = _parse(message, body="page")
    assert [document.content_type for document in mail.documents] == ["text/plain; charset=utf-8"]
    assert mail.documents[0].data is not None and b"results are normal" in mail.documents[0].data


async def test_the_cover_counts_its_own_second_page(tmp_path: Path) -> None:
    note = "\n".join(f"Line {number}: the dosage stays as agreed until the next visit." for number in range(90))
    message = _mail(note)
    message.add_attachment(one_page_pdf(), maintype="application", subtype="pdf", filename="report.pdf")
    config = queue_config({"smtp": {"max_note_chars": 20000}}, tmp_path)
    rendered = await render_mail(message.as_bytes(policy=SMTP), config, tmp_path)
    total = len(rendered.pages)
    assert rendered.state == "queued" and rendered.job_pages == total and total >= 3  # cover pages + the PDF
    from gateway.render import RenderPool
    from gateway.render.options import RenderOptions

    async with RenderPool(workers=1, workdir=tmp_path) as pool:
        fields = {"recipient_name": "", "recipient_fax_number": "5550100", "sender_name": "Ada",
                  "sender_email": "ada@example.com", "note": note, "subject": "Test",
                  "time_sent": "2026-11-23 10:00"}
        truthful = await pool.render_cover("generic", {**fields, "page_count": str(total)}, RenderOptions(),
                                           tmp_path / "truthful.tif")
        from modem.faxtiff import read_fax_tiff

        expected = list(read_fax_tiff(truthful.path))
    assert (rendered.pages[0].bitmap == expected[0].bitmap).all()
