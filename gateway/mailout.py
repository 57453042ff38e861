"""Mail that faxgate itself sends (receipts, bounces, faxes routed by e-mail): through the [receipts] smarthost,
or into a local Maildir when [receipts].maildir is set (the embedded defaults do, so a newcomer can read them)."""

from __future__ import annotations

import asyncio
import mailbox
from email.message import Message
from pathlib import Path

import aiosmtplib

from gateway.config.sections import ReceiptsSection

DeliveryError = (aiosmtplib.SMTPException, OSError, UnicodeError)
"""What a failed delivery raises: the smarthost refused it or is unreachable, the Maildir cannot be written, or an
address cannot be written in any encoding (bytes the sender's client sent that are not text)."""


async def deliver_mail(receipts: ReceiptsSection, message: Message, recipients: list[str], *,
                       sender: str | None = None) -> None:
    """Hand one message over for good; raises one of DeliveryError if it cannot be handed over."""
    envelope_sender = receipts.sender if sender is None else sender
    if receipts.maildir is not None:
        await asyncio.to_thread(_into_maildir, receipts.maildir, message, envelope_sender, recipients)
        return
    await aiosmtplib.send(
        message, sender=envelope_sender, recipients=recipients, hostname=receipts.smtp_host,
        port=receipts.smtp_port, use_tls=receipts.security == "tls", start_tls=receipts.security == "starttls",
        username=receipts.username or None, password=receipts.password or None, timeout=60,
    )


def _into_maildir(folder: Path, message: Message, sender: str, recipients: list[str]) -> None:
    """Add the message to the Maildir (written under tmp/, then renamed into new/), its envelope as the first
    headers, as a local delivery agent writes them."""
    envelope = f"Return-Path: <{sender}>\nX-Original-To: {', '.join(recipients)}\n"
    mailbox.Maildir(folder, create=True).add(envelope.encode() + message.as_bytes())
