"""Cover pages from templates and the page header stamped at send time."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from gateway.render import (
    CoverRequest,
    HeaderFields,
    InputDocument,
    RenderError,
    RenderErrorCode,
    RenderOptions,
    check_header_format,
    render_cover_page,
    render_documents,
    stamp_header,
    template_names,
)
from tests.render.helpers import ink_bbox, make_pdf, match_score, pages_of, text_reference

FOUND = 0.985


def bits(bitmap: np.ndarray) -> np.ndarray:
    return np.unpackbits(bitmap, axis=1).astype(bool)


def test_shipped_cover_shows_the_fields(fine_a4: RenderOptions) -> None:
    assert {"generic", "confidential", "urgent", "fyi"} <= set(template_names())
    fields = {"recipient_name": "Jane Doe", "sender_company": "Acme <Widgets>", "subject": "Contract"}
    [page] = [bits(b) for b in render_cover_page("generic", fields, RenderOptions())]
    assert page.shape == (2292, 1728)
    geometry = fine_a4.geometry
    assert match_score(page, text_reference("Jane Doe", geometry, font="helv", size=11))[0] >= FOUND
    assert match_score(page, text_reference("Acme <Widgets>", geometry, font="helv", size=11))[0] >= FOUND
    assert match_score(page, text_reference("John Doe", geometry, font="helv", size=11))[0] < FOUND


def test_user_template_wins_and_counts_pages(tmp_path: Path, fine_a4: RenderOptions) -> None:
    folder = tmp_path / "covers"
    folder.mkdir()
    (folder / "generic.html").write_text(
        "<html><body><p style='font-family: monospace; font-size: 12pt'>PAGES={{ page_count }} "
        "TO={{ recipient_fax_number }}</p><p>{{ note|nl2br }}</p></body></html>"
    )
    pdf = make_pdf(tmp_path / "doc.pdf", [{"lines": [(72, 72, "body", {})]}] * 2)
    options = RenderOptions(cover=CoverRequest("generic", {"recipient_fax_number": "+15550100"}),
                            cover_template_dirs=(folder,))
    result = render_documents([InputDocument(path=pdf)], tmp_path / "out.tif", options)
    assert (result.pages, result.cover_pages) == (3, 1)
    cover = pages_of(tmp_path / "out.tif")[0]
    assert match_score(cover, text_reference("PAGES=3 TO=+15550100", fine_a4.geometry, size=12))[0] >= FOUND


def test_unknown_template_is_a_plain_error() -> None:
    with pytest.raises(RenderError) as caught:
        render_cover_page("../../etc/passwd", {}, RenderOptions())
    assert caught.value.code is RenderErrorCode.COVER_TEMPLATE_NOT_FOUND
    assert "generic" in caught.value.reason  # lists what is available


def header_reference(text: str, size: int = 22) -> np.ndarray:
    """Independent drawing of the expected header text with the same font size, cropped to its ink."""
    image = Image.new("L", (1200, 40), 255)
    ImageDraw.Draw(image).text((5, 30), text, fill=0, font=ImageFont.load_default(size=size), anchor="ls")
    mask = np.asarray(image) < 160
    x0, y0, x1, y1 = ink_bbox(mask)
    return mask[y0 : y1 + 1, x0 : x1 + 1]


def test_header_is_stamped_in_the_top_band_only() -> None:
    rng = np.random.default_rng(5)
    page = np.packbits(rng.random((2292, 1728)) < 0.02, axis=1)
    page[:30] = 0  # a margin at the top, as every laid-out page has: the body stays pixel for pixel
    fields = HeaderFields(datetime(2026, 3, 4, 9, 5), tsid="+49 30 1234", recipient="+1 212 555 0100", page=2, pages=7)
    stamped = stamp_header(page, fields)
    assert stamped is not page and np.array_equal(stamped[30:], page[30:])  # body untouched, input not modified
    band = bits(stamped[:30])
    for text in ("2026-03-04 09:05", "From: +49 30 1234", "To: +1 212 555 0100", "Page 2 of 7"):
        assert match_score(band, header_reference(text))[0] >= FOUND
    assert match_score(band, header_reference("Page 3 of 7"))[0] < FOUND
    standard = stamp_header(page[:1146], fields, "{tsid}|{page}/{pages}", fine=False)
    assert bits(standard[:15]).any() and np.array_equal(standard[15:], page[15:1146])


FIELDS = HeaderFields(datetime(2026, 3, 4, 9, 5), tsid="+49 30 1234", recipient="+1 212 555 0100", page=1, pages=1)


@pytest.mark.parametrize(("fine", "rows"), [(True, 30), (False, 15)])
def test_a_page_black_to_the_top_edge_is_scaled_below_the_band(fine: bool, rows: int) -> None:
    height = 2292 if fine else 1146
    black = np.full((height, 216), 0xFF, dtype=np.uint8)
    white = np.zeros_like(black)
    stamped, header_only = bits(stamp_header(black, FIELDS, fine=fine)), bits(stamp_header(white, FIELDS, fine=fine))
    assert np.array_equal(stamped[:rows], header_only[:rows])  # the band holds the header line and nothing else
    assert header_only[:rows].any() and (not fine or match_score(stamped[:rows], header_reference("Page 1 of 1"))[0]
                                         >= FOUND)
    body = stamped[rows:]
    assert body.all(axis=1).sum() == 0 and body.any(axis=1).all()  # every row below is drawn: scaled, not cut
    x0, _, x1, _ = ink_bbox(body)
    shrink = (height - rows) / height
    assert (x1 - x0 + 1) == pytest.approx(1728 * shrink, abs=2) and x0 == pytest.approx(1728 - 1 - x1, abs=1)


def test_a_picture_flush_at_the_top_moves_down_pixel_for_pixel_when_its_foot_has_room() -> None:
    rng = np.random.default_rng(7)
    page = np.zeros((2292, 216), dtype=np.uint8)
    page[:1500] = np.packbits(rng.random((1500, 1728)) < 0.3, axis=1)
    stamped = stamp_header(page, FIELDS)
    assert np.array_equal(stamped[30:1530], page[:1500]) and not stamped[1530:].any()
    assert np.array_equal(bits(stamped[:30]), bits(stamp_header(np.zeros_like(page), FIELDS)[:30]))


def test_an_image_rendered_flush_at_the_top_keeps_the_band_free(tmp_path: Path) -> None:
    """End to end: a black scan filling the page, rendered, then stamped as at send time."""
    scan = tmp_path / "scan.png"
    Image.new("L", (1728, 2292), 0).save(scan)
    render_documents([InputDocument(path=scan)], tmp_path / "out.tif", RenderOptions())
    [page] = pages_of(tmp_path / "out.tif")
    assert page[:30].any()  # the scan itself reaches the top edge
    stamped = bits(stamp_header(np.packbits(page, axis=1), FIELDS))
    header_only = bits(stamp_header(np.zeros((2292, 216), dtype=np.uint8), FIELDS))
    assert np.array_equal(stamped[:30], header_only[:30])
    assert stamped[30:].any(axis=1).sum() == page.any(axis=1).sum()  # all of the scan, below the band


def test_header_format_is_checked_early() -> None:
    check_header_format("{date} {time} From {tsid} Page {page}/{pages}")
    with pytest.raises(ValueError, match="bad header format"):
        check_header_format("{nonsense}")


@pytest.mark.parametrize("template", ["generic", "confidential", "urgent", "fyi"])
def test_every_shipped_cover_names_the_sender_with_address_or_address_alone(template: str,
                                                                             fine_a4: RenderOptions) -> None:
    geometry = fine_a4.geometry
    named = {"sender_name": "Ada Lovelace", "sender_email": "ada@clinic.example"}
    [page] = [bits(b) for b in render_cover_page(template, named, RenderOptions())]
    assert match_score(page, text_reference("Ada Lovelace <ada@clinic.example>", geometry, font="helv",
                                            size=11))[0] >= FOUND
    [page] = [bits(b) for b in render_cover_page(template, {"sender_email": "ada@clinic.example"}, RenderOptions())]
    assert match_score(page, text_reference("ada@clinic.example", geometry, font="helv", size=11))[0] >= FOUND
    assert match_score(page, text_reference("<ada@clinic.example>", geometry, font="helv", size=11))[0] < FOUND
