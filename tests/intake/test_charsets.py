"""Charsets as mail clients really label them: the WHATWG label table, text decoded once, headers like bodies."""

from __future__ import annotations

import base64
import json
from email.message import EmailMessage
from email.policy import SMTP

import pytest

from gateway.config import parse_config
from gateway.intake.charsets import encoding_name, python_codec
from gateway.intake.mime import parse_fax_mail
from gateway.intake.text import decode_bytes, header_text
from tests.intake.conftest import FIXTURES

# The Encoding Standard's own table (encodings.json from github.com/whatwg/encoding, CC BY 4.0).
WHATWG = json.loads((FIXTURES / "whatwg-encodings.json").read_text())
LABELS = [(label, encoding["name"].lower()) for group in WHATWG for encoding in group["encodings"]
          for label in encoding["labels"]]
# Text every decoder of that encoding must read back (the replacement encoding has none: mail decodes those
# labels with their own codecs where Python has one).
SAMPLES = {
    "utf-8": "Grüße 中文", "ibm866": "Привет", "iso-8859-2": "Łódź", "iso-8859-3": "Ħal", "iso-8859-4": "ĀĒ",
    "iso-8859-5": "Привет", "iso-8859-6": "مرحبا", "iso-8859-7": "Γειά", "iso-8859-8": "שלום",
    "iso-8859-8-i": "שלום", "iso-8859-10": "ĀĒ", "iso-8859-13": "Ąž", "iso-8859-14": "Ŵŷ", "iso-8859-15": "€uro",
    "iso-8859-16": "Șț", "koi8-r": "Привет", "koi8-u": "Привіт", "macintosh": "Café", "windows-874": "สวัสดี",
    "windows-1250": "Łódź", "windows-1251": "Привет", "windows-1252": "Café €", "windows-1253": "Γειά",
    "windows-1254": "İstanbul", "windows-1255": "שלום", "windows-1256": "مرحبا", "windows-1257": "Ąž",
    "windows-1258": "Đông", "x-mac-cyrillic": "Привет", "gbk": "中文 镕", "gb18030": "中文 镕 €",
    "big5": "中文", "euc-jp": "日本語", "iso-2022-jp": "日本語", "shift_jis": "日本語", "euc-kr": "한국어 똠",
    "utf-16be": "中文", "utf-16le": "中文", "x-user-defined": "ascii",
}
_ENCODE_AS = {"gbk": "gb18030", "big5": "big5", "euc-kr": "cp949", "iso-8859-8-i": "iso8859-8",
              "x-user-defined": "ascii"}


def test_the_whatwg_table_is_complete_and_every_label_decodes_its_encoding() -> None:
    assert len(LABELS) > 200
    for label, name in LABELS:
        assert encoding_name(label) == name, label
        assert encoding_name(f"  {label.upper()} ") == name
        if name == "replacement":
            continue
        codec = python_codec(label)
        assert codec is not None, label
        sample = SAMPLES[name]
        data = sample.encode(_ENCODE_AS.get(name, codec))
        assert decode_bytes(data, label) == sample, (label, codec)


@pytest.mark.parametrize(("label", "data", "text"), [
    ("gb2312", "镕铓 中文".encode("gbk"), "镕铓 中文"),  # GBK-only characters under the GB2312 label
    ("ks_c_5601-1987", "똠방각하".encode("cp949"), "똠방각하"),  # CP949-only syllables
    ("iso-8859-1", b"\x80 \x93quoted\x94", "€ “quoted”"),  # Windows-1252's C1 printables
    ("us-ascii", b"na\xefve", "naïve"),
    ("tis-620", "สวัสดี".encode("cp874"), "สวัสดี"),
    ("big5", "中文 嘅".encode("big5hkscs"), "中文 嘅"),  # a Hong Kong (HKSCS) character
])
def test_labels_are_read_as_the_encodings_mail_clients_use(label: str, data: bytes, text: str) -> None:
    assert decode_bytes(data, label) == text


