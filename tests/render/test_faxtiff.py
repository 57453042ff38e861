"""TIFF Class F files: bit-exact round trips, and files that independent readers (libtiff tools, poppler,
Pillow) decode to the same pixels."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modem.faxtiff import (
    FaxTiffError,
    FaxTiffWriter,
    count_pages,
    fax_tiff_info,
    is_fax_ready,
    read_fax_tiff,
    write_fax_tiff,
)

COMPRESSIONS = ["g4", "g3_1d", "g3_2d"]


def text_like_page(rows: int, seed: int) -> np.ndarray:
    """A page with glyph-sized black blocks and rules, so every run-length code class is exercised."""
    rng = np.random.default_rng(seed)
    pixels = np.zeros((rows, 1728), dtype=bool)
    for _ in range(1500):
        top, left = int(rng.integers(0, rows - 20)), int(rng.integers(0, 1700))
        pixels[top : top + int(rng.integers(2, 18)), left : left + int(rng.integers(1, 25))] = True
    pixels[rows // 2, 100:1600] = True
    pixels[:, 0] = True
    pixels[-1, :] = True
    return np.packbits(pixels, axis=1)


def pillow_pixels(path: Path, page: int = 0) -> np.ndarray:
    """Black mask of a page as Pillow (its own bundled libtiff) sees it."""
    with Image.open(path) as im:
        im.seek(page)
        return np.asarray(im.convert("L")) < 128


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_round_trip_is_bit_exact(tmp_path: Path, compression: str) -> None:
    pages = [text_like_page(2286, 1), text_like_page(1143, 2)]
    path = tmp_path / "doc.tif"
    with FaxTiffWriter(path, compression=compression, fine=True) as writer:  # type: ignore[arg-type]
        writer.add_page(pages[0], remote_id="+49 30 1234")
        writer.add_page(pages[1])
    read = list(read_fax_tiff(path))
    assert [p.rows for p in read] == [2286, 1143]
    assert all(p.width == 1728 and p.fine and p.xres == 204 and p.yres == 196 for p in read)
    assert np.array_equal(read[0].bitmap, pages[0])
    assert np.array_equal(read[1].bitmap, pages[1])
    assert read[0].remote_id == "+49 30 1234"
    assert count_pages(path) == 2
    assert is_fax_ready(path)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_libtiff_tools_read_the_class_f_tags(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "doc.tif"
    write_fax_tiff(path, [text_like_page(1100, 3)] * 3, compression=compression, fine=False)  # type: ignore[arg-type]
    info = subprocess.run(["tiffinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert info.count("Photometric Interpretation: min-is-white") == 3
    assert info.count("Resolution: 204, 98 pixels/inch") == 3
    assert info.count("Rows/Strip: 1100") == 3  # one strip per page
    assert "Page Number: 0-3" in info and "Page Number: 2-3" in info
    assert "FillOrder: msb-to-lsb" in info
    if compression == "g3_1d":
        assert "Group 3 Options: EOL padding (4 = 0x4)" in info
    if compression == "g3_2d":
        assert "Group 3 Options: 2-d encoding+EOL padding (5 = 0x5)" in info
    copy = tmp_path / "copy.tif"
    subprocess.run(["tiffcp", "-c", "none", str(path), str(copy)], check=True)
    assert np.array_equal(pillow_pixels(copy, 2), np.unpackbits(text_like_page(1100, 3), axis=1).astype(bool))


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_poppler_decodes_the_same_pixels(tmp_path: Path, compression: str) -> None:
    """tiff2pdf copies the CCITT codes untouched; poppler's own decoder must see our bitmap."""
    page = text_like_page(2286, 4)
    path = tmp_path / "doc.tif"
    write_fax_tiff(path, [page], compression=compression)  # type: ignore[arg-type]
    pdf = tmp_path / "doc.pdf"
    subprocess.run(["tiff2pdf", "-o", str(pdf), str(path)], check=True)
    subprocess.run(["pdfimages", "-png", str(pdf), str(tmp_path / "img")], check=True)
    with Image.open(tmp_path / "img-000.png") as im:
        black = np.asarray(im.convert("L")) < 128
    assert np.array_equal(black, np.unpackbits(page, axis=1).astype(bool))


