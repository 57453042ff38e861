"""Where a source page or picture goes on the fax page: rotated if that lets it be larger, scaled to fit,
never cropped."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.render.options import PageGeometry

# Rotate only when turning the source gives it clearly more room (landscape content on portrait paper).
_ROTATE_GAIN = 1.05


@dataclass(frozen=True, slots=True)
class Placement:
    """Scale (fax pixels per source unit), rotation and position of one source page on the fax page."""

    rotate: bool
    x_scale: float
    y_scale: float
    width_px: int
    height_px: int
    left: int
    top: int


def fit_on_page(
    width: float,
    height: float,
    geometry: PageGeometry,
    *,
    allow_upscale: bool,
    center_vertically: bool = False,
) -> Placement:
    """Fit a width x height (points) source on the paper, keeping its aspect ratio."""
    paper_w, paper_h = geometry.paper_points
    upright = min(paper_w / width, paper_h / height)
    turned = min(paper_w / height, paper_h / width)
    if not allow_upscale:
        upright, turned = min(upright, 1.0), min(turned, 1.0)
    rotate = turned > upright * _ROTATE_GAIN
    scale = turned if rotate else upright
    out_w, out_h = (height, width) if rotate else (width, height)
    x_scale = scale * geometry.x_per_point
    y_scale = scale * geometry.y_per_point
    width_px = max(1, min(geometry.width, round(out_w * x_scale)))
    height_px = max(1, min(geometry.rows, round(out_h * y_scale)))
    top = (geometry.rows - height_px) // 2 if center_vertically else 0
    return Placement(rotate, x_scale, y_scale, width_px, height_px, (geometry.width - width_px) // 2, top)
