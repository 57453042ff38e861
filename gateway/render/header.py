"""The page header (branding, HylaFAX's tag line) stamped onto each page at send time, in a band of its own.

Content never lies under the band: a page that reaches into it is moved down when its foot has room, otherwise
scaled down to fit below the band, as the Windows fax service does with its branding line.

The format is a `str.format` string; `|` splits it into columns (first left, last right, others centred).
Fields: {date} {time} {sent:%Y-%m-%d %H:%M} {tsid} {sender} {recipient} {recipient_name} {page} {pages}.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from modem.faxtiff import PackedBitmap

DEFAULT_HEADER_FORMAT = "{date} {time}|From: {tsid}|To: {recipient}|Page {page} of {pages}"

_BAND_ROWS_FINE = 30  # 3.9 mm: the top margin every printable document leaves free
_FONT_PX = 22  # about 8 pt at 204 dpi
_MIN_FONT_PX = 14
_SIDE_MARGIN_PX = 40


@dataclass(frozen=True, slots=True)
class HeaderFields:
    """What the header line says about this call and page."""

    sent: datetime
    tsid: str
    recipient: str
    page: int
    pages: int
    sender: str = ""
    recipient_name: str = ""

    def values(self) -> dict[str, object]:
        """Values for the format string."""
        return {
            "sent": self.sent,
            "date": self.sent.strftime("%Y-%m-%d"),
            "time": self.sent.strftime("%H:%M"),
            "tsid": self.tsid,
            "sender": self.sender,
            "recipient": self.recipient,
            "recipient_name": self.recipient_name,
            "page": self.page,
            "pages": self.pages,
        }


def header_text(fields: HeaderFields, fmt: str = DEFAULT_HEADER_FORMAT) -> list[str]:
    """The formatted columns of the header line (raises ValueError/KeyError for a bad format)."""
    return [part.strip() for part in fmt.format_map(fields.values()).split("|")]


def check_header_format(fmt: str) -> None:
    """Raise ValueError if `fmt` cannot be formatted, so configuration fails early and not at send time."""
    sample = HeaderFields(datetime(2000, 1, 1), "+1 555 0100", "+1 555 0199", 1, 2, "sender", "recipient")
    try:
        header_text(sample, fmt)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ValueError(f"bad header format {fmt!r}: {exc}") from exc


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font (no system font needed)."""
    return ImageFont.load_default(size=size)


def _band(columns: list[str], width: int) -> np.ndarray:
    """The header line drawn at fine resolution, as a boolean black mask of _BAND_ROWS_FINE rows."""
    image = Image.new("L", (width, _BAND_ROWS_FINE), 255)
    draw = ImageDraw.Draw(image)
    usable = width - 2 * _SIDE_MARGIN_PX
    size = _FONT_PX
    font = _font(size)
    while size > _MIN_FONT_PX and sum(draw.textlength(c, font=font) for c in columns) > usable * 0.92:
        size -= 2
        font = _font(size)
    cell = usable / max(len(columns), 1)
    baseline = _BAND_ROWS_FINE - 7
    for index, text in enumerate(columns):
        while text and draw.textlength(text, font=font) > cell - 8:
            text = text[:-2] + "…"
        length = draw.textlength(text, font=font)
        x: float
        if index == 0:
            x = _SIDE_MARGIN_PX
        elif index == len(columns) - 1:
            x = width - _SIDE_MARGIN_PX - length
        else:
            x = _SIDE_MARGIN_PX + cell * index + (cell - length) / 2
        draw.text((x, baseline), text, fill=0, font=font, anchor="ls")
    return np.asarray(image) < 160


def band_rows(fine: bool = True) -> int:
    """How many rows at the top of a page belong to the header band."""
    return _BAND_ROWS_FINE if fine else _BAND_ROWS_FINE // 2


def stamp_header(
    bitmap: PackedBitmap, fields: HeaderFields, fmt: str = DEFAULT_HEADER_FORMAT, *, fine: bool = True
) -> PackedBitmap:
    """A copy of the page with the header line in its top band and the content below it (about 5 ms per page;
    0.1 s for a page that must be scaled, which only a page inked from top to foot needs)."""
    width = bitmap.shape[1] * 8
    mask = _band(header_text(fields, fmt), width)
    if not fine:
        mask = mask[0::2] | mask[1::2]
    rows = min(mask.shape[0], bitmap.shape[0])
    stamped = below_band(bitmap, rows)
    stamped[:rows] = np.packbits(mask[:rows], axis=1)
    return stamped


def below_band(bitmap: PackedBitmap, rows: int) -> PackedBitmap:
    """A copy of the page whose top `rows` are white: ink there is moved down, or the page scaled down to fit."""
    inked = np.flatnonzero(bitmap.any(axis=1))
    if inked.size == 0 or inked[0] >= rows:
        return bitmap.copy()
    height = bitmap.shape[0]
    top, bottom = int(inked[0]), int(inked[-1]) + 1
    moved = np.zeros_like(bitmap)
    shift = rows - top
    if bottom + shift <= height:  # room at the foot: move the content down, pixel for pixel
        moved[top + shift : bottom + shift] = bitmap[top:bottom]
        return moved
    width = bitmap.shape[1] * 8
    content = Image.fromarray(np.unpackbits(bitmap[top:bottom], axis=1).astype(np.uint8) * 255, "L")
    scale = (height - rows) / (bottom - top)
    size = (max(1, round(width * scale)), height - rows)
    shrunk = np.asarray(content.resize(size, Image.Resampling.BOX)) >= 128
    canvas = np.zeros((height - rows, width), dtype=bool)
    left = (width - size[0]) // 2
    canvas[:, left : left + size[0]] = shrunk
    moved[rows:] = np.packbits(canvas, axis=1)
    return moved
