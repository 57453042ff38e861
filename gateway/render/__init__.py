"""Rendering: whatever a sender mails becomes fax pages (TIFF Class F, G4), plus cover pages and the header.

Names are imported on first use, so `import gateway.render.errors` (and `faxgate --help`) stays cheap; PyMuPDF
and LibreOffice are only ever loaded inside render workers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.render.cover import COVER_FIELDS, render_cover_page, template_names
    from gateway.render.errors import RenderError, RenderErrorCode
    from gateway.render.header import DEFAULT_HEADER_FORMAT, HeaderFields, check_header_format, stamp_header
    from gateway.render.options import (
        CoverRequest,
        DocumentPages,
        InputDocument,
        PageGeometry,
        RenderOptions,
        RenderResult,
        page_geometry,
    )
    from gateway.render.pipeline import render_documents
    from gateway.render.pool import RenderPool

_HOMES = {
    "COVER_FIELDS": "cover",
    "render_cover_page": "cover",
    "template_names": "cover",
    "RenderError": "errors",
    "RenderErrorCode": "errors",
    "DEFAULT_HEADER_FORMAT": "header",
    "HeaderFields": "header",
    "check_header_format": "header",
    "stamp_header": "header",
    "CoverRequest": "options",
    "DocumentPages": "options",
    "InputDocument": "options",
    "PageGeometry": "options",
    "RenderOptions": "options",
    "RenderResult": "options",
    "page_geometry": "options",
    "render_documents": "pipeline",
    "RenderPool": "pool",
}

__all__ = [
    "COVER_FIELDS",
    "DEFAULT_HEADER_FORMAT",
    "CoverRequest",
    "DocumentPages",
    "HeaderFields",
    "InputDocument",
    "PageGeometry",
    "RenderError",
    "RenderErrorCode",
    "RenderOptions",
    "RenderPool",
    "RenderResult",
    "check_header_format",
    "page_geometry",
    "render_cover_page",
    "render_documents",
    "stamp_header",
    "template_names",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first access to one of the public names."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'gateway.render' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gateway.render.{home}"), name)
    globals()[name] = value
    return value
