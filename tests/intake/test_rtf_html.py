"""Ordinary RTF bodies as HTML pages: RTF written by LibreOffice and by hand in Word's and Outlook's manner keeps
its formatting, hostile RTF comes out escaped and bounded, and a Rich Text Outlook mail renders as a formatted
fax page with its option line and signature cut."""

from __future__ import annotations

import random
import re
import subprocess
from email.message import EmailMessage
from email.policy import SMTP
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from gateway.config import FaxgateConfig, parse_config
from gateway.intake.mime import parse_fax_mail
from gateway.intake.rtf import MAX_RAW_SIZE, read_rtf_body, rtf_to_text
from gateway.intake.rtf_html import MAX_HTML_CHARS, TRUNCATION_NOTE, rtf_to_html
from gateway.intake.text import html_to_text
from gateway.render import InputDocument, RenderOptions, render_documents
from gateway.render.office import find_soffice
from modem.faxtiff import read_fax_tiff
from tests.intake.test_tnef_rtf import MEMO_RTF, MEMO_TEXT
from tests.support.rtf_compress import compress_rtf
from tests.support.tnef_writer import winmail_dat

SOURCE_HTML = """<html><body>
<p>Dear <b>Mr. Bold</b>, this is <i>italic</i>, <u>underlined</u> and <s>struck</s> text.</p>
<p style="text-align:center"><span style="font-size:20pt">Big centered title</span></p>
<p style="text-align:right">Right aligned line</p>
<table border="1"><tr><td>Item</td><td>Price</td></tr><tr><td>Widget</td><td><b>12.50</b></td></tr></table>
<ul><li>First bullet</li><li>Second bullet</li></ul>
<ol><li>Step one</li><li>Step two</li></ol>
<p>Visit <a href="http://example.com/?a=1&amp;b=2">our site</a> today &amp; tomorrow, not &lt;script&gt;.</p>
</body></html>
"""

