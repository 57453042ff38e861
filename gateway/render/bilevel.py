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
        for x0, y0, x1, y1 in photo_boxes:
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
