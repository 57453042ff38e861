"""Delivery and non-delivery receipts: plain words, a PDF transmission report with page 1, optionally the fax."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from zoneinfo import ZoneInfo

from gateway.config import FaxgateConfig
from gateway.enums import JobStatus
from gateway.logs import log_event, logger
from gateway.mailout import DeliveryError, deliver_mail
from gateway.model import Attempt, OutgoingJob
from gateway.queue.documents import load_pymupdf, page_png, pages_pdf, tiff_pages
from gateway.textsafe import safe_text

log = logger("outbound")


@dataclass
class JobReport:
    """One job's outcome with its calls, as a receipt tells it."""

    job: OutgoingJob
    attempts: list[Attempt]
    subject: str
    document: bytes | None
    """The job's TIFF (for the page-1 thumbnail and the optional whole fax)."""
    left_out: list[str] = field(default_factory=list)
    """What the documents only linked to and the fax went without (gateway.render.links), in plain words."""

    @property
    def sent(self) -> bool:
        return self.job.job_status.base == JobStatus.COMPLETED

    @property
    def canceled(self) -> bool:
        return self.job.job_status.base == JobStatus.CANCELED

    @property
    def duration_s(self) -> float:
        return sum(attempt.duration_s for attempt in self.attempts)

    @property
    def remote_csid(self) -> str:
        return self.job.remote_csid or next((a.remote_csid for a in reversed(self.attempts) if a.remote_csid), "")

    def outcome_words(self) -> str:
        """One sentence: sent or not, and why."""
        number = self.job.recipient_number
        if self.sent:
            return (f"Your fax to {number} was sent: all {self.job.pages} page(s) were confirmed by the "
                    "receiving machine.")
        if self.canceled:
            text = safe_text(self.job.extended_status_text, 200)
            who = text if text.startswith("canceled") else "canceled"
            when = ("before any page was sent" if not self.job.pages_sent
                    else f"after {self.job.pages_sent} of {self.job.pages} page(s) were sent")
            return f"Your fax to {number} was {who} {when}."
        why = safe_text(self.job.extended_status_text, 300) or "the call did not succeed"
        return (f"Your fax to {number} could not be sent: {why}. {self.job.pages_sent} of {self.job.pages} page(s) "
                f"were confirmed after {len(self.attempts)} call(s).")


def _when(at: float | None, zone: ZoneInfo) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def transmission_report(reports: list[JobReport], config: FaxgateConfig) -> bytes:
    """The PDF transmission report: one section per job, its calls in a table, page 1 as a thumbnail."""
    pymupdf = load_pymupdf()
    zone = ZoneInfo(config.outbox.timezone)
    document = pymupdf.open()
    for report in reports:
        job = report.job
        page = document.new_page(width=595, height=842)
        y = 60.0
        page.insert_text((50, y), "Fax transmission report", fontsize=18)
        y += 30
        lines = [
            ("Result", "SENT" if report.sent else str(job.job_status.base.name).replace("_", " ")),
            ("To", f"{job.recipient_name} {job.recipient_number}".strip()),
            ("Subject", safe_text(report.subject, 80)),
            ("Job", f"{job.id} (submission {job.submission_id})"),
            ("Pages", f"{job.pages_sent} of {job.pages} confirmed"),
            ("Remote station", safe_text(report.remote_csid, 40) or "-"),
            ("Calls", str(len(report.attempts))),
            ("Line time", f"{report.duration_s:.0f} s"),
            ("Submitted", _when(job.submitted_at, zone)),
            ("Finished", _when(job.final_at, zone)),
        ]
        for label, value in lines:
            page.insert_text((50, y), f"{label}:", fontsize=10)
            page.insert_text((150, y), value, fontsize=10)
            y += 15
        y += 10
        page.insert_text((50, y), "Calls", fontsize=12)
        y += 15
        for attempt in report.attempts:
            started = _when(attempt.started_at, zone)
            text = (f"{started}  {attempt.device_name}  {attempt.dialed or job.recipient_number}  "
                    f"{safe_text(attempt.reason, 60) or attempt.extended_status}  pages {attempt.pages_sent}  "
                    f"{attempt.bit_rate or '-'} bit/s{'  ECM' if attempt.ecm else ''}")
            page.insert_text((50, y), text, fontsize=8)
            y += 11
            if y > 500:
                break
        if report.document:
            first = tiff_pages(report.document)[:1]
            if first:
                thumbnail = page_png(first[0], width=300)
                top = max(y + 15, 520.0)
                box = pymupdf.Rect(50, top, 50 + 220, min(top + 311, 820))
                page.insert_image(box, stream=thumbnail, keep_proportion=True)
                page.draw_rect(box, color=(0.5, 0.5, 0.5), width=0.5)
                page.insert_text((280, top + 10), "Page 1 as sent (without the header line)", fontsize=8)
    data: bytes = document.tobytes(deflate=True)
    document.close()
    return data


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
