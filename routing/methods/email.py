"""Route through e-mail (MS_FAXROUTE_EMAIL_GUID): the fax as PDF (default), TIFF or both, to To/CC/BCC."""

from __future__ import annotations

import asyncio
import hashlib
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from gateway.config.routing import EmailAction
from gateway.enums import MS_FAXROUTE_EMAIL_GUID
from routing.mail import check_address, send_mail
from routing.methods.base import RouteContext, RoutingFailure
from routing.templates import check_template, render


class EmailMethod:
    """Mail the received fax through the [receipts] smarthost, with subject and body from templates."""

    guid = MS_FAXROUTE_EMAIL_GUID
    name = "email"
    friendly_name = "Route through e-mail"
    default_priority = 2

    def check_config(self, config: dict[str, Any]) -> None:
        """Recipients must be plain addresses and templates must name known fields."""
        action = EmailAction.model_validate(config)
        for address in [*action.to, *action.cc, *action.bcc]:
            check_address(address)
        check_template(action.subject)
        check_template(action.body)

    def describe(self, config: dict[str, Any]) -> str:
        """E.g. "mail PDF to a@b cc c@d"."""
        action = EmailAction.model_validate(config)
        parts = [f"mail {action.format.upper()} to {', '.join(action.to) or '-'}"]
        if action.cc:
            parts.append(f"cc {', '.join(action.cc)}")
        if action.bcc:
            parts.append(f"bcc {', '.join(action.bcc)}")
        return " ".join(parts)

    async def build(self, context: RouteContext) -> tuple[EmailMessage, list[str]]:
        """The message and its envelope recipients (To, CC and BCC; BCC never appears in a header)."""
        action = EmailAction.model_validate(context.config)
        defaults = context.settings.inbound.email
        fax, zone = context.fax, context.zone
        message = EmailMessage()
        message["From"] = context.settings.receipts.sender
        if action.to:
            message["To"] = ", ".join(check_address(a) for a in action.to)
        if action.cc:
            message["Cc"] = ", ".join(check_address(a) for a in action.cc)
        message["Subject"] = render(action.subject or defaults.subject, fax, zone, "line")
        message["Date"] = formatdate(fax.received_at, localtime=False)
        domain = context.settings.receipts.sender.rpartition("@")[2] or "faxgate"
        token = hashlib.sha256(context.delivery_key.encode()).hexdigest()[:16]
        message["Message-ID"] = f"<fax-{fax.id}-{token}@{domain}>"
        message["X-Faxgate-Incoming-Job"] = str(fax.id)
        message.set_content(render(action.body or defaults.body, fax, zone, "text"))
        stem = render(defaults.attachment_name, fax, zone, "filename")
        if action.format in ("pdf", "both"):
            pdf = await context.files.pdf()
            message.add_attachment(pdf.read_bytes(), maintype="application", subtype="pdf", filename=f"{stem}.pdf")
        if action.format in ("tiff", "both"):
            data = await asyncio.to_thread(context.files.tiff.read_bytes)
            message.add_attachment(data, maintype="image", subtype="tiff", filename=f"{stem}.tif")
        return message, [*action.to, *action.cc, *action.bcc]

    async def route(self, context: RouteContext) -> str:
        """Send the mail; the Message-ID is stable per delivery, so a repeat after a crash is recognisable."""
        if not context.settings.receipts.use_for_inbound_routing:
            raise RoutingFailure("e-mail routing is off ([receipts] use_for_inbound_routing = false)",
                                 retryable=False)
        try:
            message, recipients = await self.build(context)
        except ValueError as exc:
            raise RoutingFailure(str(exc), retryable=False) from exc
        message_id = await send_mail(context.settings.receipts, message, recipients)
        return f"mailed to {len(recipients)} recipient(s) as {message_id}"