# As Word 2016 writes a Rich Text Outlook message: list paragraphs with \listtext, a table whose row definition
# comes before and after its cells, a hyperlink field, a picture and an object, hidden text and a page break.
WORD_RTF = (
    b"{\\rtf1\\adeflang1025\\ansi\\ansicpg1252\\uc1\\adeff31507\\deff0\\stshfdbch31505\\deflang1033"
    b"{\\fonttbl{\\f0\\fbidi \\froman\\fcharset0\\fprq2 Times New Roman;}{\\f3\\fbidi \\froman\\fcharset2\\fprq2 "
    b"Symbol;}{\\f10\\fbidi \\fnil\\fcharset2\\fprq2 Wingdings;}{\\f37\\fbidi \\fswiss\\fcharset0\\fprq2 Calibri;}}"
    b"{\\colortbl;\\red0\\green0\\blue0;\\red5\\green99\\blue193;\\red255\\green255\\blue255;}"
    b"{\\*\\defchp \\fs22 }{\\stylesheet{\\ql \\li0\\ri0\\sa160\\sl259\\slmult1 \\fs22 \\snext0 Normal;}}"
    b"{\\*\\listtable{\\list\\listtemplateid1{\\listlevel\\levelnfc23{\\leveltext\\'01\\u-3913 ?;}{\\levelnumbers;}"
    b"\\f3\\fi-360\\li720}{\\listname ;}\\listid1}}{\\*\\listoverridetable{\\listoverride\\listid1\\ls1}}"
    b"{\\info{\\author Jane Doe}}\\paperw12240\\paperh15840\\margl1440\\margr1440"
    b"\\pard\\plain \\ltrpar\\ql \\li0\\ri0\\sa160\\sl259\\slmult1\\itap0 \\f37\\fs22 Dear team,\\par "
    b"\\pard \\ltrpar\\qc \\li0\\ri0\\sa160\\itap0 {\\b\\fs32 Quarterly \\'dcbersicht}\\par "
    b"\\pard \\ltrpar\\qj \\li0\\ri0\\sa160\\itap0 Sales were {\\i up} by 5% (E=mc{\\super 2}), H{\\sub 2}O, "
    b"{\\ul underlined}, {\\strike gone}{\\v  hidden words}.\\par "
    b"{\\listtext\\pard\\plain\\ltrpar \\f3\\fs22 \\loch\\af3\\hich\\af3\\dbch\\af31506 \\'b7\\tab}"
    b"\\pard \\ltrpar\\ql \\fi-360\\li720\\ri0\\sa160\\ls1\\itap0 North region\\par "
    b"{\\listtext\\pard\\plain\\ltrpar \\f10\\fs22 \\'a7\\tab}South region\\par "
    b"{\\listtext\\pard\\plain\\ltrpar \\fs22 1.\\tab}Numbered item\\par "
    b"{\\pntext\\f0 2.\\tab}{\\*\\pn\\pnlvlbody\\pnf0\\pnindent0\\pnstart1\\pndec{\\pntxta.}}Older numbered\\par "
    b"\\trowd \\irow0\\irowband0\\ltrrow\\ts11\\trgaph108\\trleft-108\\trbrdrt\\brdrs\\brdrw10 "
    b"\\clbrdrt\\brdrs\\brdrw10 \\cellx2000\\clbrdrt\\brdrs\\brdrw10 \\cellx6000"
    b"\\pard \\ltrpar\\ql \\intbl\\itap1 {\\b Region}\\cell Revenue\\cell "
    b"\\pard \\ltrpar\\intbl\\itap1 {\\trowd \\irow0\\trgaph108\\cellx2000\\cellx6000\\row }"
    b"\\pard \\ltrpar\\intbl\\itap1 North\\cell 1,200\\par and more\\cell "
    b"\\pard \\ltrpar\\intbl\\itap1 {\\trowd \\irow1\\lastrow\\trgaph108\\cellx2000\\cellx6000\\row }"
    b"\\pard \\ltrpar\\ql \\li0\\sa160\\itap0 See {\\field{\\*\\fldinst {HYPERLINK \"http://evil.example/\\\"x\" }}"
    b"{\\fldrslt {\\ul\\cf2 the report}}} and the chart "
    b"{\\*\\shppict{\\pict\\pngblip\\picw10\\pich10 89504e470d0a1a0a0000000d49484452}}"
    b"{\\nonshppict{\\pict\\wmetafile8 0100090000}}"
    b"{\\object\\objemb{\\*\\objclass Excel.Sheet.12}{\\*\\objdata 01050000020000000b000000}"
    b"{\\result {\\pict\\emfblip 0100000064000000}}}.\\par "
    b"\\pard \\ltrpar\\ql \\li0\\sa160\\itap0 {\\cf3 White on white is shown black.}\\par "
    b"\\pard \\ltrpar\\ql \\li0\\sa160\\itap0 \\page Second page\\par }"
)

ALLOWED_TAGS = {"html", "head", "style", "body", "p", "br", "span", "b", "i", "u", "s", "sup", "sub", "table", "tr",
                "td"}
SAFE_ATTRIBUTE = re.compile(r"[a-z0-9:;. %\-]*")


