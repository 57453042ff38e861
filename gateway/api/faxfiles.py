"""A stored fax (TIFF Class F) as a download: as it is, or as PDF (converted off the event loop); a job's
transmission report (delivery receipt) as PDF."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import Response

from gateway.config import FaxgateConfig

if TYPE_CHECKING:
    from gateway.queue.report import JobReport

RECEIPT_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"application/pdf": {}}}}


def tiff_download(data: bytes, filename: str) -> Response:
    """The TIFF as an attachment named ``filename``.tif."""
    return Response(data, media_type="image/tiff",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.tif"'})


async def pdf_download(data: bytes, filename: str) -> Response:
    """The TIFF as a PDF attachment, one page per fax page at its true aspect ratio."""
    from gateway.queue.documents import pages_pdf, tiff_pages

    pdf = await asyncio.to_thread(lambda: pages_pdf(tiff_pages(data)))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.pdf"'})



async def receipt_download(report: JobReport, config: FaxgateConfig) -> Response:
    """The job's transmission report (as the e-mail receipt attaches it), made off the loop, as receipt-<job>.pdf."""
    from gateway.queue.report import transmission_report

    pdf = await asyncio.to_thread(transmission_report, [report], config)
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="receipt-{report.job.id}.pdf"'})
