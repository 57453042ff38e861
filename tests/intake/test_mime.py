"""Real mail shapes become the right documents, in order, with the body as a page or as the cover note."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest

from gateway.config import FaxgateConfig, parse_config
from gateway.enums import ScheduleType
from gateway.intake.mime import FaxMail, MailError, parse_fax_mail
from tests.fixtures.mail.build import one_page_pdf, small_png
from tests.intake.conftest import FIXTURES


def config(**smtp: Any) -> FaxgateConfig:
    return parse_config({"smtp": smtp})


def parse(name: str, **smtp: Any) -> FaxMail:
    return parse_fax_mail((FIXTURES / name).read_bytes(), config(**smtp))


def summary(mail: FaxMail) -> list[tuple[str | None, str | None]]:
    return [(doc.filename, (doc.content_type or "").split(";")[0]) for doc in mail.documents]


def text_of(mail: FaxMail, index: int) -> str:
    data = mail.documents[index].data
    assert data is not None
    return data.decode("utf-8")


def test_outlook_winmail_dat_is_unpacked_and_the_body_is_the_cover_note() -> None:
    mail = parse("outlook_tnef.eml")
    assert summary(mail) == [("Quarterly Report 2026.pdf", "application/pdf"), ("chart.png", "image/png")]
    assert mail.documents[0].data is not None and mail.documents[0].data.startswith(b"%PDF-")
    assert mail.cover and mail.cover_note.startswith("Hello Dr. Meyer,")
    assert "confidential" not in mail.cover_note  # the disclaimer is cut by the default rule
    assert mail.cover_note.endswith("John Smith")
    assert mail.recipient_names == {"2015550123@fax.localhost": "Dr. Meyer"}
    assert mail.sender_name == "John Smith"


def test_thunderbird_rfc2231_names_in_order_and_html_signature_cut() -> None:
    mail = parse("thunderbird_attachments.eml", body="page")
    assert summary(mail) == [("message.html", "text/html"), ("Arztbrief Müller.pdf", "application/pdf"),
                             ("Befund.png", "image/png")]
    html = text_of(mail, 0)
    assert "Arztbrief</b> für Frau Müller" in html
    assert "Anna Schulz" not in html and "moz-signature" not in html
    assert mail.subject == "Arztbrief für Frau Müller"
    assert "Sehr geehrte" in mail.body_text and "Hauptstraße" not in mail.body_text


def test_multipart_alternative_gives_exactly_one_body_preferring_html() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "5551234@fax.localhost", "Both"
    message.set_content("plain version\n")
    message.add_alternative("<p>html <b>version</b></p>", subtype="html")
    mail = parse_fax_mail(message.as_bytes(policy=SMTP), config())
    assert summary(mail) == [("message.html", "text/html")]
    assert "html <b>version</b>" in text_of(mail, 0)
    assert "plain version" not in text_of(mail, 0)


def test_apple_mail_inline_pdf_between_html_parts() -> None:
    mail = parse("apple_mail_inline_pdf.eml", body="page")
    assert summary(mail) == [("message.html", "text/html"), ("contract.pdf", "application/pdf")]
    html = text_of(mail, 0)
    assert "signed contract" in html and "Claire" in html
    assert "Sent from my iPhone" not in html


def test_gmail_inline_cid_image_travels_with_the_page_not_as_a_document() -> None:
    mail = parse("gmail_inline_image.eml")
    assert summary(mail) == [("message.html", "text/html")]
    document = mail.documents[0]
    assert set(document.related) == {"ii_m3k9x2a10"}
    assert document.related["ii_m3k9x2a10"].startswith(b"\x89PNG")
    assert "Bob Jones" not in text_of(mail, 0)  # gmail_signature cut
    assert mail.subject == "Floor plan" and mail.options.resolution == "fine" and mail.cover is False


def test_gmail_forwarded_message_is_a_page_with_its_headers_then_its_attachment() -> None:
    mail = parse("gmail_forwarded.eml")
    assert summary(mail) == [("forwarded.txt", "text/plain"), ("invoice-4711.pdf", "application/pdf")]
    forwarded = text_of(mail, 0)
    assert "From: Supplier Billing <billing@supplier.example>" in forwarded
    assert "Subject: Invoice 4711" in forwarded
    assert "your invoice 4711 is attached" in forwarded
    assert mail.cover_note == "Accounts, please pay the attached invoice."


@pytest.mark.parametrize("name", ["smime_signed.eml", "pgp_signed.eml"])
def test_signature_parts_of_signed_mail_are_not_documents(name: str) -> None:
    mail = parse(name, body="page")
    assert all("sig" not in (doc.filename or "") and "p7s" not in (doc.filename or "") for doc in mail.documents)
    assert all((doc.content_type or "").split(";")[0] in ("text/plain", "application/pdf") for doc in mail.documents)
    assert len(mail.documents) == (2 if name == "smime_signed.eml" else 1)


@pytest.mark.parametrize(("name", "subject", "text"), [
    ("iso_8859_1.eml", "Grüße aus Köln", "Grüße aus Köln, schön, dass es klappt."),
    ("windows_1252.eml", "\u201cQuote\u201d \u20ac price", "The \u201cprice\u201d is \u20ac 42 \u2013 final."),
    ("shift_jis.eml", "請求書の送付", "いつもお世話になっております。\n請求書をお送りします。"),
    ("koi8_r.eml", "Счёт за ноябрь", "Здравствуйте! Счёт во вложении."),
])
def test_legacy_charsets_in_headers_and_bodies(name: str, subject: str, text: str) -> None:
    mail = parse(name)
    assert mail.subject == subject
    assert summary(mail) == [("message.txt", "text/plain")]
    assert text_of(mail, 0).strip() == text


def test_encrypted_mail_is_refused_in_plain_words() -> None:
    with pytest.raises(MailError, match="encrypted"):
        parse("encrypted_smime.eml")


def test_body_modes_page_note_and_auto() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "5551234@fax.localhost", "Modes"
    message.set_content("Please sign and return.\n")
    message.add_attachment(one_page_pdf(), maintype="application", subtype="pdf", filename="form.pdf")
    raw = message.as_bytes(policy=SMTP)
    auto = parse_fax_mail(raw, config())
    assert summary(auto) == [("form.pdf", "application/pdf")] and auto.cover_note == "Please sign and return."
    page = parse_fax_mail(raw, config(body="page"))
    assert summary(page) == [("message.txt", "text/plain"), ("form.pdf", "application/pdf")]
    assert page.cover_note == ""
    no_cover = parse_fax_mail(raw, config(cover_page=False))
    assert summary(no_cover) == [("message.txt", "text/plain"), ("form.pdf", "application/pdf")]


def test_first_body_line_options_are_read_and_removed() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "5551234@fax.localhost", "Opts"
    message.set_content("fax: nocover, standard, discount, billing=ACME-42, receipt\nThe real text.\n")
    mail = parse_fax_mail(message.as_bytes(policy=SMTP), config())
    assert mail.cover is False
    assert mail.options.resolution == "standard" and mail.options.schedule == ScheduleType.DISCOUNT_PERIOD
    assert mail.options.billing_code == "ACME-42" and mail.options.receipt is True
    assert text_of(mail, 0).strip() == "The real text."


def test_send_at_a_clock_time_is_the_next_such_time_in_the_server_zone() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "5551234@fax.localhost", "[fax: at=20:00]"
    message.set_content("text\n")
    now = datetime(2026, 11, 21, 21, 0, tzinfo=UTC)
    mail = parse_fax_mail(message.as_bytes(policy=SMTP), config(), now=now)
    assert mail.options.schedule == ScheduleType.SPECIFIC_TIME
    assert mail.options.send_at == datetime(2026, 11, 22, 20, 0, tzinfo=UTC).timestamp()


def test_a_configured_cut_rule_removes_a_company_disclaimer() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "5551234@fax.localhost", "Cut"
    message.set_content("Body text.\nACME LEGAL NOTICE: blah\nmore legal text\n")
    raw = message.as_bytes(policy=SMTP)
    assert "ACME" in text_of(parse_fax_mail(raw, config()), 0)
    cut = parse_fax_mail(raw, config(signature_cuts=["^ACME LEGAL NOTICE"]))
    assert text_of(cut, 0).strip() == "Body text."


def test_rfc2047_encoded_attachment_name_and_empty_attachment() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "5551234@fax.localhost", "Names"
    message.set_content("see attached\n")
    message.add_attachment(small_png(), maintype="image", subtype="png", filename="x.png")
    attachment = next(iter(message.iter_attachments()))
    del attachment["Content-Disposition"]
    attachment["Content-Disposition"] = 'attachment; filename="=?UTF-8?B?UGzDpG4ucG5n?="'
    mail = parse_fax_mail(message.as_bytes(policy=SMTP), config())
    assert summary(mail) == [("Plän.png", "image/png")]
    empty = EmailMessage()
    empty["From"], empty["To"], empty["Subject"] = "a@example.com", "5551234@fax.localhost", "Empty"
    empty.set_content("x\n")
    empty.add_attachment(b"", maintype="application", subtype="pdf", filename="nothing.pdf")
    with pytest.raises(MailError, match=r"'nothing\.pdf' is empty"):
        parse_fax_mail(empty.as_bytes(policy=SMTP), config())


def test_fixture_documents_render_to_fax_pages(tmp_path: Path) -> None:
    """What a recipient would get: Outlook's two files are two pages; Gmail's inline image is inked on its page."""
    import dataclasses

    import numpy as np

    from gateway.render.options import RenderOptions
    from gateway.render.pipeline import render_documents
    from modem.faxtiff import read_fax_tiff

    mail = parse("outlook_tnef.eml")
    assert render_documents(list(mail.documents), tmp_path / "out.tif", RenderOptions()).pages == 2
    [page] = parse("gmail_inline_image.eml").documents
    ink = {}
    for name, document in (("with", page), ("without", dataclasses.replace(page, related={}))):
        assert render_documents([document], tmp_path / f"{name}.tif", RenderOptions()).pages == 1
        [fax_page] = list(read_fax_tiff(tmp_path / f"{name}.tif"))
        ink[name] = int(np.unpackbits(fax_page.bitmap).sum())
    assert ink["with"] > ink["without"] + 5000  # the 100x20 black bar of the PNG, scaled to fax resolution


@pytest.mark.parametrize("raw", [
    b"",
    b"\xff\xfe\x00garbage",
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nunterminated",
    b"Content-Type: multipart/mixed\r\n\r\nno boundary parameter at all\r\n",
    b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n",
    b"Subject: =?utf-8?q?broken=ZZ?=\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\n\xe9t\xe9\r\n",
    b"Content-Type: application/ms-tnef; name=winmail.dat\r\nContent-Transfer-Encoding: base64\r\n\r\neJ8+Ig==\r\n",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n--b--\r\n",
])
def test_malformed_mail_gives_a_mail_or_a_plain_reason_never_a_crash(raw: bytes) -> None:
    try:
        mail = parse_fax_mail(raw, config())
    except MailError as exc:
        assert exc.reason
    else:
        assert mail.documents or mail.cover_note


def test_option_line_is_removed_from_the_html_page_too_but_only_at_the_top() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "5551234@fax.localhost", "Opts"
    message.set_content("fax: standard\nHello, send by fax: today.\n")
    message.add_alternative("<div>fax: standard</div><div>Hello, send by fax: today.</div>", subtype="html")
    mail = parse_fax_mail(message.as_bytes(policy=SMTP), config())
    assert mail.options.resolution == "standard"
    html = text_of(mail, 0)
    assert "fax: standard" not in html and "send by fax: today." in html
    plain_first = EmailMessage()
    plain_first["From"], plain_first["To"], plain_first["Subject"] = "a@example.com", "5551234@fax.localhost", "x"
    plain_first.set_content("Hello, send by fax: today.\n")
    plain_first.add_alternative("<div>Hello, send by fax: today.</div>", subtype="html")
    untouched = parse_fax_mail(plain_first.as_bytes(policy=SMTP), config())
    assert "send by fax: today." in text_of(untouched, 0)