class _Structure(HTMLParser):
    """What a test checks in our HTML: tags and attributes, nesting depth, table cells, paragraphs' text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.depth = self.max_depth = 0
        self.tables: list[list[list[str]]] = []
        self.paragraphs: list[str] = []
        self.bold: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag == "br":
            return
        self.open.append(tag)
        self.max_depth = max(self.max_depth, len(self.open))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag == "td":
            self.tables[-1][-1].append("")
        elif tag == "p":
            self.paragraphs.append("")
        elif tag == "b":
            self.bold.append("")

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1] == tag:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if "td" in self.open:
            self.tables[-1][-1][-1] += data
        if "p" in self.open:
            self.paragraphs[-1] += data
        if "b" in self.open:
            self.bold[-1] += data


def structure(markup: str) -> _Structure:
    parsed = _Structure()
    parsed.feed(markup)
    parsed.close()
    return parsed


def assert_safe(markup: str) -> _Structure:
    """Only our tags, only class and style attributes made of plain CSS characters, balanced nesting."""
    parsed = structure(markup)
    for tag, attrs in parsed.tags:
        assert tag in ALLOWED_TAGS, tag
        for name, value in attrs:
            assert name in ("class", "style") and value is not None and SAFE_ATTRIBUTE.fullmatch(value), (name, value)
    assert parsed.open == []
    return parsed


def words(text: str) -> list[str]:
    return text.replace("\u00b7", "\u2022").split()


def size_percent(markup: str, text: str) -> int:
    """The font-size percentage of the size class around `text`."""
    found = re.search(r'<span class="(f\d+)">(?:<[a-z]+>)*' + re.escape(text), markup)
    assert found, text
    rule = re.search(r"\." + found.group(1) + r"\{font-size:(\d+)%\}", markup)
    assert rule
    return int(rule.group(1))


def config(**smtp: object) -> FaxgateConfig:
    return parse_config({"smtp": smtp})


def outlook_mail(rtf: bytes) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = "Jane Doe <jd@contoso.example>", "5551234@fax.localhost"
    message["Subject"] = "Rich text"
    message.add_attachment(winmail_dat(rtf_compressed=compress_rtf(rtf)), maintype="application",
                           subtype="ms-tnef", filename="winmail.dat")
    return message.as_bytes(policy=SMTP)


def ink(document: InputDocument, path: Path) -> tuple[int, int]:
    """Pages and black pixels of one document rendered by the project's renderer."""
    pages = render_documents([document], path, RenderOptions()).pages
    return pages, sum(int(np.unpackbits(page.bitmap).sum()) for page in read_fax_tiff(path))


def html_document(markup: str) -> InputDocument:
    return InputDocument(data=markup.encode(), content_type="text/html; charset=utf-8", filename="message.html")


# --- RTF written by LibreOffice -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def libreoffice_rtf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """LibreOffice's own RTF export of an HTML document with bold, italics, sizes, a table and two lists."""
    soffice = find_soffice()
    assert soffice, "LibreOffice (soffice) must be installed (scripts/setup test)"
    folder = tmp_path_factory.mktemp("rtf")
    (folder / "letter.html").write_text(SOURCE_HTML)
    subprocess.run([soffice, "--headless", f"-env:UserInstallation={(folder / 'profile').as_uri()}",
                    "--convert-to", "rtf:Rich Text Format", "--outdir", str(folder), str(folder / "letter.html")],
                   check=True, capture_output=True, timeout=180)
    return (folder / "letter.rtf").read_bytes()


def test_libreoffice_rtf_keeps_bold_sizes_alignment_table_lists_and_word_order(libreoffice_rtf: bytes) -> None:
    assert libreoffice_rtf.startswith(b"{\\rtf1") and b"\\fromhtml" not in libreoffice_rtf
    body = read_rtf_body(libreoffice_rtf)
    assert (body.kind, body.source) == ("html", "rtf")
    parsed = assert_safe(body.content)
    assert "Mr. Bold" in parsed.bold and "12.50" in parsed.bold
    assert "<i>italic</i>" in body.content and "<u>underlined</u>" in body.content and "<s>struck</s>" in body.content
    assert [[cell.strip() for cell in row] for row in parsed.tables[0]] == [["Item", "Price"], ["Widget", "12.50"]]
    items = [paragraph.split(None, 1) for paragraph in parsed.paragraphs
             if "bullet" in paragraph or "Step" in paragraph]
    assert items == [["•", "First bullet"], ["•", "Second bullet"], ["1.", "Step one"], ["2.", "Step two"]]
    assert size_percent(body.content, "Big centered title") > 150 and size_percent(body.content, "Dear ") == 100
    assert re.search(r'<p style="text-align:center[^"]*"><span class="f\d+">Big centered title', body.content)
    assert re.search(r'<p style="text-align:right[^"]*"><span class="f\d+">Right aligned line', body.content)
    assert "our site" in html_to_text(body.content) and "href" not in body.content and "example.com" not in body.content
    assert "not &lt;script&gt;." in body.content
    assert body.plain == rtf_to_text(libreoffice_rtf)
    assert words(html_to_text(body.content)) == words(body.plain)
    assert words(body.plain)[:3] == ["Dear", "Mr.", "Bold,"] and words(body.plain)[-2:] == ["not", "<script>."]


