"""Raster images and TIFF files to fax pages.

Photos and scans are screened with the clustered dot (never guessed as text); bilevel images are
thresholded. TIFFs that are already fax pages keep their pixels, only adapted to the job's resolution.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from gateway.render.bilevel import PageCanvas
from gateway.render.errors import RenderError, RenderErrorCode
from gateway.render.fit import fit_on_page
from gateway.render.options import RenderOptions
from modem.faxtiff import FAX_WIDTH, FaxTiffError, PackedBitmap, fax_tiff_info, read_fax_tiff

# Images without a believable resolution (screenshots, phone photos say 72) are taken at 100 dpi, so small
# pictures stay small instead of being blown up to a page of blocks.
_ASSUMED_DPI = 100.0


def render_image(data: bytes, options: RenderOptions, max_pages: int) -> Iterator[PackedBitmap]:
    """Yield one fax page per frame of a multi-page image (TIFF), or one page for other formats."""
    with _open_image(data, options) as image:
        multi_page = image.format == "TIFF"
        frames = getattr(image, "n_frames", 1) if multi_page else 1
        if frames > max_pages:
            raise RenderError(
                RenderErrorCode.TOO_MANY_PAGES,
                f"The image file has {frames} pages; at most {options.max_pages} pages can be faxed in one job.",
            )
        for frame in ImageSequence.Iterator(image):
            yield _render_frame(frame, options)
            if not multi_page:
                break


def render_tiff(data: bytes, options: RenderOptions, max_pages: int) -> Iterator[PackedBitmap]:
    """Fax TIFFs keep their pixels (resolution adapted); any other TIFF goes through the image path."""
    with tempfile.NamedTemporaryFile(suffix=".tif") as handle:
        handle.write(data)
        handle.flush()
        path = Path(handle.name)
        try:
            pages = fax_tiff_info(path)
        except FaxTiffError:
            pages = []
        if pages and all(_is_fax_page(page.width, page.xres, page.yres, page.bits_per_sample) for page in pages):
            if len(pages) > max_pages:
                raise RenderError(
                    RenderErrorCode.TOO_MANY_PAGES,
                    f"The fax file has {len(pages)} pages; at most {options.max_pages} pages can be faxed in one job.",
                )
            for number, info in enumerate(pages, 1):
                check_fax_page_size(number, info.width, info.rows, info.yres, options)
            try:
                for page in read_fax_tiff(path):
                    yield to_resolution(page.bitmap, page.fine, options.geometry.fine)
            except FaxTiffError as exc:
                raise RenderError(RenderErrorCode.DAMAGED_TIFF, "The TIFF file is damaged and cannot be read.") from exc
            return
    try:
        yield from render_image(data, options, max_pages)
    except RenderError as exc:
        if exc.code is RenderErrorCode.DAMAGED_IMAGE:
            raise RenderError(RenderErrorCode.DAMAGED_TIFF, "The TIFF file is damaged and cannot be read.") from exc
        raise


def check_fax_page_size(number: int, width: int, rows: int, yres: float, options: RenderOptions) -> None:
    """Refuse, from the page's tags alone, a fax page too long to print or too many pixels to decode."""
    length_mm = rows / yres * 25.4
    if length_mm > options.max_page_length_mm:
        raise RenderError(
            RenderErrorCode.PAGE_TOO_LONG,
            f"Page {number} of the fax file is {length_mm / 1000:,.1f} m long; pages of at most "
            f"{options.max_page_length_mm} mm can be faxed.",
        )
    if width * rows > options.max_image_pixels:
        raise _too_large(options, width, rows)


def _is_fax_page(width: int, xres: float, yres: float, bits: int) -> bool:
    """A bilevel page at fax width and fax resolution: its pixels can be sent as they are."""
    return bits == 1 and width == FAX_WIDTH and 190 <= xres <= 210 and (90 <= yres <= 105 or 185 <= yres <= 210)


def to_resolution(bitmap: PackedBitmap, fine: bool, want_fine: bool) -> PackedBitmap:
    """Adapt a fax page's line density: merge row pairs (fine to standard) or double rows."""
    if fine == want_fine:
        return bitmap
    if want_fine:
        return np.repeat(bitmap, 2, axis=0)
    if bitmap.shape[0] % 2:
        bitmap = np.vstack([bitmap, np.zeros((1, bitmap.shape[1]), dtype=np.uint8)])
    return bitmap[0::2] | bitmap[1::2]


def _open_image(data: bytes, options: RenderOptions) -> Image.Image:
    """Open without decoding, refusing decompression bombs by their declared size."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bomb warnings (we check size ourselves), corrupt EXIF
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _too_large(options) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise RenderError(RenderErrorCode.DAMAGED_IMAGE, "The image file is damaged and cannot be read.") from exc
    width, height = image.size
    if width * height > options.max_image_pixels:
        image.close()
        raise _too_large(options, width, height)
    return image


def _too_large(options: RenderOptions, width: int = 0, height: int = 0) -> RenderError:
    """The decompression-bomb error."""
    size = f" ({width} x {height} pixels)" if width else ""
    return RenderError(
        RenderErrorCode.IMAGE_TOO_LARGE,
        f"The image is too large{size}; at most {options.max_image_pixels:,} pixels are accepted.",
    )


def _render_frame(frame: Image.Image, options: RenderOptions) -> PackedBitmap:
    """Scale one frame to fit the page (never enlarging past its natural size) and binarise it."""
    geometry = options.geometry
    width, height = frame.size
    if width * height > options.max_image_pixels:
        raise _too_large(options, width, height)
    dpi_x, dpi_y = _dpi(frame)
    place = fit_on_page(width * 72.0 / dpi_x, height * 72.0 / dpi_y, geometry, allow_upscale=False)
    target = (place.height_px, place.width_px) if place.rotate else (place.width_px, place.height_px)
    bilevel = frame.mode == "1"
    try:
        if frame.format == "JPEG":
            frame.draft("L", target)
        gray = _to_gray(ImageOps.exif_transpose(frame))
        gray = gray.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0)
        if place.rotate:
            gray = gray.transpose(Image.Transpose.ROTATE_270)  # clockwise, like PDF pages
        pixels = np.asarray(gray, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as exc:
        raise RenderError(RenderErrorCode.DAMAGED_IMAGE, "The image file is damaged and cannot be read.") from exc
    canvas = PageCanvas.blank(geometry, options.threshold)
    canvas.draw(pixels, place.top, place.left, screen_all=not bilevel)
    return canvas.packed()


def _dpi(frame: Image.Image) -> tuple[float, float]:
    """The image's own resolution when believable, else the assumed screen resolution."""
    raw = frame.info.get("dpi")
    try:
        dpi_x, dpi_y = (float(raw[0]), float(raw[1])) if raw else (0.0, 0.0)
    except (TypeError, ValueError, IndexError):
        dpi_x = dpi_y = 0.0
    if not (_ASSUMED_DPI <= dpi_x <= 2400 and _ASSUMED_DPI / 3 <= dpi_y <= 2400):
        return _ASSUMED_DPI, _ASSUMED_DPI
    return dpi_x, dpi_y


def _to_gray(image: Image.Image) -> Image.Image:
    """Grey on a white background, whatever the mode (alpha, palette transparency, CMYK, 16-bit)."""
    if image.mode in ("L", "1"):
        return image.convert("L")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = max(float(array.max()), 1.0)
        return Image.fromarray((array * (255.0 / peak)).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    return image.convert("L")
