"""Grey to black-and-white for fax: a threshold for text and line art, a clustered-dot screen for photos.

A threshold near 170 keeps grey and coloured small print that 128 loses; a clustered-dot screen (period 6,
tones <= 24 black and >= 224 white) keeps photos readable at a fraction of the bytes error diffusion costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from gateway.render.options import PageGeometry
from modem.faxtiff import PackedBitmap

GrayImage = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels of the grey image, end exclusive

SCREEN_PERIOD = 6
SCREEN_BLACK_AT_OR_BELOW = 24
SCREEN_WHITE_AT_OR_ABOVE = 224


def _cell_thresholds(period_x: int, period_y: int) -> npt.NDArray[np.uint8]:
    """One screen cell: pixels nearest the centre turn black first, so dots grow as round clusters."""
    ys, xs = np.mgrid[0:period_y, 0:period_x]
    # Distance in physical units: at standard resolution a row is twice as tall as a column is wide.
    dy = (ys + 0.5 - period_y / 2) * (period_x / period_y)
    dx = xs + 0.5 - period_x / 2
    order = np.lexsort((np.arctan2(dy, dx).ravel(), np.hypot(dx, dy).ravel()))
    rank = np.empty(order.size, dtype=np.float64)
    rank[order] = np.arange(order.size)
    span = SCREEN_WHITE_AT_OR_ABOVE - SCREEN_BLACK_AT_OR_BELOW
    thresholds = SCREEN_WHITE_AT_OR_ABOVE - (rank + 0.5) * span / order.size
    return np.rint(thresholds).astype(np.uint8).reshape(period_y, period_x)


@lru_cache(maxsize=4)
def screen_for_page(rows: int, width: int, fine: bool) -> npt.NDArray[np.uint8]:
    """The screen tiled over a whole page, anchored to the page so neighbouring images line up."""
    cell = _cell_thresholds(SCREEN_PERIOD, SCREEN_PERIOD if fine else SCREEN_PERIOD // 2)
    reps_y = -(-rows // cell.shape[0])
    reps_x = -(-width // cell.shape[1])
    tiled = np.tile(cell, (reps_y, reps_x))[:rows, :width]
    tiled.setflags(write=False)
    return tiled


_FILL_BLOCK = 8  # px; areas of flat mid tone at least this big are fills (bars, shading), not strokes


def tinted_areas(gray: GrayImage) -> list[Box]:
    """Boxes of flat mid-tone fills (coloured chart bars, tinted backgrounds) in a rendered page.

    A threshold turns such fills solid black or white, losing chart bars and any black text on a mid-tone
    background; they are screened instead. Strokes and grey text are thinner than a block and keep the
    threshold. Pages without mid tones (most text pages) cost one look at a sparse sample.
    """
    step = _FILL_BLOCK
    sample = gray[step // 2 :: step, step // 2 :: step]
    sampled_mid = (sample > SCREEN_BLACK_AT_OR_BELOW) & (sample < SCREEN_WHITE_AT_OR_ABOVE)
    rows, cols = gray.shape[0] // step, gray.shape[1] // step
    boxes: list[Box] = []
    for row in np.flatnonzero(sampled_mid[:rows].any(axis=1)):
        band = gray[row * step : (row + 1) * step, : cols * step]
        mid = (band > SCREEN_BLACK_AT_OR_BELOW) & (band < SCREEN_WHITE_AT_OR_ABOVE)
        flat = mid.all(axis=0).reshape(cols, step).all(axis=1)
        line = np.concatenate(([False], flat, [False]))
        edges = np.flatnonzero(line[1:] != line[:-1])
        for first, last in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
            start, stop, band_row = int(first), int(last), int(row)
            # One block of margin each side, so the fill's edge pixels are screened too.
            boxes.append((
                max(start - 1, 0) * step,
                max(band_row - 1, 0) * step,
                min(stop + 1, cols) * step,
                min(band_row + 2, rows) * step,
            ))
    return boxes


@dataclass(slots=True)
class PageCanvas:
    """A white fax page that grey content is drawn onto, then packed for the TIFF writer."""

    geometry: PageGeometry
    threshold: int
    black: npt.NDArray[np.bool_]

    @classmethod
    def blank(cls, geometry: PageGeometry, threshold: int) -> PageCanvas:
        """An all-white page."""
        return cls(geometry, threshold, np.zeros((geometry.rows, geometry.width), dtype=np.bool_))

    @classmethod
    def around(cls, geometry: PageGeometry, threshold: int, top: int, left: int,
               shape: tuple[int, ...]) -> PageCanvas:
        """A page for exactly one `draw` of an image of `shape` at (top, left): only the margins that draw
        leaves alone are cleared, instead of clearing the whole page and then overwriting most of it."""
        rows, width = geometry.rows, geometry.width
        if top < 0 or left < 0:
            return cls.blank(geometry, threshold)
        black = np.empty((rows, width), dtype=np.bool_)
        r0, r1 = min(top, rows), min(top + shape[0], rows)
        c0, c1 = min(left, width), min(left + shape[1], width)
        black[:r0] = False
        black[r1:] = False
        black[r0:r1, :c0] = False
        black[r0:r1, c1:] = False
        return cls(geometry, threshold, black)

    def draw(
        self, gray: GrayImage, top: int, left: int, photo_boxes: Sequence[Box] = (), screen_all: bool = False
    ) -> None:
        """Threshold `gray` at (top, left); screen the photo boxes (or everything) instead."""
        rows = min(gray.shape[0], self.black.shape[0] - top)
        cols = min(gray.shape[1], self.black.shape[1] - left)
        if rows <= 0 or cols <= 0:
            return
        gray = gray[:rows, :cols]
        region = self.black[top : top + rows, left : left + cols]
        screen = screen_for_page(self.geometry.rows, self.geometry.width, self.geometry.fine)
        if screen_all:
            np.less(gray, screen[top : top + rows, left : left + cols], out=region)
            return
        np.less(gray, self.threshold, out=region)
        for x0, y0, x1, y1 in (*photo_boxes, *tinted_areas(gray)):
            x0, y0 = max(x0, 0), max(y0, 0)
            x1, y1 = min(x1, cols), min(y1, rows)
            if x1 <= x0 or y1 <= y0:
                continue
            np.less(
                gray[y0:y1, x0:x1],
                screen[top + y0 : top + y1, left + x0 : left + x1],
                out=region[y0:y1, x0:x1],
            )

    def packed(self) -> PackedBitmap:
        """The page as a packed bitmap (1 = black, MSB first)."""
        return np.packbits(self.black, axis=1)
