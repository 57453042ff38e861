"""Delivery and non-delivery receipts by mail: plain words, the PDF transmission report (gateway.queue.report),
optionally the fax."""

from __future__ import annotations

import logging
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from zoneinfo import ZoneInfo

from gateway.config import FaxgateConfig
from gateway.logs import log_event, logger
from gateway.mailout import DeliveryError, deliver_mail
from gateway.queue.documents import pages_pdf, tiff_pages
from gateway.queue.report import JobReport, transmission_report
from gateway.textsafe import safe_text

log = logger("outbound")


def receipt_message(reports: list[JobReport], config: FaxgateConfig, to: str) -> EmailMessage:
    """The receipt mail for one job or a whole broadcast."""
    sent = sum(1 for report in reports if report.sent)
    first = reports[0]
    if len(reports) == 1:
        subject = (f"Fax sent to {first.job.recipient_number}" if first.sent
                   else f"Fax to {first.job.recipient_number} canceled" if first.canceled
                   else f"Fax NOT sent to {first.job.recipient_number}")
    else:
        subject = f"Fax broadcast: {sent} of {len(reports)} sent"
    subject += f": {safe_text(first.subject, 80)}" if first.subject else ""
    lines = [report.outcome_words() for report in reports]
    lines.append("")
    for report in reports:
        state = "sent" if report.sent else "canceled" if report.canceled else "not sent"
        lines.append(f"- {report.job.recipient_number}: {state}, "
                     f"{report.job.pages_sent}/{report.job.pages} pages, {len(report.attempts)} call(s), "
                     f"{report.duration_s:.0f} s on the line, "
                     f"remote station {safe_text(report.remote_csid, 40) or 'unknown'}")
    for note in dict.fromkeys(note for report in reports for note in report.left_out):
        lines += ["", f"Left out: {safe_text(note, 300)}"]
    lines += ["", "The attached transmission report shows every call and the first page."]
    message = EmailMessage()
    message["From"] = formataddr(("Fax gateway", config.receipts.sender))
    message["To"] = safe_text(to, 200)
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(ZoneInfo("UTC")))
    message["Message-ID"] = make_msgid(domain="faxgate")
    message["Auto-Submitted"] = "auto-generated"
    message["X-Fax-Jobs"] = ",".join(str(report.job.id) for report in reports)
    message.set_content("\n".join(lines) + "\n")
    message.add_attachment(transmission_report(reports, config), maintype="application", subtype="pdf",
                           filename="transmission-report.pdf")
    if config.receipts.attach_fax and first.document:
        message.add_attachment(pages_pdf(tiff_pages(first.document)), maintype="application", subtype="pdf",
                               filename="fax.pdf")
    return message


async def deliver(message: EmailMessage, config: FaxgateConfig, to: str) -> bool:
    """Send through the configured smarthost or Maildir; False (logged) if it fails."""
    try:
        await deliver_mail(config.receipts, message, [to])
    except DeliveryError as exc:
        log_event(log, logging.WARNING, "receipt.failed", to=to, error=type(exc).__name__)
        return False
    log_event(log, logging.INFO, "receipt.sent", to=to, jobs=message["X-Fax-Jobs"])
    return True