def test_an_encoded_word_subject_in_gb2312_with_gbk_characters_is_decoded() -> None:
    words = base64.b64encode("关于镕铓的报价".encode("gbk")).decode()
    assert header_text(f"=?gb2312?B?{words}?=") == "关于镕铓的报价"


def test_a_multibyte_character_split_across_two_encoded_words_is_joined() -> None:
    data = "Grüße aus 中国".encode()
    first, second = base64.b64encode(data[:14]).decode(), base64.b64encode(data[14:]).decode()
    assert header_text(f"Re: =?utf-8?B?{first}?=\r\n =?UTF-8?B?{second}?= (2)") == "Re: Grüße aus 中国 (2)"
    assert header_text("=?ISO-8859-1*fr?Q?caf=E9_cr=E8me?=") == "café crème"


def _html_mail(html: bytes, charset: str | None, subject: str = "Test") -> bytes:
    message = EmailMessage()
    message["From"] = "a@example.com"
    message["To"] = "5551234@fax.localhost"
    message["Subject"] = subject
    message.set_content(html, maintype="text", subtype="html", cte="base64")
    if charset:
        message.set_param("charset", charset)
    return message.as_bytes(policy=SMTP)


def _page_html(raw: bytes) -> str:
    mail = parse_fax_mail(raw, parse_config({"smtp": {"body": "page"}}))
    [document] = mail.documents
    assert document.content_type == "text/html; charset=utf-8" and document.data is not None
    return document.data.decode("utf-8")


def test_html_with_an_iso_8859_1_meta_is_decoded_once_and_says_utf8() -> None:
    html = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head>'
            "<body><p>Caf\xe9 cr\xe8me € 5</p></body></html>").encode("cp1252")
    page = _page_html(_html_mail(html, "iso-8859-1"))
    assert "Café crème € 5" in page and "charset=utf-8" in page and "iso-8859-1" not in page


def test_html_without_a_mime_charset_is_decoded_by_its_meta() -> None:
    html = '<html><head><meta charset="gb2312"></head><body><p>中文 镕</p></body></html>'.encode("gbk")
    page = _page_html(_html_mail(html, None))
    assert "中文 镕" in page and '<meta charset="utf-8">' in page


def test_the_renderer_lays_out_the_characters_the_sender_wrote() -> None:
    """The page's own text layer (a layout engine may re-read a <meta> charset): 'é' must not come out as 'Ã©'."""
    from gateway.render import htmlmail, markup
    from gateway.render.options import RenderOptions

    html = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head>'
            "<body><p>Caf\xe9 cr\xe8me</p></body></html>").encode("cp1252")
    mail = parse_fax_mail(_html_mail(html, "iso-8859-1"), parse_config({"smtp": {"body": "page"}}))
    [document] = mail.documents
    assert document.data is not None
    source = markup.decode_text(document.data, document.content_type)
    pdf = htmlmail.mail_html_to_pdf(source, RenderOptions(), document.related, max_pages=5)
    from gateway.queue.documents import load_pymupdf

    text = load_pymupdf().open(stream=pdf, filetype="pdf")[0].get_text()
    assert "Café crème" in text and "Ã" not in text


def test_a_text_attachment_in_a_legacy_charset_reaches_the_renderer_as_utf8() -> None:
    message = EmailMessage()
    message["From"] = "a@example.com"
    message["To"] = "5551234@fax.localhost"
    message["Subject"] = "=?gb2312?B?" + base64.b64encode("报价单".encode("gbk")).decode() + "?="
    message.set_content("See attached.\n")
    message.add_attachment("报价 镕铓\n".encode("gbk"), maintype="text", subtype="plain", filename="quote.txt",
                           params={"charset": "gb2312"})
    mail = parse_fax_mail(message.as_bytes(policy=SMTP), parse_config({}))
    assert mail.subject == "报价单"
    [document] = mail.documents
    assert document.content_type == "text/plain; charset=utf-8"
    assert document.data == "报价 镕铓\n".encode()
