"""A stored fax (TIFF Class F) as a download: as it is, or as PDF (converted off the event loop)."""

from __future__ import annotations

import asyncio

from fastapi import Response


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
