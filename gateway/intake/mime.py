"""A stored mail becomes what a fax needs: ordered documents, options, the cover note, subject and sender.

`parse_fax_mail(raw, config)` is pure (bytes in, FaxMail out): intake runs it before answering DATA, and the
render worker runs it again on the stored raw message. Rules: each attachment is a document, in order;
multipart/alternative gives one body (HTML preferred, never both); inline cid images travel with their HTML;
signature parts of signed mail are not documents; winmail.dat is unpacked; forwarded messages become a page
with their headers plus their own attachments.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import parseaddr
from typing import Literal
from zoneinfo import ZoneInfo

from gateway.config import FaxgateConfig
from gateway.config.smtp import SmtpSection
from gateway.intake.addresses import header_names
from gateway.intake.options import FaxOptions, read_options
from gateway.intake.parts import describe, is_tiny_image, unfaxable
from gateway.intake.rtf import read_rtf_body
from gateway.intake.text import (
    cut_html,
    cut_text,
    declare_utf8,
    decode_bytes,
    decode_html,
    header_text,
    html_to_text,
    message_header,
    part_text,
    remove_first_line_matching,
)
from gateway.intake.tnef import TnefError, is_tnef, read_tnef
from gateway.render.options import InputDocument
from gateway.textsafe import safe_text

_SIGNATURE_TYPES = {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature",
                    "application/pgp-keys"}
_TNEF_TYPES = {"application/ms-tnef", "application/vnd.ms-tnef"}
_OPTION_LINE = re.compile(r"^\s*fax\s*:", re.IGNORECASE)
_HTML_OPTION_TEXT = re.compile(r"(?i)fax\s*:[^<\n]*")
_CID_REF = re.compile(r"""cid:([^"')\s>]+)""", re.IGNORECASE)
_FORWARD_HEADERS = ("From", "Date", "Subject", "To", "Cc")


class MailError(Exception):
    """A mail that cannot become a fax; `reason` is plain words for the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(eq=False)
class _Body:
    """Mail text in one form; the plain form feeds the cover note and the option line."""

    kind: Literal["text", "html"]
    content: str
    plain: str | None = None
    related: dict[str, bytes] = field(default_factory=dict)
    forwarded: bool = False
    fallback: bool = False
    """A body found only inside winmail.dat: used when the mail has no other."""
    unreadable: str = ""
    """Why a body that was there could not be read (the mail is refused if it would be the one faxed)."""


@dataclass(eq=False)
class _Attachment:
    document: InputDocument
    content_id: str = ""
    tiny: bool = False
    """A logo, icon or tracking pixel: not a page unless the mail has nothing else."""


@dataclass(eq=False)
class _Unfaxable:
    """An attachment that can never become pages; the mail is refused with `reason`, or it is dropped."""

    reason: str


_Item = _Body | _Attachment | _Unfaxable


@dataclass(frozen=True, slots=True)
class FaxMail:
    """Everything a fax needs from one mail."""

    documents: tuple[InputDocument, ...]
    """In mail order; the body is the first when it is sent as a page."""
    options: FaxOptions
    cover: bool
    cover_template: str
    cover_note: str
    subject: str
    """Decoded, without the "[fax: ...]" option tag."""
    sender_name: str
    sender_address: str
    recipient_names: dict[str, str]
    """Display names from To/Cc by lower-cased address."""
    body_text: str
    """The mail text as plain text after cutting (whether it went on a page or on the cover)."""


def parse_message(raw: bytes) -> Message:
    """The raw bytes as a Message (compat32: headers stay raw until text.header_text decodes the few we read)."""
    return BytesParser(policy=policy.compat32).parsebytes(raw)


def parse_fax_mail(raw: bytes, config: FaxgateConfig, *, now: datetime | None = None) -> FaxMail:
    """Turn a stored raw mail into documents, options and cover fields; MailError with a plain reason if it can't."""
    smtp = config.smtp
    message = parse_message(raw)
    auto = message_header(message, "Auto-Submitted").lower()
    if auto and not auto.startswith("no"):
        raise MailError("automatic replies and delivery reports are not faxed (the mail is marked Auto-Submitted)")
    items = _walk(message)
    unfaxable = [item for item in items if isinstance(item, _Unfaxable)]
    if unfaxable and smtp.unfaxable_attachments == "refuse":
        raise MailError(unfaxable[0].reason)
    bodies = [item for item in items if isinstance(item, _Body) and not item.forwarded]
    primary = [body for body in bodies if not body.fallback] or bodies[:1]
    if primary and primary[0].unreadable:
        raise MailError(primary[0].unreadable)
    body = _merge(primary) if primary else None
    plain = "" if body is None else (body.plain if body.plain is not None else _as_plain(body))
    first_line = next((line for line in plain.split("\n") if line.strip()), None)
    options, sources = read_options(
        message, first_line, now=now or datetime.now(UTC), zone=ZoneInfo(config.outbox.timezone),
        in_subject=smtp.options_in_subject, in_body=smtp.options_in_body,
    )
    body, plain = _clean_body(body, plain, sources.body_line_used, smtp)
    attachments = [item for item in items if isinstance(item, _Attachment)]
    if body is not None and body.kind == "html":
        attachments = _claim_cid_images(body, attachments)
    if any(not item.tiny for item in attachments) or body is not None:
        attachments = [item for item in attachments if not item.tiny]
    cover = smtp.cover_page if options.cover is None else options.cover
    note_mode = smtp.body == "cover_note" or (smtp.body == "auto" and bool(attachments))
    body_is_note = body is not None and cover and note_mode
    page_body = None if body_is_note else body
    documents = _ordered_documents(items, primary[0] if primary else None, page_body, attachments)
    note = plain[: smtp.max_note_chars].rstrip() if body_is_note else ""
    if not documents and not (cover and note):
        raise MailError("there is nothing to fax: the mail has no text and no attachments")
    sender_name, sender_address = parseaddr(str(message.get("From", "") or ""))
    sender_name = header_text(sender_name)
    return FaxMail(
        documents=tuple(documents),
        options=options,
        cover=cover,
        cover_template=options.cover_template or smtp.cover_template,
        cover_note=note,
        subject=safe_text(sources.subject, 200),
        sender_name=safe_text(sender_name, 100),
        sender_address=safe_text(sender_address, 200),
        recipient_names=header_names(message),
        body_text=plain,
    )


def _clean_body(body: _Body | None, plain: str, option_line_used: bool,
                smtp: SmtpSection) -> tuple[_Body | None, str]:
    """Remove the option line and the signature; None when nothing worth faxing is left."""
    if body is None:
        return None, plain
    if option_line_used:
        plain = remove_first_line_matching(plain, _OPTION_LINE)
        if body.kind == "text":
            body.content = remove_first_line_matching(body.content, _OPTION_LINE)
        elif _OPTION_LINE.match(html_to_text(body.content)):
            body.content = _HTML_OPTION_TEXT.sub("", body.content, count=1)
    cuts = [re.compile(pattern) for pattern in smtp.signature_cuts]
    plain = cut_text(plain, cuts).strip("\n")
    body.content = (cut_text(body.content, cuts) if body.kind == "text"
                    else cut_html(body.content, cuts, smtp.html_signature_markers))
    if not plain.strip() and (body.kind == "text" or not _has_images(body.content)):
        return None, plain
    return body, plain


def _ordered_documents(items: list[_Item], body_slot: _Body | None, page_body: _Body | None,
                       attachments: list[_Attachment]) -> list[InputDocument]:
    """Documents in mail order: the body page where the body was, forwarded mails, and kept attachments."""
    kept = {id(item) for item in attachments}
    documents: list[InputDocument] = []
    for item in items:
        if item is body_slot and page_body is not None:
            documents.append(_body_document(page_body, "message"))
        elif isinstance(item, _Body) and item.forwarded:
            documents.append(_body_document(item, "forwarded"))
        elif isinstance(item, _Attachment) and id(item) in kept:
            documents.append(item.document)
    return documents


def _walk(part: Message) -> list[_Item]:
    """The bodies and attachments of one MIME entity, in order."""
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        return _forwarded(part)
    if part.is_multipart():
        subtype = part.get_content_subtype()
        payload = part.get_payload()
        children = [child for child in payload if isinstance(child, Message)] if isinstance(payload, list) else []
        if subtype == "alternative":
            return _alternative(children)
        if subtype == "related":
            return _related(part, children)
        if subtype == "signed":
            return _walk(children[0]) if children else []
        if subtype == "encrypted":
            raise MailError("the mail is encrypted; send it unencrypted to have it faxed")
        return [item for child in children for item in _walk(child)]
    if content_type in _SIGNATURE_TYPES:
        return []
    if content_type == "application/pkcs7-mime" or content_type == "application/x-pkcs7-mime":
        raise MailError("the mail is encrypted or wrapped in S/MIME; send it as ordinary mail to have it faxed")
    filename = _filename(part)
    if content_type in _TNEF_TYPES or (filename or "").lower() == "winmail.dat":
        return _tnef(part)
    disposition = part.get_content_disposition()
    is_text = part.get_content_maintype() == "text"
    if is_text and disposition != "attachment" and not filename:
        text = part_text(part)
        if content_type == "text/html":
            return [_Body("html", text)]
        if content_type in ("text/plain", "text/enriched", "text/markdown") or not text.strip():
            return [_Body("text", text)] if text.strip() or content_type == "text/plain" else []
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    name = describe(filename, content_type)
    if is_text:  # decoded once here; the renderer gets UTF-8 and says so
        charset = part.get_content_charset()
        text = decode_html(data, charset) if content_type == "text/html" else decode_bytes(data, charset)
        if not _has_content(text, content_type == "text/html"):
            return []  # Apple Mail's empty att*.htm and other blank text parts are not pages
        data, declared = text.encode("utf-8"), f"{content_type}; charset=utf-8"
    elif not data and part.get_content_maintype() == "multipart":
        return []  # a multipart without its boundary holds nothing
    elif not data:
        raise MailError(f"the attachment {name} is empty")
    else:
        reason = unfaxable(part, data, name)
        if reason is not None:
            return [_Unfaxable(reason)]
        declared = content_type
    content_id = str(part.get("Content-ID", "") or "").strip().strip("<>")
    return [_Attachment(InputDocument(data=data, content_type=declared, filename=filename), content_id,
                        tiny=not is_text and disposition != "attachment" and is_tiny_image(data))]


def _alternative(children: list[Message]) -> list[_Item]:
    """The best single alternative: HTML (or a structure holding HTML) over plain text; the plain one is kept for
    the note."""
    def rank(child: Message) -> int:
        kind = child.get_content_type()
        if kind == "text/html" or (child.is_multipart() and child.get_content_subtype() in ("related", "mixed")):
            return 3
        if child.is_multipart() and child.get_content_subtype() == "alternative":
            return 2
        if kind == "text/plain":
            return 1
        return 0

    if not children:
        return []
    # Best first (a later part of the same rank is the sender's preference); an empty HTML part never wins over
    # a text part with words in it.
    order = sorted(reversed(range(len(children))), key=lambda index: rank(children[index]), reverse=True)
    walked = [(index, _walk(children[index])) for index in order]
    best, items = next(((index, found) for index, found in walked if _items_have_content(found)), walked[0])
    plain_parts = [child for child in children if child.get_content_type() == "text/plain"]
    if plain_parts and rank(children[best]) > 1 and plain_parts[-1] is not children[best]:
        plain = part_text(plain_parts[-1])
        for item in items:
            if isinstance(item, _Body):
                item.plain = plain
                break
    return items


def _related(part: Message, children: list[Message]) -> list[_Item]:
    """multipart/related: the root is the body, the rest are resources it refers to by Content-ID."""
    if not children:
        return []
    start = str(part.get_param("start", "") or "").strip("<>")
    root_index = next((index for index, child in enumerate(children)
                       if start and str(child.get("Content-ID", "")).strip().strip("<>") == start), 0)
    resources: dict[str, bytes] = {}
    extra: list[_Item] = []
    for index, child in enumerate(children):
        if index == root_index:
            continue
        content_id = str(child.get("Content-ID", "") or "").strip().strip("<>")
        payload = child.get_payload(decode=True)
        if content_id and isinstance(payload, bytes):
            resources[content_id] = payload
        else:
            extra.extend(_walk(child))
    items = _walk(children[root_index])
    for item in items:
        if isinstance(item, _Body) and item.kind == "html":
            item.related.update(resources)
            break
    return items + extra


def _tnef(part: Message) -> list[_Item]:
    """Outlook's winmail.dat: its files as attachments; its body only if the mail has no other."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    if not is_tnef(data):
        raise MailError("the attachment winmail.dat is not a readable Outlook (TNEF) file")
    try:
        content = read_tnef(data)
    except TnefError:
        raise MailError("the attachment winmail.dat from Outlook is damaged") from None
    items: list[_Item] = []
    if content.body_html.strip():
        items.append(_Body("html", content.body_html, fallback=True))
    elif content.body_text.strip():
        items.append(_Body("text", content.body_text, fallback=True))
    elif content.body_rtf:
        # Outlook's "Rich Text" body: encapsulated HTML stays HTML, encapsulated text stays text, and ordinary RTF
        # comes as HTML keeping its formatting, with its plain text for the cover note and the option line.
        rtf = read_rtf_body(content.body_rtf)
        if (rtf.content if rtf.plain is None else rtf.plain).strip():
            items.append(_Body(rtf.kind, rtf.content, plain=rtf.plain, fallback=True))
    elif content.body_rtf_error:  # faxing the attachments without the text would send half the fax
        items.append(_Body("text", "", fallback=True, unreadable=(
            "the message text Outlook sent as rich text in winmail.dat is damaged; send the mail again, "
            "or as HTML or plain text")))
    for attachment in content.attachments:
        name = attachment.filename or "attachment"
        if attachment.embedded_message:
            raise MailError(f"winmail.dat holds an attached Outlook item ({name!r}), which cannot be faxed; "
                            "attach it as a file instead")
        if not attachment.data:
            raise MailError(f"the attachment {name!r} inside winmail.dat is empty")
        mime = attachment.mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        items.append(_Attachment(InputDocument(data=attachment.data, content_type=mime, filename=name)))
    return items


def _forwarded(part: Message) -> list[_Item]:
    """A forwarded mail: one page with its headers and text, then its own attachments."""
    inner = part.get_payload()
    message = inner[0] if isinstance(inner, list) and inner else inner
    if not isinstance(message, Message):
        return []
    encoding = str(part.get("Content-Transfer-Encoding", "") or "").strip().lower()
    if encoding in ("base64", "quoted-printable"):  # several mailers encode attached messages, against RFC 2046
        text = message.as_bytes().lstrip(b"\r\n")
        decoded = (base64.b64decode(b"".join(text.split()) + b"==", validate=False) if encoding == "base64"
                   else quopri.decodestring(text))
        message = parse_message(decoded)
    items = _walk(message)
    bodies = [item for item in items if isinstance(item, _Body) and not item.forwarded]
    body = _merge(bodies) if bodies else _Body("text", "")
    lines = [(name, _header_text(message, name)) for name in _FORWARD_HEADERS]
    lines = [(name, value) for name, value in lines if value]
    if body.kind == "html":
        rows = "".join(f"<tr><td><b>{name}:</b></td><td>{html.escape(value)}</td></tr>" for name, value in lines)
        body.content = (f"<p><b>Forwarded message</b></p><table>{rows}</table><hr>" + body.content)
    else:
        header = "\n".join(f"{name}: {value}" for name, value in lines)
        body.content = f"---------- Forwarded message ----------\n{header}\n\n{body.content}"
    body.forwarded = True
    body.fallback = False
    merged = {id(item) for item in bodies}
    rest = [item for item in items if id(item) not in merged]
    if body.kind == "html":  # its inline images travel with its page, as the main body's do
        attachments = [item for item in rest if isinstance(item, _Attachment)]
        kept = {id(item) for item in _claim_cid_images(body, attachments)}
        rest = [item for item in rest if not isinstance(item, _Attachment) or id(item) in kept]
    return [body, *rest]


def _merge(bodies: list[_Body]) -> _Body:
    """Several inline text parts (Apple Mail splits text around inline files) read as one body."""
    if len(bodies) == 1:
        return bodies[0]
    if all(body.kind == "text" for body in bodies):
        merged = _Body("text", "\n".join(body.content for body in bodies))
    else:
        merged = _Body("html", "".join(body.content if body.kind == "html" else
                                       f"<pre>{html.escape(body.content)}</pre>" for body in bodies))
        for body in bodies:
            merged.related.update(body.related)
    plains = [body.plain if body.plain is not None else _as_plain(body) for body in bodies]
    merged.plain = "\n".join(plains)
    merged.fallback = all(body.fallback for body in bodies)
    return merged


def _as_plain(body: _Body) -> str:
    return body.content if body.kind == "text" else html_to_text(body.content)


def _has_images(markup: str) -> bool:
    return "<img" in markup.lower()


def _has_content(text: str, is_html: bool) -> bool:
    """Words, or for HTML an image: what makes a text part worth a page."""
    return bool((html_to_text(text) if is_html else text).strip()) or (is_html and _has_images(text))


def _items_have_content(items: list[_Item]) -> bool:
    """An alternative worth choosing: a body with content, or documents of its own."""
    return any(isinstance(item, _Attachment) or
               (isinstance(item, _Body) and _has_content(item.content, item.kind == "html")) for item in items)


def _claim_cid_images(body: _Body, attachments: list[_Attachment]) -> list[_Attachment]:
    """Images the HTML shows by cid: belong to the page, not to the document list."""
    referenced = {ref.strip("<>") for ref in _CID_REF.findall(body.content)}
    kept: list[_Attachment] = []
    for attachment in attachments:
        if attachment.content_id and attachment.content_id in referenced and attachment.document.data:
            body.related[attachment.content_id] = attachment.document.data
        else:
            kept.append(attachment)
    return kept


_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
"""Control characters no page can show (tab, line ends and form feed are kept)."""


def _body_document(body: _Body, stem: str) -> InputDocument:
    """The mail text as a document: HTML rendered as a page, or plain text."""
    if body.kind == "html":
        return InputDocument(data=declare_utf8(body.content).encode("utf-8"), content_type="text/html; charset=utf-8",
                             filename=f"{stem}.html", related=dict(body.related))
    text = _UNPRINTABLE.sub("", body.content)  # a stray NUL would make the renderer take the text for binary
    return InputDocument(data=text.encode("utf-8"), content_type="text/plain; charset=utf-8", filename=f"{stem}.txt")


def _filename(part: Message) -> str | None:
    """The attachment's file name: RFC 2231 and (non-standard but common) RFC 2047 encodings undone."""
    name = part.get_filename()
    if not name:
        return None
    name = header_text(name)
    return safe_text(name.replace("/", "_").replace("\\", "_"), 120)


def _header_text(message: Message, name: str) -> str:
    return safe_text(message_header(message, name), 200)
