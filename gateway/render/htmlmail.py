"""HTML mail laid out for paper by WeasyPrint: tables split across pages, pictures scaled to the printable width,
the presentational attributes mail clients honour, and nothing fetched but what the mail itself carried."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any, cast

from gateway.render.errors import RenderError, RenderErrorCode
from gateway.render.markup import MARGIN_PT, check_inline_image
from gateway.render.options import RenderOptions

# A user style sheet: the mail's own CSS and attributes win. Long lines wrap, pictures never overflow the page.
_MAIL_CSS = """
@page {{ size: {width:.2f}pt {height:.2f}pt; margin: {margin:.2f}pt; }}
body {{ font-family: sans-serif; overflow-wrap: break-word; }}
pre {{ white-space: pre-wrap; }}
img, svg {{ max-width: 100%; max-height: {tallest:.2f}pt; object-fit: contain; }}
"""

# WeasyPrint's messages quote the mail's URLs and CSS raw; untrusted strings never reach our logs.
logging.getLogger("weasyprint").propagate = False


class _Refused(BaseException):
    """Stops the layout with a RenderError (WeasyPrint swallows Exceptions a fetcher raises, not this)."""

    def __init__(self, error: RenderError) -> None:
        super().__init__(error.reason)
        self.error = error


def _fetcher(related: dict[str, bytes], options: RenderOptions) -> Any:
    """A WeasyPrint URL fetcher that serves only the mail's cid: parts and data: URLs, never the network or files."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    parts = {cid.strip("<>").lower(): data for cid, data in related.items()}

    class MailParts(URLFetcher):  # type: ignore[misc]
        """Content the mail carried, and nothing else."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            scheme = url.partition(":")[0].lower()
            if scheme == "cid":
                from urllib.parse import unquote

                data = parts.get(unquote(url[4:]).strip("<>").lower())
                if data is None:
                    raise ValueError("the mail has no part with this content id")
                return URLFetcherResponse(url, data)
            if scheme == "data":
                response = super().fetch(url, headers)  # decoded in memory by urllib's data: handler
                data = response.read()
                response.close()
                try:
                    check_inline_image(data, options)
                except RenderError as exc:
                    raise _Refused(exc) from None
                return URLFetcherResponse(url, data, {"Content-Type": response.content_type})
            raise ValueError("only content carried by the mail is shown; nothing is fetched")

    return MailParts(allowed_protocols={"data"})


def mail_html_to_pdf(source: str, options: RenderOptions, related: dict[str, bytes] | None = None,
                     max_pages: int | None = None) -> bytes:
    """Lay out one HTML document on the job's paper; returns PDF bytes without pages that carry nothing.

    Content wider than the paper (fixed-width tables) is laid out again on a proportionally larger page, which
    the PDF path scales down to fit, as a browser shrinks a page to print it; nothing is cut off at the right.
    """
    related = related or {}
    for data in related.values():
        check_inline_image(data, options)
    limit = options.max_pages if max_pages is None else max_pages
    paper_w, _ = options.geometry.paper_points
    pdf = _layout(source, options, related, 1.0, limit)
    widest = _widest(pdf)
    if widest > paper_w - MARGIN_PT + 1.0:
        pdf = _layout(source, options, related, (widest - MARGIN_PT) / (paper_w - 2 * MARGIN_PT), limit)
    return _without_empty_pages(pdf)


def load_weasyprint() -> ModuleType:
    """WeasyPrint, with Pillow's process-wide LOAD_TRUNCATED_IMAGES (which it turns on when imported) back off:
    a damaged picture sent as an attachment is refused with a reason, never faxed as the half that decodes."""
    import weasyprint
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return cast(ModuleType, weasyprint)


def _layout(source: str, options: RenderOptions, related: dict[str, bytes], scale: float, limit: int) -> bytes:
    """One WeasyPrint layout on a page `scale` times the paper; refuses more than `limit` pages."""
    weasyprint = load_weasyprint()

    paper_w, paper_h = options.geometry.paper_points
    margin = MARGIN_PT * scale
    css = weasyprint.CSS(string=_MAIL_CSS.format(width=paper_w * scale, height=paper_h * scale, margin=margin,
                                                 tallest=paper_h * scale - 2 * margin - 2))
    try:
        document = weasyprint.HTML(string=source, url_fetcher=_fetcher(related, options)).render(
            stylesheets=[css], presentational_hints=True)
    except _Refused as refused:
        raise refused.error from None
    if len(document.pages) > limit:
        raise RenderError(
            RenderErrorCode.TOO_MANY_PAGES,
            f"The text runs to more than {limit} pages; at most {options.max_pages} pages can be faxed in one job.",
        )
    return bytes(document.write_pdf())


def _widest(pdf: bytes) -> float:
    """The right edge of the rightmost thing drawn on any page, in points."""
    from gateway.render.pdf import open_pdf

    with open_pdf(pdf) as doc:
        return max((box[2] for page in doc for _, box in page.get_bboxlog()), default=0.0)


def _without_empty_pages(pdf: bytes) -> bytes:
    """The PDF without pages on which nothing is drawn (a forced break at the end, an empty trailing block)."""
    from gateway.render.pdf import open_pdf

    with open_pdf(pdf) as doc:
        empty = [page.number for page in doc if not page.get_bboxlog()]
        if not empty or len(empty) == doc.page_count:
            return pdf
        doc.delete_pages(empty)
        return bytes(doc.tobytes(garbage=1))
