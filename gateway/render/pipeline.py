"""render_documents: inputs in, one TIFF Class F file out, page by page (runs inside a render worker)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from gateway.render.errors import RenderError, RenderErrorCode
from gateway.render.options import DocumentPages, InputDocument, RenderOptions, RenderResult
from gateway.render.sniff import Sniffed, sniff
from modem.faxtiff import FaxTiffWriter, PackedBitmap, count_pages, read_fax_tiff


def read_input(document: InputDocument, options: RenderOptions) -> bytes:
    """The document's bytes, refusing empty and oversized inputs before reading them whole."""
    if document.data is not None:
        size = len(document.data)
    elif document.path is not None:
        try:
            size = document.path.stat().st_size
        except OSError as exc:
            raise RenderError(RenderErrorCode.EMPTY_FILE, "The file cannot be read.") from exc
    else:
        raise RenderError(RenderErrorCode.EMPTY_FILE, "The document has no content.")
    if size == 0:
        raise RenderError(RenderErrorCode.EMPTY_FILE, "The file is empty (0 bytes); there is nothing to fax.")
    if size > options.max_input_bytes:
        raise RenderError(
            RenderErrorCode.INPUT_TOO_LARGE,
            f"The file is {size / 1048576:.1f} MiB; at most {options.max_input_bytes / 1048576:.0f} MiB "
            "can be faxed.",
        )
    if document.data is not None:
        return document.data
    assert document.path is not None
    return document.path.read_bytes()


def identify(data: bytes, document: InputDocument) -> Sniffed:
    """What the document is, by content."""
    found = sniff(data, document.content_type)
    if found is None:
        raise RenderError(
            RenderErrorCode.UNKNOWN_TYPE,
            (f"{document.filename!r} is a kind of file that cannot be faxed" if document.filename else
             "This kind of file cannot be faxed") + "; send PDF, an image, plain text, HTML or an Office document.",
        )
    return found


def document_pages(
    document: InputDocument, found: Sniffed, data: bytes, options: RenderOptions, max_pages: int
) -> Iterator[PackedBitmap]:
    """Stream the fax pages of one input whose kind is known."""
    from gateway.render import htmlmail, images, markup, pdf

    if found.kind == "pdf":
        yield from pdf.render_pdf(data, options, max_pages)
    elif found.kind == "tiff":
        yield from images.render_tiff(data, options, max_pages)
    elif found.kind == "image":
        yield from images.render_image(data, options, max_pages)
    elif found.kind == "text":
        text = markup.decode_text(data, document.content_type)
        sections = markup.text_to_html(text, options)
        laid_out = markup.html_to_pdf(sections, options, css=markup.text_css(options), max_pages=max_pages)
        yield from pdf.render_pdf(laid_out, options, max_pages)
    elif found.kind == "html":
        source = markup.decode_text(data, document.content_type)
        laid_out = htmlmail.mail_html_to_pdf(source, options, document.related, max_pages)
        yield from pdf.render_pdf(laid_out, options, max_pages)
    else:
        from gateway.render.office import check_expansion, convert_office

        check_expansion(data, options.max_input_bytes)
        converted = convert_office(data, found.format, options.office_timeout_s)
        yield from pdf.render_pdf(converted, options, max_pages)


