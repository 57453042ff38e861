"""The fax transmission report (delivery receipt) as a PDF: the job, its outcome, every call and page 1 as sent.

One report serves the e-mail receipt (gateway.queue.receipts attaches it) and the API's receipt download.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.config import FaxgateConfig
from gateway.enums import ExtendedStatus, JobStatus
from gateway.model import Attempt, OutgoingJob, Submission
from gateway.queue.documents import load_pymupdf, page_png, tiff_pages
from gateway.render.links import LEFT_OUT
from gateway.storage import get_blob
from gateway.storage import jobs as store
from gateway.storage.submissions import get_submission
from gateway.textsafe import safe_text

PAGE_WIDTH, PAGE_HEIGHT, MARGIN = 595.0, 842.0, 48.0
GRAY, INK, RULE = (0.38, 0.38, 0.42), (0.08, 0.08, 0.1), (0.78, 0.78, 0.8)
BANNERS = {"sent": ((0.89, 0.96, 0.9), (0.1, 0.45, 0.2)), "not sent": ((0.99, 0.91, 0.9), (0.7, 0.12, 0.1)),
           "canceled": ((0.93, 0.93, 0.94), (0.3, 0.3, 0.34)), "in queue": ((0.99, 0.96, 0.86), (0.55, 0.38, 0.0))}


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
    sender: str = ""
    """Who submitted the fax: the envelope sender, else the API principal."""

    @property
    def sent(self) -> bool:
        return self.job.job_status.base == JobStatus.COMPLETED

    @property
    def canceled(self) -> bool:
        return self.job.job_status.base == JobStatus.CANCELED

    @property
    def final(self) -> bool:
        return self.job.job_status.is_final

    @property
    def duration_s(self) -> float:
        return sum(attempt.duration_s for attempt in self.attempts)

    @property
    def remote_csid(self) -> str:
        return self.job.remote_csid or next((a.remote_csid for a in reversed(self.attempts) if a.remote_csid), "")

    def verdict(self) -> str:
        """The banner word: sent, not sent, canceled, or in queue (a report asked for before the job ended)."""
        if self.sent:
            return "sent"
        if self.canceled:
            return "canceled"
        return "not sent" if self.final else "in queue"

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
        if not self.final:
            return (f"Your fax to {number} is still in the queue: {self.job.pages_sent} of {self.job.pages} "
                    f"page(s) confirmed so far after {len(self.attempts)} call(s).")
        why = safe_text(self.job.extended_status_text, 300) or "the call did not succeed"
        return (f"Your fax to {number} could not be sent: {why}. {self.job.pages_sent} of {self.job.pages} page(s) "
                f"were confirmed after {len(self.attempts)} call(s).")


async def stored_report(conn: AsyncConnection, job: OutgoingJob, submission: Submission | None = None) -> JobReport:
    """A job's report from the store: its calls, its submission (subject, sender, what was left out), its pages."""
    if submission is None:
        submission = await get_submission(conn, job.submission_id)
    document = await get_blob(conn, job.document_blob_id) if job.document_blob_id else None
    sender = (submission.envelope_from or submission.principal) if submission else ""
    return JobReport(job, await store.list_attempts(conn, job_id=job.id), submission.subject if submission else "",
                     document, list(submission.options.get(LEFT_OUT, [])) if submission else [], sender)


def _when(at: float | None, zone: ZoneInfo) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, zone).strftime("%Y-%m-%d %H:%M:%S")


