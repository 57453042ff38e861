"""Store in a mailbox: the received fax as a mail with the PDF (and/or TIFF) in a folder of a [[mailboxes]] entry
(IMAP APPEND, EWS CreateItem or Graph, as the entry's backend says).

The mail has the e-mail method's subject and body templates and a Message-ID made from the delivery key. Before
creating it, the folder is searched for that Message-ID: a retry after a crash between creating the item and
recording the delivery finds the first one and creates nothing. The server being down or refusing the login is a
retryable failure (routing retries with backoff).
"""

from __future__ import annotations

import asyncio
import hashlib
from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from gateway.config.mailboxes import MailboxSection
from gateway.config.routing import MailboxAction
from gateway.mailbox.backend import MailboxBackend, MailboxUnavailable
from routing.methods.base import RouteContext, RoutingFailure
from routing.templates import check_template, render

MAILBOX_GUID = "{c2a4e6f1-5b3d-4a7e-9f2c-1d8e0b6a4c37}"


def _deliver(backend: MailboxBackend, folder: str, message_id: str, mime: bytes) -> str:
    """Find-or-create in one blocking run: the note routing records."""
    try:
        backend.ensure_folder(folder)
        if backend.find(folder, message_id) is not None:
            return f"already in {folder} as {message_id}"
        backend.create_item(folder, mime)
        return f"stored in {folder} as {message_id}"
    finally:
        backend.close()


class MailboxMethod:
    """Create a mail with the fax in a mailbox folder (IMAP APPEND, EWS CreateItem, Graph create message)."""

    guid = MAILBOX_GUID
    name = "mailbox"
    friendly_name = "Store in a mailbox"
    default_priority = 4

    def check_config(self, config: dict[str, Any]) -> None:
        """The templates must name known fields (the mailbox name is checked against [[mailboxes]] when routing)."""
        action = MailboxAction.model_validate(config)
        check_template(action.subject)
        check_template(action.body)

    def describe(self, config: dict[str, Any]) -> str:
        """E.g. "store PDF in mailbox faxbox folder Faxes/Received"."""
        action = MailboxAction.model_validate(config)
        return f"store {action.format.upper()} in mailbox {action.mailbox} folder {action.folder}"

    async def build(self, context: RouteContext, section: MailboxSection) -> tuple[EmailMessage, str]:
        """The mail and its Message-ID (stable per delivery)."""
        action = MailboxAction.model_validate(context.config)
        defaults = context.settings.inbound.email
        fax, zone = context.fax, context.zone
        message = EmailMessage()
        message["From"] = context.settings.receipts.sender
        message["To"] = section.username if "@" in section.username else context.settings.receipts.sender
        message["Subject"] = render(action.subject or defaults.subject, fax, zone, "line")
        message["Date"] = formatdate(fax.received_at, localtime=False)
        domain = context.settings.receipts.sender.rpartition("@")[2] or "faxgate"
        token = hashlib.sha256(context.delivery_key.encode()).hexdigest()[:16]
        message_id = f"<fax-{fax.id}-{token}@{domain}>"
        message["Message-ID"] = message_id
        message["X-Faxgate-Incoming-Job"] = str(fax.id)
        message.set_content(render(action.body or defaults.body, fax, zone, "text"))
        stem = render(defaults.attachment_name, fax, zone, "filename")
        if action.format in ("pdf", "both"):
            pdf = await context.files.pdf()
            data = await asyncio.to_thread(pdf.read_bytes)
            message.add_attachment(data, maintype="application", subtype="pdf", filename=f"{stem}.pdf")
        if action.format in ("tiff", "both"):
            tiff = await asyncio.to_thread(context.files.tiff.read_bytes)
            message.add_attachment(tiff, maintype="image", subtype="tiff", filename=f"{stem}.tif")
        return message, message_id

    async def route(self, context: RouteContext) -> str:
        """Create the mail once in the configured folder."""
        from gateway.mailbox.source import backend_for

        action = MailboxAction.model_validate(context.config)
        section = next((m for m in context.settings.mailboxes if m.name == action.mailbox), None)
        if section is None:
            raise RoutingFailure(f"no [[mailboxes]] entry is named {action.mailbox!r}", retryable=False)
        try:
            message, message_id = await self.build(context, section)
        except ValueError as exc:
            raise RoutingFailure(str(exc), retryable=False) from exc
        try:
            return await asyncio.to_thread(_deliver, backend_for(section), action.folder, message_id,
                                           message.as_bytes(policy=policy.SMTP))
        except MailboxUnavailable as exc:
            raise RoutingFailure(f"mailbox {section.name}: {exc.reason}") from exc
