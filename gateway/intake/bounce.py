"""Telling the sender: a DSN-style bounce in plain words when an accepted mail cannot be faxed, and an
optional "queued" notice. Both go out through the receipts smarthost from the null sender, so they never loop.

Only to a sender the gateway vouches for (`may_mail_sender`): an authenticated user (who may only send as its own
addresses) or a trusted network that lists the senders it accepts. A trusted network that accepts any MAIL FROM
gets no mail back: its MAIL FROM may be anyone's, and mailing it would be backscatter. A bounce carries the
original's headers, the whole original only up to smtp.bounce_attach_limit (0 by default).
"""

from __future__ import annotations

import email
import logging
import time
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid

from gateway.config import FaxgateConfig
from gateway.intake.auth import principal_by_name
from gateway.logs import log_event, logger
from gateway.mailout import DeliveryError, deliver_mail
from gateway.model import Submission
from gateway.textsafe import safe_text

log = logger("outbound")


def may_mail_sender(config: FaxgateConfig, submission: Submission) -> bool:
    """True when the envelope sender is one the submitter proved it may use (see the module's docstring); local
    submissions (`faxgate submit`) name their receipt address themselves."""
    sender = submission.envelope_from
    if not sender or sender == "<>":
        return False
    if submission.source != "smtp":
        return True
    principal = principal_by_name(config.security, submission.principal)
    if principal is None or (principal.kind == "network" and not principal.senders):
        return False
    return principal.may_send_as(sender)


def _recipient_lines(submission: Submission, only: list[str] | None) -> list[str]:
    lines = []
    for recipient in submission.recipients:
        number = recipient.get("number") or recipient.get("address", "")
        if only is not None and number not in only and recipient.get("address") not in only:
            continue
        name, number = safe_text(recipient.get("name", ""), 100), safe_text(number, 200)
        lines.append(f"{name} <{number}>" if name else number)
    return lines


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def bounce_text(submission: Submission, reason: str, *, failed: list[str] | None = None,
                partly_sent: bool = False) -> str:
    """The human part of a bounce: what, to whom, why, and what to do."""
    recipients = _recipient_lines(submission, failed)
    outcome = ("The other recipients of this mail were sent the fax." if partly_sent else
               "Nothing was sent to any of these recipients.")
    return "\n".join([
        "Your mail to the fax gateway could not be faxed.",
        "",
        f"  Subject:    {safe_text(submission.subject, 200) or '(none)'}",
        f"  Submitted:  {_when(submission.created_at)}",
        f"  Fax to:     {', '.join(recipients) or '(no recipient)'}",
        f"  Reference:  {submission.id}",
        "",
        f"Why: {safe_text(reason, 2000)}",
        "",
        outcome,
        "",
        "What to do: correct the problem and send the mail again. Your original message (or its headers) is "
        "attached below.",
        "",
    ])


def build_bounce(config: FaxgateConfig, submission: Submission, reason: str, raw: bytes | None, *,
                 failed: list[str] | None = None, status: str = "5.0.0", partly_sent: bool = False) -> Message:
    """A multipart/report (RFC 3464) with the plain-words text, the delivery status and the original."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = formataddr(("Fax gateway", config.receipts.sender))
    report["To"] = safe_text(submission.envelope_from, 200)
    report["Subject"] = f"Fax not sent: {safe_text(submission.subject, 120) or submission.id}"
    report["Date"] = format_datetime(datetime.now(UTC))
    report["Message-ID"] = make_msgid(domain=config.smtp.hostname)
    report["Auto-Submitted"] = "auto-replied"
    report.attach(MIMEText(bounce_text(submission, reason, failed=failed, partly_sent=partly_sent), "plain", "utf-8"))
    report.attach(_delivery_status(config, submission, reason, failed, status))
    if raw is not None and len(raw) <= config.smtp.bounce_attach_limit:
        report.attach(MIMEMessage(email.message_from_bytes(raw, policy=policy.compat32)))
    elif raw is not None:
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        headers = Message()
        headers.set_type("text/rfc822-headers")
        headers.set_payload(head.decode("ascii", "replace"))
        report.attach(headers)
    return report


def _delivery_status(config: FaxgateConfig, submission: Submission, reason: str, failed: list[str] | None,
                     status: str) -> Message:
    """The machine-readable part: one block for the message, one per failed recipient."""
    part = Message()
    part.set_type("message/delivery-status")
    per_message = Message()
    per_message["Reporting-MTA"] = f"dns; {config.smtp.hostname}"
    per_message["Arrival-Date"] = format_datetime(datetime.fromtimestamp(submission.created_at, UTC))
    blocks: list[Message | str] = [per_message]
    for recipient in submission.recipients:
        address = recipient.get("address", "")
        if failed is not None and recipient.get("number") not in failed and address not in failed:
            continue
        block = Message()
        block["Final-Recipient"] = f"rfc822; {safe_text(address, 200)}"
        block["Action"] = "failed"
        block["Status"] = status
        block["Diagnostic-Code"] = f"x-fax; {safe_text(reason, 300)}"
        blocks.append(block)
    part.set_payload(blocks)
    return part


async def _send(config: FaxgateConfig, message: Message, recipient: str) -> bool:
    """Deliver from the null sender (smarthost or Maildir); False (logged) if it cannot."""
    try:
        await deliver_mail(config.receipts, message, [recipient], sender="")
    except DeliveryError as exc:
        log_event(log, logging.WARNING, "smtp.notice_failed", to=recipient, error=type(exc).__name__)
        return False
    return True


async def send_bounce(config: FaxgateConfig, submission: Submission, reason: str, raw: bytes | None, *,
                      failed: list[str] | None = None, status: str = "5.0.0", partly_sent: bool = False) -> bool:
    """Tell the sender in plain words why their accepted mail was not faxed; True once the smarthost took it.

    Nothing is sent (and True returned) when bounces are off or the sender is not one to mail (`may_mail_sender`).
    """
    if not config.smtp.bounces or not config.receipts.enabled:
        return True
    if not may_mail_sender(config, submission):
        log_event(log, logging.INFO, "smtp.bounce_withheld", submission=submission.id, reason=reason)
        return True
    message = build_bounce(config, submission, reason, raw, failed=failed, status=status, partly_sent=partly_sent)
    sent = await _send(config, message, submission.envelope_from)
    if sent:
        log_event(log, logging.INFO, "smtp.bounced", submission=submission.id, reason=reason)
    return sent


async def send_queued_notice(config: FaxgateConfig, submission: Submission, pages: int) -> bool:
    """The optional "queued: N pages to ..." receipt; True when off, sent, or there is nobody to tell."""
    if not config.smtp.queued_receipts or not config.receipts.enabled or not may_mail_sender(config, submission):
        return True
    recipients = ", ".join(_recipient_lines(submission, None))
    notice = EmailMessage()
    notice["From"] = formataddr(("Fax gateway", config.receipts.sender))
    notice["To"] = safe_text(submission.envelope_from, 200)
    notice["Subject"] = f"Fax queued: {pages} page{'s' if pages != 1 else ''} to {recipients}"
    notice["Date"] = format_datetime(datetime.now(UTC))
    notice["Auto-Submitted"] = "auto-replied"
    notice.set_content(f"Your fax \"{safe_text(submission.subject, 200)}\" is queued: {pages} page"
                       f"{'s' if pages != 1 else ''} to {recipients}.\nReference: {submission.id}\n"
                       f"Queued at {_when(time.time())}.\n")
    return await _send(config, notice, submission.envelope_from)