def _words(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _status_words(job: OutgoingJob) -> str:
    """The Windows status flags in words: "Completed", "Retrying, paused"."""
    names = [_words(str(flag.name)) for flag in JobStatus if flag & job.job_status and flag.name]
    return ", ".join(names) or "-"


def _extended_words(value: int) -> str:
    try:
        return _words(ExtendedStatus(value).name or "")
    except ValueError:
        return str(value)


def _fit(pymupdf: Any, text: str, width: float, size: float, font: str = "helv") -> str:
    """The text cut with an ellipsis to fit ``width`` points."""
    if pymupdf.get_text_length(text, fontname=font, fontsize=size) <= width:
        return text
    while text and pymupdf.get_text_length(text + "...", fontname=font, fontsize=size) > width:
        text = text[:-1]
    return text + "..."


class _Sheet:
    """A page being filled top to bottom, with a new page when the space runs out."""

    def __init__(self, pymupdf: Any, document: Any, footer: str) -> None:
        self.pymupdf, self.document, self.footer = pymupdf, document, footer
        self.page: Any = None
        self.y = 0.0
        self.new_page()

    def new_page(self) -> None:
        self.page = self.document.new_page(width=PAGE_WIDTH, height=PAGE_HEIGHT)
        self.page.insert_text((MARGIN, PAGE_HEIGHT - 28), self.footer, fontsize=7, color=GRAY)
        self.y = MARGIN

    def need(self, height: float) -> None:
        if self.y + height > PAGE_HEIGHT - 48:
            self.new_page()

    def text(self, x: float, text: str, size: float = 9.5, *, bold: bool = False, color: tuple[float, ...] = INK,
             width: float | None = None) -> None:
        font = "hebo" if bold else "helv"
        shown = _fit(self.pymupdf, text, width, size, font) if width else text
        self.page.insert_text((x, self.y), shown, fontsize=size, fontname=font, color=color)

    def wrapped(self, x: float, width: float, text: str, size: float = 9.5, color: tuple[float, ...] = INK) -> float:
        """Text wrapped into ``width`` from the current line; returns the height used."""
        lines = _wrap(self.pymupdf, text, width, size)
        for index, line in enumerate(lines):
            self.page.insert_text((x, self.y + index * size * 1.3), line, fontsize=size, color=color)
        return len(lines) * size * 1.3

    def rule(self, y: float) -> None:
        self.page.draw_line((MARGIN, y), (PAGE_WIDTH - MARGIN, y), color=RULE, width=0.6)


def _wrap(pymupdf: Any, text: str, width: float, size: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and pymupdf.get_text_length(trial, fontname="helv", fontsize=size) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return [*lines, current] if current else lines or [""]


CALL_COLUMNS = (("#", 16), ("Started", 84), ("Line", 44), ("Number dialled", 66), ("Result", 76), ("Pages", 32),
                ("Rate", 46), ("ECM", 24), ("Remote station", 71), ("Duration", 40))


def _calls(sheet: _Sheet, report: JobReport, zone: ZoneInfo) -> None:
    sheet.need(60)
    sheet.text(MARGIN, "Calls", 12, bold=True)
    sheet.y += 8
    if not report.attempts:
        sheet.y += 10
        sheet.text(MARGIN, "No call has been made yet.", color=GRAY)
        sheet.y += 18
        return
    row_height = 15.0

    def header() -> None:
        sheet.page.draw_rect(sheet.pymupdf.Rect(MARGIN, sheet.y, PAGE_WIDTH - MARGIN, sheet.y + row_height),
                             color=None, fill=(0.93, 0.94, 0.96))
        sheet.y += 10.5
        x = MARGIN + 3
        for title, width in CALL_COLUMNS:
            sheet.text(x, title, 7.5, bold=True, color=GRAY, width=width - 4)
            x += width
        sheet.y += 4.5

    header()
    job = report.job
    for number, attempt in enumerate(report.attempts, start=1):
        reason = safe_text(attempt.reason, 300)
        sheet.need(row_height + (12 if reason else 0) + 4)
        if sheet.y <= MARGIN:
            header()
        pages = f"{attempt.pages_sent}/{attempt.pages_total}" if attempt.pages_total else str(attempt.pages_sent)
        cells = (str(number), _when(attempt.started_at, zone), safe_text(attempt.device_name, 32),
                 safe_text(attempt.dialed or job.recipient_number, 40), _extended_words(attempt.extended_status),
                 pages, f"{attempt.bit_rate} bit/s" if attempt.bit_rate else "-", "yes" if attempt.ecm else "no",
                 safe_text(attempt.remote_csid, 20) or "-", f"{attempt.duration_s:.0f} s")
        sheet.y += 10.5
        x = MARGIN + 3
        for text, (_, width) in zip(cells, CALL_COLUMNS, strict=True):
            sheet.text(x, text, 7.5, width=width - 4)
            x += width
        if reason:
            sheet.y += 10
            used = sheet.wrapped(MARGIN + 3 + CALL_COLUMNS[0][1], PAGE_WIDTH - 2 * MARGIN - 24, reason, 7, GRAY)
            sheet.y += used - 9.1
        sheet.y += 4.5
        sheet.rule(sheet.y)
    sheet.y += 22


def _facts(sheet: _Sheet, report: JobReport, zone: ZoneInfo) -> None:
    job = report.job
    left = [("Job", str(job.id)), ("Recipient", safe_text(job.recipient_name, 60) or "-"),
            ("Fax number", safe_text(job.recipient_number, 40)), ("Sender", safe_text(report.sender, 80) or "-"),
            ("Subject", safe_text(report.subject, 80) or "-"), ("Submitted", _when(job.submitted_at, zone)),
            ("Completed" if report.sent else "Finished", _when(job.final_at, zone))]
    right = [("Status", _status_words(job)), ("Extended status", _extended_words(job.extended_status)),
             ("Pages sent", f"{job.pages_sent} of {job.pages}"), ("Calls", str(len(report.attempts))),
             ("Line time", f"{report.duration_s:.0f} s"), ("Remote station", safe_text(report.remote_csid, 40) or "-"),
             ("Our station", safe_text(job.tsid, 40) or "-"), ("Line", safe_text(job.device_name or "", 40) or "-")]
    column = (PAGE_WIDTH - 2 * MARGIN) / 2
    top = sheet.y
    for index, rows in enumerate((left, right)):
        sheet.y = top
        x = MARGIN + index * column
        for label, value in rows:
            sheet.text(x, label, 8.5, color=GRAY)
            sheet.text(x + 82, value, 9.5, width=column - 90)
            sheet.y += 15
    sheet.text(MARGIN, "Submission", 8.5, color=GRAY)
    sheet.text(MARGIN + 82, job.submission_id, 9.5)
    sheet.y += 15
    reason = safe_text(job.extended_status_text, 400)
    if reason:
        sheet.text(MARGIN, "Reason", 8.5, color=GRAY)
        sheet.y += sheet.wrapped(MARGIN + 82, PAGE_WIDTH - 2 * MARGIN - 82, reason)
    sheet.y += 6
    sheet.rule(sheet.y)
    sheet.y += 24


def _banner(sheet: _Sheet, report: JobReport) -> None:
    verdict = report.verdict()
    fill, ink = BANNERS[verdict]
    words = _wrap(sheet.pymupdf, report.outcome_words(), PAGE_WIDTH - 2 * MARGIN - 130, 9.5)
    height = max(40.0, 16 + len(words) * 12.4)
    box = sheet.pymupdf.Rect(MARGIN, sheet.y, PAGE_WIDTH - MARGIN, sheet.y + height)
    sheet.page.draw_rect(box, color=ink, fill=fill, width=0.8)
    top = sheet.y
    sheet.y = top + height / 2 + 5.5
    sheet.text(MARGIN + 12, verdict.upper(), 15, bold=True, color=ink)
    sheet.y = top + (height - len(words) * 12.4) / 2 + 9.5
    sheet.wrapped(MARGIN + 120, PAGE_WIDTH - 2 * MARGIN - 130, report.outcome_words())
    sheet.y = top + height + 22


def _first_page(sheet: _Sheet, report: JobReport) -> None:
    first = tiff_pages(report.document)[:1] if report.document else []
    if not first:
        return
    page = first[0]
    height_px = page.rows * (1 if page.fine else 2)
    width = 170.0
    height = min(width * height_px / page.width, 300.0)
    sheet.need(height + 30)
    sheet.text(MARGIN, "Page 1 as sent", 12, bold=True)
    sheet.y += 10
    box = sheet.pymupdf.Rect(MARGIN, sheet.y, MARGIN + width, sheet.y + height)
    sheet.page.insert_image(box, stream=page_png(page, width=520), keep_proportion=True)
    sheet.page.draw_rect(box, color=(0.55, 0.55, 0.6), width=0.6)
    sheet.y += 10
    note = f"Page 1 of {report.job.pages}, reduced, as the fax carried it (without the header line)."
    sheet.wrapped(MARGIN + width + 14, PAGE_WIDTH - 2 * MARGIN - width - 14, note, 8.5, GRAY)
    sheet.y += height


def transmission_report(reports: list[JobReport], config: FaxgateConfig) -> bytes:
    """The PDF transmission report: one section per job (each on its own page), its calls, page 1 reduced."""
    pymupdf = load_pymupdf()
    zone = ZoneInfo(config.outbox.timezone)
    document = pymupdf.open()
    made = datetime.now(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
    name = safe_text(config.server.name, 60)
    who = name if name == "faxgate" else f"{name} (faxgate)"
    footer = f"{who} - report made {made} - times in {config.outbox.timezone}"
    for report in reports:
        sheet = _Sheet(pymupdf, document, footer)
        sheet.y += 14
        sheet.text(MARGIN, "Fax transmission report", 20, bold=True)
        sheet.y += 30
        _banner(sheet, report)
        _facts(sheet, report, zone)
        _calls(sheet, report, zone)
        _first_page(sheet, report)
    document.set_metadata({"title": f"Fax transmission report, job {reports[0].job.id}" if len(reports) == 1
                           else "Fax transmission report", "creator": "faxgate"})
    data: bytes = document.tobytes(deflate=True, garbage=3)
    document.close()
    return data