def test_reads_lsb_first_and_min_is_black_files(tmp_path: Path) -> None:
    page = text_like_page(1000, 5)
    source = tmp_path / "src.tif"
    write_fax_tiff(source, [page], compression="g3_2d")
    lsb = tmp_path / "lsb.tif"
    subprocess.run(["tiffcp", "-f", "lsb2msb", "-c", "g4", str(source), str(lsb)], check=True)
    assert fax_tiff_info(lsb)[0].fill_order == 2
    assert not is_fax_ready(lsb)
    assert np.array_equal(next(read_fax_tiff(lsb)).bitmap, page)
    # Pillow's default mode "1" save is MinIsBlack (photometric 1): black must still come back as 1.
    inverted = tmp_path / "pillow.tif"
    white = ~np.unpackbits(page, axis=1).astype(bool)
    Image.fromarray(white).save(inverted, compression="group4", dpi=(204, 98))
    assert fax_tiff_info(inverted)[0].photometric == 1
    read = next(read_fax_tiff(inverted))
    assert np.array_equal(read.bitmap, page)
    assert not read.fine


def test_odd_width_min_is_black_keeps_padding_white(tmp_path: Path) -> None:
    pixels = np.zeros((40, 1001), dtype=bool)
    pixels[10:20, 995:1001] = True
    path = tmp_path / "odd.tif"
    # Pillow writes mode "1" as MinIsBlack: a set bit is white, so black pixels are False in its array.
    Image.fromarray(~pixels).save(path, compression="tiff_deflate")
    page = next(read_fax_tiff(path))
    assert page.width == 1001 and page.bitmap.shape == (40, 126)
    assert np.array_equal(np.unpackbits(page.bitmap, axis=1)[:, :1001].astype(bool), pixels)
    assert not np.unpackbits(page.bitmap, axis=1)[:, 1001:].any()


def test_page_total_known_up_front(tmp_path: Path) -> None:
    path = tmp_path / "doc.tif"
    with FaxTiffWriter(path, total_pages=2, compression="g4") as writer:
        writer.add_page(text_like_page(500, 6))
        writer.add_page(text_like_page(500, 7))
    info = subprocess.run(["tiffinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Page Number: 1-2" in info


def test_errors_are_plain(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(FaxTiffError, match="cannot open"):
        list(read_fax_tiff(empty))
    color = tmp_path / "color.tif"
    Image.new("RGB", (64, 64), "red").save(color)
    with pytest.raises(FaxTiffError, match="not bilevel"):
        list(read_fax_tiff(color))
    with pytest.raises(ValueError, match="bytes per row"):
        write_fax_tiff(tmp_path / "x.tif", [np.zeros((10, 100), np.uint8)])


def test_damaged_strip_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "doc.tif"
    write_fax_tiff(path, [text_like_page(2000, 8)], compression="g4")
    data = bytearray(path.read_bytes())
    data[200:60000] = bytes(59800)  # zeros are not a valid MMR stream
    path.write_bytes(bytes(data))
    with pytest.raises(FaxTiffError, match="damaged"):
        list(read_fax_tiff(path))


def test_caller_id_round_trips_and_other_readers_see_it(tmp_path: Path) -> None:
    path = tmp_path / "rx.tif"
    with FaxTiffWriter(path, fine=False) as writer:
        # a hostile caller name cannot forge a second number line
        hostile = "ACME\nNMBR=666"
        writer.add_page(
            text_like_page(200, 1), remote_id="+1 555 0100", caller_id="+1 555 777 0001", caller_name=hostile
        )
        writer.add_page(text_like_page(200, 2), remote_id="+1 555 0100")
    first, second = read_fax_tiff(path)
    assert (first.remote_id, first.caller_id, first.caller_name) == ("+1 555 0100", "+1 555 777 0001", "ACME NMBR=666")
    assert (second.caller_id, second.caller_name) == (None, None)
    info = subprocess.run(["tiffinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert "NMBR=+1 555 777 0001" in info


def test_an_artist_tag_not_written_by_faxgate_is_no_caller_id(tmp_path: Path) -> None:
    path = tmp_path / "scan.tif"
    write_fax_tiff(path, [text_like_page(100, 4)])
    subprocess.run(["tiffset", "-s", "315", "Jane Doe", str(path)], check=True)
    (page,) = read_fax_tiff(path)
    assert (page.caller_id, page.caller_name) == (None, None)
