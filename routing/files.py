"""The fax file list (FaxRouteAddFile / FaxRouteEnumFiles): the received TIFF first, then files methods derive."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from gateway.textsafe import safe_filename_part
from routing.pdf import tiff_to_pdf

PDF_CONVERTER_GUID = "{5c1f0d51-6c38-4b9a-9a43-3b0f6a1c2f01}"
"""Who added the PDF: the built-in TIFF-to-PDF filter."""
RECEIVED_GUID = "{00000000-0000-0000-0000-000000000000}"
"""The received TIFF belongs to no method."""


@dataclass(frozen=True)
class FaxFile:
    """One file of a received fax: its path, its kind ("tiff", "pdf", ...) and the method that added it."""

    path: Path
    kind: str
    added_by: str


class FileList:
    """The files of one received fax while it is routed; the TIFF is read-only, methods may add more."""

    def __init__(self, tiff: Path, workdir: Path, title: str = "") -> None:
        self.workdir = workdir
        self.title = title
        self._files: list[FaxFile] = [FaxFile(tiff, "tiff", RECEIVED_GUID)]
        self._pdf_lock = asyncio.Lock()

    @property
    def tiff(self) -> Path:
        """The received fax as TIFF Class F."""
        return self._files[0].path

    def all(self) -> list[FaxFile]:
        """Every file, in the order added."""
        return list(self._files)

    def find(self, kind: str) -> FaxFile | None:
        """The first file of a kind."""
        return next((item for item in self._files if item.kind == kind), None)

    def add(self, path: Path, kind: str, added_by: str) -> FaxFile:
        """Add a derived file so later methods (by priority) can use it."""
        item = FaxFile(path, kind, added_by)
        self._files.append(item)
        return item

    async def pdf(self) -> Path:
        """The PDF made from the TIFF, converted once on first use (in a thread: it takes a moment)."""
        async with self._pdf_lock:
            found = self.find("pdf")
            if found is not None:
                return found.path
            target = self.workdir / f"{safe_filename_part(self.tiff.stem)}.pdf"
            data = await asyncio.to_thread(tiff_to_pdf, self.tiff, self.title)
            target.write_bytes(data)
            return self.add(target, "pdf", PDF_CONVERTER_GUID).path
