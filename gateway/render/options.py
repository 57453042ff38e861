"""What a render job takes and gives back: inputs, options, geometry and the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from modem.faxtiff import FAX_WIDTH, FINE_YRES, STANDARD_YRES, Compression

Resolution = Literal["fine", "standard"]
Paper = Literal["a4", "letter"]

# Paper sizes in PostScript points (1/72 in).
PAPER_POINTS: dict[Paper, tuple[float, float]] = {"a4": (595.28, 841.89), "letter": (612.0, 792.0)}


@dataclass(frozen=True, slots=True)
class PageGeometry:
    """A fax page in pixels and how many pixels one point of the paper takes in each direction."""

    width: int
    rows: int
    x_per_point: float
    y_per_point: float
    paper_points: tuple[float, float]
    yres: float

    @property
    def fine(self) -> bool:
        """True at 196 lines per inch."""
        return self.yres > 150.0


def page_geometry(paper: Paper, resolution: Resolution) -> PageGeometry:
    """HylaFAX's convention: the paper width maps to exactly 1728 px, vertical at the true line density."""
    width_pt, height_pt = PAPER_POINTS[paper]
    yres = FINE_YRES if resolution == "fine" else STANDARD_YRES
    y_per_point = yres / 72.0
    return PageGeometry(
        width=FAX_WIDTH,
        rows=round(height_pt * y_per_point),
        x_per_point=FAX_WIDTH / width_pt,
        y_per_point=y_per_point,
        paper_points=(width_pt, height_pt),
        yres=yres,
    )


@dataclass(frozen=True, slots=True)
class InputDocument:
    """One thing to fax: bytes or a file; the content type and file name are hints, the content decides."""

    data: bytes | None = None
    path: Path | None = None
    content_type: str | None = None
    filename: str | None = None
    related: dict[str, bytes] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """What to call the document in messages."""
        if self.filename:
            return self.filename
        if self.path is not None:
            return self.path.name
        return "document"


@dataclass(frozen=True, slots=True)
class CoverRequest:
    """A cover page to put first: a template name or path, and its field values."""

    template: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How to render, and the limits that protect the server."""

    resolution: Resolution = "fine"
    paper: Paper = "a4"
    compression: Compression = "g4"
    threshold: int = 170
    max_pages: int = 200
    max_image_pixels: int = 60_000_000
    max_input_bytes: int = 50 * 1024 * 1024
    max_page_length_mm: int = 600  # twice A4; fax pages longer than this are refused from their tags
    text_font_size: float = 10.0
    cover: CoverRequest | None = None
    cover_template_dirs: tuple[Path, ...] = ()
    office_timeout_s: float = 120.0

    @property
    def geometry(self) -> PageGeometry:
        """Pixel geometry of the output pages."""
        return page_geometry(self.paper, self.resolution)


@dataclass(frozen=True, slots=True)
class DocumentPages:
    """How many pages one input became, and what it was taken for."""

    name: str
    kind: str
    pages: int


@dataclass(frozen=True, slots=True)
class RenderResult:
    """The TIFF Class F file written and what went into it."""

    path: Path
    pages: int
    fine: bool
    paper: Paper
    bytes: int
    documents: tuple[DocumentPages, ...] = ()
    cover_pages: int = 0
    peak_rss_kib: int = 0
    cpu_seconds: float = 0.0  # this worker's CPU time for the job (LibreOffice's own process not included)