# --- RTF as Word and Outlook write it ----------------------------------------------------------------------------

def test_outlooks_small_memo_keeps_its_paragraphs_bold_and_line_break() -> None:
    markup, plain = rtf_to_html(MEMO_RTF)
    parsed = assert_safe(markup)
    assert plain == MEMO_TEXT
    assert parsed.bold == ["quarterly"]
    assert [paragraph.strip() for paragraph in parsed.paragraphs] == [
        "Hello Dr. Meyer,", "", "please find the quarterly figures below {draft}:", "North    1200", "South    980",
        "Café crème €5 “ok”", "Best regardsJohn Smith"]  # the \line is a <br> inside the last paragraph
    assert "Best regards</span><br><span" in markup
    assert words(html_to_text(markup)) == words(MEMO_TEXT)


def test_word_style_rtf_keeps_structure_and_leaves_out_pictures_objects_and_hidden_text() -> None:
    markup, plain = rtf_to_html(WORD_RTF)
    parsed = assert_safe(markup)
    assert parsed.bold == ["Quarterly Übersicht", "Region"]
    assert size_percent(markup, "Quarterly") == round(100 * 32 / 22)
    assert re.search(r'<p style="text-align:center;margin-bottom:8pt"><span class="f32"><b>Quarterly', markup)
    assert re.search(r'<p style="text-align:justify;margin-bottom:8pt">', markup)
    assert "<i>up</i>" in markup and "<sup>2</sup>" in markup and "<sub>2</sub>" in markup
    assert "<u>underlined</u>" in markup and "<s>gone</s>" in markup
    assert "hidden" not in markup and "hidden" not in plain
    list_paragraphs = [paragraph for paragraph in parsed.paragraphs if "region" in paragraph or "umbered" in paragraph]
    assert [paragraph.split(None, 1) for paragraph in list_paragraphs] == [
        ["•", "North region"], ["•", "South region"], ["1.", "Numbered item"], ["2.", "Older numbered"]]
    assert markup.count('style="margin-left:36pt;text-indent:-18pt;margin-bottom:8pt"') == 4
    [table] = parsed.tables
    assert [[cell.strip() for cell in row] for row in table] == [["Region", "Revenue"], ["North", "1,200and more"]]
    assert '<table class="grid">' in markup and '<td style="width:100pt">' in markup  # \cellx2000
    assert "See the report and the chart ." in html_to_text(markup).replace("\n", " ")
    for left_out in ("evil", "HYPERLINK", "89504e47", "wmetafile", "Excel", "0105000002", "emfblip", "color", "#"):
        assert left_out not in markup and left_out not in plain
    assert "White on white is shown black." in parsed.paragraphs[-2]
    assert re.search(r'<p style="[^"]*page-break-before:always[^"]*"><span class="f22">Second page', markup)
    assert words(html_to_text(markup)) == words(plain)


def test_a_page_break_starts_a_new_fax_page_and_the_page_is_inked(tmp_path: Path) -> None:
    markup, _ = rtf_to_html(WORD_RTF)
    pages, black = ink(html_document(markup), tmp_path / "word.tif")
    assert pages == 2 and black > 20000
    without_break, _ = rtf_to_html(WORD_RTF.replace(b"\\page ", b""))
    assert ink(html_document(without_break), tmp_path / "one.tif")[0] == 1


