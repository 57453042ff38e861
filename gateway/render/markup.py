"""Plain text as pages (wrapped monospace) and our own HTML (cover templates), laid out by MuPDF's HTML engine.

Mail HTML goes through gateway.render.htmlmail instead. Both become an in-memory PDF that the PDF path turns into
fax pages, so there is one rasteriser.
"""

from __future__ import annotations

import codecs
import html
import io
import re
import textwrap
from typing import Any

from gateway.render.errors import RenderError, RenderErrorCode
from gateway.render.options import RenderOptions

MARGIN_PT = 36.0
_CHARSET = re.compile(r"""charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)
_BASE_CSS = "body { font-family: sans-serif; font-size: 11pt; } img { max-width: 100%; }"
_TEXT_CSS = "body { margin: 0; } pre { font-family: monospace; font-size: %.1fpt; line-height: 1.15; margin: 0; }"
_MONO_ADVANCE = 0.6  # em; MuPDF's monospace fallback (Courier-like) advance width


def decode_text(data: bytes, content_type: str | None) -> str:
    """Decode text by BOM, then the declared charset, then UTF-8, then Windows-1252 (never fails)."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding, "replace")
    declared = _CHARSET.search(content_type or "")
    if declared:
        try:
            return data.decode(declared.group(1), "replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def text_to_html(text: str, options: RenderOptions) -> list[str]:
    """Wrap plain text to the page width as monospace; a form feed starts a new page (one section each)."""
    paper_w, _ = options.geometry.paper_points
    columns = max(20, int((paper_w - 2 * MARGIN_PT - 2) / (options.text_font_size * _MONO_ADVANCE)))
    sections = []
    for chunk in text.replace("\r\n", "\n").replace("\r", "\n").split("\f"):
        lines: list[str] = []
        for line in chunk.expandtabs(8).split("\n"):
            wrapped = textwrap.wrap(line, columns, replace_whitespace=False, drop_whitespace=False,
                                    break_on_hyphens=False) if len(line) > columns else [line]
            lines.extend(wrapped or [""])
        body = html.escape("\n".join(lines).rstrip("\n") or " ")
        sections.append(f"<html><body><pre>{body}</pre></body></html>")
    return sections


def html_to_pdf(sections: list[str], options: RenderOptions, css: str = _BASE_CSS,
                max_pages: int | None = None) -> bytes:
    """Lay out HTML sections (each starting a new page) on the job's paper; returns PDF bytes.

    Content wider than the paper (fixed-width tables) is laid out on a proportionally larger page, which the
    PDF path then scales down to fit, so nothing is cut off at the right edge. Layout stops, with the
    too-many-pages error, as soon as it passes `max_pages` (default: the job's limit).
    """
    from gateway.render.pdf import load_pymupdf

    pymupdf = load_pymupdf()
    limit = options.max_pages if max_pages is None else max_pages
    archive = pymupdf.Archive()
    paper_w, paper_h = options.geometry.paper_points
    pages = 0
    out = io.BytesIO()
    writer = pymupdf.DocumentWriter(out)
    for markup in sections:
        scale = max(1.0, _widest_extent(pymupdf, markup, css, archive, paper_w, paper_h, limit + 1))
        page = pymupdf.Rect(0, 0, paper_w * scale, paper_h * scale)
        margin = MARGIN_PT * scale
        where = pymupdf.Rect(margin, margin, page.x1 - margin, page.y1 - margin)
        story = pymupdf.Story(html=markup, user_css=css, archive=archive)
        more = True
        while more:
            if pages == limit:
                raise RenderError(
                    RenderErrorCode.TOO_MANY_PAGES,
                    f"The text runs to more than {limit} pages; at most {options.max_pages} pages can be faxed "
                    "in one job.",
                )
            device = writer.begin_page(page)
            more, _ = story.place(where)
            story.draw(device)
            writer.end_page()
            pages += 1
    writer.close()
    return out.getvalue()


def check_inline_image(data: bytes, options: RenderOptions) -> None:
    """Refuse a decompression bomb among the mail's inline images before the layout engine decodes it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Image.DecompressionBombError:
        width = height = 1 << 20
    except (UnidentifiedImageError, OSError, ValueError):
        return  # not an image Pillow knows (or damaged): the engine draws what it can, or leaves a gap
    if width * height > options.max_image_pixels:
        raise RenderError(
            RenderErrorCode.IMAGE_TOO_LARGE,
            f"An inline image is too large; at most {options.max_image_pixels:,} pixels are accepted.",
        )


def _widest_extent(
    pymupdf: Any, markup: str, css: str, archive: Any, paper_w: float, paper_h: float, max_pages: int
) -> float:
    """How many times wider than the text area the content wants to be (1.0 when it fits)."""
    where = pymupdf.Rect(MARGIN_PT, MARGIN_PT, paper_w - MARGIN_PT, paper_h - MARGIN_PT)
    story = pymupdf.Story(html=markup, user_css=css, archive=archive)
    widest = where.x1
    more = True
    pages = 0
    while more and pages < max_pages:
        more, filled = story.place(where)
        widest = max(widest, pymupdf.Rect(filled).x1)
        pages += 1
    return float((widest - MARGIN_PT) / (where.x1 - MARGIN_PT))


def text_css(options: RenderOptions) -> str:
    """Style sheet for plain-text pages."""
    return _TEXT_CSS % options.text_font_size
