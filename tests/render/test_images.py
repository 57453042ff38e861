"""Raster images and TIFF inputs: placement, tone of the halftone, frames, and fax TIFFs kept as they are."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gateway.render import InputDocument, RenderOptions, render_documents
from modem.faxtiff import write_fax_tiff
from tests.render.helpers import ink_bbox, pages_of


def picture(width: int = 800, height: int = 600) -> Image.Image:
    """A horizontal grey ramp with a solid black square in the top-left corner and a black frame."""
    ramp = np.tile(np.linspace(255, 0, width), (height, 1)).astype(np.uint8)
    ramp[20:120, 20:120] = 0
    ramp[:3], ramp[-3:], ramp[:, :3], ramp[:, -3:] = 0, 0, 0, 0
    return Image.fromarray(ramp).convert("RGB")


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def render_bytes(tmp_path: Path, data: bytes, options: RenderOptions) -> list[np.ndarray]:
    out = tmp_path / "out.tif"
    render_documents([InputDocument(data=data, filename="attachment.bin")], out, options)
    return pages_of(out)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_image_formats_are_placed_at_natural_size_and_screened(
    tmp_path: Path, fine_a4: RenderOptions, fmt: str
) -> None:
    [page] = render_bytes(tmp_path, encode(picture(), fmt, dpi=(100, 100)), fine_a4)
    geometry = fine_a4.geometry
    assert page.shape == (2292, 1728)
    x0, y0, x1, y1 = ink_bbox(page)
    # 800 x 600 px at 100 dpi is 8 x 6 in = 576 x 432 pt; centred across, at the top.
    assert abs((x1 - x0) - 576 * geometry.x_per_point) < 12
    assert abs((y1 - y0) - 432 * geometry.y_per_point) < 12
    assert abs((x0 + x1) / 2 - 864) < 8 and y0 < 4
    square = page[y0 + 60 : y0 + 210, x0 + 60 : x0 + 230]  # the square: rows 39..235, columns 42..251
    assert square.all()  # solid black stays solid (tones <= 24 clamp to black)
    band = page[y0 + 400 : y1 - 20, x0 + 20 : x1 - 20]
    darkness = band[:, : band.shape[1] // 6 * 6].reshape(band.shape[0], -1, 6).mean(axis=(0, 2))
    assert np.corrcoef(darkness, np.linspace(0, 1, darkness.size))[0, 1] > 0.97  # the ramp's tone is kept


def test_transparent_png_has_white_background(tmp_path: Path, fine_a4: RenderOptions) -> None:
    rgba = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    rgba.paste((0, 0, 0, 255), (100, 100, 300, 300))
    [page] = render_bytes(tmp_path, encode(rgba, "PNG"), fine_a4)
    x0, y0, x1, y1 = ink_bbox(page)
    geometry = fine_a4.geometry
    assert abs((x1 - x0) - 144 * geometry.x_per_point) < 6  # only the opaque 200 px square
    assert page[y0:y1, x0:x1].mean() > 0.99


def test_tiny_image_is_not_blown_up_and_huge_one_is_rotated(tmp_path: Path, fine_a4: RenderOptions) -> None:
    [page] = render_bytes(tmp_path, encode(Image.new("L", (16, 16), 0), "GIF"), fine_a4)
    x0, y0, x1, y1 = ink_bbox(page)
    assert x1 - x0 < 60 and y1 - y0 < 60
    wide = np.full((1000, 3000), 255, np.uint8)
    wide[:, :100] = 0  # black band at the left edge
    wide[:8], wide[-8:], wide[:, -8:] = 0, 0, 0  # and a frame
    [page] = render_bytes(tmp_path, encode(Image.fromarray(wide), "PNG"), fine_a4)
    x0, y0, x1, y1 = ink_bbox(page)
    assert y1 - y0 > 2250 and x1 - x0 < 900  # turned to portrait, filling the page's length
    assert page[y0 + 5 : y0 + 60, x0 + 20 : x1 - 20].all()  # turned clockwise: the left edge is now the top


def test_multi_page_colour_tiff_gives_one_page_per_frame(tmp_path: Path, fine_a4: RenderOptions) -> None:
    frames = [picture(400, 300), Image.new("RGB", (400, 300), "white"), picture(400, 300)]
    data = encode(frames[0], "TIFF", save_all=True, append_images=frames[1:], dpi=(100, 100))
    pages = render_bytes(tmp_path, data, fine_a4)
    assert len(pages) == 3
    assert pages[0].any() and not pages[1].any() and np.array_equal(pages[0], pages[2])


def test_fax_tiff_pixels_are_kept(tmp_path: Path, fine_a4: RenderOptions) -> None:
    rng = np.random.default_rng(3)
    fax_pages = [np.packbits(rng.random((2200, 1728)) < 0.05, axis=1) for _ in range(2)]
    source = tmp_path / "received.tif"
    write_fax_tiff(source, fax_pages, compression="g3_2d", fine=True)
    pages = render_bytes(tmp_path, source.read_bytes(), fine_a4)
    for page, original_bits in zip(pages, fax_pages, strict=True):
        assert np.array_equal(page, np.unpackbits(original_bits, axis=1).astype(bool))
    # A standard-resolution job merges row pairs: nothing is lost, nothing is rescaled across.
    [standard, _] = render_bytes(tmp_path, source.read_bytes(), RenderOptions(resolution="standard"))
    original = np.unpackbits(fax_pages[0], axis=1).astype(bool)
    assert np.array_equal(standard, original[0::2] | original[1::2])


def test_bilevel_scan_tiff_is_thresholded_not_screened(tmp_path: Path, fine_a4: RenderOptions) -> None:
    scan = np.ones((3300, 2550), dtype=bool)  # Letter at 300 dpi, white
    scan[600:700, 300:2250] = False  # a black bar
    data = encode(Image.fromarray(scan), "TIFF", compression="group4", dpi=(300, 300))
    [page] = render_bytes(tmp_path, data, fine_a4)
    x0, y0, x1, y1 = ink_bbox(page)
    assert page[y0 + 3 : y1 - 3, x0 + 3 : x1 - 3].all()  # solid, no halftone
    assert not page[y1 + 5 :].any()