# --- hostile RTF --------------------------------------------------------------------------------------------------

def test_markup_quotes_and_ampersands_in_the_text_are_escaped() -> None:
    rtf = (b"{\\rtf1\\ansi <script>alert(\"x&y\")</script> \\u60?img src=x onerror=1\\u62? "
           b"\\'3c/p\\'3e{\\b \"<b>\" & '}\\par}")
    markup, plain = rtf_to_html(rtf)
    parsed = assert_safe(markup)
    assert plain == "<script>alert(\"x&y\")</script> <img src=x onerror=1> </p>\"<b>\" & '"
    assert "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;" in markup
    assert "&lt;img src=x onerror=1&gt; &lt;/p&gt;" in markup
    assert parsed.bold == ["\"<b>\" & '"] and "&quot;&lt;b&gt;&quot; &amp; &#x27;" in markup
    assert html_to_text(markup) == plain


def test_numbers_from_the_rtf_are_clamped_before_they_reach_a_style() -> None:
    rtf = (b"{\\rtf1\\ansi\\pard\\li-9999999999\\fi9999999999\\sa99999999\\fs9999999999 huge\\par"
           b"\\pard\\li9999999\\fi-9999999\\fs-5 tiny\\par\\pard\\fs24 the ordinary text, most of the text\\par"
           b"\\trowd\\cellx9999999999\\intbl wide\\cell\\row}")
    markup, _ = rtf_to_html(rtf)
    assert_safe(markup)
    assert '<p style="text-indent:300pt;margin-bottom:72pt"><span class="f400">huge' in markup
    assert '<p style="margin-left:300pt;text-indent:-300pt"><span class="f2">tiny' in markup
    assert '<td style="width:1000pt"><p><span class="f24">wide' in markup
    assert re.findall(r"\.f(\d+)\{font-size:(\d+)%", markup) == [("2", "50"), ("24", "100"), ("400", "400")]


def test_random_rtf_gives_safe_html_or_nothing_worse() -> None:
    generator = random.Random(23)
    alphabet = b"{}\\'*<>&\"bipulstrkcelrowdtxfqjnagv0123456789- \r\n\xe9\x00"
    for _ in range(400):
        noise = bytes(generator.choice(alphabet) for _ in range(generator.randrange(0, 200)))
        markup, plain = rtf_to_html(b"{\\rtf1 " + noise)
        assert_safe(markup)
        markup.encode("utf-8")
        assert plain == rtf_to_text(b"{\\rtf1 " + noise)


def test_ten_thousand_nested_groups_neither_blow_the_stack_nor_the_markup() -> None:
    deep = b"{\\rtf1\\ansi before " + b"{" * 10_000 + b"\\b deep <b>" + b"}" * 10_000 + b" after\\par}"
    markup, plain = rtf_to_html(deep)
    parsed = assert_safe(markup)
    assert plain == "before deep <b> after"
    assert parsed.bold == ["deep <b>"] and parsed.max_depth <= 8
    unclosed = b"{\\rtf1 " + b"{\\i " * 10_000 + b"lost in the middle"
    markup, plain = rtf_to_html(unclosed)
    assert plain == "lost in the middle"
    assert "<i>lost in the middle</i>" in markup and assert_safe(markup).max_depth <= 8
    assert read_rtf_body(deep).content == rtf_to_html(deep)[0]


