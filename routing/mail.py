"""Sending mail through the receipts smarthost ([receipts]), shared by the e-mail method and administrator notices."""

from __future__ import annotations

import re
from email.message import EmailMessage

import aiosmtplib

from gateway.config.sections import ReceiptsSection
from gateway.mailout import DeliveryError, deliver_mail
from routing.methods.base import RoutingFailure

_ADDRESS = re.compile(r"^[^\s<>\"',;:@]+@[^\s<>\"',;:@]+$")


def check_address(address: str) -> str:
    """A plain addr-spec without spaces or line breaks, or ValueError."""
    if not _ADDRESS.match(address):
        raise ValueError(f"not a plain e-mail address: {address!r}")
    return address


async def send_mail(receipts: ReceiptsSection, message: EmailMessage, recipients: list[str]) -> str:
    """Hand a message to the smarthost or Maildir; RoutingFailure (retryable unless refused for good)."""
    try:
        await deliver_mail(receipts, message, recipients)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [error.code for error in exc.recipients]
        permanent = all(code >= 500 for code in codes)
        raise RoutingFailure(f"the mail server refused the recipients ({codes})", retryable=not permanent) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise RoutingFailure(f"the mail server said {exc.code} {exc.message[:120]}",
                             retryable=exc.code < 500) from exc
    except DeliveryError as exc:
        problem = (f"cannot write to the Maildir {receipts.maildir}" if receipts.maildir is not None
                   else f"cannot reach the mail server {receipts.smtp_host}:{receipts.smtp_port}")
        raise RoutingFailure(f"{problem} ({type(exc).__name__})") from exc
    return str(message["Message-ID"])