def render_documents(inputs: list[InputDocument], out: Path, options: RenderOptions) -> RenderResult:
    """Render every input (and the cover page, if asked) into one G4 TIFF at `out`; nothing left on failure."""
    if not inputs and options.cover is None:
        raise RenderError(RenderErrorCode.NO_PAGES, "There is nothing to fax: no documents were given.")
    started_cpu = time.process_time()
    out = Path(out)
    geometry = options.geometry
    counts: list[DocumentPages] = []
    body = out.with_name(f".{out.name}.body") if options.cover else out
    try:
        with FaxTiffWriter(body, compression=options.compression, fine=geometry.fine) as writer:
            for document in inputs:
                before = writer.pages_written
                try:
                    data = read_input(document, options)
                    found = identify(data, document)
                    left = options.max_pages - writer.pages_written
                    for bitmap in document_pages(document, found, data, options, left):
                        if writer.pages_written >= options.max_pages:
                            raise RenderError(
                                RenderErrorCode.TOO_MANY_PAGES,
                                f"The documents have more than {options.max_pages} pages, the most one job may "
                                "have.",
                            )
                        writer.add_page(bitmap)
                except RenderError as exc:
                    raise exc.for_document(document.name) from exc
                counts.append(DocumentPages(document.name, found.format, writer.pages_written - before))
                del data
            body_pages = writer.pages_written
        if body_pages == 0 and options.cover is None:
            raise RenderError(RenderErrorCode.NO_PAGES, "The documents contain no pages to fax.")
        cover_pages = 0
        if options.cover:
            cover_pages = _prepend_cover(body, out, options, body_pages)
            body.unlink()
    except BaseException:
        for leftover in {body, out}:
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    return RenderResult(
        path=out,
        pages=body_pages + cover_pages,
        fine=geometry.fine,
        paper=options.paper,
        bytes=out.stat().st_size,
        documents=tuple(counts),
        cover_pages=cover_pages,
        peak_rss_kib=peak_rss_kib(),
        cpu_seconds=time.process_time() - started_cpu,
    )


def _prepend_cover(body: Path, out: Path, options: RenderOptions, body_pages: int) -> int:
    """Write cover + body into `out`; the cover's page count field includes the cover itself."""
    from gateway.render.cover import render_cover_page

    assert options.cover is not None
    fields = {"time_sent": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"), **options.cover.fields}
    counted = "page_count" not in fields
    if counted:
        fields["page_count"] = str(body_pages + 1)  # a cover is one page unless a long note runs over
    cover = render_cover_page(options.cover.template, fields, options)
    if counted and len(cover) > 1:
        fields["page_count"] = str(body_pages + len(cover))
        cover = render_cover_page(options.cover.template, fields, options)
    if len(cover) + body_pages > options.max_pages:
        raise RenderError(
            RenderErrorCode.TOO_MANY_PAGES,
            f"With the cover page the fax has more than {options.max_pages} pages, the most one job may have.",
        )
    geometry = options.geometry
    with FaxTiffWriter(out, compression=options.compression, fine=geometry.fine) as writer:
        for bitmap in cover:
            writer.add_page(bitmap)
        if body_pages:
            for page in read_fax_tiff(body):  # one page in memory at a time
                writer.add_page(page.bitmap, yres=page.yres)
    return len(cover)


def cover_with_body(body: Path, out: Path, options: RenderOptions) -> RenderResult:
    """A cover page (options.cover) followed by the pages of a fax file this server rendered; `body` is kept."""
    started_cpu = time.process_time()
    body_pages = count_pages(body)
    try:
        cover_pages = _prepend_cover(body, out, options, body_pages)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return RenderResult(
        path=out,
        pages=body_pages + cover_pages,
        fine=options.geometry.fine,
        paper=options.paper,
        bytes=out.stat().st_size,
        cover_pages=cover_pages,
        peak_rss_kib=peak_rss_kib(),
        cpu_seconds=time.process_time() - started_cpu,
    )


def keep_page_buffers() -> None:
    """Tell glibc to keep freed page-sized buffers instead of returning them to the kernel.

    Every page allocates a few 4 MB buffers (pixmap, canvas); by default glibc maps and unmaps each one, and the
    page faults on first touch cost about a quarter of a text page's CPU time. Keeping them costs ~3 MB of RSS.
    Call once per render process (workers, the CLI); harmless where mallopt does not exist.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 64 << 20)
    mallopt(m_trim_threshold, 128 << 20)


def peak_rss_kib() -> int:
    """This process's peak resident memory since it started its program (VmHWM; unlike ru_maxrss it does not
    inherit the high-water mark of the process it was forked from)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def render_to_temp(inputs: list[InputDocument], options: RenderOptions, folder: Path | None = None) -> RenderResult:
    """render_documents into a new temporary file (the caller owns and removes it)."""
    handle, name = tempfile.mkstemp(suffix=".tif", dir=folder)
    os.close(handle)
    return render_documents(inputs, Path(name), options)