def test_a_20_mb_rtf_body_is_read_once_and_its_html_is_capped_with_a_note() -> None:
    """The largest body decompress_rtf lets through: one linear walk, the HTML stops at MAX_HTML_CHARS."""
    chunk = b"{\\b bold <script> & \"q\"}\\b0  normal \\i text\\i0  here\\par "
    rtf = b"{\\rtf1\\ansi " + chunk * ((MAX_RAW_SIZE - 20) // len(chunk)) + b"}"
    assert len(rtf) > MAX_RAW_SIZE - 100
    body = read_rtf_body(rtf)
    assert body.kind == "html" and body.plain is not None
    assert len(body.content) < MAX_HTML_CHARS and body.content.count("<p>") > 30_000
    assert body.content.endswith(f"<p><i>{TRUNCATION_NOTE}</i></p>\n</body></html>")
    assert "<script>" not in body.content
    assert body.plain.count("\n") == len(rtf) // len(chunk) - 1  # the plain text is whole: every paragraph


# --- whole mails ---------------------------------------------------------------------------------------------------

def test_a_rich_text_outlook_mail_becomes_a_formatted_html_page_that_renders(libreoffice_rtf: bytes,
                                                                              tmp_path: Path) -> None:
    mail = parse_fax_mail(outlook_mail(libreoffice_rtf), config(body="page"))
    [page] = mail.documents
    assert page.content_type == "text/html; charset=utf-8" and page.data is not None
    markup = page.data.decode()
    parsed = assert_safe(markup)
    assert "Mr. Bold" in parsed.bold and parsed.tables
    assert mail.body_text == rtf_to_text(libreoffice_rtf)
    pages, black = ink(page, tmp_path / "mail.tif")
    assert pages == 1 and black > 20000


def test_bold_rtf_text_is_heavier_on_the_fax_page_than_the_same_text_plain(tmp_path: Path) -> None:
    sentence = b"The quick brown fox jumps over the lazy dog, again and again and again.\\par "
    bold, _ = rtf_to_html(b"{\\rtf1\\ansi\\pard\\fs22\\b " + sentence * 6 + b"}")
    plain, _ = rtf_to_html(b"{\\rtf1\\ansi\\pard\\fs22 " + sentence * 6 + b"}")
    assert "<b>" in bold and "<b>" not in plain
    _, bold_ink = ink(html_document(bold), tmp_path / "bold.tif")
    _, plain_ink = ink(html_document(plain), tmp_path / "plain.tif")
    assert bold_ink > plain_ink * 1.2


def test_the_option_line_and_the_signature_are_cut_from_an_rtf_html_body() -> None:
    rtf = (b"{\\rtf1\\ansi\\ansicpg1252{\\fonttbl{\\f0 Calibri;}}\\pard\\f0\\fs22 fax: nocover, fine\\par "
           b"Please call {\\b Dr. Meyer} back & confirm.\\par\\pard\\qc Thanks\\par\\pard --\\par "
           b"{\\i Jane Doe, Contoso}\\par Phone 555\\par}")
    mail = parse_fax_mail(outlook_mail(rtf), config())
    assert mail.cover is False and mail.options.resolution == "fine"
    [page] = mail.documents
    assert page.data is not None
    markup = page.data.decode()
    assert "fax:" not in markup and "nocover" not in markup
    assert "<b>Dr. Meyer</b>" in markup and "back &amp; confirm." in markup and "text-align:center" in markup
    assert "Jane Doe" not in markup and "Phone" not in markup and "--" not in markup
    assert mail.body_text == "Please call Dr. Meyer back & confirm.\nThanks"
    assert html_to_text(markup) == "Please call Dr. Meyer back & confirm.\n\nThanks"


def test_a_rich_text_mail_with_attachments_puts_the_rtf_text_on_the_cover_note() -> None:
    from tests.fixtures.mail.build import one_page_pdf

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "jd@contoso.example", "5551234@fax.localhost", "Report"
    tnef = winmail_dat(rtf_compressed=compress_rtf(WORD_RTF), attachments=[("r.pdf", "application/pdf",
                                                                            one_page_pdf())])
    message.add_attachment(tnef, maintype="application", subtype="ms-tnef", filename="winmail.dat")
    mail = parse_fax_mail(message.as_bytes(policy=SMTP), config())
    assert [document.filename for document in mail.documents] == ["r.pdf"]
    assert mail.cover_note.startswith("Dear team,\nQuarterly Übersicht\nSales were up by 5% (E=mc2)")
    assert "<" not in mail.cover_note
